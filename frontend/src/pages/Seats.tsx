// Seat selection on the live map (or its list view), the hold, and the way on to payment.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useMemo, useState } from 'react';
import { Link, Navigate, useParams } from 'react-router';
import { api, unwrap, type Reservation } from '../api/client';
import { ApiError } from '../api/problem';
import { useI18n } from '../i18n';
import { admission, forgetAdmission } from '../lib/admission';
import { Legend, SeatCanvas, SeatList, useLiveSeatMap } from '../seatmap';
import { Button, Card, ErrorMessage, Loading, PageTitle } from '../ui';
import { useEvent } from './Event';
import { HoldPanel } from './HoldPanel';

function usePendingHold(eventId: string) {
  return useQuery({
    queryKey: ['reservations'],
    queryFn: () => unwrap(api.GET('/api/reservations')),
    select: (answer) =>
      answer.items.find((r) => r.event_id === eventId && r.status === 'pending' && Date.parse(r.expires_at) > Date.now()) ?? null,
  });
}

export default function SeatsPage() {
  const { id = '' } = useParams();
  const { t, won } = useI18n();
  const queryClient = useQueryClient();
  const event = useEvent(id);
  const live = useLiveSeatMap(id);
  const pending = usePendingHold(id);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [view, setView] = useState<'map' | 'list'>('map');
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [holding, setHolding] = useState(false);
  const [held, setHeld] = useState<Reservation | null>(null);

  const cap = event.data?.max_seats_per_order ?? 4;
  const toggle = useCallback(
    (seatId: string) => {
      setNotice(null);
      setSelected((current) => {
        const next = new Set(current);
        if (next.has(seatId)) next.delete(seatId);
        else if (next.size >= cap) setNotice(t('seats.capReached', { cap }));
        else next.add(seatId);
        return next;
      });
    },
    [cap, t],
  );

  const lost = useCallback(
    (seatIds: string[]) => {
      setSelected((current) => new Set([...current].filter((s) => !seatIds.includes(s))));
      const labels = seatIds.map((s) => live.store?.seat(live.store.indexOf(s))?.label ?? '').filter(Boolean);
      setNotice(t('seats.lost', { seats: labels.join(', ') }));
    },
    [live.store, t],
  );

  const total = useMemo(() => {
    const store = live.store;
    if (!store) return 0;
    return [...selected].reduce((sum, s) => sum + (store.seat(store.indexOf(s))?.price ?? 0), 0);
  }, [selected, live.store]);

  // A hold of this event may already exist (a reload): know before sending anyone to the queue.
  if (event.isPending || pending.isPending || live.state === 'loading') return <Loading label={t('seats.loading')} />;
  if (event.isError) return <ErrorMessage error={event.error} retry={() => void event.refetch()} />;
  const pass = admission(id);
  if (event.data.waiting_room.enabled && !pass && !held && !pending.data) return <Navigate to={`/events/${id}/queue`} replace />;

  async function hold() {
    setHolding(true);
    setError(null);
    setNotice(null);
    try {
      const answer = await unwrap(
        api.POST('/api/events/{id}/holds', {
          params: { path: { id } },
          body: { seat_ids: [...selected] },
          headers: pass ? { 'x-admission-token': pass.token } : undefined,
        }),
      );
      setHeld(answer.reservation);
      setSelected(new Set());
      void queryClient.invalidateQueries({ queryKey: ['reservations'] });
    } catch (e) {
      if (e instanceof ApiError && e.code === 'SEAT_UNAVAILABLE' && e.problem.seat_ids) {
        const taken = e.problem.seat_ids;
        setSelected((current) => new Set([...current].filter((s) => !taken.includes(s))));
      }
      if (e instanceof ApiError && e.code === 'NOT_ADMITTED') forgetAdmission(id);
      setError(e);
    } finally {
      setHolding(false);
    }
  }

  const reservation = held ?? pending.data ?? null;
  const store = live.store;
  return (
    <div className="space-y-4">
      <PageTitle sub={event.data.venue.name}>{event.data.title}</PageTitle>
      {reservation ? (
        <div className="mx-auto max-w-lg">
          <HoldPanel
            reservation={reservation}
            onEnded={() => {
              setHeld(null);
              void pending.refetch();
            }}
          />
        </div>
      ) : (
        <>
          <div className="flex flex-wrap items-center justify-between gap-3">
            <div role="group" aria-label={t('seats.view')} className="inline-flex rounded-lg bg-white p-1 ring-1 ring-slate-200">
              {(['map', 'list'] as const).map((v) => (
                <button
                  key={v}
                  type="button"
                  aria-pressed={view === v}
                  onClick={() => setView(v)}
                  className={`rounded-md px-3 py-1.5 text-sm font-semibold ${view === v ? 'bg-brand-700 text-white' : 'text-slate-700'}`}
                >
                  {t(v === 'map' ? 'seats.mapView' : 'seats.listView')}
                </button>
              ))}
            </div>
            <p className="text-sm text-slate-700" aria-live="polite">
              {live.state === 'live' ? t('seats.live') : live.state === 'resyncing' ? t('seats.resyncing') : null}
            </p>
          </div>
          {live.state === 'error' && <ErrorMessage error={live.error} retry={live.reload} />}
          {store && (
            <>
              <Legend store={store} />
              {view === 'map' ? (
                <SeatCanvas
                  store={store}
                  selected={selected}
                  onToggle={toggle}
                  // Our own hold makes our selected seats "held" too: not a loss.
                  onLost={holding ? undefined : lost}
                  ariaLabel={t('seats.canvasLabel', { title: event.data.title })}
                  className="h-[60vh] min-h-80 w-full"
                />
              ) : (
                <SeatList store={store} selected={selected} onToggle={toggle} onLost={holding ? undefined : lost} />
              )}
            </>
          )}
          <Card className="sticky bottom-2 z-20 space-y-3">
            <div className="flex flex-wrap items-center justify-between gap-3">
              <p className="text-sm" aria-live="polite" data-testid="selection-summary">
                {t('seats.selected', { count: selected.size, cap, total: won(total) })}
              </p>
              <Button busy={holding} disabled={selected.size === 0} onClick={() => void hold()}>
                {t('seats.hold')}
              </Button>
            </div>
            {notice && (
              <p role="status" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900">
                {notice}
              </p>
            )}
            {error != null && (
              <div className="space-y-2">
                <ErrorMessage error={error} />
                {error instanceof ApiError && error.code === 'NOT_ADMITTED' && (
                  <Link to={`/events/${id}/queue`} className="text-sm font-semibold text-brand-700 underline">
                    {t('seats.backToQueue')}
                  </Link>
                )}
              </div>
            )}
          </Card>
        </>
      )}
    </div>
  );
}
