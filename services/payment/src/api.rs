//! `/api/payments`: checkout, confirm, read, cancel (refund).

use axum::extract::State;
use axum::http::StatusCode;
use tiketi_shared::error::{FieldError, Problem};
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::token::{AccessClaims, AuthUser, UserRole};
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json, Validation};
use url::Url;

use crate::PaymentState;
use crate::model::{
    CancelRequest, CheckoutRequest, CheckoutResponse, ConfirmRequest, ConfirmResponse, Order, OrderId, OrderStatus,
    PaymentEnvelope, PaymentList, PaymentQuery, PaymentView,
};
use crate::orders::{self, NewOrder};
use crate::refunds::{self, RefundAsk, Requester};
use crate::settle::{self, Settled};
use crate::ticket::{ReservationStatus, TicketError};

/// Creates the order for a pending reservation (or answers the one it has): amount and owner
/// come from the ticket role, never from the client.
#[utoipa::path(post, path = "/api/payments/checkout", tag = "payments", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses((status = 201, body = CheckoutResponse), (status = 404, body = Problem),
        (status = 409, description = "`RESERVATION_NOT_PENDING`, `NOTHING_TO_PAY`", body = Problem)))]
pub async fn checkout(
    State(state): State<PaymentState>,
    AuthUser(caller): AuthUser,
    Json(body): Json<CheckoutRequest>,
) -> ApiResult<(StatusCode, Json<CheckoutResponse>)> {
    let found = match state.ticket.reservation(body.reservation_id).await {
        Ok(found) => found,
        Err(TicketError::NotFound) => return Err(no_such("reservation")),
        Err(err) => return Err(ApiError::unavailable(err)),
    };
    let reservation = found.reservation;
    if reservation.user_id != Some(caller.sub) {
        return Err(no_such("reservation"));
    }
    if reservation.status != ReservationStatus::Pending {
        return Err(ApiError::new(ErrorCode::ReservationNotPending)
            .detail(format!("the reservation is {}", reservation.status.as_str()))
            .extra("reservation_status", reservation.status));
    }
    if reservation.amount.as_won() == 0 {
        return Err(ApiError::new(ErrorCode::NothingToPay));
    }
    let seats = reservation.seats.len();
    let order_name = order_name(&found.event_name, seats);
    let new = NewOrder {
        id: OrderId::new(),
        reservation_id: reservation.id,
        user_id: caller.sub,
        event_id: reservation.event_id,
        amount: reservation.amount,
        order_name,
        hold_expires_at: reservation.expires_at,
    };
    // A second checkout of the reservation answers its existing order.
    let order = orders::create(&state.pool, new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(checkout_view(&state, &order)?)))
}

/// Toss limits `orderName` to 100 characters.
fn order_name(event: &str, seats: usize) -> String {
    let suffix = if seats == 1 { " · 1 seat".to_owned() } else { format!(" · {seats} seats") };
    let room = 100usize.saturating_sub(suffix.chars().count());
    let mut name: String = event.chars().take(room).collect();
    name.push_str(&suffix);
    name
}

fn checkout_view(state: &PaymentState, order: &Order) -> ApiResult<CheckoutResponse> {
    let mut url: Url = state.settings.checkout_page.clone();
    url.query_pairs_mut()
        .append_pair("clientKey", &state.settings.toss_client_key)
        .append_pair("orderId", &order.id.to_string())
        .append_pair("orderName", &order.order_name)
        .append_pair("amount", &order.amount.as_won().to_string())
        .append_pair("successUrl", state.success_url.as_str())
        .append_pair("failUrl", state.fail_url.as_str())
        .append_pair("validHours", &state.settings.deposit_hours.to_string());
    Ok(CheckoutResponse {
        order_id: order.id,
        amount: order.amount,
        order_name: order.order_name.clone(),
        client_key: state.settings.toss_client_key.clone(),
        checkout_url: url.to_string(),
        success_url: state.success_url.to_string(),
        fail_url: state.fail_url.to_string(),
        status: order.status,
    })
}

/// The buyer is back from the payment window with a `paymentKey`: check the amount against our
/// order, approve at Toss (never inside a database transaction), confirm the reservation — or,
/// if its hold was lost meanwhile, cancel the charge and answer 409 `HOLD_EXPIRED`.
#[utoipa::path(post, path = "/api/payments/confirm", tag = "payments", security(("bearer" = [])),
    request_body = ConfirmRequest,
    responses((status = 200, body = ConfirmResponse),
        (status = 400, description = "`AMOUNT_MISMATCH`", body = Problem),
        (status = 402, description = "`PAYMENT_REJECTED` (with Toss's `toss_code`)", body = Problem),
        (status = 404, description = "`NOT_FOUND`: no order of this buyer has that `order_id`", body = Problem),
        (status = 409, description = "`HOLD_EXPIRED` (any charge is cancelled), `PAYMENT_IN_PROGRESS`, `ORDER_CLOSED`", body = Problem),
        (status = 503, description = "`PAYMENT_PENDING`: not settled yet; ask again (or read the order)", body = Problem)))]
