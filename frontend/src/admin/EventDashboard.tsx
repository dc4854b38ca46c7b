// One event live: sales since the opening, the funnel, the waiting room, sections and the heatmap.
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { useI18n } from '../i18n';
import { Card, Empty, ErrorMessage, Loading, PageTitle } from '../ui';
import { SalesChart } from './charts';
import { FunnelView, WaitingRoomView } from './Funnel';
import { HeatmapView } from './Heatmap';
import { SectionHeading, ShareBar, StatusBadge, TableWrap, td, th, Updated, useFormats } from './parts';
import { eventQuery, funnelQuery, salesQuery, sectionsQuery, statsNotYet, type SellThrough } from './queries';

export default function EventDashboard() {
  const { id = '' } = useParams();
  const { t, dateTime } = useI18n();
  const event = useQuery(eventQuery(id));
  const sales = useQuery({ ...salesQuery(id, event.data?.sale_opens_at), enabled: event.isSuccess });
  const funnel = useQuery(funnelQuery(id));
  const sections = useQuery(sectionsQuery(id));

  if (event.isPending) return <Loading />;
  if (event.isError) return <ErrorMessage error={event.error} retry={() => void event.refetch()} />;
  const e = event.data;
  return (
    <>
      <PageTitle
        sub={
          <>
            {e.venue.name} · {t('admin.event.opensAt', { time: dateTime(e.sale_opens_at) })} · <Updated at={funnel.dataUpdatedAt} />
          </>
        }
      >
        {e.title} <StatusBadge status={e.status} />
      </PageTitle>
      <p className="-mt-4 mb-6 flex flex-wrap gap-4 text-sm">
        <Link to={`/admin/events/${id}/edit`} className="font-semibold text-brand-700 hover:underline">
          {t('admin.events.edit')}
        </Link>
        <Link to={`/events/${id}`} className="font-semibold text-brand-700 hover:underline">
          {t('admin.events.public')}
        </Link>
      </p>
      <div className="space-y-6">
        <Card>
          <SectionHeading>{t('admin.sales.sinceOpening')}</SectionHeading>
          {sales.isPending ? (
            <Loading />
          ) : sales.isError && !sales.data ? (
            <ErrorMessage error={sales.error} retry={() => void sales.refetch()} />
          ) : (
            <SalesChart series={sales.data} label={t('admin.sales.sinceOpening')} />
          )}
        </Card>
        <div className="grid gap-6 lg:grid-cols-2">
          {funnel.isPending ? (
            <Loading />
          ) : funnel.isError && !funnel.data ? (
            <ErrorMessage error={funnel.error} retry={() => void funnel.refetch()} />
          ) : (
            <>
              <Card className="min-w-0">
                <FunnelView funnel={funnel.data} />
              </Card>
              <Card className="min-w-0">
                <WaitingRoomView
                  funnel={funnel.data}
                  at={funnel.dataUpdatedAt}
                  configured={e.waiting_room.enabled ? e.waiting_room.admit_per_minute : undefined}
                />
              </Card>
            </>
          )}
        </div>
        <Card>
          {sections.isPending ? (
            <Loading />
          ) : statsNotYet(sections.error) && !sections.data ? (
            <Loading label={t('admin.stats.notYet')} />
          ) : sections.isError && !sections.data ? (
            <ErrorMessage error={sections.error} retry={() => void sections.refetch()} />
          ) : (
            <Sections data={sections.data} />
          )}
        </Card>
        <Card>
          <HeatmapView eventId={id} />
        </Card>
      </div>
    </>
  );
}

function Sections({ data }: { data: SellThrough }) {
  const { t } = useI18n();
  const f = useFormats();
  return (
    <section aria-labelledby="sections">
      <SectionHeading id="sections">{t('admin.sections')}</SectionHeading>
      {data.sections.length === 0 ? (
        <Empty>{t('admin.sections.none')}</Empty>
      ) : (
        <TableWrap label={t('admin.sections')}>
          <thead>
            <tr>
              <th scope="col" className={th}>{t('admin.section')}</th>
              <th scope="col" className={`${th} text-right`}>{t('admin.price')}</th>
              <th scope="col" className={`${th} w-56`}>{t('admin.sold')}</th>
              <th scope="col" className={`${th} text-right`}>{t('admin.revenue')}</th>
            </tr>
          </thead>
          <tbody>
            {data.sections.map((s) => (
              <tr key={s.id}>
                <th scope="row" className={`${td} font-semibold`}>{s.name}</th>
                <td className={`${td} text-right tabular-nums`}>{f.won(s.price)}</td>
                <td className={td}>
                  <span className="mb-1 block text-xs tabular-nums text-slate-700">
                    {f.number(s.sold)} / {f.number(s.seats)} ({f.percent(s.sell_through)})
                  </span>
                  <ShareBar value={s.sold} max={s.seats} tone="bg-emerald-600" />
                </td>
                <td className={`${td} text-right tabular-nums`}>{f.won(s.revenue)}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
    </section>
  );
}
