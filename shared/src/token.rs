//! Access and service tokens: claims, verification against the auth role's JWKS, extractors.
//!
//! Every role verifies tokens the same way: signature by a key from the JWKS (fetched over HTTP,
//! cached, refetched when a token names an unknown `kid`), the key's purpose matching the token's,
//! issuer, audience and expiry checked against the [`Clock`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};
use url::Url;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::error::{ApiError, ErrorCode};
use crate::ids::UserId;
use crate::keys::KeyPurpose;

mod signatures;

pub const ACCESS_ISSUER: &str = "tiketi-auth";
pub const ACCESS_AUDIENCE: &str = "tiketi";
pub const SERVICE_ISSUER: &str = "tiketi-service";
pub const ADMISSION_ISSUER: &str = "tiketi-waiting-room";
/// Tolerated clock difference between the issuer and a verifier.
pub const LEEWAY_SECS: i64 = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum UserRole {
    #[default]
    User,
    Admin,
}

/// What an access token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub role: UserRole,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
}

impl AccessClaims {
    /// Claims for `sub` with `role`, issued at `now` (unix seconds), valid `ttl_secs`.
    pub fn new(sub: UserId, role: UserRole, now: i64, ttl_secs: i64) -> Self {
        Self {
            iss: ACCESS_ISSUER.to_owned(),
            aud: ACCESS_AUDIENCE.to_owned(),
            sub,
            role,
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::now_v7(),
        }
    }
}

/// What a service token says: which role calls (`sub`) and which role it is for (`aud`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
}

/// What an admission token says: this buyer (`sub`) may buy for this event (`aud`) until `exp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdmissionClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub iat: i64,
    pub exp: i64,
    pub jti: uuid::Uuid,
    /// The waiting room's generation that admitted the buyer (none: the event has no waiting
    /// room); a token of a generation Redis lost brings its admission back once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid: {0}")]
    Invalid(&'static str),
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

/// The claims every token kind carries and [`TokenVerifier`] checks.
trait Registered {
    fn issuer(&self) -> &str;
    fn audience(&self) -> &str;
}

macro_rules! registered {
    ($($claims:ty),*) => {$(
        impl Registered for $claims {
            fn issuer(&self) -> &str {
                &self.iss
            }
            fn audience(&self) -> &str {
                &self.aud
            }
        }
    )*};
}
registered!(AccessClaims, ServiceClaims, AdmissionClaims);

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Expired => ApiError::new(ErrorCode::TokenExpired),
            TokenError::Invalid(why) => ApiError::new(ErrorCode::InvalidToken).detail(why),
            TokenError::KeysUnavailable => ApiError::unavailable(err),
        }
    }
}

struct CachedKey {
    purpose: KeyPurpose,
    verifying: ed25519_dalek::VerifyingKey,
}

/// Verifies tokens with keys from a JWKS URL. One per process, shared by every role in it.
pub struct TokenVerifier {
    jwks_url: Url,
    http: reqwest::Client,
    clock: Clock,
    keys: RwLock<HashMap<String, Arc<CachedKey>>>,
    /// When the JWKS was last fetched: unknown kids refetch at most this often, so forged kids
    /// cannot turn every request into a JWKS fetch.
    last_fetch: Mutex<Option<Instant>>,
    min_refetch: Duration,
    /// Access tokens already verified, by their exact text: a buyer polling every two seconds
    /// presents the same token for 15 minutes, and the signature check is most of a request's
    /// cost. Expiry is still checked on every use.
    verified: std::sync::Mutex<HashMap<Box<str>, AccessClaims>>,
    signatures: signatures::Signatures,
}

