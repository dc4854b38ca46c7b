// What the canvas colours mean: one swatch per price tier (with its price), then held, sold and
// selected. Sold seats are drawn smaller, and the swatch shows that too.

import { useEffect, useState } from 'react';
import { useI18n } from '../i18n';
import type { SeatStore } from './store';
import { useSeatStrings } from './strings';
import { HELD_COLOUR, priceTiers, SELECTED_COLOUR, SELECTED_RING, SOLD_COLOUR } from './tiers';

function Swatch({ colour, small = false, ring = false }: { colour: string; small?: boolean; ring?: boolean }) {
  return (
    <span aria-hidden="true" className="inline-flex h-4 w-4 shrink-0 items-center justify-center">
      <span
        className={small ? 'h-2 w-2 rounded-[2px]' : 'h-4 w-4 rounded-[4px]'}
        style={{ background: colour, boxShadow: ring ? `0 0 0 2px ${SELECTED_RING}` : undefined }}
      />
    </span>
  );
}

export function Legend({ store, className = '' }: { store: SeatStore; className?: string }) {
  const text = useSeatStrings();
  const { won } = useI18n();
  const [tiers, setTiers] = useState(() => priceTiers(store));
  useEffect(() => {
    setTiers(priceTiers(store));
    // Prices only change with a reload, never with a live status change.
    return store.subscribe((changed) => changed === 'all' && setTiers(priceTiers(store)));
  }, [store]);
  const item = 'flex items-center gap-2';
  return (
    <ul aria-label={text.legend} className={`flex flex-wrap gap-x-5 gap-y-2 text-sm text-slate-800 ${className}`}>
      {tiers.map((tier) => (
        <li key={tier.price} className={item}>
          <Swatch colour={tier.colour} />
          {won(tier.price)}
        </li>
      ))}
      <li className={item}>
        <Swatch colour={HELD_COLOUR} />
        {text.status.held}
      </li>
      <li className={item}>
        <Swatch colour={SOLD_COLOUR} small />
        {text.status.sold}
      </li>
      <li className={item}>
        <Swatch colour={SELECTED_COLOUR} ring />
        {text.selected}
      </li>
    </ul>
  );
}
