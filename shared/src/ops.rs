//! Operational routes every process serves: liveness, readiness, Prometheus metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::redis::Redis;

/// A dependency `/readyz` checks.
#[derive(Clone, Debug)]
pub enum Dependency {
    Postgres(PgPool),
    Redis(Redis),
}

impl Dependency {
    fn name(&self) -> &'static str {
        match self {
            Dependency::Postgres(_) => "postgres",
            Dependency::Redis(_) => "redis",
        }
    }

    async fn check(&self) -> Result<(), String> {
        match self {
            Dependency::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await.map(drop).map_err(|e| e.to_string())
            }
            Dependency::Redis(redis) => redis.ping().await.map_err(|e| e.to_string()),
        }
    }
}

#[derive(Clone)]
struct OpsState {
    dependencies: Vec<Dependency>,
    metrics: PrometheusHandle,
}

#[derive(Serialize, ToSchema)]
struct Readiness {
    ready: bool,
    checks: Vec<Check>,
}

#[derive(Serialize, ToSchema)]
struct Check {
    name: &'static str,
    ok: bool,
}

pub fn router(dependencies: Vec<Dependency>, metrics: PrometheusHandle) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(render_metrics))
        .with_state(OpsState { dependencies, metrics })
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Every dependency of the process answers (2 s budget each).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness),
))]
async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    let checks = futures::future::join_all(state.dependencies.iter().map(|dep| async move {
        let result = tokio::time::timeout(Duration::from_secs(2), dep.check())
            .await
            .unwrap_or_else(|_| Err("timed out".to_owned()));
        if let Err(e) = &result {
            tracing::warn!(dependency = dep.name(), error = %e, "not ready");
        }
        Check { name: dep.name(), ok: result.is_ok() }
    }))
    .await;
    let ready = checks.iter().all(|c| c.ok);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(Readiness { ready, checks }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
async fn render_metrics(State(state): State<OpsState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
