//! Fixed-window rate limits counted in Redis, so every replica shares one budget per subject.
//!
//! A Redis outage fails closed (503): a login endpoint without its brute-force limit is worse
//! than a login endpoint that is briefly unavailable.

use std::time::Duration;

use redis::Script;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::redis::Redis;

/// One budget: at most `max` requests per `window` for each subject.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// INCR the window's counter, start the window on the first hit, answer count and time left.
const SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

#[derive(Clone, Debug)]
pub struct RateLimiter {
    redis: Redis,
    script: Script,
}

impl RateLimiter {
    pub fn new(redis: Redis) -> Self {
        Self { redis, script: Script::new(SCRIPT) }
    }

    /// Counts one request of `subject` against `limit`; 429 with `Retry-After` when over.
    pub async fn hit(&self, limit: &Limit, subject: &str) -> Result<(), ApiError> {
        // Subjects may be emails: keep them out of Redis in clear.
        let digest = Sha256::digest(subject.as_bytes());
        let key = self.redis.key(format_args!("rl:{}:{:x}", limit.name, digest));
        let window_ms = u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX);
        let (count, ttl_ms): (u64, u64) =
            self.script.key(key).arg(window_ms).invoke_async(&mut self.redis.conn()).await?;
        if count > u64::from(limit.max) {
            metrics::counter!("tiketi_rate_limited_total", "limit" => limit.name).increment(1);
            return Err(ApiError::new(ErrorCode::RateLimited)
                .detail(format!("limit {} exceeded", limit.name))
                .retry_after(ttl_ms.div_ceil(1000)));
        }
        Ok(())
    }
}
