// Keeps a SeatStore current by the protocol of docs/realtime.md ("Seat maps"): subscribe to
// `seats:<event>` first; its `subscribed` ack names version V; fetch the map until it is at least
// V (snapshots lag up to ~1 s), applying the deltas that arrived meanwhile on top; refetch the same
// way on a gap or a `seats.reload`. Without a socket it polls instead. No React here: the hook in
// `live.ts` wraps it, and tests drive it with a fake socket and fake fetches.

import type { SeatMap } from '../api/client';
import { ApiError } from '../api/problem';
import { SeatStore, type SeatChanges } from './store';

export type LiveState = 'loading' | 'live' | 'resyncing' | 'error';
type SocketState = 'idle' | 'connecting' | 'open' | 'closed';
type Message = { type: string; [field: string]: unknown };

export interface SyncDeps {
  /** `realtime.subscribe`: every message of the channel, from `subscribed` on. */
  subscribe(channel: string, handler: (message: Message) => void): () => void;
  /** `realtime.onState`: called at once with the current state, then on every change. */
  onSocketState(listener: (state: SocketState) => void): () => void;
  /** The map; null when `etag` is given and still current (304). Rejects with an ApiError. */
  fetchMap(eventId: string, etag: string | null, signal: AbortSignal): Promise<SeatMap | null>;
}

export interface SyncSnapshot {
  store: SeatStore | null;
  state: LiveState;
  error: unknown;
  /** No live subscription: the map is refreshed every POLL_MS instead. */
  polling: boolean;
}

/** The socket must deliver `subscribed` within this long, or the map is polled meanwhile. */
export const FALLBACK_AFTER_MS = 3_000;
export const POLL_MS = 5_000;
/** Fetches of a snapshot still older than needed, LAG_DELAY_MS apart, before saying so. */
export const LAG_RETRIES = 5;
export const LAG_DELAY_MS = 300;
/** Deltas kept while a fetch is under way; older ones are dropped and the snapshot must cover them. */
const MAX_BUFFERED = 200;

/** The newest snapshot stayed older than the version the socket announced. */
export class StaleMapError extends Error {
  constructor(readonly have: number, readonly need: number) {
    super(`seat map at version ${have}, need ${need}`);
    this.name = 'StaleMapError';
  }
}

/** Network trouble, timeouts, rate limits and server errors pass; a 404 or 403 will not. */
function retryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true;
  return error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500;
}

function retryDelay(error: unknown, attempt: number): number {
  if (error instanceof ApiError && error.retryAfter !== null) return error.retryAfter * 1000;
  return Math.min(15_000, 500 * 2 ** attempt);
}

function isChanges(message: Message): message is Message & SeatChanges {
  return typeof message.version === 'number' && Array.isArray(message.seats);
}

