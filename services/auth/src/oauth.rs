//! Sign-in through OpenID Connect providers: authorization code flow with PKCE, `state` (bound
//! to the browser by a cookie) and `nonce`.
//!
//! `start` remembers the attempt in Redis under its `state` for ten minutes and redirects to the
//! provider; `callback` takes the attempt back exactly once, exchanges the code, verifies the ID
//! token, then finds or creates the account: an identity seen before signs its user in; a new
//! identity whose email the provider verified links to the account with that email or creates
//! one. Without a verified email nothing is linked or created.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use redis::AsyncCommands;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tiketi_shared::error::Problem;
use tiketi_shared::extract::{Path, Query};
use tiketi_shared::token::UserRole;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json, Validation};
use tokio::sync::RwLock;
use url::Url;
use utoipa::{IntoParams, ToSchema};

use crate::AuthState;
use crate::model::{TokenResponse, User, normalize_email, valid_email};
use crate::settings::OidcProviderSettings;
use crate::store::{self, NewUser};

const ATTEMPT_TTL_SECS: u64 = 600;
const COOKIE: &str = "tiketi_oauth_state";
/// Provider metadata and keys are re-discovered this often.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The configured providers, each discovered on first use.
pub struct Providers {
    http: reqwest::Client,
    public_url: Url,
    providers: HashMap<String, Provider>,
}

struct Provider {
    settings: OidcProviderSettings,
    client: RwLock<Option<(Instant, Arc<Client>)>>,
}

/// A sign-in in flight, kept in Redis under its `state`.
#[derive(Serialize, Deserialize)]
struct Attempt {
    provider: String,
    pkce_verifier: String,
    nonce: String,
    /// A page of ours to send the browser back to, signed in by cookie (see [`crate::browser`]).
    #[serde(default)]
    return_to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StartParams {
    /// A path on this site (e.g. `/events`) to come back to after signing in: the callback then
    /// sets the refresh cookie and redirects there instead of answering the tokens as JSON.
    return_to: Option<String>,
}

/// Only paths on this site: no scheme, no host, no `//` (protocol-relative) or backslash tricks.
fn valid_return_to(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 512
        && !path.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersResponse {
    /// Configured OpenID Connect providers, by the name used in `/api/auth/oauth/{provider}/start`.
    providers: Vec<String>,
}

/// The OpenID Connect providers this server signs in with.
#[utoipa::path(get, path = "/api/auth/providers", tag = "auth", responses((status = 200, body = ProvidersResponse)))]
pub async fn providers(State(state): State<AuthState>) -> Json<ProvidersResponse> {
    let mut providers: Vec<String> = state.oidc.providers.keys().cloned().collect();
    providers.sort();
    Json(ProvidersResponse { providers })
}

impl Providers {
    pub fn new(settings: &[OidcProviderSettings], public_url: Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let providers = settings
            .iter()
            .map(|s| (s.name.clone(), Provider { settings: s.clone(), client: RwLock::default() }))
            .collect();
        Ok(Self { http, public_url, providers })
    }

    async fn client(&self, name: &str) -> ApiResult<Arc<Client>> {
        let provider = self.providers.get(name).ok_or_else(|| ApiError::new(ErrorCode::OauthProviderUnknown))?;
        if let Some((at, client)) = provider.client.read().await.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(client.clone());
        }
        let mut slot = provider.client.write().await;
        let s = &provider.settings;
        let issuer = IssuerUrl::new(s.issuer.as_str().trim_end_matches('/').to_owned()).map_err(ApiError::internal)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http).await.map_err(|e| {
            ApiError::new(ErrorCode::OauthProviderFailed).source(anyhow::anyhow!("discovery of {name}: {e}"))
        })?;
        let redirect = self.public_url.join(&format!("api/auth/oauth/{name}/callback")).map_err(ApiError::internal)?;
        let client = Arc::new(
            CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(s.client_id.clone()),
                Some(ClientSecret::new(s.client_secret.expose_secret().to_owned())),
            )
            .set_redirect_uri(RedirectUrl::from_url(redirect)),
        );
        *slot = Some((Instant::now(), client.clone()));
        Ok(client)
    }
}

/// Start signing in with a provider: redirects to it.
#[utoipa::path(get, path = "/api/auth/oauth/{provider}/start", tag = "auth",
    params(("provider" = String, Path, description = "configured provider name"), StartParams),
    responses(
        (status = 302, description = "redirect to the provider's authorization endpoint"),
        (status = 404, description = "`OAUTH_PROVIDER_UNKNOWN`", body = Problem),
        (status = 422, description = "`VALIDATION_FAILED`: `return_to` is not a path on this site", body = Problem),
    ))]
