//! Refunds: full or partial, asked by the buyer, an admin, or the system (a cancelled event).
//!
//! A refund row is written `requested` before Toss is called and its id is the Toss
//! Idempotency-Key; at most one refund per order is in flight (a partial unique index), so two
//! concurrent requests cannot together exceed the balance. If the process dies after asking
//! Toss, the reconciler sends the same request again — Toss replays its first answer.

use chrono::{DateTime, Utc};
use tiketi_shared::{ApiError, ApiResult, ErrorCode};

use crate::PaymentState;
use crate::model::{Order, OrderStatus, RefundAccount, RefundId, ReservationId};
use crate::orders::{self, Facts};
use crate::toss::{CancelRequest, RefundReceiveAccount, TossFailure};

/// Who asks for a refund: recorded with it.
pub enum Requester {
    User(tiketi_shared::ids::UserId),
    System,
}

impl Requester {
    fn label(&self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::System => "system".into(),
        }
    }
}

pub struct RefundAsk {
    pub reason: String,
    /// None: the whole remaining balance.
    pub amount: Option<i64>,
    pub account: Option<RefundAccount>,
    pub by: Requester,
}

#[derive(Debug, sqlx::FromRow)]
struct RefundRow {
    id: RefundId,
    order_id: crate::model::OrderId,
    amount: i64,
    reason: String,
    refund_bank: Option<String>,
    refund_account_number: Option<String>,
    refund_holder_name: Option<String>,
}

/// Refunds part or all of a captured order; answers the order afterwards.
pub async fn refund(state: &PaymentState, order: &Order, ask: RefundAsk) -> ApiResult<Order> {
    if !order.status.is_captured() {
        return Err(ApiError::new(ErrorCode::NotRefundable).detail(format!("the order is {}", order.status.as_str())));
    }
    let balance = order.balance_amount.as_won();
    let amount = ask.amount.unwrap_or(balance);
    if amount > balance {
        return Err(ApiError::new(ErrorCode::RefundExceedsBalance)
            .detail(format!("{balance} won is left to refund"))
            .extra("balance_amount", balance));
    }
    if order.is_virtual_account() && ask.account.is_none() {
        return Err(ApiError::new(ErrorCode::RefundAccountRequired));
    }
    let id = RefundId::new();
    let account = ask.account.as_ref();
    let inserted = sqlx::query(
        "INSERT INTO payment.refunds (id, order_id, amount, reason, status, requested_by, refund_bank,
           refund_account_number, refund_holder_name, created_at)
         VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(order.id)
    .bind(amount)
    .bind(&ask.reason)
    .bind(ask.by.label())
    .bind(account.map(|a| a.bank.clone()))
    .bind(account.map(|a| a.account_number.clone()))
    .bind(account.map(|a| a.holder_name.clone()))
    .bind(state.clock.now())
    .execute(&state.pool)
    .await;
    if let Err(err) = inserted {
        return Err(match tiketi_shared::error::unique_violation(&err) {
            Some(_) => ApiError::new(ErrorCode::RefundInProgress).retry_after(1),
            None => err.into(),
        });
    }
    let row = RefundRow {
        id,
        order_id: order.id,
        amount,
        reason: ask.reason,
        refund_bank: account.map(|a| a.bank.clone()),
        refund_account_number: account.map(|a| a.account_number.clone()),
        refund_holder_name: account.map(|a| a.holder_name.clone()),
    };
    send(state, order, &row, amount == balance).await?;
    orders::load(&state.pool, order.id).await?.ok_or_else(|| ApiError::new(ErrorCode::NotFound))
}

/// Asks Toss to cancel `row.amount` and records the answer.
async fn send(state: &PaymentState, order: &Order, row: &RefundRow, whole: bool) -> ApiResult<()> {
    let request = CancelRequest {
        cancel_reason: row.reason.chars().take(200).collect(),
        // A whole-balance refund is sent as a full cancel, which Toss also accepts for payments
        // that cannot be partially cancelled.
        cancel_amount: if whole { None } else { Some(row.amount) },
        refund_receive_account: match (&row.refund_bank, &row.refund_account_number, &row.refund_holder_name) {
            (Some(bank), Some(number), Some(holder)) => Some(RefundReceiveAccount {
                bank: bank.clone(),
                account_number: number.clone(),
                holder_name: holder.clone(),
            }),
            _ => None,
        },
    };
    let payment_key = order.payment_key.clone().unwrap_or_default();
    let mut last = TossFailure::NoAnswer("no attempt made".into());
    for n in 0..state.settings.toss_attempts {
        crate::toss::pause_before_attempt(n).await;
        match state.toss.cancel(&payment_key, &request, &row.id.to_string()).await {
            Ok(payment) => return record_done(state, order, row.id, &payment).await,
            Err(TossFailure::Answered(err)) if !err.is_in_progress() => {
                // Answered errors are replayed under this key, so the refund ends here; asking
                // again makes a new refund with a new key.
                fail(state, row.id, &err.code).await?;
                return Err(match err.code.as_str() {
                    "NOT_CANCELABLE_AMOUNT" => ApiError::new(ErrorCode::RefundExceedsBalance),
                    _ if err.is_retryable() => ApiError::new(ErrorCode::ServiceUnavailable).retry_after(2),
                    code => ApiError::new(ErrorCode::RefundRefused).extra("toss_code", code),
                });
            }
            // No answer, or Toss still processing this key: the same key again, so a refund made
            // behind a lost answer is replayed, never made twice.
            Err(unsettled) => last = unsettled,
        }
    }
    tracing::warn!(order = %order.id, refund = %row.id, error = %last, "a refund is not settled at Toss; the reconciler retries it");
    Err(ApiError::new(ErrorCode::PaymentPending).retry_after(5))
}

