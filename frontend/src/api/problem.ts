// Errors the API answers (application/problem+json), as one typed error the UI can show.

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  code: string;
  errors?: FieldError[];
  /** `SEAT_UNAVAILABLE`: the seats that were not free. */
  seat_ids?: string[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** Seconds to wait before trying again (429/503), when the server said. */
  readonly retryAfter: number | null;

  constructor(problem: Problem, retryAfter: number | null = null) {
    super(problem.detail ?? problem.title ?? problem.code);
    this.name = 'ApiError';
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  /** The message for one form field, if validation named it. */
  field(name: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === name)?.message;
  }
}

/** Turns any answer body into a Problem: the server's own, or one describing what came back. */
export function toProblem(status: number, body: unknown): Problem {
  if (body && typeof body === 'object' && typeof (body as Problem).code === 'string') {
    return { ...(body as Problem), status };
  }
  if (status === 0) return { status, code: 'NETWORK', detail: 'network error' };
  return { status, code: status >= 500 ? 'SERVER_ERROR' : 'UNEXPECTED_RESPONSE' };
}

export function retryAfterOf(response: Response): number | null {
  const value = response.headers.get('retry-after');
  if (!value) return null;
  const secs = Number(value);
  return Number.isFinite(secs) ? secs : null;
}
