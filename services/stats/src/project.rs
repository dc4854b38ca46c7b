//! Domain events into the projections: [`consume`] applies a delivered event once (its id is
//! recorded in the same transaction), [`rebuild`] replays every recorded event into empty
//! projections.
//!
//! Every apply is order-independent. Facts are merged — a reservation's status is the one of its
//! highest lifecycle version, an order's fields those of its newest snapshot, timestamps of each
//! step kept whichever arrives first — and each derived figure (a seat's heatmap row, an order's
//! refunds) is recomputed from all the facts it depends on, never incremented. So duplicates,
//! any delivery order and a replay end in the same rows.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tiketi_shared::events::{
    DomainEvent, Envelope, EventCancelled, EventChanged, EventCreated, EventSeats, OrderSnapshot, ReservationConfirmed,
    ReservationEnded, ReservationHeld, SEATS_PER_PART, WaitingRoomCounted, reservation_version,
};
use uuid::Uuid;

/// What became of a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Seen before: nothing changed.
    Duplicate,
    /// A kind this build does not know (a newer producer): recorded, replayed by a newer build.
    Unknown,
}

/// Applies `envelope` unless its id was applied before, and records it, in one transaction.
pub async fn consume(pool: &PgPool, envelope: &Envelope, now: DateTime<Utc>) -> anyhow::Result<Applied> {
    let event = envelope.event()?;
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO stats.applied_events (id, kind, aggregate_id, version, occurred_at, payload, applied_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(envelope.id)
    .bind(&envelope.kind)
    .bind(envelope.aggregate_id)
    .bind(envelope.version)
    .bind(envelope.occurred_at)
    .bind(&envelope.payload)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(Applied::Duplicate);
    }
    let Some(event) = event else {
        tx.commit().await?;
        return Ok(Applied::Unknown);
    };
    apply(&mut tx, &event, envelope.version, envelope.occurred_at).await?;
    tx.commit().await?;
    metrics::counter!("tiketi_stats_events_applied_total", "kind" => event.kind()).increment(1);
    Ok(Applied::Applied)
}

/// The projections, emptied by a rebuild (not the event log, not the reports).
const PROJECTIONS: &str = "stats.events, stats.sections, stats.seats, stats.reservations, stats.reservation_seats,
    stats.orders, stats.order_changes, stats.refunds, stats.waiting_rooms";

/// In what order a rebuild replays the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// As they were applied.
    Recorded,
    /// Shuffled: shows the result does not depend on the order.
    Shuffled,
}

type LogRow = (Uuid, String, Uuid, i64, DateTime<Utc>, serde_json::Value, DateTime<Utc>);

/// Empties the projections and replays every recorded event, in one transaction that keeps new
/// events out until it commits. The log is read in pages (recorded order) or whole (shuffled, for
/// tests). Answers how many events were replayed.
pub async fn rebuild(pool: &PgPool, order: Replay) -> anyhow::Result<u64> {
    const PAGE: i64 = 5000;
    const COLUMNS: &str = "id, kind, aggregate_id, version, occurred_at, payload, applied_at";
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE stats.applied_events IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    sqlx::query(&format!("TRUNCATE {PROJECTIONS}")).execute(&mut *tx).await?;
    let mut replayed = 0;
    let mut after: Option<(DateTime<Utc>, Uuid)> = None;
    loop {
        let page: Vec<LogRow> = match order {
            Replay::Shuffled => {
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM stats.applied_events ORDER BY random()"))
                    .fetch_all(&mut *tx)
                    .await?
            }
            Replay::Recorded => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM stats.applied_events
                     WHERE $1::timestamptz IS NULL OR (applied_at, id) > ($1, $2)
                     ORDER BY applied_at, id LIMIT $3"
                ))
                .bind(after.map(|a| a.0))
                .bind(after.map(|a| a.1))
                .bind(PAGE)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        let full = order == Replay::Recorded && i64::try_from(page.len()).unwrap_or(i64::MAX) >= PAGE;
        after = page.last().map(|row| (row.6, row.0));
        for (id, kind, aggregate_id, version, occurred_at, payload, _) in page {
            let envelope = Envelope { id, kind, aggregate_id, occurred_at, version, payload };
            if let Some(event) = envelope.event()? {
                apply(&mut tx, &event, version, occurred_at).await?;
                replayed += 1;
            }
        }
        if !full {
            break;
        }
    }
    tx.commit().await?;
    Ok(replayed)
}