pub async fn confirm(
    State(state): State<PaymentState>,
    AuthUser(caller): AuthUser,
    Json(body): Json<ConfirmRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    let mut check = Validation::default();
    check.check(
        !body.payment_key.is_empty() && body.payment_key.len() <= 200,
        "payment_key",
        "must be 1 to 200 characters",
    );
    check.finish()?;
    let order = owned_order(&state, &body.order_id, &caller, false).await?;
    if body.amount != order.amount.as_won() {
        // Tampered in the browser (or a bug): nothing is sent to Toss, nothing changes.
        return Err(ApiError::new(ErrorCode::AmountMismatch)
            .detail(format!("the order is for {} won", order.amount.as_won()))
            .extra("amount", order.amount.as_won()));
    }
    let settled = match order.status {
        OrderStatus::Created => first_confirm(&state, &order, &body.payment_key).await?,
        OrderStatus::Confirming => {
            let stale = order.confirm_started_at.is_none_or(|at| {
                state.clock.now() - at
                    > chrono::Duration::from_std(state.settings.reconcile_after).unwrap_or(chrono::Duration::MAX)
            });
            if !stale {
                return Err(ApiError::new(ErrorCode::PaymentInProgress).retry_after(1));
            }
            settle::from_toss(&state, &order).await?
        }
        OrderStatus::Failed => return Err(ApiError::new(ErrorCode::OrderClosed)),
        // Confirmed already (a double click, a retry): the same answer again.
        _ => Settled::Pending,
    };
    answer(&state, order.id, settled).await
}

async fn first_confirm(state: &PaymentState, order: &Order, payment_key: &str) -> ApiResult<Settled> {
    // Charging for a hold that is already gone only to refund it helps nobody: near or past its
    // end, look first. (A hold can still be lost while Toss approves, or be cancelled by its
    // buyer meanwhile; settling then cancels the charge.)
    if state.clock.now() + chrono::Duration::minutes(1) >= order.hold_expires_at {
        match state.ticket.reservation(order.reservation_id).await {
            Ok(found) if found.reservation.status == ReservationStatus::Pending => {}
            Ok(_) | Err(TicketError::NotFound) => {
                let facts = orders::Facts::failure("HOLD_EXPIRED", "the seat hold ended before the payment");
                orders::transition(&state.pool, order.id, OrderStatus::Failed, &facts, state.clock.now()).await?;
                return Ok(Settled::HoldLost);
            }
            Err(err) => return Err(ApiError::unavailable(err)),
        }
    }
    let Some(order) = orders::begin_confirm(&state.pool, order, payment_key, state.clock.now()).await? else {
        return Err(ApiError::new(ErrorCode::PaymentInProgress).retry_after(1));
    };
    match settle::confirm_with_toss(state, &order).await? {
        Ok(payment) => settle::settle(state, &order, &payment).await,
        Err(failure) => settle::after_failed_confirm(state, &order, failure).await,
    }
}

async fn answer(state: &PaymentState, id: OrderId, settled: Settled) -> ApiResult<Json<ConfirmResponse>> {
    let order = match &settled {
        Settled::Paid { order: Some(order), .. } => (**order).clone(),
        _ => orders::load(&state.pool, id).await?.ok_or_else(|| no_such("order"))?,
    };
    let reservation = match settled {
        Settled::HoldLost => {
            return Err(ApiError::new(ErrorCode::HoldExpired)
                .detail("the seat hold ended before the payment completed; any charge is cancelled")
                .extra("order_status", order.status));
        }
        Settled::Failed { code } => {
            return Err(ApiError::new(ErrorCode::PaymentRejected)
                .detail(order.failure_message.clone().unwrap_or_default())
                .extra("toss_code", code));
        }
        Settled::Paid { reservation: Some(reservation), .. }
        | Settled::AwaitingDeposit { reservation: Some(reservation) } => reservation,
        _ => match order.status {
            OrderStatus::Created | OrderStatus::Confirming => {
                return Err(ApiError::new(ErrorCode::PaymentPending).retry_after(2));
            }
            OrderStatus::Failed => return Err(ApiError::new(ErrorCode::OrderClosed)),
            _ => match state.ticket.reservation(order.reservation_id).await {
                Ok(found) => found.reservation,
                Err(err) => return Err(ApiError::unavailable(err)),
            },
        },
    };
    // Refunds exist only once an order has left `paid`.
    let refunds = match order.status {
        OrderStatus::Paid | OrderStatus::AwaitingDeposit => Vec::new(),
        _ => orders::refunds_of(&state.pool, order.id).await?,
    };
    Ok(Json(ConfirmResponse { payment: PaymentView::of(&order, refunds), reservation }))
}

/// The order and its payment state (owner or admin).
#[utoipa::path(get, path = "/api/payments/{order_id}", operation_id = "get_payment", tag = "payments", security(("bearer" = [])),
    params(("order_id" = OrderId, Path)),
    responses((status = 200, body = PaymentEnvelope), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<PaymentState>,
    AuthUser(caller): AuthUser,
    Path(order_id): Path<String>,
) -> ApiResult<Json<PaymentEnvelope>> {
    let order = owned_order(&state, &order_id, &caller, true).await?;
    let refunds = orders::refunds_of(&state.pool, order.id).await?;
    Ok(Json(PaymentEnvelope { payment: PaymentView::of(&order, refunds) }))
}

