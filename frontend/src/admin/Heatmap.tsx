// Where buyers went: every seat on the event's own seat map, coloured by holds or by how fast it sold.
import { useQuery } from '@tanstack/react-query';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { SeatMap } from '../api/client';
import { useI18n } from '../i18n';
import { SeatCanvas, SeatStore } from '../seatmap';
import { ErrorMessage, Loading } from '../ui';
import { holdColour, legend, speedColour, type HeatMode } from './heat';
import { SectionHeading, Updated, useFormats } from './parts';
import { heatmapQuery, seatLayoutQuery, statsNotYet, type Heatmap } from './queries';

export function HeatmapView({ eventId }: { eventId: string }) {
  const { t } = useI18n();
  const [mode, setMode] = useState<HeatMode>('holds');
  const layout = useQuery(seatLayoutQuery(eventId));
  const heat = useQuery(heatmapQuery(eventId));
  const store = useSeatStore(layout.data);
  const byIndex = useMemo(() => (store && heat.data ? indexHeat(store, heat.data) : null), [store, heat.data]);
  const paint = useCallback(
    (index: number) => {
      if (!byIndex) return null;
      return mode === 'holds' ? holdColour(byIndex.holds[index] ?? 0) : speedColour(byIndex.seconds[index]);
    },
    [byIndex, mode],
  );

  const failed = layout.error ?? (heat.data || statsNotYet(heat.error) ? null : heat.error);
  return (
    <section aria-labelledby="heatmap">
      <SectionHeading id="heatmap" aside={<Updated at={heat.dataUpdatedAt} />}>
        {t('admin.heat')}
      </SectionHeading>
      <fieldset className="mb-4">
        <legend className="mb-2 text-sm font-semibold text-slate-800">{t('admin.heat.mode')}</legend>
        <div className="inline-flex rounded-lg ring-1 ring-slate-300">
          {(['holds', 'speed'] as const).map((m) => (
            <label
              key={m}
              className={`cursor-pointer px-4 py-2 text-sm font-semibold first:rounded-l-lg last:rounded-r-lg has-[:focus-visible]:outline-3 has-[:focus-visible]:outline-brand-600 ${mode === m ? 'bg-brand-700 text-white' : 'bg-white text-slate-800'}`}
            >
              <input type="radio" name="heat-mode" value={m} checked={mode === m} onChange={() => setMode(m)} className="sr-only" />
              {t(m === 'holds' ? 'admin.heat.byHolds' : 'admin.heat.bySpeed')}
            </label>
          ))}
        </div>
      </fieldset>
      {failed ? (
        <ErrorMessage error={failed} retry={() => void (layout.isError ? layout.refetch() : heat.refetch())} />
      ) : !store || !heat.data ? (
        <Loading label={statsNotYet(heat.error) ? t('admin.stats.notYet') : undefined} />
      ) : (
        <>
          <Legend mode={mode} />
          <SeatCanvas
            store={store}
            paint={paint}
            selectable={NOTHING}
            className="h-[28rem] sm:h-[36rem]"
            ariaLabel={t(mode === 'holds' ? 'admin.heat.canvasHolds' : 'admin.heat.canvasSpeed', { seats: store.size })}
          />
          <Hottest heat={heat.data} />
        </>
      )}
    </section>
  );
}

/** Operators look; nothing on this map can be picked. */
const NOTHING = () => false;

/** One store per event, reloaded with each fresh seat map: the canvas keeps its zoom across refreshes. */
function useSeatStore(map: SeatMap | undefined): SeatStore | null {
  const store = useRef<SeatStore | null>(null);
  if (map && store.current?.eventId !== map.event_id) store.current = new SeatStore(map);
  useEffect(() => {
    if (map && store.current && store.current.version !== map.version) store.current.load(map);
  }, [map]);
  return store.current;
}

/** Heat figures by the store's seat index (the canvas paints by index; the API lists by id). */
function indexHeat(store: SeatStore, heat: Heatmap) {
  const holds = new Int32Array(store.size);
  const seconds: (number | null)[] = new Array<number | null>(store.size).fill(null);
  for (const seat of heat.seats) {
    const i = store.indexOf(seat.id);
    if (i < 0) continue;
    holds[i] = seat.holds;
    seconds[i] = seat.sold ? (seat.seconds_to_sell ?? null) : null;
  }
  return { holds, seconds };
}

function Legend({ mode }: { mode: HeatMode }) {
  const { t } = useI18n();
  return (
    <ul aria-label={t('admin.heat.legend')} className="mb-3 flex flex-wrap gap-x-4 gap-y-1 text-sm text-slate-800">
      {legend(mode).map((step) => (
        <li key={step.colour} className="flex items-center gap-1.5">
          <span aria-hidden="true" className="inline-block h-3.5 w-3.5 rounded-sm ring-1 ring-slate-400" style={{ background: step.colour }} />
          {t(step.label, step.vars)}
        </li>
      ))}
    </ul>
  );
}

/** The canvas in words: the most contested seats, for readers who cannot see it. */
function Hottest({ heat }: { heat: Heatmap }) {
  const { t } = useI18n();
  const f = useFormats();
  const top = [...heat.seats]
    .filter((s) => s.holds > 0)
    .sort((a, b) => b.holds - a.holds || b.expired_holds - a.expired_holds)
    .slice(0, 5);
  const sold = heat.seats.filter((s) => s.sold).length;
  return (
    <div className="mt-4 text-sm text-slate-800">
      <p>{t('admin.heat.sold', { sold: f.number(sold), seats: f.number(heat.seats.length) })}</p>
      {top.length > 0 && (
        <>
          <h3 className="mt-3 font-bold">{t('admin.heat.hottest')}</h3>
          <ol className="mt-1 list-decimal space-y-0.5 pl-5">
            {top.map((s) => (
              <li key={s.id}>
                {t('admin.heat.seat', { label: s.label, holds: f.number(s.holds), expired: f.number(s.expired_holds) })}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}
