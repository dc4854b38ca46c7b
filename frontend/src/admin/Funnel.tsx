// An event's funnel (joined → paid, and how holds ended) and its waiting room over time.
import { useEffect, useState } from 'react';
import { useI18n, type MessageKey } from '../i18n';
import { AdmissionChart, type RatePoint } from './charts';
import { SectionHeading, ShareBar, Stat, useFormats } from './parts';
import type { Funnel } from './queries';

const MAIN_STEPS = ['joined', 'admitted', 'held', 'checkout', 'paid'];
const stepKeys: Record<string, MessageKey> = {
  joined: 'admin.step.joined',
  admitted: 'admin.step.admitted',
  held: 'admin.step.held',
  checkout: 'admin.step.checkout',
  paid: 'admin.step.paid',
  expired: 'admin.step.expired',
  cancelled: 'admin.step.cancelled',
  refunded: 'admin.step.refunded',
  partially_refunded: 'admin.step.partially_refunded',
};

function useStepName() {
  const { t } = useI18n();
  return (step: string) => {
    const key = stepKeys[step];
    return key ? t(key) : step;
  };
}

function countOf(funnel: Funnel, step: string): number {
  return funnel.steps.find((s) => s.step === step)?.count ?? 0;
}

export function FunnelView({ funnel }: { funnel: Funnel }) {
  const { t } = useI18n();
  const f = useFormats();
  const name = useStepName();
  const main = funnel.steps.filter((s) => MAIN_STEPS.includes(s.step));
  const outcomes = funnel.steps.filter((s) => !MAIN_STEPS.includes(s.step));
  const top = Math.max(1, ...main.map((s) => s.count));
  const share = (ratio: number | null | undefined, of: string | null | undefined) =>
    ratio == null || !of ? null : t('admin.funnel.share', { percent: f.percent(ratio), of: name(of) });
  return (
    <section aria-labelledby="funnel">
      <SectionHeading id="funnel">{t('admin.funnel')}</SectionHeading>
      {!funnel.waiting_room && <p className="mb-3 text-sm text-slate-600">{t('admin.funnel.noRoom')}</p>}
      <ol className="space-y-3">
        {main.map((s) => (
          <li key={s.step}>
            <div className="mb-1 flex flex-wrap items-baseline justify-between gap-x-3 text-sm">
              <span className="font-semibold">{name(s.step)}</span>
              <span className="tabular-nums text-slate-700">
                {f.number(s.count)}
                {share(s.ratio, s.of) && <span className="ml-2 text-slate-600">{share(s.ratio, s.of)}</span>}
              </span>
            </div>
            <ShareBar value={s.count} max={top} />
          </li>
        ))}
      </ol>
      {outcomes.length > 0 && (
        <>
          <h3 className="mt-5 mb-2 text-sm font-bold text-slate-800">{t('admin.funnel.outcomes')}</h3>
          <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-4">
            {outcomes.map((s) => (
              <div key={s.step} className="rounded-lg bg-slate-50 p-2">
                <dt className="text-slate-600">{name(s.step)}</dt>
                <dd className="font-bold tabular-nums">{f.number(s.count)}</dd>
                {share(s.ratio, s.of) && <dd className="text-xs text-slate-600">{share(s.ratio, s.of)}</dd>}
              </div>
            ))}
          </dl>
        </>
      )}
    </section>
  );
}

interface Sample {
  at: number;
  joined: number;
  admitted: number;
}
/** Ten minutes of samples at the polling rate. */
const MAX_SAMPLES = 200;

/**
 * Admissions are counted over the trailing minute: the room admits in steps, and a rate from one
 * poll to the next (3 s apart) swings between nothing and several times the real one.
 */
const RATE_WINDOW_MS = 60_000;
/** Over less time than this, one admission reads as dozens a minute: no rate until the page has seen it. */
const RATE_MIN_SPAN_MS = 30_000;

/**
 * Admissions per minute over the last minute of samples (over all of them until the page has seen
 * a minute, and none before it has seen half of one), and who joined but is not admitted yet.
 */
export function ratePoints(samples: Sample[]): RatePoint[] {
  let from = 0;
  return samples.slice(1).flatMap((s, i) => {
    // `samples[from]`: the latest sample at least a minute older than `s`, else the first.
    while (from < i && s.at - (samples[from + 1] as Sample).at >= RATE_WINDOW_MS) from++;
    const start = samples[from] as Sample;
    if (s.at - start.at < RATE_MIN_SPAN_MS) return [];
    const perMinute = Math.max(0, Math.round((s.admitted - start.admitted) / ((s.at - start.at) / 60_000)));
    return [{ at: s.at, perMinute, waiting: Math.max(0, s.joined - s.admitted) }];
  });
}

/** The waiting room while this page is open: the API has no history of it, so the page keeps one. */
export function WaitingRoomView({ funnel, at, configured }: { funnel: Funnel; at: number; configured?: number }) {
  const { t } = useI18n();
  const f = useFormats();
  const [samples, setSamples] = useState<Sample[]>([]);
  useEffect(() => {
    const sample = { at, joined: countOf(funnel, 'joined'), admitted: countOf(funnel, 'admitted') };
    setSamples((prev) => (prev.at(-1)?.at === at ? prev : [...prev, sample].slice(-MAX_SAMPLES)));
  }, [funnel, at]);
  const points = ratePoints(samples);
  const latest = points.at(-1);
  return (
    <section aria-labelledby="room">
      <SectionHeading id="room">{t('admin.room')}</SectionHeading>
      <dl className="mb-4 grid grid-cols-2 gap-3 sm:grid-cols-3">
        <Stat label={t('admin.room.waiting')} value={f.number(Math.max(0, countOf(funnel, 'joined') - countOf(funnel, 'admitted')))} />
        <Stat label={t('admin.room.perMinute')} value={latest ? f.number(latest.perMinute) : '—'} />
        {configured != null && <Stat label={t('admin.room.configured')} value={f.number(configured)} />}
      </dl>
      {points.length < 2 ? (
        <p className="text-sm text-slate-600">{t('admin.room.collecting')}</p>
      ) : (
        <AdmissionChart points={points} label={t('admin.room')} />
      )}
    </section>
  );
}
