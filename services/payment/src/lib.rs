//! The payment role: orders paid through Toss Payments, a confirm that never loses money,
//! refunds, and webhook application.
//!
//! - [`model`]: orders, their state machine, API bodies
//! - [`orders`]: reading and changing orders (guarded transitions)
//! - [`api`]: `/api/payments` — checkout, confirm, read, cancel
//! - [`settle`]: from Toss's word on a payment to an order status and a reservation change
//! - [`refunds`]: full and partial refunds, cancelled events
//! - [`webhooks`]: Toss webhook deliveries — stored once, applied (the worker calls it)
//! - [`reconciler`]: finishing what crashes and lost answers left open
//! - [`toss`]: the Toss Payments v1 client and payloads
//! - [`ticket`]: the ticket role's internal API

pub mod api;
pub mod internal;
pub mod model;
pub mod orders;
pub mod reconciler;
pub mod refunds;
pub mod settings;
pub mod settle;
pub mod ticket;
pub mod toss;
pub mod webhooks;

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tiketi_shared::clock::Clock;
use tiketi_shared::internal::InternalClient;
use tiketi_shared::token::TokenVerifier;
use url::Url;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::settings::PaymentSettings;
use crate::ticket::TicketApi;
use crate::toss::{SecretKeySource, TossClient};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
pub const SCHEMA: &str = "payment";
pub const ROLE: &str = "payment";

#[derive(Clone)]
pub struct PaymentState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub clock: Clock,
    pub settings: PaymentSettings,
    pub toss: TossClient,
    pub ticket: TicketApi,
    pub verifier: Arc<TokenVerifier>,
    /// Where the payment window returns the buyer.
    pub success_url: Url,
    pub fail_url: Url,
}

impl Deref for PaymentState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<PaymentState> for Arc<TokenVerifier> {
    fn from_ref(state: &PaymentState) -> Self {
        state.verifier.clone()
    }
}

/// What the role is built from.
pub struct Dependencies {
    pub pool: PgPool,
    pub clock: Clock,
    pub verifier: Arc<TokenVerifier>,
    /// Calls the ticket role's internal API.
    pub ticket: InternalClient,
    /// Where the Toss secret key comes from (configuration, or a secrets manager).
    pub secret_key: Arc<dyn SecretKeySource>,
    pub public_url: Url,
}

impl PaymentState {
    pub fn new(settings: PaymentSettings, deps: Dependencies) -> Self {
        let return_url = |set: &Option<Url>, path: &str| {
            set.clone().unwrap_or_else(|| deps.public_url.join(path).unwrap_or_else(|_| deps.public_url.clone()))
        };
        let success_url = return_url(&settings.success_url, "checkout/success");
        let fail_url = return_url(&settings.fail_url, "checkout/fail");
        let toss = TossClient::new(settings.toss_api_url.clone(), deps.secret_key, settings.toss_timeout);
        Self(Arc::new(Inner {
            pool: deps.pool,
            clock: deps.clock,
            toss,
            ticket: TicketApi(deps.ticket),
            verifier: deps.verifier,
            success_url,
            fail_url,
            settings,
        }))
    }
}

/// The public routes, described for the OpenAPI document.
pub fn router(state: PaymentState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::checkout))
        .routes(routes!(api::confirm))
        .routes(routes!(api::get))
        .routes(routes!(api::list))
        .routes(routes!(api::cancel))
        .with_state(state)
}

/// The `/internal/payment/...` routes other roles call with a service token.
pub fn internal_router(state: PaymentState) -> axum::Router {
    internal::router(state)
}
