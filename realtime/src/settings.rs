//! The realtime role's section of the settings tree.

use std::time::Duration;

use tiketi_shared::config::Env;

use crate::hub::Pacing;
use crate::session::Limits;

#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    /// Sockets this process accepts; beyond it `/ws` answers 503 (another replica takes them).
    pub max_connections: usize,
    pub limits: Limits,
    pub pacing: Pacing,
}

impl RealtimeSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let heartbeat = Duration::from_millis(env.get("TIKETI_REALTIME_POSITION_EVERY_MS", 2000));
        let presence_every = env.secs("TIKETI_REALTIME_PRESENCE_SECS", 20);
        let ping_every = env.secs("TIKETI_REALTIME_PING_SECS", 25);
        if heartbeat < Duration::from_millis(200) {
            env.invalid("TIKETI_REALTIME_POSITION_EVERY_MS", "must be at least 200");
        }
        if presence_every.is_zero() {
            env.invalid("TIKETI_REALTIME_PRESENCE_SECS", "must be at least 1 (and below the queue's presence timeout)");
        }
        let min_move_percent = env.get("TIKETI_REALTIME_POSITION_MIN_MOVE_PERCENT", 1);
        if min_move_percent > 100 {
            env.invalid("TIKETI_REALTIME_POSITION_MIN_MOVE_PERCENT", "must be at most 100");
        }
        let seats_every = Duration::from_millis(env.get("TIKETI_REALTIME_SEATS_EVERY_MS", 100));
        if seats_every < Duration::from_millis(10) {
            env.invalid("TIKETI_REALTIME_SEATS_EVERY_MS", "must be at least 10");
        }
        if ping_every.is_zero() {
            env.invalid("TIKETI_REALTIME_PING_SECS", "must be at least 1");
        }
        Self {
            max_connections: env.get("TIKETI_REALTIME_MAX_CONNECTIONS", 120_000),
            limits: Limits {
                outbox: env.get("TIKETI_REALTIME_OUTBOX", 32).max(1),
                auth_timeout: env.secs("TIKETI_REALTIME_AUTH_TIMEOUT_SECS", 10),
                ping_every,
                send_timeout: env.secs("TIKETI_REALTIME_SEND_TIMEOUT_SECS", 10),
                max_subscriptions: env.get("TIKETI_REALTIME_MAX_SUBSCRIPTIONS", 8),
                // Well inside TIKETI_SHUTDOWN_GRACE_SECS (20 s), which waits for the sockets.
                restart_spread: Duration::from_millis(env.get("TIKETI_REALTIME_RESTART_SPREAD_MS", 5000)),
            },
            pacing: Pacing {
                heartbeat,
                min_gap: Duration::from_millis(env.get("TIKETI_REALTIME_POSITION_MIN_GAP_MS", 500)),
                min_move_percent,
                presence_every,
                tick: (heartbeat / 8).min(Duration::from_millis(250)),
                seats_every,
            },
        }
    }
}
