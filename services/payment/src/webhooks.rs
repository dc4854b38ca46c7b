//! Toss webhooks: stored first (the inbox key dedupes retries), then applied.
//!
//! The receiver (`functions/payment-webhook`: a Lambda in the cloud, a route in `tiketi up`)
//! stores the raw delivery and queues it; the worker calls [`store_and_apply`]. The logic here is
//! independent of the transport. `PAYMENT_STATUS_CHANGED` is not signed, so only the payment
//! re-fetched from Toss is trusted; `DEPOSIT_CALLBACK` must carry the secret Toss gave us with the
//! virtual account. Late, duplicated and reordered deliveries change nothing: one older than the
//! newest applied is skipped, and settling is idempotent.

use chrono::{DateTime, Utc};
use tiketi_shared::messages::WebhookDelivery;
use tiketi_shared::{ApiError, ApiResult, ErrorCode};

use crate::PaymentState;
use crate::model::{OrderId, OrderStatus};
use crate::orders;
use crate::settle;
use crate::toss::PaymentStatus;
use crate::toss::model::Webhook;

/// What became of a delivery handed to [`store_and_apply`].
#[derive(Debug)]
pub enum Stored {
    /// Applied now or before (or nothing to apply): done with.
    Applied,
    /// Stored, not applied yet (its confirm is still running, Toss did not answer…): try again.
    NotYet(String),
    /// Not a Toss webhook: it can never be applied.
    Invalid(String),
}

