// The signed-in session. The access token lives only in this module's memory; the refresh token
// is an HttpOnly cookie (`X-Tiketi-Session: cookie`) that no script — ours or an injected one —
// can read. Refreshes are single-flight per tab and serialised across tabs with a Web Lock,
// because each refresh spends the cookie's token and a second use would revoke the session.

export interface User {
  id: string;
  email: string;
  name: string;
  role: 'user' | 'admin';
}

export interface TokenAnswer {
  user: User;
  access_token: string;
  expires_in: number;
}

type Listener = (user: User | null) => void;

/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;
export const SESSION_HEADERS = { 'content-type': 'application/json', 'x-tiketi-session': 'cookie' };

export class Session {
  private token: string | null = null;
  private expiresAt = 0;
  private current: User | null = null;
  private refreshing: Promise<boolean> | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly now: () => number;
  private readonly fetcher: typeof fetch;

  constructor(options: { now?: () => number; fetch?: typeof fetch } = {}) {
    this.now = options.now ?? Date.now;
    this.fetcher = options.fetch ?? ((...args) => fetch(...args));
  }

  get user(): User | null {
    return this.current;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes the answer of register, login or refresh. */
  adopt(answer: TokenAnswer): void {
    this.token = answer.access_token;
    this.expiresAt = this.now() + answer.expires_in * 1000;
    this.set(answer.user);
  }

  /** A usable access token, refreshed first when it is about to expire; null when signed out. */
  async accessToken(): Promise<string | null> {
    if (this.token && this.expiresAt - this.now() > EARLY_MS) return this.token;
    if (!this.current && !this.token) return null;
    return (await this.refresh()) ? this.token : null;
  }

  /** Exchanges the refresh cookie for a new access token (also used once at start-up). */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.exclusive(() => this.refreshNow()).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  async signOut(): Promise<void> {
    try {
      await this.exclusive(() =>
        this.fetcher('/api/auth/logout', { method: 'POST', headers: SESSION_HEADERS, body: '{}', credentials: 'same-origin' }),
      );
    } finally {
      this.clear();
    }
  }

  /** Forget the session locally (e.g. the server said the token is no longer valid). */
  clear(): void {
    this.token = null;
    this.expiresAt = 0;
    this.set(null);
  }

  private async refreshNow(): Promise<boolean> {
    let response: Response;
    try {
      response = await this.fetcher('/api/auth/refresh', {
        method: 'POST',
        headers: SESSION_HEADERS,
        body: '{}',
        credentials: 'same-origin',
      });
    } catch {
      return false; // offline: keep what we have, a later call tries again
    }
    if (!response.ok) {
      // Refused: the session is over. Anything else (429, 503) may pass: keep it for a later try.
      if (response.status === 401) this.clear();
      return false;
    }
    this.adopt((await response.json()) as TokenAnswer);
    return true;
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
    if (!locks) return work();
    let result: { value: T } | undefined;
    await locks.request('tiketi-session', async () => {
      result = { value: await work() };
    });
    return result!.value;
  }

  private set(user: User | null): void {
    const changed = JSON.stringify(user) !== JSON.stringify(this.current);
    this.current = user;
    if (changed) for (const listener of this.listeners) listener(user);
  }
}

export const session = new Session();
