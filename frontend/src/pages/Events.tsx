import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { api, unwrap, type EventSummary } from '../api/client';
import { useI18n, type MessageKey } from '../i18n';
import { Button, Empty, ErrorMessage, inputClass, Loading, PageTitle } from '../ui';
import { EventCard } from './EventCard';

type Status = EventSummary['status'];
const STATUSES: Status[] = ['on_sale', 'scheduled', 'sold_out', 'closed', 'cancelled'];
const PAGE = 12;

function EventGrid({ status, q, title, hideEmpty = false }: { status?: Status; q?: string; title?: MessageKey; hideEmpty?: boolean }) {
  const { t } = useI18n();
  const [limit, setLimit] = useState(PAGE);
  const query = useQuery({
    queryKey: ['events', status ?? '', q ?? '', limit],
    queryFn: () => unwrap(api.GET('/api/events', { params: { query: { status, q: q || undefined, limit, page: 1 } } })),
    placeholderData: keepPreviousData,
  });
  if (hideEmpty && query.data?.items.length === 0) return null;
  return (
    <section className="mb-10" aria-labelledby={title ? `grid-${status}` : undefined}>
      {title && (
        <h2 id={`grid-${status}`} className="mb-4 text-xl font-bold">
          {t(title)}
        </h2>
      )}
      {query.isPending ? (
        <Loading />
      ) : query.isError ? (
        <ErrorMessage error={query.error} retry={() => void query.refetch()} />
      ) : query.data.items.length === 0 ? (
        <Empty>{t('events.empty')}</Empty>
      ) : (
        <>
          <div className="grid gap-5 sm:grid-cols-2 lg:grid-cols-3">
            {query.data.items.map((event) => (
              <EventCard key={event.id} event={event} />
            ))}
          </div>
          {query.data.total > query.data.items.length && (
            <div className="mt-6 text-center">
              <Button variant="secondary" busy={query.isFetching} onClick={() => setLimit((l) => Math.min(100, l + PAGE))}>
                {t('events.more', { shown: query.data.items.length, total: query.data.total })}
              </Button>
            </div>
          )}
        </>
      )}
    </section>
  );
}

export function EventsPage() {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const status = STATUSES.find((s) => s === params.get('status'));
  const [draft, setDraft] = useState(q);
  const update = (next: { q?: string; status?: Status | '' }) => {
    const merged = new URLSearchParams(params);
    for (const [key, value] of Object.entries(next)) {
      if (value) merged.set(key, value);
      else merged.delete(key);
    }
    setParams(merged);
  };
  return (
    <>
      <PageTitle sub={t('events.subtitle')}>{t('events.title')}</PageTitle>
      <form
        role="search"
        className="mb-6 flex flex-col gap-3 sm:flex-row"
        onSubmit={(e) => {
          e.preventDefault();
          update({ q: draft.trim() });
        }}
      >
        <label className="flex-1">
          <span className="sr-only">{t('events.search')}</span>
          <input type="search" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder={t('events.searchPlaceholder')} className={inputClass} />
        </label>
        <label>
          <span className="sr-only">{t('events.statusFilter')}</span>
          <select value={status ?? ''} onChange={(e) => update({ status: e.target.value as Status | '' })} className={inputClass}>
            <option value="">{t('events.allStatuses')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <Button type="submit">{t('events.search')}</Button>
      </form>
      {q || status ? (
        <EventGrid status={status} q={q} />
      ) : (
        <>
          <EventGrid status="on_sale" title="events.onSale" />
          <EventGrid status="scheduled" title="events.comingSoon" hideEmpty />
        </>
      )}
    </>
  );
}
