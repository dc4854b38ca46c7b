// Price tiers: available seats are coloured by price so buyers see at a glance where each price
// sits. The hues are Okabe–Ito's (distinguishable with the common colour-vision deficiencies),
// minus black; the blue nearest the brand colour of selected seats comes last.

import type { SeatStore } from './store';

export const TIER_COLOURS = ['#D55E00', '#009E73', '#E69F00', '#56B4E9', '#CC79A7', '#F0E442', '#0072B2'] as const;
export const HELD_COLOUR = '#d1d5db';
export const SOLD_COLOUR = '#6b7280';
export const SELECTED_COLOUR = '#4338ca';
export const SELECTED_RING = '#1e1b4b';

export interface PriceTier {
  price: number;
  colour: string;
  /** Seats at this price (any status). */
  seats: number;
}

export interface Tiers {
  /** Dearest first. */
  tiers: PriceTier[];
  /** Tier index of each seat. */
  tierOf: Uint16Array;
}

/** One tier per distinct price, dearest first; past seven prices the colours repeat. */
export function buildTiers(prices: readonly number[]): Tiers {
  const counts = new Map<number, number>();
  for (const price of prices) counts.set(price, (counts.get(price) ?? 0) + 1);
  const tiers = [...counts]
    .sort(([a], [b]) => b - a)
    .map(([price, seats], i) => ({ price, seats, colour: TIER_COLOURS[i % TIER_COLOURS.length]! }));
  const index = new Map(tiers.map((tier, i) => [tier.price, i]));
  const tierOf = new Uint16Array(prices.length);
  prices.forEach((price, i) => (tierOf[i] = index.get(price)!));
  return { tiers, tierOf };
}

/** The store's price tiers, dearest first (what the legend shows and the canvas paints). */
export function priceTiers(store: SeatStore): PriceTier[] {
  return store.tiers.tiers;
}
