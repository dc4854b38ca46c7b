//! Reservations: the buyer's view (list, read, cancel) and the guarded transitions every path
//! uses — ending a hold (cancel, expire), confirming, refunding. Each transition locks the seats
//! (in id order) before the reservation row, the same order holds use, so they cannot deadlock.

use axum::extract::State;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tiketi_shared::error::Problem;
use tiketi_shared::events::{DomainEvent, ReservationEnded, reservation_version};
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::ids::UserId;
use tiketi_shared::token::{AuthUser, UserRole};
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json, Money};

use crate::TicketState;
use crate::model::{EventId, Page, PageQuery, Reservation, ReservationEnvelope, ReservationId, ReservedSeat, SeatId};
use crate::publish::{SeatDelta, outbox};
use crate::status::{ReservationStatus, SeatStatus};

/// A reservation and its seats (as arrays, in seat id order), read in one query.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: ReservationId,
    event_id: EventId,
    user_id: UserId,
    status: ReservationStatus,
    amount: Money,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    seat_ids: Vec<SeatId>,
    labels: Vec<String>,
    prices: Vec<Money>,
}

impl Row {
    pub(crate) fn reservation(self, with_user: bool) -> Reservation {
        let seats = self.seat_ids.into_iter().zip(self.labels).zip(self.prices);
        Reservation {
            seats: seats.map(|((id, label), price)| ReservedSeat { id, label, price }).collect(),
            id: self.id,
            event_id: self.event_id,
            user_id: with_user.then_some(self.user_id),
            status: self.status,
            amount: self.amount,
            expires_at: self.expires_at,
            created_at: self.created_at,
        }
    }
}

/// Reads [`Row`]s: reservations `r`, each with its seats. Append a `WHERE` on `r`.
macro_rules! select_reservations {
    () => {
        "SELECT r.id, r.event_id, r.user_id, r.status, r.amount, r.expires_at, r.created_at,
           s.seat_ids, s.labels, s.prices
         FROM ticket.reservations r CROSS JOIN LATERAL (
           SELECT COALESCE(array_agg(st.id ORDER BY st.id), '{}') AS seat_ids,
             COALESCE(array_agg(st.label ORDER BY st.id), '{}') AS labels,
             COALESCE(array_agg(rs.price ORDER BY st.id), '{}') AS prices
           FROM ticket.reservation_seats rs JOIN ticket.seats st ON st.id = rs.seat_id
           WHERE rs.reservation_id = r.id) s "
    };
}
pub(crate) use select_reservations;

pub async fn load_reservation(pool: &PgPool, id: ReservationId, with_user: bool) -> ApiResult<Reservation> {
    let row: Row = sqlx::query_as(concat!(select_reservations!(), "WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no such reservation"))?;
    Ok(row.reservation(with_user))
}

/// Frees the seats reservation `$1` holds in status `$2`, locked in id order; answers their ids.
pub const RELEASE_SEATS: &str = "UPDATE ticket.seats SET status = 'available', reservation_id = NULL, held_until = NULL
    WHERE id IN (SELECT id FROM ticket.seats WHERE reservation_id = $1 AND status = $2 ORDER BY id FOR UPDATE)
    RETURNING id";

/// Frees the seats `reservation` holds in `status` (held, or sold for a refund); answers them.
pub async fn release_seats(
    tx: &mut PgConnection,
    reservation: ReservationId,
    status: SeatStatus,
) -> sqlx::Result<Vec<SeatId>> {
    let released = sqlx::query_scalar(RELEASE_SEATS).bind(reservation).bind(status).fetch_all(&mut *tx).await?;
    sqlx::query("UPDATE ticket.reservation_seats SET live = false WHERE reservation_id = $1 AND live")
        .bind(reservation)
        .execute(&mut *tx)
        .await?;
    Ok(released)
}

