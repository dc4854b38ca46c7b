//! Toss Payments v1 payloads, as documented (docs.tosspayments.com/reference): only the fields
//! Tiketi reads. Unknown fields are ignored, and anything that may be null or absent is an
//! `Option`, so a new or missing field never fails a payment.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// `Payment.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Ready,
    InProgress,
    WaitingForDeposit,
    Done,
    Canceled,
    PartialCanceled,
    Aborted,
    Expired,
    /// A status this code does not know yet: treated as "not settled".
    #[serde(other)]
    Unknown,
}

/// The Payment object (abridged).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_key: String,
    pub order_id: String,
    pub status: PaymentStatus,
    /// Korean: "카드", "가상계좌", "간편결제", …
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub approved_at: Option<DateTime<Utc>>,
    pub total_amount: i64,
    pub balance_amount: i64,
    #[serde(default)]
    pub virtual_account: Option<VirtualAccount>,
    /// Virtual accounts: what `DEPOSIT_CALLBACK` must carry.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub receipt: Option<Receipt>,
    #[serde(default)]
    pub cancels: Option<Vec<Cancel>>,
    #[serde(default)]
    pub failure: Option<Failure>,
}

impl Payment {
    pub fn is_virtual_account(&self) -> bool {
        self.virtual_account.is_some() || self.method.as_deref() == Some(METHOD_VIRTUAL_ACCOUNT)
    }

    /// What has been refunded so far.
    pub fn cancelled_amount(&self) -> i64 {
        self.total_amount - self.balance_amount
    }
}

