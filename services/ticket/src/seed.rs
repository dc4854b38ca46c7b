//! Demo data for `tiketi seed`: three venues (~300, ~5,000 and 50,000 seats) and twenty events
//! across every state, dated relative to the first seeding. Idempotent: seeded rows carry a
//! `seed_key`, so re-seeding adds nothing and never touches data created through the API.

use chrono::Duration;
use tiketi_shared::Money;

use crate::TicketState;
use crate::catalog::{insert_event, insert_venue};
use crate::model::{EventFields, SectionInput, VenueId, VenueInput, WaitingRoom};

struct VenueSeed {
    key: &'static str,
    name: &'static str,
    address: &'static str,
    sections: &'static [(&'static str, u32, u32, i64)],
}

const VENUES: [VenueSeed; 3] = [
    VenueSeed {
        key: "venue-club",
        name: "Hongdae Rolling Stage",
        address: "서울 마포구 어울마당로 35",
        sections: &[("Floor", 10, 20, 66_000), ("Balcony", 5, 20, 55_000)],
    },
    VenueSeed {
        key: "venue-hall",
        name: "Han River Arena",
        address: "서울 광진구 능동로 209",
        sections: &[("VIP", 10, 50, 165_000), ("R", 30, 50, 143_000), ("S", 40, 50, 121_000), ("A", 20, 50, 99_000)],
    },
    VenueSeed {
        key: "venue-stadium",
        name: "Seoul Grand Stadium",
        address: "서울 송파구 올림픽로 25",
        sections: &[("Floor", 50, 100, 198_000), ("Lower", 100, 200, 154_000), ("Upper", 125, 200, 132_000)],
    },
];

#[derive(Clone, Copy)]
enum Shape {
    /// Sale open now; the event in `days`.
    OnSale,
    /// Sale opens in `days / 4` days.
    Scheduled,
    /// On sale but every seat sold.
    SoldOut,
    /// Sale over, the event `days` ago.
    Closed,
    Cancelled,
}

struct EventSeed {
    key: &'static str,
    title: &'static str,
    artist: &'static str,
    venue: usize,
    days: i64,
    shape: Shape,
    waiting_room: bool,
}

const fn ev(
    key: &'static str,
    title: &'static str,
    artist: &'static str,
    venue: usize,
    days: i64,
    shape: Shape,
    waiting_room: bool,
) -> EventSeed {
    EventSeed { key, title, artist, venue, days, shape, waiting_room }
}

const EVENTS: [EventSeed; 20] = [
    ev("ev-01", "NOVA World Tour — Seoul", "NOVA (노바)", 2, 45, Shape::OnSale, true),
    ev("ev-02", "별빛 콘서트: Starlight", "윤하늘", 1, 21, Shape::OnSale, true),
    ev("ev-03", "Midnight Jazz Session", "The Han River Quartet", 0, 9, Shape::OnSale, false),
    ev("ev-04", "인디 페스티벌 2026", "여러 아티스트", 0, 14, Shape::OnSale, false),
    ev("ev-05", "Orbit Live", "ORBIT (오르빗)", 1, 30, Shape::OnSale, false),
    ev("ev-06", "봄날의 피아노", "김서진", 0, 12, Shape::OnSale, false),
    ev("ev-07", "Electric Dreams", "Neon Pulse", 1, 40, Shape::OnSale, false),
    ev("ev-08", "K-Rock Night", "블루 웨이브", 0, 7, Shape::OnSale, false),
    ev("ev-09", "Aurora Stadium Show", "AURORA 7", 2, 90, Shape::Scheduled, true),
    ev("ev-10", "가을 발라드 콘서트", "이도윤", 1, 60, Shape::Scheduled, false),
    ev("ev-11", "Acoustic Evenings", "Mina Park", 0, 50, Shape::Scheduled, false),
    ev("ev-12", "힙합 라이브 쇼케이스", "크루 서울", 1, 70, Shape::Scheduled, false),
    ev("ev-13", "Symphony of Lights", "Seoul Youth Orchestra", 1, 80, Shape::Scheduled, false),
    ev("ev-14", "소극장 단독 공연", "하루", 0, 10, Shape::SoldOut, false),
    ev("ev-15", "Secret Gig", "Velvet Static", 0, 5, Shape::SoldOut, false),
    ev("ev-16", "Winter Fan Meeting", "LUMI (루미)", 1, 20, Shape::Closed, false),
    ev("ev-17", "재즈 인 서울", "The Han River Quartet", 0, 35, Shape::Closed, false),
    ev("ev-18", "Retro Pop Party", "Cassette Kids", 0, 3, Shape::Closed, false),
    ev("ev-19", "Summer Splash", "WAVE (웨이브)", 1, 25, Shape::Cancelled, false),
    ev("ev-20", "록 페스티벌 프리뷰", "블루 웨이브", 0, 15, Shape::Cancelled, false),
];

