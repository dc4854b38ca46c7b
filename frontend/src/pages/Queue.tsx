// The waiting room: join (idempotent — a refresh keeps the place), then follow the position
// pushed over /ws, polling while the socket is not open (a poll also keeps the place alive).
// The place's receipt is kept: told the place is gone, the page shows it once before believing it
// (the waiting room may have lost its state), and a reload joins with it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { api, unwrap, type QueueStatus } from '../api/client';
import { ApiError } from '../api/problem';
import { useI18n } from '../i18n';
import { admit, forgetQueueReceipt, keepQueueReceipt, queueReceipt } from '../lib/admission';
import { solveInWorker } from '../lib/proof';
import { clock } from '../lib/countdown';
import { useChannel, useSocketState, type ServerMessage } from '../lib/realtime';
import { Button, Card, ErrorMessage, Loading, PageTitle } from '../ui';
import { useEvent } from './Event';

type Waiting = Extract<QueueStatus, { status: 'waiting' }>;
const POLL_MS = 3000;

/**
 * How far along the queue this waiter is, from the first position it was given (kept per tab):
 * the admission itself is the last step, so first in line is close to, never at, the end.
 */
export function progress(eventId: string, position: number): number {
  const key = `tiketi.queue.start.${eventId}`;
  const start = Math.max(Number(sessionStorage.getItem(key)) || 0, position);
  sessionStorage.setItem(key, String(start));
  return Math.min(1, Math.max(0, (start - position + 1) / (start + 1)));
}

export function QueuePage() {
  const { id = '' } = useParams();
  const { t, number, dateTime } = useI18n();
  const navigate = useNavigate();
  const event = useEvent(id);
  const socket = useSocketState();
  const [waiting, setWaiting] = useState<Waiting | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [joined, setJoined] = useState(false);
  const [proving, setProving] = useState(false);
  const done = useRef(false);

  const admitted = useCallback(
    (token: string, expiresAt: string) => {
      if (done.current) return;
      done.current = true;
      admit(id, token, expiresAt);
      navigate(`/events/${id}/seats`, { replace: true });
    },
    [id, navigate],
  );

  const take = useCallback(
    (answer: QueueStatus) => {
      if (answer.status === 'admitted') {
        forgetQueueReceipt(id);
        admitted(answer.admission_token, answer.expires_at);
      } else {
        keepQueueReceipt(id, answer.receipt);
        setWaiting(answer);
      }
    },
    [admitted, id],
  );

  const join = useCallback(async () => {
    setError(null);
    let proof: string | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const receipt = queueReceipt(id) ?? undefined;
      const header = { 'X-Queue-Receipt': receipt, 'X-Queue-Proof': proof };
      try {
        take(await unwrap(api.POST('/api/events/{id}/queue', { params: { path: { id }, header } })));
        setJoined(true);
        return;
      } catch (e) {
        if (e instanceof ApiError && e.code === 'PROOF_REQUIRED') {
          // The waiting room asks for proof of work: solve its challenge off the page's thread.
          setProving(true);
          const started = performance.now();
          proof = await solveInWorker(String(e.problem.challenge), Number(e.problem.difficulty)).finally(() =>
            setProving(false),
          );
          performance.measure('queue:proof', { start: started, detail: { difficulty: e.problem.difficulty } });
        } else if (receipt && e instanceof ApiError && e.status === 422) {
          forgetQueueReceipt(id); // a receipt this waiting room does not know (another deployment's)
        } else {
          return setError(e);
        }
      }
    }
    setError(new ApiError({ status: 428, code: 'PROOF_REQUIRED' }));
  }, [id, take]);

  // Told the place is gone: show the receipt once (the room may have lost its state) before
  // believing it.
  const lost = useCallback(
    async (e: unknown) => {
      const receipt = queueReceipt(id);
      if (!(e instanceof ApiError && e.code === 'NOT_IN_QUEUE') || !receipt) return setError(e);
      forgetQueueReceipt(id);
      try {
        take(await unwrap(api.GET('/api/events/{id}/queue', { params: { path: { id }, header: { 'X-Queue-Receipt': receipt } } })));
      } catch (again) {
        setError(again);
      }
    },
    [id, take],
  );

  useEffect(() => {
    void join();
  }, [join]);

  useChannel(joined ? `queue:${id}` : null, (message: ServerMessage) => {
    if (message.type === 'queue.position') setWaiting((w) => (w ? { ...w, ...(message as Partial<Waiting>) } : w));
    if (message.type === 'queue.admitted') admitted(String(message.admission_token), String(message.expires_at));
    if (message.type === 'error' && message.code === 'NOT_IN_QUEUE') void lost(new ApiError({ status: 404, code: 'NOT_IN_QUEUE' }));
  });

  // Polling while the socket is not open: the fallback, and what keeps the place alive then.
  useEffect(() => {
    if (!joined || socket === 'open') return;
    const timer = setInterval(() => {
      unwrap(api.GET('/api/events/{id}/queue', { params: { path: { id } } })).then(take, lost);
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [id, joined, lost, socket, take]);

  async function leave() {
    forgetQueueReceipt(id);
    await api.DELETE('/api/events/{id}/queue', { params: { path: { id } } });
    navigate(`/events/${id}`);
  }

  const title = event.data?.title ?? '';
  if (error) {
    const lost = error instanceof ApiError && error.code === 'NOT_IN_QUEUE';
    return (
      <div className="mx-auto max-w-lg space-y-4">
        <PageTitle>{title}</PageTitle>
        <ErrorMessage error={error} retry={lost || !(error instanceof ApiError) || error.status >= 429 ? () => void join() : undefined} />
      </div>
    );
  }
  if (!waiting) return <Loading label={t(proving ? 'queue.proving' : 'queue.joining')} />;
  const share = progress(id, waiting.position);
  const opensLater = event.data && Date.parse(event.data.sale_opens_at) > Date.now();
  return (
    <div className="mx-auto max-w-lg">
      <PageTitle sub={title}>{t('queue.title')}</PageTitle>
      <Card className="space-y-6 text-center">
        <div aria-live="polite" aria-atomic="true" className="space-y-1">
          <p className="text-sm font-semibold text-slate-600">{t('queue.position')}</p>
          <p className="text-5xl font-extrabold tabular-nums text-brand-700" data-testid="queue-position">
            {number(waiting.position)}
          </p>
          <p className="text-slate-700">{t('queue.ahead', { ahead: number(waiting.ahead), size: number(waiting.queue_size) })}</p>
        </div>
        <div>
          <div
            role="progressbar"
            aria-label={t('queue.progress')}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(share * 100)}
            className="h-3 overflow-hidden rounded-full bg-slate-200"
          >
            <div className="h-full bg-brand-600 transition-all duration-700" style={{ width: `${Math.round(share * 100)}%` }} />
          </div>
          <p className="mt-2 text-sm text-slate-700">
            {opensLater && event.data
              ? t('queue.opensAt', { time: dateTime(event.data.sale_opens_at) })
              : waiting.eta_seconds == null
                ? t('queue.etaUnknown')
                : t('queue.eta', { eta: clock(waiting.eta_seconds) })}
          </p>
        </div>
        <p className="rounded-xl bg-amber-50 p-3 text-sm text-amber-900">{t('queue.keepOpen')}</p>
        <p className="text-xs text-slate-600">{socket === 'open' ? t('queue.live') : t('queue.polling')}</p>
        <Button variant="ghost" onClick={() => void leave()}>
          {t('queue.leave')}
        </Button>
      </Card>
    </div>
  );
}
