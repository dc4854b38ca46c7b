import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SeatMap } from '../api/client';
import { ApiError } from '../api/problem';
import { makeMap } from './fixtures';
import { FALLBACK_AFTER_MS, LAG_DELAY_MS, LAG_RETRIES, POLL_MS, SeatSync, StaleMapError, type SyncDeps, type SyncSnapshot } from './sync';

type Message = { type: string; [field: string]: unknown };
type SocketState = 'idle' | 'connecting' | 'open' | 'closed';

/** The server side: the snapshot `GET /seats` answers, and the socket. */
class Fake {
  snapshot: SeatMap = makeMap([{ name: 'A', rows: 1, perRow: 4, price: 100 }], 1);
  failure: unknown = null;
  /** The `If-None-Match` of every fetch, in order. */
  fetches: (string | null)[] = [];
  handler: ((message: Message) => void) | null = null;
  channel: string | null = null;
  state: SocketState = 'connecting';
  private stateListener: ((state: SocketState) => void) | null = null;

  deps: SyncDeps = {
    subscribe: (channel, handler) => {
      this.channel = channel;
      this.handler = handler;
      return () => (this.handler = null);
    },
    onSocketState: (listener) => {
      this.stateListener = listener;
      listener(this.state);
      return () => (this.stateListener = null);
    },
    fetchMap: async (_eventId, etag) => {
      this.fetches.push(etag);
      if (this.failure) throw this.failure;
      if (etag === `"${this.snapshot.version}"`) return null;
      return structuredClone(this.snapshot);
    },
  };

  /** The server's map moves to `version`, with these seats (1-based in row A) set to `status`. */
  serve(version: number, changes: Record<number, 'available' | 'held' | 'sold'> = {}) {
    const next = structuredClone(this.snapshot);
    next.version = version;
    for (const [n, status] of Object.entries(changes)) next.seats[Number(n) - 1]!.status = status;
    this.snapshot = next;
  }

  send(message: Message) {
    this.handler?.(message);
  }

  setState(state: SocketState) {
    this.state = state;
    this.stateListener?.(state);
  }
}

const changed = (version: number, from: number, seats: Record<number, string>): Message => ({
  type: 'seats.changed',
  event_id: 'event-1',
  version,
  from_version: from,
  seats: Object.entries(seats).map(([n, status]) => ({ id: `A-A-${n}`, status })),
});

let fake: Fake;
let states: SyncSnapshot[];
let sync: SeatSync;

beforeEach(() => {
  vi.useFakeTimers();
  fake = new Fake();
  states = [];
  sync = new SeatSync('event-1', fake.deps, (snapshot) => states.push(snapshot));
});

afterEach(() => {
  sync.stop();
  vi.useRealTimers();
});

const settle = (ms = 0) => vi.advanceTimersByTimeAsync(ms);
const status = (n: number) => sync.current.store?.statusOf(`A-A-${n}`);

/** Subscribed, loaded at the server's version, live. */
async function live() {
  sync.start();
  fake.setState('open');
  fake.send({ type: 'subscribed', channel: 'seats:event-1', version: fake.snapshot.version });
  await settle();
  expect(sync.current.state).toBe('live');
}

