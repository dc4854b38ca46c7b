//! `webhooks`: every Toss webhook delivery applied exactly once.
//!
//! In `payment.webhook_inbox` a delivery is one row under its key (Toss's transmission id, or the
//! body's hash when there is none; the primary key makes retries land on the same row), and
//! applying it sets `applied_at` once. So "applied once" is: every stored row applied, and no
//! delivery stored under two keys and applied under both. A second application that slipped past
//! the inbox would show in its effect, a refund recorded twice, so each order's refunds are
//! checked against its amount and balance too.

use uuid::Uuid;

use crate::Context;
use crate::report::{Finding, Invariant, Offences, plural};

/// `$1` = the events in scope, `$2` = whether the scope is everything: rows whose order belongs
/// to an event in scope, and with everything in scope the rows that name no known order too.
const IN_SCOPE: &str = "(EXISTS (SELECT 1 FROM payment.orders o WHERE o.id::text = w.order_id AND o.event_id = ANY($1))
    OR ($2 AND NOT EXISTS (SELECT 1 FROM payment.orders o WHERE o.id::text = w.order_id)))";

pub async fn check(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let mut offences = Offences::default();

    let stored: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM payment.webhook_inbox w WHERE {IN_SCOPE}"))
        .bind(&ctx.events)
        .bind(ctx.all)
        .fetch_one(&ctx.pool)
        .await?;

    let pending: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(&format!(
        "SELECT w.id, w.kind, w.attempts, w.last_error FROM payment.webhook_inbox w
         WHERE w.applied_at IS NULL AND {IN_SCOPE} ORDER BY w.received_at, w.id"
    ))
    .bind(&ctx.events)
    .bind(ctx.all)
    .fetch_all(&ctx.pool)
    .await?;
    for (id, kind, attempts, last_error) in &pending {
        let why = last_error.as_deref().unwrap_or("no error recorded");
        offences.push(format!("delivery {id} ({kind}) was stored but never applied ({attempts} attempts: {why})"));
    }

    let twice: Vec<(Vec<String>, i64)> = sqlx::query_as(&format!(
        "SELECT array_agg(w.id ORDER BY w.id), count(*) FILTER (WHERE w.applied_at IS NOT NULL)
         FROM payment.webhook_inbox w WHERE {IN_SCOPE}
         GROUP BY w.body HAVING count(*) FILTER (WHERE w.applied_at IS NOT NULL) > 1"
    ))
    .bind(&ctx.events)
    .bind(ctx.all)
    .fetch_all(&ctx.pool)
    .await?;
    for (ids, applied) in &twice {
        offences.push(format!("one delivery was applied {applied} times, stored as {}", ids.join(", ")));
    }

    let orders: Vec<(Uuid, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT o.id, o.status, o.amount, o.balance_amount,
           coalesce(sum(f.amount) FILTER (WHERE f.status = 'done'), 0)::bigint
         FROM payment.orders o LEFT JOIN payment.refunds f ON f.order_id = o.id
         WHERE o.event_id = ANY($1) GROUP BY o.id ORDER BY o.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (order, status, amount, balance, refunded) in &orders {
        let captured = matches!(status.as_str(), "paid" | "partially_refunded" | "refunded");
        if refunded > amount {
            offences.push(format!("order {order}: {refunded} KRW refunded of {amount} charged"));
        } else if captured && *balance != amount - refunded {
            offences.push(format!(
                "order {order} ({status}): balance {balance} KRW, but {amount} charged less {refunded} refunded is {}",
                amount - refunded
            ));
        }
    }

    let notes = vec![
        format!("{stored} deliveries stored; refunds of {} checked", plural(orders.len(), "order")),
        "the receiver's DynamoDB inbox is not read: the payment inbox is where application is recorded".into(),
    ];
    Ok(Finding::from_offences(Invariant::Webhooks, offences, notes))
}
