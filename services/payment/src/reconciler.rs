//! Finishing what a crash, a timeout or a lost webhook left open — in every replica at once
//! (each step is idempotent and each change a guarded transition):
//!
//! - `confirming` orders older than `reconcile_after`: settled from Toss's record
//!   (`GET /v1/payments/orders/{orderId}`); no captured payment stays without a confirmed or
//!   refunded reservation — among them confirms Toss was still processing when we gave up
//!   asking, and failed orders a late capture reopened;
//! - `awaiting_deposit` orders: settled from Toss (a missed deposit webhook), closed when their
//!   hold is gone or their account expired (Toss sends no webhook at the deadline);
//! - refunds still `requested`: sent again with their own Idempotency-Key;
//! - fully refunded orders whose seats the ticket role has not put back on sale;
//! - webhooks stored but not applied;
//! - paid reservations of cancelled events: refunded.

use tokio_util::sync::CancellationToken;

use crate::PaymentState;
use crate::model::{Order, OrderStatus};
use crate::orders::{self, Facts};
use crate::settle::{self, Settled};
use crate::ticket::ReservationStatus;
use crate::toss::CancelRequest;
use crate::{refunds, webhooks};

pub async fn run(state: PaymentState, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(state.settings.reconcile_every) => {}
        }
        if let Err(err) = pass(&state).await {
            tracing::warn!(error = %err, "a reconciler pass failed");
        }
        match backlog(&state).await {
            Ok(backlog) => backlog.export(),
            Err(err) => tracing::warn!(error = %err, "measuring the reconciler's backlog failed"),
        }
    }
}

/// What is still open after a pass: the gauges alerts watch (docs/operations.md, "Monitoring").
/// Every replica exports the same figures, read from the shared database.
#[derive(Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Backlog {
    /// Confirms older than `reconcile_after`: Toss was not asked or did not answer.
    pub confirming_overdue: i64,
    pub awaiting_deposit: i64,
    /// Refunds sent to Toss and not yet answered.
    pub refunds_requested: i64,
    /// Webhooks stored and not applied for longer than `reconcile_after`.
    pub webhooks_unapplied: i64,
    /// Fully refunded orders whose seats the ticket role has not put back on sale.
    pub refunds_unreleased: i64,
    /// Money captured at Toss (`DONE`) for an order neither paid nor refunded, for longer than
    /// `reconcile_after`: must be zero — the invariant "every captured payment ends confirmed or
    /// refunded", seen from outside.
    pub captured_unsettled: i64,
}

impl Backlog {
    fn export(&self) {
        for (kind, value) in [
            ("confirming_overdue", self.confirming_overdue),
            ("awaiting_deposit", self.awaiting_deposit),
            ("refunds_requested", self.refunds_requested),
            ("webhooks_unapplied", self.webhooks_unapplied),
            ("refunds_unreleased", self.refunds_unreleased),
        ] {
            metrics::gauge!("tiketi_payment_backlog", "kind" => kind).set(value as f64);
        }
        metrics::gauge!("tiketi_payment_captured_unsettled").set(self.captured_unsettled as f64);
    }
}

/// Counts each work list through its partial index (each holds only open rows).
pub async fn backlog(state: &PaymentState) -> sqlx::Result<Backlog> {
    let before = state.clock.now() - chrono::Duration::from_std(state.settings.reconcile_after).unwrap_or_default();
    sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM payment.orders
             WHERE status = 'confirming' AND COALESCE(confirm_started_at, updated_at) < $1) AS confirming_overdue,
           (SELECT count(*) FROM payment.orders WHERE status = 'awaiting_deposit') AS awaiting_deposit,
           (SELECT count(*) FROM payment.refunds WHERE status = 'requested') AS refunds_requested,
           (SELECT count(*) FROM payment.webhook_inbox WHERE applied_at IS NULL AND received_at < $1) AS webhooks_unapplied,
           (SELECT count(*) FROM payment.orders WHERE status = 'refunded' AND released_at IS NULL) AS refunds_unreleased,
           (SELECT count(*) FROM payment.orders
             WHERE toss_status = 'DONE' AND status NOT IN ('paid', 'partially_refunded', 'refunded')
               AND updated_at < $1) AS captured_unsettled",
    )
    .bind(before)
    .fetch_one(&state.pool)
    .await
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub confirming: usize,
    pub awaiting_deposit: usize,
    pub refunds: usize,
    pub webhooks: usize,
    pub event_refunds: usize,
}

