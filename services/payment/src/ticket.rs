//! The ticket role's internal API, as the payment role uses it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tiketi_shared::internal::{InternalClient, InternalError};
use tiketi_shared::reservations::{ExtendHold, RefundRequests, RefundRequestsQuery, ReservationEnvelope};
pub use tiketi_shared::reservations::{InternalReservation, RefundRequest, Reservation, ReservationStatus};

use crate::model::ReservationId;

const CALLEE: &str = "ticket";

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
    pub async fn reservation(&self, id: ReservationId) -> Result<InternalReservation, TicketError> {
        Ok(self.0.get(CALLEE, &format!("/internal/ticket/reservations/{id}")).await?)
    }

    /// `pending → confirmed` (idempotent). `Refused` when the hold was lost.
    pub async fn confirm(&self, id: ReservationId) -> Result<Reservation, TicketError> {
        self.change(id, "confirm", &NoBody {}).await
    }

    /// Frees a pending reservation's seats (idempotent).
    pub async fn release(&self, id: ReservationId) -> Result<Reservation, TicketError> {
        self.change(id, "release", &NoBody {}).await
    }

    /// `confirmed → refunded`: the seats go back on sale (idempotent).
    pub async fn refunded(&self, id: ReservationId) -> Result<Reservation, TicketError> {
        self.change(id, "refunded", &NoBody {}).await
    }

    /// Keeps the hold until `until` (bounded by the ticket role) for a virtual-account deposit.
    pub async fn extend(&self, id: ReservationId, until: DateTime<Utc>) -> Result<Reservation, TicketError> {
        self.change(id, "extend", &ExtendHold { until }).await
    }

    /// Paid reservations of cancelled events waiting for their refund, a page after `after`.
    pub async fn refund_requests(&self, after: Option<ReservationId>) -> Result<Vec<RefundRequest>, TicketError> {
        let query = RefundRequestsQuery { after, limit: Some(200) };
        let page: RefundRequests = self.0.get(CALLEE, &query.path()).await?;
        Ok(page.items)
    }

    async fn change(&self, id: ReservationId, action: &str, body: &impl Serialize) -> Result<Reservation, TicketError> {
        let path = format!("/internal/ticket/reservations/{id}/{action}");
        let envelope: ReservationEnvelope = self.0.post(CALLEE, &path, body).await?;
        Ok(envelope.reservation)
    }
}

/// The body of the calls that take none: `{}`.
#[derive(Serialize)]
struct NoBody {}
