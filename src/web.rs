//! The web app: the built frontend (`frontend/dist`) served on the API's port.
//!
//! Paths under `/api/`, `/internal/`, `/webhooks/` and `/ws` never reach it (an unknown one there
//! stays a problem+json 404). Every other path is a file of the build or, for the app's own routes
//! (`/events/…`, `/checkout/success`, …), `index.html`. Hashed files under `/assets/` are cached
//! for a year; everything else is revalidated on each visit. The build ships `.br` and `.gz` twins
//! of each file, served to browsers that accept them.

use std::convert::Infallible;
use std::path::PathBuf;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tiketi_shared::config::Env;
use tiketi_shared::{ApiError, ErrorCode, Json};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use url::Url;
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct WebSettings {
    /// `TIKETI_WEB_DIR`: the built frontend; not served when it holds no `index.html`.
    pub dir: PathBuf,
    /// `TIKETI_WEB_GRAFANA_URL`: the platform's Grafana, embedded in the operator console.
    pub grafana_url: Option<Url>,
}

impl WebSettings {
    pub fn from_env(env: &mut Env) -> Self {
        Self {
            dir: env.get("TIKETI_WEB_DIR", PathBuf::from("frontend/dist")),
            grafana_url: env.opt("TIKETI_WEB_GRAFANA_URL"),
        }
    }
}

/// What the app needs to know about this deployment.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebConfig {
    /// Grafana's URL when one is configured: the console embeds its dashboards.
    grafana_url: Option<String>,
}

/// Settings of this deployment that the web app reads at start.
#[utoipa::path(get, path = "/api/config", tag = "web", responses((status = 200, body = WebConfig)))]
pub async fn config(State(web): State<Web>) -> Json<WebConfig> {
    Json(WebConfig { grafana_url: web.grafana_url.as_ref().map(|u| u.to_string()) })
}

/// The files and the headers that go with them.
#[derive(Clone)]
pub struct Web {
    files: Option<ServeDir<ServeFile>>,
    grafana_url: Option<Url>,
    security: [(header::HeaderName, HeaderValue); 5],
}

impl Web {
    pub fn new(settings: &WebSettings) -> anyhow::Result<Self> {
        let index = settings.dir.join("index.html");
        let files = if index.is_file() {
            let index = ServeFile::new(index).precompressed_br().precompressed_gzip();
            Some(ServeDir::new(&settings.dir).precompressed_br().precompressed_gzip().fallback(index))
        } else {
            tracing::info!(dir = %settings.dir.display(), "the web app is not built here (no index.html): serving the API only");
            None
        };
        let frame_src =
            settings.grafana_url.as_ref().map_or_else(|| "'none'".to_owned(), |u| u.origin().ascii_serialization());
        // Scripts only from this origin: no inline script, no eval. Inline *styles* are allowed
        // because the charts and the seat-map layout set element styles.
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; \
             font-src 'self' data:; connect-src 'self'; frame-src {frame_src}; frame-ancestors 'none'; \
             base-uri 'self'; form-action 'self'; object-src 'none'"
        );
        let security = [
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&csp).context("TIKETI_WEB_GRAFANA_URL")?),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin")),
            (
                header::HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
            ),
            (header::HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
        ];
        Ok(Self { files, grafana_url: settings.grafana_url.clone(), security })
    }

    async fn serve(&self, request: Request) -> Response {
        let Some(files) = self.files.clone() else { return not_found() };
        let immutable = request.uri().path().starts_with("/assets/");
        let Ok(mut response) = files.oneshot(request).await.map(IntoResponse::into_response);
        let status = response.status();
        if immutable
            && response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"))
        {
            // A missing hashed file is an old page asking for a build that is gone: 404, not the app.
            return not_found();
        }
        let headers = response.headers_mut();
        let cache = if immutable && status.is_success() { "public, max-age=31536000, immutable" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        for (name, value) in &self.security {
            headers.insert(name.clone(), value.clone());
        }
        response
    }
}

fn not_found() -> Response {
    ApiError::new(ErrorCode::NotFound).detail("no such route").into_response()
}

/// Paths that belong to the API: an unknown one is a problem+json 404, never the app.
fn is_api(path: &str) -> bool {
    ["/api/", "/internal/", "/webhooks/"].iter().any(|p| path.starts_with(p))
        || ["/api", "/ws", "/healthz", "/readyz", "/metrics"].contains(&path)
}

/// The router's fallback: the app for browser paths, 404 for API paths.
pub async fn fallback(State(web): State<Web>, request: Request) -> Result<Response, Infallible> {
    if is_api(request.uri().path()) {
        return Ok(not_found());
    }
    Ok(web.serve(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_never_fall_back_to_the_app() {
        for api in ["/api/nope", "/api", "/internal/x", "/webhooks/other", "/ws", "/metrics"] {
            assert!(is_api(api), "{api}");
        }
        for page in ["/", "/events/1", "/checkout/success", "/apis", "/assets/index-abc.js", "/wsx"] {
            assert!(!is_api(page), "{page}");
        }
    }
}
