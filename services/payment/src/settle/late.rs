//! Late captures: Toss captured for an order we had given up on (`failed`) or never confirmed
//! (`created`). The money still ends confirmed or refunded, and a reservation is paid once.

use tiketi_shared::ApiResult;

use super::{Settled, cancel_whole, capture, manual_refund, record_system_refund, void_key};
use crate::PaymentState;
use crate::model::{Order, OrderId, OrderStatus};
use crate::orders::{self, Facts};
use crate::toss::Payment;

/// Toss captured for an order that is `failed` (we gave up on it: a DONE that raced an ABORTED,
/// a confirm answered wrongly) or still `created`. The money must end confirmed or refunded, and
/// a reservation is paid once: the order is reopened (`→ confirming`) and settled like any capture
/// — confirmed if the hold stands, else cancelled — unless another order of the reservation is
/// live, in which case this capture is refunded. A rival order that is only `created` (nothing
/// captured, its buyer perhaps still in the window) gives way to the money already taken.
pub(super) async fn late_capture(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    metrics::counter!("tiketi_payment_late_captures_total").increment(1);
    match reopen(state, order, payment).await? {
        Reopen::Reopened(reopened) => {
            tracing::warn!(order = %order.id, was = order.status.as_str(), "Toss captured for an order we had not confirmed; settling it now");
            capture(state, &reopened, payment).await
        }
        Reopen::Taken => {
            tracing::warn!(order = %order.id, "Toss captured for an order whose reservation another order holds; refunding it");
            refund_superseded(state, order, payment).await
        }
        // Another call reopened or settled it at the same moment and finishes it (a webhook is
        // applied again later and then finds the order as it ended).
        Reopen::Moved => Ok(Settled::Pending),
    }
}

/// The partial unique index that keeps one order per reservation that has not failed.
const ONE_LIVE_ORDER: &str = "orders_one_live_per_reservation";

enum Reopen {
    Reopened(Box<Order>),
    /// Another order of the reservation is live (the partial unique index refused this one).
    Taken,
    /// Not `created` or `failed` any more.
    Moved,
}

/// `created | failed → confirming`, failing first (in the same transaction) a rival order of the
/// reservation that is only `created`.
async fn reopen(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Reopen> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    if let Some(rival) = orders::live_for_reservation(&mut *tx, order.reservation_id).await?
        && rival.id != order.id
        && rival.status == OrderStatus::Created
    {
        let facts = Facts::failure("SUPERSEDED", "an earlier order of the reservation was paid");
        let from = [OrderStatus::Created];
        orders::transition_from(&mut *tx, rival.id, &from, OrderStatus::Failed, &facts, now).await?;
    }
    let from = [OrderStatus::Created, OrderStatus::Failed];
    match orders::transition_from(&mut *tx, order.id, &from, OrderStatus::Confirming, &Facts::of(payment), now).await {
        Ok(Some(reopened)) => {
            tx.commit().await?;
            Ok(Reopen::Reopened(Box::new(reopened)))
        }
        Ok(None) => Ok(Reopen::Moved),
        // Dropping the transaction rolls back the rival's change too.
        Err(err) if tiketi_shared::error::unique_violation(&err) == Some(ONE_LIVE_ORDER) => Ok(Reopen::Taken),
        Err(err) => Err(err.into()),
    }
}

/// Another order pays for the reservation: this capture is cancelled whole (the order's fixed
/// void key) and the refund recorded on the order, which stays `failed` — the reservation's one
/// live order is the other. `Pending` while Toss has not cancelled, so a webhook is applied again.
async fn refund_superseded(state: &PaymentState, order: &Order, payment: &Payment) -> ApiResult<Settled> {
    if payment.is_virtual_account() {
        manual_refund(order, "another order holds the reservation");
        return Ok(Settled::HoldLost);
    }
    let reason = "Another order paid for the same reservation";
    match cancel_whole(state, &payment.payment_key, reason, &void_key(order)).await {
        Ok(cancelled) => {
            record_refund_of_failed(state, order.id, &cancelled).await?;
            Ok(Settled::HoldLost)
        }
        Err(err) => {
            tracing::warn!(order = %order.id, error = %err, "refunding a capture of a superseded order failed; retried");
            Ok(Settled::Pending)
        }
    }
}

/// Records, once, the refund of a capture whose order is `failed` (under the order's row lock, so
/// the refund's own call and its webhook count it once). Only a late capture is ever refunded
/// while its order is failed, so any refund row such an order has is this one.
pub(super) async fn record_refund_of_failed(state: &PaymentState, id: OrderId, cancelled: &Payment) -> ApiResult<()> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let fresh: Option<Order> = sqlx::query_as("SELECT * FROM payment.orders WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(fresh) = fresh.filter(|o| o.status == OrderStatus::Failed) else { return Ok(()) };
    let recorded: Option<i32> = sqlx::query_scalar("SELECT 1 FROM payment.refunds WHERE order_id = $1 LIMIT 1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if recorded.is_none() {
        record_system_refund(&mut *tx, &fresh, cancelled.cancelled_amount(), "captured after the order failed", now)
            .await?;
        metrics::counter!("tiketi_payment_confirms_total", "outcome" => "late_capture_refunded").increment(1);
    }
    tx.commit().await?;
    if cancelled.balance_amount > 0 {
        tracing::error!(order = %id, balance = cancelled.balance_amount, "a failed order's capture is only partly refunded; refund the rest by hand");
    }
    Ok(())
}
