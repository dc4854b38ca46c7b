//! The sandbox's memory: payments, the orders they belong to, their transactions, idempotent
//! answers, faults, and the rules that move a payment from one status to the next.
//!
//! Everything here is synchronous and runs under one mutex, so a check and the change it guards
//! (and an Idempotency-Key's first answer and its recording) can never interleave.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::TossError;
use crate::faults::Faults;
use crate::model::{
    Cancel, Card, Failure, Payment, PaymentStatus, Receipt, RefundAccountInfo, VirtualAccount, kst_rfc3339,
    new_payment_key, new_secret, new_transaction_key,
};
use crate::transactions::Ledger;
use crate::webhooks::WebhookEvent;

/// The longest `cancelReason` Toss takes.
pub const MAX_CANCEL_REASON_CHARS: usize = 200;

pub struct Store {
    base_url: String,
    session_ttl: Duration,
    pub faults: Faults,
    /// Every approval, deposit and cancel, for `GET /v1/transactions`.
    pub ledger: Ledger,
    payments: HashMap<String, Record>,
    /// Payment keys per order id, oldest first.
    orders: HashMap<String, Vec<String>>,
    /// First answers by (secret key, Idempotency-Key).
    answers: HashMap<(String, String), StoredAnswer>,
}

struct Record {
    payment: Payment,
    created: DateTime<Utc>,
    customer_name: String,
    /// How long a virtual account stays open for the deposit, counted from the confirm.
    valid_hours: u32,
    /// A virtual account's deposit deadline.
    due: Option<DateTime<Utc>>,
}

impl Record {
    /// Applies what time alone changes: an unconfirmed session past its TTL is `EXPIRED` (with the
    /// failure Toss shows for it), a virtual account past its due date is `expired`. Toss sends no
    /// webhook for either, and neither does the sandbox.
    fn refresh(&mut self, now: DateTime<Utc>, ttl: Duration) {
        let payment = &mut self.payment;
        if payment.status == PaymentStatus::InProgress && session_expired(self.created, now, ttl) {
            payment.status = PaymentStatus::Expired;
            payment.failure = Some(Failure {
                code: "EXPIRED_PAYMENT".to_owned(),
                message: "결제가 만료되었습니다. 다시 시도해주세요.".to_owned(),
            });
        }
        if payment.status == PaymentStatus::WaitingForDeposit
            && self.due.is_some_and(|due| now >= due)
            && let Some(account) = payment.virtual_account.as_mut()
        {
            account.expired = true;
        }
    }
}

fn session_expired(created: DateTime<Utc>, now: DateTime<Utc>, ttl: Duration) -> bool {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    created.checked_add_signed(ttl).is_none_or(|deadline| now >= deadline)
}

/// An answer as it was first given under an Idempotency-Key.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub status: StatusCode,
    pub body: serde_json::Value,
    /// When the answer goes out (after the latency fault): until then the first request is still
    /// processing and the key is not replayed.
    pub answered_at: tokio::time::Instant,
}

/// What a state-changing call produced: its answer and the webhooks it owes.
pub struct Outcome {
    pub result: Result<Payment, TossError>,
    pub events: Vec<WebhookEvent>,
    /// `drop_after_approve` fired: the change is made, the answer must not arrive.
    pub drop_connection: bool,
}

impl Outcome {
    fn ok(payment: Payment, events: Vec<WebhookEvent>) -> Outcome {
        Outcome { result: Ok(payment), events, drop_connection: false }
    }

    fn err(error: TossError) -> Outcome {
        Outcome { result: Err(error), events: Vec::new(), drop_connection: false }
    }

    fn err_with(error: TossError, events: Vec<WebhookEvent>) -> Outcome {
        Outcome { result: Err(error), events, drop_connection: false }
    }
}

/// A window session to open.
pub struct NewSession {
    pub order_id: String,
    pub order_name: String,
    pub amount: i64,
    pub method: &'static str,
    pub customer_name: String,
    pub valid_hours: u32,
}

/// `POST /v1/payments/confirm`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub payment_key: String,
    pub order_id: String,
    pub amount: i64,
}

/// `POST /v1/payments/{paymentKey}/cancel`'s body, as sent (checked by [`CancelRequest::check`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub cancel_reason: Option<String>,
    pub cancel_amount: Option<i64>,
    pub refund_receive_account: Option<RefundReceiveAccount>,
    pub tax_free_amount: Option<i64>,
}

