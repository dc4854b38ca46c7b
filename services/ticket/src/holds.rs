//! `POST /api/events/{id}/holds`: seats move `available → held` all together or not at all.
//!
//! One guarded statement locks the requested seats in id order (so concurrent holds cannot
//! deadlock) and takes only those that are free or whose hold has expired; if it took fewer than
//! asked, the transaction rolls back and the answer lists the seats that were not free.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use tiketi_shared::error::Problem;
use tiketi_shared::events::{DomainEvent, ReservationEnded, ReservationHeld, reservation_version};
use tiketi_shared::extract::Path;
use tiketi_shared::ids::UserId;
use tiketi_shared::token::AuthUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json, Money};

use crate::TicketState;
use crate::model::{EventId, HoldRequest, Reservation, ReservationEnvelope, ReservationId, ReservedSeat, SeatId};
use crate::publish::{SeatDelta, outbox};
use crate::reservations::{release_seats, reservation_by_key};
use crate::status::{ReservationStatus, SeatStatus};

pub mod batch;
pub use batch::Batcher;

/// What a hold is checked against before touching seats.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SaleRules {
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub cancelled: bool,
    pub max_seats_per_order: i32,
    pub waiting_room_enabled: bool,
}

/// Recently read [`SaleRules`], so most holds skip a query. A second-old snapshot is safe: the
/// hold statement re-checks everything against the current row.
#[derive(Default)]
pub struct RulesCache(std::sync::RwLock<std::collections::HashMap<EventId, (std::time::Instant, SaleRules)>>);

impl RulesCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(1);

    pub(crate) fn get(&self, event: EventId) -> Option<SaleRules> {
        let map = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&event).filter(|(at, _)| at.elapsed() < Self::TTL).map(|(_, rules)| rules.clone())
    }

    pub(crate) fn put(&self, event: EventId, rules: SaleRules) {
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < Self::TTL);
        }
        map.insert(event, (std::time::Instant::now(), rules));
    }
}

/// Hold seats for the caller.
#[utoipa::path(post, path = "/api/events/{id}/holds", tag = "holds", security(("bearer" = [])),
    params(("id" = EventId, Path), ("X-Admission-Token" = Option<String>, Header, description = "required where the event has a waiting room")),
    request_body = HoldRequest,
    responses(
        (status = 201, body = ReservationEnvelope),
        (status = 403, description = "`NOT_ADMITTED`", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`SEAT_UNAVAILABLE` (with `seat_ids`), `SALE_NOT_OPEN`, `SALE_CLOSED`, `EVENT_CANCELLED`", body = Problem),
        (status = 422, description = "`TOO_MANY_SEATS`, `INVALID_SEATS`", body = Problem),
    ))]