/// Applies one event to the projections inside the caller's transaction.
pub async fn apply(tx: &mut PgConnection, event: &DomainEvent, version: i64, at: DateTime<Utc>) -> sqlx::Result<()> {
    match event {
        DomainEvent::EventCreated(e) => event_created(tx, e, version).await,
        DomainEvent::EventUpdated(e) => event_updated(tx, e, version).await,
        DomainEvent::EventCancelled(e) => event_cancelled(tx, e, at).await,
        DomainEvent::EventSeats(e) => event_seats(tx, e).await,
        DomainEvent::ReservationHeld(e) => held(tx, e, at).await,
        DomainEvent::ReservationConfirmed(e) => confirmed(tx, e, at).await,
        DomainEvent::ReservationExpired(e) => ended(tx, e, "expired", at).await,
        DomainEvent::ReservationCancelled(e) => ended(tx, e, "cancelled", at).await,
        DomainEvent::ReservationRefunded(e) => refunded(tx, e, at).await,
        DomainEvent::OrderCreated(o) | DomainEvent::OrderChanged(o) => order(tx, o, version, at).await,
        DomainEvent::WaitingRoomCounted(c) => waiting_room(tx, c, version, at).await,
    }
}

async fn event_created(tx: &mut PgConnection, e: &EventCreated, version: i64) -> sqlx::Result<()> {
    upsert_event(tx, e.event_id.0, Some(&e.title), e.sale_opens_at, version).await?;
    for (position, section) in (0..).zip(&e.sections) {
        sqlx::query(
            "INSERT INTO stats.sections (id, event_id, position, name, price, seat_count)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(section.id)
        .bind(e.event_id)
        .bind(position)
        .bind(&section.name)
        .bind(section.price)
        .bind(section.seat_count)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn event_updated(tx: &mut PgConnection, e: &EventChanged, version: i64) -> sqlx::Result<()> {
    upsert_event(tx, e.event_id.0, e.title.as_deref(), e.sale_opens_at, version).await
}

/// The event's title and opening from the newest version that carries them.
async fn upsert_event(
    tx: &mut PgConnection,
    id: Uuid,
    title: Option<&str>,
    sale_opens_at: Option<DateTime<Utc>>,
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stats.events AS e (id, title, sale_opens_at, version) VALUES ($1, coalesce($2, ''), $3, $4)
         ON CONFLICT (id) DO UPDATE SET
           title = CASE WHEN $2 IS NOT NULL AND (excluded.version > e.version OR e.title = '') THEN $2 ELSE e.title END,
           sale_opens_at = CASE WHEN $3 IS NOT NULL AND (excluded.version > e.version OR e.sale_opens_at IS NULL)
                                THEN $3 ELSE e.sale_opens_at END,
           version = greatest(e.version, excluded.version)",
    )
    .bind(id)
    .bind(title)
    .bind(sale_opens_at)
    .bind(version)
    .execute(tx)
    .await
    .map(drop)
}

async fn event_cancelled(tx: &mut PgConnection, e: &EventCancelled, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stats.events (id, cancelled_at) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET cancelled_at = excluded.cancelled_at",
    )
    .bind(e.event_id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    // The pending holds the cancellation released have no event of their own.
    for reservation in &e.cancelled_reservations {
        let fact = Fact { status: "cancelled", ended_at: Some(at), ..Fact::new(reservation.0, e.event_id.0) };
        let seats = merge(tx, &fact, reservation_version::ENDED).await?;
        recompute_seats(tx, e.event_id.0, &seats).await?;
    }
    Ok(())
}

async fn event_seats(tx: &mut PgConnection, e: &EventSeats) -> sqlx::Result<()> {
    let first = i64::from(e.part.saturating_sub(1)) * i64::try_from(SEATS_PER_PART).unwrap_or(i64::MAX);
    let ids: Vec<Uuid> = e.seats.iter().map(|s| s.id.0).collect();
    let sections: Vec<Uuid> = e.seats.iter().map(|s| s.section_id).collect();
    let labels: Vec<&str> = e.seats.iter().map(|s| s.label.as_str()).collect();
    sqlx::query(
        "INSERT INTO stats.seats AS s (id, event_id, section_id, position, label)
         SELECT id, $1, section_id, $5 + ordinality - 1, label
         FROM UNNEST($2::uuid[], $3::uuid[], $4::text[]) WITH ORDINALITY AS s(id, section_id, label, ordinality)
         ORDER BY id
         ON CONFLICT (id) DO UPDATE SET section_id = excluded.section_id, position = excluded.position,
           label = excluded.label",
    )
    .bind(e.event_id)
    .bind(&ids)
    .bind(&sections)
    .bind(&labels)
    .bind(first)
    .execute(&mut *tx)
    .await?;
    // Reservations of these seats may have arrived first.
    recompute_seats(tx, e.event_id.0, &ids).await
}

async fn held(tx: &mut PgConnection, e: &ReservationHeld, at: DateTime<Utc>) -> sqlx::Result<()> {
    let fact = Fact {
        user_id: Some(e.user_id.0),
        seat_ids: seat_set(&e.seat_ids),
        amount: Some(e.amount),
        status: "pending",
        expires_at: Some(e.expires_at),
        held_at: Some(at),
        ..Fact::new(e.reservation_id.0, e.event_id.0)
    };
    let seats = merge(tx, &fact, reservation_version::HELD).await?;
    recompute_seats(tx, e.event_id.0, &seats).await
}

async fn confirmed(tx: &mut PgConnection, e: &ReservationConfirmed, at: DateTime<Utc>) -> sqlx::Result<()> {
    let fact = Fact {
        user_id: e.user_id.map(|u| u.0),
        seat_ids: seat_set(&e.seat_ids),
        amount: Some(e.amount),
        status: "confirmed",
        confirmed_at: Some(at),
        ..Fact::new(e.reservation_id.0, e.event_id.0)
    };
    let seats = merge(tx, &fact, reservation_version::ENDED).await?;
    recompute_seats(tx, e.event_id.0, &seats).await
}

async fn ended(
    tx: &mut PgConnection,
    e: &ReservationEnded,
    status: &'static str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let fact = Fact {
        seat_ids: seat_set(&e.seat_ids),
        status,
        ended_at: Some(at),
        ..Fact::new(e.reservation_id.0, e.event_id.0)
    };
    let seats = merge(tx, &fact, reservation_version::ENDED).await?;
    recompute_seats(tx, e.event_id.0, &seats).await
}

async fn refunded(tx: &mut PgConnection, e: &ReservationEnded, at: DateTime<Utc>) -> sqlx::Result<()> {
    let fact = Fact {
        seat_ids: seat_set(&e.seat_ids),
        status: "refunded",
        refunded_at: Some(at),
        ..Fact::new(e.reservation_id.0, e.event_id.0)
    };
    let seats = merge(tx, &fact, reservation_version::REFUNDED).await?;
    recompute_seats(tx, e.event_id.0, &seats).await
}

/// A reservation's seats in id order: its events list them in different orders (the buyer's
/// pick, the order a statement sold them), and the first to arrive is kept, so the projection
/// does not depend on which that was.
fn seat_set(seats: &[tiketi_shared::ids::SeatId]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = seats.iter().map(|s| s.0).collect();
    ids.sort_unstable();
    ids
}

/// What one reservation event says about it.
struct Fact {
    id: Uuid,
    event_id: Uuid,
    user_id: Option<Uuid>,
    seat_ids: Vec<Uuid>,
    amount: Option<i64>,
    status: &'static str,
    expires_at: Option<DateTime<Utc>>,
    held_at: Option<DateTime<Utc>>,
    confirmed_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
}

impl Fact {
    fn new(id: Uuid, event_id: Uuid) -> Self {
        Self {
            id,
            event_id,
            user_id: None,
            seat_ids: Vec::new(),
            amount: None,
            status: "pending",
            expires_at: None,
            held_at: None,
            confirmed_at: None,
            ended_at: None,
            refunded_at: None,
        }
    }
}

/// Merges a fact into the reservation's row and records its seats; answers the seats whose
/// heatmap rows depend on it.
async fn merge(tx: &mut PgConnection, f: &Fact, version: i64) -> sqlx::Result<Vec<Uuid>> {
    let seats: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO stats.reservations AS r (id, event_id, user_id, seat_ids, amount, status, version, expires_at,
            held_at, confirmed_at, ended_at, refunded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (id) DO UPDATE SET
           user_id = coalesce(r.user_id, excluded.user_id),
           seat_ids = CASE WHEN cardinality(r.seat_ids) = 0 THEN excluded.seat_ids ELSE r.seat_ids END,
           amount = coalesce(r.amount, excluded.amount),
           status = CASE WHEN excluded.version > r.version THEN excluded.status ELSE r.status END,
           version = greatest(r.version, excluded.version),
           expires_at = coalesce(r.expires_at, excluded.expires_at),
           held_at = coalesce(r.held_at, excluded.held_at),
           confirmed_at = coalesce(r.confirmed_at, excluded.confirmed_at),
           ended_at = coalesce(r.ended_at, excluded.ended_at),
           refunded_at = coalesce(r.refunded_at, excluded.refunded_at)
         RETURNING seat_ids",
    )
    .bind(f.id)
    .bind(f.event_id)
    .bind(f.user_id)
    .bind(&f.seat_ids)
    .bind(f.amount)
    .bind(f.status)
    .bind(version)
    .bind(f.expires_at)
    .bind(f.held_at)
    .bind(f.confirmed_at)
    .bind(f.ended_at)
    .bind(f.refunded_at)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO stats.reservation_seats (seat_id, reservation_id) SELECT unnest($1::uuid[]), $2
         ON CONFLICT DO NOTHING",
    )
    .bind(&seats)
    .bind(f.id)
    .execute(&mut *tx)
    .await?;
    Ok(seats)
}

