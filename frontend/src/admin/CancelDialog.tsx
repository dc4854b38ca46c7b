// Cancelling an event refunds every buyer and cannot be undone: the operator types the title to confirm.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import { useI18n } from '../i18n';
import { Button, ErrorMessage, Field, inputClass } from '../ui';
import { useFormats } from './parts';
import { adminKeys, sectionsQuery } from './queries';

export function CancelDialog({ event, onClose }: { event: { id: string; title: string }; onClose: () => void }) {
  const { t } = useI18n();
  const f = useFormats();
  const client = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const bodyId = useId();
  const [typed, setTyped] = useState('');
  // Sold seats, to say how many tickets will be refunded; the dialog works without them.
  const sections = useQuery({ ...sectionsQuery(event.id), refetchInterval: false });
  const sold = sections.data?.sections.reduce((sum, s) => sum + s.sold, 0);

  // A modal <dialog>: the browser moves focus into it, keeps Tab inside and reports Escape;
  // on closing, focus goes back to what opened it.
  useEffect(() => {
    const node = dialog.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    node?.showModal();
    return () => {
      node?.close();
      opener?.focus();
    };
  }, []);

  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST('/api/admin/events/{id}/cancel', { params: { path: { id: event.id } } })),
    onSuccess: async () => {
      await Promise.all([
        client.invalidateQueries({ queryKey: adminKeys.all }),
        client.invalidateQueries({ queryKey: ['events'] }),
      ]);
      onClose();
    },
  });
  const confirmed = typed.trim() === event.title.trim();

  return (
    <dialog
      ref={dialog}
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onCancel={(e) => {
        e.preventDefault();
        if (!cancel.isPending) onClose();
      }}
      className="m-auto w-[min(32rem,calc(100%-2rem))] rounded-2xl bg-white p-6 text-slate-900 shadow-xl backdrop:bg-slate-900/60"
    >
      <h2 id={titleId} className="text-xl font-bold">
        {t('admin.cancel.title', { title: event.title })}
      </h2>
      <div id={bodyId} className="mt-3 space-y-2 text-sm text-slate-800">
        <p>{t('admin.cancel.holds')}</p>
        <p>{t('admin.cancel.refunds')}</p>
        {sold != null && <p className="font-semibold">{t('admin.cancel.sold', { count: f.number(sold) })}</p>}
        <p className="font-semibold text-red-800">{t('admin.cancel.final')}</p>
      </div>
      <form
        className="mt-4 space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          if (confirmed) cancel.mutate();
        }}
      >
        <Field label={t('admin.cancel.type', { title: event.title })}>
          <input className={inputClass} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
        </Field>
        {cancel.isError && <ErrorMessage error={cancel.error} />}
        <div className="flex flex-col-reverse gap-3 sm:flex-row sm:justify-end">
          <Button variant="secondary" onClick={onClose} disabled={cancel.isPending}>
            {t('admin.cancel.keep')}
          </Button>
          <Button type="submit" variant="danger" disabled={!confirmed} busy={cancel.isPending}>
            {t('admin.cancel.confirm')}
          </Button>
        </div>
      </form>
    </dialog>
  );
}
