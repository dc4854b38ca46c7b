// The live overview of every sale: today's money, the waiting rooms, and each event's progress.
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { useI18n } from '../i18n';
import { Card, Empty, ErrorMessage, Loading, PageTitle } from '../ui';
import { SalesChart } from './charts';
import { SectionHeading, ShareBar, Stat, TableWrap, td, th, Updated, useFormats } from './parts';
import { overviewQuery, salesQuery, type Overview } from './queries';

export default function Dashboard() {
  const { t } = useI18n();
  const overview = useQuery(overviewQuery);
  const sales = useQuery(salesQuery());
  return (
    <>
      <PageTitle sub={<Updated at={overview.dataUpdatedAt} />}>{t('admin.dashboard.title')}</PageTitle>
      {overview.isPending ? (
        <Loading />
      ) : overview.isError && !overview.data ? (
        <ErrorMessage error={overview.error} retry={() => void overview.refetch()} />
      ) : (
        <div className="space-y-6">
          {overview.isError && <ErrorMessage error={overview.error} />}
          <Figures overview={overview.data} />
          <Card>
            <SectionHeading>{t('admin.sales.last24h')}</SectionHeading>
            {sales.isPending ? (
              <Loading />
            ) : sales.isError && !sales.data ? (
              <ErrorMessage error={sales.error} retry={() => void sales.refetch()} />
            ) : (
              <SalesChart series={sales.data} label={t('admin.sales.last24h')} />
            )}
          </Card>
          <div className="grid gap-6 lg:grid-cols-3">
            <Card className="min-w-0 lg:col-span-2">
              <EventTable overview={overview.data} />
            </Card>
            <Card className="min-w-0">
              <Payments overview={overview.data} />
            </Card>
          </div>
        </div>
      )}
    </>
  );
}

function Figures({ overview }: { overview: Overview }) {
  const { t } = useI18n();
  const f = useFormats();
  const today = overview.sales_today;
  return (
    <>
      <section aria-labelledby="dash-today">
        <SectionHeading id="dash-today">{t('admin.today')}</SectionHeading>
        <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
          <Stat label={t('admin.stat.tickets')} value={f.number(today.tickets)} />
          <Stat label={t('admin.stat.gross')} value={f.won(today.gross)} />
          <Stat label={t('admin.stat.refunds')} value={f.won(today.refunds)} />
          <Stat label={t('admin.stat.net')} value={f.won(today.net)} />
        </dl>
      </section>
      <section aria-labelledby="dash-now">
        <SectionHeading id="dash-now">{t('admin.now')}</SectionHeading>
        <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
          <Stat label={t('admin.stat.waiting')} value={f.number(overview.waiting)} />
          <Stat label={t('admin.stat.admitted')} value={f.number(overview.admitted)} />
          <Stat label={t('admin.stat.holds')} value={f.number(overview.holds_active)} />
          <Stat
            label={t('admin.stat.cache')}
            value={overview.cache_hit_rate == null ? '—' : f.percent(overview.cache_hit_rate)}
            hint={t('admin.stat.cacheHint')}
          />
        </dl>
      </section>
    </>
  );
}

function EventTable({ overview }: { overview: Overview }) {
  const { t } = useI18n();
  const f = useFormats();
  return (
    <section aria-labelledby="dash-by-event">
      <SectionHeading id="dash-by-event">{t('admin.byEvent')}</SectionHeading>
      {overview.events.length === 0 ? (
        <Empty>{t('admin.events.empty')}</Empty>
      ) : (
        <TableWrap label={t('admin.byEvent')}>
          <thead>
            <tr>
              <th scope="col" className={th}>{t('admin.event')}</th>
              <th scope="col" className={`${th} w-48`}>{t('admin.sold')}</th>
              <th scope="col" className={`${th} text-right`}>{t('admin.stat.gross')}</th>
            </tr>
          </thead>
          <tbody>
            {overview.events.map((e) => (
              <tr key={e.event_id}>
                <td className={td}>
                  <Link to={`/admin/events/${e.event_id}`} className="font-semibold text-brand-700 hover:underline">
                    {e.title}
                  </Link>
                  {e.cancelled && <span className="ml-2 text-xs font-semibold text-red-700">{t('admin.status.cancelled')}</span>}
                </td>
                <td className={td}>
                  <span className="mb-1 block text-xs tabular-nums text-slate-700">
                    {f.number(e.tickets_sold)} / {f.number(e.seats_total)}
                  </span>
                  <ShareBar value={e.tickets_sold} max={e.seats_total} />
                </td>
                <td className={`${td} text-right tabular-nums`}>{f.won(e.gross)}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
    </section>
  );
}

function Payments({ overview }: { overview: Overview }) {
  const { t } = useI18n();
  const f = useFormats();
  return (
    <section aria-labelledby="dash-methods">
      <SectionHeading id="dash-methods">{t('admin.methods')}</SectionHeading>
      {overview.payments_by_method.length === 0 ? (
        <p className="text-sm text-slate-600">{t('admin.methods.none')}</p>
      ) : (
        <ul className="divide-y divide-slate-100">
          {overview.payments_by_method.map((m) => (
            <li key={m.method ?? ''} className="flex items-baseline justify-between gap-3 py-2 text-sm">
              <span className="font-medium">{m.method ?? t('admin.methods.unknown')}</span>
              <span className="text-right tabular-nums">
                {f.won(m.amount)}
                <span className="block text-xs text-slate-600">{t('admin.methods.count', { count: f.number(m.count) })}</span>
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
