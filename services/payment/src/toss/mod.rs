//! The Toss Payments v1 client: confirm, look up, cancel. It knows the wire (Basic auth with the
//! secret key, `Idempotency-Key`, `{code, message}` errors); what to do with an answer is the
//! caller's business.

pub mod model;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

pub use model::{CancelRequest, Payment, PaymentStatus, RefundReceiveAccount, TossError};

/// Where the secret key comes from. Configuration today; a Secrets Manager implementation plugs in
/// here without the client changing. Implementations may cache and must never log the key.
#[async_trait]
pub trait SecretKeySource: Send + Sync {
    async fn secret_key(&self) -> anyhow::Result<SecretString>;
}

/// The key given in configuration (`TIKETI_TOSS_SECRET_KEY`).
pub struct ConfiguredKey(pub SecretString);

#[async_trait]
impl SecretKeySource for ConfiguredKey {
    async fn secret_key(&self) -> anyhow::Result<SecretString> {
        Ok(self.0.clone())
    }
}

/// The key kept in a secret store (Secrets Manager), cached there and re-read after its TTL, so
/// a rotated key is picked up without a restart.
pub struct StoredKey(pub tiketi_shared::secrets::SecretValue);

#[async_trait]
impl SecretKeySource for StoredKey {
    async fn secret_key(&self) -> anyhow::Result<SecretString> {
        self.0.get().await
    }
}

/// Why a call did not return what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TossFailure {
    /// Toss answered with an error.
    #[error(transparent)]
    Answered(#[from] TossError),
    /// No usable answer (timeout, connection dropped, garbled body): the outcome is unknown, and
    /// a retry must reuse the same Idempotency-Key.
    #[error("no answer from Toss: {0}")]
    NoAnswer(String),
}

impl TossFailure {
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Answered(err) => Some(&err.code),
            Self::NoAnswer(_) => None,
        }
    }

    /// The request may still take effect: no answer came, or Toss is still processing an earlier
    /// request with the same Idempotency-Key. Never a refusal; ask again with the same key, or
    /// leave it to the reconciler.
    pub fn is_unsettled(&self) -> bool {
        match self {
            Self::NoAnswer(_) => true,
            Self::Answered(err) => err.is_in_progress(),
        }
    }
}

/// The pause before attempt `n` (counting from 0) of a call Toss asked to retry or did not answer:
/// none, then 200 ms, 400 ms, 800 ms, …
pub async fn pause_before_attempt(n: u32) {
    if n > 0 {
        tokio::time::sleep(Duration::from_millis(200 * 2u64.saturating_pow(n - 1))).await;
    }
}

#[derive(Clone)]
pub struct TossClient {
    http: reqwest::Client,
    base: Url,
    key: Arc<dyn SecretKeySource>,
}

impl TossClient {
    pub fn new(base: Url, key: Arc<dyn SecretKeySource>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { http, base, key }
    }

    /// `POST /v1/payments/confirm`: approve the payment the buyer authorised in the window.
    pub async fn confirm(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Payment, TossFailure> {
        let body = model::ConfirmRequest { payment_key, order_id, amount };
        self.call(reqwest::Method::POST, "v1/payments/confirm", Some(&body), Some(idempotency_key)).await
    }

    /// `GET /v1/payments/{paymentKey}`.
    pub async fn payment(&self, payment_key: &str) -> Result<Option<Payment>, TossFailure> {
        let path = format!("v1/payments/{}", segment(payment_key));
        not_found_is_none(self.call(reqwest::Method::GET, &path, None::<&()>, None).await)
    }

    /// `GET /v1/payments/orders/{orderId}`: the payment made for one of our orders, if any.
    pub async fn payment_for_order(&self, order_id: &str) -> Result<Option<Payment>, TossFailure> {
        let path = format!("v1/payments/orders/{}", segment(order_id));
        not_found_is_none(self.call(reqwest::Method::GET, &path, None::<&()>, None).await)
    }

    /// `POST /v1/payments/{paymentKey}/cancel`: a full or partial refund.
    pub async fn cancel(
        &self,
        payment_key: &str,
        request: &CancelRequest,
        idempotency_key: &str,
    ) -> Result<Payment, TossFailure> {
        let path = format!("v1/payments/{}/cancel", segment(payment_key));
        self.call(reqwest::Method::POST, &path, Some(request), Some(idempotency_key)).await
    }

    async fn call<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<Payment, TossFailure> {
        let url = self.base.join(path).map_err(|e| TossFailure::NoAnswer(format!("bad Toss URL: {e}")))?;
        let started = std::time::Instant::now();
        let mut request = self.http.request(method, url).header(AUTHORIZATION, self.authorization().await?);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let outcome = self.answer(request).await;
        metrics::histogram!("tiketi_toss_call_seconds", "path" => path_label(path)).record(started.elapsed());
        outcome
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Payment, TossFailure> {
        let response = request.send().await.map_err(|e| TossFailure::NoAnswer(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| TossFailure::NoAnswer(e.to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes)
                .map_err(|e| TossFailure::NoAnswer(format!("unreadable payment: {e}")));
        }
        match serde_json::from_slice::<TossError>(&bytes) {
            Ok(mut err) => {
                err.status = status;
                Err(TossFailure::Answered(err))
            }
            // A 5xx from a proxy without Toss's body: an answer all the same (nothing was done).
            Err(_) if status >= 500 => {
                Err(TossFailure::Answered(TossError { status, code: "HTTP_ERROR".into(), message: String::new() }))
            }
            Err(e) => Err(TossFailure::NoAnswer(format!("unreadable {status} answer: {e}"))),
        }
    }

    /// `Basic base64("<secret key>:")` — the trailing colon is the empty password.
    async fn authorization(&self) -> Result<HeaderValue, TossFailure> {
        let key = self.key.secret_key().await.map_err(|e| TossFailure::NoAnswer(format!("secret key: {e:#}")))?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:", key.expose_secret()));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| TossFailure::NoAnswer("the secret key is not a valid header value".into()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

fn not_found_is_none(result: Result<Payment, TossFailure>) -> Result<Option<Payment>, TossFailure> {
    match result {
        Ok(payment) => Ok(Some(payment)),
        Err(TossFailure::Answered(err)) if err.code == "NOT_FOUND_PAYMENT" => Ok(None),
        Err(other) => Err(other),
    }
}

/// A path segment, percent-encoded (payment keys and order ids are opaque to us).
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn path_label(path: &str) -> &'static str {
    if path.ends_with("/confirm") {
        "confirm"
    } else if path.ends_with("/cancel") {
        "cancel"
    } else {
        "lookup"
    }
}
