//! Queue messages that are not domain events: a stored Toss webhook delivery on its way to the
//! worker, and a hold's expiry on its way back to the ticket role. Both sides use these types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::ReservationId;

/// The header Toss names each delivery with; retries of one delivery carry the same value.
pub const TRANSMISSION_ID: &str = "tosspayments-webhook-transmission-id";

/// The inbox key of a delivery: its transmission id, or (without one) the hash of its exact bytes,
/// so a retry of the same delivery is stored once.
pub fn webhook_inbox_key(transmission_id: Option<&str>, body: &[u8]) -> String {
    match transmission_id {
        Some(id) if !id.is_empty() && id.len() <= 200 && id.chars().all(|c| c.is_ascii_graphic()) => id.to_owned(),
        _ => format!("sha256:{:x}", Sha256::digest(body)),
    }
}

/// A Toss webhook as received: stored in the inbox, then queued for the worker to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// [`webhook_inbox_key`] of the delivery.
    pub inbox_id: String,
    pub received_at: DateTime<Utc>,
    /// The exact body Toss sent (JSON, so valid UTF-8).
    pub body: String,
}

/// "This hold may be due": sent delayed to the hold-expiry queue when a hold is made, and sent
/// again (re-delayed) until the hold is over — SQS delays stop at 15 minutes, holds last longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldDue {
    pub reservation_id: ReservationId,
    /// When the hold ends, as far as the sender knew (a virtual-account deposit may extend it).
    pub expires_at: DateTime<Utc>,
}

/// The ticket role's answer to `POST /internal/ticket/reservations/{id}/expire`: whether the hold
/// is still pending after the call (not due yet, e.g. extended for a deposit) and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldState {
    pub reservation_id: ReservationId,
    pub pending: bool,
    pub expires_at: DateTime<Utc>,
}

/// The longest delay SQS accepts on one message.
pub const MAX_SQS_DELAY_SECS: i64 = 900;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_keyed_by_its_transmission_id_else_by_its_bytes() {
        assert_eq!(webhook_inbox_key(Some("abc-1"), b"{}"), "abc-1");
        let hashed = webhook_inbox_key(None, b"{\"a\":1}");
        assert!(hashed.starts_with("sha256:"));
        assert_eq!(hashed, webhook_inbox_key(Some(""), b"{\"a\":1}"));
        assert_ne!(hashed, webhook_inbox_key(None, b"{\"a\":2}"));
        assert!(webhook_inbox_key(Some("with space"), b"{}").starts_with("sha256:"));
    }
}

/// "Build this report": sent to the reports queue when a report is requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRequested {
    pub report_id: uuid::Uuid,
}
