// The console's pure parts: Korean time in forms, chart ranges, heat colours, layouts, edit patches.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/problem';
import { patchOf, readValues, valuesOf } from './EventForm';
import { ratePoints } from './Funnel';
import { holdColour, QUIET, speedColour } from './heat';
import { salesRange, statsNotYet } from './queries';
import { fromKstInput, kstDayStart, kstToday, toKstInput } from './time';
import { layoutBlocks } from './VenuePreview';

describe('Korean time', () => {
  it('reads and writes datetime-local values as KST whatever the browser zone', () => {
    expect(fromKstInput('2025-03-01T20:00')).toBe('2025-03-01T11:00:00.000Z');
    expect(toKstInput('2025-03-01T11:00:00Z')).toBe('2025-03-01T20:00');
    expect(fromKstInput('')).toBeNull();
    expect(fromKstInput('nonsense')).toBeNull();
  });
  it('turns report days into an exclusive range', () => {
    expect(kstDayStart('2025-03-01')).toBe('2025-02-28T15:00:00.000Z');
    expect(kstDayStart('2025-03-01', 1)).toBe('2025-03-01T15:00:00.000Z');
    expect(kstToday(0, new Date('2025-02-28T16:00:00Z'))).toBe('2025-03-01');
  });
});

describe('sales range', () => {
  const now = new Date('2025-03-10T00:00:00Z');
  it('charts the last day by the hour without an opening, or before it', () => {
    expect(salesRange(undefined, now)).toEqual({ from: new Date('2025-03-09T00:00:00Z'), bucket: 'hour' });
    expect(salesRange('2025-04-01T00:00:00Z', now).bucket).toBe('hour');
  });
  it('charts from the opening, by the day once it is three days old', () => {
    expect(salesRange('2025-03-08T12:00:00Z', now)).toEqual({ from: new Date('2025-03-08T12:00:00Z'), bucket: 'hour' });
    expect(salesRange('2025-02-01T00:00:00Z', now)).toEqual({ from: new Date('2025-02-01T00:00:00Z'), bucket: 'day' });
  });
});

describe('statistics not in yet', () => {
  it('is a 404 from a per-event statistics read, and no other failure', () => {
    expect(statsNotYet(new ApiError({ status: 404, code: 'NOT_FOUND' }))).toBe(true);
    expect(statsNotYet(new ApiError({ status: 403, code: 'FORBIDDEN' }))).toBe(false);
    expect(statsNotYet(new ApiError({ status: 503, code: 'UNAVAILABLE' }))).toBe(false);
    expect(statsNotYet(new Error('network'))).toBe(false);
    expect(statsNotYet(null)).toBe(false);
  });
});

describe('heat colours', () => {
  it('leaves quiet seats grey and steps up with holds and speed', () => {
    expect(holdColour(0)).toBe(QUIET);
    expect(holdColour(1)).not.toBe(holdColour(10));
    expect(holdColour(50)).toBe(holdColour(10));
    expect(speedColour(null)).toBe(QUIET);
    expect(speedColour(30)).not.toBe(speedColour(100_000));
  });
});

describe('admission rate', () => {
  it('is admissions per minute since the first sample until a minute has passed, never negative', () => {
    const points = ratePoints([
      { at: 0, joined: 100, admitted: 10 },
      { at: 3_000, joined: 101, admitted: 11 },
      { at: 30_000, joined: 150, admitted: 40 },
      { at: 45_000, joined: 150, admitted: 5 },
    ]);
    expect(points).toEqual([
      // None after 3 s: one admission there would read as 20 a minute.
      { at: 30_000, perMinute: 60, waiting: 110 },
      { at: 45_000, perMinute: 0, waiting: 145 },
    ]);
  });
  it('is counted over the trailing minute, so admissions in steps read as their steady rate', () => {
    // 50 admitted every 15 s (200 a minute), polled every 3 s for three minutes.
    const samples = Array.from({ length: 61 }, (_, k) => ({ at: k * 3_000, joined: 10_000, admitted: 50 * Math.floor(k / 5) }));
    const points = ratePoints(samples);
    expect(points.filter((p) => p.at >= 60_000).map((p) => p.perMinute)).toEqual(Array(41).fill(200));
    expect(points[0]).toEqual({ at: 30_000, perMinute: 200, waiting: 9_900 });
    expect(Math.max(...points.map((p) => p.perMinute))).toBeLessThan(400);
  });
});

describe('venue preview', () => {
  it('draws seats at one scale, wrapping blocks that do not fit side by side', () => {
    const { blocks, unit } = layoutBlocks([
      { name: 'A', rows: 2, perRow: 40 },
      { name: 'B', rows: 3, perRow: 40 },
      { name: '', rows: 0, perRow: 10 },
    ]);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]!.width).toBe(40 * unit);
    expect(blocks[1]!.y).toBeGreaterThan(blocks[0]!.y);
  });
});

describe('event form', () => {
  const filled = {
    ...valuesOf(),
    title: 'T',
    artist: 'A',
    venueId: 'v',
    opensAt: '2025-03-01T20:00',
    closesAt: '2025-03-02T20:00',
    startsAt: '2025-03-03T19:00',
  };
  it('names what is missing by the API field', () => {
    expect(readValues(valuesOf()).problems).toMatchObject({ venue_id: 'required', starts_at: 'required' });
    expect(readValues({ ...filled, maxSeats: '2.5' }).problems).toEqual({ max_seats_per_order: 'whole' });
  });
  it('patches only what changed', () => {
    const after = { ...filled, artist: 'B', admitPerMinute: '50', description: '' };
    const before = { ...filled, description: 'old' };
    const { input } = readValues(after);
    expect(patchOf(input!, before, after)).toEqual({
      artist: 'B',
      description: '',
      waiting_room: { enabled: false, max_active: 500, admit_per_minute: 50 },
    });
  });
});
