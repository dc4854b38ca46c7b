//! The public read side of the catalogue: event lists and search, and event detail with
//! per-section availability — both cached in Redis.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tiketi_shared::error::Problem;
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::{ApiError, ApiResult, ErrorCode, FieldError, Money};

use crate::TicketState;
use crate::cache;
use crate::model::{
    EventDetail, EventId, EventListQuery, EventSummary, Page, SectionAvailability, VenueId, VenueRef, WaitingRoom,
};
use crate::status::EventStatus;

const LIST_TTL_SECS: u64 = 10;
const DETAIL_TTL_SECS: u64 = 30;

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: EventId,
    title: String,
    artist: String,
    venue_id: VenueId,
    venue_name: String,
    venue_address: Option<String>,
    starts_at: DateTime<Utc>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
    poster_url: Option<String>,
    status: String,
    min_price: Option<Money>,
    max_price: Option<Money>,
    total: i64,
}

impl SummaryRow {
    fn into_summary(self) -> EventSummary {
        EventSummary {
            id: self.id,
            title: self.title,
            artist: self.artist,
            venue: VenueRef { id: self.venue_id, name: self.venue_name, address: self.venue_address },
            starts_at: self.starts_at,
            sale_opens_at: self.sale_opens_at,
            sale_closes_at: self.sale_closes_at,
            status: parse_status(&self.status),
            min_price: self.min_price.unwrap_or_default(),
            max_price: self.max_price.unwrap_or_default(),
            poster_url: self.poster_url,
        }
    }
}

fn parse_status(s: &str) -> EventStatus {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(EventStatus::Closed)
}

/// Event summaries with their derived status (same rules as [`EventStatus::derive`]).
const SUMMARIES: &str = "
WITH e AS (
  SELECT e.*, v.name AS venue_name, v.address AS venue_address,
    CASE
      WHEN e.cancelled_at IS NOT NULL THEN 'cancelled'
      WHEN $1 < e.sale_opens_at THEN 'scheduled'
      WHEN $1 >= e.sale_closes_at THEN 'closed'
      WHEN EXISTS (SELECT 1 FROM ticket.seats s WHERE s.event_id = e.id AND s.status = 'available')
        -- An expired hold: `held_until` is set exactly while a seat is held.
        OR EXISTS (SELECT 1 FROM ticket.seats s WHERE s.event_id = e.id AND s.held_until <= $1)
        THEN 'on_sale'
      ELSE 'sold_out'
    END AS status
  FROM ticket.events e JOIN ticket.venues v ON v.id = e.venue_id
  WHERE ($2::uuid IS NULL OR e.id = $2) AND ($3::text IS NULL OR e.search_text LIKE $3 ESCAPE '\\')
)
SELECT e.id, e.title, e.artist, e.venue_id, e.venue_name, e.venue_address, e.starts_at, e.sale_opens_at,
  e.sale_closes_at, e.poster_url, e.status,
  (SELECT min(price) FROM ticket.event_sections WHERE event_id = e.id) AS min_price,
  (SELECT max(price) FROM ticket.event_sections WHERE event_id = e.id) AS max_price,
  count(*) OVER () AS total
FROM e WHERE ($4::text IS NULL OR e.status = $4)
ORDER BY e.starts_at, e.id LIMIT $5 OFFSET $6";

/// List and search events.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventListQuery),
    responses((status = 200, body = Page<EventSummary>), (status = 422, body = Problem)))]
