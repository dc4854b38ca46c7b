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
use tiketi_shared::extract::Path;
use tiketi_shared::ids::UserId;
use tiketi_shared::token::AuthUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json, Money};

use crate::TicketState;
use crate::model::{EventId, HoldRequest, ReservationEnvelope, ReservationId, SeatId};
use crate::publish::{SeatDelta, outbox};
use crate::reservations::{load_reservation, release_seats};
use crate::status::SeatStatus;

#[derive(sqlx::FromRow)]
struct SaleRules {
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
    cancelled: bool,
    max_seats_per_order: i32,
    waiting_room_enabled: bool,
}

#[derive(sqlx::FromRow)]
struct Taken {
    id: SeatId,
    price: Money,
    previous: Option<ReservationId>,
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
    _headers: HeaderMap,
    Json(body): Json<HoldRequest>,
) -> ApiResult<(StatusCode, Json<ReservationEnvelope>)> {
    let now = state.clock.now();
    let rules: SaleRules = sqlx::query_as(
        "SELECT sale_opens_at, sale_closes_at, cancelled_at IS NOT NULL AS cancelled, max_seats_per_order,
            waiting_room_enabled
         FROM ticket.events WHERE id = $1",
    )
    .bind(event)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no such event"))?;
    check_sale(&rules, now)?;
    if rules.waiting_room_enabled {
        // Admission tokens are issued by the waiting room; until it admits someone, nobody holds.
        return Err(ApiError::new(ErrorCode::NotAdmitted));
    }
    let seats = check_request(&body.seat_ids, rules.max_seats_per_order)?;
    let id = ReservationId::new();
    let expires_at = now + state.hold_ttl();
    let (taken, released) =
        take_seats(&state, event, claims.sub, id, &seats, rules.max_seats_per_order, now, expires_at).await?;

    let mut deltas: Vec<SeatDelta> = taken.iter().map(|&id| SeatDelta { id, status: SeatStatus::Held }).collect();
    deltas.extend(released.iter().map(|&id| SeatDelta { id, status: SeatStatus::Available }));
    state.publisher.seats_changed(event, &deltas, now).await;
    metrics::counter!("tiketi_holds_total", "result" => "held").increment(1);
    let reservation = load_reservation(&state.pool, id, false).await?;
    Ok((StatusCode::CREATED, Json(ReservationEnvelope { reservation })))
}

fn check_sale(rules: &SaleRules, now: DateTime<Utc>) -> ApiResult<()> {
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

/// The transaction of a hold: answers the seats taken and the seats freed from expired holds.
#[allow(clippy::too_many_arguments)]
async fn take_seats(
    state: &TicketState,
    event: EventId,
    user: UserId,
    id: ReservationId,
    seats: &[uuid::Uuid],
    max: i32,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> ApiResult<(Vec<SeatId>, Vec<SeatId>)> {
    let mut tx = state.pool.begin().await?;
    // One buyer's concurrent holds for one event queue here, so the cap below cannot be raced.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("hold:{user}:{event}"))
        .execute(&mut *tx)
        .await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket.reservation_seats rs JOIN ticket.reservations r ON r.id = rs.reservation_id
         WHERE r.event_id = $1 AND r.user_id = $2 AND rs.live
           AND (r.status = 'confirmed' OR (r.status = 'pending' AND r.expires_at > $3))",
    )
    .bind(event)
    .bind(user)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if held + i64::try_from(seats.len()).unwrap_or(i64::MAX) > i64::from(max) {
        return Err(ApiError::new(ErrorCode::TooManySeats)
            .detail(format!("at most {max} seats per buyer for this event; {held} already held or bought")));
    }
    let ours: Vec<SeatId> = sqlx::query_scalar("SELECT id FROM ticket.seats WHERE id = ANY($1) AND event_id = $2")
        .bind(seats)
        .bind(event)
        .fetch_all(&mut *tx)
        .await?;
    if ours.len() != seats.len() {
        let ours: HashSet<SeatId> = ours.into_iter().collect();
        let foreign: Vec<SeatId> = seats.iter().map(|&s| SeatId(s)).filter(|s| !ours.contains(s)).collect();
        return Err(ApiError::new(ErrorCode::InvalidSeats).detail("seats of another event").extra("seat_ids", foreign));
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
         RETURNING s.id, s.price, target.previous",
    )
    .bind(event)
    .bind(seats)
    .bind(now)
    .bind(id)
    .bind(expires_at)
    .fetch_all(&mut *tx)
    .await?;
    if taken.len() != seats.len() {
        let got: HashSet<SeatId> = taken.iter().map(|t| t.id).collect();
        let busy: Vec<SeatId> = seats.iter().map(|&s| SeatId(s)).filter(|s| !got.contains(s)).collect();
        metrics::counter!("tiketi_holds_total", "result" => "unavailable").increment(1);
        return Err(ApiError::new(ErrorCode::SeatUnavailable).extra("seat_ids", busy));
    }

    // Holds that had expired lose every seat; the ones not taken just now become free.
    let mut previous: Vec<ReservationId> = taken.iter().filter_map(|t| t.previous).collect();
    previous.sort_unstable();
    previous.dedup();
    let mut released = Vec::new();
    for old in &previous {
        released.extend(release_seats(&mut tx, *old, SeatStatus::Held).await?);
        let expired = sqlx::query(
            "UPDATE ticket.reservations SET status = 'expired', updated_at = $2 WHERE id = $1 AND status = 'pending'",
        )
        .bind(old)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if expired.rows_affected() == 1 {
            outbox(&mut tx, "reservation.expired", serde_json::json!({"reservation_id": old, "event_id": event}), now)
                .await?;
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
    let seat_ids: Vec<SeatId> = taken.iter().map(|t| t.id).collect();
    outbox(
        &mut tx,
        "reservation.held",
        serde_json::json!({"reservation_id": id, "event_id": event, "user_id": user, "seat_ids": seat_ids,
                           "amount": amount, "expires_at": expires_at}),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((seat_ids, released))
}
