// Where every seat goes. The API gives seats no coordinates, only section / row / number, so the
// map is synthesised: one rectangular block per section, blocks flowing in centred lines under the
// stage. Everything is kept on a regular grid so that hit-testing is arithmetic, not a search.

/** The part of a seat the layout needs. */
export interface LayoutSeat {
  section: string;
  row: string;
  number: number;
}

/** World units (CSS pixels at zoom 1). A seat is SEAT wide in a CELL-wide slot: the rest is the gap. */
export const CELL = 10;
export const SEAT = 8;
/** Space left of a block for its row labels, above it for its name, and between blocks. */
export const GUTTER = 24;
export const HEADER = 30;
export const MARGIN = 30;
export const STAGE_HEIGHT = 40;
/** Target width : height of the whole map. */
const ASPECT = 1.6;

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SectionBox extends Rect {
  name: string;
  /** Top-left corner of the seat grid (the first cell), inside the box. */
  gridX: number;
  gridY: number;
  cols: number;
  rows: number;
  rowNames: string[];
  /** `rows * cols` slots, row-major: the seat index in each, or -1 for an empty slot. */
  cells: Int32Array;
  /** Number of seats in this section. */
  seats: number;
}

export interface Layout {
  /** Seat centres, by seat index. */
  x: Float32Array;
  y: Float32Array;
  /** Section of each seat (index into `sections`). */
  sectionOf: Uint16Array;
  sections: SectionBox[];
  stage: Rect;
  width: number;
  height: number;
}

interface Block {
  name: string;
  rowNames: string[];
  /** Seat indices per row, ordered by number. */
  rows: number[][];
  cols: number;
  width: number;
  height: number;
}

/** Sections in order of first appearance, rows likewise, seats in a row by number. */
function blocksOf(seats: readonly LayoutSeat[]): Block[] {
  const sections = new Map<string, Map<string, number[]>>();
  seats.forEach((seat, i) => {
    let rows = sections.get(seat.section);
    if (!rows) sections.set(seat.section, (rows = new Map()));
    let row = rows.get(seat.row);
    if (!row) rows.set(seat.row, (row = []));
    row.push(i);
  });
  return [...sections].map(([name, rowMap]) => {
    const rows = [...rowMap.values()].map((row) => row.sort((a, b) => seats[a]!.number - seats[b]!.number || a - b));
    const cols = Math.max(...rows.map((row) => row.length));
    return {
      name,
      rowNames: [...rowMap.keys()],
      rows,
      cols,
      width: GUTTER + cols * CELL,
      height: HEADER + rows.length * CELL,
    };
  });
}

/** Greedy line breaking at `maxWidth` (a block wider than that gets a line of its own). */
function lines(blocks: Block[], maxWidth: number): Block[][] {
  const out: Block[][] = [];
  let line: Block[] = [];
  let width = 0;
  for (const block of blocks) {
    const next = width + (line.length ? MARGIN : 0) + block.width;
    if (line.length && next > maxWidth) {
      out.push(line);
      line = [];
      width = 0;
    }
    width += (line.length ? MARGIN : 0) + block.width;
    line.push(block);
  }
  if (line.length) out.push(line);
  return out;
}

const lineWidth = (line: Block[]) => line.reduce((sum, b) => sum + b.width, 0) + MARGIN * (line.length - 1);

export function layoutSeats(seats: readonly LayoutSeat[]): Layout {
  const blocks = blocksOf(seats);
  // Aim for a landscape map: lines about as wide as the blocks' total area allows at ASPECT.
  const area = blocks.reduce((sum, b) => sum + (b.width + MARGIN) * (b.height + MARGIN), 0);
  const widest = Math.max(0, ...blocks.map((b) => b.width));
  const flowed = lines(blocks, Math.max(widest, Math.sqrt(area * ASPECT)));
  const width = Math.max(200, ...flowed.map(lineWidth));

  const x = new Float32Array(seats.length);
  const y = new Float32Array(seats.length);
  const sectionOf = new Uint16Array(seats.length);
  const sections: SectionBox[] = [];
  let top = STAGE_HEIGHT + MARGIN * 2;
  for (const line of flowed) {
    let left = (width - lineWidth(line)) / 2;
    for (const block of line) {
      const s = sections.length;
      const box: SectionBox = {
        name: block.name,
        x: left,
        y: top,
        width: block.width,
        height: block.height,
        gridX: left + GUTTER,
        gridY: top + HEADER,
        cols: block.cols,
        rows: block.rows.length,
        rowNames: block.rowNames,
        cells: new Int32Array(block.cols * block.rows.length).fill(-1),
        seats: 0,
      };
      block.rows.forEach((row, r) => {
        // Short rows are centred, on whole cells so the grid stays regular.
        const offset = Math.floor((block.cols - row.length) / 2);
        row.forEach((seat, k) => {
          const c = offset + k;
          box.cells[r * block.cols + c] = seat;
          x[seat] = box.gridX + c * CELL + CELL / 2;
          y[seat] = box.gridY + r * CELL + CELL / 2;
          sectionOf[seat] = s;
        });
        box.seats += row.length;
      });
      sections.push(box);
      left += block.width + MARGIN;
    }
    top += Math.max(...line.map((b) => b.height)) + MARGIN;
  }
  const stage = { x: width * 0.2, y: MARGIN, width: width * 0.6, height: STAGE_HEIGHT };
  return { x, y, sectionOf, sections, stage, width, height: Math.max(top, stage.y + STAGE_HEIGHT + MARGIN) };
}

const inside = (r: Rect, x: number, y: number) => x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;

/** The section whose box (name, row labels and seats) holds the world point, or -1. */
export function sectionAt(layout: Layout, x: number, y: number): number {
  return layout.sections.findIndex((box) => inside(box, x, y));
}

/** The seat under the world point, or -1 (outside every section, in a gap, or an empty slot). */
export function seatAt(layout: Layout, x: number, y: number): number {
  const box = layout.sections[sectionAt(layout, x, y)];
  if (!box) return -1;
  const gx = x - box.gridX;
  const gy = y - box.gridY;
  const col = Math.floor(gx / CELL);
  const row = Math.floor(gy / CELL);
  if (col < 0 || row < 0 || col >= box.cols || row >= box.rows) return -1;
  // The seat is centred in its cell; the margin around it is the gap.
  const half = (CELL - SEAT) / 2;
  const dx = gx - col * CELL;
  const dy = gy - row * CELL;
  if (dx < half || dx > CELL - half || dy < half || dy > CELL - half) return -1;
  return box.cells[row * box.cols + col]!;
}

/** Whether the world point is on a section's name (its header strip). */
export function isSectionHeader(layout: Layout, section: number, x: number, y: number): boolean {
  const box = layout.sections[section];
  return !!box && inside({ x: box.x, y: box.y, width: box.width, height: HEADER }, x, y);
}
