//! Admission: the loop every ticket replica runs (no leader — each step is one atomic script),
//! the pre-queue draw at the opening, and the admission tokens holds require.

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use tiketi_shared::events::{DomainEvent, WaitingRoomCounted};
use tiketi_shared::ids::UserId;
use tiketi_shared::token::{ADMISSION_ISSUER, AdmissionClaims};
use tiketi_shared::{ApiError, ErrorCode};
use tokio_util::sync::CancellationToken;

use super::store::{Limits, Tally};
use super::{QueueStatus, checkpoint};
use crate::TicketState;
use crate::model::EventId;

pub fn admitted(
    state: &TicketState,
    event: EventId,
    user: UserId,
    until: DateTime<Utc>,
    epoch: Option<i64>,
) -> Result<QueueStatus, ApiError> {
    Ok(QueueStatus::Admitted { admission_token: token(state, event, user, until, epoch)?, expires_at: until })
}

/// A signed admission token for `user` at `event`, valid until `until`, from the waiting room's
/// generation `epoch` (none without a waiting room).
pub fn token(
    state: &TicketState,
    event: EventId,
    user: UserId,
    until: DateTime<Utc>,
    epoch: Option<i64>,
) -> Result<String, ApiError> {
    let now = state.clock.now().timestamp();
    let claims = AdmissionClaims {
        iss: ADMISSION_ISSUER.to_owned(),
        aud: event.to_string(),
        sub: user,
        iat: now,
        exp: until.timestamp(),
        jti: uuid::Uuid::now_v7(),
        epoch,
    };
    state.admission_keys.active().sign(&claims).map_err(ApiError::internal)
}

/// Checks a hold's admission: a valid token for this event and buyer, and an admission not yet
/// given up, used up or expired. A token of a generation Redis lost brings its admission back.
pub async fn check(state: &TicketState, event: EventId, user: UserId, token: Option<&str>) -> Result<(), ApiError> {
    let not_admitted = || ApiError::new(ErrorCode::NotAdmitted);
    let token = token.ok_or_else(not_admitted)?;
    let claims = state.verifier.verify_admission(token, &event.to_string()).await.map_err(|_| not_admitted())?;
    if claims.sub != user {
        return Err(not_admitted());
    }
    let now_ms = state.clock.now().timestamp_millis();
    if state.waiting_room.admitted_until(event, user, now_ms).await?.is_some() {
        return Ok(());
    }
    let Some(epoch) = claims.epoch else { return Err(not_admitted()) };
    let until_ms = claims.exp.saturating_mul(1000);
    let room = &state.waiting_room;
    let back = super::in_generation(state, event, || room.readmit(event, user, epoch, until_ms, now_ms)).await?;
    if back {
        metrics::counter!("tiketi_queue_restored_total", "kind" => "admitted").increment(1);
        Ok(())
    } else {
        Err(not_admitted())
    }
}

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: EventId,
    sale_opens_at: DateTime<Utc>,
    max_active: i32,
    admit_per_minute: i32,
}

pub async fn run(state: TicketState, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(state.settings.queue.admit_every) => {}
        }
        if let Err(e) = step(&state).await {
            tracing::warn!(error = %e, "admission step failed");
        }
    }
}

