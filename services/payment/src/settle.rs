//! Settling an order from what Toss says about its payment — the one place that turns a Toss
//! status into an order status and a reservation change. The confirm call, the reconciler and the
//! webhooks all come here, so they agree, and running it twice (or concurrently) changes nothing
//! the second time: the ticket calls are idempotent, the Toss cancels carry fixed
//! Idempotency-Keys, and order updates are guarded transitions.
//!
//! Every captured payment ends confirmed or refunded, including one Toss reports for an order we
//! had given up on (`settle/late.rs`).

use tiketi_shared::ApiResult;

use crate::PaymentState;
use crate::model::{Order, OrderStatus};
use crate::orders::{self, Facts};
use crate::ticket::{Reservation, ReservationStatus, TicketError};
use crate::toss::{CancelRequest, Payment, PaymentStatus, TossFailure};

mod late;

use late::{late_capture, record_refund_of_failed};

/// Where settling left the order.
#[derive(Debug)]
pub enum Settled {
    /// Captured and the reservation is confirmed; `order` as this call left it, if it moved it.
    /// `reservation` as the ticket role answered, when this call asked it.
    Paid { reservation: Option<Reservation>, order: Option<Box<Order>> },
    /// A virtual account was issued; the seats are held until its due time.
    AwaitingDeposit { reservation: Option<Reservation> },
    /// The hold ended first: nothing is kept (a capture is cancelled, or being cancelled).
    HoldLost,
    /// Toss did not approve.
    Failed { code: String },
    /// Not settled yet (Toss or the ticket role did not answer, or the buyer has not finished);
    /// the reconciler finishes it.
    Pending,
    /// Captured earlier and (partly) refunded since: nothing to do but show it.
    Refunds,
}

impl Settled {
    /// For logs and notes (the variants' contents stay out of them).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Paid { .. } => "paid",
            Self::AwaitingDeposit { .. } => "awaiting deposit",
            Self::HoldLost => "hold lost",
            Self::Failed { .. } => "failed",
            Self::Pending => "pending",
            Self::Refunds => "refunds mirrored",
        }
    }
}

/// The compensation for a capture whose hold was lost: one key per order, so retries replay.
fn void_key(order: &Order) -> String {
    format!("void-{}", order.id)
}

/// Asks Toss to approve, retrying what may be retried. An answered "try again" (`PROVIDER_ERROR`,
/// 5xx) gets a new Idempotency-Key, since the old one would replay that answer; no answer at all
/// reuses the key, so a payment approved behind a lost answer is replayed, not approved twice.
/// "Still processing this key" (409 `IDEMPOTENT_REQUEST_PROCESSING`, met when the retry arrives
/// before the cut-off attempt finished) is no answer yet either: same key, after a pause.
pub async fn confirm_with_toss(state: &PaymentState, order: &Order) -> ApiResult<Result<Payment, TossFailure>> {
    let payment_key = order.payment_key.clone().unwrap_or_default();
    let order_id = order.id.to_string();
    let mut attempt = order.confirm_attempt;
    let mut last = TossFailure::NoAnswer("no attempt made".into());
    for n in 0..state.settings.toss_attempts {
        crate::toss::pause_before_attempt(n).await;
        let key = format!("confirm-{order_id}-{attempt}");
        match state.toss.confirm(&payment_key, &order_id, order.amount.as_won(), &key).await {
            Ok(payment) => return Ok(Ok(payment)),
            Err(TossFailure::Answered(err)) if err.is_retryable() => {
                tracing::warn!(order = %order.id, code = %err.code, "Toss asked to retry the confirm");
                attempt = orders::next_confirm_attempt(&state.pool, order.id).await?;
                last = TossFailure::Answered(err);
            }
            Err(unsettled) if unsettled.is_unsettled() => {
                tracing::warn!(order = %order.id, error = %unsettled, "a confirm is not settled at Toss; asking again with the same key");
                last = unsettled;
            }
            Err(definitive) => return Ok(Err(definitive)),
        }
    }
    Ok(Err(last))
}

