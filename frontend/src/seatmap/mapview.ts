// The imperative half of <SeatCanvas>: owns the canvas, the view transform and the frame loop.
// Store changes, gestures and prop changes only mark what is stale and ask for one animation
// frame; the frame rebuilds what is stale and paints. React never re-renders for any of it.

import { attachGestures, type Point } from './gestures';
import { bucketSeats, drawScene, ROUNDED_FROM_PX, seatPaths, type Bucket, type Paint, type SeatPath } from './draw';
import { CELL, isSectionHeader, MARGIN, SEAT, seatAt, sectionAt, type Layout } from './layout';
import type { Changed, SeatStore } from './store';
import { between, clampView, fitView, toWorld, zoomAt, type Size, type View } from './view';

/** What the view reads from the component at each frame or tap. */
export interface MapInputs {
  selected: ReadonlySet<string>;
  paint?: Paint;
  selectable: (index: number) => boolean;
  onToggle?: (seatId: string) => void;
  stageLabel: string;
}

/** A seat slot narrower than this on screen is too small to aim at: a tap zooms into its section. */
const minTapPx = (pointerType: string) => (pointerType === 'mouse' ? 6 : 14);
const ANIMATION_MS = 250;

export class MapView {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly cleanups: (() => void)[] = [];
  private view: View | null = null;
  private viewport: Size = { width: 0, height: 0 };
  private dpr = 1;
  private layout: Layout;
  private buckets: Bucket[] | null = null;
  private paths: SeatPath[] | null = null;
  private pathsRounded = false;
  private frame = 0;
  private animation: { from: View; to: View; start: number } | null = null;
  private hovered = -1;
  /** Seats changed by live updates since the last frame, for the `seatmap:update` measure. */
  private updated = 0;
  /** When the first change since the last frame reached the map (the update's measured start). */
  private changedAt = 0;
  private painted = false;
  private readonly fontFamily: string;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly store: SeatStore,
    private readonly inputs: () => MapInputs,
    /** Told the seat under the pointer (or -1) whenever it or its status may have changed. */
    private readonly onHover: (index: number) => void,
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('canvas 2d unavailable');
    this.ctx = ctx;
    this.layout = store.layout;
    this.fontFamily = getComputedStyle(canvas).fontFamily || 'sans-serif';
    const resize = new ResizeObserver(() => this.resize());
    resize.observe(canvas);
    this.cleanups.push(
      () => resize.disconnect(),
      this.watchPixelRatio(),
      store.subscribe((changed) => this.onStoreChange(changed)),
      attachGestures(canvas, {
        pan: (dx, dy) => this.view && this.setView({ ...this.view, x: this.view.x + dx, y: this.view.y + dy }),
        zoom: (factor, at) => this.view && this.setView(zoomAt(this.view, factor, at.x, at.y)),
        tap: (at, pointerType) => this.tap(at, pointerType),
        hover: (at) => this.hover(at),
        interrupt: () => (this.animation = null),
      }),
      () => cancelAnimationFrame(this.frame),
    );
  }

  destroy(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  /** Seat colours may have changed (a new `paint`). */
  recolour(): void {
    this.buckets = null;
    this.paths = null;
    this.schedule();
  }

  /** Selection or labels changed: repaint, nothing to rebuild. */
  repaint(): void {
    this.schedule();
  }

  zoomBy(factor: number): void {
    if (this.view) this.animateTo(zoomAt(this.view, factor, this.viewport.width / 2, this.viewport.height / 2));
  }

  fit(): void {
    this.animateTo(this.fitted());
  }

  zoomToSection(section: number): void {
    const box = this.layout.sections[section];
    if (!box) return;
    const pad = MARGIN / 2;
    this.animateTo(fitView({ x: box.x - pad, y: box.y - pad, width: box.width + 2 * pad, height: box.height + 2 * pad }, this.viewport));
  }

  private fitted(): View {
    return fitView({ x: 0, y: 0, width: this.layout.width, height: this.layout.height }, this.viewport);
  }

  private world(): Size {
    return { width: this.layout.width, height: this.layout.height };
  }

  private setView(view: View) {
    this.view = clampView(view, this.world(), this.viewport);
    this.schedule();
  }

  private animateTo(target: View) {
    if (!this.view) return;
    const to = clampView(target, this.world(), this.viewport);
    const reduced = matchMedia('(prefers-reduced-motion: reduce)').matches;
    if (reduced) return this.setView(to);
    this.animation = { from: this.view, to, start: performance.now() };
    this.schedule();
  }

  private onStoreChange(changed: Changed) {
    this.buckets = null;
    this.paths = null;
    if (changed === 'all') {
      // A reload of other seats (a new layout) starts again from the whole map.
      if (this.layout !== this.store.layout) {
        this.layout = this.store.layout;
        this.hovered = -1;
        if (this.view) this.view = this.fitted();
      }
    } else {
      if (!this.updated) this.changedAt = performance.now();
      this.updated += changed.length;
    }
    this.onHover(this.hovered);
    this.schedule();
  }

  private resize() {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    this.dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * this.dpr);
    this.canvas.height = Math.round(height * this.dpr);
    const old = this.viewport;
    this.viewport = { width, height };
    if (!width || !height) return;
    if (!this.view || !old.width) {
      this.view = this.fitted();
    } else {
      // Keep the same world point in the middle.
      const { x, y } = this.view;
      const moved = { ...this.view, x: x + (width - old.width) / 2, y: y + (height - old.height) / 2 };
      this.view = clampView(moved, this.world(), this.viewport);
    }
    // Resizing cleared the canvas: paint now, before the browser shows the empty frame.
    cancelAnimationFrame(this.frame);
    this.render(performance.now());
  }

  /** Moving the window to a screen of another pixel density needs a sharper (or lighter) backing store. */
  private watchPixelRatio(): () => void {
    let query: MediaQueryList | null = null;
    const onChange = () => {
      this.resize();
      arm();
    };
    const arm = () => {
      query?.removeEventListener('change', onChange);
      query = matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
      query.addEventListener('change', onChange);
    };
    arm();
    return () => query?.removeEventListener('change', onChange);
  }

  private tap(at: Point, pointerType: string) {
    if (!this.view) return;
    const { x, y } = toWorld(this.view, at.x, at.y);
    const section = sectionAt(this.layout, x, y);
    if (section < 0) return;
    if (isSectionHeader(this.layout, section, x, y) || CELL * this.view.scale < minTapPx(pointerType)) {
      return this.zoomToSection(section);
    }
    const index = seatAt(this.layout, x, y);
    const id = this.store.seat(index)?.id;
    if (id === undefined) return;
    this.hovered = index;
    this.onHover(index);
    const { selected, selectable, onToggle } = this.inputs();
    // A selected seat can always be let go, even once it is no longer selectable.
    if (onToggle && (selected.has(id) || selectable(index))) onToggle(id);
    this.schedule();
  }

  private hover(at: Point | null) {
    let index = -1;
    let pointer = false;
    if (at && this.view) {
      const { x, y } = toWorld(this.view, at.x, at.y);
      index = seatAt(this.layout, x, y);
      const section = sectionAt(this.layout, x, y);
      const tooSmall = CELL * this.view.scale < minTapPx('mouse');
      pointer = section >= 0 && (tooSmall || isSectionHeader(this.layout, section, x, y) || (index >= 0 && this.inputs().selectable(index)));
      if (tooSmall) index = -1;
    }
    this.canvas.style.cursor = pointer ? 'pointer' : 'grab';
    if (index === this.hovered) return;
    this.hovered = index;
    this.onHover(index);
    this.schedule();
  }

  private schedule() {
    if (!this.frame) this.frame = requestAnimationFrame((now) => this.render(now));
  }

  private render(now: number) {
    this.frame = 0;
    if (this.animation && this.view) {
      const { from, to, start } = this.animation;
      const t = Math.min(1, (now - start) / ANIMATION_MS);
      this.view = between(from, to, 1 - (1 - t) ** 3, this.viewport);
      if (t < 1) this.schedule();
      else this.animation = null;
    }
    const view = this.view;
    if (!view || !this.viewport.width || !this.viewport.height) return;
    const started = performance.now();
    const inputs = this.inputs();
    const rounded = SEAT * view.scale >= ROUNDED_FROM_PX;
    this.buckets ??= bucketSeats(this.store, inputs.paint);
    if (!this.paths || this.pathsRounded !== rounded) {
      this.paths = seatPaths(this.layout, this.buckets, rounded);
      this.pathsRounded = rounded;
    }
    const selected: number[] = [];
    for (const id of inputs.selected) {
      const index = this.store.indexOf(id);
      if (index >= 0) selected.push(index);
    }
    drawScene(this.ctx, {
      store: this.store,
      paths: this.paths,
      paint: inputs.paint,
      view,
      viewport: this.viewport,
      dpr: this.dpr,
      selected,
      hovered: this.hovered,
      stageLabel: inputs.stageLabel,
      fontFamily: this.fontFamily,
    });
    if (!this.painted) {
      this.painted = true;
      performance.mark('seatmap:first-paint');
    }
    if (this.updated) {
      // From the change reaching the map to its pixels drawn: the frame wait and the redraw.
      const end = performance.now();
      performance.measure('seatmap:update', { start: this.changedAt, end, detail: { seats: this.updated, draw: end - started } });
      this.updated = 0;
    }
  }
}
