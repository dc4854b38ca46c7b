//! The states of events, seats and reservations, and which reservation transitions are legal.
//! Every transition in SQL is a guarded `UPDATE … WHERE status = <from>`; these types say which
//! `from` each `to` may come from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Scheduled,
    OnSale,
    SoldOut,
    Closed,
    Cancelled,
}

impl EventStatus {
    /// Derived, never stored: from the sale window, stock and cancellation.
    pub fn derive(
        now: DateTime<Utc>,
        opens: DateTime<Utc>,
        closes: DateTime<Utc>,
        cancelled: bool,
        any_free: bool,
    ) -> Self {
        if cancelled {
            EventStatus::Cancelled
        } else if now < opens {
            EventStatus::Scheduled
        } else if now >= closes {
            EventStatus::Closed
        } else if !any_free {
            EventStatus::SoldOut
        } else {
            EventStatus::OnSale
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Scheduled => "scheduled",
            EventStatus::OnSale => "on_sale",
            EventStatus::SoldOut => "sold_out",
            EventStatus::Closed => "closed",
            EventStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

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

#[cfg(test)]
mod tests {
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
    fn event_status_follows_window_stock_and_cancellation() {
        let t = |h: i64| DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap_or_default();
        assert_eq!(EventStatus::derive(t(0), t(1), t(5), false, true), EventStatus::Scheduled);
        assert_eq!(EventStatus::derive(t(2), t(1), t(5), false, true), EventStatus::OnSale);
        assert_eq!(EventStatus::derive(t(2), t(1), t(5), false, false), EventStatus::SoldOut);
        assert_eq!(EventStatus::derive(t(5), t(1), t(5), false, true), EventStatus::Closed);
        assert_eq!(EventStatus::derive(t(2), t(1), t(5), true, true), EventStatus::Cancelled);
    }
}