/// Settles `order` from Toss's record of its payment (`GET /v1/payments/orders/{orderId}`).
/// A payment the buyer authorised but nobody confirmed (we died mid-call) is confirmed now.
pub async fn from_toss(state: &PaymentState, order: &Order) -> ApiResult<Settled> {
    let found = match state.toss.payment_for_order(&order.id.to_string()).await {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(order = %order.id, error = %err, "looking the payment up at Toss failed");
            return Ok(Settled::Pending);
        }
    };
    match found {
        Some(payment) if matches!(payment.status, PaymentStatus::Ready | PaymentStatus::InProgress) => {
            if order.status != OrderStatus::Confirming || order.payment_key.as_deref() != Some(&payment.payment_key) {
                return Ok(Settled::Pending);
            }
            confirm_again(state, order).await
        }
        Some(payment) => settle(state, order, &payment).await,
        // Toss has no payment for this order: the window was never completed, so the confirm can
        // only fail. Confirming once more gets Toss's own verdict on the payment key.
        None if order.status == OrderStatus::Confirming => confirm_again(state, order).await,
        None => Ok(Settled::Pending),
    }
}

/// A confirm whose first attempt(s) were cut off, made again and settled.
async fn confirm_again(state: &PaymentState, order: &Order) -> ApiResult<Settled> {
    match confirm_with_toss(state, order).await? {
        Ok(payment) => settle(state, order, &payment).await,
        Err(failure) => after_failed_confirm(state, order, failure).await,
    }
}

/// A confirm Toss refused, never answered, or is still processing.
pub async fn after_failed_confirm(state: &PaymentState, order: &Order, failure: TossFailure) -> ApiResult<Settled> {
    match failure {
        // The first request may still approve: left `confirming` for the reconciler, which
        // settles it from Toss's record.
        unsettled if unsettled.is_unsettled() => Ok(Settled::Pending),
        TossFailure::Answered(err) if err.code == "ALREADY_PROCESSED_PAYMENT" => {
            // Approved by an earlier attempt whose answer we lost: settle from the payment itself.
            match state.toss.payment(order.payment_key.as_deref().unwrap_or_default()).await {
                Ok(Some(payment)) => settle(state, order, &payment).await,
                _ => Ok(Settled::Pending),
            }
        }
        TossFailure::Answered(err) if !err.is_retryable() => {
            let facts = Facts::failure(&err.code, &err.message);
            orders::transition(&state.pool, order.id, OrderStatus::Failed, &facts, state.clock.now()).await?;
            metrics::counter!("tiketi_payment_confirms_total", "outcome" => "rejected").increment(1);
            Ok(Settled::Failed { code: err.code })
        }
        _ => Ok(Settled::Pending),
    }
}

/// Applies Toss's word on the payment to the order and its reservation.
pub async fn settle(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    if payment.order_id != order.id.to_string() || payment.total_amount != order.amount.as_won() {
        // Toss checks the amount at confirm; a mismatch here is a bug or an attack — never
        // confirm a reservation on it. Left to a human, loudly.
        tracing::error!(order = %order.id, toss_order = %payment.order_id, toss_amount = payment.total_amount,
            "a Toss payment does not match its order; not applied");
        metrics::counter!("tiketi_payment_mismatches_total").increment(1);
        return Ok(Settled::Pending);
    }
    let now = state.clock.now();
    match payment.status {
        PaymentStatus::Done => match order.status {
            OrderStatus::Confirming | OrderStatus::AwaitingDeposit => capture(state, order, payment).await,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => Ok(current(order)),
            OrderStatus::Created | OrderStatus::Failed => late_capture(state, order, payment).await,
        },
        PaymentStatus::WaitingForDeposit => match order.status {
            OrderStatus::Confirming => await_deposit(state, order, payment).await,
            _ => Ok(current(order)),
        },
        PaymentStatus::Canceled | PaymentStatus::PartialCanceled => cancelled_at_toss(state, order, payment).await,
        PaymentStatus::Aborted | PaymentStatus::Expired => {
            let code = payment.failure.as_ref().and_then(|f| f.code.clone()).unwrap_or_else(|| "ABORTED".into());
            let facts = Facts::of(payment).with_failure(&code, "the payment was not completed");
            if orders::transition(&state.pool, order.id, OrderStatus::Failed, &facts, now).await?.is_some()
                && order.status == OrderStatus::AwaitingDeposit
            {
                release(state, order).await;
            }
            Ok(Settled::Failed { code })
        }
        PaymentStatus::Ready | PaymentStatus::InProgress | PaymentStatus::Unknown => Ok(Settled::Pending),
    }
}

