import { describe, expect, it } from 'vitest';
import { bucketSeats } from './draw';
import { makeMap } from './fixtures';
import { SeatStore } from './store';
import { buildTiers, HELD_COLOUR, priceTiers, SOLD_COLOUR, TIER_COLOURS } from './tiers';

describe('price tiers', () => {
  it('has one tier per distinct price, dearest first, with distinct colours and seat counts', () => {
    const { tiers, tierOf } = buildTiers([50, 150, 100, 150, 50, 50]);
    expect(tiers).toEqual([
      { price: 150, seats: 2, colour: TIER_COLOURS[0] },
      { price: 100, seats: 1, colour: TIER_COLOURS[1] },
      { price: 50, seats: 3, colour: TIER_COLOURS[2] },
    ]);
    expect([...tierOf]).toEqual([2, 0, 1, 0, 2, 2]);
  });

  it('repeats colours past the palette', () => {
    const prices = Array.from({ length: TIER_COLOURS.length + 2 }, (_, i) => (i + 1) * 1000);
    const { tiers } = buildTiers(prices);
    expect(new Set(tiers.slice(0, TIER_COLOURS.length).map((t) => t.colour)).size).toBe(TIER_COLOURS.length);
    expect(tiers[TIER_COLOURS.length]!.colour).toBe(TIER_COLOURS[0]);
  });

  it('are the store’s, recomputed on load', () => {
    const store = new SeatStore(
      makeMap([
        { name: 'VIP', rows: 1, perRow: 2, price: 200_000 },
        { name: 'R', rows: 2, perRow: 2, price: 150_000 },
      ]),
    );
    expect(priceTiers(store).map((t) => [t.price, t.seats])).toEqual([
      [200_000, 2],
      [150_000, 4],
    ]);
    store.load(makeMap([{ name: 'S', rows: 1, perRow: 3, price: 99_000 }], 2));
    expect(priceTiers(store).map((t) => [t.price, t.seats])).toEqual([[99_000, 3]]);
  });
});

describe('bucketSeats', () => {
  const map = makeMap([
    { name: 'VIP', rows: 1, perRow: 3, price: 200_000 },
    { name: 'R', rows: 1, perRow: 3, price: 150_000 },
  ]);
  map.seats[1]!.status = 'held';
  map.seats[4]!.status = 'sold';
  const store = new SeatStore(map);

  it('groups seats by look: available by price tier, held grey, sold small', () => {
    const buckets = bucketSeats(store);
    expect(buckets).toEqual([
      { colour: TIER_COLOURS[0], small: false, indices: [0, 2] },
      { colour: HELD_COLOUR, small: false, indices: [1] },
      { colour: TIER_COLOURS[1], small: false, indices: [3, 5] },
      { colour: SOLD_COLOUR, small: true, indices: [4] },
    ]);
  });

  it('lets paint override colours, at full size', () => {
    const buckets = bucketSeats(store, (i) => (i < 5 ? (i % 2 ? '#000000' : '#ffffff') : null));
    expect(buckets).toEqual([
      { colour: '#ffffff', small: false, indices: [0, 2, 4] },
      { colour: '#000000', small: false, indices: [1, 3] },
      { colour: TIER_COLOURS[1], small: false, indices: [5] },
    ]);
  });
});
