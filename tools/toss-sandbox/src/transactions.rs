//! Toss's transactions look-up (`GET /v1/transactions`, "거래 조회") and the differences tests
//! plant in it (`/sandbox/transactions`).
//!
//! Every approval, every virtual-account issuance and deposit, and every cancel is a transaction
//! with its own `transactionKey` (an approval's is the Payment's `lastTransactionKey` at that
//! moment, a cancel's is its `cancels[]` entry's). The look-up lists those whose `transactionAt`
//! lies in `[startDate, endDate]`, ordered by `transactionAt` then `transactionKey`, `limit` at a
//! time (100 by default, at most 10000), after the `startingAfter` transaction if given.
//!
//! Sources: docs.tosspayments.com/guides/apis/transactions (the range is on `transactionAt`,
//! date-times without an offset, sample answers) and the API reference (`limit`, not re-read
//! here); a captured Toss answer in the tosspayments-rs client's tests shows a virtual account's
//! issuance as a `WAITING_FOR_DEPOSIT` transaction with `amount` 0.

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeZone, Utc};
use serde::Deserialize;

use crate::error::TossError;
use crate::model::{
    MERCHANT_ID, METHOD_CARD, Payment, PaymentStatus, Transaction, kst, kst_rfc3339, new_transaction_key,
};
use crate::window::valid_order_id;

/// `limit` when the request names none.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` Toss accepts.
pub const MAX_LIMIT: usize = 10_000;

/// A checked `GET /v1/transactions` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookUp {
    /// Inclusive, like `endDate` (Toss's samples ask `…T00:00:00` to `…T23:59:59`).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub starting_after: Option<String>,
    pub limit: usize,
}

impl LookUp {
    /// Reads `startDate`, `endDate` (both required), `startingAfter` and `limit` from the raw query.
    pub fn parse(raw: Option<&str>) -> Result<LookUp, TossError> {
        let params: HashMap<String, String> =
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
        let param = |name: &str| params.get(name).map(|value| value.trim()).filter(|value| !value.is_empty());
        let date = |name: &str| {
            let value = param(name).ok_or_else(|| TossError::invalid_request(format!("{name} is required")))?;
            parse_time(value).ok_or_else(|| TossError::invalid_request(bad_time(name, value)))
        };
        let start = date("startDate")?;
        let end = date("endDate")?;
        if end < start {
            return Err(TossError::invalid_request("endDate must not be before startDate"));
        }
        let limit = match param("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => return Err(TossError::invalid_request("limit must be a whole number from 1 to 10000")),
            },
        };
        Ok(LookUp { start, end, starting_after: param("startingAfter").map(str::to_owned), limit })
    }
}

/// A date-time as Toss documents it, Korea time without an offset (`2026-12-01T00:00:00`, a
/// fraction allowed), or one with an offset (`…+09:00`, `…Z`).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    kst().from_local_datetime(&local).single().map(|time| time.with_timezone(&Utc))
}

fn bad_time(name: &str, value: &str) -> String {
    // An unencoded `+09:00` arrives as ` 09:00`: say so rather than only "bad date".
    let hint = if value.contains(' ') { "; a '+' in a query string must be sent as %2B" } else { "" };
    format!("{name} must be an ISO-8601 date-time such as 2026-12-01T00:00:00{hint}")
}

/// `POST /sandbox/transactions`'s body: a transaction Toss "has" that the merchant never made.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plant {
    pub order_id: String,
    pub payment_key: String,
    pub amount: i64,
    pub status: PaymentStatus,
    /// `카드` unless given.
    pub method: Option<String>,
    /// Now unless given; read like `startDate`.
    pub transaction_at: Option<String>,
    /// A new random key unless given.
    pub transaction_key: Option<String>,
}

/// `PATCH /sandbox/transactions/{transactionKey}`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountChange {
    pub amount: i64,
}

