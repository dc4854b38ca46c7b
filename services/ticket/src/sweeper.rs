//! Expires holds whose time is up, in every replica at once: each expiry is a guarded
//! transition, so two sweepers reaching the same reservation change it once. It is the safety
//! net: holds expire on time through the worker's delayed message per hold, and lazily on reads.

use tokio_util::sync::CancellationToken;

use crate::TicketState;
use crate::model::ReservationId;
use crate::reservations::{end_hold, expire_if_due};
use crate::status::ReservationStatus;

const BATCH: i64 = 500;

pub async fn run(state: TicketState, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(state.settings.sweep_every) => {}
        }
        match sweep(&state).await {
            Ok(0) => {}
            Ok(expired) => tracing::info!(expired, "expired holds released"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired holds failed"),
        }
    }
}

/// One pass: expires every hold that is due, and cancels holds on cancelled events (a hold
/// whose transaction raced the cancellation). Answers how many were examined.
pub async fn sweep(state: &TicketState) -> Result<usize, tiketi_shared::ApiError> {
    let orphans: Vec<ReservationId> = sqlx::query_scalar(
        "SELECT r.id FROM ticket.reservations r JOIN ticket.events e ON e.id = r.event_id
         WHERE r.status = 'pending' AND e.cancelled_at IS NOT NULL LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&state.pool)
    .await?;
    for id in &orphans {
        end_hold(state, *id, ReservationStatus::Cancelled).await?;
    }
    let mut total = orphans.len();
    loop {
        let due: Vec<ReservationId> = sqlx::query_scalar(
            "SELECT id FROM ticket.reservations WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(state.clock.now())
        .bind(BATCH)
        .fetch_all(&state.pool)
        .await?;
        for id in &due {
            expire_if_due(state, *id).await?;
        }
        total += due.len();
        if due.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}