/// The account a virtual-account refund goes to; the request names the bank `bank`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundReceiveAccount {
    pub bank: Option<String>,
    pub account_number: Option<String>,
    pub holder_name: Option<String>,
}

/// A cancel request that passed the checks that do not depend on the payment.
pub struct CheckedCancel {
    reason: String,
    amount: Option<i64>,
    tax_free_amount: i64,
    refund_account: Option<RefundReceiveAccount>,
}

impl CancelRequest {
    pub fn check(self) -> Result<CheckedCancel, TossError> {
        let reason = self.cancel_reason.map(|r| r.trim().to_owned()).unwrap_or_default();
        if reason.is_empty() {
            return Err(TossError::invalid_request("cancelReason is required"));
        }
        if reason.chars().count() > MAX_CANCEL_REASON_CHARS {
            return Err(TossError::invalid_request("cancelReason may be at most 200 characters"));
        }
        if self.cancel_amount.is_some_and(|amount| amount <= 0) {
            return Err(TossError::invalid_request("cancelAmount must be positive"));
        }
        let tax_free_amount = self.tax_free_amount.unwrap_or(0);
        if tax_free_amount < 0 || self.cancel_amount.is_some_and(|amount| tax_free_amount > amount) {
            return Err(TossError::invalid_request("taxFreeAmount must be between 0 and cancelAmount"));
        }
        Ok(CheckedCancel {
            reason,
            amount: self.cancel_amount,
            tax_free_amount,
            refund_account: self.refund_receive_account,
        })
    }
}

/// Why `POST /sandbox/virtual-accounts/{orderId}/deposit` could not deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositRefusal {
    /// The order has no payment at all.
    NoPayment,
    /// The order's payment is not waiting for a deposit.
    NotWaiting,
    /// The order's virtual account is past its due date.
    DueDatePassed,
}

impl Store {
    pub fn new(base_url: String, session_ttl: Duration) -> Store {
        Store {
            base_url,
            session_ttl,
            faults: Faults::default(),
            ledger: Ledger::default(),
            payments: HashMap::new(),
            orders: HashMap::new(),
            answers: HashMap::new(),
        }
    }

    // --- Idempotency-Key ---------------------------------------------------------------------

    pub fn stored_answer(&self, secret_key: &str, idempotency_key: &str) -> Option<StoredAnswer> {
        self.answers.get(&(secret_key.to_owned(), idempotency_key.to_owned())).cloned()
    }

    pub fn store_answer(&mut self, secret_key: &str, idempotency_key: &str, answer: StoredAnswer) {
        self.answers.entry((secret_key.to_owned(), idempotency_key.to_owned())).or_insert(answer);
    }

    // --- Look-ups ----------------------------------------------------------------------------

    /// The payment with this key, as it is now.
    pub fn payment(&mut self, payment_key: &str, now: DateTime<Utc>) -> Option<Payment> {
        let ttl = self.session_ttl;
        let record = self.payments.get_mut(payment_key)?;
        record.refresh(now, ttl);
        Some(record.payment.clone())
    }

    /// The latest payment (or unconfirmed session) for an order.
    pub fn latest_payment_of_order(&mut self, order_id: &str, now: DateTime<Utc>) -> Option<Payment> {
        let key = self.orders.get(order_id)?.last()?.clone();
        self.payment(&key, now)
    }

    pub fn order_of(&self, payment_key: &str) -> Option<String> {
        self.payments.get(payment_key).map(|record| record.payment.order_id.clone())
    }

    /// Whether an order id is used up: one of its payments was confirmed (even if since canceled).
    pub fn order_taken(&self, order_id: &str) -> bool {
        self.orders.get(order_id).is_some_and(|keys| {
            keys.iter().filter_map(|key| self.payments.get(key)).any(|record| record.payment.status.is_confirmed())
        })
    }

    // --- The payment window --------------------------------------------------------------------

