// Every event in any status, searchable, with the way into its dashboard and its settings.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useI18n } from '../i18n';
import { Button, Card, Empty, ErrorMessage, inputClass, Loading, PageTitle } from '../ui';
import { StatusBadge, TableWrap, td, th } from './parts';
import { eventsQuery, type EventStatus } from './queries';

const STATUSES: EventStatus[] = ['scheduled', 'on_sale', 'sold_out', 'closed', 'cancelled'];
const link = 'font-semibold text-brand-700 hover:underline';

export default function Events() {
  const { t, dateTime } = useI18n();
  const [params, setParams] = useSearchParams();
  const status = STATUSES.find((s) => s === params.get('status'));
  const q = params.get('q') ?? '';
  const [draft, setDraft] = useState(q);
  const events = useQuery({ ...eventsQuery(status, q), placeholderData: keepPreviousData });
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  return (
    <>
      <div className="flex flex-wrap items-start justify-between gap-3">
        <PageTitle>{t('admin.events.title')}</PageTitle>
        <Link to="/admin/events/new" className="rounded-lg bg-brand-700 px-4 py-2.5 text-sm font-semibold text-white hover:bg-brand-800">
          {t('admin.events.new')}
        </Link>
      </div>
      <form
        role="search"
        className="mb-5 flex flex-col gap-3 sm:flex-row sm:items-end"
        onSubmit={(e) => {
          e.preventDefault();
          set('q', draft.trim());
        }}
      >
        <label className="flex-1">
          <span className="mb-1 block text-sm font-semibold text-slate-800">{t('admin.events.search')}</span>
          <input type="search" className={inputClass} value={draft} onChange={(e) => setDraft(e.target.value)} />
        </label>
        <label>
          <span className="mb-1 block text-sm font-semibold text-slate-800">{t('admin.events.status')}</span>
          <select className={inputClass} value={status ?? ''} onChange={(e) => set('status', e.target.value)}>
            <option value="">{t('admin.events.allStatuses')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`admin.status.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <Button type="submit" variant="secondary">
          {t('admin.events.find')}
        </Button>
      </form>
      {events.isPending ? (
        <Loading />
      ) : events.isError ? (
        <ErrorMessage error={events.error} retry={() => void events.refetch()} />
      ) : events.data.items.length === 0 ? (
        <Empty>{q || status ? t('admin.events.noMatch') : t('admin.events.empty')}</Empty>
      ) : (
        <Card>
          <p className="mb-2 text-sm text-slate-600">
            {t('admin.events.count', { shown: events.data.items.length, total: events.data.total })}
          </p>
          <TableWrap label={t('admin.events.title')}>
            <thead>
              <tr>
                <th scope="col" className={th}>{t('admin.event')}</th>
                <th scope="col" className={th}>{t('admin.events.venue')}</th>
                <th scope="col" className={th}>{t('admin.events.starts')}</th>
                <th scope="col" className={th}>{t('admin.events.status')}</th>
                <th scope="col" className={th}>{t('admin.events.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {events.data.items.map((e) => (
                <tr key={e.id}>
                  <td className={td}>
                    <Link to={`/admin/events/${e.id}`} className={link}>
                      {e.title}
                    </Link>
                    <span className="block text-xs text-slate-600">{e.artist}</span>
                  </td>
                  <td className={td}>{e.venue.name}</td>
                  <td className={`${td} whitespace-nowrap`}>{dateTime(e.starts_at)}</td>
                  <td className={td}>
                    <StatusBadge status={e.status} />
                  </td>
                  <td className={`${td} whitespace-nowrap`}>
                    <Link to={`/admin/events/${e.id}/edit`} className={link} aria-label={t('admin.events.editNamed', { title: e.title })}>
                      {t('admin.events.edit')}
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
        </Card>
      )}
    </>
  );
}
