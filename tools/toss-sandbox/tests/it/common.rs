//! Shared by the integration tests: a sandbox on port 0, a client that does not follow redirects,
//! and a tiny webhook receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tiketi_toss_sandbox::{Config, LOCAL_CLIENT_KEY, LOCAL_SECRET_KEY, Sandbox};
use url::Url;

pub const SUCCESS_URL: &str = "http://shop.test/checkout/success";
pub const FAIL_URL: &str = "http://shop.test/checkout/fail";

pub struct Harness {
    /// Serves until the harness is dropped.
    _sandbox: Sandbox,
    pub http: reqwest::Client,
    pub base: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut Config)) -> Harness {
        let mut config = Config::local(([127, 0, 0, 1], 0).into());
        change(&mut config);
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        let base = sandbox.url();
        Harness { _sandbox: sandbox, http, base }
    }

    pub fn auth() -> String {
        format!("Basic {}", STANDARD.encode(format!("{LOCAL_SECRET_KEY}:")))
    }

    pub fn checkout_query(order_id: &str, amount: i64) -> Vec<(&'static str, String)> {
        vec![
            ("clientKey", LOCAL_CLIENT_KEY.to_owned()),
            ("orderId", order_id.to_owned()),
            ("orderName", "콘서트 R석 외 1건".to_owned()),
            ("amount", amount.to_string()),
            ("successUrl", SUCCESS_URL.to_owned()),
            ("failUrl", FAIL_URL.to_owned()),
            ("customerName", "김토스".to_owned()),
        ]
    }

    /// Clicks a button of the window; answers the redirect target.
    pub async fn choose(&self, query: &[(&str, String)], outcome: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/checkout", self.base))
            .query(query)
            .form(&[("outcome", outcome)])
            .send()
            .await
            .unwrap()
    }

    /// Pays in the window; answers the `paymentKey` the success URL received.
    pub async fn authorise(&self, order_id: &str, amount: i64, outcome: &str) -> String {
        let response = self.choose(&Self::checkout_query(order_id, amount), outcome).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let params = location_params(&response);
        params["paymentKey"].clone()
    }

    pub async fn confirm(&self, payment_key: &str, order_id: &str, amount: i64) -> (StatusCode, Value) {
        self.confirm_with_key(payment_key, order_id, amount, None).await
    }

    pub async fn confirm_with_key(
        &self,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}/v1/payments/confirm", self.base))
            .header("Authorization", Self::auth())
            .json(&json!({ "paymentKey": payment_key, "orderId": order_id, "amount": amount }));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn cancel(&self, payment_key: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/v1/payments/{payment_key}/cancel", self.base))
            .header("Authorization", Self::auth())
            .json(&body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response =
            self.http.get(format!("{}{path}", self.base)).header("Authorization", Self::auth()).send().await.unwrap();
        answer(response).await
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self.http.request(method, format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        answer(response).await
    }

    /// A confirmed card payment: answers its key.
    pub async fn paid_by_card(&self, order_id: &str, amount: i64) -> String {
        let key = self.authorise(order_id, amount, "approve").await;
        let (status, payment) = self.confirm(&key, order_id, amount).await;
        assert_eq!(status, StatusCode::OK, "{payment}");
        key
    }
}

pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, body)
}

pub fn location(response: &reqwest::Response) -> Url {
    let location = response.headers().get("location").expect("a Location header").to_str().unwrap();
    Url::parse(location).unwrap()
}

pub fn location_params(response: &reqwest::Response) -> HashMap<String, String> {
    location(response).query_pairs().into_owned().collect()
}

/// What a webhook receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

/// A webhook endpoint that answers 500 to its first `failures` requests and 200 after.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    failures: Arc<Mutex<u32>>,
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.received.lock().unwrap().push(Received { headers, body });
    let mut failures = state.failures.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    pub async fn start(failures: u32) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState { received: received.clone(), failures: Arc::new(Mutex::new(failures)) };
        let app = Router::new().route("/webhooks/toss", post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/toss", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) until at least `count` requests have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..500 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {count} webhooks, got {:?}", self.received());
    }
}

pub fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}
