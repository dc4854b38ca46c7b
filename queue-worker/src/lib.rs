//! The worker role: what runs off the request path on queues.
//!
//! - [`relay`]: every service's outbox → the `domain-events` SNS topic (fanned out to one SQS
//!   queue per consumer), at least once, safe with any number of replicas
//! - [`expiry`]: holds schedule a delayed message for their end, which expires them on time
//! - [`webhooks`]: stored Toss webhook deliveries applied with the payment role's logic
//! - [`depth`]: queue and dead-letter depths as metrics (KEDA scales the worker on them)

pub mod depth;
pub mod expiry;
pub mod relay;
pub mod settings;
pub mod webhooks;

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tiketi_shared::aws::{Aws, Located, Queue};
use tiketi_shared::clock::Clock;
use tiketi_shared::internal::InternalClient;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::settings::WorkerSettings;
use tiketi_shared::consumer::{self, Consumer, Polling};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
pub const SCHEMA: &str = "worker";
pub const ROLE: &str = "worker";

#[derive(Clone)]
pub struct WorkerState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub aws: Aws,
    pub located: Located,
    pub clock: Clock,
    pub settings: WorkerSettings,
    /// Calls the ticket role's internal API (hold expiry).
    pub ticket: InternalClient,
    /// Applies Toss webhooks.
    pub payment: tiketi_payment::PaymentState,
}

impl Deref for WorkerState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl WorkerState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// How its consumers poll.
    pub fn polling(&self) -> Polling {
        Polling {
            aws: self.aws.clone(),
            located: self.located.clone(),
            receive_wait: self.settings.receive_wait,
            retry_base: self.settings.retry_base,
        }
    }

    /// The consumers the worker runs, one per queue it reads (the stats queue is the stats role's).
    pub fn consumers(&self) -> Vec<Consumer> {
        vec![
            Consumer { queue: Queue::WorkerEvents, handler: Arc::new(expiry::DomainEvents(self.clone())) },
            Consumer { queue: Queue::HoldExpiry, handler: Arc::new(expiry::HoldExpiry(self.clone())) },
            Consumer { queue: Queue::PaymentWebhooks, handler: Arc::new(webhooks::Webhooks(self.payment.clone())) },
        ]
    }
}

/// Starts the relay, the consumers and the depth sampler on `tasks`; they stop on `stop`.
pub fn start(state: &WorkerState, stop: &CancellationToken, tasks: &TaskTracker) {
    tasks.spawn(relay::run(state.clone(), stop.clone()));
    for consumer in state.consumers() {
        tasks.spawn(consumer::run(state.polling(), consumer, stop.clone()));
    }
    tasks.spawn(depth::run(state.clone(), stop.clone()));
    tasks.spawn(prune_consumed(state.clone(), stop.clone()));
}

/// Forgets consumed event ids hourly, once no queue can still hold their event (SQS keeps a
/// message 14 days at most).
async fn prune_consumed(state: WorkerState, stop: CancellationToken) {
    loop {
        let before = state.clock.now() - chrono::Duration::days(15);
        let pruned = sqlx::query("DELETE FROM worker.consumed_events WHERE consumed_at < $1")
            .bind(before)
            .execute(&state.pool)
            .await;
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "pruning consumed events failed");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}
