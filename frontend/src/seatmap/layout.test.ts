import { describe, expect, it } from 'vitest';
import { makeSeats, stadium } from './fixtures';
import { CELL, GUTTER, HEADER, layoutSeats, MARGIN, SEAT, seatAt, sectionAt, STAGE_HEIGHT, type Layout, type LayoutSeat, type Rect } from './layout';

const seat = (section: string, row: string, number: number): LayoutSeat => ({ section, row, number });

const overlap = (a: Rect, b: Rect) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

function position(layout: Layout, i: number) {
  return [layout.x[i], layout.y[i]];
}

describe('layoutSeats', () => {
  it('places a small section at known coordinates under the stage', () => {
    // One section, rows A and B of three seats: a block 24 + 3 × 10 wide, centred in the minimum width of 200.
    const layout = layoutSeats(makeSeats([{ name: 'A', rows: 2, perRow: 3, price: 1 }]));
    expect(layout.width).toBe(200);
    const box = layout.sections[0]!;
    expect(box).toMatchObject({ name: 'A', x: 73, y: STAGE_HEIGHT + 2 * MARGIN, width: GUTTER + 3 * CELL, height: HEADER + 2 * CELL, cols: 3, rows: 2 });
    expect(box.rowNames).toEqual(['A', 'B']);
    expect(position(layout, 0)).toEqual([73 + GUTTER + 5, 100 + HEADER + 5]);
    expect(position(layout, 2)).toEqual([73 + GUTTER + 25, 135]);
    expect(position(layout, 3)).toEqual([102, 145]);
    expect(layout.height).toBe(100 + HEADER + 2 * CELL + MARGIN);
    expect(layout.stage.y + layout.stage.height).toBeLessThan(box.y);
  });

  it('orders sections and rows by first appearance and seats by number', () => {
    const seats = [
      seat('B', '2', 3),
      seat('A', 'X', 2),
      seat('B', '2', 1),
      seat('B', '1', 1),
      seat('A', 'X', 10),
      seat('A', 'X', 1),
      seat('B', '2', 2),
    ];
    const layout = layoutSeats(seats);
    expect(layout.sections.map((s) => s.name)).toEqual(['B', 'A']);
    expect(layout.sections[0]!.rowNames).toEqual(['2', '1']);
    expect([...layout.sectionOf]).toEqual([0, 1, 0, 0, 1, 1, 0]);
    // Row B/2 is 1, 2, 3 left to right; A/X is 1, 2, 10.
    expect(layout.x[2]).toBeLessThan(layout.x[6]!);
    expect(layout.x[6]).toBeLessThan(layout.x[0]!);
    expect(layout.x[5]).toBeLessThan(layout.x[1]!);
    expect(layout.x[1]).toBeLessThan(layout.x[4]!);
    // B's row 2 is above its row 1, whose single seat is centred in the three-seat width.
    expect(layout.y[0]).toBeLessThan(layout.y[3]!);
    expect(layout.x[3]).toBe(layout.x[6]);
    const b = layout.sections[0]!;
    expect([...b.cells]).toEqual([2, 6, 0, -1, 3, -1]);
  });

  it('wraps many sections into centred lines, landscape overall, without overlaps', () => {
    const map = stadium();
    const layout = layoutSeats(map.seats);
    const { sections } = layout;
    expect(sections).toHaveLength(20);
    const lines = new Set(sections.map((s) => s.y));
    expect(lines.size).toBeGreaterThan(1);
    expect(layout.width / layout.height).toBeGreaterThan(1);
    expect(layout.width / layout.height).toBeLessThan(2.5);
    for (let a = 0; a < sections.length; a++) {
      const box = sections[a]!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(layout.width);
      expect(box.y + box.height).toBeLessThanOrEqual(layout.height);
      expect(box.y).toBeGreaterThan(layout.stage.y + layout.stage.height);
      for (let b = a + 1; b < sections.length; b++) expect(overlap(box, sections[b]!)).toBe(false);
    }
    // Sections keep their order: left to right, then line by line.
    for (let s = 1; s < sections.length; s++) {
      const [prev, box] = [sections[s - 1]!, sections[s]!];
      expect(box.y > prev.y || (box.y === prev.y && box.x > prev.x)).toBe(true);
    }
    // Every seat inside its own section's grid, no two on the same spot.
    const spots = new Set<string>();
    let outside = 0;
    for (let i = 0; i < map.seats.length; i++) {
      const box = sections[layout.sectionOf[i]!]!;
      const [x, y] = [layout.x[i]!, layout.y[i]!];
      if (!(x > box.gridX && x < box.x + box.width && y > box.gridY && y < box.y + box.height)) outside++;
      spots.add(`${x},${y}`);
    }
    expect(outside).toBe(0);
    expect(spots.size).toBe(map.seats.length);
  });

  it('gives a block wider than the target width a line of its own', () => {
    const layout = layoutSeats(
      makeSeats([
        { name: 'small', rows: 1, perRow: 2, price: 1 },
        { name: 'wide', rows: 1, perRow: 400, price: 1 },
        { name: 'small2', rows: 1, perRow: 2, price: 1 },
      ]),
    );
    const [a, wide, c] = layout.sections.map((box): Rect => box);
    if (!a || !wide || !c) throw new Error('three sections expected');
    expect(wide.width).toBe(GUTTER + 400 * CELL);
    expect(layout.width).toBe(wide.width);
    expect(a.y).toBeLessThan(wide.y);
    expect(wide.y).toBeLessThan(c.y);
  });
});