/// One admission step for every event whose waiting room is open: draws the pre-queue at the
/// opening, then admits. Answers how many were admitted.
pub async fn step(state: &TicketState) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let rooms: Vec<RoomRow> = sqlx::query_as(
        "SELECT id, sale_opens_at, max_active, admit_per_minute FROM ticket.events
         WHERE waiting_room_enabled AND cancelled_at IS NULL AND sale_opens_at <= $1 AND sale_closes_at > $1",
    )
    .bind(now)
    .fetch_all(&state.pool)
    .await?;
    close_gauges(state, rooms.iter().map(|r| r.id).collect());
    let mut total = 0;
    for room in rooms {
        let room_state = &state.waiting_room;
        if room_state.epoch(room.id).await?.is_none() {
            checkpoint::start(state, room.id).await?;
        }
        if !room_state.is_open(room.id).await? {
            let mut members = room_state.prequeue_members(room.id).await?;
            members.shuffle(&mut rand::thread_rng());
            let drawn = super::in_generation(state, room.id, || room_state.open(room.id, &members)).await?;
            if drawn > 0 {
                tracing::info!(event = %room.id, drawn, opened = %room.sale_opens_at, "pre-queue drawn at the opening");
            }
        }
        let limits = Limits {
            max_active: i64::from(room.max_active),
            admit_per_minute: i64::from(room.admit_per_minute),
            window_ms: i64::try_from(state.settings.queue.admission_window.as_millis()).unwrap_or(i64::MAX),
            presence_ms: i64::try_from(state.settings.queue.presence_timeout.as_millis()).unwrap_or(i64::MAX),
        };
        let admitted =
            super::in_generation(state, room.id, || room_state.admit(room.id, now.timestamp_millis(), limits)).await?;
        metrics::counter!("tiketi_queue_admissions_total", "event" => room.id.to_string())
            .increment(admitted.len() as u64);
        for (_, waited_ms) in &admitted {
            #[allow(clippy::cast_precision_loss)]
            metrics::histogram!("tiketi_queue_wait_seconds").record(*waited_ms as f64 / 1000.0);
        }
        let tally = room_state.tally(room.id).await?;
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("tiketi_queue_waiting", "event" => room.id.to_string()).set(tally.waiting as f64);
            metrics::gauge!("tiketi_queue_active", "event" => room.id.to_string()).set(tally.active as f64);
        }
        report(state, room.id, tally, now).await;
        if let Err(e) = checkpoint::save(state, room.id, now).await {
            tracing::warn!(event = %room.id, error = %e, "checkpointing the waiting room failed; next step tries again");
        }
        total += admitted.len();
    }
    Ok(total)
}

/// Rooms that closed since the last step: their depth gauges fall to zero, since an autoscaler
/// scales the ticket role on them and a closed room keeps nobody waiting.
fn close_gauges(state: &TicketState, open: std::collections::HashSet<EventId>) {
    let closed: Vec<EventId> = match state.open_rooms.lock() {
        Ok(mut last) => {
            let closed = last.difference(&open).copied().collect();
            *last = open;
            closed
        }
        Err(_) => return,
    };
    for event in closed {
        metrics::gauge!("tiketi_queue_waiting", "event" => event.to_string()).set(0.0);
        metrics::gauge!("tiketi_queue_active", "event" => event.to_string()).set(0.0);
    }
}

/// Counts of an open room are told again at least this often, moved or not: the overview shows
/// only rooms counted lately (a closed room stops being counted).
const RETELL: std::time::Duration = std::time::Duration::from_secs(30);

/// Tells analytics the room's counts (`waiting_room.counted`) when they moved since this process
/// last told them, or that was a while ago; a failed write is tried again at the next step.
async fn report(state: &TicketState, event: EventId, tally: Tally, now: DateTime<Utc>) {
    let told = state.reported_tallies.lock().ok().and_then(|told| told.get(&event).copied());
    if told.is_some_and(|(last, at)| last == tally && at.elapsed() < RETELL) {
        return;
    }
    let counted = WaitingRoomCounted {
        event_id: event,
        joined: tally.joined,
        admitted: tally.admitted,
        waiting: tally.waiting,
        active: tally.active,
    };
    let written = async {
        let mut tx = state.pool.begin().await?;
        crate::publish::outbox(&mut tx, DomainEvent::WaitingRoomCounted(counted), now.timestamp_millis(), now).await?;
        tx.commit().await
    };
    match written.await {
        Ok(()) => {
            if let Ok(mut told) = state.reported_tallies.lock() {
                told.insert(event, (tally, std::time::Instant::now()));
            }
        }
        Err(e) => tracing::warn!(%event, error = %e, "recording the waiting room's counts failed"),
    }
}
