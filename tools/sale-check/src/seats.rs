//! `seats`: no seat sold twice or held by two.
//!
//! The schema links a seat to reservations twice: `ticket.seats.reservation_id` (the one holder
//! now, set exactly when the seat is not available) and `ticket.reservation_seats` (every seat a
//! reservation ever covered, `live` while the reservation is pending or confirmed). Both are
//! read and each is checked against the other, so a seat pointing at the wrong reservation shows
//! from either side.

use uuid::Uuid;

use crate::Context;
use crate::report::{Finding, Invariant, Offences, plural};

/// A seat that is not available, or that names a reservation: (seat, its event, status,
/// reservation named, that reservation's status and event, whether it lists the seat live).
type SeatRow = (Uuid, Uuid, String, Option<Uuid>, Option<String>, Option<Uuid>, bool);

/// A seat listed by a pending or confirmed reservation, or listed live: (reservation, seat,
/// reservation status, live, seat status, reservation the seat names).
type CoverRow = (Uuid, Uuid, String, bool, String, Option<Uuid>);

pub async fn check(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let mut offences = Offences::default();

    let seats: Vec<SeatRow> = sqlx::query_as(
        "SELECT s.id, s.event_id, s.status, s.reservation_id, r.status, r.event_id,
           EXISTS (SELECT 1 FROM ticket.reservation_seats rs
                   WHERE rs.seat_id = s.id AND rs.reservation_id = s.reservation_id AND rs.live)
         FROM ticket.seats s LEFT JOIN ticket.reservations r ON r.id = s.reservation_id
         WHERE s.event_id = ANY($1) AND (s.status <> 'available' OR s.reservation_id IS NOT NULL)
         ORDER BY s.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (seat, event, status, named, reservation_status, reservation_event, listed) in &seats {
        let Some(reservation) = named else {
            offences.push(format!("seat {seat} is {status} but names no reservation"));
            continue;
        };
        let expected = match status.as_str() {
            "sold" => "confirmed",
            "held" => "pending",
            _ => {
                offences.push(format!("seat {seat} is {status} but names reservation {reservation}"));
                continue;
            }
        };
        match reservation_status {
            None => {
                offences.push(format!("seat {seat} is {status} under reservation {reservation}, which does not exist"))
            }
            Some(actual) if actual != expected => offences.push(format!(
                "seat {seat} is {status} under reservation {reservation}, which is {actual} (expected {expected})"
            )),
            Some(_) if !listed => offences.push(format!(
                "seat {seat} is {status} under reservation {reservation}, whose live seats do not include it"
            )),
            Some(_) if *reservation_event != Some(*event) => {
                offences.push(format!("seat {seat} of event {event} names reservation {reservation} of another event"))
            }
            Some(_) => {}
        }
    }

    let twice: Vec<(Uuid, Vec<String>)> = sqlx::query_as(
        "SELECT rs.seat_id, array_agg(r.id::text || ' (' || r.status || ')' ORDER BY r.id)
         FROM ticket.reservation_seats rs JOIN ticket.reservations r ON r.id = rs.reservation_id
         WHERE r.event_id = ANY($1) AND (r.status IN ('pending', 'confirmed') OR rs.live)
         GROUP BY rs.seat_id HAVING count(*) > 1 ORDER BY rs.seat_id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (seat, holders) in &twice {
        offences.push(format!("seat {seat} is in {} live reservations: {}", holders.len(), holders.join(", ")));
    }

    let covers: Vec<CoverRow> = sqlx::query_as(
        "SELECT rs.reservation_id, rs.seat_id, r.status, rs.live, s.status, s.reservation_id
         FROM ticket.reservation_seats rs
         JOIN ticket.reservations r ON r.id = rs.reservation_id JOIN ticket.seats s ON s.id = rs.seat_id
         WHERE r.event_id = ANY($1) AND (r.status IN ('pending', 'confirmed') OR rs.live)
         ORDER BY rs.reservation_id, rs.seat_id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (reservation, seat, status, live, seat_status, named) in &covers {
        let should_live = matches!(status.as_str(), "pending" | "confirmed");
        if *live != should_live {
            offences.push(format!("reservation {reservation} is {status} but its seat {seat} has live = {live}"));
            continue;
        }
        let expected = if status == "confirmed" { "sold" } else { "held" };
        if *named != Some(*reservation) {
            let other = named.map_or_else(|| "no reservation".to_owned(), |r| format!("reservation {r}"));
            offences
                .push(format!("reservation {reservation} ({status}) covers seat {seat}, but the seat names {other}"));
        } else if seat_status != expected {
            offences.push(format!(
                "reservation {reservation} is {status} but its seat {seat} is {seat_status} (expected {expected})"
            ));
        }
    }

    let empty: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT r.id, r.status FROM ticket.reservations r
         WHERE r.event_id = ANY($1) AND r.status IN ('pending', 'confirmed')
           AND NOT EXISTS (SELECT 1 FROM ticket.reservation_seats rs WHERE rs.reservation_id = r.id AND rs.live)
         ORDER BY r.id",
    )
    .bind(&ctx.events)
    .fetch_all(&ctx.pool)
    .await?;
    for (reservation, status) in &empty {
        offences.push(format!("reservation {reservation} is {status} but covers no seat"));
    }

    let live_reservations = covers.iter().map(|c| c.0).collect::<std::collections::BTreeSet<_>>().len();
    let notes = vec![format!(
        "{} held or sold; {} of {} pending or confirmed",
        plural(seats.len(), "seat"),
        plural(covers.len(), "seat link"),
        plural(live_reservations, "reservation")
    )];
    Ok(Finding::from_offences(Invariant::Seats, offences, notes))
}
