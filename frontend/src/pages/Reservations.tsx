// My tickets: the list, and one ticket with its QR code, payment and what can still be done.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, unwrap, type PaymentView, type Reservation } from '../api/client';
import { useI18n } from '../i18n';
import { BANKS, bankName } from '../lib/banks';
import { clock, useCountdown } from '../lib/countdown';
import { Badge, Button, Card, Empty, ErrorMessage, Field, inputClass, Loading, PageTitle, TextLink } from '../ui';
import { useEvent } from './Event';
import { checkout } from './HoldPanel';

export function ReservationsPage() {
  const { t, won, dateTime } = useI18n();
  const list = useQuery({ queryKey: ['reservations'], queryFn: () => unwrap(api.GET('/api/reservations')) });
  return (
    <>
      <PageTitle>{t('tickets.title')}</PageTitle>
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <ErrorMessage error={list.error} retry={() => void list.refetch()} />
      ) : list.data.items.length === 0 ? (
        <Empty>
          {t('tickets.empty')} <TextLink to="/">{t('tickets.browse')}</TextLink>
        </Empty>
      ) : (
        <ul className="space-y-3">
          {list.data.items.map((r) => (
            <li key={r.id}>
              <Link
                to={`/me/reservations/${r.id}`}
                className="flex flex-wrap items-center justify-between gap-3 rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200 hover:ring-brand-500"
              >
                <div>
                  <p className="font-semibold">{r.seats.map((s) => s.label).join(', ')}</p>
                  <p className="text-sm text-slate-600">{dateTime(r.created_at)}</p>
                </div>
                <div className="flex items-center gap-3">
                  <span className="font-semibold">{won(r.amount)}</span>
                  <Badge tone={r.status}>{t(`reservation.${r.status}`)}</Badge>
                </div>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function QrCode({ text, label }: { text: string; label: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void import('qrcode').then((qr) =>
      qr.toString(text, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }).then((svg) => {
        if (live) setSrc(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`);
      }),
    );
    return () => {
      live = false;
    };
  }, [text]);
  return src ? <img src={src} alt={label} className="h-48 w-48" /> : <div className="h-48 w-48 animate-pulse rounded bg-slate-100" />;
}

export function VirtualAccount({ account, amount }: { account: NonNullable<PaymentView['virtual_account']>; amount: number }) {
  const { t, won, dateTime, lang } = useI18n();
  return (
    <div className="rounded-xl bg-amber-50 p-4 text-sm text-amber-950 ring-1 ring-amber-200">
      <p className="mb-2 font-bold">{t('va.title')}</p>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1">
        <dt>{t('va.bank')}</dt>
        <dd className="font-semibold">{bankName(account.bank_code, lang)}</dd>
        <dt>{t('va.account')}</dt>
        <dd className="font-mono font-semibold">{account.account_number ?? '—'}</dd>
        <dt>{t('va.amount')}</dt>
        <dd className="font-semibold">{won(amount)}</dd>
        {account.due_at && (
          <>
            <dt>{t('va.due')}</dt>
            <dd className="font-semibold">{dateTime(account.due_at)}</dd>
          </>
        )}
      </dl>
    </div>
  );
}

/** Where a transfer is refunded to: Toss pays a virtual-account payment back to a bank account. */
function RefundAccountFields() {
  const { t, lang } = useI18n();
  return (
    <div className="grid gap-3 sm:grid-cols-3">
      <Field label={t('refund.bank')}>
        <select name="bank" required className={inputClass}>
          {Object.entries(BANKS).map(([code, name]) => (
            <option key={code} value={code}>
              {name[lang]}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('refund.account')}>
        <input name="account_number" required inputMode="numeric" autoComplete="off" className={inputClass} />
      </Field>
      <Field label={t('refund.holder')}>
        <input name="holder_name" required autoComplete="name" className={inputClass} />
      </Field>
    </div>
  );
}

function Actions({ reservation, payment }: { reservation: Reservation; payment: PaymentView | undefined }) {
  const { t } = useI18n();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ['reservations'] });
    void queryClient.invalidateQueries({ queryKey: ['reservation', reservation.id] });
    void queryClient.invalidateQueries({ queryKey: ['payments', reservation.id] });
  };
  const done = () => {
    setConfirming(false);
    refresh();
  };
  // A pending hold is released by the reservation; a paid one is refunded by its order.
  const release = useMutation({
    mutationFn: () => unwrap(api.POST('/api/reservations/{id}/cancel', { params: { path: { id: reservation.id } } })),
    onSuccess: done,
  });
  const refund = useMutation({
    mutationFn: (form: FormData) =>
      unwrap(
        api.POST('/api/payments/{order_id}/cancel', {
          params: { path: { order_id: payment!.order_id } },
          body: {
            reason: 'requested by the buyer',
            refund_account: form.has('bank')
              ? { bank: String(form.get('bank')), account_number: String(form.get('account_number')), holder_name: String(form.get('holder_name')) }
              : null,
          },
        }),
      ),
    onSuccess: done,
  });
  const pay = useMutation({ mutationFn: () => checkout(reservation.id) });
  const pending = reservation.status === 'pending';
  const refundable = reservation.status === 'confirmed' && !!payment && payment.balance_amount > 0;
  if (!pending && !refundable) return null;
  const transfer = payment?.virtual_account != null;
  const error = release.error ?? refund.error ?? pay.error;
  return (
    <div className="space-y-3">
      {error != null && <ErrorMessage error={error} />}
      {confirming ? (
        <form
          aria-label={t('ticket.confirmTitle')}
          className="space-y-3 rounded-xl bg-red-50 p-4 ring-1 ring-red-200"
          onSubmit={(e) => {
            e.preventDefault();
            if (pending) release.mutate();
            else refund.mutate(new FormData(e.currentTarget));
          }}
        >
          <p className="text-sm text-red-900">{t(pending ? 'ticket.confirmRelease' : 'ticket.confirmRefund')}</p>
          {!pending && transfer && <RefundAccountFields />}
          <div className="flex gap-2">
            <Button type="submit" variant="danger" busy={release.isPending || refund.isPending}>
              {t(pending ? 'ticket.release' : 'ticket.refund')}
            </Button>
            <Button variant="secondary" onClick={() => setConfirming(false)}>
              {t('common.back')}
            </Button>
          </div>
        </form>
      ) : (
        <div className="flex flex-col gap-2 sm:flex-row">
          {pending && payment?.status !== 'awaiting_deposit' && (
            <Button busy={pay.isPending} onClick={() => pay.mutate()}>
              {t('ticket.pay')}
            </Button>
          )}
          <Button variant="secondary" onClick={() => setConfirming(true)}>
            {t(pending ? 'ticket.release' : 'ticket.refund')}
          </Button>
        </div>
      )}
    </div>
  );
}

export function ReservationPage() {
  const { id = '' } = useParams();
  const { t, won, dateTime } = useI18n();
  const reservation = useQuery({
    queryKey: ['reservation', id],
    queryFn: () => unwrap(api.GET('/api/reservations/{id}', { params: { path: { id } } })),
    // A virtual account is paid (or a refund lands) while the buyer looks at the page.
    refetchInterval: (query) => (query.state.data?.reservation.status === 'pending' ? 5000 : false),
  });
  const payments = useQuery({
    queryKey: ['payments', id],
    queryFn: () => unwrap(api.GET('/api/payments', { params: { query: { reservation_id: id } } })),
    refetchInterval: reservation.data?.reservation.status === 'pending' ? 5000 : false,
  });
  const left = useCountdown(reservation.data?.reservation.status === 'pending' ? reservation.data.reservation.expires_at : null);
  const event = useEvent(reservation.data?.reservation.event_id);
  if (reservation.isPending) return <Loading />;
  if (reservation.isError) return <ErrorMessage error={reservation.error} retry={() => void reservation.refetch()} />;
  const r = reservation.data.reservation;
  const payment = payments.data?.items[0];
  return (
    <div className="mx-auto max-w-2xl">
      <PageTitle sub={event.data && `${event.data.artist} · ${dateTime(event.data.starts_at)} · ${event.data.venue.name}`}>
        {event.data?.title ?? t('ticket.title')}
      </PageTitle>
      <Card className="grid gap-6 sm:grid-cols-[auto_1fr]">
        <div className="flex flex-col items-center gap-2">
          {r.status === 'confirmed' ? (
            <QrCode text={r.id} label={t('ticket.qr', { id: r.id })} />
          ) : (
            <div className="flex h-48 w-48 items-center justify-center rounded bg-slate-100 p-4 text-center text-sm text-slate-600">
              {t('ticket.noQr')}
            </div>
          )}
          <code className="max-w-48 break-all text-center text-xs text-slate-600">{r.id}</code>
        </div>
        <div className="space-y-4">
          <div className="flex items-center gap-3">
            <Badge tone={r.status}>{t(`reservation.${r.status}`)}</Badge>
            {left !== null && left > 0 && (
              <span role="timer" className="font-mono text-sm font-semibold text-red-700">
                {t('ticket.holdLeft', { time: clock(left) })}
              </span>
            )}
          </div>
          <ul className="divide-y divide-slate-100">
            {r.seats.map((s) => (
              <li key={s.id} className="flex justify-between py-1.5">
                <span className="font-semibold">{s.label}</span>
                <span>{won(s.price)}</span>
              </li>
            ))}
          </ul>
          <p className="flex justify-between font-bold">
            <span>{t('hold.total')}</span>
            <span>{won(r.amount)}</span>
          </p>
          <p className="text-sm text-slate-600">
            {t('ticket.booked', { time: dateTime(r.created_at) })} · <TextLink to={`/events/${r.event_id}`}>{t('ticket.event')}</TextLink>
          </p>
          {payment && (
            <div className="space-y-2 text-sm text-slate-700">
              <p>
                {t('ticket.payment', { method: payment.method ?? '—', status: t(`order.${payment.status}`) })}
                {payment.receipt_url && (
                  <>
                    {' · '}
                    <a href={payment.receipt_url} target="_blank" rel="noreferrer" className="font-semibold text-brand-700 underline">
                      {t('ticket.receipt')}
                    </a>
                  </>
                )}
              </p>
              {payment.status === 'awaiting_deposit' && payment.virtual_account && (
                <VirtualAccount account={payment.virtual_account} amount={payment.amount} />
              )}
            </div>
          )}
          <Actions reservation={r} payment={payment} />
        </div>
      </Card>
    </div>
  );
}
