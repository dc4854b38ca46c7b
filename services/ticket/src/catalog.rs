//! The admin side of the catalogue: venues, and events with their seats generated in bulk.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tiketi_shared::error::Problem;
use tiketi_shared::events::{
    DomainEvent, EventChanged, EventCreated, EventSeats, SEATS_PER_PART, SeatFacts, SectionFacts,
};
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::token::AdminUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, FieldError, Json, Money};

use crate::TicketState;
use crate::browse::load_detail;
use crate::model::{
    EventDetail, EventFields, EventId, EventInput, EventPatch, Page, PageQuery, SeatId, SectionId, Venue, VenueId,
    VenueInput, VenueSection, row_label,
};
use crate::publish::outbox;

/// Create a venue with its seat layout.
#[utoipa::path(post, path = "/api/admin/venues", tag = "admin", security(("bearer" = [])), request_body = VenueInput,
    responses((status = 201, body = Venue), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_venue(
    State(state): State<TicketState>,
    _admin: AdminUser,
    Json(input): Json<VenueInput>,
) -> ApiResult<(StatusCode, Json<Venue>)> {
    let seat_count = input.validate()?;
    let mut tx = state.pool.begin().await?;
    let venue = insert_venue(&mut tx, &input, seat_count, None, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(venue)))
}

#[derive(sqlx::FromRow)]
struct VenueRow {
    id: VenueId,
    name: String,
    address: Option<String>,
    seat_count: i32,
    total: i64,
}

#[derive(sqlx::FromRow)]
struct VenueSectionRow {
    venue_id: VenueId,
    id: uuid::Uuid,
    name: String,
    rows: i32,
    seats_per_row: i32,
    price: Money,
}

/// Venues with their sections, newest first (operators pick one when creating an event).
#[utoipa::path(get, path = "/api/admin/venues", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Venue>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_venues(
    State(state): State<TicketState>,
    _admin: AdminUser,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Venue>>> {
    let (page, limit) = query.resolve()?;
    let rows: Vec<VenueRow> = sqlx::query_as(
        "SELECT id, name, address, seat_count, count(*) OVER () AS total FROM ticket.venues
         ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2",
    )
    .bind(i64::from(limit))
    // In i64: a huge `page` times `limit` would overflow u32.
    .bind(i64::from(page - 1) * i64::from(limit))
    .fetch_all(&state.pool)
    .await?;
    // A page past the end has no rows to carry the window count: count on its own then.
    let total = match rows.first() {
        Some(row) => row.total,
        None => sqlx::query_scalar("SELECT count(*) FROM ticket.venues").fetch_one(&state.pool).await?,
    };
    let ids: Vec<VenueId> = rows.iter().map(|r| r.id).collect();
    let sections: Vec<VenueSectionRow> = sqlx::query_as(
        "SELECT venue_id, id, name, rows, seats_per_row, price FROM ticket.venue_sections
         WHERE venue_id = ANY($1) ORDER BY venue_id, position",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|v| Venue {
            sections: sections
                .iter()
                .filter(|s| s.venue_id == v.id)
                .map(|s| VenueSection {
                    id: s.id,
                    name: s.name.clone(),
                    rows: s.rows,
                    seats_per_row: s.seats_per_row,
                    price: s.price,
                    seat_count: i64::from(s.rows) * i64::from(s.seats_per_row),
                })
                .collect(),
            id: v.id,
            name: v.name,
            address: v.address,
            seat_count: v.seat_count,
        })
        .collect();
    Ok(Json(Page { items, page, limit, total }))
}

