import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useI18n } from '../i18n';
import { Badge, Card, ErrorMessage, Loading } from '../ui';
import { Poster } from './EventCard';

export function useEvent(id: string | undefined) {
  return useQuery({
    queryKey: ['event', id],
    queryFn: () => unwrap(api.GET('/api/events/{id}', { params: { path: { id: id ?? '' } } })),
    enabled: !!id,
    refetchInterval: 15_000,
  });
}

export function EventPage() {
  const { id = '' } = useParams();
  const { t, won, dateTime, number } = useI18n();
  const event = useEvent(id);
  if (event.isPending) return <Loading />;
  if (event.isError) return <ErrorMessage error={event.error} retry={() => void event.refetch()} />;
  const e = event.data;
  const joinable = e.status === 'on_sale' || (e.status === 'scheduled' && e.waiting_room.enabled);
  const next = e.waiting_room.enabled ? `/events/${id}/queue` : `/events/${id}/seats`;
  return (
    <article className="grid gap-8 lg:grid-cols-[2fr_3fr]">
      <Poster event={e} className="aspect-[3/4] w-full rounded-2xl shadow-sm" />
      <div className="space-y-6">
        <header className="space-y-2">
          <Badge tone={e.status}>{t(`status.${e.status}`)}</Badge>
          <h1 className="text-3xl font-extrabold tracking-tight">{e.title}</h1>
          <p className="text-lg text-slate-700">{e.artist}</p>
        </header>
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
          <dt className="font-semibold text-slate-600">{t('event.when')}</dt>
          <dd>{dateTime(e.starts_at)}</dd>
          <dt className="font-semibold text-slate-600">{t('event.where')}</dt>
          <dd>{e.venue.name}</dd>
          <dt className="font-semibold text-slate-600">{t('event.sale')}</dt>
          <dd>
            {dateTime(e.sale_opens_at)} – {dateTime(e.sale_closes_at)}
          </dd>
          <dt className="font-semibold text-slate-600">{t('event.limit')}</dt>
          <dd>{t('event.limitValue', { count: e.max_seats_per_order })}</dd>
        </dl>
        {e.description && <p className="whitespace-pre-line text-slate-800">{e.description}</p>}
        {e.waiting_room.enabled && (
          <p className="rounded-xl bg-brand-50 p-4 text-sm text-brand-800">{t('event.waitingRoom')}</p>
        )}
        <div>
          {joinable ? (
            <Link to={next} className="inline-flex w-full justify-center rounded-xl bg-brand-700 px-6 py-3.5 text-base font-bold text-white hover:bg-brand-800 sm:w-auto">
              {t(e.waiting_room.enabled ? 'event.joinQueue' : 'event.chooseSeats')}
            </Link>
          ) : (
            <p className="font-semibold text-slate-700">{t(`event.closed.${e.status}`)}</p>
          )}
        </div>
        <Card>
          <h2 className="mb-3 text-lg font-bold">{t('event.sections')}</h2>
          <ul className="space-y-3">
            {e.sections.map((s) => {
              const share = s.seat_count ? s.available / s.seat_count : 0;
              return (
                <li key={s.id}>
                  <div className="flex justify-between text-sm">
                    <span className="font-semibold">{s.name}</span>
                    <span>{won(s.price)}</span>
                  </div>
                  <div className="mt-1 h-2 overflow-hidden rounded-full bg-slate-200" aria-hidden="true">
                    <div className="h-full bg-emerald-600" style={{ width: `${Math.round(share * 100)}%` }} />
                  </div>
                  <p className="mt-0.5 text-xs text-slate-600">
                    {t('event.available', { available: number(s.available), total: number(s.seat_count) })}
                  </p>
                </li>
              );
            })}
          </ul>
        </Card>
      </div>
    </article>
  );
}
