// Edit an event (only the changed fields are sent) or cancel it.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, unwrap, type EventDetail, type Schemas } from '../api/client';
import { useI18n } from '../i18n';
import { Button, Card, ErrorMessage, Loading, PageTitle } from '../ui';
import { CancelDialog } from './CancelDialog';
import { EventForm, patchOf, valuesOf } from './EventForm';
import { StatusBadge } from './parts';
import { adminKeys, eventQuery } from './queries';

export default function EventEdit() {
  const { id = '' } = useParams();
  const event = useQuery(eventQuery(id));
  if (event.isPending) return <Loading />;
  if (event.isError) return <ErrorMessage error={event.error} retry={() => void event.refetch()} />;
  return <Editor key={id} event={event.data} />;
}

function Editor({ event }: { event: EventDetail }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [saved, setSaved] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const initial = valuesOf(event);
  const save = useMutation({
    mutationFn: (body: Schemas['EventPatch']) =>
      unwrap(api.PATCH('/api/admin/events/{id}', { params: { path: { id: event.id } }, body })),
    onSuccess: async (updated) => {
      client.setQueryData(eventQuery(event.id).queryKey, updated);
      await Promise.all([
        client.invalidateQueries({ queryKey: adminKeys.events }),
        client.invalidateQueries({ queryKey: ['events'] }),
      ]);
      setSaved(true);
    },
  });
  const cancelled = event.status === 'cancelled';
  return (
    <>
      <PageTitle sub={<Link to={`/admin/events/${event.id}`} className="font-semibold text-brand-700 hover:underline">{t('admin.events.dashboard')}</Link>}>
        {t('admin.event.editTitle', { title: event.title })} <StatusBadge status={event.status} />
      </PageTitle>
      <div className="max-w-3xl space-y-6">
        {saved && (
          <p role="status" className="rounded-xl bg-emerald-50 px-4 py-3 text-sm text-emerald-900 ring-1 ring-emerald-200">
            {t('admin.event.saved')}
          </p>
        )}
        <EventForm
          initial={initial}
          fixedVenue={event.venue.name}
          submitLabel={t('admin.event.save')}
          busy={save.isPending}
          error={save.error}
          onSubmit={(input, values) => {
            setSaved(false);
            const patch = patchOf(input, initial, values);
            if (Object.keys(patch).length === 0) setSaved(true);
            else save.mutate(patch);
          }}
        />
        <Card className="ring-red-200">
          <h2 className="text-lg font-bold text-red-800">{t('admin.cancel.heading')}</h2>
          {cancelled ? (
            <p role="status" className="mt-2 text-sm text-slate-700">
              {t('admin.cancel.done')}
            </p>
          ) : (
            <>
              <p className="mt-2 mb-4 text-sm text-slate-700">{t('admin.cancel.explain')}</p>
              <Button variant="danger" onClick={() => setCancelling(true)}>
                {t('admin.cancel.open')}
              </Button>
            </>
          )}
        </Card>
      </div>
      {cancelling && (
        <CancelDialog event={event} onClose={() => setCancelling(false)} />
      )}
    </>
  );
}