/// The orders of one reservation, newest first (owner or admin): how a ticket page finds its
/// payment, receipt or virtual account.
#[utoipa::path(get, path = "/api/payments", operation_id = "list_payments", tag = "payments", security(("bearer" = [])),
    params(PaymentQuery),
    responses((status = 200, body = PaymentList), (status = 422, description = "`VALIDATION_FAILED`", body = Problem)))]
pub async fn list(
    State(state): State<PaymentState>,
    AuthUser(caller): AuthUser,
    Query(query): Query<PaymentQuery>,
) -> ApiResult<Json<PaymentList>> {
    let reservation = query.reservation_id.parse().map_err(|_| {
        ApiError::validation(vec![FieldError {
            field: "reservation_id".into(),
            message: "must be a reservation id".into(),
        }])
    })?;
    let mut items = Vec::new();
    for order in orders::of_reservation(&state.pool, reservation).await? {
        if order.user_id != caller.sub && caller.role != UserRole::Admin {
            continue;
        }
        let refunds = orders::refunds_of(&state.pool, order.id).await?;
        items.push(PaymentView::of(&order, refunds));
    }
    Ok(Json(PaymentList { items }))
}

/// Refunds all (no `amount`) or part of a paid order (owner or admin). A full refund puts the
/// seats back on sale.
#[utoipa::path(post, path = "/api/payments/{order_id}/cancel", operation_id = "cancel_payment", tag = "payments", security(("bearer" = [])),
    params(("order_id" = OrderId, Path)), request_body = CancelRequest,
    responses((status = 200, body = PaymentEnvelope), (status = 404, body = Problem),
        (status = 409, description = "`NOT_REFUNDABLE`, `REFUND_EXCEEDS_BALANCE`, `REFUND_IN_PROGRESS`, `REFUND_REFUSED`", body = Problem),
        (status = 422, description = "`VALIDATION_FAILED`, `REFUND_ACCOUNT_REQUIRED`", body = Problem)))]
pub async fn cancel(
    State(state): State<PaymentState>,
    AuthUser(caller): AuthUser,
    Path(order_id): Path<String>,
    Json(body): Json<CancelRequest>,
) -> ApiResult<Json<PaymentEnvelope>> {
    let mut check = Validation::default();
    let reason = body.reason.trim();
    check.check(!reason.is_empty() && reason.chars().count() <= 200, "reason", "must be 1 to 200 characters");
    check.check(body.amount.is_none_or(|a| a > 0), "amount", "must be a positive number of won");
    if let Some(account) = &body.refund_account {
        check.check(
            !account.bank.is_empty() && account.bank.len() <= 20,
            "refund_account.bank",
            "a bank code is required",
        );
        check.check(
            !account.account_number.is_empty()
                && account.account_number.len() <= 20
                && account.account_number.chars().all(|c| c.is_ascii_digit() || c == '-'),
            "refund_account.account_number",
            "digits and dashes, at most 20",
        );
        check.check(
            !account.holder_name.trim().is_empty() && account.holder_name.chars().count() <= 60,
            "refund_account.holder_name",
            "must be 1 to 60 characters",
        );
    }
    check.finish()?;
    let order = owned_order(&state, &order_id, &caller, true).await?;
    let ask = RefundAsk {
        reason: reason.to_owned(),
        amount: body.amount,
        account: body.refund_account,
        by: Requester::User(caller.sub),
    };
    let order = refunds::refund(&state, &order, ask).await?;
    let refunds = orders::refunds_of(&state.pool, order.id).await?;
    Ok(Json(PaymentEnvelope { payment: PaymentView::of(&order, refunds) }))
}

/// The order if `caller` owns it (or, with `admin_ok`, is an admin); 404 otherwise — another
/// buyer's order looks like no order.
async fn owned_order(state: &PaymentState, order_id: &str, caller: &AccessClaims, admin_ok: bool) -> ApiResult<Order> {
    let id: OrderId = order_id.parse().map_err(|_| no_such("order"))?;
    let order = orders::load(&state.pool, id).await?.ok_or_else(|| no_such("order"))?;
    let admin = admin_ok && caller.role == UserRole::Admin;
    if order.user_id != caller.sub && !admin {
        return Err(no_such("order"));
    }
    Ok(order)
}

fn no_such(what: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound).detail(format!("no such {what}"))
}

#[cfg(test)]
mod tests {
    use super::order_name;

    #[test]
    fn order_names_fit_toss_limit() {
        assert_eq!(order_name("Seoul Jazz", 2), "Seoul Jazz · 2 seats");
        assert_eq!(order_name("Solo", 1), "Solo · 1 seat");
        let long = order_name(&"가".repeat(300), 4);
        assert_eq!(long.chars().count(), 100);
        assert!(long.ends_with(" · 4 seats"));
    }
}
