//! The admin analytics endpoints. Every figure is read from the projections at request time with
//! indexed queries over one event's (or one period's) rows; only the 50,000-row heatmap is kept
//! for a moment, gzipped, so a wall of dashboards refreshing every few seconds costs one query
//! per event and interval.
//!
//! Money is integer KRW. "Today" and day buckets are Korea's days (UTC+9, no daylight saving):
//! that is the business day finance settles.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use tiketi_shared::error::Problem;
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::flights::Flights;
use tiketi_shared::ids::EventId;
use tiketi_shared::token::AdminUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, FieldError, Json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::StatsState;
use crate::project::{self, Replay};

/// Korea Standard Time: the business day.
pub const KST: &str = "Asia/Seoul";

fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!("+09:00 is a valid offset"))
}

/// The start of the Korean day that contains `at`.
pub fn kst_day_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&kst()).date_naive().and_time(NaiveTime::MIN);
    local.and_local_timezone(kst()).single().map_or(at, |d| d.with_timezone(&Utc))
}

#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Sales {
    pub tickets: i64,
    pub gross: i64,
    pub refunds: i64,
    pub net: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MethodTotal {
    /// Toss's method name (`카드`, `가상계좌`, `간편결제`…), or null when Toss named none.
    pub method: Option<String>,
    pub count: i64,
    pub amount: i64,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct EventTotal {
    pub event_id: Uuid,
    pub title: String,
    pub tickets_sold: i64,
    pub seats_total: i64,
    /// Captured.
    pub gross: i64,
    pub refunds: i64,
    pub cancelled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// Today (Korea's day) so far.
    pub sales_today: Sales,
    /// Buyers waiting in every open waiting room.
    pub waiting: i64,
    /// Buyers admitted and shopping now.
    pub admitted: i64,
    /// Holds not yet paid, cancelled or expired.
    pub holds_active: i64,
    /// Cache hits over reads in the last five minutes, every ticket replica together; null
    /// without reads.
    pub cache_hit_rate: Option<f64>,
    /// Today's captured payments.
    pub payments_by_method: Vec<MethodTotal>,
    /// Events by sale opening, newest first (at most 50).
    pub events: Vec<EventTotal>,
    pub as_of: DateTime<Utc>,
}

/// The overview answered within the last moment (it is the same for every admin), and its build
/// in flight.
#[derive(Default)]
pub struct OverviewCache(Mutex<Option<(Instant, Bytes)>>, Flights<()>);

impl OverviewCache {
    fn fresh(&self, reuse: std::time::Duration) -> Option<Bytes> {
        let made = self.0.lock().ok()?;
        made.as_ref().filter(|(at, _)| at.elapsed() < reuse).map(|(_, body)| body.clone())
    }
}

/// Live overview for the operators' dashboard (reused for `TIKETI_STATS_REUSE_MS`).
#[utoipa::path(get, path = "/api/admin/stats/overview", tag = "stats", security(("bearer" = [])),
    responses((status = 200, body = Overview), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn overview(State(state): State<StatsState>, _admin: AdminUser) -> ApiResult<Response> {
    let cache = &state.overview;
    let body = match cache.fresh(state.settings.reuse) {
        Some(body) => body,
        // Requests arriving together wait for one build and share it.
        None => {
            cache
                .1
                .one_at_a_time((), || async {
                    if let Some(body) = cache.fresh(state.settings.reuse) {
                        return Ok(body);
                    }
                    let built = build_overview(&state).await?;
                    let body = Bytes::from(serde_json::to_vec(&built).map_err(ApiError::internal)?);
                    if let Ok(mut made) = cache.0.lock() {
                        *made = Some((Instant::now(), body.clone()));
                    }
                    Ok::<_, ApiError>(body)
                })
                .await?
        }
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// The overview in three round trips: the figures, payments by method, events.
async fn build_overview(state: &StatsState) -> ApiResult<Overview> {
    let now = state.clock.now();
    let day = kst_day_start(now);
    let sql = format!(
        "{SALES}
         SELECT
           (SELECT coalesce(sum(tickets), 0)::bigint FROM sold), (SELECT coalesce(sum(gross), 0)::bigint FROM sold),
           (SELECT coalesce(sum(refunds), 0)::bigint FROM back),
           (SELECT coalesce(sum(waiting), 0)::bigint FROM stats.waiting_rooms w
              WHERE counted_at > $2 - interval '90 seconds'
                AND NOT EXISTS (SELECT 1 FROM stats.events e WHERE e.id = w.event_id AND e.cancelled_at IS NOT NULL)),
           (SELECT coalesce(sum(active), 0)::bigint FROM stats.waiting_rooms w
              WHERE counted_at > $2 - interval '90 seconds'
                AND NOT EXISTS (SELECT 1 FROM stats.events e WHERE e.id = w.event_id AND e.cancelled_at IS NOT NULL)),
           (SELECT count(*) FROM stats.reservations WHERE status = 'pending' AND expires_at > $2)"
    );
    let figures = sqlx::query_as::<_, (i64, i64, i64, i64, i64, i64)>(&sql)
        .bind(day)
        // Inclusive of this instant.
        .bind(now + Duration::microseconds(1))
        .bind("hour")
        .bind(None::<EventId>)
        .fetch_one(&state.pool);
    let methods = sqlx::query_as::<_, (Option<String>, i64, i64)>(
        "SELECT method, count(*), sum(amount)::bigint FROM stats.orders
         WHERE approved_at >= $1 AND approved_at <= $2 GROUP BY method ORDER BY 3 DESC, 1",
    )
    .bind(day)
    .bind(now)
    .fetch_all(&state.pool);
    let events = sqlx::query_as::<_, EventTotal>(
        "SELECT e.id AS event_id, e.title,
           (SELECT count(*) FROM stats.seats s WHERE s.event_id = e.id AND s.sold_at IS NOT NULL) AS tickets_sold,
           (SELECT coalesce(sum(seat_count), 0)::bigint FROM stats.sections c WHERE c.event_id = e.id) AS seats_total,
           (SELECT coalesce(sum(amount), 0)::bigint FROM stats.orders o
              WHERE o.event_id = e.id AND o.approved_at IS NOT NULL) AS gross,
           (SELECT coalesce(sum(amount), 0)::bigint FROM stats.refunds f WHERE f.event_id = e.id) AS refunds,
           e.cancelled_at IS NOT NULL AS cancelled
         FROM stats.events e ORDER BY e.sale_opens_at DESC NULLS LAST, e.id LIMIT 50",
    )
    .fetch_all(&state.pool);
    let cache = tiketi_shared::cache_stats::recent(&state.redis, now, 5);
    let (figures, methods, events, cache) = tokio::join!(figures, methods, events, cache);
    let (tickets, gross, refunds, waiting, admitted, holds_active) = figures?;
    let cache_hit_rate = match cache {
        #[allow(clippy::cast_precision_loss)]
        Ok((hits, misses)) if hits + misses > 0 => Some(hits as f64 / (hits + misses) as f64),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "reading cache counts failed");
            None
        }
    };
    Ok(Overview {
        sales_today: Sales { tickets, gross, refunds, net: gross - refunds },
        waiting,
        admitted,
        holds_active,
        cache_hit_rate,
        payments_by_method: methods?
            .into_iter()
            .map(|(method, count, amount)| MethodTotal { method, count, amount })
            .collect(),
        events: events?,
        as_of: now,
    })
}

/// Captured payments (and the tickets of the reservations they paid for) and refunds, per
/// bucket (`$3`: `hour` or `day`, Korea time) of `[$1, $2)`, optionally of one event (`$4`).
const SALES: &str = "
WITH sold AS (
  SELECT date_trunc($3, o.approved_at, 'Asia/Seoul') AS b,
         coalesce(sum(cardinality(r.seat_ids)) FILTER (WHERE r.confirmed_at IS NOT NULL), 0)::bigint AS tickets,
         sum(o.amount)::bigint AS gross
  FROM stats.orders o LEFT JOIN stats.reservations r ON r.id = o.reservation_id
  WHERE o.approved_at >= $1 AND o.approved_at < $2 AND ($4::uuid IS NULL OR o.event_id = $4)
  GROUP BY 1),
back AS (
  SELECT date_trunc($3, refunded_at, 'Asia/Seoul') AS b, sum(amount)::bigint AS refunds
  FROM stats.refunds
  WHERE refunded_at >= $1 AND refunded_at < $2 AND ($4::uuid IS NULL OR event_id = $4)
  GROUP BY 1)";

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    /// The most buckets one answer holds.
    fn most(self) -> i64 {
        match self {
            Bucket::Hour => 24 * 93,
            Bucket::Day => 3 * 366,
        }
    }

    fn length(self) -> Duration {
        match self {
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    /// One event; all events when absent.
    pub event_id: Option<EventId>,
    /// `hour` (default) or `day` (Korea's days).
    pub bucket: Option<Bucket>,
    /// RFC 3339; default: 24 hours (hour buckets) or 30 days (day buckets) before `to`.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; default: now.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct SalesBucket {
    pub bucket_start: DateTime<Utc>,
    pub tickets: i64,
    pub gross: i64,
    pub refunds: i64,
    pub net: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SalesSeries {
    pub bucket: Bucket,
    /// Buckets are Korea's hours and days.
    pub time_zone: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every bucket of the range, empty ones included, oldest first.
    pub items: Vec<SalesBucket>,
}

fn range_error(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError { field: field.into(), message: message.into() }])
}

/// Sales per hour or per day: tickets of the reservations paid for, money captured (gross),
/// refunded, and net, by when each happened.
#[utoipa::path(get, path = "/api/admin/stats/sales", tag = "stats", security(("bearer" = [])), params(SalesQuery),
    responses((status = 200, body = SalesSeries), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn sales(
    State(state): State<StatsState>,
    _admin: AdminUser,
    Query(query): Query<SalesQuery>,
) -> ApiResult<Json<SalesSeries>> {
    let bucket = query.bucket.unwrap_or(Bucket::Hour);
    let to = query.to.unwrap_or_else(|| state.clock.now());
    let from = query.from.unwrap_or_else(|| match bucket {
        Bucket::Hour => to - Duration::hours(24),
        Bucket::Day => to - Duration::days(30),
    });
    if from >= to {
        return Err(range_error("from", "must be before `to`"));
    }
    if (to - from).num_seconds() > bucket.most() * bucket.length().num_seconds() {
        return Err(range_error("to", &format!("at most {} {}s in one answer", bucket.most(), bucket.as_str())));
    }
    let rows: Vec<(DateTime<Utc>, i64, i64, i64)> = sqlx::query_as(&format!(
        "{SALES},
         buckets AS (
           SELECT generate_series(date_trunc($3, $1::timestamptz, 'Asia/Seoul'), $2::timestamptz - interval '1 microsecond',
                                  ('1 ' || $3)::interval) AS b)
         SELECT b, coalesce(sold.tickets, 0), coalesce(sold.gross, 0), coalesce(back.refunds, 0)
         FROM buckets LEFT JOIN sold USING (b) LEFT JOIN back USING (b) ORDER BY b"
    ))
    .bind(from)
    .bind(to)
    .bind(bucket.as_str())
    .bind(query.event_id)
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|(bucket_start, tickets, gross, refunds)| SalesBucket {
            bucket_start,
            tickets,
            gross,
            refunds,
            net: gross - refunds,
        })
        .collect();
    Ok(Json(SalesSeries { bucket, time_zone: KST, from, to, items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    pub event_id: Option<EventId>,
}

#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct FunnelStep {
    /// `joined, admitted, held, checkout, paid`, then `expired, cancelled, refunded,
    /// partially_refunded`.
    pub step: &'static str,
    pub count: i64,
    /// The step this one is a share of (the previous step; `held` for expired and cancelled,
    /// `paid` for refunds); null for the first.
    pub of: Option<&'static str>,
    /// `count` over the count of `of`; null when that is 0.
    pub ratio: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    pub event_id: EventId,
    /// Whether `joined` and `admitted` are the waiting room's counts; without a waiting room
    /// every buyer is admitted at once and both count the buyers who held seats.
    pub waiting_room: bool,
    pub steps: Vec<FunnelStep>,
}

/// The buyer funnel of one event: buyers who joined the waiting room and were admitted, then
/// reservations held, checked out, paid, and those that expired, were cancelled or refunded.
#[utoipa::path(get, path = "/api/admin/stats/funnel", tag = "stats", security(("bearer" = [])), params(FunnelQuery),
    responses((status = 200, body = Funnel), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn funnel(
    State(state): State<StatsState>,
    _admin: AdminUser,
    Query(query): Query<FunnelQuery>,
) -> ApiResult<Json<Funnel>> {
    let event = query.event_id.ok_or_else(|| range_error("event_id", "required"))?;
    known_event(&state, event).await?;
    let room: Option<(i64, i64)> =
        sqlx::query_as("SELECT joined, admitted FROM stats.waiting_rooms WHERE event_id = $1")
            .bind(event)
            .fetch_optional(&state.pool)
            .await?;
    let (held, buyers, paid, expired, cancelled, refunded): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT user_id), count(*) FILTER (WHERE confirmed_at IS NOT NULL),
           count(*) FILTER (WHERE status = 'expired'), count(*) FILTER (WHERE status = 'cancelled'),
           count(*) FILTER (WHERE status = 'refunded')
         FROM stats.reservations WHERE event_id = $1",
    )
    .bind(event)
    .fetch_one(&state.pool)
    .await?;
    let (checkout, partially_refunded): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT reservation_id), count(*) FILTER (WHERE status = 'partially_refunded')
         FROM stats.orders WHERE event_id = $1",
    )
    .bind(event)
    .fetch_one(&state.pool)
    .await?;
    let (joined, admitted) = room.unwrap_or((buyers, buyers));
    let counts = [
        ("joined", joined, None),
        ("admitted", admitted, Some("joined")),
        ("held", held, Some("admitted")),
        ("checkout", checkout, Some("held")),
        ("paid", paid, Some("checkout")),
        ("expired", expired, Some("held")),
        ("cancelled", cancelled, Some("held")),
        ("refunded", refunded, Some("paid")),
        ("partially_refunded", partially_refunded, Some("paid")),
    ];
    let count_of = |name: &str| counts.iter().find(|(step, _, _)| *step == name).map_or(0, |(_, n, _)| *n);
    let steps = counts
        .iter()
        .map(|&(step, count, of)| FunnelStep {
            step,
            count,
            of,
            #[allow(clippy::cast_precision_loss)]
            ratio: of.map(count_of).filter(|base| *base > 0).map(|base| count as f64 / base as f64),
        })
        .collect();
    Ok(Json(Funnel { event_id: event, waiting_room: room.is_some(), steps }))
}

async fn known_event(state: &StatsState, event: EventId) -> ApiResult<()> {
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stats.events WHERE id = $1)")
        .bind(event)
        .fetch_one(&state.pool)
        .await?;
    if known { Ok(()) } else { Err(ApiError::new(ErrorCode::NotFound).detail("no statistics for this event")) }
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct HeatSeat {
    pub id: Uuid,
    pub label: String,
    /// The section's name.
    pub section: String,
    /// Times the seat was held (every reservation naming it).
    pub holds: i32,
    /// Holds of it that expired unpaid.
    pub expired_holds: i32,
    pub sold: bool,
    /// From the sale opening to the confirmation of the reservation that owns it; null unless sold.
    pub seconds_to_sell: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Heatmap {
    pub event_id: EventId,
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Every seat, in catalogue order (section, row, number).
    pub seats: Vec<HeatSeat>,
    pub as_of: DateTime<Utc>,
}

/// Recent heatmap answers: (made, JSON, gzipped JSON) per event, and the builds in flight.
#[derive(Default)]
pub struct HeatmapCache(Mutex<HashMap<EventId, (Instant, Bytes, Bytes)>>, Flights<EventId>);

impl HeatmapCache {
    fn fresh(&self, event: EventId, reuse: std::time::Duration) -> Option<(Bytes, Bytes)> {
        let made = self.0.lock().ok()?;
        made.get(&event).filter(|(at, _, _)| at.elapsed() < reuse).map(|(_, json, gz)| (json.clone(), gz.clone()))
    }
}

/// The seat heatmap of one event: every seat with its holds, expired holds, and time to sell.
/// Gzipped when the client accepts it (a 50,000-seat answer is ~0.5 MB that way).
#[utoipa::path(get, path = "/api/admin/stats/events/{id}/heatmap", tag = "stats", security(("bearer" = [])),
    params(("id" = EventId, Path)),
    responses((status = 200, body = Heatmap), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn heatmap(
    State(state): State<StatsState>,
    _admin: AdminUser,
    Path(event): Path<EventId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let cache = &state.heatmaps;
    let reuse = state.settings.reuse;
    let (json, gzipped) = match cache.fresh(event, reuse) {
        Some(answer) => answer,
        None => {
            cache
                .1
                .one_at_a_time(event, || async {
                    if let Some(answer) = cache.fresh(event, reuse) {
                        return Ok(answer);
                    }
                    let (json, gzipped) = build_heatmap(&state, event).await?;
                    if let Ok(mut made) = cache.0.lock() {
                        made.retain(|_, (at, _, _)| at.elapsed() < reuse);
                        made.insert(event, (Instant::now(), json.clone(), gzipped.clone()));
                    }
                    Ok::<_, ApiError>((json, gzipped))
                })
                .await?
        }
    };
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut response = if gzip_ok { gzipped.into_response() } else { json.into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if gzip_ok {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

async fn build_heatmap(state: &StatsState, event: EventId) -> ApiResult<(Bytes, Bytes)> {
    heatmap_bytes(&state.pool, event, state.clock.now()).await
}

/// One event's heatmap as JSON and gzipped JSON.
pub async fn heatmap_bytes(pool: &sqlx::PgPool, event: EventId, now: DateTime<Utc>) -> ApiResult<(Bytes, Bytes)> {
    let opens: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT sale_opens_at FROM stats.events WHERE id = $1")
            .bind(event)
            .fetch_optional(pool)
            .await?;
    let sale_opens_at =
        opens.ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no statistics for this event"))?;
    let seats: Vec<HeatSeat> = sqlx::query_as(
        "SELECT s.id, s.label, coalesce(c.name, '') AS section, s.holds, s.expired_holds, s.sold_at IS NOT NULL AS sold,
           extract(epoch FROM s.sold_at - $2)::float8 AS seconds_to_sell
         FROM stats.seats s LEFT JOIN stats.sections c ON c.id = s.section_id
         WHERE s.event_id = $1 AND s.label IS NOT NULL ORDER BY s.position",
    )
    .bind(event)
    .bind(sale_opens_at)
    .fetch_all(pool)
    .await?;
    let answer = Heatmap { event_id: event, sale_opens_at, seats, as_of: now };
    let json = serde_json::to_vec(&answer).map_err(ApiError::internal)?;
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::fast());
    encoder.write_all(&json).map_err(ApiError::internal)?;
    let gzipped = encoder.finish().map_err(ApiError::internal)?;
    Ok((Bytes::from(json), Bytes::from(gzipped)))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SectionSales {
    pub id: Uuid,
    pub name: String,
    pub price: i64,
    pub seats: i64,
    pub sold: i64,
    /// `sold / seats`.
    pub sell_through: f64,
    /// `sold × price`.
    pub revenue: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SellThrough {
    pub event_id: EventId,
    pub sections: Vec<SectionSales>,
}

/// Sell-through per section of one event.
#[utoipa::path(get, path = "/api/admin/stats/events/{id}/sections", tag = "stats", security(("bearer" = [])),
    params(("id" = EventId, Path)),
    responses((status = 200, body = SellThrough), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn sections(
    State(state): State<StatsState>,
    _admin: AdminUser,
    Path(event): Path<EventId>,
) -> ApiResult<Json<SellThrough>> {
    known_event(&state, event).await?;
    let sections: Vec<SectionSales> = sqlx::query_as(
        "SELECT c.id, c.name, c.price, c.seat_count AS seats, coalesce(s.sold, 0) AS sold,
           coalesce(s.sold, 0)::float8 / greatest(c.seat_count, 1) AS sell_through,
           coalesce(s.sold, 0) * c.price AS revenue
         FROM stats.sections c
         LEFT JOIN (SELECT section_id, count(*) AS sold FROM stats.seats
                    WHERE event_id = $1 AND sold_at IS NOT NULL GROUP BY section_id) s ON s.section_id = c.id
         WHERE c.event_id = $1 ORDER BY c.position",
    )
    .bind(event)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(SellThrough { event_id: event, sections }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rebuilt {
    /// Events replayed from the log.
    pub replayed: u64,
    pub took_ms: u64,
}

/// Rebuilds every projection from the recorded events (new events wait until it is done).
#[utoipa::path(post, path = "/api/admin/stats/rebuild", tag = "stats", security(("bearer" = [])),
    responses((status = 200, body = Rebuilt), (status = 403, body = Problem)))]
pub async fn rebuild(State(state): State<StatsState>, AdminUser(admin): AdminUser) -> ApiResult<Json<Rebuilt>> {
    let started = Instant::now();
    let replayed = project::rebuild(&state.pool, Replay::Recorded).await.map_err(ApiError::internal)?;
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(admin = %admin.sub, replayed, took_ms, "stats projections rebuilt");
    state.heatmaps.0.lock().map(|mut made| made.clear()).ok();
    state.overview.0.lock().map(|mut made| made.take()).ok();
    Ok(Json(Rebuilt { replayed, took_ms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_business_day_is_korea_s() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap_or_default().with_timezone(&Utc);
        // 23:30 UTC is 08:30 the next day in Seoul.
        assert_eq!(kst_day_start(at("2026-12-01T23:30:00Z")), at("2026-12-01T15:00:00Z"));
        assert_eq!(kst_day_start(at("2026-12-01T14:59:59Z")), at("2026-11-30T15:00:00Z"));
        assert_eq!(kst_day_start(at("2026-12-01T15:00:00Z")), at("2026-12-01T15:00:00Z"));
    }
}