/// Each seat's heatmap row from every reservation that named it: times held, holds that expired,
/// and when the reservation that owns it now was confirmed.
///
/// Concurrent applies must not each miss the other's facts (each computing from a snapshot without
/// the other's uncommitted rows): the seat rows are created if missing and locked (in id order)
/// first, and the figures computed by a later statement, whose snapshot then holds every
/// transaction that changed these seats before — so the last to commit computes from all facts.
async fn recompute_seats(tx: &mut PgConnection, event: Uuid, seats: &[Uuid]) -> sqlx::Result<()> {
    if seats.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO stats.seats (id, event_id) SELECT unnest($1::uuid[]), $2 ORDER BY 1 ON CONFLICT DO NOTHING",
    )
    .bind(seats)
    .bind(event)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT 1 FROM stats.seats WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(seats)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE stats.seats s SET holds = a.holds, expired_holds = a.expired, sold_at = a.sold_at
         FROM (SELECT rs.seat_id, count(*)::int AS holds,
                      (count(*) FILTER (WHERE r.status = 'expired'))::int AS expired,
                      max(r.confirmed_at) FILTER (WHERE r.status = 'confirmed') AS sold_at
               FROM stats.reservation_seats rs JOIN stats.reservations r ON r.id = rs.reservation_id
               WHERE rs.seat_id = ANY($1) GROUP BY rs.seat_id) a
         WHERE s.id = a.seat_id",
    )
    .bind(seats)
    .execute(tx)
    .await
    .map(drop)
}

