//! The ticket role's internal API, as the payment role uses it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tiketi_shared::Money;
use tiketi_shared::ids::UserId;
use tiketi_shared::internal::{InternalClient, InternalError};

use crate::model::{EventId, ReservationId};

const CALLEE: &str = "ticket";

/// The reservation fields checkout and confirm read; the rest passes through as JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub event_id: EventId,
    pub user_id: Option<UserId>,
    pub status: String,
    pub amount: Money,
    pub seats: Vec<Value>,
    pub expires_at: DateTime<Utc>,
}

impl Reservation {
    pub fn is_pending(&self) -> bool {
        self.status == "pending"
    }
}

#[derive(Debug, Deserialize)]
pub struct Found {
    pub reservation: Reservation,
    pub event_name: String,
    /// The reservation as the ticket role serialized it, for answers that include it.
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Debug, Deserialize)]
pub struct RefundRequest {
    pub reservation_id: ReservationId,
}

/// What a call that changes a reservation can come to.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The ticket role refused (409): the hold is gone, or the reservation is in another state.
    #[error("the ticket role refused: {0}")]
    Refused(String),
    #[error("no such reservation")]
    NotFound,
    /// The outcome is unknown (down, timeout): try again later.
    #[error(transparent)]
    Unavailable(InternalError),
}

impl From<InternalError> for TicketError {
    fn from(err: InternalError) -> Self {
        match err {
            InternalError::Status { status: 409, body, .. } => Self::Refused(body),
            InternalError::Status { status: 404, .. } => Self::NotFound,
            other => Self::Unavailable(other),
        }
    }
}

#[derive(Clone)]
pub struct TicketApi(pub InternalClient);

impl TicketApi {
    pub async fn reservation(&self, id: ReservationId) -> Result<Found, TicketError> {
        let raw: Value = self.0.get(CALLEE, &format!("/internal/ticket/reservations/{id}")).await?;
        let mut found: Found = parse(&raw)?;
        found.raw = raw["reservation"].clone();
        Ok(found)
    }

    /// `pending → confirmed` (idempotent). `Refused` when the hold was lost.
    pub async fn confirm(&self, id: ReservationId) -> Result<Value, TicketError> {
        self.change(id, "confirm", &json!({})).await
    }

    /// Frees a pending reservation's seats (idempotent).
    pub async fn release(&self, id: ReservationId) -> Result<Value, TicketError> {
        self.change(id, "release", &json!({})).await
    }

    /// `confirmed → refunded`: the seats go back on sale (idempotent).
    pub async fn refunded(&self, id: ReservationId) -> Result<Value, TicketError> {
        self.change(id, "refunded", &json!({})).await
    }

    /// Keeps the hold until `until` (bounded by the ticket role) for a virtual-account deposit.
    pub async fn extend(&self, id: ReservationId, until: DateTime<Utc>) -> Result<Value, TicketError> {
        self.change(id, "extend", &json!({"until": until})).await
    }

    /// Paid reservations of cancelled events waiting for their refund, a page after `after`.
    pub async fn refund_requests(&self, after: Option<ReservationId>) -> Result<Vec<RefundRequest>, TicketError> {
        #[derive(Deserialize)]
        struct Page {
            items: Vec<RefundRequest>,
        }
        let path = match after {
            Some(after) => format!("/internal/ticket/refund-requests?limit=200&after={after}"),
            None => "/internal/ticket/refund-requests?limit=200".to_owned(),
        };
        let page: Page = self.0.get(CALLEE, &path).await?;
        Ok(page.items)
    }

    async fn change(&self, id: ReservationId, action: &str, body: &Value) -> Result<Value, TicketError> {
        let path = format!("/internal/ticket/reservations/{id}/{action}");
        let envelope: Value = self.0.post(CALLEE, &path, body).await?;
        Ok(envelope["reservation"].clone())
    }
}

fn parse<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, TicketError> {
    serde_json::from_value(raw.clone())
        .map_err(|e| TicketError::Unavailable(InternalError::Request(anyhow::anyhow!("unexpected answer: {e}"))))
}
