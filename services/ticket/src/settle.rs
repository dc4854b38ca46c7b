//! Money-side transitions: confirming a paid hold, refunding, and cancelling a whole event —
//! with the internal API the payment role calls and the admin's cancel endpoint.

use std::sync::LazyLock;

use axum::extract::{Extension, State};
use chrono::{DateTime, Utc};
use tiketi_shared::error::Problem;
use tiketi_shared::events::{
    self, DomainEvent, Envelope, EventCancelled, ReservationConfirmed, ReservationEnded, reservation_version,
};
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::messages::HoldState;
use tiketi_shared::reservations::{
    ExtendHold, InternalReservation, RefundRequest, RefundRequests, RefundRequestsQuery,
};
use tiketi_shared::token::{AdminUser, ServiceClaims};
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json};

use crate::TicketState;
use crate::browse::load_detail;
use crate::model::{EventDetail, EventId, Reservation, ReservationEnvelope, ReservationId, SeatId};
use crate::publish::{SeatDelta, outbox};
use crate::reservations::{end_hold, load_reservation, release_seats, reservation_by_key, select_reservations};
use crate::status::{ReservationStatus, SeatStatus};

/// Confirms reservation `$1` at `$2`, in one statement: locks the seats it holds (in id order,
/// before the reservation row, as every transition does) and, only if they are all `$3` of its
/// seats, its status is `pending` and its event is not cancelled, sells them, confirms it and
/// writes its `reservation.confirmed` (bound by `events::bind_event` from `$4`). Answers the
/// reservation's id when it confirmed, no row when nothing changed.
///
/// The seats are counted under their locks and tested in the reservation's lock (`r`), so they
/// are locked first; the sale waits for the confirmation (`EXISTS … changed`), so a refused
/// confirm writes nothing. Data-modifying `WITH` queries always run to completion, which is why
/// each one carries its own condition rather than the statement rolling back.
pub static CONFIRM: LazyLock<String> = LazyLock::new(|| {
    let event = events::event_for_each(crate::SCHEMA, "changed", 4);
    format!(
        "WITH held AS MATERIALIZED (
           SELECT id FROM ticket.seats WHERE reservation_id = $1 AND status = 'held' ORDER BY id FOR UPDATE),
         r AS (SELECT id, event_id, status FROM ticket.reservations
               WHERE id = $1 AND (SELECT count(*) FROM held) = $3 FOR UPDATE),
         changed AS (UPDATE ticket.reservations t SET status = 'confirmed', updated_at = $2 FROM r
           WHERE t.id = r.id AND r.status = 'pending'
             AND NOT EXISTS (SELECT 1 FROM ticket.events e WHERE e.id = r.event_id AND e.cancelled_at IS NOT NULL)
           RETURNING t.id),
         sold AS (UPDATE ticket.seats SET status = 'sold', held_until = NULL
           WHERE id IN (SELECT id FROM held) AND EXISTS (SELECT 1 FROM changed)),
         event AS ({event})
         SELECT id FROM changed"
    )
});

/// `pending → confirmed`, only while the reservation still holds every one of its seats (even
/// if its time ran out, as long as nobody took them). Confirming twice answers the same.
pub async fn confirm(state: &TicketState, id: ReservationId) -> ApiResult<ReservationEnvelope> {
    let now = state.clock.now();
    let current = load_reservation(&state.pool, id, true).await?;
    match current.status {
        ReservationStatus::Confirmed => return Ok(ReservationEnvelope { reservation: current }),
        ReservationStatus::Pending => {}
        _ => return Err(ApiError::new(ErrorCode::HoldExpired)),
    }
    let seat_ids: Vec<SeatId> = current.seats.iter().map(|seat| seat.id).collect();
    let event = Envelope::new(
        &DomainEvent::ReservationConfirmed(ReservationConfirmed {
            reservation_id: id,
            event_id: current.event_id,
            user_id: current.user_id,
            seat_ids: seat_ids.clone(),
            amount: current.amount.as_won(),
        }),
        reservation_version::ENDED,
        now,
    );
    let seats = i64::try_from(seat_ids.len()).unwrap_or(i64::MAX);
    let query = sqlx::query_as(&CONFIRM).bind(id).bind(now).bind(seats);
    let confirmed: Option<(ReservationId,)> = events::bind_event(query, &event).fetch_optional(&state.pool).await?;
    if confirmed.is_none() {
        // A concurrent confirm of the same reservation (the buyer's and a webhook's) sold them:
        // that is the same answer, not a lost hold.
        let now_current = load_reservation(&state.pool, id, true).await?;
        return match now_current.status {
            ReservationStatus::Confirmed => Ok(ReservationEnvelope { reservation: now_current }),
            ReservationStatus::Pending => {
                Err(ApiError::new(ErrorCode::HoldExpired).detail("some seats were taken after the hold ended"))
            }
            _ => Err(ApiError::new(ErrorCode::HoldExpired)),
        };
    }
    let deltas: Vec<SeatDelta> = seat_ids.into_iter().map(|id| SeatDelta { id, status: SeatStatus::Sold }).collect();
    state.publisher.seats_changed(current.event_id, &deltas, now).await;
    if let Some(user) = current.user_id {
        crate::reservations::release_admission(state, current.event_id, user, current.created_at, current.expires_at)
            .await;
    }
    Ok(ReservationEnvelope { reservation: Reservation { status: ReservationStatus::Confirmed, ..current } })
}

