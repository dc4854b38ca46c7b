//! A local stand-in for Toss Payments' test environment (REST API v1), so the payment service can
//! talk to `https://api.tosspayments.com` with test keys or to this sandbox, by configuration only.
//!
//! - `GET|POST /v1/checkout`: the payment window (approve by card, card rejected, virtual account).
//! - `POST /v1/payments/confirm`, `GET /v1/payments/{paymentKey}`,
//!   `GET /v1/payments/orders/{orderId}`, `POST /v1/payments/{paymentKey}/cancel`: the REST API,
//!   with Basic auth, `Idempotency-Key` and Toss's `{code, message}` errors.
//! - `GET /v1/transactions`: the transactions look-up ("거래 조회"), every approval, deposit and
//!   cancel as its own transaction.
//! - Webhooks (`PAYMENT_STATUS_CHANGED`, `DEPOSIT_CALLBACK`) with Toss's headers and retry policy.
//! - `/sandbox/…`: deposits, the webhook log, run-time settings, fault injection, and differences
//!   planted in the transactions look-up for reconciliation tests.
//!
//! State lives in memory and is gone when the sandbox stops. See README.md.

mod api;
mod config;
mod control;
mod error;
mod faults;
mod model;
mod store;
mod transactions;
mod webhooks;
mod window;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

pub use config::{Config, DEFAULT_ADDR, DEFAULT_SESSION_TTL, LOCAL_CLIENT_KEY, LOCAL_SECRET_KEY};
pub use error::TossError;
pub use faults::Faults;
pub use model::{Cancel, Card, Failure, Payment, PaymentStatus, RefundAccountInfo, Transaction, VirtualAccount};
pub use webhooks::{Attempt, Delivery, RETRY_MINUTES};

use crate::store::Store;
use crate::webhooks::{WebhookHub, WebhookSettings};

/// The keys requests are checked against.
struct Keys {
    secret_key: String,
    client_key: String,
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    keys: Arc<Keys>,
    store: Arc<Mutex<Store>>,
    webhooks: WebhookHub,
    session_ttl: Duration,
}

impl AppState {
    /// The store, locked. Never held across an `.await`.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/checkout", get(window::page).post(window::choose))
        .route("/v1/payments/confirm", post(api::confirm))
        .route("/v1/payments/orders/{order_id}", get(api::get_by_order))
        .route("/v1/payments/{payment_key}", get(api::get_by_key))
        .route("/v1/payments/{payment_key}/cancel", post(api::cancel))
        .route("/v1/transactions", get(api::transactions))
        .route("/sandbox/virtual-accounts/{order_id}/deposit", post(control::deposit))
        .route("/sandbox/webhooks", get(control::webhooks).delete(control::clear_webhooks))
        .route("/sandbox/config", get(control::get_config).put(control::put_config))
        .route("/sandbox/faults", get(control::get_faults).put(control::put_faults).delete(control::clear_faults))
        .route("/sandbox/receipts/{payment_key}", get(control::receipt))
        .route("/sandbox/transactions", post(control::plant_transaction).delete(control::clear_transaction_plants))
        .route(
            "/sandbox/transactions/{transaction_key}",
            delete(control::hide_transaction).patch(control::change_transaction_amount),
        )
        .route("/healthz", get(control::healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> Response {
    TossError::not_found().into_response()
}

async fn method_not_allowed() -> Response {
    TossError::not_found_http_method().into_response()
}

/// A running sandbox. It serves on a background task until [`Sandbox::stop`], [`Sandbox::shutdown`]
/// or drop: all three stop accepting connections, let answers under way finish, and cancel
/// pending webhook retries.
pub struct Sandbox {
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds `config.addr` (port 0 picks a free port) and starts serving.
    pub async fn start(config: Config) -> anyhow::Result<Sandbox> {
        let listener =
            TcpListener::bind(config.addr).await.with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = reachable(listener.local_addr()?);
        let url = format!("http://{addr}");
        let shutdown = CancellationToken::new();
        let webhooks = WebhookHub::new(
            WebhookSettings { webhook_url: config.webhook_url, webhook_retry_scale: config.webhook_retry_scale },
            shutdown.clone(),
        )?;
        let state = AppState {
            keys: Arc::new(Keys { secret_key: config.secret_key, client_key: config.client_key }),
            store: Arc::new(Mutex::new(Store::new(url.clone(), config.session_ttl))),
            webhooks,
            session_ttl: config.session_ttl,
        };
        let app = router(state);
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
                error!(%err, "toss sandbox server failed");
            }
        });
        info!(%url, "toss sandbox listening");
        Ok(Sandbox { addr, shutdown, server: Some(server) })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash): the base URL to give the payment service.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the sandbox without waiting for it (dropping it does the same).
    pub fn stop(self) {
        self.shutdown.cancel();
    }

    /// Stops the sandbox and waits until the server has closed.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The address clients reach a listener on: a wildcard bind is reached on loopback.
fn reachable(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        let loopback = match bound.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(loopback, bound.port())
    } else {
        bound
    }
}
