//! The ticket role: venues, events and their seats, live seat maps, holds and reservations.
//! Where seats are won or lost; no seat is ever held or sold twice.
//!
//! - [`model`]: ids, request and response bodies, validation
//! - [`status`]: event, seat and reservation states and legal transitions
//! - [`catalog`]: venues and events — create (seats generated in bulk), edit
//! - [`browse`]: event lists and search, event detail with availability
//! - [`seatmap`]: the seat map with versioned ETags, cached pre-serialized and gzipped
//! - [`holds`]: the all-or-nothing hold
//! - [`queue`]: the waiting room — fair queue, atomic admission, admission tokens
//! - [`reservations`]: the buyer's reservations and the hold-ending transitions
//! - [`settle`]: confirm, refund, cancel an event; the internal API for the payment role
//! - [`sweeper`]: expiring holds in the background
//! - [`publish`]: seat-change versions, cache invalidation, pub/sub and the outbox
//! - [`cache`]: read-through Redis caching with hit-rate metrics
//! - [`seed`]: demo venues and events

pub mod browse;
pub mod cache;
pub mod catalog;
pub mod holds;
pub mod model;
pub mod payment;
pub mod publish;
pub mod queue;
pub mod reservations;
pub mod seatmap;
pub mod seed;
pub mod settings;
pub mod settle;
pub mod status;
pub mod sweeper;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use redis::AsyncCommands;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tiketi_shared::clock::Clock;
use tiketi_shared::redis::Redis;
use tiketi_shared::token::TokenVerifier;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::publish::Publisher;
use crate::seatmap::LocalMaps;
use crate::settings::TicketSettings;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
pub const SCHEMA: &str = "ticket";
pub const ROLE: &str = "ticket";

#[derive(Clone)]
pub struct TicketState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub redis: Redis,
    pub verifier: Arc<TokenVerifier>,
    pub clock: Clock,
    pub settings: TicketSettings,
    pub publisher: Publisher,
    pub seat_maps: LocalMaps,
    pub detail_flights: seatmap::Flights,
    pub rules: holds::RulesCache,
    /// Concurrent holds written in shared transactions.
    pub hold_batches: holds::Batcher,
    pub waiting_room: queue::store::WaitingRoom,
    pub limiter: tiketi_shared::ratelimit::RateLimiter,
    pub admission_keys: tiketi_shared::keys::KeySet,
    /// Refunds of paid reservations their buyers cancel.
    pub payments: payment::PaymentApi,
    /// The rooms this process's last admission step found open: their depth gauges are set.
    pub open_rooms: std::sync::Mutex<std::collections::HashSet<model::EventId>>,
    /// The waiting-room counts this process last reported, per event, and when.
    pub reported_tallies:
        std::sync::Mutex<std::collections::HashMap<model::EventId, (queue::store::Tally, std::time::Instant)>>,
}

impl Deref for TicketState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<TicketState> for Arc<TokenVerifier> {
    fn from_ref(state: &TicketState) -> Self {
        state.verifier.clone()
    }
}

impl TicketState {
    /// `admission_keys` sign waiting-room admissions; they are added to `verifier` here.
    pub async fn new(
        settings: TicketSettings,
        pool: PgPool,
        redis: Redis,
        verifier: Arc<TokenVerifier>,
        clock: Clock,
        admission_keys: tiketi_shared::keys::KeySet,
        payments: payment::PaymentApi,
    ) -> Self {
        verifier.preload(&tiketi_shared::keys::jwk_set(&[&admission_keys])).await;
        Self(Arc::new(Inner {
            publisher: Publisher::new(redis.clone(), settings.seat_map_max_age),
            seat_maps: LocalMaps::default(),
            detail_flights: seatmap::Flights::default(),
            rules: holds::RulesCache::default(),
            hold_batches: holds::Batcher::new(settings.hold_batch, settings.hold_batches),
            waiting_room: queue::store::WaitingRoom::new(redis.clone()),
            limiter: tiketi_shared::ratelimit::RateLimiter::new(redis.clone()),
            admission_keys,
            payments,
            open_rooms: std::sync::Mutex::default(),
            reported_tallies: std::sync::Mutex::default(),
            pool,
            redis,
            verifier,
            clock,
            settings,
        }))
    }

    /// The event's sale rules: a snapshot up to a second old, or fresh when `fresh`.
    pub async fn current_rules(
        &self,
        event: model::EventId,
        fresh: bool,
    ) -> tiketi_shared::ApiResult<holds::SaleRules> {
        if !fresh && let Some(rules) = self.rules.get(event) {
            return Ok(rules);
        }
        let rules = holds::fetch_rules(self, event).await?;
        self.rules.put(event, rules.clone());
        Ok(rules)
    }

    pub fn hold_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.hold_ttl).unwrap_or(chrono::Duration::minutes(20))
    }

    fn catalogue_key(&self) -> String {
        self.redis.key("events:generation")
    }

    /// The generation cached event lists are keyed by; bumped on every catalogue change.
    pub async fn catalogue_generation(&self) -> i64 {
        let found: redis::RedisResult<Option<i64>> = self.redis.conn().get(self.catalogue_key()).await;
        found.ok().flatten().unwrap_or(0)
    }

    pub async fn bump_catalogue(&self) {
        let bumped: redis::RedisResult<i64> = self.redis.conn().incr(self.catalogue_key(), 1).await;
        if let Err(e) = bumped {
            tracing::warn!(error = %e, "invalidating cached event lists failed");
        }
    }
}

/// The public routes, described for the OpenAPI document.
pub fn router(state: TicketState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(browse::list_events))
        .routes(routes!(browse::get_event))
        .routes(routes!(seatmap::seat_map))
        .routes(routes!(holds::hold))
        .routes(routes!(queue::join, queue::status, queue::leave))
        .routes(routes!(reservations::list))
        .routes(routes!(reservations::get))
        .routes(routes!(reservations::cancel))
        .routes(routes!(catalog::create_venue, catalog::list_venues))
        .routes(routes!(catalog::create_event))
        .routes(routes!(catalog::update_event))
        .routes(routes!(settle::cancel_event))
        .with_state(state)
}

/// `/internal/ticket/...`: what the payment, realtime and worker roles call, with a service token.
pub fn internal_router(state: TicketState) -> Router {
    use axum::routing::{get, post};
    use tiketi_shared::reservations::RefundRequestsQuery;
    let verifier = state.verifier.clone();
    let routes = Router::new()
        .route("/internal/ticket/reservations/{id}", get(settle::internal_get))
        .route("/internal/ticket/reservations/{id}/confirm", post(settle::internal_confirm))
        .route("/internal/ticket/reservations/{id}/release", post(settle::internal_release))
        .route("/internal/ticket/reservations/{id}/refunded", post(settle::internal_refunded))
        .route("/internal/ticket/reservations/{id}/extend", post(settle::internal_extend))
        .route("/internal/ticket/reservations/{id}/expire", post(settle::internal_expire))
        .route(RefundRequestsQuery::PATH, get(settle::internal_refund_requests))
        .route("/internal/ticket/events/{id}/queue/watch", post(queue::internal_watch))
        .with_state(state);
    tiketi_shared::internal::guard(routes, verifier, ROLE)
}
