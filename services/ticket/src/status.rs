//! The states of events, seats and reservations. Seat and reservation states cross to other
//! roles, so they are defined in `tiketi_shared` (with the reservation's legal transitions:
//! every transition in SQL is a guarded `UPDATE … WHERE status = <from>`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
pub use tiketi_shared::reservations::ReservationStatus;
pub use tiketi_shared::seat_changes::SeatStatus;
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

#[cfg(test)]
mod tests {
    use super::*;

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
