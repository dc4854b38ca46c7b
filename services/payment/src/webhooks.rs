//! Toss webhooks: stored first (the transmission id dedupes retries), then applied.
//!
//! The logic is independent of the transport: [`receive`] takes the body and headers, so the
//! in-process route and a Lambda wrapper share it. `PAYMENT_STATUS_CHANGED` is not signed, so
//! only the payment re-fetched from Toss is trusted; `DEPOSIT_CALLBACK` must carry the secret Toss
//! gave us with the virtual account. Late, duplicated and reordered deliveries change nothing:
//! one older than the newest applied is skipped, and settling is idempotent.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tiketi_shared::error::Problem;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json};

use crate::PaymentState;
use crate::model::{OrderId, OrderStatus};
use crate::orders;
use crate::settle;
use crate::toss::PaymentStatus;
use crate::toss::model::Webhook;

pub const TRANSMISSION_ID: &str = "tosspayments-webhook-transmission-id";

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    /// `stored`, or `duplicate` for a delivery already received.
    pub status: &'static str,
}

/// Toss's webhook endpoint. 200 once the delivery is stored; applying it happens right after
/// (and is retried by the reconciler if it fails), so Toss never waits on our downstream calls.
#[utoipa::path(post, path = "/webhooks/toss", tag = "payments",
    request_body(content = Object, description = "a Toss webhook: PAYMENT_STATUS_CHANGED or DEPOSIT_CALLBACK"),
    responses((status = 200, body = Received), (status = 400, description = "`INVALID_WEBHOOK`", body = Problem)))]
pub async fn toss_webhook(
    State(state): State<PaymentState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let transmission = headers.get(TRANSMISSION_ID).and_then(|v| v.to_str().ok());
    let (received, stored) = receive(&state, transmission, &body).await?;
    if let Some(id) = stored {
        let state = state.clone();
        // Detached: the delivery is stored, so a failure here is retried by the reconciler. A
        // delivery that raced its own confirm call usually finds it finished a moment later.
        tokio::spawn(async move {
            for wait in [0, 500, 2000] {
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if apply_stored(&state, &id).await {
                    return;
                }
            }
        });
    }
    Ok(Json(received))
}

/// Validates and stores one delivery. Answers whether it was new, and its inbox id if so.
pub async fn receive(
    state: &PaymentState,
    transmission_id: Option<&str>,
    body: &[u8],
) -> ApiResult<(Received, Option<String>)> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::new(ErrorCode::InvalidWebhook).detail("the body is not JSON"))?;
    let webhook = Webhook::parse(&json).map_err(|why| ApiError::new(ErrorCode::InvalidWebhook).detail(why))?;
    let id = match transmission_id {
        Some(id) if !id.is_empty() && id.len() <= 200 => id.to_owned(),
        // No transmission id: the body itself identifies the delivery.
        _ => format!("sha256:{:x}", Sha256::digest(body)),
    };
    // Toss reports every change it makes, including the ones our own calls just made: a delivery
    // claiming what the order already shows is stored as applied, with no call to Toss.
    let already = already_shown(state, &webhook).await?;
    let now = state.clock.now();
    let inserted = sqlx::query(
        "INSERT INTO payment.webhook_inbox (id, kind, order_id, body, created_at, received_at, applied_at, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(webhook.kind())
    .bind(webhook.order_id())
    .bind(&json)
    .bind(webhook.created_at())
    .bind(now)
    .bind(already.then_some(now))
    .bind(already.then_some("the order already shows this status"))
    .execute(&state.pool)
    .await?;
    metrics::counter!("tiketi_payment_webhooks_total", "kind" => webhook.kind().to_owned(),
        "duplicate" => if inserted.rows_affected() == 0 { "true" } else { "false" })
    .increment(1);
    if inserted.rows_affected() == 0 {
        return Ok((Received { status: "duplicate" }, None));
    }
    Ok((Received { status: "stored" }, (!already).then_some(id)))
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

/// Applies a stored delivery once; failures are recorded for the next attempt.
/// Answers whether it is done with (applied now or before).
pub async fn apply_stored(state: &PaymentState, id: &str) -> bool {
    let row: Result<Option<(serde_json::Value,)>, _> = sqlx::query_as(
        "UPDATE payment.webhook_inbox SET attempts = attempts + 1 WHERE id = $1 AND applied_at IS NULL RETURNING body",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await;
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
