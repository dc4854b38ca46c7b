//! The sandbox's own API (`/sandbox/…`, no auth, meant for loopback): deposits into virtual
//! accounts, the webhook log, run-time settings, fault injection, and differences planted in the
//! transactions look-up.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tracing::info;

use crate::AppState;
use crate::config::{check_http_url, check_retry_scale};
use crate::error::TossError;
use crate::faults::Faults;
use crate::store::DepositRefusal;
use crate::transactions::{AmountChange, Plant};
use crate::window::render_receipt;

fn parse_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, TossError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TossError::invalid_request("the body must be a JSON object")),
        Err(err) => Err(TossError::invalid_request(err)),
    }
}

/// `POST /sandbox/virtual-accounts/{orderId}/deposit`: the buyer pays into the order's virtual
/// account. 200 with the `DONE` payment; 404 `NOT_FOUND_PAYMENT` for an unknown order; 409
/// `NOT_WAITING_FOR_DEPOSIT` or `DUE_DATE_PASSED` (then `virtualAccount.expired` is true; no
/// webhook is sent for a passed deadline).
pub async fn deposit(State(app): State<AppState>, path: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(order_id)) = path else {
        return TossError::invalid_request("bad order id").into_response();
    };
    let result = app.store().deposit(&order_id, Utc::now());
    match result {
        Ok((payment, events)) => {
            info!(order_id = %order_id, "virtual account deposit: payment DONE");
            app.webhooks.dispatch(events);
            Json(payment).into_response()
        }
        Err(DepositRefusal::NoPayment) => TossError::not_found_payment().into_response(),
        Err(DepositRefusal::NotWaiting) => TossError::new(
            StatusCode::CONFLICT,
            "NOT_WAITING_FOR_DEPOSIT",
            "The order has no virtual account waiting for a deposit.",
        )
        .into_response(),
        Err(DepositRefusal::DueDatePassed) => {
            TossError::new(StatusCode::CONFLICT, "DUE_DATE_PASSED", "The virtual account's due date has passed.")
                .into_response()
        }
    }
}

/// `GET /sandbox/webhooks`: every webhook sent so far, with its attempts.
pub async fn webhooks(State(app): State<AppState>) -> Response {
    Json(app.webhooks.deliveries()).into_response()
}

/// `DELETE /sandbox/webhooks`: forgets the log (deliveries under way go on).
pub async fn clear_webhooks(State(app): State<AppState>) -> Response {
    app.webhooks.clear_deliveries();
    StatusCode::NO_CONTENT.into_response()
}

fn config_view(app: &AppState) -> Value {
    let settings = app.webhooks.settings();
    json!({
        "webhook_url": settings.webhook_url,
        "webhook_retry_scale": settings.webhook_retry_scale,
        "session_ttl_secs": app.session_ttl.as_secs_f64(),
    })
}

/// `GET /sandbox/config`: the run-time settings (never the keys).
pub async fn get_config(State(app): State<AppState>) -> Response {
    Json(config_view(&app)).into_response()
}

/// `PUT /sandbox/config` `{"webhook_url": "http://…" | null, "webhook_retry_scale": 0.001}`: a
/// partial update; a field left out keeps its value, `null` turns webhooks off.
pub async fn put_config(State(app): State<AppState>, body: Bytes) -> Response {
    let fields = match parse_object(&body) {
        Ok(fields) => fields,
        Err(error) => return error.into_response(),
    };
    let url = match fields.get("webhook_url") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(raw)) => match check_http_url(raw) {
            Ok(url) => Some(Some(url)),
            Err(err) => return TossError::invalid_request(format!("webhook_url {err}")).into_response(),
        },
        Some(_) => return TossError::invalid_request("webhook_url must be a URL or null").into_response(),
    };
    let scale = match fields.get("webhook_retry_scale") {
        None => None,
        Some(value) => match value.as_f64().map(check_retry_scale) {
            Some(Ok(scale)) => Some(scale),
            _ => {
                return TossError::invalid_request("webhook_retry_scale must be a number, 0 or more").into_response();
            }
        },
    };
    app.webhooks.update_settings(|settings| {
        if let Some(url) = url {
            settings.webhook_url = url;
        }
        if let Some(scale) = scale {
            settings.webhook_retry_scale = scale;
        }
    });
    info!(settings = ?app.webhooks.settings(), "sandbox settings changed");
    Json(config_view(&app)).into_response()
}