/// One transaction as the sandbox keeps it.
struct Entry {
    /// When it happened, to the nanosecond, so transactions within one second keep the order
    /// they happened in; `transactionAt` shows it to the second.
    at: DateTime<Utc>,
    transaction: Transaction,
    /// Added by `POST /sandbox/transactions`.
    planted: bool,
    /// Set by `PATCH /sandbox/transactions/{key}`: what the look-up reports instead.
    reported_amount: Option<i64>,
    /// Set by `DELETE /sandbox/transactions/{key}`: left out of the look-up.
    hidden: bool,
}

impl Entry {
    fn reported(&self) -> Transaction {
        let mut transaction = self.transaction.clone();
        if let Some(amount) = self.reported_amount {
            transaction.amount = amount;
        }
        transaction
    }

    fn position(&self) -> (DateTime<Utc>, &str) {
        (self.at, &self.transaction.transaction_key)
    }
}

/// Every transaction so far, with the plants.
#[derive(Default)]
pub struct Ledger {
    entries: Vec<Entry>,
}

impl Ledger {
    /// Records a transaction of `payment` (taken as it is after the change).
    pub fn record(
        &mut self,
        payment: &Payment,
        transaction_key: String,
        status: PaymentStatus,
        amount: i64,
        at: DateTime<Utc>,
    ) {
        let transaction = Transaction {
            m_id: payment.m_id.clone(),
            transaction_key,
            payment_key: payment.payment_key.clone(),
            order_id: payment.order_id.clone(),
            method: payment.method.clone(),
            customer_key: None,
            use_escrow: payment.use_escrow,
            receipt_url: payment.receipt.as_ref().map(|receipt| receipt.url.clone()),
            status,
            transaction_at: kst_rfc3339(at),
            currency: payment.currency.clone(),
            amount,
        };
        self.entries.push(Entry { at, transaction, planted: false, reported_amount: None, hidden: false });
    }

    fn entry_mut(&mut self, transaction_key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|entry| entry.transaction.transaction_key == transaction_key)
    }

    /// The answer to `GET /v1/transactions`. An unknown `startingAfter` is a bad request.
    pub fn look_up(&self, query: &LookUp) -> Result<Vec<Transaction>, TossError> {
        let cursor = match &query.starting_after {
            None => None,
            Some(key) => {
                let entry = self.entries.iter().find(|entry| entry.transaction.transaction_key == *key);
                Some(entry.map(Entry::position).ok_or_else(|| {
                    TossError::invalid_request("startingAfter must be the transactionKey of a transaction")
                })?)
            }
        };
        let mut listed: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|entry| !entry.hidden)
            .filter(|entry| (query.start..=query.end).contains(&entry.at.trunc_subsecs(0)))
            .filter(|entry| cursor.is_none_or(|cursor| entry.position() > cursor))
            .collect();
        listed.sort_by(|a, b| a.position().cmp(&b.position()));
        Ok(listed.into_iter().take(query.limit).map(Entry::reported).collect())
    }

    /// Adds a transaction only the look-up knows of.
    pub fn plant(&mut self, plant: Plant, now: DateTime<Utc>) -> Result<Transaction, TossError> {
        if !valid_order_id(&plant.order_id) {
            return Err(TossError::invalid_request("orderId must be 6 to 64 characters of A-Z, a-z, 0-9, - and _"));
        }
        if plant.payment_key.trim().is_empty() || plant.payment_key.chars().count() > 200 {
            return Err(TossError::invalid_request("paymentKey must be 1 to 200 characters"));
        }
        if plant.amount < 0 {
            return Err(TossError::invalid_request("amount must be 0 or more"));
        }
        let at = match plant.transaction_at.as_deref().map(str::trim) {
            None => now,
            Some(text) => {
                parse_time(text).ok_or_else(|| TossError::invalid_request(bad_time("transactionAt", text)))?
            }
        };
        let transaction_key = match plant.transaction_key {
            None => new_transaction_key(),
            Some(key) if valid_transaction_key(&key) => key,
            Some(_) => {
                return Err(TossError::invalid_request(
                    "transactionKey must be 1 to 64 characters of A-Z, a-z, 0-9, - and _",
                ));
            }
        };
        if self.entries.iter().any(|entry| entry.transaction.transaction_key == transaction_key) {
            return Err(TossError::new(
                StatusCode::CONFLICT,
                "DUPLICATED_TRANSACTION_KEY",
                "A transaction with this transactionKey exists already.",
            ));
        }
        let transaction = Transaction {
            m_id: MERCHANT_ID.to_owned(),
            transaction_key,
            payment_key: plant.payment_key,
            order_id: plant.order_id,
            method: Some(plant.method.unwrap_or_else(|| METHOD_CARD.to_owned())),
            customer_key: None,
            use_escrow: false,
            receipt_url: None,
            status: plant.status,
            transaction_at: kst_rfc3339(at),
            currency: "KRW".to_owned(),
            amount: plant.amount,
        };
        self.entries.push(Entry {
            at,
            transaction: transaction.clone(),
            planted: true,
            reported_amount: None,
            hidden: false,
        });
        Ok(transaction)
    }

    /// Makes the look-up report `amount` for one transaction; `None` for an unknown key.
    pub fn change_amount(&mut self, transaction_key: &str, amount: i64) -> Option<Transaction> {
        let entry = self.entry_mut(transaction_key)?;
        entry.reported_amount = Some(amount);
        Some(entry.reported())
    }

    /// Leaves one transaction out of the look-up; `false` for an unknown key.
    pub fn hide(&mut self, transaction_key: &str) -> bool {
        self.entry_mut(transaction_key).map(|entry| entry.hidden = true).is_some()
    }

    /// Undoes every plant: planted transactions go, changed and hidden ones are restored.
    pub fn clear_plants(&mut self) {
        self.entries.retain(|entry| !entry.planted);
        for entry in &mut self.entries {
            entry.reported_amount = None;
            entry.hidden = false;
        }
    }
}

