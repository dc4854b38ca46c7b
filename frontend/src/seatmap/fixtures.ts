// Seat maps for the unit tests, shaped like `GET /api/events/{id}/seats` answers.

import type { SeatMap, SeatMapSeat } from '../api/client';

export interface SectionSpec {
  name: string;
  rows: number;
  perRow: number;
  price: number;
}

/** Row labels as the server prints them: A..Z, AA, AB, … */
export function rowName(index: number): string {
  let n = index + 1;
  let name = '';
  while (n > 0) {
    name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
    n = Math.floor((n - 1) / 26);
  }
  return name;
}

export function makeSeats(sections: SectionSpec[]): SeatMapSeat[] {
  const seats: SeatMapSeat[] = [];
  for (const section of sections) {
    for (let r = 0; r < section.rows; r++) {
      for (let n = 1; n <= section.perRow; n++) {
        const row = rowName(r);
        seats.push({
          id: `${section.name}-${row}-${n}`,
          section: section.name,
          row,
          number: n,
          label: `${section.name} ${row}-${n}`,
          price: section.price,
          status: 'available',
        });
      }
    }
  }
  return seats;
}

export function makeMap(sections: SectionSpec[], version = 1, eventId = 'event-1'): SeatMap {
  return { event_id: eventId, version, seats: makeSeats(sections) };
}

/** 50,000 seats: 20 sections of 50 rows × 50 seats, four prices. */
export function stadium(version = 1): SeatMap {
  return makeMap(
    Array.from({ length: 20 }, (_, s) => ({ name: `S${s + 1}`, rows: 50, perRow: 50, price: [165_000, 143_000, 121_000, 99_000][s % 4]! })),
    version,
  );
}