fn current(order: &Order) -> Settled {
    match order.status {
        OrderStatus::Paid => Settled::Paid { reservation: None, order: None },
        OrderStatus::AwaitingDeposit => Settled::AwaitingDeposit { reservation: None },
        OrderStatus::PartiallyRefunded | OrderStatus::Refunded => Settled::Refunds,
        OrderStatus::Failed => Settled::Failed { code: order.failure_code.clone().unwrap_or_default() },
        OrderStatus::Created | OrderStatus::Confirming => Settled::Pending,
    }
}

/// Money is captured: confirm the reservation, or give the money back if the hold was lost.
async fn capture(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    match state.ticket.confirm(order.reservation_id).await {
        Ok(reservation) => mark_paid(state, order, payment, reservation).await,
        Err(TicketError::Refused(_) | TicketError::NotFound) => {
            // Only a reservation that is really gone makes us give the money back.
            match state.ticket.reservation(order.reservation_id).await {
                Ok(found) if found.reservation.status == ReservationStatus::Confirmed => {
                    mark_paid(state, order, payment, found.reservation).await
                }
                Ok(_) | Err(TicketError::NotFound) => compensate(state, order, payment).await,
                Err(err) => {
                    tracing::warn!(order = %order.id, error = %err, "captured, hold state unknown; the reconciler finishes");
                    Ok(Settled::Pending)
                }
            }
        }
        Err(TicketError::Unavailable(err)) => {
            tracing::warn!(order = %order.id, error = %err, "captured, but the ticket role did not answer; the reconciler finishes");
            Ok(Settled::Pending)
        }
    }
}

/// The reservation is confirmed: the order is paid. If the order was not where this call read it
/// (a stale read), whoever moved it settled it — unless it had failed meanwhile, which makes this
/// capture a late one.
async fn mark_paid(
    state: &PaymentState,
    order: &Order,
    payment: &Payment,
    reservation: Reservation,
) -> ApiResult<Settled> {
    let reservation = Some(reservation);
    let moved =
        orders::transition(&state.pool, order.id, OrderStatus::Paid, &Facts::of(payment), state.clock.now()).await?;
    if let Some(moved) = moved {
        metrics::counter!("tiketi_payment_confirms_total", "outcome" => "paid").increment(1);
        return Ok(Settled::Paid { reservation, order: Some(Box::new(moved)) });
    }
    match orders::load(&state.pool, order.id).await? {
        Some(fresh) if matches!(fresh.status, OrderStatus::Created | OrderStatus::Failed) => {
            Box::pin(late_capture(state, &fresh, payment)).await
        }
        _ => Ok(Settled::Paid { reservation, order: None }),
    }
}

/// The hold was lost after Toss captured: cancel the whole payment at Toss.
async fn compensate(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    if payment.is_virtual_account() {
        manual_refund(order, "the deposit arrived after the hold was lost");
        return Ok(Settled::HoldLost);
    }
    let reason = "The seat hold ended before the payment completed";
    let cancelled = match cancel_whole(state, &payment.payment_key, reason, &void_key(order)).await {
        Ok(cancelled) => cancelled,
        Err(err) => {
            tracing::warn!(order = %order.id, error = %err, "cancelling a capture whose hold was lost failed; the reconciler retries");
            return Ok(Settled::HoldLost);
        }
    };
    record_compensation(state, order, &cancelled).await?;
    Ok(Settled::HoldLost)
}

