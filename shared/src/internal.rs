//! Service-to-service calls: short-lived service tokens (signed like access tokens, audience =
//! the callee role), the guard every `/internal` router sits behind, and the client roles use to
//! call each other: over HTTP as in the cloud, or — to a role served by the same process, as in
//! `tiketi up` — straight into that process's router ([`LocalRoutes`]): the same routes, guard,
//! service token and JSON, without a socket.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tower::ServiceExt as _;
use tracing::Instrument as _;
use url::Url;

use crate::clock::Clock;
use crate::error::{ApiError, ErrorCode};
use crate::keys::KeySet;
use crate::token::{SERVICE_ISSUER, ServiceClaims, TokenVerifier, bearer};

/// How long a service token lives; callers reuse one until shortly before it expires.
pub const SERVICE_TOKEN_TTL_SECS: i64 = 120;
const REUSE_MARGIN_SECS: i64 = 30;

/// Signs service tokens for one calling role, caching one token per audience.
pub struct ServiceTokenSigner {
    caller: String,
    keys: KeySet,
    clock: Clock,
    cache: Mutex<HashMap<String, (String, i64)>>,
}

impl ServiceTokenSigner {
    pub fn new(caller: impl Into<String>, keys: KeySet, clock: Clock) -> Self {
        Self { caller: caller.into(), keys, clock, cache: Mutex::default() }
    }

    pub async fn token_for(&self, audience: &str) -> anyhow::Result<String> {
        let now = self.clock.now().timestamp();
        let mut cache = self.cache.lock().await;
        if let Some((token, exp)) = cache.get(audience)
            && exp - REUSE_MARGIN_SECS > now
        {
            return Ok(token.clone());
        }
        let claims = ServiceClaims {
            iss: SERVICE_ISSUER.to_owned(),
            aud: audience.to_owned(),
            sub: self.caller.clone(),
            iat: now,
            exp: now + SERVICE_TOKEN_TTL_SECS,
            jti: uuid::Uuid::now_v7(),
        };
        let token = self.keys.active().sign(&claims)?;
        cache.insert(audience.to_owned(), (token.clone(), claims.exp));
        Ok(token)
    }
}

#[derive(Clone)]
struct Guard {
    verifier: Arc<TokenVerifier>,
    audience: &'static str,
}

/// Puts `router` (the `/internal/...` routes of role `audience`) behind service-token checks.
/// Handlers can read the caller from the `ServiceClaims` request extension.
pub fn guard<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    verifier: Arc<TokenVerifier>,
    audience: &'static str,
) -> Router<S> {
    router.layer(middleware::from_fn_with_state(Guard { verifier, audience }, check_service_token))
}

async fn check_service_token(State(guard): State<Guard>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let token = bearer(&parts).ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
    let claims = guard.verifier.verify_service(token, guard.audience).await?;
    parts.extensions.insert(claims);
    req = Request::from_parts(parts, body);
    Ok(next.run(req).await)
}

/// Errors of an internal call, kept apart so callers can decide what a 404 or 409 means to them.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("{callee} answered {status}: {body}")]
    Status { callee: String, status: u16, body: String },
    #[error("calling {callee}: {source}")]
    Transport { callee: String, source: reqwest::Error },
    /// An in-process call timed out, or its answer was not the expected JSON.
    #[error("calling {callee} in process: {source}")]
    Local { callee: String, source: anyhow::Error },
    #[error("preparing the call: {0}")]
    Request(#[from] anyhow::Error),
}

impl From<InternalError> for ApiError {
    fn from(err: InternalError) -> Self {
        ApiError::unavailable(err)
    }
}

/// The roles this process serves and, once built, its router: calls to those roles skip HTTP.
///
/// The router is held weakly (it holds the states that hold the clients): when the server has
/// stopped, calls fall back to HTTP.
#[derive(Clone, Default)]
pub struct LocalRoutes(Arc<LocalInner>);

#[derive(Default)]
struct LocalInner {
    roles: Vec<String>,
    router: OnceLock<Weak<Router>>,
}

