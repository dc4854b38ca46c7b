//! Webhook delivery the way Toss does it: a JSON POST, anything but HTTP 200 within 10 s is a
//! failure, then 7 retries after 1, 4, 16, 64, 256, 1024 and 4096 minutes (times the configured
//! scale). Headers as documented: `tosspayments-webhook-transmission-id` (the same on every retry
//! of one webhook), `…-transmission-time`, `…-transmission-retried-count` (0 on the first try).
//!
//! `PAYMENT_STATUS_CHANGED` and `DEPOSIT_CALLBACK` are not signed (only payout/seller events are),
//! so the sandbox sends no `tosspayments-webhook-signature`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::model::{Payment, kst_rfc3339, kst_webhook_time, random_alphanumeric};

/// Minutes before each retry (docs.tosspayments.com/guides/webhook, "재전송 정책").
pub const RETRY_MINUTES: [u64; 7] = [1, 4, 16, 64, 256, 1024, 4096];
/// How long a receiver has to answer one delivery.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// A scaled retry delay never exceeds this (keeps huge scales from overflowing timers).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

pub const PAYMENT_STATUS_CHANGED: &str = "PAYMENT_STATUS_CHANGED";
pub const DEPOSIT_CALLBACK: &str = "DEPOSIT_CALLBACK";

/// One logical webhook, before delivery.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub event_type: &'static str,
    pub order_id: String,
    pub body: Value,
}

impl WebhookEvent {
    /// `{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"<KST, no offset, µs>","data":<Payment>}`.
    pub fn status_changed(payment: &Payment) -> WebhookEvent {
        WebhookEvent {
            event_type: PAYMENT_STATUS_CHANGED,
            order_id: payment.order_id.clone(),
            body: json!({
                "eventType": PAYMENT_STATUS_CHANGED,
                "createdAt": kst_webhook_time(Utc::now()),
                "data": payment,
            }),
        }
    }

    /// The flat `DEPOSIT_CALLBACK`: no `eventType`, no `data`, no `paymentKey`.
    pub fn deposit_callback(payment: &Payment) -> WebhookEvent {
        WebhookEvent {
            event_type: DEPOSIT_CALLBACK,
            order_id: payment.order_id.clone(),
            body: json!({
                "createdAt": kst_webhook_time(Utc::now()),
                "secret": payment.secret,
                "status": payment.status,
                "transactionKey": payment.last_transaction_key,
                "orderId": payment.order_id,
            }),
        }
    }
}

/// What `GET /sandbox/webhooks` lists.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub transmission_id: String,
    pub event_type: &'static str,
    pub order_id: String,
    pub url: String,
    pub body: Value,
    pub attempts: Vec<Attempt>,
    pub delivered: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// When the attempt was made (Korea time).
    pub at: String,
    /// The receiver's HTTP status (a number), or why there was none (a string).
    pub status_or_error: Value,
}

/// The webhook settings that `PUT /sandbox/config` changes.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookSettings {
    pub webhook_url: Option<String>,
    pub webhook_retry_scale: f64,
}

#[derive(Clone)]
pub struct WebhookHub {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    settings: Mutex<WebhookSettings>,
    log: Mutex<Vec<Delivery>>,
    shutdown: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WebhookHub {
    pub fn new(settings: WebhookSettings, shutdown: CancellationToken) -> anyhow::Result<WebhookHub> {
        let client =
            reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(WebhookHub {
            inner: Arc::new(Inner { client, settings: Mutex::new(settings), log: Mutex::new(Vec::new()), shutdown }),
        })
    }

    pub fn settings(&self) -> WebhookSettings {
        lock(&self.inner.settings).clone()
    }

    pub fn update_settings(&self, change: impl FnOnce(&mut WebhookSettings)) -> WebhookSettings {
        let mut settings = lock(&self.inner.settings);
        change(&mut settings);
        settings.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.inner.log).clone()
    }

    pub fn clear_deliveries(&self) {
        lock(&self.inner.log).clear();
    }

    /// Sends `events` to the webhook URL configured now, on a background task: first tries in the
    /// given order (so a `DEPOSIT_CALLBACK` goes out before the `PAYMENT_STATUS_CHANGED` of the
    /// same change), then each failed one retries on its own schedule. Never blocks the caller.
    /// Without a configured URL nothing is sent or recorded.
    pub fn dispatch(&self, events: Vec<WebhookEvent>) {
        if events.is_empty() {
            return;
        }
        let Some(url) = self.settings().webhook_url else {
            debug!(count = events.len(), "no webhook URL configured; webhooks not sent");
            return;
        };
        let deliveries: Vec<Delivery> = events
            .into_iter()
            .map(|event| Delivery {
                transmission_id: format!("tsbx_wh_{}", random_alphanumeric(24)),
                event_type: event.event_type,
                order_id: event.order_id,
                url: url.clone(),
                body: event.body,
                attempts: Vec::new(),
                delivered: false,
            })
            .collect();
        lock(&self.inner.log).extend(deliveries.iter().cloned());

        let hub = self.clone();
        tokio::spawn(async move {
            for delivery in deliveries {
                if !hub.attempt(&delivery, 0).await {
                    let hub = hub.clone();
                    tokio::spawn(async move { hub.retry(delivery).await });
                }
            }
        });
    }

    async fn retry(&self, delivery: Delivery) {
        for (retried, minutes) in (1u32..).zip(RETRY_MINUTES) {
            let delay = retry_delay(minutes, self.settings().webhook_retry_scale);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.inner.shutdown.cancelled() => return,
            }
            if self.attempt(&delivery, retried).await {
                return;
            }
        }
        warn!(transmission_id = %delivery.transmission_id, "webhook not delivered after every retry");
    }

    /// One POST; records the attempt and answers whether the receiver said 200.
    async fn attempt(&self, delivery: &Delivery, retried: u32) -> bool {
        let sent_at = Utc::now();
        let request = self
            .inner
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("tosspayments-webhook-transmission-id", &delivery.transmission_id)
            .header("tosspayments-webhook-transmission-time", kst_rfc3339(sent_at))
            .header("tosspayments-webhook-transmission-retried-count", retried.to_string())
            .body(delivery.body.to_string())
            .send();
        let outcome = tokio::select! {
            outcome = request => outcome,
            () = self.inner.shutdown.cancelled() => return true,
        };
        let (status_or_error, delivered) = match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                (json!(status), status == 200)
            }
            Err(err) => (json!(error_chain(&err)), false),
        };
        info!(
            transmission_id = %delivery.transmission_id,
            event_type = delivery.event_type,
            order_id = %delivery.order_id,
            retried,
            outcome = %status_or_error,
            "webhook attempt"
        );
        let mut log = lock(&self.inner.log);
        if let Some(entry) = log.iter_mut().find(|d| d.transmission_id == delivery.transmission_id) {
            entry.attempts.push(Attempt { at: kst_rfc3339(sent_at), status_or_error });
            entry.delivered |= delivered;
        }
        delivered
    }
}

/// `error sending request for url (…): client error (Connect): tcp connect error: Connection refused`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn retry_delay(minutes: u64, scale: f64) -> Duration {
    let secs = minutes as f64 * 60.0 * scale;
    Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_DELAY, |delay| delay.min(MAX_RETRY_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_scale() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_secs(60));
        assert_eq!(retry_delay(1, 0.001), Duration::from_millis(60));
        assert_eq!(retry_delay(4096, 0.0), Duration::ZERO);
        assert_eq!(retry_delay(4096, 1e300), MAX_RETRY_DELAY);
    }
}