async fn fail(state: &PaymentState, id: RefundId, code: &str) -> ApiResult<()> {
    sqlx::query("UPDATE payment.refunds SET status = 'failed', failure_code = $2, completed_at = $3 WHERE id = $1 AND status = 'requested'")
        .bind(id)
        .bind(code)
        .bind(state.clock.now())
        .execute(&state.pool)
        .await?;
    Ok(())
}

/// Toss refunded: the refund is done and the order's balance is Toss's, in one transaction; a
/// full refund then puts the seats back on sale.
async fn record_done(
    state: &PaymentState,
    order: &Order,
    id: RefundId,
    payment: &crate::toss::Payment,
) -> ApiResult<()> {
    let now = state.clock.now();
    let to = if payment.balance_amount == 0 { OrderStatus::Refunded } else { OrderStatus::PartiallyRefunded };
    let mut tx = state.pool.begin().await?;
    sqlx::query("UPDATE payment.refunds SET status = 'done', completed_at = $2 WHERE id = $1 AND status = 'requested'")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let moved = orders::transition(&mut *tx, order.id, to, &Facts::of(payment), now).await?;
    tx.commit().await?;
    metrics::counter!("tiketi_payment_refunds_total", "kind" => if to == OrderStatus::Refunded { "full" } else { "partial" })
        .increment(1);
    if let Some(moved) = moved
        && moved.status == OrderStatus::Refunded
    {
        release_seats(state, &moved).await;
    }
    Ok(())
}

/// Tells the ticket role a fully refunded order's reservation is refunded (its seats go back on
/// sale). Failing, the reconciler tells it later.
pub async fn release_seats(state: &PaymentState, order: &Order) {
    match state.ticket.refunded(order.reservation_id).await {
        Ok(_) => {}
        // Not confirmed (e.g. an event cancelled before it was): nothing of it is sold.
        Err(crate::ticket::TicketError::Refused(body)) => {
            tracing::warn!(order = %order.id, %body, "the ticket role did not take the refund; nothing to release")
        }
        Err(err) => {
            tracing::warn!(order = %order.id, error = %err, "telling the ticket role about a refund failed; retried later");
            return;
        }
    }
    if let Err(err) = orders::mark_released(&state.pool, order.id, state.clock.now()).await {
        tracing::warn!(order = %order.id, error = %err, "recording a release failed; retried later");
    }
}

/// Refunds still `requested` after `older_than`: asked again with their own key (Toss replays).
pub async fn retry_requested(state: &PaymentState, older_than: DateTime<Utc>) -> ApiResult<usize> {
    let rows: Vec<RefundRow> = sqlx::query_as(
        "SELECT id, order_id, amount, reason, refund_bank, refund_account_number, refund_holder_name
         FROM payment.refunds WHERE status = 'requested' AND created_at < $1 ORDER BY created_at LIMIT 100",
    )
    .bind(older_than)
    .fetch_all(&state.pool)
    .await?;
    let count = rows.len();
    for row in rows {
        let Some(order) = orders::load(&state.pool, row.order_id).await? else { continue };
        let whole = row.amount == order.balance_amount.as_won();
        if let Err(err) = send(state, &order, &row, whole).await {
            tracing::warn!(refund = %row.id, error = %err, "retrying a refund did not finish it");
        }
    }
    Ok(count)
}

/// Fully refunded orders whose reservation the ticket role has not been told about.
pub async fn retry_releases(state: &PaymentState) -> ApiResult<()> {
    let unreleased: Vec<Order> = sqlx::query_as(
        "SELECT * FROM payment.orders WHERE status = 'refunded' AND released_at IS NULL ORDER BY updated_at LIMIT 100",
    )
    .fetch_all(&state.pool)
    .await?;
    for order in unreleased {
        release_seats(state, &order).await;
    }
    Ok(())
}

/// Refunds every paid reservation of cancelled events (the ticket role lists them).
pub async fn refund_cancelled_events(state: &PaymentState) -> ApiResult<usize> {
    let mut after: Option<ReservationId> = None;
    let mut refunded = 0;
    loop {
        let page = state.ticket.refund_requests(after).await.map_err(ApiError::unavailable)?;
        let Some(last) = page.last() else { return Ok(refunded) };
        after = Some(last.reservation_id);
        for request in page {
            let order = sqlx::query_as::<_, Order>(
                "SELECT * FROM payment.orders WHERE reservation_id = $1 AND status IN ('paid', 'partially_refunded', 'refunded')",
            )
            .bind(request.reservation_id)
            .fetch_optional(&state.pool)
            .await?;
            match order {
                Some(order) if order.status == OrderStatus::Refunded => release_seats(state, &order).await,
                Some(order) if order.is_virtual_account() => {
                    tracing::warn!(order = %order.id, "event cancelled: a virtual-account payment needs the buyer's refund account");
                }
                Some(order) => {
                    let ask = RefundAsk {
                        reason: "The event was cancelled".into(),
                        amount: None,
                        account: None,
                        by: Requester::System,
                    };
                    match refund(state, &order, ask).await {
                        Ok(_) => refunded += 1,
                        Err(err) => {
                            tracing::warn!(order = %order.id, error = %err, "refunding a cancelled event's order failed; retried")
                        }
                    }
                }
                None => {
                    tracing::warn!(reservation = %request.reservation_id, "a paid reservation of a cancelled event has no paid order here")
                }
            }
        }
    }
}