/// The box office's account: owner of the seats sold in seeded sold-out events.
pub const BOX_OFFICE: uuid::Uuid = uuid::Uuid::from_u128(0x0000_0000_0000_7000_8000_b0c5_0ff1_ce00);

#[derive(Debug, Default)]
pub struct Seeded {
    pub venues: usize,
    pub events: usize,
}

pub async fn seed(state: &TicketState) -> anyhow::Result<Seeded> {
    let now = state.clock.now();
    let mut seeded = Seeded::default();
    let mut venue_ids = Vec::new();
    for v in &VENUES {
        let existing: Option<VenueId> = sqlx::query_scalar("SELECT id FROM ticket.venues WHERE seed_key = $1")
            .bind(v.key)
            .fetch_optional(&state.pool)
            .await?;
        let id = match existing {
            Some(id) => id,
            None => {
                let input = VenueInput {
                    name: v.name.to_owned(),
                    address: Some(v.address.to_owned()),
                    sections: v
                        .sections
                        .iter()
                        .map(|&(name, rows, seats_per_row, price)| SectionInput {
                            name: name.to_owned(),
                            rows,
                            seats_per_row,
                            price: Money::won(price).unwrap_or_default(),
                        })
                        .collect(),
                };
                let seats = input.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut tx = state.pool.begin().await?;
                let venue =
                    insert_venue(&mut tx, &input, seats, Some(v.key), now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                tx.commit().await?;
                seeded.venues += 1;
                venue.id
            }
        };
        venue_ids.push(id);
    }
    for e in &EVENTS {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ticket.events WHERE seed_key = $1)")
            .bind(e.key)
            .fetch_one(&state.pool)
            .await?;
        if exists {
            continue;
        }
        let starts_at = match e.shape {
            Shape::Closed => now - Duration::days(e.days),
            _ => now + Duration::days(e.days),
        };
        let (opens, closes) = match e.shape {
            Shape::OnSale | Shape::SoldOut | Shape::Cancelled => {
                (now - Duration::hours(2), starts_at - Duration::hours(1))
            }
            Shape::Scheduled => (now + Duration::days(e.days / 4), starts_at - Duration::hours(1)),
            Shape::Closed => (starts_at - Duration::days(30), starts_at - Duration::hours(1)),
        };
        let fields = EventFields {
            title: e.title.to_owned(),
            artist: e.artist.to_owned(),
            description: Some(format!("{} — {}. Demo event.", e.artist, e.title)),
            starts_at,
            sale_opens_at: opens,
            sale_closes_at: closes,
            max_seats_per_order: 4,
            poster_url: None,
            waiting_room: WaitingRoom { enabled: e.waiting_room, max_active: 2_000, admit_per_minute: 6_000 },
        };
        let mut tx = state.pool.begin().await?;
        let id = insert_event(&mut tx, venue_ids[e.venue], &fields, Some(e.key), now)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match e.shape {
            Shape::SoldOut => sell_out(&mut tx, id, now).await?,
            Shape::Cancelled => {
                sqlx::query("UPDATE ticket.events SET cancelled_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        seeded.events += 1;
    }
    if seeded.events > 0 {
        crate::catalog::refresh_seat_statistics(&state.pool).await;
    }
    state.bump_catalogue().await;
    Ok(seeded)
}

/// Sells every seat to the box office in one confirmed reservation.
async fn sell_out(
    tx: &mut sqlx::PgConnection,
    event: crate::model::EventId,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let reservation = crate::model::ReservationId::new();
    sqlx::query(
        "INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
         SELECT $1, $2, $3, 'confirmed', sum(price), $4, $4, $4 FROM ticket.seats WHERE event_id = $2",
    )
    .bind(reservation)
    .bind(event)
    .bind(BOX_OFFICE)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE ticket.seats SET status = 'sold', reservation_id = $2 WHERE event_id = $1")
        .bind(event)
        .bind(reservation)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO ticket.reservation_seats (reservation_id, seat_id, price) SELECT $2, id, price FROM ticket.seats WHERE event_id = $1",
    )
    .bind(event)
    .bind(reservation)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
