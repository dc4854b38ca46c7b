//! Read-through caching of serialized answers in Redis, with a hit-rate metric.
//! The cache is an optimisation: a Redis error reads as a miss and never fails the request.

use std::sync::{PoisonError, RwLock};

use bytes::Bytes;
use metrics::Counter;
use redis::AsyncCommands;
use tiketi_shared::redis::Redis;

pub fn record(cache: &'static str, hit: bool) {
    tiketi_shared::cache_stats::count(hit);
    // The counters are kept rather than found by name and labels at every read: a seat map read
    // is served in microseconds, and that look-up was a noticeable share of it.
    static COUNTERS: RwLock<Vec<(&str, bool, Counter)>> = RwLock::new(Vec::new());
    let find = |counters: &[(&str, bool, Counter)]| counters.iter().position(|(c, h, _)| *c == cache && *h == hit);
    let known = COUNTERS.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = find(&known) {
        return known[i].2.increment(1);
    }
    drop(known);
    // A handle made before the recorder is installed would count nothing, ever.
    tiketi_shared::telemetry::metrics_handle();
    let mut known = COUNTERS.write().unwrap_or_else(PoisonError::into_inner);
    let i = find(&known).unwrap_or_else(|| {
        let result = if hit { "hit" } else { "miss" };
        known.push((
            cache,
            hit,
            metrics::counter!("tiketi_cache_requests_total", "cache" => cache, "result" => result),
        ));
        known.len() - 1
    });
    known[i].2.increment(1);
}

pub async fn get(redis: &Redis, cache: &'static str, key: &str) -> Option<Bytes> {
    let found: Option<Vec<u8>> = match redis.conn().get(key).await {
        Ok(found) => found,
        Err(e) => {
            tracing::debug!(cache, error = %e, "cache read failed");
            None
        }
    };
    record(cache, found.is_some());
    found.map(Bytes::from)
}

/// A read that is not counted (a second look after waiting for another request's rebuild).
pub async fn peek(redis: &Redis, key: &str) -> Option<Bytes> {
    let found: Option<Vec<u8>> = redis.conn().get(key).await.ok().flatten();
    found.map(Bytes::from)
}

pub async fn put(redis: &Redis, key: &str, value: &[u8], ttl_secs: u64) {
    if let Err(e) = redis.conn().set_ex::<_, _, ()>(key, value, ttl_secs).await {
        tracing::debug!(error = %e, "cache write failed");
    }
}

/// Adds this process's cache hits and misses to the shared per-minute counts every few seconds,
/// until stopped (then once more).
pub async fn report(state: crate::TicketState, stop: tokio_util::sync::CancellationToken) {
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => false,
        };
        tiketi_shared::cache_stats::flush(&state.redis, state.clock.now()).await;
        if stopping {
            return;
        }
    }
}
