//! Holds end on time: every `reservation.held` schedules a delayed [`HoldDue`] message; when it
//! arrives the ticket role expires the hold if it is due. SQS delays stop at 15 minutes and holds
//! last longer (and a virtual-account deposit can extend one), so a message that arrives early is
//! sent again with the time that is left. The ticket role's sweeper stays as the safety net.

use tiketi_shared::aws::{Queue, describe};
use tiketi_shared::events::{DomainEvent, Envelope};
use tiketi_shared::internal::InternalError;
use tiketi_shared::messages::{HoldDue, HoldState};

use crate::WorkerState;
use tiketi_shared::consumer::{Handler, Outcome};

/// The worker's domain-event queue: holds schedule their expiry, once per event.
pub struct DomainEvents(pub WorkerState);

#[async_trait::async_trait]
impl Handler for DomainEvents {
    async fn handle(&self, body: &str) -> Outcome {
        let envelope: Envelope = match serde_json::from_str(body) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::Poison(format!("not a domain event: {e}")),
        };
        match envelope.event() {
            Ok(Some(DomainEvent::ReservationHeld(held))) => {
                let due = HoldDue { reservation_id: held.reservation_id, expires_at: held.expires_at };
                schedule_once(&self.0, &envelope, due).await
            }
            Ok(_) => Outcome::Done, // nothing for the worker to do (or a kind this build does not know)
            Err(e) => Outcome::Poison(format!("{} with an unreadable payload: {e}", envelope.kind)),
        }
    }
}

/// Sends `due` unless this event was acted on before: the event id is recorded in the same
/// transaction, committed only after SQS took the message (a crash between the two sends it
/// again on redelivery, which is harmless: expiry is idempotent).
async fn schedule_once(state: &WorkerState, envelope: &Envelope, due: HoldDue) -> Outcome {
    let attempt = async {
        let mut tx = state.pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO worker.consumed_events (event_id, kind, consumed_at) VALUES ($1, $2, $3)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(envelope.id)
        .bind(&envelope.kind)
        .bind(state.clock.now())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            send_due(state, due).await?;
            metrics::counter!("tiketi_hold_expiries_scheduled_total").increment(1);
        }
        tx.commit().await?;
        anyhow::Ok(())
    };
    match attempt.await {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Retry(format!("{e:#}")),
    }
}

/// Puts `due` on the hold-expiry queue, delayed until its time (at most `max_delay`).
pub async fn send_due(state: &WorkerState, due: HoldDue) -> anyhow::Result<()> {
    let left_ms = (due.expires_at - state.clock.now()).num_milliseconds().max(0);
    let delay = (left_ms + 999) / 1000;
    let delay = delay.min(i64::try_from(state.settings.max_delay.as_secs()).unwrap_or(900));
    state
        .aws
        .sqs
        .send_message()
        .queue_url(state.located.queue(Queue::HoldExpiry))
        .message_body(serde_json::to_string(&due)?)
        .delay_seconds(i32::try_from(delay).unwrap_or(900))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("sending a hold expiry: {}", describe(&e)))?;
    Ok(())
}

/// The hold-expiry queue: expire what is due, re-delay what is not.
pub struct HoldExpiry(pub WorkerState);

#[async_trait::async_trait]
impl Handler for HoldExpiry {
    async fn handle(&self, body: &str) -> Outcome {
        let state = &self.0;
        let due: HoldDue = match serde_json::from_str(body) {
            Ok(due) => due,
            Err(e) => return Outcome::Poison(format!("not a hold expiry: {e}")),
        };
        if due.expires_at > state.clock.now() {
            return resend(state, due).await;
        }
        let path = format!("/internal/ticket/reservations/{}/expire", due.reservation_id);
        match state.ticket.post::<_, HoldState>("ticket", &path, &serde_json::json!({})).await {
            Ok(hold) if hold.pending => {
                // Extended since (a deposit is awaited): come back at the new end.
                resend(state, HoldDue { reservation_id: due.reservation_id, expires_at: hold.expires_at }).await
            }
            Ok(_) => {
                metrics::counter!("tiketi_hold_expiries_total").increment(1);
                Outcome::Done
            }
            Err(InternalError::Status { status: 404, .. }) => Outcome::Done,
            Err(e) => Outcome::Retry(format!("expiring {}: {e}", due.reservation_id)),
        }
    }
}

async fn resend(state: &WorkerState, due: HoldDue) -> Outcome {
    match send_due(state, due).await {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Retry(format!("{e:#}")),
    }
}
