// What SeatCanvas and SeatList share about selection: which seats can be chosen, and noticing
// when chosen seats are taken by someone else while the buyer is still looking.

import { useEffect, useMemo, useRef } from 'react';
import type { SeatStore } from './store';

export type Selectable = (index: number) => boolean;

/** The caller's `selectable`, or the default: a seat can be chosen while it is available. */
export function useSelectable(store: SeatStore, selectable?: Selectable): Selectable {
  const available = useMemo<Selectable>(() => (index) => store.statusAt(index) === 'available', [store]);
  return selectable ?? available;
}

/**
 * Calls `onLost` with the selected seats that stopped being selectable (held or sold by someone
 * else, or gone after a reload) whenever the store changes. Checks the selection, not the changed
 * seats: a selection is a few seats, a change may be thousands.
 */
export function useLostSeats(
  store: SeatStore,
  selected: ReadonlySet<string>,
  onLost: ((seatIds: string[]) => void) | undefined,
  selectable: Selectable,
): void {
  const latest = useRef({ selected, onLost, selectable });
  latest.current = { selected, onLost, selectable };
  useEffect(
    () =>
      store.subscribe(() => {
        const { selected, onLost, selectable } = latest.current;
        if (!onLost || !selected.size) return;
        const lost = [...selected].filter((id) => {
          const index = store.indexOf(id);
          return index < 0 || !selectable(index);
        });
        if (lost.length) onLost(lost);
      }),
    [store],
  );
}