/// Stores a delivery in the payment inbox (once per inbox id) and applies it unless it was applied.
pub async fn store_and_apply(state: &PaymentState, delivery: &WebhookDelivery) -> ApiResult<Stored> {
    let json: serde_json::Value = match serde_json::from_str(&delivery.body) {
        Ok(json) => json,
        Err(_) => return Ok(Stored::Invalid("the body is not JSON".into())),
    };
    let webhook = match Webhook::parse(&json) {
        Ok(webhook) => webhook,
        Err(why) => return Ok(Stored::Invalid(why.to_string())),
    };
    // Toss reports every change it makes, including the ones our own calls just made: a delivery
    // claiming what the order already shows is stored as applied, with no call to Toss.
    let already = already_shown(state, &webhook).await?;
    let now = state.clock.now();
    let inserted = sqlx::query(
        "INSERT INTO payment.webhook_inbox (id, kind, order_id, body, created_at, received_at, applied_at, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&delivery.inbox_id)
    .bind(webhook.kind())
    .bind(webhook.order_id())
    .bind(&json)
    .bind(webhook.created_at())
    .bind(delivery.received_at)
    .bind(already.then_some(now))
    .bind(already.then_some("the order already shows this status"))
    .execute(&state.pool)
    .await?;
    metrics::counter!("tiketi_payment_webhooks_total", "kind" => webhook.kind().to_owned(),
        "duplicate" => if inserted.rows_affected() == 0 { "true" } else { "false" })
    .increment(1);
    if apply_stored(state, &delivery.inbox_id).await {
        Ok(Stored::Applied)
    } else {
        Ok(Stored::NotYet("not applied yet".into()))
    }
}

/// Whether a status change claims exactly what its order already shows (so applying it could
/// change nothing). Only ever used to skip work, never to act: the claim is not signed.
async fn already_shown(state: &PaymentState, webhook: &Webhook) -> ApiResult<bool> {
    let Webhook::PaymentStatusChanged { order_id, .. } = webhook else { return Ok(false) };
    let Ok(id) = order_id.parse::<OrderId>() else { return Ok(false) };
    let Some(order) = orders::load(&state.pool, id).await? else { return Ok(false) };
    Ok(shows(&order, webhook))
}

fn shows(order: &crate::model::Order, webhook: &Webhook) -> bool {
    let Webhook::PaymentStatusChanged { status, balance_amount, .. } = webhook else { return false };
    let shown = match status {
        PaymentStatus::Done => order.status == OrderStatus::Paid,
        PaymentStatus::PartialCanceled => order.status == OrderStatus::PartiallyRefunded,
        PaymentStatus::Canceled => order.status == OrderStatus::Refunded,
        PaymentStatus::WaitingForDeposit => order.status == OrderStatus::AwaitingDeposit,
        _ => false,
    };
    shown && *balance_amount == Some(order.balance_amount.as_won())
}

/// Counts an attempt at stored delivery `$1` unless it was applied; answers its body. The row is
/// found by its key alone (`w`) and tested there: tested on the updated row, `applied_at IS NULL`
/// would let the planner reach it through the index of unapplied deliveries, which statistics
/// taken while all were applied show as empty, and scan every delivery waiting to find one.
pub const COUNT_ATTEMPT: &str = "WITH w AS (SELECT id, applied_at FROM payment.webhook_inbox WHERE id = $1 FOR UPDATE)
    UPDATE payment.webhook_inbox t SET attempts = t.attempts + 1 FROM w WHERE t.id = w.id AND w.applied_at IS NULL
    RETURNING t.body";

/// Applies a stored delivery once; failures are recorded for the next attempt.
/// Answers whether it is done with (applied now or before).
pub async fn apply_stored(state: &PaymentState, id: &str) -> bool {
    let row: Result<Option<(serde_json::Value,)>, _> =
        sqlx::query_as(COUNT_ATTEMPT).bind(id).fetch_optional(&state.pool).await;
    let body = match row {
        Ok(Some((body,))) => body,
        Ok(None) => return true,
        Err(err) => {
            tracing::warn!(webhook = id, error = %err, "reading a stored webhook failed");
            return false;
        }
    };
    let outcome = match Webhook::parse(&body) {
        Ok(webhook) => apply(state, &webhook).await,
        Err(why) => Ok(format!("unreadable: {why}")),
    };
    let (applied, note) = match outcome {
        Ok(note) => (true, note),
        Err(err) => (false, err.to_string()),
    };
    let saved = sqlx::query(
        "UPDATE payment.webhook_inbox SET applied_at = CASE WHEN $2 THEN $3 END, last_error = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(applied)
    .bind(state.clock.now())
    .bind(&note)
    .execute(&state.pool)
    .await;
    if let Err(err) = saved {
        tracing::warn!(webhook = id, error = %err, "recording a webhook's outcome failed");
    }
    applied
}

/// Applies one webhook. `Ok(note)`: done with (applied, or nothing to do, said in the note);
/// `Err`: try again later.
pub async fn apply(state: &PaymentState, webhook: &Webhook) -> ApiResult<String> {
    let Some(order_id) = webhook.order_id() else { return Ok(format!("{} is not applied", webhook.kind())) };
    let Ok(id) = order_id.parse::<OrderId>() else { return Ok("not one of our orders".into()) };
    let Some(order) = orders::load(&state.pool, id).await? else { return Ok("no such order".into()) };
    match webhook {
        Webhook::PaymentStatusChanged { created_at, payment_key, .. } => {
            if shows(&order, webhook) {
                return Ok("the order already shows this status".into());
            }
            let in_progress = chrono::Duration::from_std(state.settings.reconcile_after).unwrap_or_default();
            if order.status == OrderStatus::Confirming
                && order.confirm_started_at.is_some_and(|at| at > state.clock.now() - in_progress)
            {
                // The confirm call is settling this very payment; applied later if still needed.
                return Err(ApiError::new(ErrorCode::PaymentInProgress).detail("a confirm is in progress"));
            }
            if let Some(at) = created_at
                && !newer(state, &order, *at).await?
            {
                return Ok("older than a delivery already applied".into());
            }
            // Not signed: trust only what Toss says when asked.
            let payment = match state.toss.payment(payment_key).await {
                Ok(Some(payment)) if payment.order_id == order_id => payment,
                Ok(_) => return Ok("Toss knows no such payment for this order".into()),
                Err(err) => return Err(ApiError::unavailable(err)),
            };
            let settled = settle::settle(state, &order, &payment).await?;
            let captured_or_refunded = matches!(
                payment.status,
                PaymentStatus::Done | PaymentStatus::Canceled | PaymentStatus::PartialCanceled
            );
            if matches!(settled, settle::Settled::Pending) && captured_or_refunded {
                return Err(ApiError::new(ErrorCode::PaymentPending).detail("not settled yet; applied again later"));
            }
            Ok(settled.label().to_owned())
        }
        Webhook::DepositCallback { created_at, secret, status, .. } => {
            let Some(expected) = order.va_secret.as_deref() else {
                // Toss also calls back when it issues the account, which can beat the confirm's
                // answer here. A deposit must wait until we know the account's secret.
                if *status == PaymentStatus::Done
                    && matches!(order.status, OrderStatus::Created | OrderStatus::Confirming)
                {
                    return Err(
                        ApiError::new(ErrorCode::PaymentPending).detail("the account's secret is not known yet")
                    );
                }
                return Ok(format!("deposit {status:?} for an order without a virtual account (secret): ignored"));
            };
            if !constant_time_eq(expected.as_bytes(), secret.as_bytes()) {
                tracing::warn!(order = %order.id, "a DEPOSIT_CALLBACK with a wrong secret was ignored");
                metrics::counter!("tiketi_payment_webhooks_rejected_total").increment(1);
                return Ok("wrong secret: ignored".into());
            }
            if let Some(at) = created_at
                && !newer(state, &order, *at).await?
            {
                return Ok("older than a delivery already applied".into());
            }
            if *status != PaymentStatus::Done || order.status != OrderStatus::AwaitingDeposit {
                // A reverted deposit (DONE → WAITING_FOR_DEPOSIT) or a repeat: Toss's record decides.
                return Ok(format!("deposit {status:?} for an order {}: nothing to do", order.status.as_str()));
            }
            let settled = settle::from_toss(state, &order).await?;
            if matches!(settled, settle::Settled::Pending) {
                return Err(ApiError::new(ErrorCode::PaymentPending).detail("deposit not settled yet"));
            }
            Ok(settled.label().to_owned())
        }
        Webhook::Other { event_type } => Ok(format!("{event_type} is not applied")),
    }
}

async fn newer(state: &PaymentState, order: &crate::model::Order, at: DateTime<Utc>) -> ApiResult<bool> {
    Ok(orders::note_webhook(&state.pool, order.id, at).await?)
}

/// Deliveries stored but not applied (a crash, Toss or the ticket role down): applied again.
pub async fn retry_unapplied(state: &PaymentState, older_than: DateTime<Utc>) -> ApiResult<usize> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM payment.webhook_inbox WHERE applied_at IS NULL AND received_at < $1 AND attempts < 20
         ORDER BY received_at LIMIT 1000",
    )
    .bind(older_than)
    .fetch_all(&state.pool)
    .await?;
    for id in &ids {
        apply_stored(state, id).await;
    }
    Ok(ids.len())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
