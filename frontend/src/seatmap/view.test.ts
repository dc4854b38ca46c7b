import { describe, expect, it } from 'vitest';
import { CELL } from './layout';
import { between, clampView, fitView, scaleLimits, toWorld, visibleRect, zoomAt } from './view';

const viewport = { width: 800, height: 600 };
const world = { width: 2000, height: 1000 };

describe('view maths', () => {
  it('fits a rectangle centred, limited by its tighter side', () => {
    const view = fitView({ x: 0, y: 0, ...world }, viewport);
    expect(view.scale).toBeCloseTo((800 - 24) / 2000);
    expect(toWorld(view, 400, 300).x).toBeCloseTo(1000);
    expect(toWorld(view, 400, 300).y).toBeCloseTo(500);
  });

  it('zooms around the pointer: the world point under it stays put', () => {
    const view = { scale: 0.5, x: 10, y: 20 };
    const before = toWorld(view, 300, 200);
    const zoomed = zoomAt(view, 3, 300, 200);
    expect(zoomed.scale).toBe(1.5);
    const after = toWorld(zoomed, 300, 200);
    expect(after.x).toBeCloseTo(before.x);
    expect(after.y).toBeCloseTo(before.y);
  });

  it('clamps zoom to its limits and keeps the centre over the map', () => {
    const { min, max } = scaleLimits(world, viewport);
    expect(max).toBe(48 / CELL);
    expect(clampView({ scale: 100, x: 0, y: 0 }, world, viewport).scale).toBe(max);
    expect(clampView({ scale: min / 10, x: 0, y: 0 }, world, viewport).scale).toBe(min);
    // Panned far off to the left and up: pulled back so the view's centre is on the map's corner.
    const panned = clampView({ scale: 1, x: 5000, y: 5000 }, world, viewport);
    expect(toWorld(panned, 400, 300)).toEqual({ x: 0, y: 0 });
  });

  it('reports the world rectangle on screen', () => {
    expect(visibleRect({ scale: 2, x: -100, y: 50 }, viewport)).toEqual({ x: 50, y: -25, width: 400, height: 300 });
  });

  it('animates from one view to another, ending exactly at the target', () => {
    const a = { scale: 1, x: 0, y: 0 };
    const b = { scale: 4, x: -1000, y: -500 };
    expect(between(a, b, 0, viewport)).toEqual(a);
    const end = between(a, b, 1, viewport);
    expect(end.scale).toBeCloseTo(4);
    expect(end.x).toBeCloseTo(-1000);
    expect(end.y).toBeCloseTo(-500);
    expect(between(a, b, 0.5, viewport).scale).toBeCloseTo(2); // geometric: halfway in zoom steps
  });
});