pub async fn hold(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    Path(event): Path<EventId>,
    headers: HeaderMap,
    Json(body): Json<HoldRequest>,
) -> ApiResult<(StatusCode, Json<ReservationEnvelope>)> {
    let now = state.clock.now();
    let early = |rules: &SaleRules| {
        check_rules(rules, now)?;
        check_request(&body.seat_ids, rules.max_seats_per_order)
    };
    // A cached snapshot may let a request through to the hold statement (which re-checks the
    // window, cancellation, waiting room and cap) but never rejects one: a rejection is confirmed
    // against the current row.
    let mut rules = state.current_rules(event, false).await?;
    let seats = match early(&rules) {
        Ok(seats) => seats,
        Err(_) => {
            rules = state.current_rules(event, true).await?;
            early(&rules)?
        }
    };
    let admitted = if rules.waiting_room_enabled {
        let token = headers.get("x-admission-token").and_then(|v| v.to_str().ok());
        match crate::queue::admission::check(&state, event, claims.sub, token).await {
            Ok(()) => true,
            // Refuse only if the waiting room is still on (the snapshot may predate switching it off).
            Err(e) if state.current_rules(event, true).await?.waiting_room_enabled => return Err(e),
            Err(_) => false,
        }
    } else {
        false
    };
    let id = ReservationId::new();
    let expires_at = now + state.hold_ttl();
    let (taken, released) = take_seats(&state, event, claims.sub, id, &seats, now, expires_at, admitted).await?;

    let mut deltas: Vec<SeatDelta> = taken.iter().map(|s| SeatDelta { id: s.id, status: SeatStatus::Held }).collect();
    deltas.extend(released.iter().map(|&id| SeatDelta { id, status: SeatStatus::Available }));
    let published = state.publisher.seats_changed(event, &deltas, now).await.is_some();
    // The admission lasts while the hold does; confirming, cancelling or expiry ends it.
    let extended =
        !admitted || state.waiting_room.extend(event, claims.sub, expires_at.timestamp_millis()).await.is_ok();
    if !(published && extended) {
        // Caches could keep showing these seats free, or the admission could lapse under the hold:
        // undo rather than acknowledge.
        crate::reservations::end_hold(&state, id, ReservationStatus::Cancelled).await?;
        return Err(ApiError::unavailable(anyhow::anyhow!("seat change could not be published")));
    }
    metrics::counter!("tiketi_holds_total", "result" => "held").increment(1);
    let amount = taken.iter().map(|s| s.price.as_won()).sum::<i64>();
    let mut taken = taken;
    taken.sort_by_key(|s| s.id);
    let reservation = Reservation {
        id,
        event_id: event,
        user_id: None,
        status: ReservationStatus::Pending,
        seats: taken,
        amount: Money::won(amount).map_err(ApiError::internal)?,
        expires_at,
        created_at: now,
    };
    Ok((StatusCode::CREATED, Json(ReservationEnvelope { reservation })))
}

pub(crate) async fn fetch_rules(state: &TicketState, event: EventId) -> ApiResult<SaleRules> {
    sqlx::query_as(
        "SELECT sale_opens_at, sale_closes_at, cancelled_at IS NOT NULL AS cancelled, max_seats_per_order,
            waiting_room_enabled
         FROM ticket.events WHERE id = $1",
    )
    .bind(event)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no such event"))
}

fn check_rules(rules: &SaleRules, now: DateTime<Utc>) -> ApiResult<()> {
    if rules.cancelled {
        Err(ApiError::new(ErrorCode::EventCancelled))
    } else if now < rules.sale_opens_at {
        Err(ApiError::new(ErrorCode::SaleNotOpen))
    } else if now >= rules.sale_closes_at {
        Err(ApiError::new(ErrorCode::SaleClosed))
    } else {
        Ok(())
    }
}

fn check_request(seat_ids: &[SeatId], max: i32) -> ApiResult<Vec<uuid::Uuid>> {
    if seat_ids.is_empty() {
        return Err(ApiError::validation(vec![tiketi_shared::FieldError {
            field: "seat_ids".into(),
            message: "at least one seat".into(),
        }]));
    }
    if seat_ids.len() > usize::try_from(max).unwrap_or(0) {
        return Err(ApiError::new(ErrorCode::TooManySeats).detail(format!("at most {max} seats per buyer")));
    }
    let mut seen = HashSet::new();
    let duplicates: Vec<SeatId> = seat_ids.iter().filter(|id| !seen.insert(**id)).copied().collect();
    if !duplicates.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidSeats).detail("duplicate seats").extra("seat_ids", duplicates));
    }
    Ok(seat_ids.iter().map(|s| s.0).collect())
}

/// A row of [`HOLD_SEATS`]: one per seat a hold took, or one for a hold that took nothing.
#[derive(sqlx::FromRow)]
struct HoldRow {
    /// The hold's number in the statement.
    n: i32,
    held: i64,
    on_sale: bool,
    max_seats: i32,
    id: Option<SeatId>,
    label: Option<String>,
    price: Option<Money>,
    /// When nothing was taken: the asked seats that are not this event's.
    foreign_seats: Option<Vec<uuid::Uuid>>,
    /// When nothing was taken: the asked seats neither available nor under an expired hold.
    busy_seats: Option<Vec<uuid::Uuid>>,
    /// When nothing was taken: whether some asked seat is under an expired hold.
    expired_holds: Option<bool>,
}

impl HoldRow {
    /// The seat this row says was taken, if any.
    fn taken(self) -> Option<ReservedSeat> {
        Some(ReservedSeat { id: self.id?, label: self.label?, price: self.price? })
    }

