// A to-scale sketch of a venue's blocks of seats, drawn while the operator types the layout.
import { useI18n } from '../i18n';
import { useFormats } from './parts';

export interface SectionShape {
  name: string;
  rows: number;
  perRow: number;
}

interface Block extends SectionShape {
  x: number;
  y: number;
  width: number;
  height: number;
}

const WIDTH = 600;
const STAGE = 28;
const LABEL = 18;
const GAP = 14;
/** Above this many seats, blocks are drawn as areas rather than seat by seat. */
const MAX_DRAWN_SEATS = 4000;

/** Places sections left to right, wrapping like text, one seat = `unit` so sizes compare truly. */
export function layoutBlocks(sections: SectionShape[]): { blocks: Block[]; unit: number; height: number } {
  const shapes = sections.filter((s) => s.rows > 0 && s.perRow > 0);
  const widest = Math.max(1, ...shapes.map((s) => s.perRow));
  const deepest = Math.max(1, ...shapes.map((s) => s.rows));
  const unit = Math.min(12, WIDTH / widest, 240 / deepest);
  const blocks: Block[] = [];
  let line: Block[] = [];
  let y = STAGE + GAP;
  const flush = () => {
    const used = line.reduce((sum, b) => sum + b.width, 0) + GAP * (line.length - 1);
    let x = (WIDTH - used) / 2;
    for (const b of line) {
      blocks.push({ ...b, x, y: y + LABEL });
      x += b.width + GAP;
    }
    y += LABEL + Math.max(...line.map((b) => b.height)) + GAP;
    line = [];
  };
  for (const s of shapes) {
    const block = { ...s, x: 0, y: 0, width: s.perRow * unit, height: s.rows * unit };
    const used = line.reduce((sum, b) => sum + b.width + GAP, 0);
    if (line.length > 0 && used + block.width > WIDTH) flush();
    line.push(block);
  }
  if (line.length > 0) flush();
  return { blocks, unit, height: y };
}

const COLOURS = ['#4338ca', '#047857', '#b45309', '#be123c', '#0369a1', '#7e22ce'];
const colourOf = (i: number) => COLOURS[i % COLOURS.length] ?? '#4338ca';

export function VenuePreview({ sections }: { sections: SectionShape[] }) {
  const { t } = useI18n();
  const f = useFormats();
  const { blocks, unit, height } = layoutBlocks(sections);
  const total = blocks.reduce((sum, b) => sum + b.rows * b.perRow, 0);
  const seatBySeat = total <= MAX_DRAWN_SEATS && unit >= 3;
  const summary = t('admin.preview.summary', { sections: blocks.length, seats: f.number(total) });
  return (
    <figure aria-labelledby="preview-caption">
      <figcaption id="preview-caption" className="mb-2 text-sm font-semibold text-slate-800">
        {t('admin.preview')}: {summary}
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} className="w-full rounded-xl bg-slate-50 ring-1 ring-slate-200" role="img" aria-label={summary}>
        <rect x={WIDTH * 0.2} y={4} width={WIDTH * 0.6} height={STAGE - 8} rx={4} fill="#334155" />
        <text x={WIDTH / 2} y={STAGE / 2 + 4} textAnchor="middle" fontSize={12} fill="#ffffff" fontWeight={700}>
          {t('admin.preview.stage')}
        </text>
        {blocks.map((b, i) => {
          const colour = colourOf(i);
          return (
            <g key={i}>
              <text x={b.x} y={b.y - 5} fontSize={11} fill="#1e293b">
                {b.name || '—'} · {f.number(b.rows * b.perRow)}
              </text>
              {seatBySeat ? (
                <SeatDots block={b} unit={unit} colour={colour} />
              ) : (
                <rect x={b.x} y={b.y} width={b.width} height={b.height} rx={2} fill={colour} fillOpacity={0.7} />
              )}
            </g>
          );
        })}
      </svg>
      <ul className="mt-3 space-y-1 text-sm">
        {blocks.map((b, i) => (
          <li key={i} className="flex justify-between gap-3">
            <span>
              <span aria-hidden="true" className="mr-2 inline-block h-3 w-3 rounded-sm" style={{ background: colourOf(i) }} />
              {b.name || '—'} ({t('admin.preview.grid', { rows: f.number(b.rows), perRow: f.number(b.perRow) })})
            </span>
            <span className="tabular-nums">{f.number(b.rows * b.perRow)}</span>
          </li>
        ))}
        <li className="flex justify-between gap-3 border-t border-slate-200 pt-1 font-bold">
          <span>{t('admin.preview.capacity')}</span>
          <span className="tabular-nums">{f.number(total)}</span>
        </li>
      </ul>
    </figure>
  );
}

function SeatDots({ block, unit, colour }: { block: Block; unit: number; colour: string }) {
  const size = Math.max(1, unit * 0.75);
  const seats = [];
  for (let r = 0; r < block.rows; r++) {
    for (let n = 0; n < block.perRow; n++) {
      seats.push(<rect key={`${r}-${n}`} x={block.x + n * unit} y={block.y + r * unit} width={size} height={size} rx={size / 4} fill={colour} />);
    }
  }
  return <>{seats}</>;
}
