//! The ticket role's section of the settings tree.

use std::time::Duration;

use tiketi_shared::config::Env;

#[derive(Debug, Clone)]
pub struct TicketSettings {
    /// How long a hold lasts: longer than checkout plus Toss's 10-minute confirm window.
    pub hold_ttl: Duration,
    /// The longest a hold may be extended to wait for a virtual-account deposit.
    pub max_deposit_hold: Duration,
    /// How often the sweeper looks for expired holds.
    pub sweep_every: Duration,
    /// Serve seat maps from the caches (off: every request reads PostgreSQL — for measuring and
    /// for ruling the cache out when debugging).
    pub seat_map_cache: bool,
    /// While an event's seats change, a seat-map snapshot older than the current version is still
    /// served for this long (its version tells clients which deltas to apply), and a cached event
    /// detail's availability may be this old; zero rebuilds at every change (one rebuild in flight
    /// at a time either way).
    pub seat_map_max_age: Duration,
    /// `TIKETI_TICKET_PAYMENT_URL`: where the payment role's `/internal` routes answer (refunds of
    /// cancelled paid reservations); unset, `TIKETI_INTERNAL_URL` (one process serves every role).
    pub payment_url: Option<url::Url>,
    /// `TIKETI_TICKET_HOLD_ASYNC_COMMIT` (on): a hold's transaction commits without waiting for
    /// its WAL flush (`synchronous_commit = off` for that transaction alone; 1.2–1.6x the holds a
    /// second, `loadtests/holds.sh`). A PostgreSQL crash may forget the last ~0.6 s of holds:
    /// their buyers' checkouts find no hold and refuse (no money is taken for a hold that does not
    /// exist), and a checkout that succeeded committed synchronously after the hold, which flushed
    /// the hold's WAL with its own.
    pub hold_async_commit: bool,
    /// `TIKETI_TICKET_HOLD_BATCH` (32): holds arriving while others are written share the next
    /// transaction, at most this many (1: every hold writes its own).
    pub hold_batch: usize,
    /// `TIKETI_TICKET_HOLD_BATCHES` (1): at most this many such transactions at once per process.
    /// One writer makes the largest batches; raise it where a batch's round trips take long enough
    /// that its holds wait (batches reaching `hold_batch` holds show that).
    pub hold_batches: usize,
    pub queue: QueueSettings,
}

/// The waiting room's timings.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How long an admitted buyer has to start holding seats (and the admission token's life).
    pub admission_window: Duration,
    /// A waiter not seen (status poll, open socket) for this long loses the place.
    pub presence_timeout: Duration,
    /// How often every replica runs an admission step per event.
    pub admit_every: Duration,
    /// How long before the sale opens buyers may join the pre-queue.
    pub prequeue_opens_before: Duration,
    /// Joins per minute per client address, per event (every replica counts in one Redis budget).
    pub join_ip_limit_per_minute: u32,
    /// Joins per minute per account, per event.
    pub join_account_limit_per_minute: u32,
    /// Leading zero bits of SHA-256 a join's proof of work must reach (0: no proof asked).
    pub proof_difficulty: u8,
    /// After Redis lost a room, admission waits this long for waiters to show their receipts, so
    /// nobody further back is admitted before those ahead are back in place.
    pub restore_grace: Duration,
}

impl TicketSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let hold_ttl = env.secs("TIKETI_TICKET_HOLD_TTL_SECS", 20 * 60);
        if hold_ttl < Duration::from_secs(11 * 60) {
            env.invalid("TIKETI_TICKET_HOLD_TTL_SECS", "must exceed Toss's 10-minute confirm window (at least 660)");
        }
        Self {
            hold_ttl,
            max_deposit_hold: env.secs("TIKETI_TICKET_MAX_DEPOSIT_HOLD_SECS", 24 * 3600),
            sweep_every: env.secs("TIKETI_TICKET_SWEEP_SECS", 5),
            seat_map_cache: env.get("TIKETI_TICKET_SEAT_MAP_CACHE", true),
            hold_async_commit: env.get("TIKETI_TICKET_HOLD_ASYNC_COMMIT", true),
            hold_batch: env.get("TIKETI_TICKET_HOLD_BATCH", 32),
            hold_batches: env.get("TIKETI_TICKET_HOLD_BATCHES", 1),
            seat_map_max_age: Duration::from_millis(env.get("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", 1000)),
            payment_url: env.opt("TIKETI_TICKET_PAYMENT_URL"),
            queue: QueueSettings {
                admission_window: env.secs("TIKETI_QUEUE_ADMISSION_WINDOW_SECS", 600),
                presence_timeout: env.secs("TIKETI_QUEUE_PRESENCE_TIMEOUT_SECS", 60),
                admit_every: Duration::from_millis(env.get("TIKETI_QUEUE_ADMIT_EVERY_MS", 1000)),
                prequeue_opens_before: env.secs("TIKETI_QUEUE_PREQUEUE_SECS", 1800),
                join_ip_limit_per_minute: env.get("TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE", 120),
                restore_grace: env.secs("TIKETI_QUEUE_RESTORE_GRACE_SECS", 10),
                join_account_limit_per_minute: env.get("TIKETI_QUEUE_JOIN_ACCOUNT_LIMIT_PER_MINUTE", 20),
                proof_difficulty: {
                    let bits: u8 = env.get("TIKETI_QUEUE_PROOF_DIFFICULTY", 0);
                    if bits > 32 {
                        env.invalid(
                            "TIKETI_QUEUE_PROOF_DIFFICULTY",
                            "at most 32 bits (each bit doubles a buyer's work)",
                        );
                    }
                    bits
                },
            },
        }
    }
}