    /// Why the statement took nothing (this is its first row), when its answer tells:
    /// `Ok(())` leaves it to [`take_over_expired`] — an expired hold to take over, or a seat that
    /// changed while the statement ran.
    fn refusal(&self, asked: usize) -> Result<(), Refusal> {
        let (held, max) = (self.held, self.max_seats);
        if !self.on_sale {
            return Err(Refusal::SaleChanged);
        }
        if held + i64::try_from(asked).unwrap_or(i64::MAX) > i64::from(max) {
            return Err(Refusal::Api(
                ApiError::new(ErrorCode::TooManySeats)
                    .detail(format!("at most {max} seats per buyer for this event; {held} already held or bought")),
            ));
        }
        let ids = |seats: &Option<Vec<uuid::Uuid>>| seats.iter().flatten().map(|&s| SeatId(s)).collect::<Vec<_>>();
        let foreign = ids(&self.foreign_seats);
        if !foreign.is_empty() {
            return Err(Refusal::Api(
                ApiError::new(ErrorCode::InvalidSeats).detail("seats of another event").extra("seat_ids", foreign),
            ));
        }
        let busy = ids(&self.busy_seats);
        if !busy.is_empty() && self.expired_holds == Some(false) {
            return Err(Refusal::Api(busy_seats(busy)));
        }
        Ok(())
    }
}

/// Why a hold was refused.
enum Refusal {
    /// The sale's window or cancellation changed since its rules were read: say which, fresh.
    SaleChanged,
    Api(ApiError),
}

