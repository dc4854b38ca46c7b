//! The ticket API's bodies: what clients send (validated here, at the edge) and what they get.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
pub use tiketi_shared::ids::{EventId, ReservationId, SeatId};
// Reservations cross to the payment role: one definition, in `tiketi_shared`.
pub use tiketi_shared::reservations::{Reservation, ReservationEnvelope, ReservedSeat};
use tiketi_shared::{ApiResult, Money, Validation, id_type};
use utoipa::{IntoParams, ToSchema};

use crate::status::{EventStatus, SeatStatus};

id_type!(
    /// A venue.
    VenueId
);
id_type!(
    /// A section of an event.
    SectionId
);

pub const MAX_SEATS_PER_VENUE: u64 = 200_000;
pub const MAX_PRICE: i64 = 100_000_000;
pub const DEFAULT_SEATS_PER_ORDER: i32 = 4;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SectionInput {
    pub name: String,
    pub rows: u32,
    pub seats_per_row: u32,
    pub price: Money,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VenueInput {
    pub name: String,
    pub address: Option<String>,
    pub sections: Vec<SectionInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VenueSection {
    pub id: uuid::Uuid,
    pub name: String,
    pub rows: i32,
    pub seats_per_row: i32,
    pub price: Money,
    pub seat_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Venue {
    pub id: VenueId,
    pub name: String,
    pub address: Option<String>,
    pub seat_count: i32,
    pub sections: Vec<VenueSection>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct WaitingRoom {
    pub enabled: bool,
    pub max_active: i32,
    pub admit_per_minute: i32,
}

impl Default for WaitingRoom {
    fn default() -> Self {
        Self { enabled: false, max_active: 500, admit_per_minute: 1000 }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EventInput {
    pub title: String,
    pub artist: String,
    pub description: Option<String>,
    pub venue_id: VenueId,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_seats_per_order: Option<i32>,
    pub poster_url: Option<String>,
    pub waiting_room: Option<WaitingRoom>,
}

/// Any subset of the create fields. The venue cannot change once seats exist.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct EventPatch {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub description: Option<String>,
    pub venue_id: Option<VenueId>,
    pub starts_at: Option<DateTime<Utc>>,
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub sale_closes_at: Option<DateTime<Utc>>,
    pub max_seats_per_order: Option<i32>,
    pub poster_url: Option<String>,
    pub waiting_room: Option<WaitingRoom>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VenueRef {
    pub id: VenueId,
    pub name: String,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventSummary {
    pub id: EventId,
    pub title: String,
    pub artist: String,
    pub venue: VenueRef,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub status: EventStatus,
    pub min_price: Money,
    pub max_price: Money,
    pub poster_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SectionAvailability {
    pub id: SectionId,
    pub name: String,
    pub price: Money,
    pub seat_count: i32,
    pub available: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub description: Option<String>,
    pub sections: Vec<SectionAvailability>,
    pub waiting_room: WaitingRoom,
    pub max_seats_per_order: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SeatMapSeat {
    pub id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub label: String,
    pub price: Money,
    pub status: SeatStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeatMap {
    pub event_id: EventId,
    /// Increases with every change to any seat of the event; `seats.changed` messages carry it too.
    pub version: i64,
    pub seats: Vec<SeatMapSeat>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct HoldRequest {
    pub seat_ids: Vec<SeatId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub limit: u32,
    pub total: i64,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    /// Items per page, at most 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The last page anyone may ask for: 100,000 pages of 100 (the offset stays far inside PostgreSQL's
/// integers; an absurd page is a 422, not an overflow).
const MAX_PAGE: u32 = 100_000;

impl PageQuery {
    pub fn resolve(&self) -> ApiResult<(u32, u32)> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(20);
        let mut v = Validation::default();
        v.check((1..=MAX_PAGE).contains(&page), "page", "must be 1 to 100000").check(
            (1..=100).contains(&limit),
            "limit",
            "must be 1 to 100",
        );
        v.finish()?;
        Ok((page, limit))
    }
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct EventListQuery {
    /// `scheduled | on_sale | sold_out | closed | cancelled`
    pub status: Option<EventStatus>,
    /// Matches title, artist and venue name; partial words, any language.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 100000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

fn text(v: &mut Validation, field: &str, value: &str, max_chars: usize) {
    let len = value.trim().chars().count();
    v.check(len >= 1, field, "must not be empty")
        .check(len <= max_chars, field, &format!("must be at most {max_chars} characters"))
        .check(!value.chars().any(char::is_control), field, "must not contain control characters");
}

fn optional_text(v: &mut Validation, field: &str, value: Option<&str>, max_chars: usize) {
    if let Some(value) = value {
        v.check(value.chars().count() <= max_chars, field, &format!("must be at most {max_chars} characters"));
    }
}

fn poster(v: &mut Validation, url: Option<&str>) {
    if let Some(url) = url {
        let ok =
            (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')) && url.len() <= 2000;
        v.check(ok, "poster_url", "must be an http(s) URL or a site path");
    }
}

impl VenueInput {
    pub fn validate(&self) -> ApiResult<u64> {
        let mut v = Validation::default();
        text(&mut v, "name", &self.name, 200);
        optional_text(&mut v, "address", self.address.as_deref(), 500);
        v.check(!self.sections.is_empty(), "sections", "at least one section").check(
            self.sections.len() <= 200,
            "sections",
            "at most 200 sections",
        );
        let mut names = std::collections::HashSet::new();
        let mut total: u64 = 0;
        for (i, s) in self.sections.iter().enumerate() {
            text(&mut v, &format!("sections[{i}].name"), &s.name, 100);
            v.check(names.insert(s.name.trim().to_lowercase()), &format!("sections[{i}].name"), "must be unique")
                .check((1..=1000).contains(&s.rows), &format!("sections[{i}].rows"), "must be 1 to 1000")
                .check(
                    (1..=1000).contains(&s.seats_per_row),
                    &format!("sections[{i}].seats_per_row"),
                    "must be 1 to 1000",
                )
                .check(s.price.as_won() <= MAX_PRICE, &format!("sections[{i}].price"), "too large");
            total += u64::from(s.rows) * u64::from(s.seats_per_row);
        }
        v.check(total <= MAX_SEATS_PER_VENUE, "sections", "a venue has at most 200,000 seats");
        v.finish()?;
        Ok(total)
    }
}

/// The fields of an event after applying a patch, checked together.
#[derive(Debug, Clone)]
pub struct EventFields {
    pub title: String,
    pub artist: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_seats_per_order: i32,
    pub poster_url: Option<String>,
    pub waiting_room: WaitingRoom,
}

impl EventFields {
    pub fn validate(&self) -> ApiResult<()> {
        let mut v = Validation::default();
        text(&mut v, "title", &self.title, 200);
        text(&mut v, "artist", &self.artist, 200);
        optional_text(&mut v, "description", self.description.as_deref(), 10_000);
        poster(&mut v, self.poster_url.as_deref());
        v.check(self.sale_opens_at < self.sale_closes_at, "sale_closes_at", "must be after sale_opens_at")
            .check(self.sale_closes_at <= self.starts_at, "sale_closes_at", "must not be after starts_at")
            .check((1..=20).contains(&self.max_seats_per_order), "max_seats_per_order", "must be 1 to 20")
            .check(
                (1..=1_000_000).contains(&self.waiting_room.max_active),
                "waiting_room.max_active",
                "must be 1 to 1,000,000",
            )
            .check(
                (1..=1_000_000).contains(&self.waiting_room.admit_per_minute),
                "waiting_room.admit_per_minute",
                "must be 1 to 1,000,000",
            );
        v.finish()
    }
}

impl From<&EventInput> for EventFields {
    fn from(input: &EventInput) -> Self {
        Self {
            title: input.title.trim().to_owned(),
            artist: input.artist.trim().to_owned(),
            description: input.description.clone(),
            starts_at: input.starts_at,
            sale_opens_at: input.sale_opens_at,
            sale_closes_at: input.sale_closes_at,
            max_seats_per_order: input.max_seats_per_order.unwrap_or(DEFAULT_SEATS_PER_ORDER),
            poster_url: input.poster_url.clone(),
            waiting_room: input.waiting_room.unwrap_or_default(),
        }
    }
}

impl EventFields {
    pub fn patched(mut self, patch: &EventPatch) -> Self {
        if let Some(x) = &patch.title {
            self.title = x.trim().to_owned();
        }
        if let Some(x) = &patch.artist {
            self.artist = x.trim().to_owned();
        }
        if patch.description.is_some() {
            self.description.clone_from(&patch.description);
        }
        if let Some(x) = patch.starts_at {
            self.starts_at = x;
        }
        if let Some(x) = patch.sale_opens_at {
            self.sale_opens_at = x;
        }
        if let Some(x) = patch.sale_closes_at {
            self.sale_closes_at = x;
        }
        if let Some(x) = patch.max_seats_per_order {
            self.max_seats_per_order = x;
        }
        if patch.poster_url.is_some() {
            self.poster_url.clone_from(&patch.poster_url);
        }
        if let Some(x) = patch.waiting_room {
            self.waiting_room = x;
        }
        self
    }
}

/// Row labels: A..Z, then AA, AB, … (as printed on tickets).
pub fn row_label(index: u32) -> String {
    let mut n = index + 1;
    let mut label = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        label.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    label.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_lettered_like_spreadsheet_columns() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
        assert_eq!(row_label(27), "AB");
        assert_eq!(row_label(701), "ZZ");
        assert_eq!(row_label(702), "AAA");
    }
}
