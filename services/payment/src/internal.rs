//! The payment role's internal API: what other roles ask of it with a service token.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use tiketi_shared::extract::Path;
use tiketi_shared::ids::UserId;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json};

use crate::model::{PaymentEnvelope, PaymentView, ReservationId};
use crate::refunds::{self, RefundAsk, Requester};
use crate::{PaymentState, orders};

/// `POST /api/reservations/{id}/cancel` of a paid reservation, as the ticket role forwards it.
#[derive(Debug, Deserialize)]
pub struct RefundReservation {
    pub reason: String,
    /// Who asked; an order is refunded for its owner or an admin only.
    pub by: UserId,
    #[serde(default)]
    pub admin: bool,
}

/// Refunds the whole remaining balance of the reservation's paid order.
pub async fn refund_reservation(
    State(state): State<PaymentState>,
    Path(id): Path<ReservationId>,
    Json(body): Json<RefundReservation>,
) -> ApiResult<Json<PaymentEnvelope>> {
    let order = orders::live_for_reservation(&state.pool, id)
        .await?
        .filter(|o| o.user_id == body.by || body.admin)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no order of this reservation"))?;
    let ask = RefundAsk { reason: body.reason, amount: None, account: None, by: Requester::User(body.by) };
    let order = refunds::refund(&state, &order, ask).await?;
    let refunds = orders::refunds_of(&state.pool, order.id).await?;
    Ok(Json(PaymentEnvelope { payment: PaymentView::of(&order, refunds) }))
}

pub fn router(state: PaymentState) -> Router {
    let verifier = state.verifier.clone();
    let routes =
        Router::new().route("/internal/payment/reservations/{id}/refund", post(refund_reservation)).with_state(state);
    tiketi_shared::internal::guard(routes, verifier, crate::ROLE)
}