/// The common case in one statement, for one hold or for several that share no seat and no buyer
/// (each after its buyer's lock): per hold, checks the sale is open and the buyer's cap, takes the
/// seats only if every one is `available`, and writes the reservation and its seats (its outbox
/// row follows in the same transaction). The sale window, cancellation, waiting room and per-buyer
/// maximum are checked here, against the row as it is now (the handler's early checks may use a
/// rules snapshot up to a second old). A hold takes nothing when any of its seats is not plainly
/// available (then its first row says why, or [`take_seats`] takes over expired holds where that is
/// the reason). Deciding why reads the hold's seats again only when it took nothing, as of the
/// statement's start: a seat freed while the statement ran shows busy there (a 409, as it would have
/// been a moment earlier), and a seat taken while it ran shows nothing, which leaves it to the
/// general path.
///
/// Holds are numbered from 0 (`$1`); each asked seat names its hold's number (`$8`, `$9`). One
/// statement for a batch's holds rather than one each: under batched holds, starting statements'
/// executors was a fifth of PostgreSQL's CPU (docs/benchmarks.md). Holds that share nothing are
/// independent, so taking them together ends as taking them one after the other would.
const HOLD_SEATS: &str = "
WITH hold AS (
  SELECT * FROM unnest($1::int[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::timestamptz[], $7::bool[])
    AS h(n, event_id, user_id, id, now, expires_at, admitted)
), asked AS (
  SELECT * FROM unnest($8::int[], $9::uuid[]) AS a(n, seat_id)
), rules AS (
  SELECT h.n,
         coalesce(e.cancelled_at IS NULL AND h.now >= e.sale_opens_at AND h.now < e.sale_closes_at
                  AND (NOT e.waiting_room_enabled OR h.admitted), false) AS on_sale,
         coalesce(e.max_seats_per_order, 0) AS max_seats,
         (SELECT count(*) FROM asked a WHERE a.n = h.n) AS asked,
         (SELECT coalesce(sum((SELECT count(*) FROM ticket.reservation_seats rs WHERE rs.reservation_id = r.id AND rs.live)), 0)
          FROM ticket.reservations r
          WHERE r.event_id = h.event_id AND r.user_id = h.user_id AND r.status IN ('pending', 'confirmed')
            AND (r.status = 'confirmed' OR r.expires_at > h.now))::bigint AS held
  FROM hold h LEFT JOIN ticket.events e ON e.id = h.event_id
), target AS (
  SELECT s.id, a.n FROM asked a
  JOIN rules ru ON ru.n = a.n AND ru.on_sale AND ru.held + ru.asked <= ru.max_seats
  JOIN hold h ON h.n = a.n
  JOIN ticket.seats s ON s.id = a.seat_id AND s.event_id = h.event_id AND s.status = 'available'
  ORDER BY s.id FOR UPDATE OF s
), whole AS (
  SELECT ru.n FROM rules ru WHERE ru.asked = (SELECT count(*) FROM target t WHERE t.n = ru.n)
), taken AS (
  UPDATE ticket.seats s SET status = 'held', reservation_id = h.id, held_until = h.expires_at
  FROM target t JOIN whole w ON w.n = t.n JOIN hold h ON h.n = t.n
  WHERE s.id = t.id
  RETURNING t.n, s.id, s.label, s.price
), reservation AS (
  INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
  SELECT h.id, h.event_id, h.user_id, 'pending', sum(t.price), h.expires_at, h.now, h.now
  FROM taken t JOIN hold h ON h.n = t.n
  GROUP BY h.id, h.event_id, h.user_id, h.expires_at, h.now
), seats AS (
  INSERT INTO ticket.reservation_seats (reservation_id, seat_id, price)
  SELECT h.id, t.id, t.price FROM taken t JOIN hold h ON h.n = t.n
), look AS (
  SELECT a.n, a.seat_id, s.status, s.status = 'held' AND s.held_until <= h.now AS expired
  FROM asked a JOIN hold h ON h.n = a.n LEFT JOIN ticket.seats s ON s.id = a.seat_id AND s.event_id = h.event_id
  WHERE a.n NOT IN (SELECT n FROM whole)
)
SELECT ru.n, ru.held, ru.on_sale, ru.max_seats, t.id, t.label, t.price,
       (SELECT array_agg(l.seat_id) FROM look l WHERE l.n = ru.n AND l.status IS NULL) AS foreign_seats,
       (SELECT array_agg(l.seat_id) FROM look l WHERE l.n = ru.n AND l.status <> 'available' AND NOT l.expired) AS busy_seats,
       (SELECT bool_or(l.expired) FROM look l WHERE l.n = ru.n) AS expired_holds
FROM rules ru LEFT JOIN taken t ON t.n = ru.n
ORDER BY ru.n";

/// Runs [`HOLD_SEATS`] for `holds`, which must share no seat and no buyer: per hold, in order,
/// its rows.
async fn hold_seats(conn: &mut sqlx::PgConnection, holds: &[&batch::AskedHold]) -> sqlx::Result<Vec<Vec<HoldRow>>> {
    let n = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
    let (mut seat_holds, mut seats) = (Vec::new(), Vec::new());
    for (i, hold) in holds.iter().enumerate() {
        seat_holds.extend(std::iter::repeat_n(n(i), hold.seats.len()));
        seats.extend_from_slice(&hold.seats);
    }
    let rows: Vec<HoldRow> = sqlx::query_as(HOLD_SEATS)
        .bind((0..holds.len()).map(n).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.event.0).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.user.0).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.id.0).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.now).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.expires_at).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.admitted).collect::<Vec<_>>())
        .bind(seat_holds)
        .bind(seats)
        .fetch_all(conn)
        .await?;
    let mut per_hold: Vec<Vec<HoldRow>> = holds.iter().map(|_| Vec::new()).collect();
    for row in rows {
        if let Some(rows) = usize::try_from(row.n).ok().and_then(|i| per_hold.get_mut(i)) {
            rows.push(row);
        }
    }
    Ok(per_hold)
}

