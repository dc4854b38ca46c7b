//! Read-through caching of serialized answers in Redis, with a hit-rate metric.
//! The cache is an optimisation: a Redis error reads as a miss and never fails the request.

use bytes::Bytes;
use redis::AsyncCommands;
use tiketi_shared::redis::Redis;

pub fn record(cache: &'static str, hit: bool) {
    tiketi_shared::cache_stats::count(hit);
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("tiketi_cache_requests_total", "cache" => cache, "result" => result).increment(1);
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
