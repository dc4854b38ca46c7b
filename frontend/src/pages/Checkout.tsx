// Where the payment window sends the buyer back: confirm the payment (once), or say why not.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useI18n } from '../i18n';
import { Card, ErrorMessage, Loading, PageTitle, TextLink } from '../ui';
import { VirtualAccount } from './Reservations';

export function CheckoutSuccess() {
  const { t, won } = useI18n();
  const [params] = useSearchParams();
  const queryClient = useQueryClient();
  const paymentKey = params.get('paymentKey') ?? '';
  const orderId = params.get('orderId') ?? '';
  const amount = Number(params.get('amount'));
  const confirm = useMutation({
    mutationFn: () => unwrap(api.POST('/api/payments/confirm', { body: { payment_key: paymentKey, order_id: orderId, amount } })),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: ['reservations'] }),
  });
  // Confirm exactly once per visit, also under React's development double effects.
  const started = useRef(false);
  useEffect(() => {
    if (started.current || !paymentKey || !orderId) return;
    started.current = true;
    confirm.mutate();
  }, [confirm, paymentKey, orderId]);

  if (!paymentKey || !orderId || !Number.isFinite(amount)) {
    return (
      <div className="mx-auto max-w-lg space-y-4">
        <PageTitle>{t('checkout.invalidTitle')}</PageTitle>
        <TextLink to="/me/reservations">{t('checkout.toTickets')}</TextLink>
      </div>
    );
  }
  if (confirm.isError) {
    return (
      <div className="mx-auto max-w-lg space-y-4">
        <PageTitle>{t('checkout.failedTitle')}</PageTitle>
        <ErrorMessage error={confirm.error} />
        <TextLink to="/me/reservations">{t('checkout.toTickets')}</TextLink>
      </div>
    );
  }
  if (!confirm.data) return <Loading label={t('checkout.confirming')} />;
  const { payment, reservation } = confirm.data as { payment: typeof confirm.data.payment; reservation: { id: string } };
  const waiting = payment.status === 'awaiting_deposit';
  return (
    <div className="mx-auto max-w-lg space-y-4">
      <PageTitle>{t(waiting ? 'checkout.depositTitle' : 'checkout.doneTitle')}</PageTitle>
      <Card className="space-y-3">
        <p className="text-slate-800">{t(waiting ? 'checkout.depositText' : 'checkout.doneText', { amount: won(payment.amount) })}</p>
        {payment.virtual_account && <VirtualAccount account={payment.virtual_account} amount={payment.amount} />}
        <Link
          to={`/me/reservations/${reservation.id}`}
          className="inline-flex w-full justify-center rounded-xl bg-brand-700 px-6 py-3 font-bold text-white hover:bg-brand-800"
        >
          {t('checkout.viewTicket')}
        </Link>
      </Card>
    </div>
  );
}

export function CheckoutFail() {
  const { t } = useI18n();
  const [params] = useSearchParams();
  const code = params.get('code');
  const message = params.get('message');
  return (
    <div className="mx-auto max-w-lg space-y-4">
      <PageTitle>{t('checkout.failTitle')}</PageTitle>
      <Card className="space-y-3">
        <p role="alert" className="text-slate-800">
          {code === 'PAY_PROCESS_CANCELED' ? t('checkout.cancelled') : t('checkout.failText')}
        </p>
        {message && <p className="text-sm text-slate-600">{message}</p>}
        <p className="text-sm text-slate-700">{t('checkout.holdKept')}</p>
        <TextLink to="/me/reservations">{t('checkout.toTickets')}</TextLink>
      </Card>
    </div>
  );
}