pub const METHOD_VIRTUAL_ACCOUNT: &str = "가상계좌";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccount {
    #[serde(default)]
    pub account_number: Option<String>,
    #[serde(default)]
    pub bank_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expired: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    pub cancel_amount: i64,
    #[serde(default)]
    pub transaction_key: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub canceled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /v1/payments/confirm`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest<'a> {
    pub payment_key: &'a str,
    pub order_id: &'a str,
    pub amount: i64,
}

/// `POST /v1/payments/{paymentKey}/cancel`. No `cancel_amount` cancels the whole balance.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub cancel_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_receive_account: Option<RefundReceiveAccount>,
}

impl CancelRequest {
    /// Cancels the whole remaining balance (no refund account: a card, or an unpaid virtual account).
    pub fn whole(reason: &str) -> Self {
        Self { cancel_reason: reason.to_owned(), cancel_amount: None, refund_receive_account: None }
    }
}

/// Where a virtual-account refund goes. Requests say `bank`; responses say `bankCode`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundReceiveAccount {
    pub bank: String,
    pub account_number: String,
    pub holder_name: String,
}

/// An error answer: `{"code", "message"}`. Decisions go by `code`, never by message.
#[derive(Debug, Clone, Deserialize, thiserror::Error)]
#[error("Toss answered {status} {code}")]
pub struct TossError {
    #[serde(skip)]
    pub status: u16,
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// Toss's answer to a request whose Idempotency-Key belongs to a request it is still processing.
pub const IDEMPOTENT_REQUEST_PROCESSING: &str = "IDEMPOTENT_REQUEST_PROCESSING";

impl TossError {
    /// Worth another attempt (with a new Idempotency-Key: the old one replays this answer).
    pub fn is_retryable(&self) -> bool {
        !self.is_in_progress()
            && (self.status >= 500
                || matches!(
                    self.code.as_str(),
                    "PROVIDER_ERROR"
                        | "FAILED_INTERNAL_SYSTEM_PROCESSING"
                        | "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING"
                ))
    }

    /// An earlier request with the same Idempotency-Key is still being processed: its outcome is
    /// not known yet, so this is no refusal. Ask again with the same key (a new key could make a
    /// second request); once the first finishes, the key replays its answer.
    pub fn is_in_progress(&self) -> bool {
        self.code == IDEMPOTENT_REQUEST_PROCESSING
    }
}

/// A webhook body: `PAYMENT_STATUS_CHANGED` is `{eventType, createdAt, data: Payment}`;
/// `DEPOSIT_CALLBACK` is flat `{createdAt, secret, status, transactionKey, orderId}`.
#[derive(Debug, Clone)]
pub enum Webhook {
    /// `status` and `balance_amount` are what the (unsigned) body claims: never acted upon.
    PaymentStatusChanged {
        created_at: Option<DateTime<Utc>>,
        payment_key: String,
        order_id: String,
        status: PaymentStatus,
        balance_amount: Option<i64>,
    },
    DepositCallback {
        created_at: Option<DateTime<Utc>>,
        secret: String,
        status: PaymentStatus,
        order_id: String,
    },
    /// Another event type (payouts, seller changes, …): stored, not applied.
    Other {
        event_type: String,
    },
}

impl Webhook {
    pub fn parse(body: &serde_json::Value) -> Result<Self, String> {
        let created_at = body.get("createdAt").and_then(|v| v.as_str()).and_then(parse_time);
        let text = |value: Option<&serde_json::Value>, name: &str| {
            value.and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| format!("{name} is missing"))
        };
        match body.get("eventType").and_then(|v| v.as_str()) {
            Some("PAYMENT_STATUS_CHANGED") => {
                let data = body.get("data").ok_or("data is missing")?;
                Ok(Self::PaymentStatusChanged {
                    created_at,
                    payment_key: text(data.get("paymentKey"), "data.paymentKey")?,
                    order_id: text(data.get("orderId"), "data.orderId")?,
                    status: serde_json::from_value(data.get("status").cloned().unwrap_or_default())
                        .unwrap_or(PaymentStatus::Unknown),
                    balance_amount: data.get("balanceAmount").and_then(|v| v.as_i64()),
                })
            }
            Some("DEPOSIT_CALLBACK") | None if body.get("secret").is_some() => {
                let status: PaymentStatus = serde_json::from_value(body.get("status").cloned().unwrap_or_default())
                    .map_err(|_| "status is missing".to_owned())?;
                Ok(Self::DepositCallback {
                    created_at,
                    secret: text(body.get("secret"), "secret")?,
                    status,
                    order_id: text(body.get("orderId"), "orderId")?,
                })
            }
            Some(other) => Ok(Self::Other { event_type: other.to_owned() }),
            None => Err("neither an eventType nor a deposit callback".to_owned()),
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Self::PaymentStatusChanged { .. } => "PAYMENT_STATUS_CHANGED",
            Self::DepositCallback { .. } => "DEPOSIT_CALLBACK",
            Self::Other { event_type } => event_type,
        }
    }

    pub fn order_id(&self) -> Option<&str> {
        match self {
            Self::PaymentStatusChanged { order_id, .. } | Self::DepositCallback { order_id, .. } => Some(order_id),
            Self::Other { .. } => None,
        }
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::PaymentStatusChanged { created_at, .. } | Self::DepositCallback { created_at, .. } => *created_at,
            Self::Other { .. } => None,
        }
    }
}

/// Toss times: RFC 3339 with an offset (`2024-02-13T12:18:14+09:00`), or — in webhooks — without
/// one and with any number of fraction digits (`2024-02-13T12:18:14.123456`), meaning Korea time.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let korea = FixedOffset::east_opt(9 * 3600)?;
    korea.from_local_datetime(&naive).single().map(|at| at.with_timezone(&Utc))
}

fn lenient_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.as_deref().and_then(parse_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_and_without_offsets() {
        let with = parse_time("2024-02-13T12:18:14+09:00").unwrap();
        assert_eq!(with.to_rfc3339(), "2024-02-13T03:18:14+00:00");
        assert_eq!(parse_time("2024-02-13T12:18:14"), Some(with));
        let micros = parse_time("2024-02-13T12:18:14.123456").unwrap();
        assert_eq!(micros.timestamp_subsec_micros(), 123_456);
        assert_eq!(parse_time("2024-02-13T12:18:14.1").unwrap().timestamp_subsec_millis(), 100);
        assert_eq!(parse_time("yesterday"), None);
    }

    /// The card payment example of docs.tosspayments.com/reference#payment-객체 (abridged; the
    /// fields Tiketi does not read are kept to show they are ignored).
    #[test]
    fn a_documented_card_payment_parses() {
        let json = r#"{
          "mId": "tosspayments", "lastTransactionKey": "9C62B18EEF0DE3EB7F4422EB6D14BC6E",
          "paymentKey": "5EnNZRJGvaBX7zk2yd8ydw26XvwXkLrx9POLqKQjmAw4b0e1", "orderId": "a4CWyWY5m89PNh7xJwhk1",
          "orderName": "토스 티셔츠 외 2건", "taxExemptionAmount": 0, "status": "DONE",
          "requestedAt": "2024-02-13T12:17:57+09:00", "approvedAt": "2024-02-13T12:18:14+09:00",
          "useEscrow": false, "cultureExpense": false,
          "card": {"issuerCode": "71", "acquirerCode": "71", "number": "12345678****000*", "installmentPlanMonths": 0,
                   "isInterestFree": false, "interestPayer": null, "approveNo": "00000000", "useCardPoint": false,
                   "cardType": "신용", "ownerType": "개인", "acquireStatus": "READY", "amount": 1000},
          "virtualAccount": null, "transfer": null, "mobilePhone": null, "giftCertificate": null,
          "cashReceipt": null, "cashReceipts": null, "discount": null, "cancels": null, "secret": null,
          "type": "NORMAL", "easyPay": {"provider": "토스페이", "amount": 0, "discountAmount": 0},
          "country": "KR", "failure": null, "isPartialCancelable": true,
          "receipt": {"url": "https://dashboard.tosspayments.com/receipt/redirection?transactionId=tviva20240213121757MvuS8&ref=PX"},
          "checkout": {"url": "https://api.tosspayments.com/v1/payments/5EnNZRJGvaBX7zk2yd8ydw26XvwXkLrx9POLqKQjmAw4b0e1/checkout"},
          "currency": "KRW", "totalAmount": 1000, "balanceAmount": 1000, "suppliedAmount": 909, "vat": 91,
          "taxFreeAmount": 0, "method": "카드", "version": "2022-11-16", "metadata": null
        }"#;
        let payment: Payment = serde_json::from_str(json).unwrap();
        assert_eq!(payment.status, PaymentStatus::Done);
        assert_eq!(payment.order_id, "a4CWyWY5m89PNh7xJwhk1");
        assert_eq!(payment.total_amount, 1000);
        assert_eq!(payment.approved_at, parse_time("2024-02-13T03:18:14Z"));
        assert!(payment.receipt.unwrap().url.unwrap().starts_with("https://dashboard.tosspayments.com/"));
        assert!(payment.cancels.is_none_or(|c| c.is_empty()));
    }

    /// A virtual account waiting for its deposit, as a confirm answers it: 200, `approvedAt` null,
    /// `dueDate` with `+09:00` although documented without.
    #[test]
    fn a_waiting_virtual_account_parses() {
        let json = r#"{
          "paymentKey": "k", "orderId": "order-1", "status": "WAITING_FOR_DEPOSIT", "method": "가상계좌",
          "approvedAt": null, "totalAmount": 15000, "balanceAmount": 15000, "secret": "ps_abc",
          "virtualAccount": {"accountType": "일반", "accountNumber": "X6505636518308", "bankCode": "20",
            "customerName": "박토스", "dueDate": "2024-02-20T12:18:14+09:00", "refundStatus": "NONE",
            "expired": false, "settlementStatus": "INCOMPLETED", "refundReceiveAccount": null},
          "someFieldAddedNextYear": {"x": 1}
        }"#;
        let payment: Payment = serde_json::from_str(json).unwrap();
        assert_eq!(payment.status, PaymentStatus::WaitingForDeposit);
        assert!(payment.is_virtual_account());
        assert_eq!(payment.approved_at, None);
        let account = payment.virtual_account.unwrap();
        assert_eq!(account.due_date, parse_time("2024-02-20T03:18:14Z"));
        assert_eq!(account.bank_code.as_deref(), Some("20"));
    }

    #[test]
    fn an_unknown_status_is_not_an_error() {
        let status: PaymentStatus = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(status, PaymentStatus::Unknown);
    }

    #[test]
    fn webhooks_of_both_shapes() {
        let changed = serde_json::json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2022-01-01T00:00:00.000000",
            "data": {"paymentKey": "pk", "orderId": "order-1", "status": "DONE"}});
        let Webhook::PaymentStatusChanged { payment_key, order_id, created_at, .. } = Webhook::parse(&changed).unwrap()
        else {
            panic!("wrong kind")
        };
        assert_eq!((payment_key.as_str(), order_id.as_str()), ("pk", "order-1"));
        assert_eq!(created_at, parse_time("2021-12-31T15:00:00Z"));

        let deposit = serde_json::json!({"createdAt": "2022-01-01T00:00:00.000", "secret": "s", "status": "DONE",
            "transactionKey": "t", "orderId": "order-1"});
        assert!(matches!(
            Webhook::parse(&deposit).unwrap(),
            Webhook::DepositCallback { status: PaymentStatus::Done, .. }
        ));
        let payout = serde_json::json!({"eventType": "PAYOUT_STATUS_CHANGED", "data": {}});
        assert_eq!(Webhook::parse(&payout).unwrap().kind(), "PAYOUT_STATUS_CHANGED");
        assert!(Webhook::parse(&serde_json::json!({"hello": 1})).is_err());
        let no_key = serde_json::json!({"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": "o"}});
        assert!(Webhook::parse(&no_key).is_err());
    }

    #[test]
    fn retries_go_by_code() {
        let err = |status, code: &str| TossError { status, code: code.into(), message: String::new() };
        assert!(err(400, "PROVIDER_ERROR").is_retryable());
        assert!(err(500, "ANYTHING").is_retryable());
        assert!(!err(403, "REJECT_CARD_COMPANY").is_retryable());
        assert!(!err(400, "ALREADY_PROCESSED_PAYMENT").is_retryable());
    }

    #[test]
    fn a_request_still_processing_is_neither_a_refusal_nor_a_retry_with_a_new_key() {
        let err = |status, code: &str| TossError { status, code: code.into(), message: String::new() };
        for status in [409, 400, 500] {
            let processing = err(status, IDEMPOTENT_REQUEST_PROCESSING);
            assert!(processing.is_in_progress(), "{status}");
            assert!(!processing.is_retryable(), "{status}: a new key could approve twice");
        }
        assert!(!err(409, "ALREADY_PROCESSED_PAYMENT").is_in_progress(), "decided by code, not status");
    }
}
