//! The outbox relay: unpublished rows of every service's outbox go to the `domain-events` topic,
//! then are marked published, in one transaction that holds their row locks.
//!
//! The outbox tables are the one thing of another service's schema the worker touches: each is a
//! publishing contract with the same shape (`tiketi_shared::events::write_outbox`), not a model.
//! Replicas share the work through `FOR UPDATE SKIP LOCKED`. A process killed after publishing
//! and before committing leaves its rows unpublished, so they are published again: delivery is at
//! least once, and consumers dedupe by event id. Published rows are pruned after the retention.

use std::collections::HashSet;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use chrono::{DateTime, Utc};
use tiketi_shared::aws::describe;
use tiketi_shared::events::{Envelope, OUTBOX_SCHEMAS};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::WorkerState;

/// SNS takes at most ten messages per `PublishBatch`, of 256 KiB together.
const SNS_BATCH: usize = 10;
const SNS_BATCH_BYTES: usize = 256 * 1024 - 4 * 1024;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    aggregate_id: Uuid,
    version: i64,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl From<Row> for Envelope {
    fn from(row: Row) -> Self {
        Envelope {
            id: row.id,
            kind: row.kind,
            aggregate_id: row.aggregate_id,
            occurred_at: row.created_at,
            version: row.version,
            payload: row.payload,
        }
    }
}

/// Relays until stopped: at once while batches come back full, else every `relay_every`.
pub async fn run(state: WorkerState, stop: CancellationToken) {
    let mut last_prune = std::time::Instant::now();
    loop {
        let mut full = false;
        for schema in OUTBOX_SCHEMAS {
            match relay_once(&state, schema).await {
                Ok(n) => full |= i64::try_from(n).unwrap_or(i64::MAX) >= state.settings.relay_batch,
                Err(_) if state.pool.is_closed() => return,
                Err(e) => tracing::warn!(schema, error = %format!("{e:#}"), "relaying the outbox failed"),
            }
        }
        if last_prune.elapsed() > std::time::Duration::from_secs(60) {
            last_prune = std::time::Instant::now();
            for schema in OUTBOX_SCHEMAS {
                if let Err(e) = prune(&state, schema).await {
                    tracing::warn!(schema, error = %e, "pruning the outbox failed");
                }
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(state.settings.relay_every) => {}
        }
    }
}

/// Publishes one batch of `schema`'s unpublished rows, oldest first; answers how many were
/// published. Rows SNS refused stay unpublished for the next pass.
pub async fn relay_once(state: &WorkerState, schema: &'static str) -> anyhow::Result<usize> {
    let mut tx = state.pool.begin().await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT id, kind, aggregate_id, version, payload, created_at FROM {schema}.outbox
         WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(state.settings.relay_batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let envelopes: Vec<Envelope> = rows.into_iter().map(Envelope::from).collect();
    let published = publish(state, &envelopes).await;
    sqlx::query(&format!("UPDATE {schema}.outbox SET published_at = $2 WHERE id = ANY($1)"))
        .bind(&published)
        .bind(state.clock.now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("tiketi_outbox_published_total", "schema" => schema).increment(published.len() as u64);
    Ok(published.len())
}

/// Consecutive runs of envelopes (with their bodies) that fit one `PublishBatch`.
fn batches(envelopes: &[Envelope]) -> Vec<Vec<(&Envelope, String)>> {
    let mut batches: Vec<Vec<(&Envelope, String)>> = Vec::new();
    let mut bytes = 0;
    for envelope in envelopes {
        let body = match serde_json::to_string(envelope) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(event = %envelope.id, error = %e, "an outbox row does not serialise");
                continue;
            }
        };
        // Attributes count too: the kind, its name and type.
        let size = body.len() + envelope.kind.len() + 16;
        match batches.last_mut() {
            Some(batch) if batch.len() < SNS_BATCH && bytes + size <= SNS_BATCH_BYTES => {
                bytes += size;
                batch.push((envelope, body));
            }
            _ => {
                bytes = size;
                batches.push(vec![(envelope, body)]);
            }
        }
    }
    batches
}

/// Publishes envelopes to the topic, up to ten per call, the calls concurrently; answers the
/// ids SNS accepted.
pub async fn publish(state: &WorkerState, envelopes: &[Envelope]) -> Vec<Uuid> {
    let calls = batches(envelopes).into_iter().map(|chunk| async move {
        let mut entries = Vec::with_capacity(chunk.len());
        for (envelope, body) in &chunk {
            let kind = MessageAttributeValue::builder().data_type("String").string_value(&envelope.kind).build();
            let entry = PublishBatchRequestEntry::builder()
                .id(envelope.id.simple().to_string())
                .message(body.as_str())
                .set_message_attributes(kind.ok().map(|kind| [("kind".to_owned(), kind)].into()))
                .build();
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => tracing::error!(event = %envelope.id, error = %e, "building an SNS entry failed"),
            }
        }
        if entries.is_empty() {
            return Vec::new();
        }
        let sent = state
            .aws
            .sns
            .publish_batch()
            .topic_arn(&state.located.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let accepted: HashSet<&str> = answer.successful().iter().filter_map(|s| s.id()).collect();
                for failed in answer.failed() {
                    tracing::warn!(
                        entry = failed.id(),
                        code = failed.code(),
                        "SNS refused an event; retried next pass"
                    );
                }
                chunk
                    .iter()
                    .map(|(e, _)| e.id)
                    .filter(|id| accepted.contains(id.simple().to_string().as_str()))
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %describe(&e), "publishing to SNS failed; retried next pass");
                Vec::new()
            }
        }
    });
    futures::future::join_all(calls).await.into_iter().flatten().collect()
}

/// Deletes published rows older than the retention, a bounded batch per call.
pub async fn prune(state: &WorkerState, schema: &'static str) -> sqlx::Result<u64> {
    let before = state.clock.now() - chrono::Duration::from_std(state.settings.retention).unwrap_or_default();
    let deleted = sqlx::query(&format!(
        "DELETE FROM {schema}.outbox WHERE id IN (
           SELECT id FROM {schema}.outbox WHERE published_at IS NOT NULL AND published_at < $1 LIMIT 10000)"
    ))
    .bind(before)
    .execute(&state.pool)
    .await?;
    Ok(deleted.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(bytes: usize) -> Envelope {
        Envelope {
            id: Uuid::now_v7(),
            kind: "event.seats".into(),
            aggregate_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            version: 1,
            payload: serde_json::Value::String("x".repeat(bytes)),
        }
    }

    #[test]
    fn a_batch_holds_at_most_ten_messages_and_256_kib() {
        let small: Vec<Envelope> = (0..25).map(|_| envelope(100)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);

        let large: Vec<Envelope> = (0..7).map(|_| envelope(100_000)).collect();
        let made = batches(&large);
        assert_eq!(made.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
        for batch in &made {
            assert!(batch.iter().map(|(_, body)| body.len()).sum::<usize>() <= SNS_BATCH_BYTES);
        }
        let order: Vec<Uuid> = made.iter().flatten().map(|(e, _)| e.id).collect();
        assert_eq!(order, large.iter().map(|e| e.id).collect::<Vec<_>>(), "order is kept");
    }
}