describe('SeatSync', () => {
  it('subscribes first and fetches only once `subscribed` names the version', async () => {
    sync.start();
    expect(fake.channel).toBe('seats:event-1');
    await settle(1_000);
    expect(fake.fetches).toEqual([]);
    expect(sync.current).toMatchObject({ state: 'loading', store: null });
    fake.serve(3);
    fake.send({ type: 'subscribed', channel: 'seats:event-1', version: 3 });
    await settle();
    expect(fake.fetches).toEqual([null]);
    expect(sync.current.state).toBe('live');
    expect(sync.current.store?.version).toBe(3);
  });

  it('refetches a lagging snapshot until it reaches the subscribed version, then applies the deltas kept meanwhile', async () => {
    sync.start();
    fake.serve(3);
    fake.send({ type: 'subscribed', version: 5 });
    await settle();
    expect(fake.fetches).toHaveLength(1);
    expect(sync.current.store).toBeNull(); // version 3 < 5: not good enough
    fake.send(changed(6, 6, { 1: 'held' }));
    fake.send(changed(7, 7, { 2: 'sold' }));
    fake.serve(5, { 3: 'sold' });
    await settle(LAG_DELAY_MS);
    expect(fake.fetches).toHaveLength(2);
    expect(sync.current.state).toBe('live');
    expect(sync.current.store?.version).toBe(7);
    expect([status(1), status(2), status(3), status(4)]).toEqual(['held', 'sold', 'sold', 'available']);
    expect(states.map((s) => s.state)).toEqual(['live']); // 'loading' was the initial state
  });

  it('drops deltas the snapshot already includes', async () => {
    sync.start();
    fake.send({ type: 'subscribed', version: 1 });
    fake.send(changed(2, 2, { 1: 'held' }));
    fake.serve(2, { 1: 'held' });
    fake.send(changed(3, 3, { 1: 'available' }));
    await settle();
    expect(sync.current.store?.version).toBe(3);
    expect(status(1)).toBe('available');
  });

  it('applies live deltas without refetching', async () => {
    await live();
    fake.send(changed(2, 2, { 1: 'held' }));
    fake.send(changed(4, 3, { 1: 'sold', 2: 'held' }));
    fake.send(changed(4, 3, { 1: 'available' })); // stale: ignored
    expect(sync.current.store?.version).toBe(4);
    expect([status(1), status(2)]).toEqual(['sold', 'held']);
    expect(fake.fetches).toHaveLength(1);
  });

  it('refetches on a gap until the snapshot covers `from_version - 1`, then applies the gap message', async () => {
    await live();
    const store = sync.current.store;
    fake.serve(6, { 4: 'sold' });
    fake.send(changed(9, 8, { 1: 'held' }));
    expect(sync.current.state).toBe('resyncing');
    expect(status(1)).toBe('available');
    await settle();
    expect(fake.fetches).toHaveLength(2);
    // 6 < 7: still behind, so it asks again.
    fake.serve(7, { 4: 'sold', 3: 'held' });
    fake.send(changed(10, 10, { 2: 'held' }));
    await settle(LAG_DELAY_MS);
    expect(fake.fetches).toHaveLength(3);
    expect(sync.current).toMatchObject({ state: 'live', store });
    expect(store?.version).toBe(10);
    expect([status(1), status(2), status(3), status(4)]).toEqual(['held', 'held', 'held', 'sold']);
  });

  it('refetches on `seats.reload` until it has that version', async () => {
    await live();
    fake.serve(40, { 1: 'sold', 2: 'sold', 3: 'sold' });
    fake.send({ type: 'seats.reload', event_id: 'event-1', version: 40 });
    await settle();
    expect(sync.current.store?.version).toBe(40);
    expect(status(3)).toBe('sold');
    expect(sync.current.state).toBe('live');
  });

  it('treats a reconnect’s `subscribed` as a resync, fetching only when it is behind', async () => {
    await live();
    fake.setState('closed');
    fake.setState('open');
    fake.send({ type: 'subscribed', version: 1 });
    await settle();
    expect(fake.fetches).toHaveLength(1); // still current: nothing to fetch
    fake.setState('closed');
    fake.serve(5, { 2: 'held' });
    fake.setState('open');
    fake.send({ type: 'subscribed', version: 5 });
    await settle();
    expect(fake.fetches).toHaveLength(2);
    expect(status(2)).toBe('held');
    expect(sync.current.state).toBe('live');
  });

  it('polls every 5 s with the ETag when the socket does not deliver within 3 s', async () => {
    sync.start();
    await settle(FALLBACK_AFTER_MS - 1);
    expect(fake.fetches).toEqual([]);
    await settle(1);
    expect(fake.fetches).toEqual([null]);
    expect(sync.current).toMatchObject({ state: 'live', polling: true });
    await settle(POLL_MS);
    expect(fake.fetches).toEqual([null, '"1"']); // 304: unchanged
    fake.serve(2, { 1: 'sold' });
    await settle(POLL_MS);
    expect(status(1)).toBe('sold');
    // The socket comes: polling stops, the subscription takes over.
    fake.setState('open');
    fake.send({ type: 'subscribed', version: 2 });
    await settle(POLL_MS * 3);
    expect(fake.fetches).toHaveLength(3);
    expect(sync.current).toMatchObject({ state: 'live', polling: false });
  });

  it('loads at once when there is no socket at all (signed out)', async () => {
    fake.state = 'closed';
    sync.start();
    await settle();
    expect(fake.fetches).toEqual([null]);
    expect(sync.current).toMatchObject({ state: 'live', polling: true });
  });

  it('polls when the subscription is refused', async () => {
    await live();
    fake.send({ type: 'error', code: 'TOO_MANY_SUBSCRIPTIONS', channel: 'seats:event-1' });
    await settle();
    expect(fake.fetches).toEqual([null, '"1"']);
    expect(sync.current.polling).toBe(true);
  });

  it('stops on an error that will not go away, until reload()', async () => {
    fake.failure = new ApiError({ status: 404, code: 'NOT_FOUND' });
    sync.start();
    fake.send({ type: 'subscribed', version: 1 });
    await settle(60_000);
    expect(fake.fetches).toHaveLength(1);
    expect(sync.current.state).toBe('error');
    expect(sync.current.error).toBe(fake.failure);
    fake.failure = null;
    sync.reload();
    await settle();
    expect(fake.fetches).toHaveLength(2);
    expect(sync.current).toMatchObject({ state: 'live', error: null });
  });

  it('retries a busy server after its Retry-After', async () => {
    fake.failure = new ApiError({ status: 503, code: 'UNAVAILABLE' }, 2);
    sync.start();
    fake.send({ type: 'subscribed', version: 1 });
    await settle();
    expect(sync.current.state).toBe('error');
    fake.failure = null;
    await settle(1_999);
    expect(fake.fetches).toHaveLength(1);
    await settle(1);
    expect(fake.fetches).toHaveLength(2);
    expect(sync.current.state).toBe('live');
  });

  it('shows a snapshot that stays behind, says so, and recovers when it catches up', async () => {
    sync.start();
    fake.send({ type: 'subscribed', version: 9 });
    await settle(LAG_DELAY_MS * LAG_RETRIES);
    expect(fake.fetches).toHaveLength(LAG_RETRIES);
    expect(sync.current.state).toBe('error');
    expect(sync.current.error).toBeInstanceOf(StaleMapError);
    expect(sync.current.store?.version).toBe(1);
    fake.serve(9, { 4: 'held' });
    await settle(POLL_MS);
    expect(sync.current).toMatchObject({ state: 'live', error: null });
    expect(status(4)).toBe('held');
  });

  it('does nothing more once stopped', async () => {
    await live();
    sync.stop();
    expect(fake.handler).toBeNull();
    fake.setState('closed');
    await settle(60_000);
    expect(fake.fetches).toHaveLength(1);
  });
});
