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
//! | `{ev}:epoch` | STRING | the state's generation (see below); scripts refuse to run without it |
//! | `{ev}:base` | STRING | arrivals after the opening in earlier generations |
//! | `{ev}:grace` | STRING | until when (ms) admission waits for waiters to show their receipts |
//! | `{ev}:ghosts` | HASH | admissions of the lost generation by the minute they end: slots still taken |
//! | `{ev}:returned` | ZSET | admitted buyers of a lost generation back or finished → the end of their kept minute |
//! | `{ev}:restored` | SET | waiters put back from a receipt in this generation (once each) |
//! | `{ev}:since` | STRING | when (ms) this generation began |
//!
//! **Generations: Redis may lose the room.** Every admission step checkpoints the counters to
//! PostgreSQL (`ticket.waiting_rooms`, [`super::checkpoint`]). Finding no `epoch` key, a replica
//! starts the room's next generation from the checkpoint: counters back, the slots of admissions
//! still running kept taken (`ghosts`), and admission paused for a grace while waiters show their
//! receipts ([`super::receipt`]), which put each back at its old order. Orders carry their
//! generation (arrivals of generation `g` are `g`·10^12 + n), so everyone placed before a loss stays
//! ahead of everyone after it. Admitted buyers show their admission token at the next hold; a
//! buyer whose hold from before the loss ends (bought, cancelled, expired) frees its kept slot.
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

/// Joins or looks up a buyer. Answers the kind, then: `admitted` until; `waiting` position,
/// size, ticket (-1 when placed in an earlier generation), rate, order, joined; `prequeue` size,
/// joined; then the generation. `noepoch` when the room has no generation in Redis; `limited`,
/// time left (ms) and 1 (address) or 2 (account) when a join is over a budget.
const JOIN: &str = r"
local q, pre, opened, seq, seen, active, joined, drawn = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local user, now, late = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5])
local epoch = tonumber(redis.call('GET', KEYS[11]) or '0')
if epoch == 0 then return {'noepoch'} end
-- A join counts against its client address's and its account's budgets (fixed windows).
if ARGV[4] == '1' and tonumber(ARGV[7]) > 0 then
  local window = tonumber(ARGV[6])
  for i, max in ipairs({tonumber(ARGV[7]), tonumber(ARGV[8])}) do
    local key = KEYS[12 + i]
    local n = redis.call('INCR', key)
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then redis.call('PEXPIRE', key, window); ttl = window end
    if n > max then return {'limited', ttl, i} end
  end
end
local function ticket(score)
  score = tonumber(score)
  if score < late then return score end
  if score < late * epoch then return -1 end
  return tonumber(redis.call('GET', drawn) or '0') + tonumber(redis.call('GET', KEYS[12]) or '0') + score - late * epoch
end
local function waiting(score)
  return {'waiting', redis.call('ZRANK', q, user) + 1, redis.call('ZCARD', q), ticket(score),
    redis.call('HGET', KEYS[9], 'rate') or '0', score, redis.call('HGET', joined, user) or now, epoch}
end
local until_ms = redis.call('ZSCORE', active, user)
if until_ms and tonumber(until_ms) > now then return {'admitted', until_ms, epoch} end
local score = redis.call('ZSCORE', q, user)
if score then
  redis.call('ZADD', seen, now, user)
  return waiting(score)
end
if redis.call('SISMEMBER', pre, user) == 1 or (ARGV[3] == '1' and redis.call('EXISTS', opened) == 0) then
  if redis.call('SADD', pre, user) == 1 then redis.call('INCR', KEYS[10]) end
  redis.call('ZADD', seen, now, user)
  redis.call('HSETNX', joined, user, now)
  local size = redis.call('SCARD', pre)
  return {'prequeue', size, redis.call('HGET', joined, user), epoch}
end
if ARGV[4] == '0' then return {'absent'} end
local n = redis.call('INCR', seq)
redis.call('INCR', KEYS[10])
redis.call('ZADD', q, late * epoch + n, user)
redis.call('ZADD', seen, now, user)
redis.call('HSETNX', joined, user, now)
return waiting(late * epoch + n)
";