/// `confirmed → refunded`; the seats go back on sale. Refunding twice answers the same.
pub async fn refunded(state: &TicketState, id: ReservationId) -> ApiResult<ReservationEnvelope> {
    let now = state.clock.now();
    let current = load_reservation(&state.pool, id, true).await?;
    match current.status {
        ReservationStatus::Refunded => return Ok(ReservationEnvelope { reservation: current }),
        ReservationStatus::Confirmed => {}
        _ => return Err(ApiError::new(ErrorCode::NotCancellable).detail("only a confirmed reservation is refunded")),
    }
    let mut tx = state.pool.begin().await?;
    let released = release_seats(&mut tx, id, SeatStatus::Sold).await?;
    let done = sqlx::query(
        "UPDATE ticket.reservations SET status = 'refunded', updated_at = $2 WHERE id = $1 AND status = 'confirmed'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        drop(tx);
        // Refunded concurrently by another call: the same answer.
        let now_current = load_reservation(&state.pool, id, true).await?;
        if now_current.status == ReservationStatus::Refunded {
            return Ok(ReservationEnvelope { reservation: now_current });
        }
        return Err(ApiError::new(ErrorCode::NotCancellable));
    }
    let refunded = ReservationEnded { reservation_id: id, event_id: current.event_id, seat_ids: released.clone() };
    outbox(&mut tx, DomainEvent::ReservationRefunded(refunded), reservation_version::REFUNDED, now).await?;
    tx.commit().await?;
    let deltas: Vec<SeatDelta> =
        released.into_iter().map(|id| SeatDelta { id, status: SeatStatus::Available }).collect();
    state.publisher.seats_changed(current.event_id, &deltas, now).await;
    Ok(ReservationEnvelope { reservation: load_reservation(&state.pool, id, true).await? })
}

