//! `GET /api/events/{id}/seats`: the live seat map, built for a 5,000-seat event to be served
//! thousands of times a second.
//!
//! Every request asks Redis for the event's current version (one small call). A map already built
//! for that version is served from this process's memory, pre-serialized and pre-gzipped; else
//! from Redis (another replica built it); else it is built from PostgreSQL and stored in both. The
//! version is bumped before any seat change is acknowledged, so an entry for the current version
//! is never stale. The ETag is the version: `If-None-Match` answers 304 without a body.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

use axum::extract::State;
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
    built_at: std::time::Instant,
    json: Bytes,
    gzip: Bytes,
}

/// This process's built seat maps, one per event (the newest built).
#[derive(Default)]
pub struct LocalMaps(RwLock<HashMap<EventId, Arc<Built>>>);

impl LocalMaps {
    fn get(&self, event: EventId, version: i64) -> Option<Arc<Built>> {
        let maps = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        maps.get(&event).filter(|b| b.version == version && b.built_at.elapsed() < MAX_AGE).cloned()
    }

    fn put(&self, event: EventId, built: Arc<Built>) {
        let mut maps = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if maps.get(&event).is_none_or(|old| old.version <= built.version) {
            maps.insert(event, built);
        }
    }
}

/// Copies live this long at most. Versions invalidate them first; the bound only matters when a
/// change could not be published (Redis failing just then), so staleness can never outlast it.
const SHARED_TTL_SECS: i64 = 10;
const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

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
    headers: HeaderMap,
) -> ApiResult<Response> {
    let now = state.clock.now();
    let version = state.publisher.current_version(id, now).await.map_err(ApiError::from)?;
    let etag = format!("\"{version}\"");
    let cached = if state.settings.seat_map_cache { state.seat_maps.get(id, version) } else { None };
    let built = match cached {
        Some(built) => {
            cache::record("seat_map", true);
            built
        }
        None => {
            let shared = if state.settings.seat_map_cache { shared_copy(&state, id, version).await } else { None };
            let built = Arc::new(match shared {
                Some(built) => {
                    cache::record("seat_map", true);
                    built
                }
                None => {
                    cache::record("seat_map", false);
                    let built = build(&state, id, version).await?;
                    store_shared(&state, id, &built).await;
                    built
                }
            });
            state.seat_maps.put(id, built.clone());
            built
        }
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    let mut response = if gzip { built.gzip.clone() } else { built.json.clone() }.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(ApiError::internal)?);
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

async fn shared_copy(state: &TicketState, id: EventId, version: i64) -> Option<Built> {
    let key = state.publisher.keys(id).seat_map;
    type Fields = (Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);
    let found: redis::RedisResult<Fields> =
        redis::cmd("HMGET").arg(&key).arg("version").arg("json").arg("gzip").query_async(&mut state.redis.conn()).await;
    match found {
        Ok((Some(v), Some(json), Some(gzip))) if v == version => {
            Some(Built { version, built_at: std::time::Instant::now(), json: json.into(), gzip: gzip.into() })
        }
        _ => None,
    }
}

/// Stores the map in Redis unless the version moved on meanwhile (then it is already outdated).
async fn store_shared(state: &TicketState, id: EventId, built: &Built) {
    let keys = state.publisher.keys(id);
    let script = redis::Script::new(
        r"if tonumber(redis.call('GET', KEYS[1])) ~= tonumber(ARGV[1]) then return 0 end
          redis.call('HSET', KEYS[2], 'version', ARGV[1], 'json', ARGV[2], 'gzip', ARGV[3])
          redis.call('EXPIRE', KEYS[2], ARGV[4])
          return 1",
    );
    let result: redis::RedisResult<i64> = script
        .key(&keys.version)
        .key(&keys.seat_map)
        .arg(built.version)
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
    let json = serde_json::to_vec(&SeatMap { event_id: id, version, seats }).map_err(ApiError::internal)?;
    let gzip = tokio::task::spawn_blocking({
        let json = json.clone();
        move || -> std::io::Result<Vec<u8>> {
            let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 6), Compression::default());
            encoder.write_all(&json)?;
            encoder.finish()
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Built { version, built_at: std::time::Instant::now(), json: json.into(), gzip: gzip.into() })
}