/// Puts waiters of a lost generation back from their receipts (`user, generation, order or p,
/// joined` each): only receipts of an earlier generation, only buyers not in the room now, once
/// per generation. A pre-queue receipt after the draw queues behind the drawn. Answers how many
/// came back, or -1 without a generation.
const RESTORE: &str = r"
local q, pre, opened, seen, active, joined, drawn, restored, returned = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9], KEYS[10]
local epoch = tonumber(redis.call('GET', KEYS[8]) or '0')
if epoch == 0 then return -1 end
local now, n = tonumber(ARGV[1]), 0
for i = 2, #ARGV, 4 do
  local user, from, place = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  if from < epoch and not redis.call('ZSCORE', active, user) and not redis.call('ZSCORE', q, user)
    and redis.call('SISMEMBER', pre, user) == 0 and redis.call('SISMEMBER', restored, user) == 0
    and not redis.call('ZSCORE', returned, user) then
    if place ~= 'p' then
      redis.call('ZADD', q, place, user)
    elseif redis.call('EXISTS', opened) == 0 then
      redis.call('SADD', pre, user)
    else
      redis.call('ZADD', q, redis.call('INCR', drawn), user)
    end
    redis.call('SADD', restored, user)
    redis.call('ZADD', seen, now, user)
    redis.call('HSETNX', joined, user, ARGV[i + 3])
    n = n + 1
  end
end
return n
";

/// A Lua function for the scripts that count a lost generation's buyer as returned: the end of
/// the kept minute (`{ev}:ghosts`) an admission ending at `t` was counted in — the snapshot's
/// buckets are minute edges, the last one open-ended. A returned buyer must stay counted returned
/// exactly as long as that kept slot is counted: dropping them at the admission's own end (up to
/// a minute before the bucket's) counted their slot as taken again, on top of their live one.
macro_rules! kept_until_lua {
    () => {
        r"
local function kept_until(ghosts, t)
  local last = 0
  for _, m in ipairs(redis.call('HKEYS', ghosts)) do last = math.max(last, tonumber(m)) end
  local edge = t
  if t % 60000 ~= 0 then edge = t - t % 60000 + 60000 end
  if last > 0 and edge > last then return last end
  return edge
end
"
    };
}

/// An admitted buyer of a lost generation shows their admission token (`user, generation, until,
/// now`): the admission comes back once, until the token ends. Answers 1 if it came back, 0 if
/// not, -1 without a generation.
const RETURN: &str = concat!(
    kept_until_lua!(),
    r"
local active, returned = KEYS[1], KEYS[2]
local epoch = tonumber(redis.call('GET', KEYS[3]) or '0')
if epoch == 0 then return -1 end
local user, from, until_ms, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if from >= epoch or until_ms <= now or redis.call('ZSCORE', returned, user) or redis.call('ZSCORE', active, user) then
  return 0
end
redis.call('ZADD', active, until_ms, user)
redis.call('ZADD', returned, kept_until(KEYS[8], until_ms), user)
redis.call('ZREM', KEYS[4], user); redis.call('SREM', KEYS[5], user); redis.call('ZREM', KEYS[6], user)
redis.call('HDEL', KEYS[7], user)
return 1
"
);

/// Starts a generation (`epoch, opened, drawn, arrivals, served, joins, grace until, now`, then
/// `minute end, count` pairs of admissions still running) unless one exists; counters already
/// present are kept. Answers the generation in force.
const INIT: &str = r"
local current = redis.call('GET', KEYS[1])
if current then return tonumber(current) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[9], ARGV[8])
if ARGV[2] == '1' then redis.call('SET', KEYS[2], '1') end
redis.call('SET', KEYS[3], ARGV[3], 'NX'); redis.call('SET', KEYS[4], ARGV[4], 'NX')
redis.call('SET', KEYS[5], ARGV[5], 'NX'); redis.call('SET', KEYS[6], ARGV[6], 'NX')
if tonumber(ARGV[7]) > 0 then redis.call('SET', KEYS[7], ARGV[7]) end
for i = 9, #ARGV, 2 do redis.call('HINCRBY', KEYS[8], ARGV[i], ARGV[i + 1]) end
return tonumber(ARGV[1])
";

