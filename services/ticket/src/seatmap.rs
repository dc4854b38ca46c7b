//! `GET /api/events/{id}/seats`: the live seat map, served thousands of times a second while holds
//! change it hundreds of times a second.
//!
//! A snapshot carries the version it was built at (its `version` and its ETag), and every change
//! after it reaches subscribers as a `seats.changed` delta on `seats:<event>`: snapshot + later
//! deltas = every acknowledged change. So a snapshot need not be rebuilt at every change — that
//! made readers rebuild the whole map from PostgreSQL at every hold and starve the holds. Instead:
//!
//! - a snapshot at the event's current version is served as long as it is current (up to
//!   [`MAX_AGE`], for a change whose publishing failed and left the version unbumped);
//! - one at an older version is served while it is younger than `max_age` (the setting, ~1 s):
//!   reads cost O(bytes sent) whatever the write rate, and each replica rebuilds an event's map
//!   at most about once per `max_age` while its seats change;
//! - one found current is served for `max_age` after that finding without asking again: a
//!   quiet event's map costs one Redis call per `max_age`, not one per request, and is never
//!   more than `max_age` behind — the same bound as a snapshot's age;
//! - one rebuild per event at a time in this process (single flight): readers that find no usable
//!   snapshot wait for that rebuild instead of starting their own;
//! - before building from PostgreSQL, a snapshot another replica stored in Redis is taken if it is
//!   usable by the same rules.
//!
//! A request that finds a snapshot built or found current less than `max_age` ago is answered
//! from memory alone; any other asks Redis for the event's current version (one small call). The
//! version is bumped after a seat change commits and before it is acknowledged, and a build reads
//! the version before the seats: a snapshot includes every change up to its version (and maybe a
//! few after it, which their deltas repeat). `If-None-Match` with the served version answers 304
//! without a body.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::InvalidHeaderValue;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use tiketi_shared::error::Problem;
use tiketi_shared::extract::Path;
use tiketi_shared::{ApiError, ApiResult, ErrorCode};

use crate::TicketState;
use crate::cache;
use crate::model::{EventId, SeatMap, SeatMapSeat};

/// A seat map as served: its version and both encodings.
pub struct Built {
    version: i64,
    built_at: Instant,
    /// When the event's version was last found to be this snapshot's, in ms after `built_at`.
    found_current_ms: AtomicU64,
    /// `"<version>"`, formatted once for every answer.
    etag: HeaderValue,
    json: Bytes,
    gzip: Bytes,
}

impl Built {
    fn new(version: i64, built_at: Instant, json: Bytes, gzip: Bytes) -> Result<Self, InvalidHeaderValue> {
        let etag = HeaderValue::try_from(format!("\"{version}\""))?;
        Ok(Self { version, built_at, found_current_ms: AtomicU64::new(0), etag, json, gzip })
    }

    /// Whether this snapshot may answer a request made at `current` (the event's version).
    fn usable(&self, current: i64, max_age: Duration) -> bool {
        let age = self.built_at.elapsed();
        (self.version >= current && age < MAX_AGE) || age < max_age
    }

    /// Whether it may answer without asking for the version: built, or found current, less than
    /// `max_age` ago (and never past [`MAX_AGE`]).
    fn fresh(&self, max_age: Duration) -> bool {
        let age = self.built_at.elapsed();
        let found = Duration::from_millis(self.found_current_ms.load(Ordering::Relaxed));
        age < max_age || (age < MAX_AGE && age.saturating_sub(found) < max_age)
    }

    /// Notes that `current` was the event's version just now.
    fn found_at(&self, current: i64) {
        if self.version >= current {
            let age = u64::try_from(self.built_at.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.found_current_ms.fetch_max(age, Ordering::Relaxed);
        }
    }
}

/// One rebuild per event at a time in this process: the others wait for it, then find its result.
pub type Flights = tiketi_shared::flights::Flights<EventId>;

/// This process's built seat maps, one per event (the newest built), and the rebuilds in flight.
#[derive(Default)]
pub struct LocalMaps {
    maps: RwLock<HashMap<EventId, Arc<Built>>>,
    flights: Flights,
}

impl LocalMaps {
    fn usable(&self, event: EventId, current: i64, max_age: Duration) -> Option<Arc<Built>> {
        let maps = self.maps.read().unwrap_or_else(PoisonError::into_inner);
        maps.get(&event).filter(|b| b.usable(current, max_age)).cloned()
    }

    fn fresh(&self, event: EventId, max_age: Duration) -> Option<Arc<Built>> {
        let maps = self.maps.read().unwrap_or_else(PoisonError::into_inner);
        maps.get(&event).filter(|b| b.fresh(max_age)).cloned()
    }