pub(crate) async fn insert_venue(
    tx: &mut PgConnection,
    input: &VenueInput,
    seat_count: u64,
    seed_key: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<Venue> {
    let id = VenueId::new();
    sqlx::query("INSERT INTO ticket.venues (id, name, address, seat_count, seed_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(input.name.trim())
        .bind(input.address.as_deref().map(str::trim))
        .bind(i32::try_from(seat_count).map_err(ApiError::internal)?)
        .bind(seed_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut sections = Vec::new();
    for (position, s) in input.sections.iter().enumerate() {
        let section = VenueSection {
            id: uuid::Uuid::now_v7(),
            name: s.name.trim().to_owned(),
            rows: i32::try_from(s.rows).map_err(ApiError::internal)?,
            seats_per_row: i32::try_from(s.seats_per_row).map_err(ApiError::internal)?,
            price: s.price,
            seat_count: i64::from(s.rows) * i64::from(s.seats_per_row),
        };
        sqlx::query(
            "INSERT INTO ticket.venue_sections (id, venue_id, position, name, rows, seats_per_row, price)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(section.id)
        .bind(id)
        .bind(i32::try_from(position).map_err(ApiError::internal)?)
        .bind(&section.name)
        .bind(section.rows)
        .bind(section.seats_per_row)
        .bind(section.price)
        .execute(&mut *tx)
        .await?;
        sections.push(section);
    }
    Ok(Venue {
        id,
        name: input.name.trim().to_owned(),
        address: input.address.clone(),
        seat_count: i32::try_from(seat_count).unwrap_or(i32::MAX),
        sections,
    })
}

/// Create an event; its seats are generated from the venue's layout.
#[utoipa::path(post, path = "/api/admin/events", tag = "admin", security(("bearer" = [])), request_body = EventInput,
    responses((status = 201, body = EventDetail), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_event(
    State(state): State<TicketState>,
    _admin: AdminUser,
    Json(input): Json<EventInput>,
) -> ApiResult<Response> {
    let fields = EventFields::from(&input);
    fields.validate()?;
    let mut tx = state.pool.begin().await?;
    let id = insert_event(&mut tx, input.venue_id, &fields, None, state.clock.now()).await?;
    tx.commit().await?;
    refresh_seat_statistics(&state.pool).await;
    state.bump_catalogue().await;
    let detail = load_detail(&state, id).await?;
    Ok((StatusCode::CREATED, Json(detail)).into_response())
}

pub(crate) async fn insert_event(
    tx: &mut PgConnection,
    venue_id: VenueId,
    f: &EventFields,
    seed_key: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<EventId> {
    let venue_name: Option<String> = sqlx::query_scalar("SELECT name FROM ticket.venues WHERE id = $1")
        .bind(venue_id)
        .fetch_optional(&mut *tx)
        .await?;
    let venue_name = venue_name.ok_or_else(|| {
        ApiError::validation(vec![FieldError { field: "venue_id".into(), message: "no such venue".into() }])
    })?;
    let id = EventId::new();
    let search = format!("{} {} {}", f.title, f.artist, venue_name).to_lowercase();
    sqlx::query(
        "INSERT INTO ticket.events (id, venue_id, title, artist, description, poster_url, starts_at, sale_opens_at,
            sale_closes_at, max_seats_per_order, waiting_room_enabled, max_active, admit_per_minute, search_text,
            seed_key, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
    )
    .bind(id)
    .bind(venue_id)
    .bind(&f.title)
    .bind(&f.artist)
    .bind(&f.description)
    .bind(&f.poster_url)
    .bind(f.starts_at)
    .bind(f.sale_opens_at)
    .bind(f.sale_closes_at)
    .bind(f.max_seats_per_order)
    .bind(f.waiting_room.enabled)
    .bind(f.waiting_room.max_active)
    .bind(f.waiting_room.admit_per_minute)
    .bind(search)
    .bind(seed_key)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (sections, seats) = generate_seats(tx, id, venue_id).await?;
    // The catalogue as analytics need it: the event, then its seats in parts (one message each).
    let parts = seats.len().div_ceil(SEATS_PER_PART);
    let parts = u32::try_from(parts).map_err(ApiError::internal)?;
    let created = EventCreated {
        event_id: id,
        venue_id: venue_id.0,
        title: f.title.clone(),
        sale_opens_at: Some(f.sale_opens_at),
        sections,
        seat_parts: parts,
    };
    outbox(tx, DomainEvent::EventCreated(created), 1, now).await?;
    for (part, seats) in (1..).zip(seats.chunks(SEATS_PER_PART)) {
        let seats = EventSeats { event_id: id, part, parts, seats: seats.to_vec() };
        outbox(tx, DomainEvent::EventSeats(seats), 1, now).await?;
    }
    Ok(id)
}

#[derive(sqlx::FromRow)]
struct LayoutRow {
    name: String,
    rows: i32,
    seats_per_row: i32,
    price: Money,
}

/// Copies the venue's sections to the event and inserts every seat in one statement per table:
/// a 50,000-seat event is two round trips, not 50,000. Answers what was made.
async fn generate_seats(
    tx: &mut PgConnection,
    event: EventId,
    venue: VenueId,
) -> ApiResult<(Vec<SectionFacts>, Vec<SeatFacts>)> {
    let layout: Vec<LayoutRow> = sqlx::query_as(
        "SELECT name, rows, seats_per_row, price FROM ticket.venue_sections WHERE venue_id = $1 ORDER BY position",
    )
    .bind(venue)
    .fetch_all(&mut *tx)
    .await?;
    let (mut ids, mut sections, mut rows, mut numbers, mut labels, mut prices) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut made = Vec::with_capacity(layout.len());
    for (position, section) in layout.iter().enumerate() {
        let section_id = SectionId::new();
        made.push(SectionFacts {
            id: section_id.0,
            name: section.name.clone(),
            price: section.price.as_won(),
            seat_count: i64::from(section.rows) * i64::from(section.seats_per_row),
        });
        sqlx::query(
            "INSERT INTO ticket.event_sections (id, event_id, position, name, price, seat_count) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(section_id)
        .bind(event)
        .bind(i32::try_from(position).map_err(ApiError::internal)?)
        .bind(&section.name)
        .bind(section.price)
        .bind(section.rows * section.seats_per_row)
        .execute(&mut *tx)
        .await?;
        for r in 0..u32::try_from(section.rows).map_err(ApiError::internal)? {
            let row = row_label(r);
            for n in 1..=section.seats_per_row {
                ids.push(SeatId::new().0);
                sections.push(section_id.0);
                labels.push(format!("{} {row}-{n}", section.name));
                rows.push(row.clone());
                numbers.push(n);
                prices.push(section.price.as_won());
            }
        }
    }
    sqlx::query(
        "INSERT INTO ticket.seats (id, event_id, section_id, row_label, number, label, price)
         SELECT id, $1, section_id, row_label, number, label, price
         FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::bigint[])
              AS s(id, section_id, row_label, number, label, price)",
    )
    .bind(event)
    .bind(&ids)
    .bind(&sections)
    .bind(rows)
    .bind(numbers)
    .bind(&labels)
    .bind(prices)
    .execute(&mut *tx)
    .await?;
    let seats = ids
        .into_iter()
        .zip(sections)
        .zip(labels)
        .map(|((id, section_id), label)| SeatFacts { id: SeatId(id), section_id, label })
        .collect();
    Ok((made, seats))
}

/// Tells the planner about seats just generated in bulk. Without it, holds on an event created
/// minutes before its on-sale run with plans made for an empty table (measured: 4-6x slower).
pub(crate) async fn refresh_seat_statistics(pool: &sqlx::PgPool) {
    if let Err(e) = sqlx::query("ANALYZE ticket.seats, ticket.event_sections").execute(pool).await {
        tracing::warn!(error = %e, "analyzing seats failed");
    }
}

/// Change any subset of an event's fields.
#[utoipa::path(patch, path = "/api/admin/events/{id}", tag = "admin", security(("bearer" = [])), request_body = EventPatch,
    params(("id" = EventId, Path)),
    responses((status = 200, body = EventDetail), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_event(
    State(state): State<TicketState>,
    _admin: AdminUser,
    Path(id): Path<EventId>,
    Json(patch): Json<EventPatch>,
) -> ApiResult<Json<EventDetail>> {
    let current = load_detail(&state, id).await?;
    if patch.venue_id.is_some_and(|v| v != current.summary.venue.id) {
        return Err(ApiError::new(ErrorCode::VenueImmutable));
    }
    let fields = EventFields {
        title: current.summary.title,
        artist: current.summary.artist,
        description: current.description,
        starts_at: current.summary.starts_at,
        sale_opens_at: current.summary.sale_opens_at,
        sale_closes_at: current.summary.sale_closes_at,
        max_seats_per_order: current.max_seats_per_order,
        poster_url: current.summary.poster_url,
        waiting_room: current.waiting_room,
    }
    .patched(&patch);
    fields.validate()?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let version: i64 = sqlx::query_scalar(
        "UPDATE ticket.events SET title = $2, artist = $3, description = $4, poster_url = $5, starts_at = $6,
            sale_opens_at = $7, sale_closes_at = $8, max_seats_per_order = $9, waiting_room_enabled = $10,
            max_active = $11, admit_per_minute = $12,
            search_text = lower($2 || ' ' || $3 || ' ' || (SELECT name FROM ticket.venues WHERE id = venue_id)),
            updated_at = $13, version = version + 1
         WHERE id = $1 RETURNING version",
    )
    .bind(id)
    .bind(&fields.title)
    .bind(&fields.artist)
    .bind(&fields.description)
    .bind(&fields.poster_url)
    .bind(fields.starts_at)
    .bind(fields.sale_opens_at)
    .bind(fields.sale_closes_at)
    .bind(fields.max_seats_per_order)
    .bind(fields.waiting_room.enabled)
    .bind(fields.waiting_room.max_active)
    .bind(fields.waiting_room.admit_per_minute)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let changed =
        EventChanged { event_id: id, title: Some(fields.title.clone()), sale_opens_at: Some(fields.sale_opens_at) };
    outbox(&mut tx, DomainEvent::EventUpdated(changed), version, now).await?;
    tx.commit().await?;
    state.publisher.invalidate_detail(id).await;
    state.bump_catalogue().await;
    Ok(Json(load_detail(&state, id).await?))
}
