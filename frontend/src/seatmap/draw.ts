// Painting the map on one canvas. Seats are grouped by how they look (colour, size) and each group
// becomes one Path2D in world coordinates, so a frame is a handful of fills whatever the zoom: the
// paths are rebuilt only when statuses or colours change, not when the view moves.

import { CELL, HEADER, SEAT, type Layout, type Rect } from './layout';
import type { SeatStore } from './store';
import { HELD_COLOUR, SELECTED_COLOUR, SELECTED_RING, SOLD_COLOUR } from './tiers';
import { visibleRect, type Size, type View } from './view';

/** A colour overriding a seat's own (heatmaps), or null for the usual one. */
export type Paint = (index: number) => string | null;

export interface Bucket {
  colour: string;
  /** Drawn at half size: sold seats recede, and differ from held ones by shape, not colour alone. */
  small: boolean;
  indices: number[];
}

/** How seat `i` looks: `paint`'s colour, else its price tier's when available, else grey. */
function seatLook(store: SeatStore, i: number, paint?: Paint): { colour: string; small: boolean } {
  const colour = paint?.(i) ?? null;
  if (colour !== null) return { colour, small: false };
  const status = store.statusAt(i);
  if (status === 'available') return { colour: store.tiers.tiers[store.tiers.tierOf[i]!]!.colour, small: false };
  if (status === 'held') return { colour: HELD_COLOUR, small: false };
  return { colour: SOLD_COLOUR, small: true };
}

export function bucketSeats(store: SeatStore, paint?: Paint): Bucket[] {
  const buckets = new Map<string, Bucket>();
  for (let i = 0; i < store.size; i++) {
    const { colour, small } = seatLook(store, i, paint);
    const key = small ? `${colour} small` : colour;
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = { colour, small, indices: [] }));
    bucket.indices.push(i);
  }
  return [...buckets.values()];
}

export interface SeatPath {
  colour: string;
  path: Path2D;
}

/** Rounded corners cost more to fill and cannot be seen below a few pixels per seat. */
export const ROUNDED_FROM_PX = 6;

function addSeat(path: Path2D, x: number, y: number, size: number, rounded: boolean) {
  if (rounded) path.roundRect(x - size / 2, y - size / 2, size, size, size / 4);
  else path.rect(x - size / 2, y - size / 2, size, size);
}

export function seatPaths(layout: Layout, buckets: readonly Bucket[], rounded: boolean): SeatPath[] {
  return buckets.map(({ colour, small, indices }) => {
    const path = new Path2D();
    const size = small ? SEAT / 2 : SEAT;
    for (const i of indices) addSeat(path, layout.x[i]!, layout.y[i]!, size, rounded);
    return { colour, path };
  });
}

export interface Scene {
  store: SeatStore;
  paths: readonly SeatPath[];
  view: View;
  viewport: Size;
  dpr: number;
  paint?: Paint;
  /** Seat indices drawn as selected. */
  selected: readonly number[];
  /** Seat index under the pointer, or -1. */
  hovered: number;
  stageLabel: string;
  fontFamily: string;
}

const overlaps = (a: Rect, b: Rect) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

const inks = new Map<string, string>();
/** Dark or white text, whichever reads better on a `#rrggbb` fill. */
function inkOn(fill: string): string {
  let ink = inks.get(fill);
  if (!ink) {
    const [r, g, b] = [1, 3, 5].map((at) => parseInt(fill.slice(at, at + 2), 16) / 255) as [number, number, number];
    ink = 0.299 * r + 0.587 * g + 0.114 * b > 0.55 || Number.isNaN(r + g + b) ? '#111827' : '#ffffff';
    inks.set(fill, ink);
  }
  return ink;
}