    fn put(&self, event: EventId, built: Arc<Built>) {
        let mut maps = self.maps.write().unwrap_or_else(PoisonError::into_inner);
        if maps.get(&event).is_none_or(|old| old.version <= built.version) {
            maps.insert(event, built);
        }
    }
}

/// A snapshot at the current version is trusted this long at most: the bound only matters when a
/// change could not be published (Redis failing just then), so staleness can never outlast it.
const MAX_AGE: Duration = Duration::from_secs(10);
const SHARED_TTL_SECS: u64 = 10;

/// The event's seat map. Served gzipped when the client accepts it; 304 for a current ETag.
#[utoipa::path(get, path = "/api/events/{id}/seats", tag = "events", params(("id" = EventId, Path)),
    responses(
        (status = 200, body = SeatMap, headers(("ETag" = String))),
        (status = 304, description = "unchanged since the `If-None-Match` version"),
        (status = 404, body = Problem),
    ))]
pub async fn seat_map(
    State(state): State<TicketState>,
    Path(id): Path<EventId>,
    // The request itself, for two headers: a `HeaderMap` argument would copy every header.
    request: Request,
) -> ApiResult<Response> {
    answer(&state, id, request.headers()).await
}

/// The seat map's route.
pub const ROUTE: &str = "/api/events/{id}/seats";

/// The event of a seat-map read that needs nothing of the router: `GET`, and an id that is an
/// event id as it stands. Anything else (`HEAD`, an id the router would have to decode or
/// refuse) is not one, and goes to the router.
pub fn plain_read(request: &Request) -> Option<EventId> {
    let id = request.uri().path().strip_prefix("/api/events/")?.strip_suffix("/seats")?;
    (request.method() == axum::http::Method::GET).then(|| id.parse().ok()).flatten()
}

/// Answers a read of event `id`'s seat map, given the request's headers. The handler's work,
/// for the server to call ahead of the router for a [`plain_read`] (the hottest read of an
/// on-sale; routing it cost more than answering it).
pub async fn answer(state: &TicketState, id: EventId, headers: &HeaderMap) -> ApiResult<Response> {
    let max_age = state.settings.seat_map_max_age;
    let built = if !state.settings.seat_map_cache {
        let version = state.publisher.current_version(id, state.clock.now()).await.map_err(ApiError::from)?;
        Arc::new(build(state, id, version).await?)
    } else if let Some(built) = state.seat_maps.fresh(id, max_age) {
        // Served whatever the version: no need to ask Redis for it.
        cache::record("seat_map", true);
        built
    } else {
        let version = state.publisher.current_version(id, state.clock.now()).await.map_err(ApiError::from)?;
        match state.seat_maps.usable(id, version, max_age) {
            Some(built) => {
                built.found_at(version);
                cache::record("seat_map", true);
                built
            }
            None => refresh(state, id, max_age).await?,
        }
    };
    let etag = built.etag.to_str().unwrap_or_default();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, built.etag.clone())]).into_response());
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    // Sized once for these and the ones the layers add (request id, nosniff, HSTS), not grown.
    let mut h = HeaderMap::with_capacity(8);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, built.etag.clone());
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    let mut response = Response::new(Body::from(if gzip { built.gzip.clone() } else { built.json.clone() }));
    *response.headers_mut() = h;
    Ok(response)
}

/// No usable snapshot here: wait for this process's rebuild in flight, or be it — taking another
/// replica's snapshot from Redis if it is usable, else building from PostgreSQL.
async fn refresh(state: &TicketState, id: EventId, max_age: Duration) -> ApiResult<Arc<Built>> {
    state
        .seat_maps
        .flights
        .one_at_a_time(id, || async {
            // The version may have moved while this request waited.
            let version = state.publisher.current_version(id, state.clock.now()).await.map_err(ApiError::from)?;
            if let Some(built) = state.seat_maps.usable(id, version, max_age) {
                cache::record("seat_map", true);
                return Ok(built);
            }
            if let Some(built) = shared_copy(state, id, version, max_age).await {
                cache::record("seat_map", true);
                let built = Arc::new(built);
                state.seat_maps.put(id, built.clone());
                return Ok(built);
            }
            cache::record("seat_map", false);
            metrics::counter!("tiketi_seat_map_builds_total").increment(1);
            let built = Arc::new(build(state, id, version).await?);
            store_shared(state, id, &built).await;
            state.seat_maps.put(id, built.clone());
            Ok(built)
        })
        .await
}

fn unix_millis() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

