//! Toss's side of the money, read from its transactions look-up (`GET /v1/transactions`, the
//! sandbox locally): every approval, deposit and cancel, folded into one [`Payment`] per
//! `paymentKey` with what was captured and what was given back.
//!
//! The look-up is what Toss itself says happened, independent of anything the payment role
//! recorded, which is why the checker uses it rather than the payment role's copy.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Deserialize;

use crate::TossConfig;

/// Toss's largest page.
const PAGE: usize = 10_000;
/// Korea-time bounds wide enough for any sale (the look-up requires both).
const FROM: &str = "2000-01-01T00:00:00";
const TO: &str = "2100-01-01T00:00:00";

/// One entry of the look-up, as much of it as the checks read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub transaction_key: String,
    pub payment_key: String,
    pub order_id: String,
    /// `DONE` for an approval or deposit, `CANCELED`/`PARTIAL_CANCELED` for a cancel,
    /// `WAITING_FOR_DEPOSIT` for a virtual account's issuance.
    pub status: String,
    pub amount: i64,
}

/// One Toss payment: what was captured (approvals and deposits) and given back (cancels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub payment_key: String,
    pub order_id: String,
    pub captured: i64,
    pub cancelled: i64,
}

impl Payment {
    /// Money Toss still holds for this payment.
    pub fn balance(&self) -> i64 {
        self.captured - self.cancelled
    }

    /// Whether Toss ever captured money for it (a `DONE` transaction).
    pub fn was_captured(&self) -> bool {
        self.captured > 0
    }
}

/// Every payment the look-up lists.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub payments: Vec<Payment>,
    pub transactions: usize,
}

impl Ledger {
    /// Reads the whole look-up, page by page.
    pub async fn load(config: &TossConfig) -> anyhow::Result<Ledger> {
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        let url = format!("{}/v1/transactions", config.url.trim_end_matches('/'));
        let mut all: Vec<Transaction> = Vec::new();
        loop {
            let mut query =
                vec![("startDate", FROM.to_owned()), ("endDate", TO.to_owned()), ("limit", PAGE.to_string())];
            if let Some(last) = all.last() {
                query.push(("startingAfter", last.transaction_key.clone()));
            }
            let res = http
                .get(&url)
                .basic_auth(&config.secret_key, Some(""))
                .query(&query)
                .send()
                .await
                .with_context(|| format!("reading {url}"))?;
            let status = res.status();
            if !status.is_success() {
                let body = res.text().await.unwrap_or_default();
                anyhow::bail!("{url} answered {status}: {body}");
            }
            let page: Vec<Transaction> = res.json().await.with_context(|| format!("reading {url}'s answer"))?;
            let full = page.len() >= PAGE;
            all.extend(page);
            if !full {
                break;
            }
        }
        Ok(Ledger::from_transactions(&all))
    }

    /// Folds transactions into payments (by `paymentKey`, in key order).
    pub fn from_transactions(transactions: &[Transaction]) -> Ledger {
        let mut payments: BTreeMap<&str, Payment> = BTreeMap::new();
        for t in transactions {
            let payment = payments.entry(&t.payment_key).or_insert_with(|| Payment {
                payment_key: t.payment_key.clone(),
                order_id: t.order_id.clone(),
                captured: 0,
                cancelled: 0,
            });
            match t.status.as_str() {
                "DONE" => payment.captured += t.amount,
                "CANCELED" | "PARTIAL_CANCELED" => payment.cancelled += t.amount,
                _ => {}
            }
        }
        Ledger { payments: payments.into_values().collect(), transactions: transactions.len() }
    }

    /// The payments Toss captured money for.
    pub fn captured(&self) -> impl Iterator<Item = &Payment> {
        self.payments.iter().filter(|p| p.was_captured())
    }

    /// Every order id the look-up names.
    pub fn order_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.payments.iter().map(|p| p.order_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Payments by order id.
    pub fn by_order(&self) -> BTreeMap<&str, Vec<&Payment>> {
        let mut by: BTreeMap<&str, Vec<&Payment>> = BTreeMap::new();
        for p in &self.payments {
            by.entry(p.order_id.as_str()).or_default().push(p);
        }
        by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(key: &str, payment: &str, order: &str, status: &str, amount: i64) -> Transaction {
        Transaction {
            transaction_key: key.into(),
            payment_key: payment.into(),
            order_id: order.into(),
            status: status.into(),
            amount,
        }
    }

    #[test]
    fn approvals_deposits_and_cancels_fold_into_one_balance_per_payment() {
        let ledger = Ledger::from_transactions(&[
            t("1", "card", "o1", "DONE", 50_000),
            t("2", "card", "o1", "PARTIAL_CANCELED", 10_000),
            t("3", "va", "o2", "WAITING_FOR_DEPOSIT", 0),
            t("4", "va", "o2", "DONE", 30_000),
            t("5", "gone", "o3", "DONE", 20_000),
            t("6", "gone", "o3", "CANCELED", 20_000),
            t("7", "open", "o4", "WAITING_FOR_DEPOSIT", 0),
        ]);
        let balances: Vec<(&str, i64, bool)> =
            ledger.payments.iter().map(|p| (p.payment_key.as_str(), p.balance(), p.was_captured())).collect();
        assert_eq!(balances, [("card", 40_000, true), ("gone", 0, true), ("open", 0, false), ("va", 30_000, true)]);
        assert_eq!(ledger.captured().count(), 3);
        assert_eq!(ledger.order_ids(), ["o1", "o2", "o3", "o4"]);
        assert_eq!(ledger.transactions, 7);
    }
}