fn valid_transaction_key(key: &str) -> bool {
    (1..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn plant(key: &str, at: &str, amount: i64) -> Plant {
        Plant {
            order_id: "order-unit-1".into(),
            payment_key: "tsbx_unit".into(),
            amount,
            status: PaymentStatus::Done,
            method: None,
            transaction_at: Some(at.into()),
            transaction_key: Some(key.into()),
        }
    }

    fn all() -> LookUp {
        LookUp {
            start: utc("2000-01-01T00:00:00Z"),
            end: utc("2100-01-01T00:00:00Z"),
            starting_after: None,
            limit: 100,
        }
    }

    fn keys(listed: &[Transaction]) -> Vec<&str> {
        listed.iter().map(|t| t.transaction_key.as_str()).collect()
    }

    #[test]
    fn times_without_an_offset_are_korean() {
        let expected = utc("2026-11-30T15:00:00Z");
        assert_eq!(parse_time("2026-12-01T00:00:00"), Some(expected));
        assert_eq!(parse_time("2026-12-01T00:00:00.000"), Some(expected));
        assert_eq!(parse_time("2026-12-01T00:00:00+09:00"), Some(expected));
        assert_eq!(parse_time("2026-11-30T15:00:00Z"), Some(expected));
        for bad in ["2026-12-01", "2026-12-01T00:00", "2026-13-01T00:00:00", "2026-12-01T00:00:00 09:00", "yesterday"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_query_is_checked() {
        let query = LookUp::parse(Some("startDate=2026-12-01T00:00:00&endDate=2026-12-01T23:59:59")).unwrap();
        assert_eq!((query.limit, query.starting_after), (DEFAULT_LIMIT, None));
        assert_eq!(query.end - query.start, chrono::Duration::seconds(86_399));
        let ok = LookUp::parse(Some("startDate=2026-12-01T00:00:00&endDate=2026-12-01T00:00:00&limit=10000"));
        assert_eq!(ok.unwrap().limit, MAX_LIMIT);
        for bad in [
            None,
            Some("endDate=2026-12-01T00:00:00"),
            Some("startDate=2026-12-02T00:00:00&endDate=2026-12-01T00:00:00"),
            Some("startDate=2026-12-01T00:00:00&endDate=2026-12-01T01:00:00&limit=0"),
            Some("startDate=2026-12-01T00:00:00&endDate=2026-12-01T01:00:00&limit=10001"),
            Some("startDate=2026-12-01T00:00:00&endDate=2026-12-01T01:00:00&limit=ten"),
        ] {
            assert_eq!(LookUp::parse(bad).unwrap_err().code, "INVALID_REQUEST", "{bad:?}");
        }
        let unencoded = LookUp::parse(Some("startDate=2026-12-01T00:00:00+09:00&endDate=2026-12-02T00:00:00"));
        assert!(unencoded.unwrap_err().message.contains("%2B"));
    }

    #[test]
    fn transactions_are_ordered_by_time_then_key_and_paged_after_a_key() {
        let mut ledger = Ledger::default();
        let now = Utc::now();
        ledger.plant(plant("C", "2020-01-01T10:00:00", 1), now).unwrap();
        ledger.plant(plant("B", "2020-01-01T10:00:00", 2), now).unwrap();
        ledger.plant(plant("A", "2020-01-01T11:00:00", 3), now).unwrap();
        assert_eq!(keys(&ledger.look_up(&all()).unwrap()), ["B", "C", "A"]);
        let after_b = LookUp { starting_after: Some("B".into()), limit: 1, ..all() };
        assert_eq!(keys(&ledger.look_up(&after_b).unwrap()), ["C"]);
        let after_a = LookUp { starting_after: Some("A".into()), ..all() };
        assert!(ledger.look_up(&after_a).unwrap().is_empty());
        let unknown = LookUp { starting_after: Some("Z".into()), ..all() };
        assert_eq!(ledger.look_up(&unknown).unwrap_err().code, "INVALID_REQUEST");
    }

    #[test]
    fn the_range_is_inclusive_to_the_second() {
        let mut ledger = Ledger::default();
        let now = Utc::now();
        ledger.plant(plant("EDGE", "2020-01-01T23:59:59.600", 1), now).unwrap();
        let day = LookUp::parse(Some("startDate=2020-01-01T00:00:00&endDate=2020-01-01T23:59:59")).unwrap();
        assert_eq!(keys(&ledger.look_up(&day).unwrap()), ["EDGE"]);
        let next = LookUp::parse(Some("startDate=2020-01-02T00:00:00&endDate=2020-01-02T23:59:59")).unwrap();
        assert!(ledger.look_up(&next).unwrap().is_empty());
    }

    #[test]
    fn plants_change_only_the_look_up_and_clear_away() {
        let mut ledger = Ledger::default();
        let now = Utc::now();
        ledger.plant(plant("REAL", "2020-01-01T10:00:00", 100), now).unwrap();
        ledger.entries[0].planted = false;
        ledger.plant(plant("EXTRA", "2020-01-01T11:00:00", 5), now).unwrap();
        let duplicate = ledger.plant(plant("EXTRA", "2020-01-01T12:00:00", 5), now).unwrap_err();
        assert_eq!((duplicate.status, duplicate.code), (StatusCode::CONFLICT, "DUPLICATED_TRANSACTION_KEY"));
        assert_eq!(ledger.change_amount("REAL", 90).unwrap().amount, 90);
        assert!(ledger.change_amount("NOPE", 1).is_none());
        assert_eq!(ledger.look_up(&all()).unwrap()[0].amount, 90);
        assert!(ledger.hide("REAL") && !ledger.hide("NOPE"));
        assert_eq!(keys(&ledger.look_up(&all()).unwrap()), ["EXTRA"]);
        ledger.clear_plants();
        let listed = ledger.look_up(&all()).unwrap();
        assert_eq!((keys(&listed), listed[0].amount), (vec!["REAL"], 100));
    }
}
