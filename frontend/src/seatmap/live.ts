// `useLiveSeatMap`: a SeatSync (sync.ts) wired to the app's socket and API client. React only
// hears about state changes (loading → live, resyncing, errors); seat changes go from the store to
// its subscribers (canvas, list) without re-rendering the page.

import { useCallback, useEffect, useState } from 'react';
import { api, unwrap, type SeatMap } from '../api/client';
import { realtime } from '../lib/realtime';
import type { SeatStore } from './store';
import { SeatSync, type LiveState, type SyncSnapshot } from './sync';

/** `GET /api/events/{id}/seats`; null when `etag` (the version we hold, quoted) is still current. */
export async function fetchSeatMap(eventId: string, etag: string | null, signal: AbortSignal): Promise<SeatMap | null> {
  const pending = api.GET('/api/events/{id}/seats', {
    params: { path: { id: eventId } },
    headers: etag ? { 'if-none-match': etag } : {},
    signal,
  });
  const answer = await pending.catch(() => null);
  if (answer?.response.status === 304) return null;
  return unwrap(pending);
}

interface Shared {
  sync: SeatSync;
  users: number;
  listeners: Set<(snapshot: SyncSnapshot) => void>;
}

/**
 * One sync per event however many components ask: the socket delivers `subscribed` only to the
 * first subscriber of a channel, so a second independent sync would never see one.
 */
const shared = new Map<string, Shared>();

function acquire(eventId: string): Shared {
  let entry = shared.get(eventId);
  if (!entry) {
    const listeners = new Set<(snapshot: SyncSnapshot) => void>();
    const sync = new SeatSync(
      eventId,
      {
        subscribe: (channel, handler) => realtime.subscribe(channel, handler),
        onSocketState: (listener) => realtime.onState(listener),
        fetchMap: fetchSeatMap,
      },
      (snapshot) => listeners.forEach((listener) => listener(snapshot)),
    );
    entry = { sync, users: 0, listeners };
    shared.set(eventId, entry);
    sync.start();
  }
  entry.users++;
  return entry;
}

function release(eventId: string, entry: Shared) {
  entry.users--;
  // Stopped a tick later, so a remount (StrictMode, a route change to another view of the same
  // event) keeps the subscription and the loaded map.
  setTimeout(() => {
    if (entry.users > 0 || shared.get(eventId) !== entry) return;
    shared.delete(eventId);
    entry.sync.stop();
  }, 0);
}

export interface LiveSeatMap {
  /** Null until the first map has loaded; the same object afterwards (reloads refill it). */
  store: SeatStore | null;
  state: LiveState;
  error: unknown;
  /** True while the map is polled because the socket is unavailable. */
  polling: boolean;
  /** Fetches the map again now (e.g. a "retry" button after an error). */
  reload: () => void;
}

const INITIAL: SyncSnapshot = { store: null, state: 'loading', error: null, polling: false };

/** The live seat map of an event (docs/realtime.md, "Seat maps"). */
export function useLiveSeatMap(eventId: string): LiveSeatMap {
  const [current, setCurrent] = useState({ eventId, snapshot: INITIAL });
  useEffect(() => {
    const entry = acquire(eventId);
    const listener = (snapshot: SyncSnapshot) => setCurrent({ eventId, snapshot });
    listener(entry.sync.current);
    entry.listeners.add(listener);
    return () => {
      entry.listeners.delete(listener);
      release(eventId, entry);
    };
  }, [eventId]);
  const reload = useCallback(() => shared.get(eventId)?.sync.reload(), [eventId]);
  // Until the effect has run for a new event, show nothing of the previous one.
  const snapshot = current.eventId === eventId ? current.snapshot : INITIAL;
  return { ...snapshot, reload };
}
