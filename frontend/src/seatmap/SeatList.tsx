// The seat map as a keyboard- and screen-reader-usable list: section → row → seat buttons. Only
// expanded sections render their seats (50,000 buttons at once would take seconds), and a live
// change re-renders only the sections it touched.

import { memo, useEffect, useState } from 'react';
import { useI18n } from '../i18n';
import { useLostSeats, useSelectable, type Selectable } from './selection';
import type { SeatStore } from './store';
import { useSeatStrings, type SeatStrings } from './strings';
import type { SectionBox } from './layout';

export interface SeatListProps {
  store: SeatStore;
  selected: ReadonlySet<string>;
  onToggle: (seatId: string) => void;
  /** Whether a seat may be selected. Default: its status is available. */
  selectable?: Selectable;
  /** As for SeatCanvas: selected seats that stopped being selectable (pass it to whichever view is shown). */
  onLost?: (seatIds: string[]) => void;
  className?: string;
}

/** Sections with more seats than this open row by row too. */
const ROWS_FOLD_ABOVE = 1_000;

/** A counter per section, bumped (at most once a frame) when one of its seats changes. */
function useSectionRevisions(store: SeatStore): readonly number[] {
  const [revisions, setRevisions] = useState<readonly number[]>(() => store.layout.sections.map(() => 0));
  useEffect(() => {
    let touched = new Set<number>();
    let all = false;
    let frame = 0;
    const flush = () => {
      frame = 0;
      const [sections, everything] = [touched, all];
      touched = new Set();
      all = false;
      setRevisions((old) => store.layout.sections.map((_, s) => (old[s] ?? 0) + (everything || sections.has(s) ? 1 : 0)));
    };
    const unsubscribe = store.subscribe((changed) => {
      if (changed === 'all') all = true;
      else for (const i of changed) touched.add(store.layout.sectionOf[i]!);
      frame ||= requestAnimationFrame(flush);
    });
    return () => {
      unsubscribe();
      cancelAnimationFrame(frame);
    };
  }, [store]);
  return revisions;
}

export function SeatList({ store, selected, onToggle, selectable, onLost, className = '' }: SeatListProps) {
  const text = useSeatStrings();
  const canSelect = useSelectable(store, selectable);
  useLostSeats(store, selected, onLost, canSelect);
  const revisions = useSectionRevisions(store);
  return (
    <section aria-label={text.seatList} className={`space-y-2 ${className}`}>
      {store.layout.sections.map((box, s) => (
        <Section
          key={`${s}:${box.name}`}
          store={store}
          box={box}
          section={s}
          revision={revisions[s] ?? 0}
          selected={selected}
          onToggle={onToggle}
          selectable={canSelect}
          text={text}
        />
      ))}
    </section>
  );
}

interface PartProps {
  store: SeatStore;
  box: SectionBox;
  selected: ReadonlySet<string>;
  onToggle: (seatId: string) => void;
  selectable: Selectable;
  text: SeatStrings;
}

const disclosure = 'rounded-xl bg-white ring-1 ring-slate-200 open:ring-slate-300';
const summary = 'cursor-pointer select-none rounded-xl px-4 py-3 font-semibold text-slate-900 hover:bg-slate-50';

/** Re-rendered when its revision (a seat of it changed) or the selection changes. */
const Section = memo(function Section(props: PartProps & { section: number; revision: number }) {
  const { store, box, section, text } = props;
  const { number, won } = useI18n();
  const [open, setOpen] = useState(false);
  const rows = Array.from({ length: box.rows }, (_, r) => r);
  const fold = box.seats > ROWS_FOLD_ABOVE;
  const [low, high] = priceRange(store, box);
  const price = low === high ? won(low) : `${won(low)}–${won(high)}`;
  return (
    <details className={disclosure} open={open} onToggle={(event) => setOpen(event.currentTarget.open)}>
      <summary className={summary}>{text.sectionSummary(box.name, price, number(store.availableIn(section)), number(box.seats))}</summary>
      {open && (
        <div className="space-y-3 px-4 pb-4">
          {rows.map((r) => (fold ? <FoldedRow key={r} {...props} row={r} /> : <Row key={r} {...props} row={r} />))}
        </div>
      )}
    </details>
  );
});

/** Cheapest and dearest seat of a section (usually one price). */
function priceRange(store: SeatStore, box: SectionBox): [number, number] {
  const { tiers, tierOf } = store.tiers;
  let [low, high] = [Infinity, -Infinity];
  for (const i of box.cells) {
    if (i < 0) continue;
    const price = tiers[tierOf[i]!]!.price;
    [low, high] = [Math.min(low, price), Math.max(high, price)];
  }
  return [low, high];
}

function seatsOfRow(box: SectionBox, row: number): number[] {
  return Array.from(box.cells.subarray(row * box.cols, (row + 1) * box.cols)).filter((i) => i >= 0);
}

function FoldedRow(props: PartProps & { row: number }) {
  const { store, box, row, text } = props;
  const { number } = useI18n();
  const [open, setOpen] = useState(false);
  const available = seatsOfRow(box, row).filter((i) => store.statusAt(i) === 'available').length;
  return (
    <details className={disclosure} open={open} onToggle={(event) => setOpen(event.currentTarget.open)}>
      <summary className={summary}>{text.rowSummary(box.rowNames[row]!, number(available))}</summary>
      {open && (
        <div className="px-4 pb-4">
          <Row {...props} />
        </div>
      )}
    </details>
  );
}

function Row({ store, box, row, selected, onToggle, selectable, text }: PartProps & { row: number }) {
  const { won } = useI18n();
  return (
    <fieldset>
      <legend className="mb-1 text-sm font-semibold text-slate-700">{text.row(box.rowNames[row]!)}</legend>
      <div className="flex flex-wrap gap-1">
        {seatsOfRow(box, row).map((i) => {
          const seat = store.seat(i)!;
          const pressed = selected.has(seat.id);
          const tier = store.tiers.tiers[store.tiers.tierOf[i]!]!;
          return (
            <button
              key={seat.id}
              type="button"
              aria-pressed={pressed}
              disabled={!pressed && !selectable(i)}
              aria-label={text.seatName(seat.label, won(seat.price), text.status[seat.status])}
              onClick={() => onToggle(seat.id)}
              className={`h-9 min-w-9 rounded-md border-l-4 px-1.5 text-sm font-medium ${
                pressed
                  ? 'bg-brand-700 text-white ring-2 ring-brand-800'
                  : seat.status === 'available'
                    ? 'bg-white text-slate-900 ring-1 ring-slate-400 hover:bg-brand-50'
                    : seat.status === 'held'
                      ? 'bg-slate-200 text-slate-700'
                      : 'bg-slate-100 text-slate-600 line-through'
              }`}
              style={{ borderLeftColor: seat.status === 'available' ? tier.colour : 'transparent' }}
            >
              {seat.number}
            </button>
          );
        })}
      </div>
    </fieldset>
  );
}