async fn shared_copy(state: &TicketState, id: EventId, current: i64, max_age: Duration) -> Option<Built> {
    let key = state.publisher.keys(id).seat_map;
    type Fields = (Option<i64>, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);
    let found: redis::RedisResult<Fields> = redis::cmd("HMGET")
        .arg(&key)
        .arg("version")
        .arg("built_ms")
        .arg("json")
        .arg("gzip")
        .query_async(&mut state.redis.conn())
        .await;
    let Ok((Some(version), Some(built_ms), Some(json), Some(gzip))) = found else { return None };
    let age = Duration::from_millis(u64::try_from(unix_millis() - built_ms).unwrap_or(0));
    let built_at = Instant::now().checked_sub(age)?;
    let built = Built::new(version, built_at, json.into(), gzip.into()).ok()?;
    built.usable(current, max_age).then_some(built)
}

/// Stores the map in Redis unless a newer one is there already.
async fn store_shared(state: &TicketState, id: EventId, built: &Built) {
    let keys = state.publisher.keys(id);
    let script = redis::Script::new(
        r"local stored = tonumber(redis.call('HGET', KEYS[1], 'version'))
          if stored and stored > tonumber(ARGV[1]) then return 0 end
          redis.call('HSET', KEYS[1], 'version', ARGV[1], 'built_ms', ARGV[2], 'json', ARGV[3], 'gzip', ARGV[4])
          redis.call('EXPIRE', KEYS[1], ARGV[5])
          return 1",
    );
    let result: redis::RedisResult<i64> = script
        .key(&keys.seat_map)
        .arg(built.version)
        .arg(unix_millis())
        .arg(built.json.as_ref())
        .arg(built.gzip.as_ref())
        .arg(SHARED_TTL_SECS)
        .invoke_async(&mut state.redis.conn())
        .await;
    if let Err(e) = result {
        tracing::debug!(event = %id, error = %e, "storing a seat map failed");
    }
}

async fn build(state: &TicketState, id: EventId, version: i64) -> ApiResult<Built> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ticket.events WHERE id = $1)")
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
    if !exists {
        return Err(ApiError::new(ErrorCode::NotFound).detail("no such event"));
    }
    // An expired hold is shown free: anyone may take it (the sweeper releases it shortly).
    let seats: Vec<SeatMapSeat> = sqlx::query_as(
        "SELECT s.id, es.name AS section, s.row_label AS row, s.number, s.label, s.price,
            CASE WHEN s.status = 'held' AND s.held_until <= $2 THEN 'available' ELSE s.status END AS status
         FROM ticket.seats s JOIN ticket.event_sections es ON es.id = s.section_id
         WHERE s.event_id = $1 ORDER BY es.position, length(s.row_label), s.row_label, s.number",
    )
    .bind(id)
    .bind(state.clock.now())
    .fetch_all(&state.pool)
    .await?;
    // Serializing and compressing a 50,000-seat map takes milliseconds: off the async threads.
    let map = SeatMap { event_id: id, version, seats };
    let (json, gzip) = tokio::task::spawn_blocking(move || encode(&map))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Built::new(version, Instant::now(), json.into(), gzip.into()).map_err(ApiError::internal)
}

/// The map as served: its JSON, and the JSON gzipped (`cargo bench -p tiketi-ticket --bench seatmap`).
pub fn encode(map: &SeatMap) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let json = serde_json::to_vec(map)?;
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 6), Compression::default());
    encoder.write_all(&json)?;
    let gzip = encoder.finish()?;
    Ok((json, gzip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_get_of_an_event_id_as_it_stands_is_a_plain_read() {
        let id = EventId::new();
        let request = |method: &str, path: String| {
            Request::builder().method(method).uri(path).body(Body::empty()).expect("a request")
        };
        assert_eq!(plain_read(&request("GET", format!("/api/events/{id}/seats"))), Some(id));
        assert_eq!(
            plain_read(&request("GET", format!("/api/events/{id}/seats?x=1"))),
            Some(id),
            "the query is not the path"
        );
        for (method, path) in [
            ("HEAD", format!("/api/events/{id}/seats")),
            ("POST", format!("/api/events/{id}/seats")),
            ("GET", format!("/api/events/{id}/seats/")),
            ("GET", format!("/api/events/{id}/x/seats")),
            ("GET", format!("/api/events/%7B{id}%7D/seats")),
            ("GET", "/api/events/not-an-id/seats".to_owned()),
            ("GET", format!("/api/events/{id}")),
        ] {
            assert_eq!(plain_read(&request(method, path.clone())), None, "{method} {path}");
        }
    }
}
