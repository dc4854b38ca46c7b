import { describe, expect, it } from 'vitest';
import { Session, type TokenAnswer } from './session';

const user = { id: 'u1', email: 'a@b.co', name: 'A', role: 'user' as const };
const answer = (token: string, expiresIn = 900): TokenAnswer => ({ user, access_token: token, expires_in: expiresIn });

/** A fetch that answers refreshes from a script and counts them. */
function fakeFetch(answers: (() => Response)[]) {
  const calls: string[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push(`${init?.method} ${String(input)} ${new Headers(init?.headers).get('x-tiketi-session')}`);
    await new Promise((r) => setTimeout(r, 5));
    const next = answers.shift();
    if (!next) throw new Error('unexpected call');
    return next();
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown) => () => new Response(JSON.stringify(body), { status });

describe('Session', () => {
  it('uses the access token until a minute before it expires, then refreshes once', async () => {
    let now = 0;
    const { fetch, calls } = fakeFetch([json(200, answer('second'))]);
    const session = new Session({ now: () => now, fetch });
    session.adopt(answer('first', 900));
    expect(await session.accessToken()).toBe('first');
    now = 839_000;
    expect(await session.accessToken()).toBe('first');
    now = 841_000;
    // Three callers at once: one refresh (the cookie's token is single use).
    const tokens = await Promise.all([session.accessToken(), session.accessToken(), session.accessToken()]);
    expect(tokens).toEqual(['second', 'second', 'second']);
    expect(calls).toEqual(['POST /api/auth/refresh cookie']);
  });

  it('a refused refresh signs out and tells the listeners', async () => {
    const { fetch } = fakeFetch([json(401, { code: 'INVALID_REFRESH_TOKEN', status: 401 })]);
    const session = new Session({ now: () => 0, fetch });
    const seen: (string | null)[] = [];
    session.subscribe((u) => seen.push(u?.id ?? null));
    session.adopt(answer('t', 0));
    expect(await session.accessToken()).toBeNull();
    expect(session.user).toBeNull();
    expect(seen).toEqual(['u1', null]);
  });

  it('a busy server keeps the session for a later try', async () => {
    const { fetch } = fakeFetch([json(503, { code: 'SERVICE_UNAVAILABLE', status: 503 })]);
    const session = new Session({ now: () => 0, fetch });
    session.adopt(answer('t', 0));
    expect(await session.refresh()).toBe(false);
    expect(session.user?.id).toBe('u1');
  });

  it('a network failure keeps the session for a later try', async () => {
    const { fetch } = fakeFetch([
      () => {
        throw new TypeError('offline');
      },
    ]);
    const session = new Session({ now: () => 0, fetch });
    session.adopt(answer('t', 0));
    expect(await session.refresh()).toBe(false);
    expect(session.user?.id).toBe('u1');
  });

  it('signing out forgets the session even when the server is unreachable', async () => {
    const { fetch, calls } = fakeFetch([]);
    const session = new Session({ now: () => 0, fetch });
    session.adopt(answer('t'));
    await expect(session.signOut()).rejects.toThrow();
    expect(session.user).toBeNull();
    expect(calls).toEqual(['POST /api/auth/logout cookie']);
  });

  it('a session that never began asks nobody', async () => {
    const { fetch, calls } = fakeFetch([]);
    expect(await new Session({ fetch }).accessToken()).toBeNull();
    expect(calls).toEqual([]);
  });
});
