//! The cache hit rate as operators see it: every process counts its cache reads, hits and
//! misses, and adds them every few seconds to a per-minute Redis hash that expires; the stats
//! role reads the last minutes across every replica. Requests never wait on it.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::redis::Redis;

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);

/// How long a minute's counts are kept.
const KEEP_SECS: i64 = 15 * 60;

/// Counts one cache read of this process.
pub fn count(hit: bool) {
    if hit { &HITS } else { &MISSES }.fetch_add(1, Ordering::Relaxed);
}

fn minute_key(redis: &Redis, minute: i64) -> String {
    redis.key(format_args!("stats:cache:{minute}"))
}

/// Adds this process's counts since the last flush to the current minute; counts that could not
/// be written are kept for the next flush.
pub async fn flush(redis: &Redis, now: DateTime<Utc>) {
    let hits = HITS.swap(0, Ordering::Relaxed);
    let misses = MISSES.swap(0, Ordering::Relaxed);
    if hits == 0 && misses == 0 {
        return;
    }
    let key = minute_key(redis, now.timestamp() / 60);
    let written: redis::RedisResult<()> = redis::pipe()
        .hincr(&key, "hits", hits)
        .hincr(&key, "misses", misses)
        .expire(&key, KEEP_SECS)
        .query_async(&mut redis.conn())
        .await;
    if let Err(e) = written {
        HITS.fetch_add(hits, Ordering::Relaxed);
        MISSES.fetch_add(misses, Ordering::Relaxed);
        tracing::debug!(error = %e, "flushing cache counts failed");
    }
}

/// Hits and misses over the last `minutes` minutes (the current one included), every process
/// together.
pub async fn recent(redis: &Redis, now: DateTime<Utc>, minutes: i64) -> redis::RedisResult<(u64, u64)> {
    let this = now.timestamp() / 60;
    let mut pipe = redis::pipe();
    for minute in (this - minutes + 1)..=this {
        pipe.cmd("HMGET").arg(minute_key(redis, minute)).arg("hits").arg("misses");
    }
    let counts: Vec<(Option<u64>, Option<u64>)> = pipe.query_async(&mut redis.conn()).await?;
    Ok(counts.into_iter().fold((0, 0), |(h, m), (hits, misses)| (h + hits.unwrap_or(0), m + misses.unwrap_or(0))))
}
