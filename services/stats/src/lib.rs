//! The stats role: live analytics for operators and finance report requests.
//!
//! - [`project`]: domain events from the role's own SQS queue into the `stats` schema (applied
//!   once, in any order, rebuildable by replay) — never another service's tables
//! - [`api`]: the admin endpoints (overview, sales, funnel, seat heatmap, sell-through, rebuild)
//! - [`reports`]: report requests, their status, presigned downloads; the files themselves are
//!   built by the `stats-report` function (a Lambda in the cloud, in-process here)

pub mod api;
pub mod project;
pub mod reports;
pub mod settings;

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tiketi_shared::aws::{Aws, Located, Queue};
use tiketi_shared::clock::Clock;
use tiketi_shared::consumer::{Consumer, Handler, Outcome, Polling};
use tiketi_shared::events::Envelope;
use tiketi_shared::redis::Redis;
use tiketi_shared::token::TokenVerifier;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::settings::StatsSettings;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
pub const SCHEMA: &str = "stats";
pub const ROLE: &str = "stats";

#[derive(Clone)]
pub struct StatsState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub redis: Redis,
    pub verifier: Arc<TokenVerifier>,
    pub clock: Clock,
    pub aws: Aws,
    pub located: Located,
    pub settings: StatsSettings,
    /// Heatmaps answered within the last moments, gzipped, per event.
    pub heatmaps: api::HeatmapCache,
    /// The overview answered within the last moment.
    pub overview: api::OverviewCache,
}

impl Deref for StatsState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<StatsState> for Arc<TokenVerifier> {
    fn from_ref(state: &StatsState) -> Self {
        state.verifier.clone()
    }
}

impl StatsState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn polling(&self) -> Polling {
        Polling {
            aws: self.aws.clone(),
            located: self.located.clone(),
            receive_wait: self.settings.receive_wait,
            retry_base: self.settings.retry_base,
        }
    }

    /// The role's consumer of domain events.
    pub fn consumer(&self) -> Consumer {
        Consumer { queue: Queue::StatsEvents, handler: Arc::new(Projector(self.clone())) }
    }
}

/// Applies each domain event from the stats queue to the projections.
pub struct Projector(pub StatsState);

#[async_trait::async_trait]
impl Handler for Projector {
    async fn handle(&self, body: &str) -> Outcome {
        let envelope: Envelope = match serde_json::from_str(body) {
            Ok(envelope) => envelope,
            Err(e) => return Outcome::Poison(format!("not a domain event: {e}")),
        };
        match project::consume(&self.0.pool, &envelope, self.0.clock.now()).await {
            Ok(_) => Outcome::Done,
            // A payload that does not decode never will.
            Err(e) if e.is::<serde_json::Error>() => Outcome::Poison(format!("event {}: {e}", envelope.id)),
            Err(e) => Outcome::Retry(format!("{e:#}")),
        }
    }
}

/// The admin routes, described for the OpenAPI document.
pub fn router(state: StatsState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::overview))
        .routes(routes!(api::sales))
        .routes(routes!(api::funnel))
        .routes(routes!(api::heatmap))
        .routes(routes!(api::sections))
        .routes(routes!(api::rebuild))
        .routes(routes!(reports::request, reports::list))
        .routes(routes!(reports::get))
        .with_state(state)
}
