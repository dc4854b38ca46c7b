//! The worker's settings, read once at start-up.

use std::time::Duration;

use tiketi_shared::config::Env;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often an idle relay looks for new outbox rows (a full batch is followed at once).
    pub relay_every: Duration,
    /// Outbox rows published per transaction.
    pub relay_batch: i64,
    /// How long published outbox rows (and consumed-event ids) are kept before pruning.
    pub retention: Duration,
    /// Long-poll wait of each receive (SQS allows up to 20 s).
    pub receive_wait: Duration,
    /// First pause before a failed message is retried; doubled per receive, capped at 5 minutes.
    pub retry_base: Duration,
    /// Longest delay put on one hold-expiry message: SQS's 15 minutes, lower only in tests.
    pub max_delay: Duration,
    /// How often queue depths (and dead letters) are sampled into metrics.
    pub depth_every: Duration,
}

impl WorkerSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let settings = Self {
            relay_every: Duration::from_millis(env.get("TIKETI_WORKER_RELAY_EVERY_MS", 200)),
            relay_batch: env.get("TIKETI_WORKER_RELAY_BATCH", 100),
            retention: Duration::from_secs(env.get::<u64>("TIKETI_WORKER_RETENTION_HOURS", 72) * 3600),
            receive_wait: env.secs("TIKETI_WORKER_RECEIVE_WAIT_SECS", 20),
            retry_base: Duration::from_millis(env.get("TIKETI_WORKER_RETRY_BASE_MS", 1000)),
            max_delay: env.secs("TIKETI_WORKER_MAX_DELAY_SECS", 900),
            depth_every: env.secs("TIKETI_WORKER_DEPTH_EVERY_SECS", 15),
        };
        if !(1..=1000).contains(&settings.relay_batch) {
            env.invalid("TIKETI_WORKER_RELAY_BATCH", "between 1 and 1000");
        }
        if settings.receive_wait > Duration::from_secs(20) {
            env.invalid("TIKETI_WORKER_RECEIVE_WAIT_SECS", "SQS waits at most 20 seconds");
        }
        if settings.max_delay.is_zero() || settings.max_delay > Duration::from_secs(900) {
            env.invalid("TIKETI_WORKER_MAX_DELAY_SECS", "between 1 and 900 (SQS's limit)");
        }
        settings
    }
}
