//! The waiting room's state in Redis and the atomic scripts over it. All keys of one event
//! share the hash tag `{ev:<id>}`, so every script works on Redis Cluster.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{ev}:q` | ZSET | waiting buyers by order (pre-queue 1..P after opening, later arrivals 10^12+n) |
//! | `{ev}:pre` | SET | buyers who joined before the opening (randomised into `q` at the opening) |
//! | `{ev}:opened` | STRING | set once the pre-queue has been randomised into `q` |
//! | `{ev}:seq` | STRING | arrivals counter after the opening |
//! | `{ev}:seen` | ZSET | waiter → last seen (ms); not seen for the presence timeout = place lost |
//! | `{ev}:active` | ZSET | admitted buyer → admission end (ms); `ZCARD` ≤ `max_active` |
//! | `{ev}:rate` | ZSET | admissions of the last minute (for `admit_per_minute`) |
//! | `{ev}:stats` | HASH | smoothed admission rate (per second) for ETAs |
//! | `{ev}:joined` | HASH | waiter → when they joined (ms), for the wait-time histogram |
//! | `{ev}:drawn` | STRING | how many the pre-queue draw placed (tickets 1..drawn) |
//! | `{ev}:served` | STRING | how many have been admitted so far |
//! | `{ev}:joins` | STRING | how many joins there have been (for the funnel) |
//!
//! **Positions for 50,000 sockets without 25,000 `ZRANK`s a second.** Every waiter has a ticket
//! number (pre-queue: its place in the draw; later arrivals: `drawn` + arrival number), returned by
//! join and status. Each admission step bumps `served` and publishes
//! `{"event_id","served","queue_size","rate","admitted":[user ids]}` (`tiketi_shared::waiting_room::Progress`)
//! on `<prefix>queue:<event_id>` from inside the same script, so a realtime process moves every
//! socket's position by the growth of `served` from one message per step. Buyers who leave or
//! are evicted ahead of a waiter are not subtracted, so that figure is an upper bound that
//! tightens as the queue moves; the realtime role re-reads exact positions in batches (the
//! `watch` script, one call per thousand sockets, which also keeps their places alive) and the
//! HTTP status answers the exact position (one `ZRANK`).
//!
//! KEDA's `redis` scaler can read the number of waiters with `ZCARD <prefix>{ev:<id>}:q`.

use redis::Script;
use tiketi_shared::ids::UserId;
use tiketi_shared::redis::Redis;
use tiketi_shared::waiting_room;

use crate::model::EventId;

/// Orders of pre-queue members are 1..P; later arrivals start here, so they always queue behind.
const LATE: i64 = 1_000_000_000_000;

const JOIN: &str = r"
local q, pre, opened, seq, seen, active, joined, drawn = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local user, now, late = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5])
local function ticket(score)
  score = tonumber(score)
  if score < late then return score end
  return tonumber(redis.call('GET', drawn) or '0') + score - late
end
local until_ms = redis.call('ZSCORE', active, user)
if until_ms and tonumber(until_ms) > now then return {'admitted', until_ms} end
local score = redis.call('ZSCORE', q, user)
if score then
  redis.call('ZADD', seen, now, user)
  return {'waiting', redis.call('ZRANK', q, user) + 1, redis.call('ZCARD', q), ticket(score), redis.call('HGET', KEYS[9], 'rate') or '0'}
end
if redis.call('SISMEMBER', pre, user) == 1 or (ARGV[3] == '1' and redis.call('EXISTS', opened) == 0) then
  if redis.call('SADD', pre, user) == 1 then redis.call('INCR', KEYS[10]) end
  redis.call('ZADD', seen, now, user)
  redis.call('HSETNX', joined, user, now)
  local size = redis.call('SCARD', pre)
  return {'prequeue', size, size}
end
if ARGV[4] == '0' then return {'absent'} end
local n = redis.call('INCR', seq)
redis.call('INCR', KEYS[10])
redis.call('ZADD', q, late + n, user)
redis.call('ZADD', seen, now, user)
redis.call('HSETNX', joined, user, now)
return {'waiting', redis.call('ZRANK', q, user) + 1, redis.call('ZCARD', q), ticket(late + n), redis.call('HGET', KEYS[9], 'rate') or '0'}
";

const LEAVE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1]); redis.call('ZREM', KEYS[4], ARGV[1]); redis.call('HDEL', KEYS[5], ARGV[1])
return 1
";

