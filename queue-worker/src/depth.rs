//! Queue depths and the outboxes' lag as metrics: what KEDA and alerts watch. A message in a
//! dead-letter queue is one nothing will process by itself, so `tiketi_sqs_dead_letters` above zero
//! wants a person; an outbox row unpublished for long means every consumer is behind.

use aws_sdk_sqs::types::QueueAttributeName;
use tiketi_shared::aws::{Queue, describe};
use tiketi_shared::events::OUTBOX_SCHEMAS;
use tokio_util::sync::CancellationToken;

use crate::WorkerState;

pub async fn run(state: WorkerState, stop: CancellationToken) {
    loop {
        if let Err(e) = sample(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "sampling queue depths failed");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(state.settings.depth_every) => {}
        }
    }
}

/// Reads every outbox's lag and every queue's and dead-letter queue's depth into the gauges.
pub async fn sample(state: &WorkerState) -> anyhow::Result<()> {
    // First, and whatever SQS answers: the outbox lag matters most when AWS is the trouble.
    for schema in OUTBOX_SCHEMAS {
        let lag = outbox_lag(state, schema).await?;
        metrics::gauge!("tiketi_outbox_unpublished", "schema" => schema).set(lag.unpublished as f64);
        metrics::gauge!("tiketi_outbox_oldest_unpublished_seconds", "schema" => schema).set(lag.oldest_seconds);
    }
    for queue in Queue::ALL {
        let [visible, delayed, in_flight] = depth(state, state.located.queue(queue)).await?;
        // The full name: one per environment, so a handful of series.
        let name = state.aws.names.queue(queue);
        metrics::gauge!("tiketi_sqs_messages", "queue" => name.clone(), "state" => "visible").set(visible as f64);
        metrics::gauge!("tiketi_sqs_messages", "queue" => name.clone(), "state" => "delayed").set(delayed as f64);
        metrics::gauge!("tiketi_sqs_messages", "queue" => name.clone(), "state" => "in_flight").set(in_flight as f64);
        let [dead, _, _] = depth(state, state.located.dead_letters(queue)).await?;
        metrics::gauge!("tiketi_sqs_dead_letters", "queue" => name).set(dead as f64);
    }
    Ok(())
}

/// Visible, delayed and in-flight messages of one queue (SQS's approximations).
pub async fn depth(state: &WorkerState, url: &str) -> anyhow::Result<[u64; 3]> {
    let answer = state
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("reading the depth of {url}: {}", describe(&e)))?;
    let attributes = answer.attributes.unwrap_or_default();
    let read = |name: &QueueAttributeName| attributes.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok([
        read(&QueueAttributeName::ApproximateNumberOfMessages),
        read(&QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        read(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ])
}

/// How far one outbox's relay is behind.
#[derive(Debug, PartialEq, sqlx::FromRow)]
pub struct OutboxLag {
    pub unpublished: i64,
    /// Age of the oldest unpublished row; 0 when there is none.
    pub oldest_seconds: f64,
}

/// Counted through the relay's own partial index (`outbox_unpublished`), so it costs as little as
/// the backlog is small.
pub async fn outbox_lag(state: &WorkerState, schema: &'static str) -> sqlx::Result<OutboxLag> {
    sqlx::query_as(&format!(
        "SELECT count(*) AS unpublished,
                COALESCE(EXTRACT(EPOCH FROM $1 - min(created_at))::float8, 0) AS oldest_seconds
         FROM {schema}.outbox WHERE published_at IS NULL"
    ))
    .bind(state.clock.now())
    .fetch_one(&state.pool)
    .await
}