    /// Opens an `IN_PROGRESS` session the buyer has authorised; its key goes to the success URL.
    pub fn open_session(&mut self, session: NewSession, now: DateTime<Utc>) -> Payment {
        let payment_key = new_payment_key();
        let payment = Payment::in_progress(
            payment_key.clone(),
            session.order_id.clone(),
            session.order_name,
            session.amount,
            session.method,
            now,
            &self.base_url,
        );
        self.payments.insert(
            payment_key.clone(),
            Record {
                payment: payment.clone(),
                created: now,
                customer_name: session.customer_name,
                valid_hours: session.valid_hours,
                due: None,
            },
        );
        self.orders.entry(session.order_id).or_default().push(payment_key);
        payment
    }

    // --- Confirm -------------------------------------------------------------------------------

    /// Confirms an authorised session: a card payment is `DONE`, a virtual account is issued and
    /// `WAITING_FOR_DEPOSIT`. Faults, if set, fire here.
    pub fn confirm(&mut self, request: &ConfirmRequest, now: DateTime<Utc>) -> Outcome {
        let order = Some(request.order_id.as_str());
        if self.faults.take_server_error(order) {
            return Outcome::err(TossError::failed_internal_system_processing());
        }
        if self.faults.take_provider_error(order) {
            return Outcome::err(TossError::provider_error());
        }

        let ttl = self.session_ttl;
        let Some(record) = self.payments.get_mut(&request.payment_key) else {
            return Outcome::err(TossError::not_found_payment_session());
        };
        record.refresh(now, ttl);
        if record.payment.order_id != request.order_id {
            return Outcome::err(TossError::not_found_payment_session());
        }
        match record.payment.status {
            PaymentStatus::InProgress => {}
            PaymentStatus::Expired | PaymentStatus::Ready => {
                return Outcome::err(TossError::not_found_payment_session());
            }
            _ => return Outcome::err(TossError::already_processed_payment()),
        }
        if record.payment.total_amount != request.amount {
            return Outcome::err(TossError::amount_mismatch());
        }

        if self.faults.take_reject_card(order) {
            let error = TossError::reject_card_company();
            let payment = &mut record.payment;
            payment.status = PaymentStatus::Aborted;
            payment.failure = Some(Failure { code: error.code.to_owned(), message: error.message.clone() });
            let events = vec![WebhookEvent::status_changed(payment)];
            return Outcome::err_with(error, events);
        }

        let payment = &mut record.payment;
        let transaction_key = new_transaction_key();
        payment.last_transaction_key = Some(transaction_key.clone());
        payment.receipt = Some(Receipt { url: format!("{}/sandbox/receipts/{}", self.base_url, payment.payment_key) });
        let mut events = Vec::new();
        if payment.is_virtual_account() {
            let due = now + chrono::Duration::hours(i64::from(record.valid_hours));
            record.due = Some(due);
            payment.status = PaymentStatus::WaitingForDeposit;
            payment.virtual_account = Some(VirtualAccount::issued(record.customer_name.clone(), due));
            payment.secret = Some(new_secret());
            events.push(WebhookEvent::deposit_callback(payment));
        } else {
            payment.status = PaymentStatus::Done;
            payment.approved_at = Some(kst_rfc3339(now));
            payment.card = Some(Card::approved(payment.total_amount));
        }
        // An issued virtual account is a transaction of 0 (as Toss lists it); its deposit is another.
        let amount = if payment.status == PaymentStatus::Done { payment.total_amount } else { 0 };
        self.ledger.record(payment, transaction_key, payment.status, amount, now);
        events.push(WebhookEvent::status_changed(payment));
        let payment = payment.clone();
        let drop_connection = self.faults.take_drop_after_approve(order);
        Outcome { result: Ok(payment), events, drop_connection }
    }

    // --- Cancel --------------------------------------------------------------------------------