describe('seatAt', () => {
  const layout = layoutSeats([
    ...makeSeats([
      { name: 'A', rows: 3, perRow: 4, price: 1 },
      { name: 'B', rows: 2, perRow: 2, price: 1 },
    ]),
    seat('B', 'C', 1),
  ]);
  const half = SEAT / 2;

  it('hits every seat at its centre and just inside its edges', () => {
    for (let i = 0; i < layout.x.length; i++) {
      const [x, y] = [layout.x[i]!, layout.y[i]!];
      expect(seatAt(layout, x, y)).toBe(i);
      expect(seatAt(layout, x - half + 0.01, y - half + 0.01)).toBe(i);
      expect(seatAt(layout, x + half - 0.01, y + half - 0.01)).toBe(i);
    }
  });

  it('misses the gaps between seats', () => {
    const [x, y] = [layout.x[0]!, layout.y[0]!];
    expect(seatAt(layout, x + CELL / 2, y)).toBe(-1); // between seats 1 and 2
    expect(seatAt(layout, x, y + CELL / 2)).toBe(-1); // between rows A and B
    expect(seatAt(layout, x - half - 0.01, y)).toBe(-1);
    expect(seatAt(layout, x + half + 0.01, y)).toBe(-1);
    expect(seatAt(layout, x, y - half - 0.01)).toBe(-1);
  });

  it('misses outside the grid: headers, row labels, margins, empty slots, off the map', () => {
    const a = layout.sections[0]!;
    expect(sectionAt(layout, a.x + 1, a.y + 1)).toBe(0);
    expect(seatAt(layout, a.x + a.width / 2, a.y + HEADER / 2)).toBe(-1); // the name
    expect(seatAt(layout, a.x + GUTTER / 2, layout.y[0]!)).toBe(-1); // row label
    expect(seatAt(layout, a.x + a.width + MARGIN / 2, layout.y[0]!)).toBe(-1); // between sections
    expect(seatAt(layout, -5, -5)).toBe(-1);
    expect(seatAt(layout, layout.width + 5, layout.height / 2)).toBe(-1);
    expect(seatAt(layout, layout.stage.x + 5, layout.stage.y + 5)).toBe(-1);
    // B's row C has one seat in a two-seat width; centring rounds down to whole cells, so col 1 is empty.
    const b = layout.sections[1]!;
    expect(b.rows).toBe(3);
    expect(seatAt(layout, b.gridX + CELL / 2, b.gridY + 2.5 * CELL)).toBe(layout.x.length - 1);
    expect(seatAt(layout, b.gridX + 1.5 * CELL, b.gridY + 2.5 * CELL)).toBe(-1);
  });

  it('finds each of 50,000 seats from its own centre and corners, quickly', () => {
    const started = performance.now();
    const big = layoutSeats(stadium().seats);
    const laidOut = performance.now();
    let wrong = 0;
    for (let i = 0; i < big.x.length; i++) {
      const [x, y] = [big.x[i]!, big.y[i]!];
      if (seatAt(big, x, y) !== i) wrong++;
      if (seatAt(big, x - half + 0.01, y + half - 0.01) !== i) wrong++;
      if (seatAt(big, x + CELL / 2, y) !== -1) wrong++;
    }
    const done = performance.now();
    expect(big.x.length).toBe(50_000);
    expect(wrong).toBe(0);
    console.info(`50,000 seats: layout ${(laidOut - started).toFixed(1)} ms, 150,000 hit tests ${(done - laidOut).toFixed(1)} ms`);
    expect(done - started).toBeLessThan(2_000);
  });
});