/// A deposited virtual account is refunded to a bank account only the buyer can name.
fn manual_refund(order: &Order, why: &str) {
    tracing::error!(order = %order.id, why, "a virtual-account deposit must be refunded by hand (POST /api/payments/{{order}}/cancel with refund_account)");
    metrics::counter!("tiketi_payment_manual_refunds_total").increment(1);
}

/// Cancels the whole balance under `key`, asking again with the same key while the outcome is
/// unknown (no answer, or Toss still processing the key). Already cancelled: the payment as it is.
async fn cancel_whole(
    state: &PaymentState,
    payment_key: &str,
    reason: &str,
    key: &str,
) -> Result<Payment, TossFailure> {
    let request = CancelRequest::whole(reason);
    let mut last = TossFailure::NoAnswer("no attempt made".into());
    for n in 0..state.settings.toss_attempts {
        crate::toss::pause_before_attempt(n).await;
        match state.toss.cancel(payment_key, &request, key).await {
            Ok(cancelled) => return Ok(cancelled),
            Err(TossFailure::Answered(err)) if err.code == "ALREADY_CANCELED_PAYMENT" => {
                return match state.toss.payment(payment_key).await {
                    Ok(Some(cancelled)) => Ok(cancelled),
                    Ok(None) => Err(TossFailure::Answered(err)),
                    Err(lookup) => Err(lookup),
                };
            }
            Err(unsettled) if unsettled.is_unsettled() => last = unsettled,
            Err(definitive) => return Err(definitive),
        }
    }
    Err(last)
}

/// `confirming → refunded` with the cancelled capture's refund row, in one transaction. There is
/// nothing to release: the reservation was never confirmed.
async fn record_compensation(state: &PaymentState, order: &Order, cancelled: &Payment) -> ApiResult<()> {
    let now = state.clock.now();
    let facts = Facts::of(cancelled).with_failure("HOLD_EXPIRED", "the seat hold ended before the payment completed");
    let mut tx = state.pool.begin().await?;
    let from = [OrderStatus::Confirming];
    let moved = orders::transition_from(&mut *tx, order.id, &from, OrderStatus::Refunded, &facts, now).await?;
    if moved.is_some() {
        record_system_refund(&mut *tx, order, cancelled.cancelled_amount(), "hold expired", now).await?;
        orders::mark_released(&mut *tx, order.id, now).await?;
        metrics::counter!("tiketi_payment_confirms_total", "outcome" => "hold_lost").increment(1);
    }
    tx.commit().await?;
    if moved.is_none() {
        // Failed meanwhile (a stale read): the refund is recorded on the failed order. Any other
        // state was reached by a call that recorded it.
        record_refund_of_failed(state, order.id, cancelled).await?;
    }
    Ok(())
}

/// A virtual account was issued: hold the seats until its due time.
async fn await_deposit(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    let facts = Facts::of(payment);
    let due = facts.va_due_at.unwrap_or_else(|| state.clock.now() + chrono::Duration::hours(1));
    match state.ticket.extend(order.reservation_id, due).await {
        Ok(reservation) => {
            orders::transition(&state.pool, order.id, OrderStatus::AwaitingDeposit, &facts, state.clock.now()).await?;
            Ok(Settled::AwaitingDeposit { reservation: Some(reservation) })
        }
        Err(TicketError::Refused(_) | TicketError::NotFound) => {
            // Nothing was paid yet: close the account so no deposit can arrive.
            let request = CancelRequest::whole("The seat hold ended before the virtual account was issued");
            match state.toss.cancel(&payment.payment_key, &request, &void_key(order)).await {
                Ok(closed) => {
                    let facts = Facts::of(&closed).with_failure("HOLD_EXPIRED", "the seat hold ended");
                    orders::transition(&state.pool, order.id, OrderStatus::Failed, &facts, state.clock.now()).await?;
                }
                Err(err) => {
                    tracing::warn!(order = %order.id, error = %err, "closing a virtual account failed; the reconciler retries")
                }
            }
            Ok(Settled::HoldLost)
        }
        Err(TicketError::Unavailable(err)) => {
            tracing::warn!(order = %order.id, error = %err, "extending the hold failed; the reconciler retries");
            Ok(Settled::Pending)
        }
    }
}