async fn order(tx: &mut PgConnection, o: &OrderSnapshot, version: i64, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stats.orders AS o (id, reservation_id, event_id, user_id, amount, status, balance_amount, method,
            payment_key, approved_at, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
         ON CONFLICT (id) DO UPDATE SET
           status = CASE WHEN excluded.version > o.version THEN excluded.status ELSE o.status END,
           balance_amount = CASE WHEN excluded.version > o.version THEN excluded.balance_amount ELSE o.balance_amount END,
           method = CASE WHEN excluded.version > o.version THEN coalesce(excluded.method, o.method)
                         ELSE coalesce(o.method, excluded.method) END,
           payment_key = CASE WHEN excluded.version > o.version THEN coalesce(excluded.payment_key, o.payment_key)
                              ELSE coalesce(o.payment_key, excluded.payment_key) END,
           approved_at = coalesce(o.approved_at, excluded.approved_at),
           version = greatest(o.version, excluded.version),
           created_at = least(o.created_at, excluded.created_at),
           updated_at = greatest(o.updated_at, excluded.updated_at)",
    )
    .bind(o.order_id)
    .bind(o.reservation_id)
    .bind(o.event_id)
    .bind(o.user_id)
    .bind(o.amount)
    .bind(&o.status)
    .bind(o.balance_amount)
    .bind(&o.method)
    .bind(&o.payment_key)
    .bind(o.approved_at)
    .bind(version)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO stats.order_changes (order_id, version, status, balance_amount, occurred_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(o.order_id)
    .bind(version)
    .bind(&o.status)
    .bind(o.balance_amount)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    // The order's refunds: every drop of its balance from one known version to the next.
    sqlx::query("DELETE FROM stats.refunds WHERE order_id = $1").bind(o.order_id).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO stats.refunds (order_id, version, event_id, amount, refunded_at)
         SELECT order_id, version, $2, dropped, occurred_at FROM (
           SELECT order_id, version, occurred_at,
                  lag(balance_amount) OVER (ORDER BY version) - balance_amount AS dropped
           FROM stats.order_changes WHERE order_id = $1) c
         WHERE dropped > 0",
    )
    .bind(o.order_id)
    .bind(o.event_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn waiting_room(
    tx: &mut PgConnection,
    c: &WaitingRoomCounted,
    version: i64,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO stats.waiting_rooms AS w (event_id, joined, admitted, waiting, active, version, counted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (event_id) DO UPDATE SET joined = excluded.joined, admitted = excluded.admitted,
           waiting = excluded.waiting, active = excluded.active, version = excluded.version,
           counted_at = excluded.counted_at
         WHERE excluded.version > w.version",
    )
    .bind(c.event_id)
    .bind(c.joined)
    .bind(c.admitted)
    .bind(c.waiting)
    .bind(c.active)
    .bind(version)
    .bind(at)
    .execute(tx)
    .await
    .map(drop)
}