export class SeatSync {
  private snapshot: SyncSnapshot = { store: null, state: 'loading', error: null, polling: false };
  private readonly abort = new AbortController();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly cleanups: (() => void)[] = [];
  /** Deltas that arrived while the map was being fetched, oldest first. */
  private buffer: SeatChanges[] = [];
  /** The version the next snapshot must reach. */
  private target = 0;
  private syncing = false;
  /** The channel is live: `subscribed` came and the socket has not dropped since. */
  private subscribed = false;
  private fallback: ReturnType<typeof setTimeout> | null = null;
  private nextPoll: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly eventId: string,
    private readonly deps: SyncDeps,
    private readonly onChange: (snapshot: SyncSnapshot) => void = () => {},
  ) {}

  get current(): SyncSnapshot {
    return this.snapshot;
  }

  start(): void {
    this.cleanups.push(this.deps.subscribe(`seats:${this.eventId}`, (message) => this.onMessage(message)));
    this.cleanups.push(this.deps.onSocketState((state) => this.onSocketState(state)));
    this.armFallback();
  }

  stop(): void {
    this.abort.abort();
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** Fetches the map again now (the user's "retry"). */
  reload(): void {
    this.resync(this.snapshot.store?.version ?? 0, true);
  }

  private get stopped() {
    return this.abort.signal.aborted;
  }

  private set(change: Partial<SyncSnapshot>) {
    const next = { ...this.snapshot, ...change };
    const old = this.snapshot;
    if (next.store === old.store && next.state === old.state && next.error === old.error && next.polling === old.polling) return;
    this.snapshot = next;
    this.onChange(next);
  }

  private onMessage(message: Message) {
    if (message.type === 'subscribed') {
      this.subscribed = true;
      this.set({ polling: false });
      this.resync(typeof message.version === 'number' ? message.version : 0);
    } else if (message.type === 'seats.reload') {
      this.resync(typeof message.version === 'number' ? message.version : 0);
    } else if (message.type === 'seats.changed' && isChanges(message)) {
      const store = this.snapshot.store;
      if (this.syncing || !store) return this.keep(message);
      if (store.apply(message) === 'gap') {
        this.keep(message);
        this.resync((message.from_version ?? message.version) - 1);
      }
    } else if (message.type === 'error') {
      // The subscription was refused (e.g. too many): poll instead.
      this.subscribed = false;
      this.startPolling();
    }
  }

  private onSocketState(state: SocketState) {
    if (state === 'open') return;
    this.subscribed = false;
    // No session means no socket at all: do not make the first map wait for the fallback.
    if (state === 'closed' && !this.snapshot.store) this.startPolling();
    else this.armFallback();
  }

  private keep(message: SeatChanges) {
    this.buffer.push(message);
    if (this.buffer.length > MAX_BUFFERED) this.target = Math.max(this.target, this.buffer.shift()!.version);
  }

  /** Gets the map to at least version `min` (now, or after the fetch under way). */
  private resync(min: number, force = false) {
    this.target = Math.max(this.target, min);
    if (this.syncing || this.stopped) return;
    const store = this.snapshot.store;
    if (!force && store && store.version >= this.target) {
      this.set({ state: 'live', error: null });
      return;
    }
    this.syncing = true;
    this.set({ state: store ? 'resyncing' : 'loading' });
    void this.fetchUntilCurrent();
  }

  private async fetchUntilCurrent() {
    for (let attempt = 0; !this.stopped; attempt++) {
      let map: SeatMap | null;
      try {
        map = await this.deps.fetchMap(this.eventId, null, this.abort.signal);
      } catch (error) {
        if (this.stopped) return;
        this.set({ state: 'error', error });
        if (!retryable(error)) {
          this.syncing = false;
          return;
        }
        await this.sleep(retryDelay(error, attempt));
        continue;
      }
      if (this.stopped) return;
      if (map && map.version >= this.target) {
        const store = this.adopt(map);
        if (this.drain(store)) {
          this.set({ store });
          attempt = -1; // a new target: it gets its own retries
          continue;
        }
        this.syncing = false;
        this.set({ store, state: 'live', error: null });
        return;
      }
      if (attempt + 1 < LAG_RETRIES) {
        await this.sleep(LAG_DELAY_MS);
        continue;
      }
      // Still behind: show the newest map there is, say so, and keep trying at a calmer pace.
      const held = this.snapshot.store;
      const store = map && (!held || map.version > held.version) ? this.adopt(map) : held;
      this.set({ store, state: 'error', error: new StaleMapError(store?.version ?? 0, this.target) });
      await this.sleep(POLL_MS);
    }
  }

  /** The store refilled with `map`, or a new one for the first map. */
  private adopt(map: SeatMap): SeatStore {
    const store = this.snapshot.store;
    if (!store) return new SeatStore(map);
    store.load(map);
    return store;
  }

  /** Applies the kept deltas; true when one shows a gap (then the target is raised and it stays kept). */
  private drain(store: SeatStore): boolean {
    while (this.buffer.length) {
      const message = this.buffer[0]!;
      if (store.apply(message) === 'gap') {
        this.target = Math.max(this.target, (message.from_version ?? message.version) - 1);
        return true;
      }
      this.buffer.shift();
    }
    return false;
  }

  private armFallback() {
    if (this.fallback || this.snapshot.polling) return;
    this.fallback = this.later(FALLBACK_AFTER_MS, () => {
      this.fallback = null;
      if (!this.subscribed) this.startPolling();
    });
  }

  private startPolling() {
    if (this.snapshot.polling || this.stopped) return;
    this.set({ polling: true });
    // A poll chain from an earlier spell of polling may still be waiting: one chain only.
    if (this.nextPoll) this.cancel(this.nextPoll);
    void this.poll();
  }

  private async poll() {
    if (!this.snapshot.polling || this.stopped) return;
    const store = this.snapshot.store;
    if (!store) {
      this.resync(0);
    } else if (!this.syncing) {
      try {
        const map = await this.deps.fetchMap(this.eventId, `"${store.version}"`, this.abort.signal);
        // Ignored when the socket came back meanwhile: its own resync decides then.
        if (map && map.version > store.version && this.snapshot.polling && !this.syncing) store.load(map);
        if (this.snapshot.state === 'error') this.set({ state: 'live', error: null });
      } catch (error) {
        if (this.stopped) return;
        this.set({ state: 'error', error });
      }
    }
    if (!this.stopped) this.nextPoll = this.later(POLL_MS, () => void this.poll());
  }

  private cancel(timer: ReturnType<typeof setTimeout>) {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  private later(ms: number, run: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
    return timer;
  }
}
