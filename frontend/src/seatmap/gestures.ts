// Pointer Events and wheel → pan / zoom / tap / hover, in CSS pixels relative to the element.
// One code path for mouse, pen and touch: a drag pans, two fingers pinch-zoom (and pan with their
// midpoint), a press released without moving is a tap; the wheel zooms around the cursor.

export interface Point {
  x: number;
  y: number;
}

export interface GestureHandlers {
  pan(dx: number, dy: number): void;
  zoom(factor: number, at: Point): void;
  /** A press released where it started: `pointerType` tells how precise it was. */
  tap(at: Point, pointerType: string): void;
  /** The mouse moved over `at` with no button down, or left (null). */
  hover(at: Point | null): void;
  /** The user took over (pressed or scrolled): cancels animations. */
  interrupt(): void;
}

/** Movement under this many pixels still counts as a tap (fingers wobble more than mice). */
const slop = (pointerType: string) => (pointerType === 'mouse' ? 4 : 10);

export function attachGestures(element: HTMLElement, handlers: GestureHandlers): () => void {
  const pointers = new Map<number, Point>();
  let moved = false;
  let pinch: { distance: number; mid: Point } | null = null;

  const local = (event: MouseEvent): Point => {
    const rect = element.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  };
  const twoFingers = () => {
    const [a, b] = [...pointers.values()] as [Point, Point];
    return { distance: Math.hypot(a.x - b.x, a.y - b.y) || 1, mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } };
  };

  const down = (event: PointerEvent) => {
    if (event.pointerType === 'mouse' && event.button !== 0) return;
    element.setPointerCapture(event.pointerId);
    handlers.interrupt();
    pointers.set(event.pointerId, local(event));
    if (pointers.size === 1) moved = false;
    else {
      moved = true; // a second finger: this gesture is no tap any more
      pinch = twoFingers();
    }
  };

  const move = (event: PointerEvent) => {
    const at = local(event);
    const last = pointers.get(event.pointerId);
    if (!last) {
      if (event.pointerType === 'mouse') handlers.hover(at);
      return;
    }
    if (pointers.size === 1) {
      // Until the pointer leaves the slop its press position is kept, so no movement is lost.
      if (!moved && Math.hypot(at.x - last.x, at.y - last.y) < slop(event.pointerType)) return;
      moved = true;
      pointers.set(event.pointerId, at);
      handlers.pan(at.x - last.x, at.y - last.y);
    } else {
      pointers.set(event.pointerId, at);
      const next = twoFingers();
      if (pinch) {
        handlers.zoom(next.distance / pinch.distance, next.mid);
        handlers.pan(next.mid.x - pinch.mid.x, next.mid.y - pinch.mid.y);
      }
      pinch = next;
    }
  };

  const up = (event: PointerEvent) => {
    const at = pointers.get(event.pointerId);
    if (!at) return;
    pointers.delete(event.pointerId);
    if (event.type === 'pointerup' && pointers.size === 0 && !moved) handlers.tap(at, event.pointerType);
    pinch = pointers.size >= 2 ? twoFingers() : null;
  };

  const leave = (event: PointerEvent) => {
    if (event.pointerType === 'mouse' && !pointers.size) handlers.hover(null);
  };

  const wheel = (event: WheelEvent) => {
    event.preventDefault();
    handlers.interrupt();
    // Lines and pages (Firefox mouse wheels) to pixels; trackpad pinches come as ctrl+wheel with small deltas.
    const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? element.clientHeight : 1;
    if (event.deltaX && !event.ctrlKey) handlers.pan(-event.deltaX * unit, 0);
    const at = local(event);
    if (event.deltaY) handlers.zoom(Math.exp(-event.deltaY * unit * (event.ctrlKey ? 0.01 : 0.002)), at);
    handlers.hover(at); // another seat is under the cursor now
  };

  element.addEventListener('pointerdown', down);
  element.addEventListener('pointermove', move);
  element.addEventListener('pointerup', up);
  element.addEventListener('pointercancel', up);
  element.addEventListener('pointerleave', leave);
  // Not passive: the page must not scroll while the wheel zooms the map.
  element.addEventListener('wheel', wheel, { passive: false });
  return () => {
    element.removeEventListener('pointerdown', down);
    element.removeEventListener('pointermove', move);
    element.removeEventListener('pointerup', up);
    element.removeEventListener('pointercancel', up);
    element.removeEventListener('pointerleave', leave);
    element.removeEventListener('wheel', wheel);
  };
}
