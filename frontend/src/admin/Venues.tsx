// Venues, newest first: what events can be created in.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { useI18n } from '../i18n';
import { Button, Card, Empty, ErrorMessage, Loading, PageTitle } from '../ui';
import { useFormats } from './parts';
import { venuesQuery } from './queries';

export default function Venues() {
  const { t } = useI18n();
  const f = useFormats();
  const [page, setPage] = useState(1);
  const venues = useQuery({ ...venuesQuery(page), placeholderData: keepPreviousData });
  const pages = venues.data ? Math.max(1, Math.ceil(venues.data.total / venues.data.limit)) : 1;
  return (
    <>
      <div className="flex flex-wrap items-start justify-between gap-3">
        <PageTitle>{t('admin.venues.title')}</PageTitle>
        <Link to="/admin/venues/new" className="rounded-lg bg-brand-700 px-4 py-2.5 text-sm font-semibold text-white hover:bg-brand-800">
          {t('admin.venues.new')}
        </Link>
      </div>
      {venues.isPending ? (
        <Loading />
      ) : venues.isError ? (
        <ErrorMessage error={venues.error} retry={() => void venues.refetch()} />
      ) : venues.data.items.length === 0 ? (
        <Empty>{t('admin.venues.empty')}</Empty>
      ) : (
        <>
          <ul className="grid gap-4 sm:grid-cols-2">
            {venues.data.items.map((v) => (
              <li key={v.id}>
                <Card className="h-full">
                  <h2 className="text-lg font-bold">{v.name}</h2>
                  {v.address && <p className="text-sm text-slate-600">{v.address}</p>}
                  <p className="mt-2 text-sm font-semibold">{t('admin.venues.capacity', { seats: f.number(v.seat_count) })}</p>
                  <ul className="mt-2 flex flex-wrap gap-2 text-xs">
                    {v.sections.map((s) => (
                      <li key={s.id} className="rounded-full bg-slate-100 px-2.5 py-1 text-slate-800">
                        {s.name} · {f.number(s.seat_count)} · {f.won(s.price)}
                      </li>
                    ))}
                  </ul>
                </Card>
              </li>
            ))}
          </ul>
          {pages > 1 && (
            <nav aria-label={t('admin.pages')} className="mt-6 flex items-center justify-center gap-3">
              <Button variant="secondary" disabled={page <= 1} onClick={() => setPage((p) => p - 1)}>
                {t('admin.pages.prev')}
              </Button>
              <span className="text-sm text-slate-700">{t('admin.pages.of', { page, pages })}</span>
              <Button variant="secondary" disabled={page >= pages} onClick={() => setPage((p) => p + 1)}>
                {t('admin.pages.next')}
              </Button>
            </nav>
          )}
        </>
      )}
    </>
  );
}
