//! Toss's error answer: an HTTP status and `{"code", "message"}`.
//!
//! Statuses and messages are those of docs.tosspayments.com/reference/error-codes ("전체 에러
//! 목록" and the per-API tables), except where a constructor's comment says otherwise.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TossError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl TossError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> TossError {
        TossError { status, code, message: message.into() }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({ "code": self.code, "message": self.message })
    }

    /// 400 `INVALID_REQUEST`: a missing or malformed parameter, with what was wrong.
    pub fn invalid_request(detail: impl std::fmt::Display) -> TossError {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("잘못된 요청입니다. ({detail})"))
    }

    /// 401: no key, or not this sandbox's key.
    pub fn unauthorized_key() -> TossError {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED_KEY", "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.")
    }

    /// 403 (documented so for confirm, lookup and cancel): an `Authorization` header that is not
    /// `Basic` and standard base64 of `key:`.
    pub fn incorrect_basic_auth_format() -> TossError {
        Self::new(
            StatusCode::FORBIDDEN,
            "INCORRECT_BASIC_AUTH_FORMAT",
            "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요.",
        )
    }

    pub fn not_found_payment() -> TossError {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.")
    }

    pub fn not_found_payment_session() -> TossError {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT_SESSION",
            "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
        )
    }

    /// 409: a request with this Idempotency-Key is still being processed (Toss's idempotency-key
    /// guide). The message is the sandbox's own wording; clients decide by `code`.
    pub fn idempotent_request_processing() -> TossError {
        Self::new(
            StatusCode::CONFLICT,
            "IDEMPOTENT_REQUEST_PROCESSING",
            "이전 요청이 아직 처리 중입니다. 잠시 후 다시 시도해주세요.",
        )
    }

    pub fn already_processed_payment() -> TossError {
        Self::new(StatusCode::BAD_REQUEST, "ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다.")
    }

    /// A confirm whose amount differs from the window's. Toss's documentation names no code for
    /// this case; it is a rejected request parameter, so the sandbox answers 400 `INVALID_REQUEST`.
    pub fn amount_mismatch() -> TossError {
        Self::invalid_request("amount: 결제 요청 금액과 승인 요청 금액이 일치하지 않습니다.")
    }

    pub fn provider_error() -> TossError {
        Self::new(StatusCode::BAD_REQUEST, "PROVIDER_ERROR", "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.")
    }

    pub fn failed_internal_system_processing() -> TossError {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.",
        )
    }

    pub fn reject_card_company() -> TossError {
        Self::new(StatusCode::FORBIDDEN, "REJECT_CARD_COMPANY", "결제 승인이 거절되었습니다.")
    }

    pub fn already_canceled_payment() -> TossError {
        Self::new(StatusCode::BAD_REQUEST, "ALREADY_CANCELED_PAYMENT", "이미 취소된 결제 입니다.")
    }

    pub fn not_cancelable_amount() -> TossError {
        Self::new(StatusCode::FORBIDDEN, "NOT_CANCELABLE_AMOUNT", "취소 할 수 없는 금액 입니다.")
    }

    pub fn not_cancelable_payment() -> TossError {
        Self::new(StatusCode::FORBIDDEN, "NOT_CANCELABLE_PAYMENT", "취소 할 수 없는 결제 입니다.")
    }

    pub fn not_allowed_partial_refund_waiting_deposit() -> TossError {
        Self::new(
            StatusCode::FORBIDDEN,
            "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT",
            "입금 대기중인 결제는 부분 환불이 불가합니다.",
        )
    }

    pub fn invalid_refund_account_number() -> TossError {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REFUND_ACCOUNT_NUMBER", "잘못된 환불 계좌번호입니다.")
    }

    pub fn invalid_bank() -> TossError {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_BANK", "유효하지 않은 은행입니다.")
    }

    /// Any path the sandbox does not serve.
    pub fn not_found() -> TossError {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "존재하지 않는 정보 입니다.")
    }

    /// A served path asked with the wrong method (documented as 404 `NOT_FOUND_HTTP_METHOD`).
    pub fn not_found_http_method() -> TossError {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND_HTTP_METHOD", "존재하지 않는 HTTP 메소드 접근입니다.")
    }
}

impl IntoResponse for TossError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
