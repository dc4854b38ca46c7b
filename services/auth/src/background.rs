//! Background work of the auth role: deleting refresh tokens that can no longer be used.
//!
//! Expired tokens are kept for a day past expiry (so a late re-use still reads as "expired"
//! in logs rather than "unknown"), then deleted in small batches so no statement holds many locks.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::AuthState;
use crate::store;

const EVERY: Duration = Duration::from_secs(3600);
const KEEP_AFTER_EXPIRY: chrono::Duration = chrono::Duration::days(1);
const BATCH: i64 = 5_000;

/// Runs [`purge_step`] every hour until `stop` is cancelled.
pub async fn purge_dead_sessions(state: AuthState, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        match purge_step(&state).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "purged expired refresh tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired refresh tokens failed"),
        }
    }
}

/// One full clean-up: deletes every refresh token expired for over a day, batch by batch.
pub async fn purge_step(state: &AuthState) -> sqlx::Result<u64> {
    let before = state.clock.now() - KEEP_AFTER_EXPIRY;
    let mut total = 0;
    loop {
        let deleted = store::purge_expired_refresh_tokens(&state.pool, before, BATCH).await?;
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}
