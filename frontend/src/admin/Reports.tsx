// Finance reports: request one (built in the background), watch it finish, download its files.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { api, unwrap, type Schemas } from '../api/client';
import { useI18n } from '../i18n';
import { Button, Card, Empty, ErrorMessage, Field, inputClass, Loading, PageTitle } from '../ui';
import { fieldError, SectionHeading, StatusBadge, useFocusFirstInvalid, useFormats } from './parts';
import { adminKeys, eventsQuery, reportsQuery, type Report, type ReportKind } from './queries';
import { kstDayStart, kstToday } from './time';

export default function Reports() {
  const { t } = useI18n();
  const reports = useQuery(reportsQuery);
  const events = useQuery(eventsQuery());
  const titles = new Map(events.data?.items.map((e) => [e.id, e.title]));
  return (
    <>
      <PageTitle sub={t('admin.reports.subtitle')}>{t('admin.reports.title')}</PageTitle>
      <div className="grid gap-6 lg:grid-cols-[22rem_1fr]">
        <Card className="min-w-0 self-start">
          <RequestForm events={events.data?.items ?? []} />
        </Card>
        <section aria-labelledby="report-list" className="min-w-0">
          <SectionHeading id="report-list">{t('admin.reports.list')}</SectionHeading>
          {reports.isPending ? (
            <Loading />
          ) : reports.isError ? (
            <ErrorMessage error={reports.error} retry={() => void reports.refetch()} />
          ) : reports.data.items.length === 0 ? (
            <Empty>{t('admin.reports.empty')}</Empty>
          ) : (
            <ul className="space-y-4">
              {reports.data.items.map((r) => (
                <li key={r.id}>
                  <ReportCard report={r} eventTitle={r.event_id ? titles.get(r.event_id) ?? r.event_id : undefined} />
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </>
  );
}

function RequestForm({ events }: { events: { id: string; title: string }[] }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const form = useRef<HTMLFormElement>(null);
  const [kind, setKind] = useState<ReportKind>('settlement');
  const [from, setFrom] = useState(() => kstToday(-7));
  const [to, setTo] = useState(() => kstToday());
  const [eventId, setEventId] = useState('');
  const [rangeError, setRangeError] = useState<string | null>(null);
  const request = useMutation({
    mutationFn: (body: Schemas['ReportInput']) => unwrap(api.POST('/api/admin/reports', { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: adminKeys.reports }),
  });
  useFocusFirstInvalid(form, request.error ?? rangeError);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // The form picks whole Korean days, both inclusive; the API's `to` is exclusive.
    const start = kstDayStart(from);
    const end = kstDayStart(to, 1);
    if (!start || !end || start >= end) {
      setRangeError(t('admin.reports.badRange'));
      return;
    }
    setRangeError(null);
    request.mutate({ kind, from: start, to: end, event_id: eventId || null });
  };
  const toError = rangeError ?? fieldError(request.error, 'to');
  return (
    <form ref={form} onSubmit={submit} noValidate className="space-y-4">
      <h2 className="text-lg font-bold">{t('admin.reports.request')}</h2>
      <Field label={t('admin.reports.kind')} error={fieldError(request.error, 'kind')} hint={t(`admin.reports.kind.${kind}.hint`)}>
        <select className={inputClass} value={kind} onChange={(e) => setKind(e.target.value === 'sales' ? 'sales' : 'settlement')}>
          <option value="settlement">{t('admin.reports.kind.settlement')}</option>
          <option value="sales">{t('admin.reports.kind.sales')}</option>
        </select>
      </Field>
      <div className="grid grid-cols-2 gap-3">
        <Field label={t('admin.reports.from')} error={fieldError(request.error, 'from')}>
          <input type="date" className={inputClass} value={from} onChange={(e) => setFrom(e.target.value)} required aria-invalid={!!fieldError(request.error, 'from')} />
        </Field>
        <Field label={t('admin.reports.to')} error={toError}>
          <input type="date" className={inputClass} value={to} onChange={(e) => setTo(e.target.value)} required aria-invalid={!!toError} />
        </Field>
      </div>
      <Field label={t('admin.reports.event')} error={fieldError(request.error, 'event_id')} hint={t('admin.optional')}>
        <select className={inputClass} value={eventId} onChange={(e) => setEventId(e.target.value)} aria-invalid={!!fieldError(request.error, 'event_id')}>
          <option value="">{t('admin.reports.allEvents')}</option>
          {events.map((e) => (
            <option key={e.id} value={e.id}>
              {e.title}
            </option>
          ))}
        </select>
      </Field>
      <p className="text-xs text-slate-600">{t('admin.reports.days')}</p>
      {request.isError && <ErrorMessage error={request.error} />}
      {request.isSuccess && (
        <p role="status" className="text-sm text-emerald-800">
          {t('admin.reports.requested')}
        </p>
      )}
      <Button type="submit" busy={request.isPending} className="w-full">
        {t('admin.reports.submit')}
      </Button>
    </form>
  );
}

function ReportCard({ report, eventTitle }: { report: Report; eventTitle?: string }) {
  const { t, dateTime } = useI18n();
  const f = useFormats();
  // `to` is exclusive: the last day covered ends a moment before it.
  const lastDay = new Date(new Date(report.to).getTime() - 1).toISOString();
  return (
    <Card>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h3 className="font-bold">
          {report.kind === 'sales' ? t('admin.reports.kind.sales') : t('admin.reports.kind.settlement')} ·{' '}
          {f.date(report.from)} – {f.date(lastDay)}
        </h3>
        <StatusBadge status={report.status} />
      </div>
      <p className="mt-1 text-sm text-slate-600">
        {eventTitle ?? t('admin.reports.allEvents')} · {t('admin.reports.created', { time: dateTime(report.created_at) })}
      </p>
      {report.status === 'pending' && <p className="mt-3 text-sm text-slate-700">{t('admin.reports.building')}</p>}
      {report.status === 'failed' && (
        <p className="mt-3 text-sm text-red-800">{t('admin.reports.failed', { reason: report.failure ?? '—' })}</p>
      )}
      {report.files.length > 0 && (
        <ul className="mt-3 divide-y divide-slate-100 text-sm" aria-label={t('admin.reports.files')}>
          {report.files.map((file) => (
            <li key={file.name} className="flex flex-wrap items-baseline justify-between gap-x-4 gap-y-1 py-2">
              <a href={file.url} download={file.name} className="font-semibold break-all text-brand-700 hover:underline">
                {file.name}
              </a>
              <span className="text-slate-600">
                {f.bytes(file.bytes)} · {file.content_type}
              </span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