impl LocalRoutes {
    /// Routes of `roles` will be served here (empty: every call goes over HTTP).
    pub fn new<R: Into<String>>(roles: impl IntoIterator<Item = R>) -> Self {
        Self(Arc::new(LocalInner { roles: roles.into_iter().map(Into::into).collect(), router: OnceLock::new() }))
    }

    /// The process's router, once built; the caller keeps it alive while serving.
    pub fn serve(&self, router: &Arc<Router>) {
        let _ = self.0.router.set(Arc::downgrade(router));
    }

    fn router_for(&self, callee: &str) -> Option<Arc<Router>> {
        if !self.0.roles.iter().any(|r| r == callee) {
            return None;
        }
        self.0.router.get()?.upgrade()
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Calls other roles' `/internal` routes with a service token.
#[derive(Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    base: Url,
    signer: Arc<ServiceTokenSigner>,
    local: LocalRoutes,
}

impl InternalClient {
    pub fn new(base: Url, signer: Arc<ServiceTokenSigner>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self { http, base, signer, local: LocalRoutes::default() }
    }

    /// Calls to roles `local` serves go into this process's router instead of over HTTP.
    #[must_use]
    pub fn with_local(mut self, local: LocalRoutes) -> Self {
        self.local = local;
        self
    }

    pub async fn get<T: DeserializeOwned>(&self, callee: &str, path: &str) -> Result<T, InternalError> {
        self.send(callee, reqwest::Method::GET, path, None::<&()>).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        callee: &str,
        path: &str,
        body: &B,
    ) -> Result<T, InternalError> {
        self.send(callee, reqwest::Method::POST, path, Some(body)).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        callee: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, InternalError> {
        let token = self.signer.token_for(callee).await?;
        // The call is a span of the caller's trace, and the callee continues it.
        let span = tracing::info_span!(
            "internal call",
            callee,
            otel.name = %format_args!("{method} {callee}"),
            otel.kind = "client",
        );
        if let Some(router) = self.local.router_for(callee) {
            return local_call(&router, callee, method, path, &token, body).instrument(span).await;
        }
        let transport = |source| InternalError::Transport { callee: callee.to_owned(), source };
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| InternalError::Request(anyhow::anyhow!("bad internal path {path}: {e}")))?;
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        async move {
            let request = request.headers(crate::telemetry::trace_headers());
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(InternalError::Status { callee: callee.to_owned(), status: status.as_u16(), body });
            }
            response.json().await.map_err(transport)
        }
        .instrument(span)
        .await
    }
}

/// The call as a request into this process's router: what the HTTP server would have handed it.
async fn local_call<B: Serialize, T: DeserializeOwned>(
    router: &Router,
    callee: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&B>,
) -> Result<T, InternalError> {
    let local = |source: anyhow::Error| InternalError::Local { callee: callee.to_owned(), source };
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .extension(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 0))));
    for (name, value) in &crate::telemetry::trace_headers() {
        request = request.header(name, value);
    }
    let request = match body {
        Some(body) => {
            let json = serde_json::to_vec(body).map_err(|e| InternalError::Request(e.into()))?;
            request.header(header::CONTENT_TYPE, "application/json").body(Body::from(json))
        }
        None => request.body(Body::empty()),
    }
    .map_err(|e| InternalError::Request(e.into()))?;
    let answer = async {
        let response = router.clone().oneshot(request).await.map_err(|e| local(e.into()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| local(e.into()))?;
        Ok::<_, InternalError>((status, bytes))
    };
    let (status, bytes) =
        tokio::time::timeout(CALL_TIMEOUT, answer).await.map_err(|_| local(anyhow::anyhow!("timed out")))??;
    if !status.is_success() {
        let body = String::from_utf8_lossy(&bytes).into_owned();
        return Err(InternalError::Status { callee: callee.to_owned(), status: status.as_u16(), body });
    }
    serde_json::from_slice(&bytes).map_err(|e| local(e.into()))
}
