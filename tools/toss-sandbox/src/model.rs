//! Toss Payments v1 payloads as the sandbox sends them: the Payment object, its `card`,
//! `virtualAccount`, `cancels[]` entries, the Transaction of the transactions look-up, and the
//! `{code, message}` error.
//!
//! Field names and value shapes follow docs.tosspayments.com (reference/using-api, the cancel
//! guide's sample answers) and answers posted on techchat.tosspayments.com: every documented field
//! is present, absent things are `null`, times are Korea time with a `+09:00` offset.

use chrono::{DateTime, FixedOffset, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API version the sandbox answers as (the `version` field).
pub const API_VERSION: &str = "2022-11-16";
/// The merchant id on every payment.
pub const MERCHANT_ID: &str = "tiketi_sandbox";
/// `method` of a card payment.
pub const METHOD_CARD: &str = "카드";
/// `method` of a virtual-account payment.
pub const METHOD_VIRTUAL_ACCOUNT: &str = "가상계좌";

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
}

impl PaymentStatus {
    /// Whether a confirm has gone through (the order id is then taken: `DUPLICATED_ORDER_ID`).
    pub fn is_confirmed(self) -> bool {
        matches!(self, Self::Done | Self::WaitingForDeposit | Self::Canceled | Self::PartialCanceled)
    }
}

/// The Payment object. Every field Toss documents is serialised, `null` when it does not apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub m_id: String,
    pub last_transaction_key: Option<String>,
    pub payment_key: String,
    pub order_id: String,
    pub order_name: String,
    pub tax_exemption_amount: i64,
    pub status: PaymentStatus,
    pub requested_at: String,
    pub approved_at: Option<String>,
    pub use_escrow: bool,
    pub culture_expense: bool,
    pub card: Option<Card>,
    pub virtual_account: Option<VirtualAccount>,
    pub transfer: Option<Value>,
    pub mobile_phone: Option<Value>,
    pub gift_certificate: Option<Value>,
    pub cash_receipt: Option<Value>,
    pub cash_receipts: Option<Value>,
    pub discount: Option<Value>,
    pub cancels: Option<Vec<Cancel>>,
    /// Virtual accounts only: what each `DEPOSIT_CALLBACK` carries, for the merchant to compare.
    pub secret: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub easy_pay: Option<Value>,
    pub country: String,
    pub failure: Option<Failure>,
    pub is_partial_cancelable: bool,
    pub receipt: Option<Receipt>,
    pub checkout: Option<Checkout>,
    pub currency: String,
    pub total_amount: i64,
    pub balance_amount: i64,
    pub supplied_amount: i64,
    pub vat: i64,
    pub tax_free_amount: i64,
    pub method: Option<String>,
    pub version: String,
    pub metadata: Option<Value>,
}

impl Payment {
    /// A window session the buyer has just authorised: `IN_PROGRESS`, not yet confirmed.
    pub fn in_progress(
        payment_key: String,
        order_id: String,
        order_name: String,
        amount: i64,
        method: &str,
        requested_at: DateTime<Utc>,
        base_url: &str,
    ) -> Payment {
        let (supplied_amount, vat) = split_vat(amount, 0);
        Payment {
            m_id: MERCHANT_ID.to_owned(),
            last_transaction_key: None,
            checkout: Some(Checkout { url: format!("{base_url}/v1/payments/{payment_key}/checkout") }),
            payment_key,
            order_id,
            order_name,
            tax_exemption_amount: 0,
            status: PaymentStatus::InProgress,
            requested_at: kst_rfc3339(requested_at),
            approved_at: None,
            use_escrow: false,
            culture_expense: false,
            card: None,
            virtual_account: None,
            transfer: None,
            mobile_phone: None,
            gift_certificate: None,
            cash_receipt: None,
            cash_receipts: None,
            discount: None,
            cancels: None,
            secret: None,
            kind: "NORMAL".to_owned(),
            easy_pay: None,
            country: "KR".to_owned(),
            failure: None,
            is_partial_cancelable: true,
            receipt: None,
            currency: "KRW".to_owned(),
            total_amount: amount,
            balance_amount: amount,
            supplied_amount,
            vat,
            tax_free_amount: 0,
            method: Some(method.to_owned()),
            version: API_VERSION.to_owned(),
            metadata: None,
        }
    }

