//! Toss's transactions look-up (`GET /v1/transactions`), paged: every approval, deposit and
//! cancel Toss recorded in a period, for the reconciliation.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, FixedOffset, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tiketi_shared::secrets::SecretValue;
use url::Url;

/// Toss answers at most this many per page.
pub const PAGE: usize = 10_000;

/// Where the Toss secret key comes from.
#[derive(Clone)]
pub enum Key {
    Configured(SecretString),
    Stored(SecretValue),
}

impl Key {
    async fn get(&self) -> anyhow::Result<SecretString> {
        match self {
            Key::Configured(key) => Ok(key.clone()),
            Key::Stored(secret) => secret.get().await,
        }
    }
}

/// One transaction as Toss lists it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub transaction_key: String,
    pub payment_key: String,
    pub order_id: String,
    pub method: Option<String>,
    /// `DONE` (captured), `CANCELED` / `PARTIAL_CANCELED` (refunded), `WAITING_FOR_DEPOSIT`.
    pub status: String,
    pub transaction_at: DateTime<FixedOffset>,
    pub amount: i64,
}

#[derive(Clone)]
pub struct Transactions {
    http: reqwest::Client,
    base: Url,
    key: Key,
}

impl Transactions {
    pub fn new(base: Url, key: Key) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
        Self { http, base, key }
    }

    /// One page (at most [`PAGE`]) of the transactions from `from` to `to` (both inclusive, to
    /// the second), after the transaction `after`.
    pub async fn page(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<&str>,
    ) -> anyhow::Result<Vec<Transaction>> {
        let key = self.key.get().await?;
        let kst = FixedOffset::east_opt(9 * 3600).context("KST")?;
        let date = |at: DateTime<Utc>| at.with_timezone(&kst).format("%Y-%m-%dT%H:%M:%S").to_string();
        let mut query = vec![("startDate", date(from)), ("endDate", date(to)), ("limit", PAGE.to_string())];
        if let Some(after) = after {
            query.push(("startingAfter", after.to_owned()));
        }
        let answer = self
            .http
            .get(self.base.join("v1/transactions")?)
            .basic_auth(key.expose_secret(), Some(""))
            .query(&query)
            .send()
            .await
            .context("asking Toss for its transactions")?;
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            anyhow::bail!(
                "Toss answered {status} to the transactions look-up: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        answer.json().await.context("reading Toss's transactions")
    }
}