    /// Cancels all of a payment's balance or part of it.
    pub fn cancel(&mut self, payment_key: &str, request: CheckedCancel, now: DateTime<Utc>) -> Outcome {
        let order = self.order_of(payment_key);
        if self.faults.take_server_error(order.as_deref()) {
            return Outcome::err(TossError::failed_internal_system_processing());
        }

        let ttl = self.session_ttl;
        let Some(record) = self.payments.get_mut(payment_key) else {
            return Outcome::err(TossError::not_found_payment());
        };
        record.refresh(now, ttl);
        let payment = &mut record.payment;
        match payment.status {
            PaymentStatus::Done | PaymentStatus::PartialCanceled | PaymentStatus::WaitingForDeposit => {}
            PaymentStatus::Canceled => return Outcome::err(TossError::already_canceled_payment()),
            PaymentStatus::Ready | PaymentStatus::InProgress | PaymentStatus::Aborted | PaymentStatus::Expired => {
                return Outcome::err(TossError::not_cancelable_payment());
            }
        }
        if payment.balance_amount == 0 {
            return Outcome::err(TossError::already_canceled_payment());
        }
        let amount = request.amount.unwrap_or(payment.balance_amount);
        if amount > payment.balance_amount {
            return Outcome::err(TossError::not_cancelable_amount());
        }
        if request.amount.is_none() && request.tax_free_amount > amount {
            return Outcome::err(TossError::invalid_request("taxFreeAmount must be between 0 and cancelAmount"));
        }

        let mut refund_to = None;
        if payment.status == PaymentStatus::WaitingForDeposit {
            // Nothing was paid yet: the account is closed as a whole, no refund account needed.
            if amount < payment.balance_amount {
                return Outcome::err(TossError::not_allowed_partial_refund_waiting_deposit());
            }
        } else if payment.is_virtual_account() {
            // Money came in by bank transfer and goes back the same way: Toss needs an account.
            // The docs name no code for a missing one; it is a missing parameter, 400
            // `INVALID_REQUEST`.
            match check_refund_account(request.refund_account.as_ref()) {
                Ok(account) => refund_to = Some(account),
                Err(error) => return Outcome::err(error),
            }
        }

        let transaction_key = new_transaction_key();
        let balance = payment.balance_amount - amount;
        let tax_free_balance = (payment.tax_free_amount - request.tax_free_amount).max(0);
        payment.cancels.get_or_insert_with(Vec::new).push(Cancel {
            transaction_key: transaction_key.clone(),
            cancel_reason: request.reason,
            tax_exemption_amount: 0,
            canceled_at: kst_rfc3339(now),
            easy_pay_discount_amount: 0,
            receipt_key: None,
            cancel_amount: amount,
            tax_free_amount: request.tax_free_amount,
            refundable_amount: balance,
            cancel_status: "DONE".to_owned(),
            cancel_request_id: None,
        });
        payment.set_balance(balance, tax_free_balance);
        payment.tax_free_amount = tax_free_balance;
        payment.status = if balance == 0 { PaymentStatus::Canceled } else { PaymentStatus::PartialCanceled };
        payment.last_transaction_key = Some(transaction_key.clone());
        self.ledger.record(payment, transaction_key, payment.status, amount, now);
        if let (Some(account), Some(virtual_account)) = (refund_to, payment.virtual_account.as_mut()) {
            virtual_account.refund_receive_account = Some(account);
            virtual_account.refund_status = "COMPLETED".to_owned();
        }

        let mut events = Vec::new();
        if payment.is_virtual_account() {
            events.push(WebhookEvent::deposit_callback(payment));
        }
        events.push(WebhookEvent::status_changed(payment));
        Outcome::ok(payment.clone(), events)
    }

    // --- Deposits (sandbox only) ---------------------------------------------------------------

    /// The buyer pays into the order's virtual account: `WAITING_FOR_DEPOSIT` becomes `DONE`.
    pub fn deposit(
        &mut self,
        order_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Payment, Vec<WebhookEvent>), DepositRefusal> {
        let ttl = self.session_ttl;
        let keys = self.orders.get(order_id).ok_or(DepositRefusal::NoPayment)?;
        for key in keys {
            if let Some(record) = self.payments.get_mut(key) {
                record.refresh(now, ttl);
            }
        }
        let waiting = keys.iter().rev().find(|key| {
            self.payments.get(*key).is_some_and(|record| record.payment.status == PaymentStatus::WaitingForDeposit)
        });
        let record = waiting.and_then(|key| self.payments.get_mut(key)).ok_or(DepositRefusal::NotWaiting)?;
        if record.due.is_some_and(|due| now >= due) {
            return Err(DepositRefusal::DueDatePassed);
        }
        let payment = &mut record.payment;
        payment.status = PaymentStatus::Done;
        payment.approved_at = Some(kst_rfc3339(now));
        let transaction_key = new_transaction_key();
        payment.last_transaction_key = Some(transaction_key.clone());
        self.ledger.record(payment, transaction_key, PaymentStatus::Done, payment.total_amount, now);
        let events = vec![WebhookEvent::deposit_callback(payment), WebhookEvent::status_changed(payment)];
        Ok((payment.clone(), events))
    }
}