/// Toss shows refunds (ours, or made in Toss's dashboard): mirror them.
async fn cancelled_at_toss(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    let now = state.clock.now();
    let facts = Facts::of(payment);
    match order.status {
        OrderStatus::Confirming if payment.approved_at.is_some() => {
            // Our compensation went through but we did not record it (crash): record it now.
            record_compensation(state, order, payment).await?;
            Ok(Settled::HoldLost)
        }
        OrderStatus::Confirming | OrderStatus::AwaitingDeposit | OrderStatus::Created => {
            // Cancelled before any money moved (a closed virtual account).
            let facts = facts.with_failure("CANCELED", "the payment was cancelled before it completed");
            if orders::transition(&state.pool, order.id, OrderStatus::Failed, &facts, now).await?.is_some()
                && order.status == OrderStatus::AwaitingDeposit
            {
                release(state, order).await;
            }
            Ok(Settled::Failed { code: "CANCELED".into() })
        }
        OrderStatus::Paid | OrderStatus::PartiallyRefunded => {
            // Under the order's row lock, so a refund being recorded by its own call at the same
            // moment is either seen (nothing left to mirror) or waited for — never counted twice.
            let mut tx = state.pool.begin().await?;
            let fresh: Option<Order> = sqlx::query_as("SELECT * FROM payment.orders WHERE id = $1 FOR UPDATE")
                .bind(order.id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(fresh) = fresh else { return Ok(Settled::Pending) };
            if refund_in_flight(&mut *tx, order).await? {
                // Our own refund, not recorded yet: its call records it.
                return Ok(Settled::Pending);
            }
            let mirrored = fresh.balance_amount.as_won() - payment.balance_amount;
            if mirrored <= 0 {
                return Ok(current(&fresh));
            }
            let to = if payment.balance_amount == 0 { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
            let moved = orders::transition(&mut *tx, order.id, to, &facts, now).await?;
            if moved.is_some() {
                record_system_refund(&mut *tx, order, mirrored, "refunded at Toss", now).await?;
            }
            tx.commit().await?;
            if let Some(moved) = moved
                && to == OrderStatus::Refunded
            {
                crate::refunds::release_seats(state, &moved).await;
            }
            Ok(Settled::Refunds)
        }
        OrderStatus::Failed if payment.approved_at.is_some() => {
            // A late capture refunded (by us, not recorded yet, or at Toss): record it.
            record_refund_of_failed(state, order.id, payment).await?;
            Ok(Settled::HoldLost)
        }
        OrderStatus::Refunded | OrderStatus::Failed => Ok(current(order)),
    }
}

async fn refund_in_flight(db: impl sqlx::PgExecutor<'_>, order: &Order) -> ApiResult<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM payment.refunds WHERE order_id = $1 AND status = 'requested'")
            .bind(order.id)
            .fetch_optional(db)
            .await?;
    Ok(found.is_some())
}

/// A refund we did not ask for through the API (compensation, or one made in Toss's dashboard).
async fn record_system_refund(
    db: impl sqlx::PgExecutor<'_>,
    order: &Order,
    amount: i64,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    if amount <= 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO payment.refunds (id, order_id, amount, reason, status, requested_by, created_at, completed_at)
         VALUES ($1, $2, $3, $4, 'done', 'system', $5, $5)",
    )
    .bind(crate::model::RefundId::new())
    .bind(order.id)
    .bind(amount)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Frees a reservation whose payment ended without money (best effort: its hold expires anyway).
async fn release(state: &PaymentState, order: &Order) {
    if let Err(err) = state.ticket.release(order.reservation_id).await {
        tracing::warn!(order = %order.id, error = %err, "releasing the reservation failed; its hold expires on its own");
    }
}
