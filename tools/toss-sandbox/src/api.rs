//! The REST API (`/v1/payments…`, `/v1/transactions`): Basic auth with the secret key,
//! `Idempotency-Key` on the POSTs (409 `IDEMPOTENT_REQUEST_PROCESSING` while the key's first request
//! is still being answered), `{code, message}` errors, and the latency and connection-drop faults.

use std::io;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::AppState;
use crate::error::TossError;
use crate::store::{CancelRequest, ConfirmRequest, Outcome, Store, StoredAnswer};
use crate::transactions::LookUp;

/// The longest `Idempotency-Key` Toss accepts.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 300;

/// Checks `Authorization: Basic base64("<secret key>:")`. No header, or a well-formed header with
/// another key: 401 `UNAUTHORIZED_KEY`. A header that is not `Basic` with standard base64 of
/// `user:password` (e.g. the colon forgotten): 403 `INCORRECT_BASIC_AUTH_FORMAT`, the status
/// Toss documents for it. The password part is ignored (Toss's is empty).
fn authenticate(headers: &HeaderMap, secret_key: &str) -> Result<(), TossError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(TossError::unauthorized_key());
    };
    let value = value.to_str().map_err(|_| TossError::incorrect_basic_auth_format())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(TossError::incorrect_basic_auth_format)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TossError::incorrect_basic_auth_format());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| TossError::incorrect_basic_auth_format())?;
    let decoded = String::from_utf8(decoded).map_err(|_| TossError::incorrect_basic_auth_format())?;
    let (user, _password) = decoded.split_once(':').ok_or_else(TossError::incorrect_basic_auth_format)?;
    if user != secret_key {
        return Err(TossError::unauthorized_key());
    }
    Ok(())
}

/// The request's `Idempotency-Key`, if any: non-empty, at most 300 characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, TossError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| TossError::invalid_request("Idempotency-Key must be text"))?.trim();
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(TossError::invalid_request("Idempotency-Key must be 1 to 300 characters"));
    }
    Ok(Some(key.to_owned()))
}

fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, TossError> {
    let body = body.map_err(|rejection| TossError::invalid_request(rejection.body_text()))?;
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &body };
    serde_json::from_slice(body).map_err(TossError::invalid_request)
}

fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, TossError> {
    path.map(|Path(value)| value).map_err(|rejection| TossError::invalid_request(rejection.body_text()))
}

/// An answer on its way out, and what it is about (for the order filter of the latency fault).
struct Answer {
    status: StatusCode,
    body: serde_json::Value,
    order_id: Option<String>,
    drop_connection: bool,
    /// Sent at once, whatever the latency fault: nothing was processed for it.
    prompt: bool,
}

impl Answer {
    fn replay(stored: StoredAnswer, order_id: Option<String>) -> Answer {
        Answer { status: stored.status, body: stored.body, order_id, drop_connection: false, prompt: false }
    }

    fn error(error: TossError, order_id: Option<String>) -> Answer {
        Answer { status: error.status, body: error.body(), order_id, drop_connection: false, prompt: false }
    }

    fn from_outcome(outcome: Outcome, order_id: Option<String>) -> Answer {
        let (status, body) = match outcome.result {
            Ok(payment) => (StatusCode::OK, serde_json::to_value(payment).unwrap_or_default()),
            Err(error) => (error.status, error.body()),
        };
        Answer { status, body, order_id, drop_connection: outcome.drop_connection, prompt: false }
    }

    /// Holds the answer back while the latency fault applies, then sends it (or cuts it).
    async fn send(self, app: &AppState) -> Response {
        let latency = if self.prompt { None } else { app.store().faults.latency(self.order_id.as_deref()) };
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        if self.drop_connection {
            warn!(order_id = ?self.order_id, "fault drop_after_approve: cutting the connection instead of answering");
            return cut_connection();
        }
        (self.status, Json(self.body)).into_response()
    }
}

/// A response whose body fails before its first byte: the server closes the connection without
/// completing the HTTP answer, so the client sees a transport error rather than a status.
fn cut_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::other("toss-sandbox fault: drop_after_approve"))
    });
    let mut response = Response::new(Body::from_stream(failing));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A POST under the Idempotency-Key rules: a key seen before replays its first answer whatever
/// this request's body says (error answers included), once that answer has gone out — until then
/// (the latency fault holding it back) the first request is still processing and the key answers
/// 409 `IDEMPOTENT_REQUEST_PROCESSING` at once; a new key records what `run` answers. The
/// look-up, `run` and the recording happen under one lock.
fn idempotent(
    app: &AppState,
    headers: &HeaderMap,
    order_hint: Option<String>,
    run: impl FnOnce(&mut Store) -> Answer,
) -> Answer {
    if let Err(error) = authenticate(headers, &app.keys.secret_key) {
        return Answer::error(error, order_hint);
    }
    let key = match idempotency_key(headers) {
        Ok(key) => key,
        Err(error) => return Answer::error(error, order_hint),
    };
    let mut store = app.store();
    let now = Instant::now();
    if let Some(key) = &key
        && let Some(stored) = store.stored_answer(&app.keys.secret_key, key)
    {
        if stored.answered_at > now {
            info!(idempotency_key = %key, "the first request under this Idempotency-Key is still processing");
            let mut answer = Answer::error(TossError::idempotent_request_processing(), order_hint);
            answer.prompt = true;
            return answer;
        }
        info!(idempotency_key = %key, "replaying the first answer given under this Idempotency-Key");
        return Answer::replay(stored, order_hint);
    }
    let answer = run(&mut store);
    if let Some(key) = &key {
        // The answer goes out once the latency fault has held it back; the key is in flight until then.
        let answered_at = now + store.faults.latency(answer.order_id.as_deref()).unwrap_or_default();
        let stored = StoredAnswer { status: answer.status, body: answer.body.clone(), answered_at };
        store.store_answer(&app.keys.secret_key, key, stored);
    }
    answer
}

