//! The public auth endpoints (`/api/auth/...`) and the internal user lookup.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use tiketi_shared::error::Problem;
use tiketi_shared::extract::{ClientIp, Path};
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::jwk_set;
use tiketi_shared::token::AuthUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json};

use crate::AuthState;
use crate::browser::{Delivery, SessionHeader};
use crate::model::{
    LoginRequest, MAX_PASSWORD_BYTES, RefreshRequest, RegisterRequest, TokenResponse, UserEnvelope, normalize_email,
    valid_email,
};
use crate::store::{self, NewUser};

/// Create an account and sign it in.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", params(SessionHeader), request_body = RegisterRequest, responses(
    (status = 201, body = TokenResponse),
    (status = 409, description = "`EMAIL_TAKEN`", body = Problem),
    (status = 422, description = "`VALIDATION_FAILED`", body = Problem),
    (status = 429, description = "`RATE_LIMITED`", body = Problem),
))]
pub async fn register(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    delivery: Delivery,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Response> {
    state.limiter.hit(&state.limits.ip("register"), &ip.to_string()).await?;
    let account = body.validate()?;
    state.limiter.hit(&state.limits.account("register"), &account.email).await?;
    let hash = state.passwords.hash(account.password).await?;
    let new =
        NewUser { email: &account.email, name: &account.name, role: Default::default(), password_hash: Some(&hash) };
    let user = store::insert_user(&state.pool, &new, state.clock.now()).await.map_err(|e| {
        match tiketi_shared::error::unique_violation(&e) {
            Some(_) => ApiError::new(ErrorCode::EmailTaken),
            None => e.into(),
        }
    })?;
    metrics::counter!("tiketi_auth_registrations_total").increment(1);
    delivery.respond(&state, StatusCode::CREATED, state.start_session(user).await?)
}

/// Sign in with email and password. Unknown email and wrong password answer the same, in
/// about the same time.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", params(SessionHeader), request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`INVALID_CREDENTIALS`", body = Problem),
    (status = 429, description = "`RATE_LIMITED`", body = Problem),
))]
pub async fn login(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    delivery: Delivery,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Response> {
    state.limiter.hit(&state.limits.ip("login"), &ip.to_string()).await?;
    if body.password.expose_secret().len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::new(ErrorCode::InvalidCredentials));
    }
    let email = normalize_email(&body.email);
    state.limiter.hit(&state.limits.account("login"), &email).await?;
    // No account has an address that is not one (registration refuses it), and PostgreSQL could
    // not even compare some (a NUL): such a login is an unknown email, at the same cost.
    let found = if valid_email(&email) { store::user_by_email(&state.pool, &email).await? } else { None };
    let hash = found.as_ref().and_then(|f| f.password_hash.clone());
    let ok = state.passwords.verify(body.password, hash).await?;
    match found {
        Some(found) if ok => {
            metrics::counter!("tiketi_auth_logins_total", "result" => "ok").increment(1);
            delivery.respond(&state, StatusCode::OK, state.start_session(found.user).await?)
        }
        _ => {
            metrics::counter!("tiketi_auth_logins_total", "result" => "rejected").increment(1);
            Err(ApiError::new(ErrorCode::InvalidCredentials))
        }
    }
}

/// Exchange a refresh token for a new pair. The presented token is spent; presenting a spent
/// token again revokes every token of its session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", params(SessionHeader), request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse),
    (status = 401, description = "`INVALID_REFRESH_TOKEN` or `REFRESH_TOKEN_REUSED`", body = Problem),
    (status = 422, description = "`VALIDATION_FAILED`: no `refresh_token` (and no browser session)", body = Problem),
    (status = 429, description = "`RATE_LIMITED`", body = Problem),
))]
pub async fn refresh(
    State(state): State<AuthState>,
    ClientIp(ip): ClientIp,
    delivery: Delivery,
    headers: HeaderMap,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Response> {
    state.limiter.hit(&state.limits.ip("refresh"), &ip.to_string()).await?;
    let presented = delivery.presented(body.refresh_token, &headers)?;
    match state.refresh(&presented).await {
        Ok(session) => delivery.respond(&state, StatusCode::OK, session),
        // A browser whose cookie is dead should not keep presenting it (but keeps it through an outage).
        Err(e) if matches!(e.code(), ErrorCode::InvalidRefreshToken | ErrorCode::RefreshTokenReused) => {
            Ok((delivery.ended(&state)?, e).into_response())
        }
        Err(e) => Err(e),
    }
}

/// End the session of a refresh token (every token of its family is revoked).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", params(SessionHeader), request_body = RefreshRequest, responses(
    (status = 204, description = "signed out (also for unknown tokens)"),
))]
pub async fn logout(
    State(state): State<AuthState>,
    delivery: Delivery,
    headers: HeaderMap,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Response> {
    match delivery.presented(body.refresh_token, &headers) {
        Ok(presented) => state.logout(&presented).await?,
        // A browser without a live cookie is signed out already.
        Err(_) if delivery == Delivery::Cookie => {}
        Err(e) => return Err(e),
    }
    Ok((StatusCode::NO_CONTENT, delivery.ended(&state)?).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = UserEnvelope),
    (status = 401, description = "`UNAUTHENTICATED`, `INVALID_TOKEN` or `TOKEN_EXPIRED`", body = Problem),
))]
pub async fn me(State(state): State<AuthState>, AuthUser(claims): AuthUser) -> ApiResult<Json<UserEnvelope>> {
    let user = store::user_by_id(&state.pool, claims.sub)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidToken).detail("the account no longer exists"))?;
    Ok(Json(UserEnvelope { user }))
}

/// The public keys that verify access tokens (and service tokens), as a JWKS.
#[utoipa::path(get, path = "/api/auth/jwks", tag = "auth", responses(
    (status = 200, description = "RFC 7517 key set", content_type = "application/json"),
))]
pub async fn jwks(State(state): State<AuthState>) -> impl IntoResponse {
    let set = jwk_set(&[&state.access_keys, &state.service_keys]);
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(set))
}

/// A user's public profile, for other roles (e.g. the payment service naming the customer).
pub async fn internal_user(State(state): State<AuthState>, Path(id): Path<UserId>) -> ApiResult<Json<UserEnvelope>> {
    let user = store::user_by_id(&state.pool, id).await?.ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(Json(UserEnvelope { user }))
}