    pub fn is_virtual_account(&self) -> bool {
        self.method.as_deref() == Some(METHOD_VIRTUAL_ACCOUNT)
    }

    /// Sets `balanceAmount` and re-derives `suppliedAmount` and `vat` from it, as Toss does after
    /// a cancel (its partial-cancel answers show `suppliedAmount + vat == balanceAmount`).
    pub fn set_balance(&mut self, balance: i64, tax_free_balance: i64) {
        self.balance_amount = balance;
        let (supplied, vat) = split_vat(balance, tax_free_balance);
        self.supplied_amount = supplied;
        self.vat = vat;
    }
}

/// `(suppliedAmount, vat)` of an amount: VAT is a rounded eleventh of the taxable part
/// (Toss's samples: 15000 → 13636 + 1364, 9026 → 8205 + 821).
fn split_vat(amount: i64, tax_free: i64) -> (i64, i64) {
    let taxable = (amount - tax_free).max(0);
    let vat = (taxable + 5) / 11;
    (taxable - vat, vat)
}

/// `Payment.card`: what a card payment was paid with (the sandbox always "uses" the same card).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub amount: i64,
    pub issuer_code: String,
    pub acquirer_code: Option<String>,
    pub number: String,
    pub installment_plan_months: u32,
    pub approve_no: String,
    pub use_card_point: bool,
    /// Korean: "신용", "체크", "기프트".
    pub card_type: String,
    /// Korean: "개인", "법인".
    pub owner_type: String,
    pub acquire_status: String,
    pub is_interest_free: bool,
    pub interest_payer: Option<String>,
}

impl Card {
    pub fn approved(amount: i64) -> Card {
        Card {
            amount,
            issuer_code: "61".to_owned(),
            acquirer_code: Some("61".to_owned()),
            number: "43301234****123*".to_owned(),
            installment_plan_months: 0,
            approve_no: random_digits(8),
            use_card_point: false,
            card_type: "신용".to_owned(),
            owner_type: "개인".to_owned(),
            acquire_status: "READY".to_owned(),
            is_interest_free: false,
            interest_payer: None,
        }
    }
}

/// `Payment.virtualAccount`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccount {
    /// Korean: "일반" or "고정".
    pub account_type: String,
    /// Test-environment accounts start with `X` (docs.tosspayments.com/misc/faq).
    pub account_number: String,
    pub bank_code: String,
    pub customer_name: String,
    /// Documented without an offset, sent with `+09:00` (FACTS.md).
    pub due_date: String,
    pub refund_status: String,
    pub expired: bool,
    pub settlement_status: String,
    pub refund_receive_account: Option<RefundAccountInfo>,
    pub depositor_name: Option<String>,
}

impl VirtualAccount {
    pub fn issued(customer_name: String, due: DateTime<Utc>) -> VirtualAccount {
        VirtualAccount {
            account_type: "일반".to_owned(),
            account_number: format!("X{}", random_digits(13)),
            bank_code: "20".to_owned(),
            customer_name,
            due_date: kst_rfc3339(due),
            refund_status: "NONE".to_owned(),
            expired: false,
            settlement_status: "INCOMPLETED".to_owned(),
            refund_receive_account: None,
            depositor_name: None,
        }
    }
}

/// `virtualAccount.refundReceiveAccount` in answers: the bank is `bankCode` here, while the cancel
/// request names it `bank` (FACTS.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundAccountInfo {
    pub bank_code: String,
    pub account_number: String,
    pub holder_name: String,
}

