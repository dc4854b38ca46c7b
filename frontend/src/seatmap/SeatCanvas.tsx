// The seat map drawn on one <canvas> (50,000 seats as SVG or DOM nodes are several times slower).
// React renders the frame around it once; drawing, zoom, pan and live updates happen in MapView.
// The canvas is a picture for pointer users (role="img"); <SeatList> is the accessible way in.

import { useEffect, useRef } from 'react';
import { useI18n } from '../i18n';
import { Button } from '../ui';
import type { Paint } from './draw';
import { MapView, type MapInputs } from './mapview';
import { useLostSeats, useSelectable, type Selectable } from './selection';
import type { SeatStore } from './store';
import { useSeatStrings } from './strings';

export interface SeatCanvasProps {
  store: SeatStore;
  /** Seat ids drawn as selected. */
  selected?: ReadonlySet<string>;
  /** A selectable seat (or a selected one) was clicked or tapped. */
  onToggle?: (seatId: string) => void;
  /**
   * Selected seats that stopped being selectable while shown — taken by someone else, or gone
   * after a reload: remove them from the selection (and tell the buyer). The map cannot tell
   * whose hold it is, so the buyer's own hold reports its seats too: clear the selection once the
   * hold succeeds, or pass a `selectable` that accepts the buyer's own seats.
   */
  onLost?: (seatIds: string[]) => void;
  /** Overrides a seat's colour (e.g. a heatmap); null keeps the usual one. */
  paint?: Paint;
  /** Whether a seat may be selected. Default: its status is available. */
  selectable?: Selectable;
  /** Classes of the frame; give it a height (default `h-[70vh] min-h-80`). */
  className?: string;
  ariaLabel: string;
}

const NONE: ReadonlySet<string> = new Set();

export function SeatCanvas({
  store,
  selected = NONE,
  onToggle,
  onLost,
  paint,
  selectable,
  className = 'h-[70vh] min-h-80',
  ariaLabel,
}: SeatCanvasProps) {
  const text = useSeatStrings();
  const { won } = useI18n();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const statusRef = useRef<HTMLParagraphElement>(null);
  const mapRef = useRef<MapView | null>(null);
  const canSelect = useSelectable(store, selectable);
  useLostSeats(store, selected, onLost, canSelect);

  // MapView reads the latest props through these refs, so prop changes need no new MapView.
  const inputs = useRef<MapInputs>({ selected, paint, selectable: canSelect, onToggle, stageLabel: text.stage });
  inputs.current = { selected, paint, selectable: canSelect, onToggle, stageLabel: text.stage };
  const hovered = useRef(-1);
  const describe = useRef((_index: number) => {});
  describe.current = (index) => {
    hovered.current = index;
    if (!statusRef.current) return;
    // Written straight into the DOM: hovering must not re-render.
    const seat = store.seat(index);
    statusRef.current.textContent = seat ? text.hovered(seat.label, won(seat.price), text.status[seat.status]) : text.hint;
  };

  useEffect(() => {
    const map = new MapView(canvasRef.current!, store, () => inputs.current, (index) => describe.current(index));
    mapRef.current = map;
    return () => {
      map.destroy();
      mapRef.current = null;
    };
  }, [store]);
  useEffect(() => mapRef.current?.recolour(), [paint]);
  useEffect(() => mapRef.current?.repaint(), [selected, text]);
  useEffect(() => describe.current(hovered.current), [store, text, won]);

  const tool = 'h-10 w-10 px-0! text-lg shadow-sm';
  return (
    <div className={`flex flex-col overflow-hidden rounded-2xl bg-white ring-1 ring-slate-200 ${className}`}>
      <div className="relative min-h-0 flex-1">
        <canvas ref={canvasRef} role="img" aria-label={ariaLabel} className="absolute inset-0 h-full w-full touch-none select-none" />
        <div className="absolute right-2 top-2 flex flex-col gap-1">
          <Button variant="secondary" className={tool} aria-label={text.zoomIn} title={text.zoomIn} onClick={() => mapRef.current?.zoomBy(1.6)}>
            <span aria-hidden="true">+</span>
          </Button>
          <Button variant="secondary" className={tool} aria-label={text.zoomOut} title={text.zoomOut} onClick={() => mapRef.current?.zoomBy(1 / 1.6)}>
            <span aria-hidden="true">−</span>
          </Button>
          <Button variant="secondary" className={tool} aria-label={text.fit} title={text.fit} onClick={() => mapRef.current?.fit()}>
            <span aria-hidden="true">⤢</span>
          </Button>
        </div>
      </div>
      {/* Below the map rather than over it, so it never hides seats. */}
      <p ref={statusRef} aria-hidden="true" data-testid="seatmap-hover" className="min-h-9 truncate border-t border-slate-200 px-3 py-2 text-sm text-slate-800" />
    </div>
  );
}
