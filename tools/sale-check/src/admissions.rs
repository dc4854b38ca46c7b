//! `admissions`: admitted buyers never exceed a waiting-room event's `max_active`.
//!
//! What the end state shows is the room in Redis now: `<prefix>{ev:<id>}:active` holds each
//! admitted buyer with the end of their admission (ms), so its members ending after now are the
//! live admissions; after Redis lost a room, slots of the lost generation's admissions stay taken
//! (`…:ghosts`, counts by the minute they end) until their buyers return (`…:returned`). Their
//! sum is what the admission step holds to `max_active`. A sale that went over and came back
//! under leaves no trace here, so counts sampled during the sale can be given as a file.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use uuid::Uuid;

use crate::report::{Finding, Invariant, Offences};
use crate::{Context, RedisConfig};

/// One sampled count: its line, the event it is of (else the one waiting-room event in scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub line: usize,
    pub event: Option<Uuid>,
    pub count: i64,
}

/// Reads `<count>` or `<event id> <count>` per line; blank lines and `#` comments are skipped.
pub fn parse_samples(text: &str) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad =
            || anyhow::anyhow!("samples line {}: expected `<count>` or `<event id> <count>`, found {raw:?}", i + 1);
        let (event, count) = match fields.as_slice() {
            [count] => (None, *count),
            [event, count] => (Some(event.parse::<Uuid>().map_err(|_| bad())?), *count),
            _ => return Err(bad()),
        };
        samples.push(Sample { line: i + 1, event, count: count.parse().map_err(|_| bad())? });
    }
    Ok(samples)
}

pub async fn check(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let invariant = Invariant::Admissions;
    let rooms: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT id, max_active FROM ticket.events
         WHERE waiting_room_enabled AND id = ANY($1) ORDER BY id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    let samples = match &ctx.config.samples {
        Some(path) => Some(read_samples(path).await?),
        None => None,
    };
    if rooms.is_empty() {
        if samples.as_ref().is_some_and(|s| !s.is_empty()) {
            anyhow::bail!("samples were given but no event in scope has a waiting room");
        }
        return Ok(Finding::not_checked(invariant, "no event in scope has a waiting room"));
    }
    if ctx.config.redis.is_none() && samples.is_none() {
        return Ok(Finding::not_checked(
            invariant,
            "no Redis URL given (--redis-url / TIKETI_REDIS_URL) and no samples",
        ));
    }

    let mut offences = Offences::default();
    let mut notes = Vec::new();
    if let Some(redis) = &ctx.config.redis {
        let mut conn = connect(redis).await?;
        let now_ms = ctx.now.timestamp_millis();
        for (event, max_active) in &rooms {
            let taken = taken(&mut conn, &redis.key_prefix, *event, now_ms).await?;
            if taken.total() > i64::from(*max_active) {
                offences.push(format!(
                    "event {event}: {} live admissions and {} slots of a lost generation exceed max_active {max_active}",
                    taken.live, taken.ghosts
                ));
            }
            notes.push(format!("event {event}: {} of max_active {max_active} admitted now", taken.total()));
        }
    } else {
        notes.push("the room now not read: no Redis URL given".into());
    }
    if let Some(samples) = &samples {
        let only = match rooms.as_slice() {
            [(event, _)] => Some(*event),
            _ => None,
        };
        for sample in samples {
            let Some(event) = sample.event.or(only) else {
                anyhow::bail!(
                    "samples line {}: name the event (several waiting-room events are in scope)",
                    sample.line
                );
            };
            let Some((_, max_active)) = rooms.iter().find(|(id, _)| *id == event) else {
                anyhow::bail!("samples line {}: event {event} is not a waiting-room event in scope", sample.line);
            };
            if sample.count > i64::from(*max_active) {
                offences.push(format!(
                    "samples line {}: event {event} had {} admitted, over max_active {max_active}",
                    sample.line, sample.count
                ));
            }
        }
        notes.push(format!("{} sampled counts read", samples.len()));
    }
    Ok(Finding::from_offences(invariant, offences, notes))
}

async fn read_samples(path: &Path) -> anyhow::Result<Vec<Sample>> {
    let text = tokio::fs::read_to_string(path).await.with_context(|| format!("reading {}", path.display()))?;
    parse_samples(&text)
}

async fn connect(config: &RedisConfig) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(config.url.as_str()).context("reading the Redis URL")?;
    tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
        .await
        .context("connecting to Redis timed out")?
        .context("connecting to Redis")
}

/// Admission slots taken in one room.
struct Taken {
    live: i64,
    ghosts: i64,
}

impl Taken {
    fn total(&self) -> i64 {
        self.live + self.ghosts
    }
}

async fn taken(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    event: Uuid,
    now_ms: i64,
) -> anyhow::Result<Taken> {
    let key = |name: &str| format!("{prefix}{{ev:{event}}}:{name}");
    let after_now = format!("({now_ms}");
    let (live, ghosts, returned): (i64, Vec<(String, i64)>, i64) = redis::pipe()
        .cmd("ZCOUNT")
        .arg(key("active"))
        .arg(&after_now)
        .arg("+inf")
        .cmd("HGETALL")
        .arg(key("ghosts"))
        .cmd("ZCOUNT")
        .arg(key("returned"))
        .arg(&after_now)
        .arg("+inf")
        .query_async(conn)
        .await
        .with_context(|| format!("reading {}", key("active")))?;
    let running: i64 = ghosts
        .iter()
        .filter(|(minute_end, _)| minute_end.parse::<i64>().is_ok_and(|end| end > now_ms))
        .map(|g| g.1)
        .sum();
    Ok(Taken { live, ghosts: (running - returned).max(0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_counts_optionally_per_event() {
        let event = Uuid::nil();
        let text = format!("# admitted per second\n3\n\n{event} 4  # peak\n");
        let samples = parse_samples(&text).unwrap();
        assert_eq!(
            samples,
            [Sample { line: 2, event: None, count: 3 }, Sample { line: 4, event: Some(event), count: 4 }]
        );
        assert!(parse_samples("three").is_err());
        assert!(parse_samples("not-an-id 3").is_err());
        assert!(parse_samples("1 2 3").is_err());
    }
}