/// Verified tokens kept at most (about 0.5 KB each, so ~25 MB); the cache starts over when full.
const VERIFIED_CAPACITY: usize = 50_000;

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("jwks_url", &self.jwks_url.as_str()).finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn new(jwks_url: Url, clock: Clock) -> Self {
        Self {
            jwks_url,
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
            clock,
            keys: RwLock::default(),
            last_fetch: Mutex::default(),
            min_refetch: Duration::from_secs(10),
            verified: std::sync::Mutex::default(),
            signatures: signatures::Signatures::default(),
        }
    }

    /// How often an unknown `kid` may trigger a JWKS fetch (default 10 s).
    pub fn with_min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Adds keys known locally (the auth role's own), saving a fetch of our own JWKS.
    pub async fn preload(&self, jwks: &JwkSet) {
        let mut keys = self.keys.write().await;
        insert_keys(&mut keys, jwks);
    }

    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let cached = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(token).cloned();
        let claims = match cached {
            Some(claims) => claims,
            None => {
                let claims: AccessClaims =
                    self.verify(token, KeyPurpose::Access, ACCESS_ISSUER, ACCESS_AUDIENCE).await?;
                let mut verified = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if verified.len() >= VERIFIED_CAPACITY {
                    verified.clear();
                }
                verified.insert(token.into(), claims.clone());
                claims
            }
        };
        self.check_expiry(claims.exp)?;
        Ok(claims)
    }

    pub async fn verify_service(&self, token: &str, audience: &str) -> Result<ServiceClaims, TokenError> {
        let claims: ServiceClaims = self.verify(token, KeyPurpose::Service, SERVICE_ISSUER, audience).await?;
        self.check_expiry(claims.exp)?;
        Ok(claims)
    }

    /// An admission token for `event` (its audience).
    pub async fn verify_admission(&self, token: &str, event: &str) -> Result<AdmissionClaims, TokenError> {
        let claims: AdmissionClaims = self.verify(token, KeyPurpose::Admission, ADMISSION_ISSUER, event).await?;
        self.check_expiry(claims.exp)?;
        Ok(claims)
    }

    fn check_expiry(&self, exp: i64) -> Result<(), TokenError> {
        if exp + LEEWAY_SECS <= self.clock.now().timestamp() { Err(TokenError::Expired) } else { Ok(()) }
    }

    async fn verify<C: serde::de::DeserializeOwned + Registered>(
        &self,
        token: &str,
        purpose: KeyPurpose,
        issuer: &str,
        audience: &str,
    ) -> Result<C, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("unexpected algorithm"));
        }
        let kid = header.kid.ok_or(TokenError::Invalid("no key id"))?;
        let key = self.key(&kid).await?;
        if key.purpose != purpose {
            return Err(TokenError::Invalid("key of another purpose"));
        }
        // The signature, checked together with others arriving now (`signatures`); then the claims.
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid("malformed"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
            .ok_or(TokenError::Invalid("malformed"))?;
        if !self.signatures.check(key.verifying, message.as_bytes(), signature).await {
            return Err(TokenError::Invalid("bad signature"));
        }
        // Decoded only now that its signature is known good; every claim the type names is required.
        let claims: C =
            jsonwebtoken::dangerous::insecure_decode(token).map_err(|_| TokenError::Invalid("malformed"))?.claims;
        if claims.issuer() != issuer {
            return Err(TokenError::Invalid("wrong issuer"));
        }
        if claims.audience() != audience {
            return Err(TokenError::Invalid("wrong audience"));
        }
        // Expiry is checked by the caller against our Clock, so it can be tested with fixed time.
        Ok(claims)
    }

    async fn key(&self, kid: &str) -> Result<Arc<CachedKey>, TokenError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        if KeyPurpose::of_kid(kid).is_none() {
            return Err(TokenError::Invalid("unknown key"));
        }
        self.refetch().await?;
        self.keys.read().await.get(kid).cloned().ok_or(TokenError::Invalid("unknown key"))
    }

    async fn refetch(&self) -> Result<(), TokenError> {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return Ok(());
        }
        let jwks: JwkSet =
            async { self.http.get(self.jwks_url.clone()).send().await?.error_for_status()?.json().await }
                .await
                .map_err(|e: reqwest::Error| {
                    tracing::warn!(error = %e, url = %self.jwks_url, "jwks fetch failed");
                    TokenError::KeysUnavailable
                })?;
        *last = Some(Instant::now());
        let mut keys = self.keys.write().await;
        insert_keys(&mut keys, &jwks);
        Ok(())
    }
}

fn insert_keys(keys: &mut HashMap<String, Arc<CachedKey>>, jwks: &JwkSet) {
    for jwk in &jwks.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        let Some(purpose) = KeyPurpose::of_kid(&kid) else { continue };
        match verifying_key(jwk) {
            Some(verifying) => {
                keys.insert(kid, Arc::new(CachedKey { purpose, verifying }));
            }
            None => tracing::warn!(kid, "skipping a jwk that is not an Ed25519 public key"),
        }
    }
}

/// The Ed25519 public key a JWK holds (`OKP`, curve `Ed25519`, `x`).
fn verifying_key(jwk: &jsonwebtoken::jwk::Jwk) -> Option<ed25519_dalek::VerifyingKey> {
    let jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm else { return None };
    if okp.curve != jsonwebtoken::jwk::EllipticCurve::Ed25519 {
        return None;
    }
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(&okp.x).ok()?.try_into().ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An authenticated user (any role). Rejects with 401.
#[derive(Debug, Clone)]
pub struct AuthUser(pub AccessClaims);

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        Ok(AuthUser(verifier.verify_access(token).await?))
    }
}

/// An authenticated admin. Rejects with 401 without a valid token, 403 for other roles.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AccessClaims);

impl<S> FromRequestParts<S> for AdminUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        if claims.role == UserRole::Admin { Ok(AdminUser(claims)) } else { Err(ApiError::new(ErrorCode::Forbidden)) }
    }
}