/// A refund account must name a bank, an account number of digits (at most 20, dashes allowed)
/// and a holder; answered with the bank under `bankCode`.
fn check_refund_account(account: Option<&RefundReceiveAccount>) -> Result<RefundAccountInfo, TossError> {
    let Some(account) = account else {
        return Err(TossError::invalid_request("refundReceiveAccount is required to refund a virtual account"));
    };
    let field = |value: &Option<String>| value.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let (bank, number, holder) = (field(&account.bank), field(&account.account_number), field(&account.holder_name));
    if bank.is_empty() || number.is_empty() || holder.is_empty() {
        return Err(TossError::invalid_request("refundReceiveAccount needs bank, accountNumber and holderName"));
    }
    if bank.chars().count() > 20 || !bank.chars().all(|c| c.is_ascii_alphanumeric() || c > '\u{7f}') {
        return Err(TossError::invalid_bank());
    }
    let digits: String = number.chars().filter(|c| *c != '-').collect();
    if digits.is_empty() || digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(TossError::invalid_refund_account_number());
    }
    if holder.chars().count() > 60 {
        return Err(TossError::invalid_request("refundReceiveAccount.holderName may be at most 60 characters"));
    }
    Ok(RefundAccountInfo { bank_code: bank, account_number: digits, holder_name: holder })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::model::METHOD_VIRTUAL_ACCOUNT;

    fn issued_virtual_account(store: &mut Store, now: DateTime<Utc>) -> Payment {
        let session = NewSession {
            order_id: "order-due-1".into(),
            order_name: "ticket".into(),
            amount: 5000,
            method: METHOD_VIRTUAL_ACCOUNT,
            customer_name: "김토스".into(),
            valid_hours: 2,
        };
        let payment = store.open_session(session, now);
        let request = ConfirmRequest { payment_key: payment.payment_key, order_id: "order-due-1".into(), amount: 5000 };
        store.confirm(&request, now).result.unwrap()
    }

    #[test]
    fn a_deposit_after_the_due_date_is_refused_and_marks_the_account_expired() {
        let mut store = Store::new("http://sandbox".into(), Duration::from_secs(600));
        let now = Utc::now();
        let payment = issued_virtual_account(&mut store, now);
        assert_eq!(payment.status, PaymentStatus::WaitingForDeposit);

        let late = now + chrono::Duration::hours(2);
        assert_eq!(store.deposit("order-due-1", late).unwrap_err(), DepositRefusal::DueDatePassed);
        let seen = store.payment(&payment.payment_key, late).unwrap();
        assert_eq!(seen.status, PaymentStatus::WaitingForDeposit);
        assert!(seen.virtual_account.unwrap().expired);
    }

    #[test]
    fn a_deposit_before_the_due_date_completes_the_payment() {
        let mut store = Store::new("http://sandbox".into(), Duration::from_secs(600));
        let now = Utc::now();
        issued_virtual_account(&mut store, now);
        let (payment, events) = store.deposit("order-due-1", now + chrono::Duration::minutes(119)).unwrap();
        assert_eq!(payment.status, PaymentStatus::Done);
        assert!(payment.approved_at.is_some());
        let kinds: Vec<_> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, ["DEPOSIT_CALLBACK", "PAYMENT_STATUS_CHANGED"]);
        assert_eq!(store.deposit("order-due-1", now).unwrap_err(), DepositRefusal::NotWaiting);
        assert_eq!(store.deposit("order-other", now).unwrap_err(), DepositRefusal::NoPayment);
    }

    #[test]
    fn an_idempotent_answer_is_kept_once() {
        let mut store = Store::new("http://sandbox".into(), Duration::from_secs(600));
        let answered_at = tokio::time::Instant::now();
        let first = StoredAnswer { status: StatusCode::OK, body: serde_json::json!({"n": 1}), answered_at };
        store.store_answer("sk", "k", first);
        let second = StoredAnswer { status: StatusCode::BAD_REQUEST, body: serde_json::json!({}), answered_at };
        store.store_answer("sk", "k", second);
        assert_eq!(store.stored_answer("sk", "k").unwrap().status, StatusCode::OK);
        assert!(store.stored_answer("other_sk", "k").is_none());
    }
}
