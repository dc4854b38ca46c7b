//! A waiting room's counters checkpointed in PostgreSQL (`ticket.waiting_rooms`), and the start
//! of a generation from the checkpoint when Redis has none (see [`super::store`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tiketi_shared::ApiError;

use super::store::Snapshot;
use crate::TicketState;
use crate::model::EventId;

#[derive(sqlx::FromRow)]
struct Row {
    epoch: i32,
    opened: bool,
    drawn: i64,
    arrivals: i64,
    served: i64,
    joins: i64,
    admitted_until: Json<BTreeMap<i64, i64>>,
}

/// Writes the room's counters as Redis has them now; a checkpoint of an older generation than
/// the one recorded is dropped (a step that raced a loss).
pub async fn save(state: &TicketState, event: EventId, now: DateTime<Utc>) -> Result<(), ApiError> {
    let snap = state.waiting_room.snapshot(event, now.timestamp_millis()).await?;
    if snap.epoch == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO ticket.waiting_rooms AS w
             (event_id, epoch, opened, drawn, arrivals, served, joins, admitted_until, saved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (event_id) DO UPDATE SET epoch = EXCLUDED.epoch, opened = EXCLUDED.opened,
             drawn = EXCLUDED.drawn, arrivals = EXCLUDED.arrivals, served = EXCLUDED.served,
             joins = EXCLUDED.joins, admitted_until = EXCLUDED.admitted_until, saved_at = EXCLUDED.saved_at
         WHERE w.epoch <= EXCLUDED.epoch",
    )
    .bind(event)
    .bind(i32::try_from(snap.epoch).unwrap_or(i32::MAX))
    .bind(snap.opened)
    .bind(snap.drawn)
    .bind(snap.arrivals)
    .bind(snap.served)
    .bind(snap.joins)
    .bind(Json(&snap.admitted_until))
    .bind(now)
    .execute(&state.pool)
    .await?;
    Ok(())
}

/// Makes sure the room has a generation in Redis: the first one for a new room, or the one after
/// the last checkpoint's when Redis lost the room (counters back, admission paused for the
/// restore grace). Safe from any number of replicas at once; answers the generation in force.
pub async fn start(state: &TicketState, event: EventId) -> Result<i64, ApiError> {
    let saved: Option<Row> = sqlx::query_as(
        "SELECT epoch, opened, drawn, arrivals, served, joins, admitted_until
         FROM ticket.waiting_rooms WHERE event_id = $1",
    )
    .bind(event)
    .fetch_optional(&state.pool)
    .await?;
    let now = state.clock.now();
    let lost = saved.is_some();
    let (next, grace_until) = match saved {
        None => (Snapshot { epoch: 1, ..Snapshot::default() }, 0),
        Some(row) => {
            let grace = chrono::Duration::from_std(state.settings.queue.restore_grace).unwrap_or_default();
            let next = Snapshot {
                epoch: i64::from(row.epoch) + 1,
                opened: row.opened,
                drawn: row.drawn,
                arrivals: row.arrivals,
                served: row.served,
                joins: row.joins,
                admitted_until: row.admitted_until.0,
            };
            (next, (now + grace).timestamp_millis())
        }
    };
    let epoch = state.waiting_room.init(event, &next, grace_until, now.timestamp_millis()).await?;
    if epoch == next.epoch {
        sqlx::query(
            "INSERT INTO ticket.waiting_rooms AS w (event_id, epoch, saved_at) VALUES ($1, $2, $3)
             ON CONFLICT (event_id) DO UPDATE SET epoch = greatest(w.epoch, EXCLUDED.epoch)",
        )
        .bind(event)
        .bind(i32::try_from(epoch).unwrap_or(i32::MAX))
        .bind(now)
        .execute(&state.pool)
        .await?;
        if lost {
            metrics::counter!("tiketi_queue_generations_total", "event" => event.to_string()).increment(1);
            tracing::warn!(%event, generation = epoch, served = next.served,
                "the waiting room's state was lost in Redis: a new generation starts from the checkpoint; waiters come back with their receipts");
        }
    }
    Ok(epoch)
}