pub async fn list_events(State(state): State<TicketState>, Query(query): Query<EventListQuery>) -> ApiResult<Response> {
    let (page, limit) = crate::model::PageQuery { page: query.page, limit: query.limit }.resolve()?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::validation(vec![FieldError {
            field: "q".into(),
            message: "at most 100 characters".into(),
        }]));
    }
    let generation = state.catalogue_generation().await;
    let status = query.status.map(EventStatus::as_str);
    let key = state.redis.key(format_args!(
        "events:list:{generation}:{}:{}:{page}:{limit}",
        status.unwrap_or(""),
        q.unwrap_or("")
    ));
    if let Some(body) = cache::get(&state.redis, "event_list", &key).await {
        return Ok(json_bytes(body));
    }
    let pattern =
        q.map(|q| format!("%{}%", q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let rows: Vec<SummaryRow> = sqlx::query_as(SUMMARIES)
        .bind(state.clock.now())
        .bind(None::<EventId>)
        .bind(pattern)
        .bind(status)
        .bind(i64::from(limit))
        .bind(i64::from((page - 1) * limit))
        .fetch_all(&state.pool)
        .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let body = Page { items: rows.into_iter().map(SummaryRow::into_summary).collect(), page, limit, total };
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    cache::put(&state.redis, &key, &bytes, LIST_TTL_SECS).await;
    Ok(json_bytes(bytes.into()))
}

pub(crate) fn json_bytes(body: bytes::Bytes) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// One event with per-section availability and its waiting-room settings.
#[utoipa::path(get, path = "/api/events/{id}", tag = "events", params(("id" = EventId, Path)),
    responses((status = 200, body = EventDetail), (status = 404, body = Problem)))]
pub async fn get_event(State(state): State<TicketState>, Path(id): Path<EventId>) -> ApiResult<Response> {
    let key = state.publisher.keys(id).detail;
    if let Some(body) = cache::get(&state.redis, "event_detail", &key).await {
        return Ok(json_bytes(body));
    }
    // During a sale the cached detail expires about once per availability max age: one request
    // per process rebuilds it, the others wait and read what it stored.
    let body = state
        .detail_flights
        .one_at_a_time(id, || async {
            if let Some(body) = cache::peek(&state.redis, &key).await {
                return Ok(body);
            }
            let detail = load_detail(&state, id).await?;
            let bytes = serde_json::to_vec(&detail).map_err(ApiError::internal)?;
            cache::put(&state.redis, &key, &bytes, DETAIL_TTL_SECS).await;
            Ok::<_, ApiError>(bytes::Bytes::from(bytes))
        })
        .await?;
    Ok(json_bytes(body))
}

#[derive(sqlx::FromRow)]
struct DetailExtra {
    description: Option<String>,
    max_seats_per_order: i32,
    waiting_room_enabled: bool,
    max_active: i32,
    admit_per_minute: i32,
}

pub(crate) async fn load_detail(state: &TicketState, id: EventId) -> ApiResult<EventDetail> {
    let now = state.clock.now();
    let row: Option<SummaryRow> = sqlx::query_as(SUMMARIES)
        .bind(now)
        .bind(id)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(1_i64)
        .bind(0_i64)
        .fetch_optional(&state.pool)
        .await?;
    let summary = row.ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no such event"))?.into_summary();
    let extra: DetailExtra = sqlx::query_as(
        "SELECT description, max_seats_per_order, waiting_room_enabled, max_active, admit_per_minute
         FROM ticket.events WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?;
    let sections: Vec<SectionAvailability> = sqlx::query_as(
        "SELECT es.id, es.name, es.price, es.seat_count,
            (SELECT count(*) FROM ticket.seats s WHERE s.event_id = $1 AND s.section_id = es.id
               AND (s.status = 'available' OR (s.status = 'held' AND s.held_until <= $2))) AS available
         FROM ticket.event_sections es WHERE es.event_id = $1 ORDER BY es.position",
    )
    .bind(id)
    .bind(now)
    .fetch_all(&state.pool)
    .await?;
    Ok(EventDetail {
        summary,
        description: extra.description,
        sections,
        waiting_room: WaitingRoom {
            enabled: extra.waiting_room_enabled,
            max_active: extra.max_active,
            admit_per_minute: extra.admit_per_minute,
        },
        max_seats_per_order: extra.max_seats_per_order,
    })
}
