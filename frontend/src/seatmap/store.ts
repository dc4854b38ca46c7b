// The seat map in memory, kept current by `seats.changed` deltas (docs/realtime.md, "Seat maps").
// Plain TypeScript, no React: deltas arrive up to ten times a second and may touch thousands of
// seats, so statuses live in a typed array and listeners (the canvas, the list) are told which
// seat indices changed instead of React re-rendering per message.

import type { SeatMap, SeatMapSeat } from '../api/client';
import { layoutSeats, type Layout } from './layout';
import { buildTiers, type Tiers } from './tiers';

export type SeatStatus = SeatMapSeat['status'];
/** Status codes as stored: the index into this list. */
export const STATUSES: readonly SeatStatus[] = ['available', 'held', 'sold'];
const AVAILABLE = 0;
const HELD = 1;

/** Unknown statuses (a newer server) count as held: not selectable, but not shown as sold. */
function codeOf(status: string): number {
  const code = STATUSES.indexOf(status as SeatStatus);
  return code < 0 ? HELD : code;
}

/** A `seats.changed` message (the fields this store reads). */
export interface SeatChanges {
  version: number;
  /** The first version included; absent means the message holds `version` alone. */
  from_version?: number;
  seats: readonly { id: string; status: string }[];
}

export type ApplyResult = 'applied' | 'stale' | 'gap';
/** Seat indices whose status changed, or 'all' after a (re)load. */
export type Changed = number[] | 'all';
export type StoreListener = (changed: Changed) => void;

export class SeatStore {
  eventId!: string;
  /** The version the statuses reflect: every change up to it is included. */
  version!: number;
  layout!: Layout;
  tiers!: Tiers;
  private seats: readonly SeatMapSeat[] = [];
  private status = new Uint8Array(0);
  private index = new Map<string, number>();
  private counts = [0, 0, 0];
  private sectionAvailable = new Int32Array(0);
  private readonly listeners = new Set<StoreListener>();

  constructor(map: SeatMap) {
    this.load(map);
  }

  /** Replaces everything with a fresh answer of `GET /api/events/{id}/seats`. */
  load(map: SeatMap): void {
    // A reload of the same seats keeps the index and layout (and so the viewer's zoom).
    const sameSeats =
      map.event_id === this.eventId &&
      map.seats.length === this.seats.length &&
      map.seats.every((seat, i) => seat.id === this.seats[i]!.id);
    this.eventId = map.event_id;
    this.version = map.version;
    this.seats = map.seats;
    if (!sameSeats) {
      this.index = new Map(map.seats.map((seat, i) => [seat.id, i]));
      this.layout = layoutSeats(map.seats);
    }
    this.tiers = buildTiers(map.seats.map((seat) => seat.price));
    this.status = new Uint8Array(map.seats.length);
    this.counts = [0, 0, 0];
    this.sectionAvailable = new Int32Array(this.layout.sections.length);
    map.seats.forEach((seat, i) => {
      const code = codeOf(seat.status);
      this.status[i] = code;
      this.counts[code]!++;
      if (code === AVAILABLE) this.sectionAvailable[this.layout.sectionOf[i]!]!++;
    });
    this.emit('all');
  }

  /**
   * Applies a `seats.changed` message with the map at version v: `version <= v` is already
   * included ('stale'); `from_version <= v + 1` is applied and v becomes `version`; otherwise
   * versions are missing ('gap'), nothing is applied and the caller must refetch the map.
   */
  apply(message: SeatChanges): ApplyResult {
    if (message.version <= this.version) return 'stale';
    if ((message.from_version ?? message.version) > this.version + 1) return 'gap';
    const changed: number[] = [];
    for (const { id, status } of message.seats) {
      const i = this.index.get(id);
      if (i === undefined) continue;
      const before = this.status[i]!;
      const after = codeOf(status);
      if (before === after) continue;
      this.status[i] = after;
      this.counts[before]!--;
      this.counts[after]!++;
      const section = this.layout.sectionOf[i]!;
      if (before === AVAILABLE) this.sectionAvailable[section]!--;
      if (after === AVAILABLE) this.sectionAvailable[section]!++;
      changed.push(i);
    }
    this.version = message.version;
    if (changed.length) this.emit(changed);
    return 'applied';
  }

  /** Number of seats. */
  get size(): number {
    return this.seats.length;
  }

  /** The seat with its current status (undefined for an index out of range, e.g. -1). */
  seat(index: number): SeatMapSeat | undefined {
    const seat = this.seats[index];
    return seat && { ...seat, status: this.statusAt(index) };
  }

  indexOf(id: string): number {
    return this.index.get(id) ?? -1;
  }

  statusAt(index: number): SeatStatus {
    return STATUSES[this.status[index]!]!;
  }

  statusOf(id: string): SeatStatus | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.statusAt(i);
  }

  /** Seats with that status, or all seats. */
  count(status?: SeatStatus): number {
    return status ? this.counts[STATUSES.indexOf(status)]! : this.seats.length;
  }

  /** Available seats in a section (an index into `layout.sections`). */
  availableIn(section: number): number {
    return this.sectionAvailable[section] ?? 0;
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(changed: Changed) {
    for (const listener of this.listeners) listener(changed);
  }
}
