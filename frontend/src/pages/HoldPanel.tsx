// A pending reservation: what is held, the time left, and the way to pay or let go.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, unwrap, type Reservation } from '../api/client';
import { useI18n } from '../i18n';
import { clock, useCountdown } from '../lib/countdown';
import { Button, Card, ErrorMessage } from '../ui';

/** Opens the payment window for a pending reservation (the Toss sandbox locally). */
export async function checkout(reservationId: string) {
  const order = await unwrap(api.POST('/api/payments/checkout', { body: { reservation_id: reservationId } }));
  window.location.assign(order.checkout_url);
}

export function HoldPanel({ reservation, onEnded }: { reservation: Reservation; onEnded: () => void }) {
  const { t, won } = useI18n();
  const left = useCountdown(reservation.expires_at);
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const pay = useMutation({ mutationFn: () => checkout(reservation.id), onError: setError });
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST('/api/reservations/{id}/cancel', { params: { path: { id: reservation.id } } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['reservations'] });
      onEnded();
    },
    onError: setError,
  });
  const expired = left === 0;
  return (
    <Card className="space-y-3" >
      <div className="flex items-baseline justify-between gap-4">
        <h2 className="text-lg font-bold">{t('hold.title')}</h2>
        <p
          role="timer"
          aria-live="off"
          aria-label={t('hold.timeLeft')}
          className={`font-mono text-2xl font-bold tabular-nums ${left !== null && left < 120 ? 'text-red-700' : 'text-brand-700'}`}
          data-testid="hold-countdown"
        >
          {clock(left ?? 0)}
        </p>
      </div>
      <ul className="text-sm text-slate-800">
        {reservation.seats.map((s) => (
          <li key={s.id} className="flex justify-between">
            <span>{s.label}</span>
            <span>{won(s.price)}</span>
          </li>
        ))}
      </ul>
      <p className="flex justify-between border-t border-slate-200 pt-2 font-bold">
        <span>{t('hold.total')}</span>
        <span>{won(reservation.amount)}</span>
      </p>
      {expired ? (
        <p role="alert" className="text-sm font-semibold text-red-700">
          {t('hold.expired')}
        </p>
      ) : (
        <p className="text-xs text-slate-600">{t('hold.explain')}</p>
      )}
      {error != null && <ErrorMessage error={error} />}
      <div className="flex flex-col gap-2 sm:flex-row">
        <Button className="flex-1" busy={pay.isPending} disabled={expired} onClick={() => pay.mutate()}>
          {t('hold.pay', { amount: won(reservation.amount) })}
        </Button>
        <Button variant="secondary" busy={cancel.isPending} onClick={() => cancel.mutate()}>
          {t('hold.cancel')}
        </Button>
      </div>
    </Card>
  );
}
