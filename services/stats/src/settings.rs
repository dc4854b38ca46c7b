//! The stats role's settings, read once at start-up.

use std::time::Duration;

use tiketi_shared::config::Env;

#[derive(Debug, Clone)]
pub struct StatsSettings {
    /// Long-poll wait of each receive from the stats queue (SQS allows up to 20 s).
    pub receive_wait: Duration,
    /// First pause before a failed message is retried; doubled per receive.
    pub retry_base: Duration,
    /// How long an overview or heatmap answer is reused (dashboards refreshing every few seconds,
    /// many operators watching, cost one build per interval, not one per request).
    pub reuse: Duration,
    /// How long a report's download links stay valid.
    pub download_valid: Duration,
    /// Whether this process builds requested reports itself (locally), or leaves the reports
    /// queue to the `stats-report` Lambda (in the cloud).
    pub build_reports: bool,
    /// Whether this process requests the daily settlement (when it builds reports).
    pub daily_settlement: bool,
}

impl StatsSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let settings = Self {
            receive_wait: env.secs("TIKETI_STATS_RECEIVE_WAIT_SECS", 20),
            retry_base: Duration::from_millis(env.get("TIKETI_STATS_RETRY_BASE_MS", 1000)),
            reuse: Duration::from_millis(env.get("TIKETI_STATS_REUSE_MS", 1000)),
            download_valid: env.secs("TIKETI_STATS_DOWNLOAD_VALID_SECS", 900),
            build_reports: env.get("TIKETI_STATS_BUILD_REPORTS", true),
            daily_settlement: env.get("TIKETI_STATS_DAILY_SETTLEMENT", true),
        };
        if settings.receive_wait > Duration::from_secs(20) {
            env.invalid("TIKETI_STATS_RECEIVE_WAIT_SECS", "SQS waits at most 20 seconds");
        }
        if settings.download_valid.is_zero() || settings.download_valid > Duration::from_secs(7 * 24 * 3600) {
            env.invalid("TIKETI_STATS_DOWNLOAD_VALID_SECS", "between 1 second and 7 days (S3's limit)");
        }
        settings
    }
}