pub async fn start(
    State(state): State<AuthState>,
    Path(provider): Path<String>,
    Query(params): Query<StartParams>,
) -> ApiResult<Response> {
    let mut v = Validation::default();
    v.check(params.return_to.as_deref().is_none_or(valid_return_to), "return_to", "must be a path on this site");
    v.finish()?;
    let client = state.oidc.client(&provider).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let attempt = Attempt {
        provider,
        pkce_verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        return_to: params.return_to,
    };
    let key = state.redis.key(format_args!("oauth:{}", csrf.secret()));
    let value = serde_json::to_string(&attempt).map_err(ApiError::internal)?;
    state.redis.conn().set_ex::<_, _, ()>(key, value, ATTEMPT_TTL_SECS).await?;

    let secure = if state.public_url.scheme() == "https" { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/api/auth/oauth; Max-Age={ATTEMPT_TTL_SECS}; HttpOnly; SameSite=Lax{secure}",
        csrf.secret()
    );
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, HeaderValue::from_str(url.as_str()).map_err(ApiError::internal)?);
    headers.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((StatusCode::FOUND, headers).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back; answers the session of the linked or new user.
#[utoipa::path(get, path = "/api/auth/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "configured provider name"), CallbackParams),
    responses(
        (status = 200, body = TokenResponse),
        (status = 302, description = "back to the sign-in's `return_to` page, with the refresh cookie set"),
        (status = 400, description = "`OAUTH_STATE_INVALID`", body = Problem),
        (status = 401, description = "`OAUTH_DENIED`", body = Problem),
        (status = 403, description = "`OAUTH_EMAIL_UNVERIFIED`", body = Problem),
        (status = 502, description = "`OAUTH_PROVIDER_FAILED`", body = Problem),
    ))]
pub async fn callback(
    State(state): State<AuthState>,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let attempt = take_attempt(&state, &provider, params.state.as_deref(), &headers).await?;
    if let Some(error) = params.error {
        return Err(ApiError::new(ErrorCode::OauthDenied).detail(format!("provider answered {error}")));
    }
    let code = params.code.ok_or_else(|| ApiError::new(ErrorCode::OauthDenied).detail("no authorization code"))?;
    let client = state.oidc.client(&provider).await?;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(ErrorCode::OauthProviderFailed).source(anyhow::anyhow!("{what} with {provider}: {e}"))
    };
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| failed("token endpoint", &e))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier))
        .request_async(&state.oidc.http)
        .await
        .map_err(|e| failed("code exchange", &e))?;
    let id_token = tokens.id_token().ok_or_else(|| failed("sign-in", &"no id_token"))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(attempt.nonce))
        .map_err(|e| failed("id token verification", &e))?;

    let identity = Identity {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| normalize_email(e.as_str())),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().trim().to_owned()),
    };
    let user = sign_in(&state, &provider, identity).await?;
    metrics::counter!("tiketi_auth_oauth_logins_total", "provider" => provider).increment(1);
    let session = state.start_session(user).await?;
    let clear = format!("{COOKIE}=; Path=/api/auth/oauth; Max-Age=0; HttpOnly; SameSite=Lax");
    let Some(return_to) = attempt.return_to else {
        return Ok(([(header::SET_COOKIE, clear)], Json(session)).into_response());
    };
    // Back to the page the browser started from, signed in by the refresh cookie alone.
    let location = state.public_url.join(return_to.trim_start_matches('/')).map_err(ApiError::internal)?;
    let refresh = state
        .refresh_cookie(session.refresh_token.as_deref().unwrap_or_default(), state.settings.refresh_ttl.as_secs())?;
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, HeaderValue::from_str(location.as_str()).map_err(ApiError::internal)?);
    headers.append(header::SET_COOKIE, HeaderValue::from_str(&clear).map_err(ApiError::internal)?);
    headers.append(header::SET_COOKIE, refresh);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((StatusCode::FOUND, headers).into_response())
}

/// Takes the attempt out of Redis (once) after checking the browser's cookie carries its state.
async fn take_attempt(
    state: &AuthState,
    provider: &str,
    csrf: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Attempt> {
    let invalid = || ApiError::new(ErrorCode::OauthStateInvalid);
    let csrf = csrf.filter(|s| !s.is_empty() && s.len() <= 128).ok_or_else(invalid)?;
    if !crate::browser::cookies(headers, COOKIE).any(|value| value == csrf) {
        return Err(invalid());
    }
    let key = state.redis.key(format_args!("oauth:{csrf}"));
    let stored: Option<String> = state.redis.conn().get_del(key).await?;
    let attempt: Attempt = stored.and_then(|s| serde_json::from_str(&s).ok()).ok_or_else(invalid)?;
    if attempt.provider != provider {
        return Err(invalid());
    }
    Ok(attempt)
}

struct Identity {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
}

async fn sign_in(state: &AuthState, provider: &str, identity: Identity) -> ApiResult<User> {
    if let Some(user) = store::user_by_identity(&state.pool, provider, &identity.subject).await? {
        return Ok(user);
    }
    let email = identity
        .email
        .filter(|e| identity.email_verified && valid_email(e))
        .ok_or_else(|| ApiError::new(ErrorCode::OauthEmailUnverified))?;
    let name = identity.name.filter(|n| !n.is_empty()).unwrap_or_else(|| email.clone());
    let name: String = name.chars().take(100).collect();
    match link_or_create(state, provider, &identity.subject, &email, &name).await {
        Ok(user) => Ok(user),
        // The first two sign-ins of one identity raced and the other one linked it: use its link.
        Err(e) if tiketi_shared::error::unique_violation(&e).is_some() => {
            store::user_by_identity(&state.pool, provider, &identity.subject)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::EmailTaken))
        }
        Err(e) => Err(e.into()),
    }
}

async fn link_or_create(
    state: &AuthState,
    provider: &str,
    subject: &str,
    email: &str,
    name: &str,
) -> sqlx::Result<User> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let user_id = match store::user_id_by_email(&mut *tx, email).await? {
        Some(id) => id,
        None => {
            let new = NewUser { email, name, role: UserRole::User, password_hash: None };
            store::insert_user(&mut *tx, &new, now).await?.id
        }
    };
    store::link_identity(&mut *tx, provider, subject, user_id, email, now).await?;
    let user = store::user_by_id(&mut *tx, user_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(user)
}
