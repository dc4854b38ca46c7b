// Recharts lives only here, inside the lazily loaded console: buyers never download it.
import {
  Area,
  Bar,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { useI18n } from '../i18n';
import { Empty } from '../ui';
import { useFormats } from './parts';
import type { SalesSeries } from './queries';

// Axis text in slate-600 keeps 4.5:1 on white; series colours are the brand's and emerald.
const AXIS = { fontSize: 12, fill: '#475569' };
const GROSS = '#4338ca';
const TICKETS = '#047857';

/** Gross sales (area, won) and tickets (bars) per bucket. */
export function SalesChart({ series, label }: { series: SalesSeries; label: string }) {
  const { t } = useI18n();
  const f = useFormats();
  const tickets = series.items.reduce((sum, b) => sum + b.tickets, 0);
  const gross = series.items.reduce((sum, b) => sum + b.gross, 0);
  const summary = t('admin.sales.summary', { tickets: f.number(tickets), gross: f.won(gross) });
  const data = series.items.map((b) => ({ ...b, label: f.tick(b.bucket_start, series.bucket) }));
  return (
    <figure>
      <figcaption className="mb-2 text-sm text-slate-700">{summary}</figcaption>
      {tickets === 0 && gross === 0 ? (
        <Empty>{t('admin.sales.none')}</Empty>
      ) : (
        <div className="h-72">
          <ResponsiveContainer width="100%" height="100%">
            <ComposedChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 8 }} title={label} desc={summary}>
              <CartesianGrid stroke="#e2e8f0" vertical={false} />
              <XAxis dataKey="label" tick={AXIS} minTickGap={16} />
              <YAxis yAxisId="won" tick={AXIS} tickFormatter={f.compact} width={56} />
              <YAxis yAxisId="tickets" orientation="right" tick={AXIS} allowDecimals={false} width={40} />
              <Tooltip
                formatter={(value, _name, item) =>
                  item.dataKey === 'gross' ? f.won(Number(value)) : f.number(Number(value))
                }
              />
              <Legend wrapperStyle={{ fontSize: 13, color: '#334155' }} />
              <Area
                yAxisId="won"
                type="monotone"
                dataKey="gross"
                name={t('admin.sales.gross')}
                stroke={GROSS}
                fill={GROSS}
                fillOpacity={0.15}
                isAnimationActive={false}
              />
              <Bar yAxisId="tickets" dataKey="tickets" name={t('admin.sales.tickets')} fill={TICKETS} isAnimationActive={false} />
            </ComposedChart>
          </ResponsiveContainer>
        </div>
      )}
    </figure>
  );
}

export interface RatePoint {
  at: number;
  /** Buyers admitted per minute since the previous sample. */
  perMinute: number;
  waiting: number;
}

/** Admissions per minute and the waiting room's size, from samples the page keeps while open. */
export function AdmissionChart({ points, label }: { points: RatePoint[]; label: string }) {
  const { t } = useI18n();
  const f = useFormats();
  const data = points.map((p) => ({ ...p, label: f.clock(p.at) }));
  return (
    <div className="h-56">
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 8 }} title={label}>
          <CartesianGrid stroke="#e2e8f0" vertical={false} />
          <XAxis dataKey="label" tick={AXIS} minTickGap={24} />
          <YAxis yAxisId="rate" tick={AXIS} allowDecimals={false} width={48} />
          <YAxis yAxisId="waiting" orientation="right" tick={AXIS} allowDecimals={false} width={48} />
          <Tooltip formatter={(value) => f.number(Number(value))} />
          <Legend wrapperStyle={{ fontSize: 13, color: '#334155' }} />
          <Line
            yAxisId="rate"
            dataKey="perMinute"
            name={t('admin.room.perMinute')}
            stroke={TICKETS}
            dot={false}
            isAnimationActive={false}
          />
          <Line
            yAxisId="waiting"
            dataKey="waiting"
            name={t('admin.room.waiting')}
            stroke={GROSS}
            dot={false}
            isAnimationActive={false}
          />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}
