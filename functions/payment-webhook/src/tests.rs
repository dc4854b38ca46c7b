//! The receiver over in-memory stores: what reaches the inbox and the queue, and what Toss hears.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::*;

#[derive(Default)]
struct Memory {
    inbox: Mutex<HashMap<String, (WebhookDelivery, bool)>>,
    queued: Mutex<Vec<WebhookDelivery>>,
    queue_down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Inbox for Memory {
    async fn put_new(&self, delivery: &WebhookDelivery, _: &DeliveryHeaders) -> anyhow::Result<bool> {
        let mut inbox = self.inbox.lock().unwrap();
        if inbox.contains_key(&delivery.inbox_id) {
            return Ok(false);
        }
        inbox.insert(delivery.inbox_id.clone(), (delivery.clone(), false));
        Ok(true)
    }
    async fn status(&self, id: &str) -> anyhow::Result<Option<InboxStatus>> {
        let inbox = self.inbox.lock().unwrap();
        Ok(inbox.get(id).map(|(d, queued)| InboxStatus { received_at: d.received_at, queued: *queued }))
    }
    async fn mark_enqueued(&self, id: &str, _: DateTime<Utc>) -> anyhow::Result<()> {
        if let Some(entry) = self.inbox.lock().unwrap().get_mut(id) {
            entry.1 = true;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl DeliveryQueue for Memory {
    async fn enqueue(&self, delivery: &WebhookDelivery) -> anyhow::Result<()> {
        anyhow::ensure!(!self.queue_down.load(std::sync::atomic::Ordering::SeqCst), "queue down");
        self.queued.lock().unwrap().push(delivery.clone());
        Ok(())
    }
}

fn receiver() -> (Receiver, Arc<Memory>) {
    let memory = Arc::new(Memory::default());
    let receiver = Receiver { inbox: memory.clone(), queue: memory.clone(), clock: Clock::fixed(Utc::now()) };
    (receiver, memory)
}

fn json_headers(transmission: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    if let Some(id) = transmission {
        headers.insert(TRANSMISSION_ID, HeaderValue::from_str(id).unwrap());
    }
    headers
}

const BODY: &[u8] =
    br#"{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2026-12-02T10:00:00.000","data":{"orderId":"x"}}"#;

#[tokio::test]
async fn a_delivery_is_stored_and_queued_once_and_a_retry_is_a_duplicate() {
    let (receiver, memory) = receiver();
    let first = receiver.receive(&json_headers(Some("t-1")), BODY).await.unwrap();
    let again = receiver.receive(&json_headers(Some("t-1")), BODY).await.unwrap();
    assert_eq!((first.status, again.status), ("stored", "duplicate"));
    let queued = memory.queued.lock().unwrap().clone();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].inbox_id, "t-1");
    assert_eq!(queued[0].body.as_bytes(), BODY, "the exact bytes travel");
}

#[tokio::test]
async fn without_a_transmission_id_the_bytes_are_the_key() {
    let (receiver, memory) = receiver();
    receiver.receive(&json_headers(None), BODY).await.unwrap();
    assert_eq!(receiver.receive(&json_headers(None), BODY).await.unwrap().status, "duplicate");
    assert!(memory.queued.lock().unwrap()[0].inbox_id.starts_with("sha256:"));
}

#[tokio::test]
async fn a_delivery_stored_but_not_queued_is_queued_by_its_retry() {
    let (receiver, memory) = receiver();
    memory.queue_down.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = receiver.receive(&json_headers(Some("t-2")), BODY).await.unwrap_err();
    assert_eq!(failed.code(), ErrorCode::ServiceUnavailable, "Toss must retry");
    memory.queue_down.store(false, std::sync::atomic::Ordering::SeqCst);
    // A copy while the first attempt may still be queueing it: a duplicate.
    assert_eq!(receiver.receive(&json_headers(Some("t-2")), BODY).await.unwrap().status, "duplicate");
    assert!(memory.queued.lock().unwrap().is_empty());
    // Toss's retry after the first attempt gave up: queued now.
    receiver.clock.advance(QUEUEING_GRACE + chrono::Duration::seconds(1));
    assert_eq!(receiver.receive(&json_headers(Some("t-2")), BODY).await.unwrap().status, "stored");
    assert_eq!(memory.queued.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_copies_of_one_delivery_queue_it_once() {
    let (receiver, memory) = receiver();
    let copies = (0..20).map(|_| {
        let receiver = receiver.clone();
        async move { receiver.receive(&json_headers(Some("t-3")), BODY).await.unwrap().status }
    });
    let said = futures::future::join_all(copies).await;
    assert_eq!(said.iter().filter(|s| **s == "stored").count(), 1, "{said:?}");
    assert_eq!(memory.queued.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let (receiver, memory) = receiver();
    let cases: Vec<(HeaderMap, Vec<u8>, StatusCode)> = vec![
        (json_headers(None), b"{not json".to_vec(), StatusCode::BAD_REQUEST),
        (json_headers(None), b"[1,2]".to_vec(), StatusCode::BAD_REQUEST),
        (json_headers(None), vec![0xff, 0xfe], StatusCode::BAD_REQUEST),
        (HeaderMap::new(), BODY.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (json_headers(None), vec![b' '; MAX_BODY_BYTES + 1], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (headers, body, expected) in cases {
        let err = receiver.receive(&headers, &body).await.unwrap_err();
        assert_eq!(err.code().status(), expected, "{err:?}");
    }
    assert!(memory.inbox.lock().unwrap().is_empty());
    assert!(memory.queued.lock().unwrap().is_empty());
}
