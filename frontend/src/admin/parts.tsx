// Building blocks shared by the console's pages: figures, bars, tables and formats.
import { useEffect, useMemo, type ReactNode, type RefObject } from 'react';
import { ApiError } from '../api/problem';
import { useI18n, type MessageKey } from '../i18n';
import { Badge } from '../ui';
import { TIME_ZONE } from './time';

/** Number formats that follow the chosen language; times in Korea's zone like the rest of the app. */
export function useFormats() {
  const { lang, number, won } = useI18n();
  return useMemo(() => {
    const locale = lang === 'ko' ? 'ko-KR' : 'en-US';
    const clock = new Intl.DateTimeFormat(locale, { timeStyle: 'medium', timeZone: TIME_ZONE });
    const hour = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', timeZone: TIME_ZONE });
    const day = new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric', timeZone: TIME_ZONE });
    const date = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: TIME_ZONE });
    const percent = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
    const compact = new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 });
    const bytes = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    return {
      number,
      won,
      clock: (at: number | string) => clock.format(new Date(at)),
      date: (at: number | string) => date.format(new Date(at)),
      /** A chart tick: the time of an hour bucket, the date of a day bucket. */
      tick: (iso: string, bucket: 'hour' | 'day') => (bucket === 'hour' ? hour : day).format(new Date(iso)),
      percent: (ratio: number) => percent.format(ratio),
      compact: (n: number) => compact.format(n),
      bytes: (n: number) => {
        if (n < 1024) return `${bytes.format(n)} B`;
        if (n < 1024 * 1024) return `${bytes.format(n / 1024)} KB`;
        return `${bytes.format(n / 1024 / 1024)} MB`;
      },
    };
  }, [lang, number, won]);
}

export function Stat({ label, value, hint }: { label: string; value: ReactNode; hint?: ReactNode }) {
  return (
    <div className="rounded-xl bg-white p-4 ring-1 ring-slate-200">
      <dt className="text-sm font-medium text-slate-600">{label}</dt>
      <dd className="mt-1 text-lg font-bold tabular-nums text-slate-900 sm:text-2xl">{value}</dd>
      {hint && <dd className="mt-0.5 text-xs text-slate-600">{hint}</dd>}
    </div>
  );
}

/** A share drawn as a bar; the figures next to it carry the meaning, so the bar is decoration. */
export function ShareBar({ value, max, tone = 'bg-brand-600' }: { value: number; max: number; tone?: string }) {
  const width = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  return (
    <div aria-hidden="true" className="h-2 w-full overflow-hidden rounded-full bg-slate-200">
      <div className={`h-full rounded-full ${tone}`} style={{ width: `${width}%` }} />
    </div>
  );
}

/** A wide table that scrolls sideways on phones; focusable so keyboards can scroll it too. */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div role="region" aria-label={label} tabIndex={0} className="-mx-5 overflow-x-auto px-5">
      <table className="w-full min-w-[36rem] text-left text-sm">{children}</table>
    </div>
  );
}

export const th = 'border-b border-slate-200 py-2 pr-4 text-xs font-semibold uppercase tracking-wide text-slate-600';
export const td = 'border-b border-slate-100 py-2.5 pr-4 align-middle';

export function SectionHeading({ id, children, aside }: { id?: string; children: ReactNode; aside?: ReactNode }) {
  return (
    <div className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
      <h2 id={id} className="text-lg font-bold">
        {children}
      </h2>
      {aside}
    </div>
  );
}

/** "Updated 14:03:07" for data that refreshes itself. */
export function Updated({ at }: { at: number }) {
  const { t } = useI18n();
  const { clock } = useFormats();
  if (!at) return null;
  return <span className="text-sm text-slate-600">{t('admin.updated', { time: clock(at) })}</span>;
}

const statusKeys: Record<string, MessageKey> = {
  scheduled: 'admin.status.scheduled',
  on_sale: 'admin.status.on_sale',
  sold_out: 'admin.status.sold_out',
  closed: 'admin.status.closed',
  cancelled: 'admin.status.cancelled',
  pending: 'admin.status.pending',
  ready: 'admin.status.ready',
  failed: 'admin.status.failed',
};

/** An event's or a report's status as a coloured label. */
export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  const key = statusKeys[status];
  return <Badge tone={status}>{key ? t(key) : status}</Badge>;
}

/** The server's message for one field of a failed form submission (422). */
export function fieldError(error: unknown, name: string): string | undefined {
  return error instanceof ApiError ? error.field(name) : undefined;
}

/** After a refused submission, moves focus to the first field the server named. */
export function useFocusFirstInvalid(form: RefObject<HTMLFormElement | null>, error: unknown) {
  useEffect(() => {
    if (error) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [form, error]);
}