/// The transaction of a hold: answers the seats taken (with labels and prices) and the seats
/// freed from expired holds taken over.
#[allow(clippy::too_many_arguments)]
async fn take_seats(
    state: &TicketState,
    event: EventId,
    user: UserId,
    id: ReservationId,
    seats: &[uuid::Uuid],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    admitted: bool,
) -> ApiResult<(Vec<ReservedSeat>, Vec<SeatId>)> {
    let hold = || batch::AskedHold { event, user, id, seats: seats.to_vec(), now, expires_at, admitted };
    if state.hold_batches.enabled() {
        match state.hold_batches.hold(state, hold()).await {
            batch::Outcome::Taken(taken) => return Ok((taken, Vec::new())),
            batch::Outcome::Failed(e) | batch::Outcome::Refused(e) => return Err(e),
            batch::Outcome::Alone => {}
        }
    }
    // One buyer's concurrent holds for one event queue on this lock, so the cap cannot be raced.
    // Sent with BEGIN in one round trip; both ids are typed UUIDs, safe to write into SQL.
    let mut tx = state
        .pool
        .begin_with(format!("{}SELECT pg_advisory_xact_lock(hashtextextended('hold:{user}:{event}', 0))", begin(state)))
        .await?;
    let rows = hold_seats(&mut tx, &[&hold()]).await?.pop().unwrap_or_default();
    let first = rows.first().ok_or_else(|| ApiError::internal(anyhow::anyhow!("hold statement answered no row")))?;
    let refusal = first.refusal(seats.len());
    let taken: Vec<ReservedSeat> = rows.into_iter().filter_map(HoldRow::taken).collect();
    if !taken.is_empty() {
        let held = HoldRecord { id, event, user, taken: &taken, expires_at };
        outbox(&mut tx, held.event(), reservation_version::HELD, now).await?;
        tx.commit().await?;
        return Ok((taken, Vec::new()));
    }
    match refusal {
        Err(Refusal::SaleChanged) => {
            drop(tx);
            return Err(sale_error(state, event, now).await);
        }
        Err(Refusal::Api(e)) => return Err(e),
        Ok(()) => {}
    }
    take_over_expired(tx, event, user, id, seats, now, expires_at).await
}

/// How a hold's transaction begins, sent with its first statement:
/// - with a generic plan for the hold statement: PostgreSQL otherwise chose a custom plan, planned
///   afresh at every execution, and planning was half of PostgreSQL's CPU under holds (`perf`,
///   docs/benchmarks.md) — the statement's plan does not depend on its parameters' values;
/// - with `hold_async_commit`, committing without waiting for the WAL flush.
fn begin(state: &TicketState) -> String {
    let commit = if state.settings.hold_async_commit { "SET LOCAL synchronous_commit = off; " } else { "" };
    format!("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; {commit}")
}

async fn sale_error(state: &TicketState, event: EventId, now: DateTime<Utc>) -> ApiError {
    match fetch_rules(state, event).await {
        Ok(rules) => {
            state.rules.put(event, rules.clone());
            let waiting_room = rules.waiting_room_enabled.then(|| ApiError::new(ErrorCode::NotAdmitted));
            check_rules(&rules, now).err().or(waiting_room).unwrap_or_else(|| ApiError::new(ErrorCode::SeatUnavailable))
        }
        Err(e) => e,
    }
}

#[derive(sqlx::FromRow)]
struct Missing {
    id: SeatId,
    ours: bool,
    free: bool,
    expired_hold: bool,
}

#[derive(sqlx::FromRow)]
struct Taken {
    id: SeatId,
    label: String,
    price: Money,
    previous: Option<ReservationId>,
}