/// Opens a statement that changes reservation `$1` only in some status: `r` is the row found by
/// its key alone, locked, and the status is tested on `r`. Tested on the updated row itself, the
/// status would let the planner reach that row through an index of pending reservations only
/// (the sweeper's, the buyer cap's), which statistics taken before a sale show as empty, and so
/// scan every hold of the sale to find one.
macro_rules! reservation_by_key {
    () => {
        "WITH r AS (SELECT id, event_id, status, expires_at FROM ticket.reservations WHERE id = $1 FOR UPDATE) "
    };
}
pub(crate) use reservation_by_key;

/// `pending → $2` (cancelled, or expired if due) for reservation `$1` at `$3`.
pub const END_HOLD: &str = concat!(
    reservation_by_key!(),
    "UPDATE ticket.reservations t SET status = $2, updated_at = $3 FROM r
     WHERE t.id = r.id AND r.status = 'pending' AND ($2 <> 'expired' OR r.expires_at <= $3)
     RETURNING t.event_id, t.user_id, t.created_at, t.expires_at"
);

/// `pending → cancelled | expired`, freeing the seats. `None` when the reservation was not
/// pending (or, for expiry, not yet due): nothing changed.
pub async fn end_hold(state: &TicketState, id: ReservationId, to: ReservationStatus) -> ApiResult<Option<EventId>> {
    debug_assert!(matches!(to, ReservationStatus::Cancelled | ReservationStatus::Expired));
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let released = release_seats(&mut tx, id, SeatStatus::Held).await?;
    let ended: Option<(EventId, UserId, DateTime<Utc>, DateTime<Utc>)> =
        sqlx::query_as(END_HOLD).bind(id).bind(to).bind(now).fetch_optional(&mut *tx).await?;
    let Some((event, user, held_at, held_until)) = ended else {
        return Ok(None); // rolled back: the seats stay as they were
    };
    let ended = ReservationEnded { reservation_id: id, event_id: event, seat_ids: released.clone() };
    let ended = if to == ReservationStatus::Expired {
        DomainEvent::ReservationExpired(ended)
    } else {
        DomainEvent::ReservationCancelled(ended)
    };
    outbox(&mut tx, ended, reservation_version::ENDED, now).await?;
    tx.commit().await?;
    let deltas: Vec<SeatDelta> =
        released.into_iter().map(|id| SeatDelta { id, status: SeatStatus::Available }).collect();
    state.publisher.seats_changed(event, &deltas, now).await;
    release_admission(state, event, user, held_at, held_until).await;
    Ok(Some(event))
}

/// Frees the buyer's waiting-room slot, that of the hold made at `held_at` and lasting until
/// `held_until` (which tell whether the slot was one the waiting room kept after losing its
/// state); a failure only delays it (the admission also expires).
pub async fn release_admission(
    state: &TicketState,
    event: EventId,
    user: UserId,
    held_at: DateTime<Utc>,
    held_until: DateTime<Utc>,
) {
    let (at, until) = (held_at.timestamp_millis(), held_until.timestamp_millis());
    if let Err(e) = state.waiting_room.release(event, user, at, until).await {
        tracing::warn!(%event, error = %e, "releasing an admission failed");
    }
}

/// Expires `id` if it is pending and past its expiry (the sweeper's step, and the seam for a
/// delayed message per hold).
pub async fn expire_if_due(state: &TicketState, id: ReservationId) -> ApiResult<()> {
    end_hold(state, id, ReservationStatus::Expired).await.map(drop)
}

/// `reservation` as it stands now: a pending hold past its expiry is expired first (so nobody is
/// shown a stale hold); anything else is answered as loaded, without a write.
pub async fn current(state: &TicketState, reservation: Reservation) -> ApiResult<Reservation> {
    if reservation.status == ReservationStatus::Pending && reservation.expires_at <= state.clock.now() {
        expire_if_due(state, reservation.id).await?;
        return load_reservation(&state.pool, reservation.id, true).await;
    }
    Ok(reservation)
}