/// For checkout: owner, amount, status and expiry of a reservation.
pub async fn internal_get(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<InternalReservation>> {
    #[derive(sqlx::FromRow)]
    struct Titled {
        #[sqlx(flatten)]
        row: crate::reservations::Row,
        title: String,
    }
    let found: Option<Titled> = sqlx::query_as(concat!(
        "SELECT found.*, e.title FROM (",
        select_reservations!(),
        "WHERE r.id = $1) found JOIN ticket.events e ON e.id = found.event_id"
    ))
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    let Titled { row, title: event_name } =
        found.ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no such reservation"))?;
    let reservation = crate::reservations::current(&state, row.reservation(true)).await?;
    Ok(Json(InternalReservation { reservation, event_name }))
}

/// Keeps a pending reservation's seats held until `until` (never shortened; at most
/// `max_deposit_hold` from now) — a virtual account waiting for its deposit. Only while the
/// reservation still holds every one of its seats; otherwise 409 `HOLD_EXPIRED`.
pub async fn internal_extend(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Path(id): Path<ReservationId>,
    Json(body): Json<ExtendHold>,
) -> ApiResult<Json<ReservationEnvelope>> {
    let now = state.clock.now();
    let bound = now + chrono::Duration::from_std(state.settings.max_deposit_hold).unwrap_or(chrono::Duration::days(1));
    let until = body.until.min(bound);
    let mut tx = state.pool.begin().await?;
    // The seats first, then the reservation: the order every transition and every hold locks in.
    let seats: Vec<SeatId> = sqlx::query_scalar(
        "UPDATE ticket.seats SET held_until = GREATEST(held_until, $2)
         WHERE id IN (SELECT id FROM ticket.seats WHERE reservation_id = $1 AND status = 'held' ORDER BY id FOR UPDATE)
         RETURNING id",
    )
    .bind(id)
    .bind(until)
    .fetch_all(&mut *tx)
    .await?;
    let extended = sqlx::query(concat!(
        reservation_by_key!(),
        "UPDATE ticket.reservations t SET expires_at = GREATEST(t.expires_at, $2), updated_at = $3 FROM r
         WHERE t.id = r.id AND r.status = 'pending'
           AND $4 = (SELECT count(*) FROM ticket.reservation_seats WHERE reservation_id = $1 AND live)"
    ))
    .bind(id)
    .bind(until)
    .bind(now)
    .bind(i64::try_from(seats.len()).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !extended {
        return Err(ApiError::new(ErrorCode::HoldExpired)); // rolled back: the seats keep their time
    }
    tx.commit().await?;
    Ok(Json(ReservationEnvelope { reservation: load_reservation(&state.pool, id, true).await? }))
}

/// Paid reservations of cancelled events still waiting for their refund, for the payment role.
pub async fn internal_refund_requests(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Query(query): Query<RefundRequestsQuery>,
) -> ApiResult<Json<RefundRequests>> {
    let limit = i64::from(query.limit.unwrap_or(100).clamp(1, 1000));
    let rows: Vec<(ReservationId, EventId, tiketi_shared::Money, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, event_id, amount, refund_requested_at FROM ticket.reservations
         WHERE refund_requested_at IS NOT NULL AND status = 'confirmed' AND ($1::uuid IS NULL OR id > $1)
         ORDER BY id LIMIT $2",
    )
    .bind(query.after)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|(reservation_id, event_id, amount, requested_at)| RefundRequest {
            reservation_id,
            event_id,
            amount,
            requested_at,
        })
        .collect();
    Ok(Json(RefundRequests { items }))
}

/// Expires a hold if it is due (the worker's delayed message); answers whether it is still
/// pending and until when, so an extended hold is checked again at its new end.
pub async fn internal_expire(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<HoldState>> {
    crate::reservations::expire_if_due(&state, id).await?;
    let reservation = load_reservation(&state.pool, id, false).await?;
    Ok(Json(HoldState {
        reservation_id: id,
        pending: reservation.status == ReservationStatus::Pending,
        expires_at: reservation.expires_at,
    }))
}

pub async fn internal_confirm(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<ReservationEnvelope>> {
    Ok(Json(confirm(&state, id).await?))
}

/// Releases a pending reservation (e.g. its payment failed). Idempotent.
pub async fn internal_release(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<ReservationEnvelope>> {
    end_hold(&state, id, ReservationStatus::Cancelled).await?;
    Ok(Json(ReservationEnvelope { reservation: load_reservation(&state.pool, id, true).await? }))
}

pub async fn internal_refunded(
    State(state): State<TicketState>,
    Extension(_caller): Extension<ServiceClaims>,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<ReservationEnvelope>> {
    Ok(Json(refunded(&state, id).await?))
}

/// Cancel an event: pending holds are released; paid reservations are marked for refund and an
/// `event.cancelled` domain event names them for the payment role.
#[utoipa::path(post, path = "/api/admin/events/{id}/cancel", tag = "admin", security(("bearer" = [])),
    params(("id" = EventId, Path)),
    responses((status = 200, body = EventDetail), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn cancel_event(
    State(state): State<TicketState>,
    _admin: AdminUser,
    Path(id): Path<EventId>,
) -> ApiResult<Json<EventDetail>> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let found: Option<bool> =
        sqlx::query_scalar("SELECT cancelled_at IS NULL FROM ticket.events WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match found {
        None => return Err(ApiError::new(ErrorCode::NotFound).detail("no such event")),
        Some(false) => return Ok(Json(load_detail(&state, id).await?)), // already cancelled
        Some(true) => {}
    }
    let version: i64 = sqlx::query_scalar(
        "UPDATE ticket.events SET cancelled_at = $2, updated_at = $2, version = version + 1 WHERE id = $1 RETURNING version",
    )
    .bind(id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let pending: Vec<ReservationId> =
        sqlx::query_scalar("SELECT id FROM ticket.reservations WHERE event_id = $1 AND status = 'pending' ORDER BY id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let mut released = Vec::new();
    for reservation in &pending {
        released.extend(release_seats(&mut tx, *reservation, SeatStatus::Held).await?);
    }
    sqlx::query("UPDATE ticket.reservations SET status = 'cancelled', updated_at = $2 WHERE id = ANY($1) AND status = 'pending'")
        .bind(pending.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let to_refund: Vec<ReservationId> = sqlx::query_scalar(
        "UPDATE ticket.reservations SET refund_requested_at = $2, updated_at = $2
         WHERE event_id = $1 AND status = 'confirmed' AND refund_requested_at IS NULL RETURNING id",
    )
    .bind(id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let cancelled = EventCancelled { event_id: id, cancelled_reservations: pending, refund_reservations: to_refund };
    outbox(&mut tx, DomainEvent::EventCancelled(cancelled), version, now).await?;
    tx.commit().await?;
    let deltas: Vec<SeatDelta> =
        released.into_iter().map(|id| SeatDelta { id, status: SeatStatus::Available }).collect();
    state.publisher.seats_changed(id, &deltas, now).await;
    state.publisher.invalidate_detail(id).await;
    state.bump_catalogue().await;
    Ok(Json(load_detail(&state, id).await?))
}