/// `POST /v1/payments/confirm`.
pub async fn confirm(State(app): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let request = parse_json::<ConfirmRequest>(body);
    let order_hint = request.as_ref().ok().map(|r| r.order_id.clone());
    let mut events = Vec::new();
    let answer = idempotent(&app, &headers, order_hint.clone(), |store| match request {
        Err(error) => Answer::error(error, order_hint),
        Ok(request) => {
            let mut outcome = store.confirm(&request, Utc::now());
            events = std::mem::take(&mut outcome.events);
            if let Ok(payment) = &outcome.result {
                info!(order_id = %payment.order_id, status = ?payment.status, "payment confirmed");
            }
            Answer::from_outcome(outcome, Some(request.order_id))
        }
    });
    app.webhooks.dispatch(events);
    answer.send(&app).await
}

/// `POST /v1/payments/{paymentKey}/cancel`.
pub async fn cancel(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payment_key = path_param(path);
    let order_hint = payment_key.as_ref().ok().and_then(|key| app.store().order_of(key));
    let request = parse_json::<CancelRequest>(body).and_then(CancelRequest::check);
    let mut events = Vec::new();
    let answer = idempotent(&app, &headers, order_hint.clone(), |store| match (payment_key, request) {
        (Err(error), _) | (_, Err(error)) => Answer::error(error, order_hint),
        (Ok(payment_key), Ok(request)) => {
            let mut outcome = store.cancel(&payment_key, request, Utc::now());
            events = std::mem::take(&mut outcome.events);
            if let Ok(payment) = &outcome.result {
                info!(order_id = %payment.order_id, status = ?payment.status, balance = payment.balance_amount, "payment canceled");
            }
            Answer::from_outcome(outcome, order_hint)
        }
    });
    app.webhooks.dispatch(events);
    answer.send(&app).await
}

/// `GET /v1/payments/{paymentKey}`.
pub async fn get_by_key(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    lookup(&app, path, &headers, |store, payment_key| store.payment(payment_key, Utc::now())).await
}

/// `GET /v1/payments/orders/{orderId}`: the order's latest payment, unconfirmed sessions included.
pub async fn get_by_order(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    lookup(&app, path, &headers, |store, order_id| store.latest_payment_of_order(order_id, Utc::now())).await
}

/// An authenticated look-up of one payment by the path's one parameter.
async fn lookup(
    app: &AppState,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    find: impl FnOnce(&mut crate::store::Store, &str) -> Option<crate::model::Payment>,
) -> Response {
    let answer = match (authenticate(headers, &app.keys.secret_key), path_param(path)) {
        (Err(error), _) | (_, Err(error)) => Answer::error(error, None),
        (Ok(()), Ok(param)) => lookup_answer(find(&mut app.store(), &param)),
    };
    answer.send(app).await
}

/// `GET /v1/transactions?startDate=&endDate=&startingAfter=&limit=`: 200 with the transactions in
/// the range as a JSON array (see [`crate::transactions`]); 400 `INVALID_REQUEST` for a bad query.
pub async fn transactions(State(app): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let listed = authenticate(&headers, &app.keys.secret_key)
        .and_then(|()| LookUp::parse(raw.as_deref()))
        .and_then(|query| app.store().ledger.look_up(&query));
    let answer = match listed {
        Ok(transactions) => Answer {
            status: StatusCode::OK,
            body: json!(transactions),
            order_id: None,
            drop_connection: false,
            prompt: false,
        },
        Err(error) => Answer::error(error, None),
    };
    answer.send(&app).await
}

fn lookup_answer(payment: Option<crate::model::Payment>) -> Answer {
    match payment {
        Some(payment) => {
            let order_id = Some(payment.order_id.clone());
            Answer::from_outcome(Outcome { result: Ok(payment), events: Vec::new(), drop_connection: false }, order_id)
        }
        None => Answer::error(TossError::not_found_payment(), None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn basic_auth_needs_the_trailing_colon() {
        let good = format!("Basic {}", STANDARD.encode("sk:"));
        assert_eq!(authenticate(&headers(&good), "sk"), Ok(()));
        let no_colon = format!("Basic {}", STANDARD.encode("sk"));
        assert_eq!(authenticate(&headers(&no_colon), "sk").unwrap_err().code, "INCORRECT_BASIC_AUTH_FORMAT");
        let other = format!("Basic {}", STANDARD.encode("other:"));
        assert_eq!(authenticate(&headers(&other), "sk").unwrap_err().code, "UNAUTHORIZED_KEY");
        assert_eq!(authenticate(&HeaderMap::new(), "sk").unwrap_err().code, "UNAUTHORIZED_KEY");
        assert_eq!(authenticate(&headers("Bearer x"), "sk").unwrap_err().code, "INCORRECT_BASIC_AUTH_FORMAT");
        assert_eq!(authenticate(&headers("Basic %%%"), "sk").unwrap_err().code, "INCORRECT_BASIC_AUTH_FORMAT");
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers), Ok(None));
        headers.insert("idempotency-key", HeaderValue::from_str(&"k".repeat(300)).unwrap());
        assert!(idempotency_key(&headers).unwrap().is_some());
        headers.insert("idempotency-key", HeaderValue::from_str(&"k".repeat(301)).unwrap());
        assert_eq!(idempotency_key(&headers).unwrap_err().code, "INVALID_REQUEST");
    }
}
