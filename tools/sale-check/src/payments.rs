//! `toss-captures` and `paid-orders`: the money, from Toss's side and from the payment role's.
//!
//! Toss's payments map to reservations through their `orderId`, which is a `payment.orders` id;
//! the order names its reservation. A capture whose `orderId` is no order cannot be placed in any
//! event and is reported by `paid-orders` (the payment role lost it), whatever the scope.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::report::{Finding, Invariant, Offences, plural};
use crate::toss::Ledger;
use crate::{Context, TossMissing};

/// Toss's ledger, or the finding that says why this check cannot read one.
fn ledger_or<'c>(ctx: &'c Context<'_>, invariant: Invariant) -> anyhow::Result<Result<&'c Ledger, Finding>> {
    match ctx.ledger() {
        Ok(ledger) => Ok(Ok(ledger)),
        Err(TossMissing::NotGiven) => {
            Ok(Err(Finding::not_checked(invariant, "no Toss API URL given (--toss-url / TIKETI_TOSS_API_URL)")))
        }
        Err(TossMissing::Unreadable(e)) => Err(anyhow::anyhow!(e)),
    }
}

/// Every Toss capture pays a confirmed reservation or was cancelled at Toss; every confirmed
/// reservation has exactly one payment still captured, of its amount; Toss's cancels of an
/// order equal the refunds the payment role recorded.
pub async fn toss_captures(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let invariant = Invariant::TossCaptures;
    let ledger = match ledger_or(ctx, invariant)? {
        Ok(ledger) => ledger,
        Err(not_checked) => return Ok(not_checked),
    };
    let mut offences = Offences::default();
    let by_order = ledger.by_order();

    // Money still at Toss → the reservation it pays.
    let named: Vec<(String, Uuid, Uuid, Option<String>)> = sqlx::query_as(
        "SELECT o.id::text, o.reservation_id, o.event_id, r.status
         FROM payment.orders o LEFT JOIN ticket.reservations r ON r.id = o.reservation_id
         WHERE o.id::text = ANY($1) AND o.event_id = ANY($2)",
    )
    .bind(ledger.order_ids())
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    let named: BTreeMap<&str, (Uuid, Option<&str>)> = named
        .iter()
        .map(|(order, reservation, _, status)| (order.as_str(), (*reservation, status.as_deref())))
        .collect();
    let mut held = 0;
    for payment in ledger.payments.iter().filter(|p| p.balance() > 0) {
        let Some((reservation, status)) = named.get(payment.order_id.as_str()) else { continue };
        held += 1;
        match status {
            Some("confirmed") => {}
            Some(other) => offences.push(format!(
                "payment {} (order {}) still holds {} KRW at Toss, but reservation {reservation} is {other}",
                payment.payment_key,
                payment.order_id,
                payment.balance()
            )),
            None => offences.push(format!(
                "payment {} (order {}) still holds {} KRW at Toss for reservation {reservation}, which does not exist",
                payment.payment_key,
                payment.order_id,
                payment.balance()
            )),
        }
    }

    // Confirmed reservation → exactly one payment still captured, of its amount.
    let confirmed: Vec<(Uuid, i64, Vec<String>)> = sqlx::query_as(
        "SELECT r.id, r.amount, coalesce(array_agg(o.id::text) FILTER (WHERE o.id IS NOT NULL), '{}')
         FROM ticket.reservations r LEFT JOIN payment.orders o ON o.reservation_id = r.id
         WHERE r.status = 'confirmed' AND r.amount > 0 AND r.event_id = ANY($1)
         GROUP BY r.id, r.amount ORDER BY r.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (reservation, amount, orders) in &confirmed {
        let live: Vec<_> = orders
            .iter()
            .flat_map(|o| by_order.get(o.as_str()).into_iter().flatten())
            .filter(|p| p.balance() > 0)
            .collect();
        match live.as_slice() {
            [] => offences.push(format!("reservation {reservation} is confirmed but Toss holds no money for it")),
            [one] if one.captured != *amount => offences.push(format!(
                "reservation {reservation} is confirmed for {amount} KRW but Toss captured {} (payment {})",
                one.captured, one.payment_key
            )),
            [_] => {}
            many => offences.push(format!(
                "reservation {reservation} is paid {} times at Toss: {}",
                many.len(),
                many.iter().map(|p| p.payment_key.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    // Toss's cancels = the refunds recorded done, per order.
    let refunds: Vec<(String, i64)> = sqlx::query_as(
        "SELECT o.id::text, coalesce(sum(f.amount) FILTER (WHERE f.status = 'done'), 0)::bigint
         FROM payment.orders o LEFT JOIN payment.refunds f ON f.order_id = o.id
         WHERE o.event_id = ANY($1) GROUP BY o.id ORDER BY o.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (order, recorded) in &refunds {
        let at_toss: i64 = by_order.get(order.as_str()).into_iter().flatten().map(|p| p.cancelled).sum();
        if at_toss != *recorded {
            offences.push(format!(
                "order {order}: Toss cancelled {at_toss} KRW, the payment role recorded {recorded} refunded"
            ));
        }
    }

    let notes = vec![format!(
        "{} ({}) at Toss; in scope: {} still holding money, {} confirmed, {}",
        plural(ledger.transactions, "transaction"),
        plural(ledger.payments.len(), "payment"),
        plural(held, "payment"),
        plural(confirmed.len(), "reservation"),
        plural(refunds.len(), "order")
    )];
    Ok(Finding::from_offences(invariant, offences, notes))
}

/// No paid order lost: paid orders end confirmed, no Toss `DONE` is left unsettled, every
/// confirmed reservation has one paid order of its amount, and every order Toss captured money
/// for is known to the payment role.
pub async fn paid_orders(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let invariant = Invariant::PaidOrders;
    let mut offences = Offences::default();
    let mut notes = Vec::new();

    let lost: Vec<(Uuid, String, Uuid, Option<String>)> = sqlx::query_as(
        "SELECT o.id, o.status, o.reservation_id, r.status
         FROM payment.orders o LEFT JOIN ticket.reservations r ON r.id = o.reservation_id
         WHERE o.status IN ('paid', 'partially_refunded') AND o.event_id = ANY($1)
           AND r.status IS DISTINCT FROM 'confirmed'
         ORDER BY o.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (order, status, reservation, reservation_status) in &lost {
        let now = reservation_status.as_deref().unwrap_or("missing");
        offences.push(format!("order {order} is {status} but its reservation {reservation} is {now}"));
    }

    let unsettled: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, status FROM payment.orders
         WHERE toss_status = 'DONE' AND status NOT IN ('paid', 'partially_refunded', 'refunded')
           AND event_id = ANY($1) ORDER BY id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (order, status) in &unsettled {
        offences.push(format!("order {order}: Toss reported DONE but the order was left {status}"));
    }

    let confirmed: Vec<(Uuid, i64, Vec<Uuid>, Vec<i64>)> = sqlx::query_as(
        "SELECT r.id, r.amount,
           coalesce(array_agg(o.id ORDER BY o.id) FILTER (WHERE o.id IS NOT NULL), '{}'),
           coalesce(array_agg(o.amount ORDER BY o.id) FILTER (WHERE o.id IS NOT NULL), '{}')
         FROM ticket.reservations r
         LEFT JOIN payment.orders o ON o.reservation_id = r.id AND o.status IN ('paid', 'partially_refunded')
         WHERE r.status = 'confirmed' AND r.amount > 0 AND r.event_id = ANY($1)
         GROUP BY r.id, r.amount ORDER BY r.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (reservation, amount, orders, amounts) in &confirmed {
        match (orders.as_slice(), amounts.as_slice()) {
            ([], _) => offences.push(format!("reservation {reservation} is confirmed without a paid order")),
            ([order], [paid]) if paid != amount => offences.push(format!(
                "reservation {reservation} is confirmed for {amount} KRW but order {order} charged {paid}"
            )),
            ([_], _) => {}
            (many, _) => offences.push(format!("reservation {reservation} has {} paid orders", many.len())),
        }
    }
    notes.push(format!("{} confirmed", plural(confirmed.len(), "reservation")));

    match ctx.ledger() {
        Ok(ledger) => {
            let captured: Vec<_> = ledger.captured().collect();
            let ids: Vec<String> = captured.iter().map(|p| p.order_id.clone()).collect();
            let known: Vec<String> = sqlx::query_scalar("SELECT id::text FROM payment.orders WHERE id::text = ANY($1)")
                .bind(&ids)
                .fetch_all(&ctx.pool)
                .await?;
            let known: BTreeSet<&str> = known.iter().map(String::as_str).collect();
            for payment in captured.iter().filter(|p| !known.contains(p.order_id.as_str())) {
                offences.push(format!(
                    "Toss captured {} KRW as payment {} for order {}, which the payment role does not know",
                    payment.captured, payment.payment_key, payment.order_id
                ));
            }
            notes.push(format!(
                "{} captured at Toss (a capture for an unknown order is reported whatever the scope)",
                plural(captured.len(), "payment")
            ));
        }
        Err(TossMissing::NotGiven) => notes.push("Toss side not checked: no Toss API URL given".into()),
        Err(TossMissing::Unreadable(e)) => anyhow::bail!(e),
    }
    Ok(Finding::from_offences(invariant, offences, notes))
}