/// One entry of `Payment.cancels`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    pub transaction_key: String,
    pub cancel_reason: String,
    pub tax_exemption_amount: i64,
    pub canceled_at: String,
    pub easy_pay_discount_amount: i64,
    pub receipt_key: Option<String>,
    pub cancel_amount: i64,
    pub tax_free_amount: i64,
    /// What is left to cancel after this one.
    pub refundable_amount: i64,
    pub cancel_status: String,
    pub cancel_request_id: Option<String>,
}

/// One entry of the transactions look-up (`GET /v1/transactions`): an approval, a virtual
/// account's issuance or deposit, or one cancel of a payment, each with its own `transactionKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub m_id: String,
    pub transaction_key: String,
    pub payment_key: String,
    pub order_id: String,
    pub method: Option<String>,
    pub customer_key: Option<String>,
    pub use_escrow: bool,
    pub receipt_url: Option<String>,
    pub status: PaymentStatus,
    /// Korea time with `+09:00`, whole seconds.
    pub transaction_at: String,
    pub currency: String,
    /// An approval's or deposit's captured total, a cancel's `cancelAmount`, 0 for an issuance.
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkout {
    pub url: String,
}

/// Korea Standard Time, the zone every Toss time is in.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!("+09:00 is a valid offset"))
}

/// `2024-02-13T12:18:14+09:00`: the Payment object's time format.
pub fn kst_rfc3339(time: DateTime<Utc>) -> String {
    time.with_timezone(&kst()).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// `2024-02-13T12:18:14.123456`: a webhook's `createdAt` (Korea time, no offset, microseconds).
pub fn kst_webhook_time(time: DateTime<Utc>) -> String {
    time.with_timezone(&kst()).format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

pub fn random_alphanumeric(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

pub fn random_digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

/// A transaction key as Toss writes them: 32 upper-case hex digits.
pub fn new_transaction_key() -> String {
    let mut rng = rand::thread_rng();
    (0..32).map(|_| char::from(b"0123456789ABCDEF"[rng.gen_range(0..16usize)])).collect()
}

/// A payment key unique to this sandbox: `tsbx_` and 24 alphanumerics.
pub fn new_payment_key() -> String {
    format!("tsbx_{}", random_alphanumeric(24))
}

/// A virtual account's `secret`: `ps_` and 28 alphanumerics, like the samples Toss support posts.
pub fn new_secret() -> String {
    format!("ps_{}", random_alphanumeric(28))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn vat_matches_toss_samples() {
        assert_eq!(split_vat(15_000, 0), (13_636, 1_364));
        assert_eq!(split_vat(30_000, 0), (27_273, 2_727));
        assert_eq!(split_vat(9_026, 0), (8_205, 821));
        assert_eq!(split_vat(0, 0), (0, 0));
    }

    #[test]
    fn times_are_korean() {
        let t = Utc.with_ymd_and_hms(2024, 2, 13, 3, 18, 14).unwrap();
        assert_eq!(kst_rfc3339(t), "2024-02-13T12:18:14+09:00");
        assert_eq!(kst_webhook_time(t), "2024-02-13T12:18:14.000000");
    }

    #[test]
    fn keys_have_their_shapes() {
        assert!(new_payment_key().starts_with("tsbx_") && new_payment_key().len() == 29);
        let tx = new_transaction_key();
        assert!(tx.len() == 32 && tx.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_eq!(random_digits(13).len(), 13);
    }

    #[test]
    fn absent_fields_are_null() {
        let p = Payment::in_progress("k".into(), "order-1".into(), "n".into(), 1000, METHOD_CARD, Utc::now(), "b");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["mId"], MERCHANT_ID);
        assert!(json["card"].is_null() && json["cancels"].is_null() && json["approvedAt"].is_null());
        assert_eq!(json["type"], "NORMAL");
        assert_eq!(json["status"], "IN_PROGRESS");
    }
}