/// Ends a buyer's admission (`user, held at, held until`). One not in this generation's admitted
/// set whose hold began before the generation did held a lost generation's slot: that slot frees
/// now (counted returned until the kept minute its hold's end falls in is over).
const RELEASE: &str = concat!(
    kept_until_lua!(),
    r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then return 1 end
local since = tonumber(redis.call('GET', KEYS[4]) or '0')
if since > 0 and tonumber(ARGV[2]) < since and redis.call('EXISTS', KEYS[2]) == 1
  and not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  redis.call('ZADD', KEYS[3], kept_until(KEYS[2], tonumber(ARGV[3])), ARGV[1])
end
return 0
"
);

/// What a checkpoint keeps: the generation, opened, drawn, arrivals, served, joins, then `minute
/// end, count` pairs of running admissions (those of this generation and the unreturned of the last).
const SNAPSHOT: &str = r"
local epoch, active, ghosts = KEYS[1], KEYS[8], KEYS[9]
local now = tonumber(ARGV[1])
local out = {tonumber(redis.call('GET', epoch) or '0'), redis.call('EXISTS', KEYS[2]),
  tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0') + tonumber(redis.call('GET', KEYS[5]) or '0'),
  tonumber(redis.call('GET', KEYS[6]) or '0'), tonumber(redis.call('GET', KEYS[7]) or '0')}
local last = redis.call('ZRANGE', active, -1, -1, 'WITHSCORES')
if #last > 0 then
  local top, low, edge, k = tonumber(last[2]), now, now - now % 60000 + 60000, 0
  while low < top do
    local bound = edge
    if k == 120 then bound = top - top % 60000 + 60000 end
    local c = redis.call('ZCOUNT', active, '(' .. low, bound)
    if c > 0 then out[#out + 1] = bound; out[#out + 1] = c end
    low, edge, k = bound, bound + 60000, k + 1
  end
end
local g = redis.call('HGETALL', ghosts)
for i = 1, #g, 2 do
  if tonumber(g[i]) > now then out[#out + 1] = tonumber(g[i]); out[#out + 1] = tonumber(g[i + 1]) end
end
return out
";

const LEAVE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1]); redis.call('ZREM', KEYS[4], ARGV[1]); redis.call('HDEL', KEYS[5], ARGV[1])
return 1
";

/// Moves the pre-queue into the queue in the order given (shuffled by the caller), once; never
/// without a generation (a lost pre-queue comes back from receipts first).
const OPEN: &str = r"
if redis.call('EXISTS', KEYS[5]) == 0 then return -1 end
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

/// One admission step; safe to run from any number of replicas at once. Answers the generation
/// (0: none, nothing done), then `user, waited ms` per admission.
const ADMIT: &str = r"
local q, active, seen, rate, stats, pre, joined, served = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now, max_active, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local window, presence = tonumber(ARGV[4]), tonumber(ARGV[5])
local epoch = tonumber(redis.call('GET', KEYS[9]) or '0')
if epoch == 0 then return {0} end
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
-- Slots of a lost generation's admissions stay taken until their buyers return or they end.
redis.call('ZREMRANGEBYSCORE', KEYS[12], '-inf', now)
local ghosts = 0
local g = redis.call('HGETALL', KEYS[11])
for i = 1, #g, 2 do
  if tonumber(g[i]) > now then ghosts = ghosts + tonumber(g[i + 1]) else redis.call('HDEL', KEYS[11], g[i]) end
end
ghosts = math.max(0, ghosts - redis.call('ZCARD', KEYS[12]))
local in_grace = now < tonumber(redis.call('GET', KEYS[10]) or '0')
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', now - presence, 'LIMIT', 0, 5000)
for _, m in ipairs(stale) do
  redis.call('ZREM', q, m); redis.call('SREM', pre, m); redis.call('ZREM', seen, m); redis.call('HDEL', joined, m)
end
redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - 60000)
-- The per-minute budget is spread over the minute: at most 1/60 of it (rounded up) per second.
local this_second = redis.call('ZCOUNT', rate, now - 999, '+inf')
local n = math.min(max_active - redis.call('ZCARD', active) - ghosts, per_minute - redis.call('ZCARD', rate),
  math.ceil(per_minute / 60) - this_second)
