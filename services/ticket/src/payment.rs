//! The payment role's internal API, as the ticket role uses it: refunding a paid reservation when
//! its buyer cancels it (`POST /api/reservations/{id}/cancel`).

use serde::Serialize;
use serde::de::IgnoredAny;
use tiketi_shared::internal::{InternalClient, InternalError};
use tiketi_shared::token::{AccessClaims, UserRole};
use tiketi_shared::{ApiError, ErrorCode};

use crate::model::ReservationId;

const CALLEE: &str = "payment";

#[derive(Clone)]
pub struct PaymentApi(pub InternalClient);

#[derive(Serialize)]
struct RefundReservation<'a> {
    reason: &'a str,
    by: tiketi_shared::ids::UserId,
    admin: bool,
}

impl PaymentApi {
    /// Refunds the reservation's paid order in full, for `caller` (its owner or an admin). The
    /// payment role marks the reservation refunded and frees its seats before answering.
    pub async fn refund(&self, id: ReservationId, caller: &AccessClaims) -> Result<(), ApiError> {
        let body = RefundReservation {
            reason: "cancelled by the buyer",
            by: caller.sub,
            admin: caller.role == UserRole::Admin,
        };
        let path = format!("/internal/payment/reservations/{id}/refund");
        self.0.post::<_, IgnoredAny>(CALLEE, &path, &body).await.map(|_| ()).map_err(refusal)
    }
}

/// The payment role's refusal, answered to the buyer in its own words; anything else is an outage.
fn refusal(err: InternalError) -> ApiError {
    let InternalError::Status { status: 404 | 409 | 422, ref body, .. } = err else {
        return ApiError::unavailable(err);
    };
    let code = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|p| p["code"].as_str().map(str::to_owned));
    let known = match code.as_deref() {
        Some("NOT_REFUNDABLE" | "NOT_FOUND") => ErrorCode::NotCancellable,
        Some("REFUND_IN_PROGRESS") => ErrorCode::RefundInProgress,
        Some("REFUND_REFUSED") => ErrorCode::RefundRefused,
        Some("REFUND_ACCOUNT_REQUIRED") => ErrorCode::RefundAccountRequired,
        _ => return ApiError::unavailable(err),
    };
    let error = ApiError::new(known);
    match known {
        ErrorCode::RefundAccountRequired => error.detail(
            "a virtual-account payment is refunded to a bank account: use POST /api/payments/{order_id}/cancel with refund_account",
        ),
        _ => error,
    }
}