/// The caller's reservations, newest first.
#[utoipa::path(get, path = "/api/reservations", operation_id = "list_reservations", tag = "holds", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Reservation>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Reservation>>> {
    let (page, limit) = query.resolve()?;
    let due: Vec<ReservationId> = sqlx::query_scalar(
        "SELECT id FROM ticket.reservations WHERE user_id = $1 AND status = 'pending' AND expires_at <= $2",
    )
    .bind(claims.sub)
    .bind(state.clock.now())
    .fetch_all(&state.pool)
    .await?;
    for id in due {
        expire_if_due(&state, id).await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket.reservations WHERE user_id = $1")
        .bind(claims.sub)
        .fetch_one(&state.pool)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(concat!(
        select_reservations!(),
        "WHERE r.user_id = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(claims.sub)
    .bind(i64::from(limit))
    .bind(i64::from((page - 1) * limit))
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(Page { items: rows.into_iter().map(|row| row.reservation(false)).collect(), page, limit, total }))
}

/// Loads a reservation the caller may see: its owner's, or any for an admin (else 404).
async fn visible(
    state: &TicketState,
    caller: &tiketi_shared::token::AccessClaims,
    id: ReservationId,
) -> ApiResult<Reservation> {
    let reservation = load_reservation(&state.pool, id, true).await?;
    let owner = reservation.user_id == Some(caller.sub);
    if !owner && caller.role != UserRole::Admin {
        return Err(ApiError::new(ErrorCode::NotFound).detail("no such reservation"));
    }
    Ok(reservation)
}

/// One reservation (its owner or an admin).
#[utoipa::path(get, path = "/api/reservations/{id}", operation_id = "get_reservation", tag = "holds", security(("bearer" = [])),
    params(("id" = ReservationId, Path)), responses((status = 200, body = ReservationEnvelope), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<ReservationEnvelope>> {
    let mut reservation = current(&state, visible(&state, &claims, id).await?).await?;
    reservation.user_id = None;
    Ok(Json(ReservationEnvelope { reservation }))
}

/// Cancel a pending reservation, freeing its seats. Paid reservations are refunded through the
/// payment service instead.
#[utoipa::path(post, path = "/api/reservations/{id}/cancel", operation_id = "cancel_reservation", tag = "holds", security(("bearer" = [])),
    params(("id" = ReservationId, Path)),
    responses((status = 200, body = ReservationEnvelope), (status = 404, body = Problem),
        (status = 409, description = "`NOT_CANCELLABLE`, `REFUND_IN_PROGRESS`, `REFUND_REFUSED`", body = Problem),
        (status = 422, description = "`REFUND_ACCOUNT_REQUIRED`: a transfer is refunded with POST /api/payments/{order_id}/cancel", body = Problem)))]
pub async fn cancel(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<ReservationId>,
) -> ApiResult<Json<ReservationEnvelope>> {
    let reservation = current(&state, visible(&state, &claims, id).await?).await?;
    let not_cancellable = |status: ReservationStatus| {
        ApiError::new(ErrorCode::NotCancellable)
            .detail(format!("a {} reservation cannot be cancelled", status.as_str()))
    };
    if reservation.status == ReservationStatus::Confirmed {
        // Paid: the payment role refunds the order in full and hands the seats back.
        state.payments.refund(id, &claims).await?;
        return Ok(Json(ReservationEnvelope { reservation: load_reservation(&state.pool, id, false).await? }));
    }
    if reservation.status != ReservationStatus::Pending {
        return Err(not_cancellable(reservation.status));
    }
    if end_hold(&state, id, ReservationStatus::Cancelled).await?.is_none() {
        // Confirmed or expired between the read and the cancel.
        return Err(not_cancellable(load_reservation(&state.pool, id, false).await?.status));
    }
    Ok(Json(ReservationEnvelope { reservation: load_reservation(&state.pool, id, false).await? }))
}