local admitted, waits = {}, {}
if n > 0 and not in_grace then
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
-- Smoothed admissions per second, for ETAs: admissions are counted and folded into the average
-- once a second of time has passed. It starts from the configured rate, which is what a room
-- opening on a crowd admits: starting from 0, the first minute's ETAs promised 3x the real wait.
redis.call('HINCRBY', stats, 'count', #admitted)
local last = tonumber(redis.call('HGET', stats, 'at') or '0')
if last == 0 then
  redis.call('HSET', stats, 'at', now, 'rate', tostring(per_minute / 60), 'count', 0)
elseif now - last >= 1000 then
  local measured = tonumber(redis.call('HGET', stats, 'count')) * 1000 / (now - last)
  local smoothed = 0.3 * measured + 0.7 * tonumber(redis.call('HGET', stats, 'rate') or '0')
  redis.call('HSET', stats, 'at', now, 'rate', tostring(smoothed), 'count', 0)
end
-- Progress for realtime pushes: every step that admitted someone or has someone waiting, and
-- through a grace (it tells the realtime role to show its sockets' receipts).
local size = redis.call('ZCARD', q)
if #admitted > 0 or size > 0 or in_grace then
  redis.call('PUBLISH', ARGV[6], cjson.encode({event_id = ARGV[7], served = served_now, queue_size = size,
    rate = tonumber(redis.call('HGET', stats, 'rate') or '0'), admitted = (#admitted > 0) and admitted or nil,
    epoch = epoch}))
end
local out = {epoch}
for i = 1, #admitted do out[#out + 1] = admitted[i]; out[#out + 1] = waits[i] end
return out
";

/// Where each of several buyers stands, for realtime pushes; waiting buyers count as seen.
/// Answers `served, queue_size, rate, prequeue_size, generation`, then `kind, value, order,
/// joined` per buyer: `a` (admitted until), `w` (position), `p` (pre-queue), `x` (absent); or
/// `noepoch`.
const WATCH: &str = r"
local q, pre, seen, active, served, stats, joined = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now = tonumber(ARGV[1])
local epoch = redis.call('GET', KEYS[8])
if not epoch then return {'noepoch'} end
local out = {redis.call('GET', served) or '0', redis.call('ZCARD', q), redis.call('HGET', stats, 'rate') or '0',
  redis.call('SCARD', pre), epoch}
for i = 2, #ARGV do
  local user = ARGV[i]
  local until_ms = redis.call('ZSCORE', active, user)
  local rank = redis.call('ZRANK', q, user)
  if until_ms and tonumber(until_ms) > now then
    out[#out + 1] = 'a'; out[#out + 1] = until_ms; out[#out + 1] = 0; out[#out + 1] = 0
  elseif rank then
    redis.call('ZADD', seen, now, user); out[#out + 1] = 'w'; out[#out + 1] = rank + 1
    out[#out + 1] = redis.call('ZSCORE', q, user); out[#out + 1] = redis.call('HGET', joined, user) or now
  elseif redis.call('SISMEMBER', pre, user) == 1 then
    redis.call('ZADD', seen, now, user); out[#out + 1] = 'p'; out[#out + 1] = 0
    out[#out + 1] = 0; out[#out + 1] = redis.call('HGET', joined, user) or now
  else
    out[#out + 1] = 'x'; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
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
    pub epoch: i64,
    pub standings: Vec<Seen>,
}

/// One buyer's standing in a [`Watched`] batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Admitted { until_ms: i64 },
    Waiting { position: i64, order: i64, joined_ms: i64 },
    PreQueue { size: i64, joined_ms: i64 },
    Absent,
}

/// Where a buyer stands, in the room's generation `epoch`.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    Admitted {
        until_ms: i64,
        epoch: i64,
    },
    Waiting {
        position: i64,
        size: i64,
        /// `None` for a place kept from an earlier generation (its number is not known now).
        ticket: Option<i64>,
        /// Smoothed admissions per second (0 until measured), for the ETA.
        rate: f64,
        /// The order in the queue (what a receipt keeps) and when the buyer joined.
        order: i64,
        joined_ms: i64,
        epoch: i64,
    },
    /// Joined before the opening: the order is drawn at the opening; `size` waiters so far.
    PreQueue {
        size: i64,
        joined_ms: i64,
        epoch: i64,
    },
    Absent,
    /// The join was over the client address's or the account's budget.
    Limited {
        limit: &'static str,
        retry_ms: i64,
    },
}

/// Budgets of joins per client address and per account, per event (see [`WaitingRoom::standing`]).
#[derive(Debug, Clone)]
pub struct JoinBudget {
    /// The client address (hashed into the key).
    pub address: String,
    pub per_address: u32,
    pub per_account: u32,
    pub window_ms: i64,
}

/// A waiter of a lost generation, from their receipt (see [`WaitingRoom::restore`]).
#[derive(Debug, Clone, Copy)]
pub struct Returning {
    pub user: UserId,
    pub epoch: i64,
    /// `None`: the pre-queue.
    pub order: Option<i64>,
    pub joined_ms: i64,
}

/// A checkpoint of a room's counters (see [`WaitingRoom::snapshot`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub epoch: i64,
    pub opened: bool,
    pub drawn: i64,
    pub arrivals: i64,
    pub served: i64,
    pub joins: i64,
    /// Running admissions by the minute (end, ms) they end by.
    pub admitted_until: std::collections::BTreeMap<i64, i64>,
}

#[derive(Clone)]
pub struct WaitingRoom {
    redis: Redis,
    join: Script,
    restore: Script,
    returns: Script,
    init: Script,
    release: Script,
    snapshot: Script,
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
    pub epoch: String,
    pub base: String,
    pub grace: String,
    pub ghosts: String,
    pub returned: String,
    pub restored: String,
    /// When (ms) this generation began.
    pub since: String,
    /// Prefix of the join budgets' counters.
    pub budget: String,
}

/// An admission step's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_active: i64,
    pub admit_per_minute: i64,
    pub window_ms: i64,
    pub presence_ms: i64,
}

fn text(reply: &[redis::Value], i: usize) -> Option<String> {
    reply.get(i).and_then(|v| redis::from_redis_value::<String>(v.clone()).ok())
}

/// An integer reply or a number Redis answered as text (scores, counters).
fn int(reply: &[redis::Value], i: usize) -> i64 {
    #[allow(clippy::cast_possible_truncation)]
    text(reply, i).and_then(|t| t.parse::<f64>().ok()).map_or(0, |f| f as i64)
}

impl WaitingRoom {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            join: Script::new(JOIN),
            restore: Script::new(RESTORE),
            returns: Script::new(RETURN),
            init: Script::new(INIT),
            release: Script::new(RELEASE),
            snapshot: Script::new(SNAPSHOT),
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
            epoch: k("epoch"),
            base: k("base"),
            grace: k("grace"),
            ghosts: k("ghosts"),
            returned: k("returned"),
            restored: k("restored"),
            since: k("since"),
            budget: k("rl"),
        }
    }

    /// Joins (`create`, counted against `budget` if given) or looks up a buyer; joining twice
    /// keeps the place. `None`: the room has no generation in Redis (start one with
    /// [`WaitingRoom::init`], then ask again).
    pub async fn standing(
        &self,
        event: EventId,
        user: UserId,
        now_ms: i64,
        before_open: bool,
        create: bool,
        budget: Option<&JoinBudget>,
    ) -> redis::RedisResult<Option<Standing>> {
        use sha2::Digest;
        let k = self.keys(event);
        let address = budget.map(|b| sha2::Sha256::digest(b.address.as_bytes())).unwrap_or_default();
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
            .key(&k.epoch)
            .key(&k.base)
            .key(format!("{}:ip:{address:x}", k.budget))
            .key(format!("{}:user:{user}", k.budget))
            .arg(user.to_string())
            .arg(now_ms)
            .arg(if before_open { "1" } else { "0" })
            .arg(if create { "1" } else { "0" })
            .arg(LATE)
            .arg(budget.map_or(0, |b| b.window_ms))
            .arg(budget.map_or(0, |b| b.per_address))
            .arg(budget.map_or(0, |b| b.per_account))
            .invoke_async(&mut self.redis.conn())
            .await?;
        let num = |i: usize| int(&reply, i);
        Ok(Some(match text(&reply, 0).as_deref() {
            Some("noepoch") => return Ok(None),
            Some("limited") => Standing::Limited {
                limit: if num(2) == 1 { "queue_join_address" } else { "queue_join_account" },
                retry_ms: num(1),
            },
            Some("admitted") => Standing::Admitted { until_ms: num(1), epoch: num(2) },
            Some("waiting") => Standing::Waiting {
                position: num(1),
                size: num(2),
                ticket: Some(num(3)).filter(|&t| t >= 0),
                rate: text(&reply, 4).and_then(|r| r.parse().ok()).unwrap_or(0.0),
                order: num(5),
                joined_ms: num(6),
                epoch: num(7),
            },
            Some("prequeue") => Standing::PreQueue { size: num(1), joined_ms: num(2), epoch: num(3) },
            _ => Standing::Absent,
        }))
    }

    /// Puts waiters of a lost generation back at their orders (see `RESTORE`); answers how many
    /// came back, `None` without a generation.
    pub async fn restore(
        &self,
        event: EventId,
        returning: &[Returning],
        now_ms: i64,
    ) -> redis::RedisResult<Option<i64>> {
        if returning.is_empty() {
            return Ok(Some(0));
        }
        let k = self.keys(event);
        let mut call = self.restore.key(&k.q);
        call.key(&k.pre)
            .key(&k.opened)
            .key(&k.seen)
            .key(&k.active)
            .key(&k.joined)
            .key(&k.drawn)
            .key(&k.epoch)
            .key(&k.restored)
            .key(&k.returned)
            .arg(now_ms);
        for r in returning {
            call.arg(r.user.to_string()).arg(r.epoch);
            match r.order {
                Some(order) => call.arg(order),
                None => call.arg("p"),
            };
            call.arg(r.joined_ms);
        }
        let n: i64 = call.invoke_async(&mut self.redis.conn()).await?;
        Ok((n >= 0).then_some(n))
    }

    /// An admitted buyer of generation `epoch` shows a token valid until `until_ms`: whether the
    /// admission came back (see `RETURN`); `None` without a generation.
    pub async fn readmit(
        &self,
        event: EventId,
        user: UserId,
        epoch: i64,
        until_ms: i64,
        now_ms: i64,
    ) -> redis::RedisResult<Option<bool>> {
        let k = self.keys(event);
        let n: i64 = self
            .returns
            .key(&k.active)
            .key(&k.returned)
            .key(&k.epoch)
            .key(&k.q)
            .key(&k.pre)
            .key(&k.seen)
            .key(&k.joined)
            .key(&k.ghosts)
            .arg(user.to_string())
            .arg(epoch)
            .arg(until_ms)
            .arg(now_ms)
            .invoke_async(&mut self.redis.conn())
            .await?;
        Ok((n >= 0).then_some(n == 1))
    }

    /// Starts generation `next.epoch` from a checkpoint unless one is in force (admission paused
    /// until `grace_until_ms`); answers the generation in force.
    pub async fn init(
        &self,
        event: EventId,
        next: &Snapshot,
        grace_until_ms: i64,
        now_ms: i64,
    ) -> redis::RedisResult<i64> {
        let k = self.keys(event);
        let mut call = self.init.key(&k.epoch);
        call.key(&k.opened)
            .key(&k.drawn)
            .key(&k.base)
            .key(&k.served)
            .key(&k.joins)
            .key(&k.grace)
            .key(&k.ghosts)
            .key(&k.since)
            .arg(next.epoch)
            .arg(if next.opened { "1" } else { "0" })
            .arg(next.drawn)
            .arg(next.arrivals)
            .arg(next.served)
            .arg(next.joins)
            .arg(grace_until_ms)
            .arg(now_ms);
        for (until, count) in &next.admitted_until {
            call.arg(until).arg(count);
        }
        call.invoke_async(&mut self.redis.conn()).await
    }

    /// The room's counters for a checkpoint (generation 0: none in force).
    pub async fn snapshot(&self, event: EventId, now_ms: i64) -> redis::RedisResult<Snapshot> {
        let k = self.keys(event);
        let reply: Vec<i64> = self
            .snapshot
            .key(&k.epoch)
            .key(&k.opened)
            .key(&k.drawn)
            .key(&k.base)
            .key(&k.seq)
            .key(&k.served)
            .key(&k.joins)
            .key(&k.active)
            .key(&k.ghosts)
            .arg(now_ms)
            .invoke_async(&mut self.redis.conn())
            .await?;
        let at = |i: usize| reply.get(i).copied().unwrap_or(0);
        let mut admitted_until = std::collections::BTreeMap::new();
        for pair in reply.get(6..).unwrap_or_default().chunks_exact(2) {
            *admitted_until.entry(pair[0]).or_insert(0) += pair[1];
        }
        Ok(Snapshot {
            epoch: at(0),
            opened: at(1) == 1,
            drawn: at(2),
            arrivals: at(3),
            served: at(4),
            joins: at(5),
            admitted_until,
        })
    }

    /// The generation in force, if any.
    pub async fn epoch(&self, event: EventId) -> redis::RedisResult<Option<i64>> {
        redis::cmd("GET").arg(self.keys(event).epoch).query_async(&mut self.redis.conn()).await
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

    /// Ends a buyer's admission (bought, cancelled, expired), freeing the slot; the hold began
    /// at `held_at_ms` and lasted until `held_until_ms` (see `RELEASE`).
    pub async fn release(
        &self,
        event: EventId,
        user: UserId,
        held_at_ms: i64,
        held_until_ms: i64,
    ) -> redis::RedisResult<()> {
        let k = self.keys(event);
        let _: i64 = self
            .release
            .key(&k.active)
            .key(&k.ghosts)
            .key(&k.returned)
            .key(&k.since)
            .arg(user.to_string())
            .arg(held_at_ms)
            .arg(held_until_ms)
            .invoke_async(&mut self.redis.conn())
            .await?;
        Ok(())
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

    /// Randomised pre-queue order in, once; answers how many were queued (0 if already open,
    /// `None` without a generation).
    pub async fn open(&self, event: EventId, shuffled: &[String]) -> redis::RedisResult<Option<i64>> {
        let k = self.keys(event);
        let n: i64 = self
            .open
            .key(&k.pre)
            .key(&k.q)
            .key(&k.opened)
            .key(&k.drawn)
            .key(&k.epoch)
            .arg(shuffled)
            .invoke_async(&mut self.redis.conn())
            .await?;
        Ok((n >= 0).then_some(n))
    }

    /// One admission step: answers who was admitted, in queue order, with how long each waited
    /// (ms); `None` without a generation.
    pub async fn admit(
        &self,
        event: EventId,
        now_ms: i64,
        limits: Limits,
    ) -> redis::RedisResult<Option<Vec<(String, i64)>>> {
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
            .key(&k.epoch)
            .key(&k.grace)
            .key(&k.ghosts)
            .key(&k.returned)
            .arg(now_ms)
            .arg(limits.max_active)
            .arg(limits.admit_per_minute)
            .arg(limits.window_ms)
            .arg(limits.presence_ms)
            .arg(&k.channel)
            .arg(event.to_string())
            .invoke_async(&mut self.redis.conn())
            .await?;
        if int(&flat, 0) == 0 {
            return Ok(None);
        }
        Ok(Some(
            flat[1..]
                .chunks(2)
                .filter_map(|pair| {
                    let user = redis::from_redis_value::<String>(pair.first()?.clone()).ok()?;
                    let waited = redis::from_redis_value::<i64>(pair.get(1)?.clone()).ok()?;
                    Some((user, waited))
                })
                .collect(),
        ))
    }

    /// Where each of `users` stands; the waiting ones count as seen (an open socket is presence).
    /// `None` without a generation.
    pub async fn watch(&self, event: EventId, users: &[UserId], now_ms: i64) -> redis::RedisResult<Option<Watched>> {
        let k = self.keys(event);
        let mut call = self.watch.key(&k.q);
        call.key(&k.pre).key(&k.seen).key(&k.active).key(&k.served).key(&k.stats).key(&k.joined).key(&k.epoch);
        call.arg(now_ms);
        for user in users {
            call.arg(user.to_string());
        }
        let reply: Vec<redis::Value> = call.invoke_async(&mut self.redis.conn()).await?;
        if text(&reply, 0).as_deref() == Some("noepoch") {
            return Ok(None);
        }
        let num = |i: usize| int(&reply, i);
        let prequeue_size = num(3);
        let standings = (0..users.len())
            .map(|n| {
                let at = 5 + 4 * n;
                match text(&reply, at).as_deref() {
                    Some("a") => Seen::Admitted { until_ms: num(at + 1) },
                    Some("w") => Seen::Waiting { position: num(at + 1), order: num(at + 2), joined_ms: num(at + 3) },
                    Some("p") => Seen::PreQueue { size: prequeue_size, joined_ms: num(at + 3) },
                    _ => Seen::Absent,
                }
            })
            .collect();
        Ok(Some(Watched {
            served: num(0),
            queue_size: num(1),
            rate: text(&reply, 2).and_then(|r| r.parse().ok()).unwrap_or(0.0),
            epoch: num(4),
            standings,
        }))
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
