//! The one error type handlers return, and the stable codes clients match on.
//!
//! Every error leaves as `application/problem+json` (`type`, `title`, `status`, `detail`, `code`,
//! and `errors` for validation). 5xx answers are opaque: their cause is logged, never sent.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $code:literal, $title:literal),)*) => {
        /// A stable, machine-readable error identifier. Its string form never changes once shipped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }
            pub const fn status(self) -> StatusCode {
                match self { $(Self::$variant => StatusCode::$status,)* }
            }
            pub const fn title(self) -> &'static str {
                match self { $(Self::$variant => $title,)* }
            }
        }
    };
}

error_codes! {
    MalformedRequest => (BAD_REQUEST, "MALFORMED_REQUEST", "the request body is not valid JSON"),
    ValidationFailed => (UNPROCESSABLE_ENTITY, "VALIDATION_FAILED", "the request has invalid fields"),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "expected application/json"),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "the request body is too large"),
    NotFound => (NOT_FOUND, "NOT_FOUND", "not found"),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed"),
    UpgradeRequired => (UPGRADE_REQUIRED, "UPGRADE_REQUIRED", "this endpoint speaks WebSocket"),
    Unauthenticated => (UNAUTHORIZED, "UNAUTHENTICATED", "authentication required"),
    InvalidToken => (UNAUTHORIZED, "INVALID_TOKEN", "the access token is not valid"),
    TokenExpired => (UNAUTHORIZED, "TOKEN_EXPIRED", "the access token has expired"),
    Forbidden => (FORBIDDEN, "FORBIDDEN", "not allowed for this account"),
    RateLimited => (TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests"),
    ServiceUnavailable => (SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "a dependency is unavailable"),
    Internal => (INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"),
    EmailTaken => (CONFLICT, "EMAIL_TAKEN", "an account with this email already exists"),
    InvalidCredentials => (UNAUTHORIZED, "INVALID_CREDENTIALS", "invalid email or password"),
    InvalidRefreshToken => (UNAUTHORIZED, "INVALID_REFRESH_TOKEN", "the refresh token is not valid"),
    RefreshTokenReused => (UNAUTHORIZED, "REFRESH_TOKEN_REUSED", "the refresh token was already used; its session is revoked"),
    OauthProviderUnknown => (NOT_FOUND, "OAUTH_PROVIDER_UNKNOWN", "no such login provider"),
    OauthStateInvalid => (BAD_REQUEST, "OAUTH_STATE_INVALID", "the login attempt is unknown, expired or from another browser"),
    OauthDenied => (UNAUTHORIZED, "OAUTH_DENIED", "the login provider did not sign the user in"),
    OauthEmailUnverified => (FORBIDDEN, "OAUTH_EMAIL_UNVERIFIED", "the login provider did not vouch for an email address"),
    OauthProviderFailed => (BAD_GATEWAY, "OAUTH_PROVIDER_FAILED", "the login provider did not answer correctly"),
    SeatUnavailable => (CONFLICT, "SEAT_UNAVAILABLE", "some of the seats are not free; nothing was held"),
    NotAdmitted => (FORBIDDEN, "NOT_ADMITTED", "a valid admission token from the waiting room is required"),
    TooManySeats => (UNPROCESSABLE_ENTITY, "TOO_MANY_SEATS", "more seats than one buyer may hold for this event"),
    InvalidSeats => (UNPROCESSABLE_ENTITY, "INVALID_SEATS", "duplicate seats, or seats of another event"),
    SaleNotOpen => (CONFLICT, "SALE_NOT_OPEN", "the sale has not opened yet"),
    SaleClosed => (CONFLICT, "SALE_CLOSED", "the sale has closed"),
    EventCancelled => (CONFLICT, "EVENT_CANCELLED", "the event is cancelled"),
    NotCancellable => (CONFLICT, "NOT_CANCELLABLE", "the reservation cannot be cancelled in its current state"),
    HoldExpired => (CONFLICT, "HOLD_EXPIRED", "the hold on these seats has ended"),
    NotInQueue => (NOT_FOUND, "NOT_IN_QUEUE", "not in this event's waiting room"),
    ProofRequired => (PRECONDITION_REQUIRED, "PROOF_REQUIRED", "solve the waiting room's challenge (in this answer), then join again with X-Queue-Proof"),
    VenueImmutable => (CONFLICT, "VENUE_IMMUTABLE", "an event's venue cannot change once its seats exist"),
    ReservationNotPending => (CONFLICT, "RESERVATION_NOT_PENDING", "only a pending reservation can be paid for"),
    NothingToPay => (CONFLICT, "NOTHING_TO_PAY", "the reservation costs nothing"),
    AmountMismatch => (BAD_REQUEST, "AMOUNT_MISMATCH", "the amount does not match the order"),
    PaymentRejected => (PAYMENT_REQUIRED, "PAYMENT_REJECTED", "the payment was not approved"),
    PaymentInProgress => (CONFLICT, "PAYMENT_IN_PROGRESS", "this order is being confirmed; ask again shortly"),
    PaymentPending => (SERVICE_UNAVAILABLE, "PAYMENT_PENDING", "the payment's outcome is not settled yet; it will be, ask again shortly"),
    OrderClosed => (CONFLICT, "ORDER_CLOSED", "this order failed; check out again for a new one"),
    NotRefundable => (CONFLICT, "NOT_REFUNDABLE", "nothing is captured for this order"),
    RefundExceedsBalance => (CONFLICT, "REFUND_EXCEEDS_BALANCE", "the refund exceeds what is left to refund"),
    RefundInProgress => (CONFLICT, "REFUND_IN_PROGRESS", "another refund of this order is in progress"),
    RefundAccountRequired => (UNPROCESSABLE_ENTITY, "REFUND_ACCOUNT_REQUIRED", "a virtual-account payment is refunded to a bank account: give refund_account"),
    RefundRefused => (CONFLICT, "REFUND_REFUSED", "Toss Payments refused the refund"),
    InvalidWebhook => (BAD_REQUEST, "INVALID_WEBHOOK", "not a Toss Payments webhook"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The `application/problem+json` body (RFC 9457) of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Code-specific members, e.g. `seat_ids` for `SEAT_UNAVAILABLE`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An error a handler returns. Build it from a code, add detail; internal causes stay server-side.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: Option<String>,
    errors: Vec<FieldError>,
    extra: serde_json::Map<String, serde_json::Value>,
    retry_after_secs: Option<u64>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            errors: Vec::new(),
            extra: serde_json::Map::new(),
            retry_after_secs: None,
            source: None,
        }
    }

    /// A failure of ours: logged with its cause chain, answered as an opaque 500.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::Internal).source(source)
    }

    /// A dependency (database, Redis, another service) is down: 503 with `Retry-After`.
    pub fn unavailable(source: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable).source(source).retry_after(2)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut err = Self::new(ErrorCode::ValidationFailed);
        err.errors = errors;
        err
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    pub fn extra(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extra.insert(key.to_owned(), value);
        }
        self
    }

    pub fn source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    fn problem(self) -> Problem {
        let status = self.code.status();
        Problem {
            type_: format!("https://tiketi.dev/problems/{}", self.code.as_str().to_ascii_lowercase()),
            title: self.code.title(),
            status: status.as_u16(),
            detail: if status.is_server_error() { None } else { self.detail },
            code: self.code.as_str(),
            errors: self.errors,
            extra: self.extra,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if let Some(source) = &self.source {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(code = %self.code, error = format!("{source:#}"), "dependency unavailable");
            } else if status.is_server_error() {
                tracing::error!(code = %self.code, error = format!("{source:#}"), "request failed");
            }
        }
        let retry_after = self.retry_after_secs;
        let mut response = (status, axum::Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => Self::unavailable(err),
            other => Self::internal(other),
        }
    }
}

impl From<::redis::RedisError> for ApiError {
    fn from(err: ::redis::RedisError) -> Self {
        if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() || err.is_connection_refusal() {
            Self::unavailable(err)
        } else {
            Self::internal(err)
        }
    }
}

/// The constraint a unique violation hit, if `err` is one — for turning it into a 409.
pub fn unique_violation(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.constraint().unwrap_or("")),
        _ => None,
    }
}

/// Collects invalid fields, then fails with one 422 listing all of them.
#[derive(Debug, Default)]
pub struct Validation(Vec<FieldError>);

impl Validation {
    pub fn check(&mut self, ok: bool, field: &str, message: &str) -> &mut Self {
        if !ok {
            self.0.push(FieldError { field: field.to_owned(), message: message.to_owned() });
        }
        self
    }

    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::validation(self.0)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_detail() {
        let problem =
            ApiError::internal(anyhow::anyhow!("db password is hunter2")).detail("select * from secrets").problem();
        assert_eq!(problem.status, 500);
        assert!(problem.detail.is_none());
    }

    #[test]
    fn codes_are_upper_snake() {
        for code in [ErrorCode::EmailTaken, ErrorCode::RefreshTokenReused, ErrorCode::OauthStateInvalid] {
            assert!(code.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }
}
