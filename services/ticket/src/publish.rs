//! Telling the world a seat changed, and remembering it durably.
//!
//! After a seat change commits, one Lua call bumps the event's seat-map version, shortens the
//! cached event detail's life to the availability max age (so a sale rebuilds it about once per
//! max age, not at every hold), and publishes the change
//! ([`SeatsChanged`](tiketi_shared::seat_changes::SeatsChanged)) on `seats:<event_id>` —
//! atomically, so messages leave in version order and a version is never skipped. The change is
//! acknowledged to the client only after this call, so no one is served a stale seat status after
//! an acknowledged change. The same transaction that changed the seats wrote an outbox row.
//!
//! Versions start, per event, at the current time in microseconds and then count changes: they
//! stay contiguous while Redis keeps the counter, and after a Redis restart they jump forward
//! (never back), which clients treat as a gap and refetch.

use chrono::{DateTime, Utc};
use redis::Script;
use sqlx::PgConnection;
use tiketi_shared::events::DomainEvent;
use tiketi_shared::redis::Redis;
pub use tiketi_shared::seat_changes::SeatDelta;
use tiketi_shared::seat_changes::{self, SeatsChanged};

use crate::model::EventId;

const SEATS_CHANGED: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[4]) end
local v = redis.call('INCR', KEYS[1])
-- The cached detail's availability may be ARGV[5] ms old at most (0: drop it now).
local keep = tonumber(ARGV[5])
if keep == 0 then redis.call('DEL', KEYS[2])
elseif redis.call('PTTL', KEYS[2]) > keep then redis.call('PEXPIRE', KEYS[2], keep) end
-- The message comes serialized around its version (SeatsChanged::around_version); only the number
-- is written here. Lua numbers are doubles: format explicitly, or large versions print as 1.79e+15.
redis.call('PUBLISH', ARGV[1], ARGV[2] .. string.format('%.0f', v) .. ARGV[3])
return v
"#;

const CURRENT_VERSION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return tonumber(redis.call('GET', KEYS[1]))
";

/// The Redis keys of one event, under one hash tag so multi-key scripts work on a cluster.
pub struct EventKeys {
    pub version: String,
    pub seat_map: String,
    pub detail: String,
    pub channel: String,
}

#[derive(Clone)]
pub struct Publisher {
    redis: Redis,
    /// How stale the cached detail's availability may get while seats change.
    detail_max_age: std::time::Duration,
    seats_changed: Script,
    current_version: Script,
}

impl Publisher {
    pub fn new(redis: Redis, detail_max_age: std::time::Duration) -> Self {
        Self {
            redis,
            detail_max_age,
            seats_changed: Script::new(SEATS_CHANGED),
            current_version: Script::new(CURRENT_VERSION),
        }
    }

    pub fn keys(&self, event: EventId) -> EventKeys {
        EventKeys {
            version: self.redis.key(seat_changes::version_key(event)),
            seat_map: self.redis.key(format_args!("{{ev:{event}}}:seatmap")),
            detail: self.redis.key(format_args!("{{ev:{event}}}:detail")),
            channel: self.redis.key(seat_changes::channel(event)),
        }
    }

    /// Bumps the version, bounds the age of the event's cached detail and publishes the delta. Answers the
    /// new version. Retried once: a lost publish would leave caches stale until their TTL.
    pub async fn seats_changed(&self, event: EventId, seats: &[SeatDelta], now: DateTime<Utc>) -> Option<i64> {
        if seats.is_empty() {
            return None;
        }
        let keys = self.keys(event);
        let change = SeatsChanged { event_id: event, version: 0, seats: seats.to_vec() };
        let message = match change.around_version() {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(%event, error = %e, "serializing a seat change failed");
                return None;
            }
        };
        for attempt in 0..2 {
            let result: redis::RedisResult<i64> = self
                .seats_changed
                .key(&keys.version)
                .key(&keys.detail)
                .arg(&keys.channel)
                .arg(&message.before)
                .arg(&message.after)
                .arg(now.timestamp_micros())
                .arg(u64::try_from(self.detail_max_age.as_millis()).unwrap_or(u64::MAX))
                .invoke_async(&mut self.redis.conn())
                .await;
            match result {
                Ok(version) => {
                    metrics::counter!("tiketi_seat_changes_published_total").increment(1);
                    return Some(version);
                }
                Err(e) => tracing::warn!(%event, attempt, error = %e, "publishing a seat change failed"),
            }
        }
        None
    }

    /// The event's current seat-map version (initialised on first use).
    pub async fn current_version(&self, event: EventId, now: DateTime<Utc>) -> redis::RedisResult<i64> {
        self.current_version
            .key(self.keys(event).version)
            .arg(now.timestamp_micros())
            .invoke_async(&mut self.redis.conn())
            .await
    }

    /// Drops the cached detail of an event (catalogue changes that are not seat changes).
    pub async fn invalidate_detail(&self, event: EventId) {
        let keys = self.keys(event);
        let result: redis::RedisResult<()> =
            redis::cmd("DEL").arg(&keys.detail).query_async(&mut self.redis.conn()).await;
        if let Err(e) = result {
            tracing::warn!(%event, error = %e, "invalidating an event detail failed");
        }
    }
}

/// Writes a domain event (its aggregate at `version`) to the outbox inside the caller's transaction.
pub async fn outbox(tx: &mut PgConnection, event: DomainEvent, version: i64, now: DateTime<Utc>) -> sqlx::Result<()> {
    tiketi_shared::events::write_outbox(tx, crate::SCHEMA, &event, version, now).await
}
