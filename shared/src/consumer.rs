//! One SQS consumer loop, shared by every queue a role reads (the worker's, the stats role's): long polling, up to ten
//! messages a receive handled concurrently, and per-message outcomes — a batch is never all or
//! nothing. Done messages are deleted; a message to retry is made visible again after a pause
//! that doubles with each receive, until the queue's redrive policy moves it to the dead-letter
//! queue; a message that can never succeed (unreadable) goes to the dead-letter queue at once.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio_util::sync::CancellationToken;

use crate::aws::{Aws, Located, Queue, describe};

/// Where the queues are and how to poll them.
#[derive(Debug, Clone)]
pub struct Polling {
    pub aws: Aws,
    pub located: Located,
    /// Long-poll wait of each receive (SQS allows up to 20 s).
    pub receive_wait: Duration,
    /// First pause before a failed message is retried; doubled per receive, capped at 5 minutes.
    pub retry_base: Duration,
}

/// What became of one message.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Not now (a dependency is down, the state is not there yet): received again later.
    Retry(String),
    /// Never: kept in the dead-letter queue for a person to look at.
    Poison(String),
}

#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, body: &str) -> Outcome;
}

/// A queue and what to do with its messages.
#[derive(Clone)]
pub struct Consumer {
    pub queue: Queue,
    pub handler: Arc<dyn Handler>,
}

/// Consumes until stopped.
pub async fn run(state: Polling, consumer: Consumer, stop: CancellationToken) {
    loop {
        let polled = tokio::select! {
            () = stop.cancelled() => return,
            polled = poll_once(&state, &consumer, state.receive_wait) => polled,
        };
        if let Err(e) = polled {
            tracing::warn!(queue = consumer.queue.suffix(), error = %format!("{e:#}"), "receiving from SQS failed");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// One receive (waiting up to `wait` for messages) and the handling of what it brought; answers
/// how many messages were received.
pub async fn poll_once(state: &Polling, consumer: &Consumer, wait: Duration) -> anyhow::Result<usize> {
    let url = state.located.queue(consumer.queue);
    let received = state
        .aws
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    let messages = received.messages.unwrap_or_default();
    let outcomes = futures::future::join_all(
        messages.iter().map(|m| async { consumer.handler.handle(m.body().unwrap_or_default()).await }),
    )
    .await;
    let mut done = Vec::new();
    for (message, outcome) in messages.iter().zip(outcomes) {
        let label = match &outcome {
            Outcome::Done => "done",
            Outcome::Retry(_) => "retry",
            Outcome::Poison(_) => "poison",
        };
        metrics::counter!("tiketi_worker_messages_total", "queue" => consumer.queue.suffix(), "outcome" => label)
            .increment(1);
        match outcome {
            Outcome::Done => done.push(message),
            Outcome::Retry(why) => {
                tracing::info!(queue = consumer.queue.suffix(), reason = %why, "message retried later");
                retry_later(state, url, message).await;
            }
            Outcome::Poison(why) => {
                tracing::warn!(queue = consumer.queue.suffix(), reason = %why, "message moved to the dead-letter queue");
                if dead_letter(state, consumer.queue, message).await {
                    done.push(message);
                }
            }
        }
    }
    delete(state, url, &done).await;
    Ok(messages.len())
}

/// Makes a failed message visible again after `retry_base × 2^(receives − 1)`, at most 5 minutes.
async fn retry_later(state: &Polling, url: &str, message: &Message) {
    let receives: u32 = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let pause = state.retry_base.saturating_mul(2u32.saturating_pow(receives.saturating_sub(1).min(16)));
    let pause = pause.min(Duration::from_secs(300));
    let Some(handle) = message.receipt_handle() else { return };
    let changed = state
        .aws
        .sqs
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(handle)
        .visibility_timeout(i32::try_from(pause.as_secs()).unwrap_or(300))
        .send()
        .await;
    if let Err(e) = changed {
        // The queue's own visibility timeout brings it back instead.
        tracing::warn!(error = %describe(&e), "shortening a failed message's visibility failed");
    }
}

/// Copies a message to the queue's dead-letter queue; answers whether it is there.
async fn dead_letter(state: &Polling, queue: Queue, message: &Message) -> bool {
    let sent = state
        .aws
        .sqs
        .send_message()
        .queue_url(state.located.dead_letters(queue))
        .message_body(message.body().unwrap_or_default())
        .send()
        .await;
    match sent {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %describe(&e), "moving a message to the dead-letter queue failed");
            false
        }
    }
}

async fn delete(state: &Polling, url: &str, messages: &[&Message]) {
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    match state.aws.sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await {
        Ok(answer) => {
            for failed in answer.failed() {
                // Received again after the visibility timeout; handlers are idempotent.
                tracing::warn!(entry = failed.id(), code = failed.code(), "deleting a handled message failed");
            }
        }
        Err(e) => tracing::warn!(error = %describe(&e), "deleting handled messages failed"),
    }
}