export function drawScene(ctx: CanvasRenderingContext2D, scene: Scene): void {
  const { store, view, viewport, dpr } = scene;
  const layout = store.layout;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, viewport.width, viewport.height);

  // World space: section backgrounds, the stage, the seats, then selection and hover on top.
  ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.x, dpr * view.y);
  ctx.fillStyle = '#f1f5f9';
  for (const box of layout.sections) ctx.fillRect(box.x - 4, box.y, box.width + 8, box.height + 4);
  ctx.fillStyle = '#1e293b';
  const { stage } = layout;
  ctx.fillRect(stage.x, stage.y, stage.width, stage.height);
  for (const { colour, path } of scene.paths) {
    ctx.fillStyle = colour;
    ctx.fill(path);
  }
  const px = 1 / view.scale;
  if (scene.selected.length) {
    const path = new Path2D();
    for (const i of scene.selected) addSeat(path, layout.x[i]!, layout.y[i]!, SEAT, true);
    ctx.fillStyle = SELECTED_COLOUR;
    ctx.fill(path);
    ctx.strokeStyle = SELECTED_RING;
    ctx.lineWidth = 2 * px;
    ctx.stroke(path);
  }
  if (scene.hovered >= 0) {
    ctx.strokeStyle = '#111827';
    ctx.lineWidth = 2 * px;
    ctx.strokeRect(layout.x[scene.hovered]! - CELL / 2, layout.y[scene.hovered]! - CELL / 2, CELL, CELL);
  }

  // Screen space: text keeps a readable size whatever the zoom.
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  const font = (size: number, weight = 600) => `${weight} ${size}px ${scene.fontFamily}`;
  const sx = (x: number) => x * view.scale + view.x;
  const sy = (y: number) => y * view.scale + view.y;
  ctx.fillStyle = '#ffffff';
  ctx.font = font(Math.min(16, Math.max(10, stage.height * view.scale * 0.45)), 700);
  ctx.fillText(scene.stageLabel, sx(stage.x + stage.width / 2), sy(stage.y + stage.height / 2));

  const visible = visibleRect(view, viewport);
  const cellPx = CELL * view.scale;
  const selected = new Set(scene.selected);
  for (const box of layout.sections) {
    if (!overlaps(box, visible) || box.width * view.scale < 24) continue;
    ctx.fillStyle = '#0f172a';
    ctx.font = font(Math.min(18, Math.max(10, HEADER * view.scale * 0.5)), 700);
    ctx.fillText(box.name, sx(box.x + box.width / 2), sy(box.y + HEADER / 2), box.width * view.scale);
    if (cellPx < 9) continue;
    // Only the rows and columns on screen: a zoomed-in frame labels tens of seats, not thousands.
    const firstRow = Math.max(0, Math.floor((visible.y - box.gridY) / CELL));
    const lastRow = Math.min(box.rows - 1, Math.floor((visible.y + visible.height - box.gridY) / CELL));
    const firstCol = Math.max(0, Math.floor((visible.x - box.gridX) / CELL));
    const lastCol = Math.min(box.cols - 1, Math.floor((visible.x + visible.width - box.gridX) / CELL));
    ctx.fillStyle = '#334155';
    ctx.font = font(Math.min(13, cellPx * 0.6));
    for (let r = firstRow; r <= lastRow; r++) {
      ctx.fillText(box.rowNames[r]!, sx(box.gridX - CELL), sy(box.gridY + (r + 0.5) * CELL));
    }
    if (cellPx < 22) continue;
    ctx.font = font(Math.min(13, cellPx * 0.35), 500);
    for (let r = firstRow; r <= lastRow; r++) {
      for (let c = firstCol; c <= lastCol; c++) {
        const i = box.cells[r * box.cols + c]!;
        if (i < 0) continue;
        const look = seatLook(store, i, scene.paint);
        if (look.small && !selected.has(i)) continue;
        ctx.fillStyle = inkOn(selected.has(i) ? SELECTED_COLOUR : look.colour);
        ctx.fillText(String(store.seat(i)!.number), sx(layout.x[i]!), sy(layout.y[i]!));
      }
    }
  }
}