/// Moves the pre-queue into the queue in the order given (shuffled by the caller), once.
const OPEN: &str = r"
if redis.call('SET', KEYS[3], '1', 'NX') == false then return 0 end
local n = 0
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then n = n + 1; redis.call('ZADD', KEYS[2], 'NX', n, ARGV[i]) end
end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not redis.call('ZSCORE', KEYS[2], m) then n = n + 1; redis.call('ZADD', KEYS[2], 'NX', n, m) end
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[4], n)
return n
";

/// One admission step; safe to run from any number of replicas at once.
const ADMIT: &str = r"
local q, active, seen, rate, stats, pre, joined, served = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now, max_active, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local window, presence = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', now - presence, 'LIMIT', 0, 5000)
for _, m in ipairs(stale) do
  redis.call('ZREM', q, m); redis.call('SREM', pre, m); redis.call('ZREM', seen, m); redis.call('HDEL', joined, m)
end
redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - 60000)
-- The per-minute budget is spread over the minute: at most 1/60 of it (rounded up) per second.
local this_second = redis.call('ZCOUNT', rate, now - 999, '+inf')
local n = math.min(max_active - redis.call('ZCARD', active), per_minute - redis.call('ZCARD', rate),
  math.ceil(per_minute / 60) - this_second)
local admitted, waits = {}, {}
if n > 0 then
  local popped = redis.call('ZPOPMIN', q, n)
  for i = 1, #popped, 2 do
    local m = popped[i]
    redis.call('ZADD', active, now + window, m)
    redis.call('ZADD', rate, now, m .. ':' .. now)
    redis.call('ZREM', seen, m)
    admitted[#admitted + 1] = m
    waits[#waits + 1] = now - tonumber(redis.call('HGET', joined, m) or now)
    redis.call('HDEL', joined, m)
  end
end
local served_now = redis.call('INCRBY', served, #admitted)
-- Smoothed admissions per second, for ETAs (measured, not configured): admissions are counted
-- and folded into the average once a second of time has passed.
redis.call('HINCRBY', stats, 'count', #admitted)
local last = tonumber(redis.call('HGET', stats, 'at') or '0')
if last == 0 then
  redis.call('HSET', stats, 'at', now, 'rate', '0', 'count', 0)
elseif now - last >= 1000 then
  local measured = tonumber(redis.call('HGET', stats, 'count')) * 1000 / (now - last)
  local smoothed = 0.3 * measured + 0.7 * tonumber(redis.call('HGET', stats, 'rate') or '0')
  redis.call('HSET', stats, 'at', now, 'rate', tostring(smoothed), 'count', 0)
end
-- Progress for realtime pushes: every step that admitted someone or has someone waiting.
local size = redis.call('ZCARD', q)
if #admitted > 0 or size > 0 then
  redis.call('PUBLISH', ARGV[6], cjson.encode({event_id = ARGV[7], served = served_now, queue_size = size,
    rate = tonumber(redis.call('HGET', stats, 'rate') or '0'), admitted = (#admitted > 0) and admitted or nil}))
end
local out = {}
for i = 1, #admitted do out[#out + 1] = admitted[i]; out[#out + 1] = waits[i] end
return out
";

/// Where each of several buyers stands, for realtime pushes; waiting buyers count as seen.
/// Answers `served, queue_size, rate, prequeue_size`, then `kind, value` per buyer: `a` (admitted
/// until), `w` (position), `p` (pre-queue), `x` (absent).
const WATCH: &str = r"
local q, pre, seen, active, served, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = tonumber(ARGV[1])
local out = {redis.call('GET', served) or '0', redis.call('ZCARD', q), redis.call('HGET', stats, 'rate') or '0',
  redis.call('SCARD', pre)}
for i = 2, #ARGV do
  local user = ARGV[i]
  local until_ms = redis.call('ZSCORE', active, user)
  local rank = redis.call('ZRANK', q, user)
  if until_ms and tonumber(until_ms) > now then
    out[#out + 1] = 'a'; out[#out + 1] = until_ms
  elseif rank then
    redis.call('ZADD', seen, now, user); out[#out + 1] = 'w'; out[#out + 1] = rank + 1
  elseif redis.call('SISMEMBER', pre, user) == 1 then
    redis.call('ZADD', seen, now, user); out[#out + 1] = 'p'; out[#out + 1] = 0
  else
    out[#out + 1] = 'x'; out[#out + 1] = 0
  end
end
return out
";

/// Several buyers' standings read at one instant (see [`WaitingRoom::watch`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub served: i64,
    pub queue_size: i64,
    pub rate: f64,
    pub standings: Vec<Seen>,
}

/// One buyer's standing in a [`Watched`] batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Admitted { until_ms: i64 },
    Waiting { position: i64 },
    PreQueue { size: i64 },
    Absent,
}

/// Where a buyer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    Admitted {
        until_ms: i64,
    },
    Waiting {
        position: i64,
        size: i64,
        ticket: i64,
        /// Smoothed admissions per second (0 until measured), for the ETA.
        rate: f64,
    },
    /// Joined before the opening: the order is drawn at the opening; `size` waiters so far.
    PreQueue {
        size: i64,
    },
    Absent,
}

#[derive(Clone)]
pub struct WaitingRoom {
    redis: Redis,
    join: Script,
    leave: Script,
    open: Script,
    admit: Script,
    watch: Script,
}

pub struct Keys {
    pub joined: String,
    pub drawn: String,
    pub served: String,
    pub channel: String,
    pub q: String,
    pub pre: String,
    pub opened: String,
    pub seq: String,
    pub seen: String,
    pub active: String,
    pub rate: String,
    pub stats: String,
    pub joins: String,
}

/// An admission step's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_active: i64,
    pub admit_per_minute: i64,
    pub window_ms: i64,
    pub presence_ms: i64,
}

impl WaitingRoom {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            join: Script::new(JOIN),
            leave: Script::new(LEAVE),
            open: Script::new(OPEN),
            admit: Script::new(ADMIT),
            watch: Script::new(WATCH),
        }
    }

    pub fn keys(&self, event: EventId) -> Keys {
        let k = |name: &str| self.redis.key(format_args!("{{ev:{event}}}:{name}"));
        Keys {
            joined: k("joined"),
            drawn: k("drawn"),
            served: k("served"),
            channel: self.redis.key(waiting_room::channel(event)),
            q: k("q"),
            pre: k("pre"),
            opened: k("opened"),
            seq: k("seq"),
            seen: k("seen"),
            active: k("active"),
            rate: k("rate"),
            stats: k("stats"),
            joins: k("joins"),
        }
    }

    /// Joins (`create`) or looks up a buyer; joining twice keeps the place.
    pub async fn standing(
        &self,
        event: EventId,
        user: UserId,
        now_ms: i64,
        before_open: bool,
        create: bool,
    ) -> redis::RedisResult<Standing> {
        let k = self.keys(event);
        let reply: Vec<redis::Value> = self
            .join
            .key(&k.q)
            .key(&k.pre)
            .key(&k.opened)
            .key(&k.seq)
            .key(&k.seen)
            .key(&k.active)
            .key(&k.joined)
            .key(&k.drawn)
            .key(&k.stats)
            .key(&k.joins)
            .arg(user.to_string())
            .arg(now_ms)
            .arg(if before_open { "1" } else { "0" })
            .arg(if create { "1" } else { "0" })
            .arg(LATE)
            .invoke_async(&mut self.redis.conn())
            .await?;
        let text = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value::<String>(v.clone()).ok());
        let num = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value::<i64>(v.clone()).ok()).unwrap_or(0);
        Ok(match text(0).as_deref() {
            Some("admitted") => Standing::Admitted { until_ms: text(1).and_then(|s| s.parse().ok()).unwrap_or(0) },
            Some("waiting") => Standing::Waiting {
                position: num(1),
                size: num(2),
                ticket: num(3),
                rate: text(4).and_then(|r| r.parse().ok()).unwrap_or(0.0),
            },
            Some("prequeue") => Standing::PreQueue { size: num(2) },
            _ => Standing::Absent,
        })
    }

    pub async fn leave(&self, event: EventId, user: UserId) -> redis::RedisResult<()> {
        let k = self.keys(event);
        self.leave
            .key(&k.q)
            .key(&k.pre)
            .key(&k.seen)
            .key(&k.active)
            .key(&k.joined)
            .arg(user.to_string())
            .invoke_async(&mut self.redis.conn())
            .await
    }

    /// Ends a buyer's admission (bought, cancelled, expired), freeing the slot.
    pub async fn release(&self, event: EventId, user: UserId) -> redis::RedisResult<()> {
        redis::cmd("ZREM").arg(self.keys(event).active).arg(user.to_string()).query_async(&mut self.redis.conn()).await
    }

    /// Keeps an admission alive while its buyer holds seats (until `until_ms`).
    pub async fn extend(&self, event: EventId, user: UserId, until_ms: i64) -> redis::RedisResult<()> {
        redis::cmd("ZADD")
            .arg(self.keys(event).active)
            .arg("XX")
            .arg("GT")
            .arg(until_ms)
            .arg(user.to_string())
            .query_async(&mut self.redis.conn())
            .await
    }

    /// The end of `user`'s admission, if admitted now.
    pub async fn admitted_until(&self, event: EventId, user: UserId, now_ms: i64) -> redis::RedisResult<Option<i64>> {
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(self.keys(event).active)
            .arg(user.to_string())
            .query_async(&mut self.redis.conn())
            .await?;
        #[allow(clippy::cast_possible_truncation)]
        Ok(score.map(|s| s as i64).filter(|&until| until > now_ms))
    }

    pub async fn is_open(&self, event: EventId) -> redis::RedisResult<bool> {
        redis::cmd("EXISTS").arg(self.keys(event).opened).query_async(&mut self.redis.conn()).await
    }

    pub async fn prequeue_members(&self, event: EventId) -> redis::RedisResult<Vec<String>> {
        redis::cmd("SMEMBERS").arg(self.keys(event).pre).query_async(&mut self.redis.conn()).await
    }

    /// Randomised pre-queue order in, once; answers how many were queued (0 if already open).
    pub async fn open(&self, event: EventId, shuffled: &[String]) -> redis::RedisResult<i64> {
        let k = self.keys(event);
        self.open
            .key(&k.pre)
            .key(&k.q)
            .key(&k.opened)
            .key(&k.drawn)
            .arg(shuffled)
            .invoke_async(&mut self.redis.conn())
            .await
    }

    /// One admission step: answers who was admitted, in queue order, with how long each waited (ms).
    pub async fn admit(&self, event: EventId, now_ms: i64, limits: Limits) -> redis::RedisResult<Vec<(String, i64)>> {
        let k = self.keys(event);
        let flat: Vec<redis::Value> = self
            .admit
            .key(&k.q)
            .key(&k.active)
            .key(&k.seen)
            .key(&k.rate)
            .key(&k.stats)
            .key(&k.pre)
            .key(&k.joined)
            .key(&k.served)
            .arg(now_ms)
            .arg(limits.max_active)
            .arg(limits.admit_per_minute)
            .arg(limits.window_ms)
            .arg(limits.presence_ms)
            .arg(&k.channel)
            .arg(event.to_string())
            .invoke_async(&mut self.redis.conn())
            .await?;
        Ok(flat
            .chunks(2)
            .filter_map(|pair| {
                let user = redis::from_redis_value::<String>(pair.first()?.clone()).ok()?;
                let waited = redis::from_redis_value::<i64>(pair.get(1)?.clone()).ok()?;
                Some((user, waited))
            })
            .collect())
    }

    /// Where each of `users` stands; the waiting ones count as seen (an open socket is presence).
    pub async fn watch(&self, event: EventId, users: &[UserId], now_ms: i64) -> redis::RedisResult<Watched> {
        let k = self.keys(event);
        let mut call = self.watch.key(&k.q);
        call.key(&k.pre).key(&k.seen).key(&k.active).key(&k.served).key(&k.stats).arg(now_ms);
        for user in users {
            call.arg(user.to_string());
        }
        let reply: Vec<redis::Value> = call.invoke_async(&mut self.redis.conn()).await?;
        let text = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value::<String>(v.clone()).ok());
        let num = |i: usize| text(i).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
        #[allow(clippy::cast_possible_truncation)]
        let int = |i: usize| num(i) as i64;
        let prequeue_size = int(3);
        let standings = (0..users.len())
            .map(|n| {
                let at = 4 + 2 * n;
                match text(at).as_deref() {
                    Some("a") => Seen::Admitted { until_ms: int(at + 1) },
                    Some("w") => Seen::Waiting { position: int(at + 1) },
                    Some("p") => Seen::PreQueue { size: prequeue_size },
                    _ => Seen::Absent,
                }
            })
            .collect();
        Ok(Watched { served: int(0), queue_size: int(1), rate: num(2), standings })
    }

    pub async fn counts(&self, event: EventId) -> redis::RedisResult<(i64, i64)> {
        let k = self.keys(event);
        redis::pipe().zcard(&k.q).zcard(&k.active).query_async(&mut self.redis.conn()).await
    }

    /// The room's counts for analytics, read at one instant.
    pub async fn tally(&self, event: EventId) -> redis::RedisResult<Tally> {
        let k = self.keys(event);
        let (joined, admitted, queued, pre, active): (Option<i64>, Option<i64>, i64, i64, i64) = redis::pipe()
            .atomic()
            .get(&k.joins)
            .get(&k.served)
            .zcard(&k.q)
            .scard(&k.pre)
            .zcard(&k.active)
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(Tally { joined: joined.unwrap_or(0), admitted: admitted.unwrap_or(0), waiting: queued + pre, active })
    }
}

/// See [`WaitingRoom::tally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub joined: i64,
    pub admitted: i64,
    pub waiting: i64,
    pub active: i64,
}
