//! The Toss webhook receiver: a delivery's raw bytes go to the DynamoDB inbox (a conditional put:
//! the inbox key — transmission id, else the body's hash — makes a retry a duplicate), then onto
//! the webhook queue, and only then does Toss get its 200. Nothing is parsed beyond what the key
//! and a well-formedness check need; the worker applies the delivery later.
//!
//! [`Receiver`] is a plain function over two small traits ([`Inbox`], [`DeliveryQueue`]), tested
//! without Lambda; [`router`] is what the Lambda serves (`src/main.rs`) and what `tiketi up`
//! mounts at `/webhooks/toss`, so local and cloud share one path.

pub mod aws;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use tiketi_shared::clock::Clock;
use tiketi_shared::error::Problem;
use tiketi_shared::messages::{TRANSMISSION_ID, WebhookDelivery, webhook_inbox_key};
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest delivery accepted: a Toss payment object is a few KiB; Lambda function URLs stop
/// at 6 MB anyway.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Where raw deliveries are kept (DynamoDB in both modes).
#[async_trait::async_trait]
pub trait Inbox: Send + Sync {
    /// Stores the delivery unless its key is there; answers whether it was new.
    async fn put_new(&self, delivery: &WebhookDelivery, headers: &DeliveryHeaders) -> anyhow::Result<bool>;
    /// What the inbox knows of a stored delivery (`None`: nothing under this key).
    async fn status(&self, inbox_id: &str) -> anyhow::Result<Option<InboxStatus>>;
    async fn mark_enqueued(&self, inbox_id: &str, at: DateTime<Utc>) -> anyhow::Result<()>;
}

/// Where stored deliveries wait for the worker (SQS).
#[async_trait::async_trait]
pub trait DeliveryQueue: Send + Sync {
    async fn enqueue(&self, delivery: &WebhookDelivery) -> anyhow::Result<()>;
}

/// A stored delivery: when it arrived first, and whether it reached the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxStatus {
    pub received_at: DateTime<Utc>,
    pub queued: bool,
}

/// How long the attempt that stored a delivery is given to queue it; a copy arriving meanwhile is
/// a duplicate. Past it, that attempt died (or failed and told Toss to retry), and a copy queues it.
pub const QUEUEING_GRACE: chrono::Duration = chrono::Duration::seconds(30);

/// Toss's transmission headers, kept with the delivery for whoever reads the inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryHeaders {
    pub transmission_id: Option<String>,
    pub retried_count: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    /// `stored`, or `duplicate` for a delivery already received.
    pub status: &'static str,
}

#[derive(Clone)]
pub struct Receiver {
    pub inbox: Arc<dyn Inbox>,
    pub queue: Arc<dyn DeliveryQueue>,
    pub clock: Clock,
}

impl Receiver {
    /// Checks, stores and queues one delivery. `Ok` only once it is both stored and queued (or
    /// was before); any failure is an error, so Toss retries.
    pub async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> ApiResult<Received> {
        check(headers, body)?;
        let text = std::str::from_utf8(body).map_err(|_| invalid("the body is not UTF-8"))?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let delivery_headers = DeliveryHeaders {
            transmission_id: header(TRANSMISSION_ID),
            retried_count: header("tosspayments-webhook-transmission-retried-count"),
        };
        let delivery = WebhookDelivery {
            inbox_id: webhook_inbox_key(delivery_headers.transmission_id.as_deref(), body),
            received_at: self.clock.now(),
            body: text.to_owned(),
        };
        let new = self.inbox.put_new(&delivery, &delivery_headers).await.map_err(ApiError::unavailable)?;
        if !new {
            let status = self.inbox.status(&delivery.inbox_id).await.map_err(ApiError::unavailable)?;
            let being_queued = |s: &InboxStatus| s.queued || s.received_at + QUEUEING_GRACE > delivery.received_at;
            if status.as_ref().is_none_or(being_queued) {
                metrics::counter!("tiketi_webhook_deliveries_total", "result" => "duplicate").increment(1);
                return Ok(Received { status: "duplicate" });
            }
        }
        // New, or stored by an attempt that died before queueing it: queue it now.
        self.queue.enqueue(&delivery).await.map_err(ApiError::unavailable)?;
        if let Err(e) = self.inbox.mark_enqueued(&delivery.inbox_id, self.clock.now()).await {
            // Queued all the same; a retry of this delivery would queue it once more (applied once).
            tracing::warn!(inbox_id = %delivery.inbox_id, error = %format!("{e:#}"), "marking a delivery queued failed");
        }
        metrics::counter!("tiketi_webhook_deliveries_total", "result" => "stored").increment(1);
        Ok(Received { status: "stored" })
    }
}

fn invalid(why: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidWebhook).detail(why.to_owned())
}

/// A JSON object of sensible size, sent as JSON — nothing else is looked at.
fn check(headers: &HeaderMap, body: &[u8]) -> ApiResult<()> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge).detail(format!("at most {MAX_BODY_BYTES} bytes")));
    }
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
        Ok(_) => Ok(()),
        Err(_) => Err(invalid("the body is not a JSON object")),
    }
}

/// Toss's webhook endpoint. 200 once the delivery is stored and queued for the worker.
#[utoipa::path(post, path = "/webhooks/toss", tag = "payments",
    request_body(content = Object, description = "a Toss webhook: PAYMENT_STATUS_CHANGED or DEPOSIT_CALLBACK"),
    responses(
        (status = 200, body = Received),
        (status = 400, description = "`INVALID_WEBHOOK`: not a JSON object", body = Problem),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: not application/json", body = Problem),
        (status = 503, description = "the inbox or the queue did not answer; Toss retries", body = Problem),
    ))]
pub async fn toss_webhook(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Received>> {
    // Over the server's body limit (or cut off): answered in our format, not axum's plain text.
    let body = body.map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
    Ok(Json(receiver.receive(&headers, &body).await?))
}

/// `POST /webhooks/toss`, described for the OpenAPI document.
pub fn router(receiver: Receiver) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(toss_webhook)).with_state(receiver)
}

#[cfg(test)]
mod tests;
