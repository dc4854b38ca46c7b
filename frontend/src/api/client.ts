// The typed API client: paths, bodies and answers come from `schema.d.ts`, generated from the
// server's `/api/openapi.json` (`npm run api-types`; a test fails when it is out of date).
import createClient, { type Middleware } from 'openapi-fetch';
import { ApiError, retryAfterOf, toProblem } from './problem';
import type { components, paths } from './schema';
import { SESSION_HEADERS, session, type TokenAnswer } from './session';

export type Schemas = components['schemas'];
export type EventSummary = Schemas['EventSummary'];
export type EventDetail = Schemas['EventDetail'];
export type SeatMap = Schemas['SeatMap'];
export type SeatMapSeat = Schemas['SeatMapSeat'];
export type Reservation = Schemas['Reservation'];
export type QueueStatus = Schemas['QueueStatus'];
export type PaymentView = Schemas['PaymentView'];
export type CheckoutResponse = Schemas['CheckoutResponse'];

const authenticate: Middleware = {
  async onRequest({ request }) {
    const token = await session.accessToken();
    if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    // The server no longer accepts our session (revoked, account gone): sign out locally.
    if (response.status === 401 && session.user && !response.url.includes('/api/auth/')) session.clear();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: '' });
api.use(authenticate);

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or an ApiError carrying the server's problem (or a network problem). */
export async function unwrap<T>(pending: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await pending;
  } catch {
    throw new ApiError(toProblem(0, null));
  }
  if (!answer.response.ok) {
    throw new ApiError(toProblem(answer.response.status, answer.error), retryAfterOf(answer.response));
  }
  return answer.data as T;
}

/** Register, login and refresh in browser mode: the refresh token becomes an HttpOnly cookie. */
export async function signIn(path: '/api/auth/login' | '/api/auth/register', body: object): Promise<TokenAnswer> {
  const answer = await unwrap(
    api.POST(path, { body: body as never, headers: SESSION_HEADERS, credentials: 'same-origin' }) as Promise<Answer<TokenAnswer>>,
  );
  session.adopt(answer);
  return answer;
}