/// The general path, when some seat was not plainly available: foreign seats are a 422, busy
/// seats a 409, and seats whose hold expired are taken over — their old reservation expires and
/// loses all its seats.
async fn take_over_expired(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    event: EventId,
    user: UserId,
    id: ReservationId,
    seats: &[uuid::Uuid],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> ApiResult<(Vec<ReservedSeat>, Vec<SeatId>)> {
    let found: Vec<Missing> = sqlx::query_as(
        "SELECT id, event_id = $2 AS ours, status = 'available' AS free, (status = 'held' AND held_until <= $3) AS expired_hold
         FROM ticket.seats WHERE id = ANY($1)",
    )
    .bind(seats)
    .bind(event)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let ours: HashSet<SeatId> = found.iter().filter(|m| m.ours).map(|m| m.id).collect();
    let foreign: Vec<SeatId> = seats.iter().map(|&s| SeatId(s)).filter(|s| !ours.contains(s)).collect();
    if !foreign.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidSeats).detail("seats of another event").extra("seat_ids", foreign));
    }
    if !found.iter().any(|m| m.expired_hold) {
        let free: HashSet<SeatId> = found.iter().filter(|m| m.free).map(|m| m.id).collect();
        return Err(unavailable(seats, &free));
    }
    let taken: Vec<Taken> = sqlx::query_as(
        "WITH target AS (
            SELECT id, reservation_id AS previous FROM ticket.seats
            WHERE event_id = $1 AND id = ANY($2)
              AND (status = 'available' OR (status = 'held' AND held_until <= $3))
            ORDER BY id FOR UPDATE
         )
         UPDATE ticket.seats s SET status = 'held', reservation_id = $4, held_until = $5
         FROM target WHERE s.id = target.id
         RETURNING s.id, s.label, s.price, target.previous",
    )
    .bind(event)
    .bind(seats)
    .bind(now)
    .bind(id)
    .bind(expires_at)
    .fetch_all(&mut *tx)
    .await?;
    if taken.len() != seats.len() {
        return Err(unavailable(seats, &taken.iter().map(|t| t.id).collect()));
    }
    let mut previous: Vec<ReservationId> = taken.iter().filter_map(|t| t.previous).collect();
    previous.sort_unstable();
    previous.dedup();
    let mut released = Vec::new();
    for old in &previous {
        let freed = release_seats(&mut tx, *old, SeatStatus::Held).await?;
        released.extend(freed.iter().copied());
        let expired = sqlx::query(concat!(
            reservation_by_key!(),
            "UPDATE ticket.reservations t SET status = 'expired', updated_at = $2 FROM r
             WHERE t.id = r.id AND r.status = 'pending'"
        ))
        .bind(old)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if expired.rows_affected() == 1 {
            let ended = ReservationEnded { reservation_id: *old, event_id: event, seat_ids: freed.clone() };
            outbox(&mut tx, DomainEvent::ReservationExpired(ended), reservation_version::ENDED, now).await?;
        }
    }
    let amount: i64 = taken.iter().map(|t| t.price.as_won()).sum();
    sqlx::query(
        "INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6)",
    )
    .bind(id)
    .bind(event)
    .bind(user)
    .bind(amount)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO ticket.reservation_seats (reservation_id, seat_id, price)
         SELECT $1, seat_id, price FROM UNNEST($2::uuid[], $3::bigint[]) AS t(seat_id, price)",
    )
    .bind(id)
    .bind(taken.iter().map(|t| t.id.0).collect::<Vec<_>>())
    .bind(taken.iter().map(|t| t.price.as_won()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let taken: Vec<ReservedSeat> =
        taken.into_iter().map(|t| ReservedSeat { id: t.id, label: t.label, price: t.price }).collect();
    let held = HoldRecord { id, event, user, taken: &taken, expires_at };
    outbox(&mut tx, held.event(), reservation_version::HELD, now).await?;
    tx.commit().await?;
    Ok((taken, released))
}

/// What a hold took, as its `reservation.held` event tells it.
struct HoldRecord<'a> {
    id: ReservationId,
    event: EventId,
    user: UserId,
    taken: &'a [ReservedSeat],
    expires_at: DateTime<Utc>,
}

impl HoldRecord<'_> {
    fn event(&self) -> DomainEvent {
        DomainEvent::ReservationHeld(ReservationHeld {
            reservation_id: self.id,
            event_id: self.event,
            user_id: self.user,
            seat_ids: self.taken.iter().map(|s| s.id).collect(),
            amount: self.taken.iter().map(|s| s.price.as_won()).sum(),
            expires_at: self.expires_at,
        })
    }
}

/// 409 naming the asked seats that are not in `free`.
fn unavailable(asked: &[uuid::Uuid], free: &HashSet<SeatId>) -> ApiError {
    busy_seats(asked.iter().map(|&s| SeatId(s)).filter(|s| !free.contains(s)).collect())
}

/// 409 naming `busy`.
fn busy_seats(busy: Vec<SeatId>) -> ApiError {
    metrics::counter!("tiketi_holds_total", "result" => "unavailable").increment(1);
    ApiError::new(ErrorCode::SeatUnavailable).extra("seat_ids", busy)
}
