//! Reservations as the ticket role (which owns them) answers for them, and the bodies of its
//! internal API that the payment role calls: one definition for both sides, so a renamed field
//! fails to compile instead of failing to parse in production. The reservation's states and
//! their legal transitions live here too, since the payment role decides on them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Money;
use crate::ids::{EventId, ReservationId, SeatId, UserId};

// Every transition in SQL is a guarded `UPDATE … WHERE status = <from>`; `source_of` says which
// `from` each `to` may come from. (Plain comments on the public schemas: doc comments would
// become descriptions in the OpenAPI document.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ReservationStatus {
    Pending,
    Confirmed,
    Cancelled,
    Expired,
    Refunded,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a {from:?} reservation cannot become {to:?}")]
pub struct IllegalTransition {
    pub from: ReservationStatus,
    pub to: ReservationStatus,
}

impl ReservationStatus {
    /// `pending → confirmed | cancelled | expired`, `confirmed → refunded`; nothing else.
    pub fn transition(self, to: ReservationStatus) -> Result<ReservationStatus, IllegalTransition> {
        use ReservationStatus::*;
        match (self, to) {
            (Pending, Confirmed | Cancelled | Expired) | (Confirmed, Refunded) => Ok(to),
            _ => Err(IllegalTransition { from: self, to }),
        }
    }

    /// The one state `to` may be reached from (the guard of its UPDATE).
    pub fn source_of(to: ReservationStatus) -> Option<ReservationStatus> {
        use ReservationStatus::*;
        match to {
            Confirmed | Cancelled | Expired => Some(Pending),
            Refunded => Some(Confirmed),
            Pending => None,
        }
    }

    /// Whether a reservation in this state holds or owns its seats.
    pub fn is_live(self) -> bool {
        matches!(self, ReservationStatus::Pending | ReservationStatus::Confirmed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Pending => "pending",
            ReservationStatus::Confirmed => "confirmed",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::Expired => "expired",
            ReservationStatus::Refunded => "refunded",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ReservedSeat {
    pub id: SeatId,
    pub label: String,
    pub price: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub event_id: EventId,
    // Present for the owner's own reads and for other roles; never shown to another buyer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub status: ReservationStatus,
    pub seats: Vec<ReservedSeat>,
    pub amount: Money,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

// `{reservation}`: the public answers and every internal call that changes a reservation
// (`POST /internal/ticket/reservations/{id}/confirm | release | refunded | extend`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReservationEnvelope {
    pub reservation: Reservation,
}

/// `GET /internal/ticket/reservations/{id}`: what checkout needs of a reservation (owner,
/// amount, status, expiry) and the event's name for the order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalReservation {
    pub reservation: Reservation,
    pub event_name: String,
}

/// `POST /internal/ticket/reservations/{id}/extend`: keep the hold until `until` (a virtual
/// account waiting for its deposit; the ticket role bounds it).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ExtendHold {
    pub until: DateTime<Utc>,
}

/// `GET /internal/ticket/refund-requests`: paid reservations of cancelled events, a page at a time.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct RefundRequestsQuery {
    /// Continue after this reservation id (pages are ordered by id).
    pub after: Option<ReservationId>,
    pub limit: Option<u32>,
}

impl RefundRequestsQuery {
    pub const PATH: &'static str = "/internal/ticket/refund-requests";

    /// The request path with this query, named by the same fields the ticket role reads.
    pub fn path(&self) -> String {
        let mut params = Vec::new();
        if let Some(limit) = self.limit {
            params.push(format!("limit={limit}"));
        }
        if let Some(after) = self.after {
            params.push(format!("after={after}"));
        }
        if params.is_empty() { Self::PATH.to_owned() } else { format!("{}?{}", Self::PATH, params.join("&")) }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundRequest {
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub amount: Money,
    pub requested_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundRequests {
    pub items: Vec<RefundRequest>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::ReservationStatus::*;
    use super::*;

    const ALL: [ReservationStatus; 5] = [Pending, Confirmed, Cancelled, Expired, Refunded];

    #[test]
    fn only_the_documented_transitions_are_legal_and_agree_with_their_guards() {
        for from in ALL {
            for to in ALL {
                let legal = from.transition(to).is_ok();
                assert_eq!(legal, ReservationStatus::source_of(to) == Some(from), "{from:?} → {to:?}");
            }
        }
        assert_eq!(Pending.transition(Confirmed), Ok(Confirmed));
        assert!(Expired.transition(Confirmed).is_err(), "an expired hold is never sold");
    }

    #[test]
    fn a_status_is_written_as_its_name() {
        for status in ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn a_reservation_reads_back_as_written_and_hides_an_absent_owner() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let seat = ReservedSeat { id: SeatId::new(), label: "A-1".into(), price: Money::won(50_000).unwrap() };
        let mut reservation = Reservation {
            id: ReservationId::new(),
            event_id: EventId::new(),
            user_id: Some(UserId::new()),
            status: Pending,
            seats: vec![seat],
            amount: Money::won(50_000).unwrap(),
            expires_at: at,
            created_at: at,
        };
        let text = serde_json::to_string(&ReservationEnvelope { reservation: reservation.clone() }).unwrap();
        let back: ReservationEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back.reservation, reservation);
        reservation.user_id = None;
        let value = serde_json::to_value(&reservation).unwrap();
        assert!(value.get("user_id").is_none());
        assert_eq!(value["status"], "pending");
    }

    #[test]
    fn the_refund_requests_path_names_the_query_fields() {
        assert_eq!(RefundRequestsQuery::default().path(), "/internal/ticket/refund-requests");
        let after = ReservationId::new();
        let query = RefundRequestsQuery { after: Some(after), limit: Some(200) };
        assert_eq!(query.path(), format!("/internal/ticket/refund-requests?limit=200&after={after}"));
    }
}
