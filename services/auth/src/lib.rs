//! The auth role: accounts, password sign-in, access tokens (EdDSA JWTs other roles verify
//! through the JWKS), rotating refresh tokens, and OpenID Connect sign-in.
//!
//! - [`settings`]: the role's configuration section
//! - [`model`]: request and response bodies, validation
//! - [`password`]: argon2id hashing off the async runtime
//! - [`session`]: issuing access tokens, refresh-token rotation and re-use detection
//! - [`store`]: the SQL of schema `auth`
//! - [`routes`]: the HTTP endpoints
//! - [`oauth`]: OpenID Connect providers
//! - [`background`]: periodic clean-up of dead sessions

pub mod background;
pub mod browser;
pub mod model;
pub mod oauth;
pub mod password;
pub mod routes;
pub mod session;
pub mod settings;
pub mod store;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tiketi_shared::clock::Clock;
use tiketi_shared::keys::{KeyPurpose, KeySet, KeyStore, jwk_set};
use tiketi_shared::ratelimit::{Limit, RateLimiter};
use tiketi_shared::redis::Redis;
use tiketi_shared::token::TokenVerifier;
use url::Url;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::model::{User, normalize_email, valid_email};
use crate::password::Passwords;
use crate::settings::AuthSettings;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");
pub const SCHEMA: &str = "auth";
/// This role's name: the audience of service tokens sent to it.
pub const ROLE: &str = "auth";

/// What the auth role needs from the process.
pub struct Dependencies<'a> {
    pub pool: PgPool,
    pub redis: Redis,
    pub verifier: Arc<TokenVerifier>,
    pub keys: &'a dyn KeyStore,
    pub clock: Clock,
    pub public_url: Url,
}

#[derive(Clone)]
pub struct AuthState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub redis: Redis,
    pub limiter: RateLimiter,
    pub limits: Limits,
    pub passwords: Passwords,
    pub verifier: Arc<TokenVerifier>,
    pub access_keys: KeySet,
    pub service_keys: KeySet,
    pub clock: Clock,
    pub settings: AuthSettings,
    pub oidc: oauth::Providers,
    pub public_url: Url,
}

impl Deref for AuthState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AuthState> for Arc<TokenVerifier> {
    fn from_ref(state: &AuthState) -> Self {
        state.verifier.clone()
    }
}

/// Per-minute budgets of the sign-in endpoints.
pub struct Limits {
    ip_per_minute: u32,
    account_per_minute: u32,
}

impl Limits {
    pub fn ip(&self, action: &'static str) -> Limit {
        Limit { name: action, max: self.ip_per_minute, window: Duration::from_secs(60) }
    }
    pub fn account(&self, action: &'static str) -> Limit {
        Limit { name: action, max: self.account_per_minute, window: Duration::from_secs(60) }
    }
}

impl AuthState {
    pub async fn new(settings: AuthSettings, deps: Dependencies<'_>) -> anyhow::Result<Self> {
        let access_keys = deps.keys.load(KeyPurpose::Access).await?;
        let service_keys = deps.keys.load(KeyPurpose::Service).await?;
        // Our own keys need no trip through our own JWKS endpoint.
        deps.verifier.preload(&jwk_set(&[&access_keys, &service_keys])).await;
        Ok(Self(Arc::new(Inner {
            limiter: RateLimiter::new(deps.redis.clone()),
            limits: Limits {
                ip_per_minute: settings.ip_limit_per_minute,
                account_per_minute: settings.account_limit_per_minute,
            },
            passwords: Passwords::new(settings.argon2)?,
            oidc: oauth::Providers::new(&settings.oidc, deps.public_url.clone())?,
            pool: deps.pool,
            redis: deps.redis,
            verifier: deps.verifier,
            access_keys,
            service_keys,
            clock: deps.clock,
            settings,
            public_url: deps.public_url,
        })))
    }

    /// Makes `email` an admin with `password` (created or updated). Used at start-up.
    pub async fn ensure_admin(&self, email: &str, password: &SecretString) -> anyhow::Result<User> {
        let email = normalize_email(email);
        anyhow::ensure!(valid_email(&email), "TIKETI_ADMIN_EMAIL is not an email address");
        anyhow::ensure!(
            password.expose_secret().chars().count() >= model::MIN_PASSWORD_CHARS,
            "TIKETI_ADMIN_PASSWORD must be at least {} characters",
            model::MIN_PASSWORD_CHARS
        );
        let hash = self.passwords.hash(password.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(store::upsert_admin(&self.pool, &email, &hash, self.clock.now()).await?)
    }
}

/// The public routes, described for the OpenAPI document.
pub fn router(state: AuthState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(routes::register))
        .routes(routes!(routes::login))
        .routes(routes!(routes::refresh))
        .routes(routes!(routes::logout))
        .routes(routes!(routes::me))
        .routes(routes!(routes::jwks))
        .routes(routes!(oauth::providers))
        .routes(routes!(oauth::start))
        .routes(routes!(oauth::callback))
        .with_state(state)
}

/// The `/internal/auth/...` routes other roles call with a service token.
pub fn internal_router(state: AuthState) -> Router {
    let verifier = state.verifier.clone();
    let routes =
        Router::new().route("/internal/auth/users/{id}", axum::routing::get(routes::internal_user)).with_state(state);
    tiketi_shared::internal::guard(routes, verifier, ROLE)
}
