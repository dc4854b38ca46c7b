// Zoom and pan as plain numbers: screen = world × scale + (x, y), in CSS pixels. Kept out of React
// state (the canvas reads it on each animation frame), and pure so it can be tested.

import { CELL, type Rect } from './layout';

export interface View {
  scale: number;
  x: number;
  y: number;
}

export interface Size {
  width: number;
  height: number;
}

/** Closest zoom: a seat slot this many CSS pixels wide. */
const MAX_CELL_PX = 48;
const PADDING = 12;

/** The view showing `rect` whole, centred. */
export function fitView(rect: Rect, viewport: Size): View {
  const scale = Math.max(
    1e-3,
    Math.min((viewport.width - 2 * PADDING) / rect.width, (viewport.height - 2 * PADDING) / rect.height),
  );
  return {
    scale,
    x: viewport.width / 2 - (rect.x + rect.width / 2) * scale,
    y: viewport.height / 2 - (rect.y + rect.height / 2) * scale,
  };
}

/** Zoom from half the whole-map fit (some room around it) to seats MAX_CELL_PX wide. */
export function scaleLimits(world: Size, viewport: Size): { min: number; max: number } {
  const fit = fitView({ x: 0, y: 0, ...world }, viewport).scale;
  return { min: fit / 2, max: Math.max(fit, MAX_CELL_PX / CELL) };
}

/** Scale clamped to the limits, and the viewport's centre kept over the map. */
export function clampView(view: View, world: Size, viewport: Size): View {
  const { min, max } = scaleLimits(world, viewport);
  const scale = Math.min(max, Math.max(min, view.scale));
  const cx = Math.min(world.width, Math.max(0, (viewport.width / 2 - view.x) / view.scale));
  const cy = Math.min(world.height, Math.max(0, (viewport.height / 2 - view.y) / view.scale));
  return { scale, x: viewport.width / 2 - cx * scale, y: viewport.height / 2 - cy * scale };
}

/** Zooms by `factor` keeping the world point under screen point (px, py) where it is. */
export function zoomAt(view: View, factor: number, px: number, py: number): View {
  const scale = view.scale * factor;
  return { scale, x: px - (px - view.x) * factor, y: py - (py - view.y) * factor };
}

export function toWorld(view: View, px: number, py: number): { x: number; y: number } {
  return { x: (px - view.x) / view.scale, y: (py - view.y) / view.scale };
}

/** The world rectangle on screen. */
export function visibleRect(view: View, viewport: Size): Rect {
  return { x: -view.x / view.scale, y: -view.y / view.scale, width: viewport.width / view.scale, height: viewport.height / view.scale };
}

/** A step of an animated move from `a` to `b` (t in 0..1): zoom geometric, centre linear. */
export function between(a: View, b: View, t: number, viewport: Size): View {
  const scale = a.scale * (b.scale / a.scale) ** t;
  const ca = toWorld(a, viewport.width / 2, viewport.height / 2);
  const cb = toWorld(b, viewport.width / 2, viewport.height / 2);
  const cx = ca.x + (cb.x - ca.x) * t;
  const cy = ca.y + (cb.y - ca.y) * t;
  return { scale, x: viewport.width / 2 - cx * scale, y: viewport.height / 2 - cy * scale };
}