pub async fn pass(state: &PaymentState) -> tiketi_shared::ApiResult<Pass> {
    let now = state.clock.now();
    let settle_before = now - chrono::Duration::from_std(state.settings.reconcile_after).unwrap_or_default();
    let mut done = Pass::default();

    // An order reopened by a late capture may never have started a confirm of its own.
    let stuck: Vec<Order> = sqlx::query_as(
        "SELECT * FROM payment.orders WHERE status = 'confirming' AND COALESCE(confirm_started_at, updated_at) < $1
         ORDER BY confirm_started_at NULLS FIRST LIMIT 100",
    )
    .bind(settle_before)
    .fetch_all(&state.pool)
    .await?;
    for order in &stuck {
        let settled = settle::from_toss(state, order).await?;
        tracing::info!(order = %order.id, outcome = settled.label(), "reconciled a confirming order");
        done.confirming += 1;
    }

    let waiting: Vec<Order> = sqlx::query_as(
        "SELECT * FROM payment.orders WHERE status = 'awaiting_deposit' AND updated_at < $1 ORDER BY va_due_at LIMIT 100",
    )
    .bind(settle_before)
    .fetch_all(&state.pool)
    .await?;
    for order in &waiting {
        check_deposit(state, order).await?;
        done.awaiting_deposit += 1;
    }

    done.refunds = refunds::retry_requested(state, settle_before).await?;
    refunds::retry_releases(state).await?;
    done.webhooks = webhooks::retry_unapplied(state, now - chrono::Duration::seconds(5)).await?;
    match refunds::refund_cancelled_events(state).await {
        Ok(count) => done.event_refunds = count,
        Err(err) => tracing::warn!(error = %err, "refunding cancelled events failed"),
    }
    Ok(done)
}

/// A virtual account still waiting: settle a deposit we missed, or close the account when its
/// hold is gone or its time is up.
async fn check_deposit(state: &PaymentState, order: &Order) -> tiketi_shared::ApiResult<()> {
    if !matches!(settle::from_toss(state, order).await?, Settled::AwaitingDeposit { .. } | Settled::Pending) {
        return Ok(());
    }
    let expired = order.va_due_at.is_some_and(|due| due <= state.clock.now());
    let hold_gone = match state.ticket.reservation(order.reservation_id).await {
        Ok(found) => found.reservation.status != ReservationStatus::Pending,
        Err(crate::ticket::TicketError::NotFound) => true,
        Err(_) => false,
    };
    if !(expired || hold_gone) {
        return Ok(());
    }
    let request = CancelRequest::whole(if expired { "The deposit deadline passed" } else { "The seat hold ended" });
    let key = format!("close-{}", order.id);
    match state.toss.cancel(order.payment_key.as_deref().unwrap_or_default(), &request, &key).await {
        Ok(payment) if payment.balance_amount == 0 || payment.approved_at.is_none() => {
            let code = if expired { "DEPOSIT_EXPIRED" } else { "HOLD_EXPIRED" };
            let facts = Facts::of(&payment).with_failure(code, "no deposit arrived in time");
            if orders::transition(&state.pool, order.id, OrderStatus::Failed, &facts, state.clock.now())
                .await?
                .is_some()
                && let Err(err) = state.ticket.release(order.reservation_id).await
            {
                tracing::warn!(order = %order.id, error = %err, "releasing an unpaid hold failed; it expires on its own");
            }
        }
        Ok(_) => tracing::warn!(order = %order.id, "closing a virtual account answered a captured payment"),
        Err(err) => tracing::warn!(order = %order.id, error = %err, "closing a virtual account failed; retried"),
    }
    Ok(())
}
