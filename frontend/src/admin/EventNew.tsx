// Create an event; its seats are generated from the chosen venue.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { useI18n } from '../i18n';
import { PageTitle } from '../ui';
import { EventForm, valuesOf } from './EventForm';
import { adminKeys } from './queries';

export default function EventNew() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const client = useQueryClient();
  const create = useMutation({
    mutationFn: (body: Schemas['EventInput']) => unwrap(api.POST('/api/admin/events', { body })),
    onSuccess: async (event) => {
      await Promise.all([
        client.invalidateQueries({ queryKey: adminKeys.events }),
        client.invalidateQueries({ queryKey: ['events'] }),
      ]);
      navigate(`/admin/events/${event.id}`);
    },
  });
  return (
    <>
      <PageTitle sub={t('admin.event.newSubtitle')}>{t('admin.events.new')}</PageTitle>
      <div className="max-w-3xl">
        <EventForm
          initial={valuesOf()}
          submitLabel={t('admin.event.create')}
          busy={create.isPending}
          error={create.error}
          onSubmit={(input) => create.mutate(input)}
        />
      </div>
    </>
  );
}
