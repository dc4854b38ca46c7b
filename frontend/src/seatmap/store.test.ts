import { describe, expect, it } from 'vitest';
import { makeMap, stadium } from './fixtures';
import { SeatStore, type Changed } from './store';

const twoSections = (version = 10) =>
  makeMap(
    [
      { name: 'A', rows: 2, perRow: 3, price: 100 },
      { name: 'B', rows: 1, perRow: 4, price: 50 },
    ],
    version,
  );

function watched(store: SeatStore): Changed[] {
  const seen: Changed[] = [];
  store.subscribe((changed) => seen.push(changed));
  return seen;
}

describe('SeatStore', () => {
  it('reads a seat map', () => {
    const map = twoSections();
    map.seats[1]!.status = 'held';
    map.seats[7]!.status = 'sold';
    const store = new SeatStore(map);
    expect(store.eventId).toBe('event-1');
    expect(store.version).toBe(10);
    expect(store.size).toBe(10);
    expect([store.count(), store.count('available'), store.count('held'), store.count('sold')]).toEqual([10, 8, 1, 1]);
    expect(store.indexOf('A-A-2')).toBe(1);
    expect(store.indexOf('nope')).toBe(-1);
    expect(store.statusOf('A-A-2')).toBe('held');
    expect(store.statusOf('nope')).toBeUndefined();
    expect(store.seat(7)).toMatchObject({ id: 'B-A-2', section: 'B', row: 'A', number: 2, label: 'B A-2', price: 50, status: 'sold' });
    expect([store.availableIn(0), store.availableIn(1)]).toEqual([5, 3]);
    expect(store.seat(10)).toBeUndefined();
    expect(store.seat(-1)).toBeUndefined();
  });

  it('ignores what it already has (version <= its own)', () => {
    const store = new SeatStore(twoSections());
    const seen = watched(store);
    expect(store.apply({ version: 10, from_version: 10, seats: [{ id: 'A-A-1', status: 'sold' }] })).toBe('stale');
    expect(store.apply({ version: 7, from_version: 5, seats: [{ id: 'A-A-1', status: 'sold' }] })).toBe('stale');
    expect(store.statusOf('A-A-1')).toBe('available');
    expect(store.version).toBe(10);
    expect(seen).toEqual([]);
  });

  it('applies the next version and reports the seats that changed', () => {
    const store = new SeatStore(twoSections());
    const seen = watched(store);
    const result = store.apply({
      version: 11,
      from_version: 11,
      seats: [
        { id: 'A-A-1', status: 'held' },
        { id: 'B-A-4', status: 'sold' },
        { id: 'A-B-1', status: 'available' }, // unchanged: not reported
        { id: 'elsewhere', status: 'sold' }, // not in this map: ignored
      ],
    });
    expect(result).toBe('applied');
    expect(store.version).toBe(11);
    expect(seen).toEqual([[0, 9]]);
    expect([store.statusOf('A-A-1'), store.statusOf('B-A-4')]).toEqual(['held', 'sold']);
    expect([store.count('available'), store.count('held'), store.count('sold')]).toEqual([8, 1, 1]);
    expect([store.availableIn(0), store.availableIn(1)]).toEqual([5, 3]);

    expect(store.apply({ version: 12, from_version: 12, seats: [{ id: 'A-A-1', status: 'available' }] })).toBe('applied');
    expect([store.availableIn(0), store.count('held')]).toEqual([6, 0]);
    expect(seen).toEqual([[0, 9], [0]]);
  });

  it('applies a coalesced window that overlaps what it has', () => {
    const store = new SeatStore(twoSections());
    // Versions 8..13: 8..10 are already included, 11..13 are new.
    expect(store.apply({ version: 13, from_version: 8, seats: [{ id: 'B-A-1', status: 'sold' }] })).toBe('applied');
    expect(store.version).toBe(13);
    expect(store.statusOf('B-A-1')).toBe('sold');
  });

  it('reports a gap and applies nothing when versions are missing', () => {
    const store = new SeatStore(twoSections());
    const seen = watched(store);
    expect(store.apply({ version: 15, from_version: 12, seats: [{ id: 'B-A-1', status: 'sold' }] })).toBe('gap');
    expect(store.version).toBe(10);
    expect(store.statusOf('B-A-1')).toBe('available');
    expect(seen).toEqual([]);
  });

  it('treats a message without from_version as that version alone', () => {
    const store = new SeatStore(twoSections());
    expect(store.apply({ version: 12, seats: [{ id: 'B-A-1', status: 'sold' }] })).toBe('gap');
    expect(store.apply({ version: 11, seats: [{ id: 'B-A-1', status: 'sold' }] })).toBe('applied');
    expect(store.version).toBe(11);
  });

  it('counts an unknown status as held', () => {
    const store = new SeatStore(twoSections());
    store.apply({ version: 11, seats: [{ id: 'A-A-1', status: 'reserved-for-press' }] });
    expect(store.statusOf('A-A-1')).toBe('held');
  });

  it('load replaces statuses and version, keeps the layout for the same seats, and tells listeners', () => {
    const store = new SeatStore(twoSections());
    store.apply({ version: 11, seats: [{ id: 'A-A-1', status: 'sold' }] });
    const layout = store.layout;
    const seen = watched(store);
    const fresh = twoSections(20);
    fresh.seats[2]!.status = 'held';
    store.load(fresh);
    expect(seen).toEqual(['all']);
    expect(store.version).toBe(20);
    expect([store.statusOf('A-A-1'), store.statusOf('A-A-3')]).toEqual(['available', 'held']);
    expect([store.count('available'), store.count('held'), store.count('sold')]).toEqual([9, 1, 0]);
    expect(store.layout).toBe(layout);

    // Other seats: a new index and layout; a lower version is taken as is (a reload is the truth).
    store.load(makeMap([{ name: 'C', rows: 1, perRow: 2, price: 10 }], 3));
    expect(store.layout).not.toBe(layout);
    expect(store.layout.sections.map((s) => s.name)).toEqual(['C']);
    expect(store.version).toBe(3);
    expect(store.size).toBe(2);
    expect(store.indexOf('A-A-1')).toBe(-1);
    expect(store.indexOf('C-A-2')).toBe(1);
    expect(store.availableIn(0)).toBe(2);
  });

  it('stops telling a listener once unsubscribed', () => {
    const store = new SeatStore(twoSections());
    const seen: Changed[] = [];
    const unsubscribe = store.subscribe((changed) => seen.push(changed));
    store.apply({ version: 11, seats: [{ id: 'A-A-1', status: 'sold' }] });
    unsubscribe();
    store.apply({ version: 12, seats: [{ id: 'A-A-2', status: 'sold' }] });
    expect(seen).toEqual([[0]]);
  });

  it('applies a change of all 50,000 seats in one message', () => {
    const map = stadium(1);
    const store = new SeatStore(map);
    const seats = map.seats.map((seat) => ({ id: seat.id, status: 'sold' }));
    const started = performance.now();
    expect(store.apply({ version: 2, from_version: 2, seats })).toBe('applied');
    expect(performance.now() - started).toBeLessThan(500);
    expect(store.count('sold')).toBe(50_000);
    expect(store.availableIn(19)).toBe(0);
  });
});