/// `GET /sandbox/faults`.
pub async fn get_faults(State(app): State<AppState>) -> Response {
    Json(app.store().faults.clone()).into_response()
}

/// `PUT /sandbox/faults`: replaces the fault state (missing fields are 0 / null).
pub async fn put_faults(State(app): State<AppState>, body: Bytes) -> Response {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &body };
    let faults: Faults = match serde_json::from_slice(body) {
        Ok(faults) => faults,
        Err(err) => return TossError::invalid_request(err).into_response(),
    };
    info!(?faults, "faults set");
    app.store().faults = faults.clone();
    Json(faults).into_response()
}

/// `DELETE /sandbox/faults`: no faults.
pub async fn clear_faults(State(app): State<AppState>) -> Response {
    app.store().faults = Faults::default();
    info!("faults cleared");
    Json(Faults::default()).into_response()
}

/// `GET /sandbox/receipts/{paymentKey}`.
pub async fn receipt(State(app): State<AppState>, path: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(payment_key)) = path else {
        return TossError::invalid_request("bad payment key").into_response();
    };
    let payment = app.store().payment(&payment_key, Utc::now());
    match payment {
        Some(payment) => render_receipt(&payment),
        None => TossError::not_found_payment().into_response(),
    }
}

/// `POST /sandbox/transactions` `{orderId, paymentKey, amount, status, method?, transactionAt?,
/// transactionKey?}`: a transaction only the look-up shows (Toss "has" it, the merchant does not).
/// 201 with the transaction as listed; 400 `INVALID_REQUEST`; 409 `DUPLICATED_TRANSACTION_KEY`.
pub async fn plant_transaction(State(app): State<AppState>, body: Bytes) -> Response {
    let plant: Plant = match serde_json::from_slice(&body) {
        Ok(plant) => plant,
        Err(err) => return TossError::invalid_request(err).into_response(),
    };
    let planted = app.store().ledger.plant(plant, Utc::now());
    match planted {
        Ok(transaction) => {
            info!(transaction_key = %transaction.transaction_key, order_id = %transaction.order_id, "transaction planted");
            (StatusCode::CREATED, Json(transaction)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// `PATCH /sandbox/transactions/{transactionKey}` `{amount}`: the look-up reports this amount for
/// the transaction; the payment itself is unchanged. 200 with the transaction as listed now; 404
/// `NOT_FOUND_TRANSACTION`.
pub async fn change_transaction_amount(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path(transaction_key)) = path else {
        return TossError::invalid_request("bad transaction key").into_response();
    };
    let change = match serde_json::from_slice::<AmountChange>(&body) {
        Ok(change) if change.amount >= 0 => change,
        Ok(_) => return TossError::invalid_request("amount must be 0 or more").into_response(),
        Err(err) => return TossError::invalid_request(err).into_response(),
    };
    let changed = app.store().ledger.change_amount(&transaction_key, change.amount);
    match changed {
        Some(transaction) => {
            info!(%transaction_key, amount = change.amount, "transaction amount changed in the look-up");
            Json(transaction).into_response()
        }
        None => not_found_transaction().into_response(),
    }
}

/// `DELETE /sandbox/transactions/{transactionKey}`: the look-up leaves the transaction out. 204;
/// 404 `NOT_FOUND_TRANSACTION`.
pub async fn hide_transaction(State(app): State<AppState>, path: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(transaction_key)) = path else {
        return TossError::invalid_request("bad transaction key").into_response();
    };
    let hidden = app.store().ledger.hide(&transaction_key);
    if hidden {
        info!(%transaction_key, "transaction hidden from the look-up");
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found_transaction().into_response()
    }
}

/// `DELETE /sandbox/transactions`: undoes every plant (planted transactions go, changed and hidden
/// ones are restored); the real transactions stay. 204.
pub async fn clear_transaction_plants(State(app): State<AppState>) -> Response {
    app.store().ledger.clear_plants();
    info!("transaction plants cleared");
    StatusCode::NO_CONTENT.into_response()
}

fn not_found_transaction() -> TossError {
    TossError::new(StatusCode::NOT_FOUND, "NOT_FOUND_TRANSACTION", "No transaction has this transactionKey.")
}

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}
