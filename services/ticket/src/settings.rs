//! The ticket role's section of the settings tree.

use std::time::Duration;

use tiketi_shared::config::Env;

#[derive(Debug, Clone)]
pub struct TicketSettings {
    /// How long a hold lasts: longer than checkout plus Toss's 10-minute confirm window.
    pub hold_ttl: Duration,
    /// How often the sweeper looks for expired holds.
    pub sweep_every: Duration,
    /// Serve seat maps from the caches (off: every request reads PostgreSQL — for measuring and
    /// for ruling the cache out when debugging).
    pub seat_map_cache: bool,
}

impl TicketSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let hold_ttl = env.secs("TIKETI_TICKET_HOLD_TTL_SECS", 20 * 60);
        if hold_ttl < Duration::from_secs(11 * 60) {
            env.invalid("TIKETI_TICKET_HOLD_TTL_SECS", "must exceed Toss's 10-minute confirm window (at least 660)");
        }
        Self {
            hold_ttl,
            sweep_every: env.secs("TIKETI_TICKET_SWEEP_SECS", 5),
            seat_map_cache: env.get("TIKETI_TICKET_SEAT_MAP_CACHE", true),
        }
    }
}
