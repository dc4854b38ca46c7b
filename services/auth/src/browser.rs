//! Browser sessions: the refresh token travels in an `HttpOnly` cookie instead of the body.
//!
//! A page asks for this with the header `X-Tiketi-Session: cookie` on register, login, refresh
//! and logout (and OpenID Connect sign-ins that name a `return_to` page always get it). The
//! answer then sets `tiketi_refresh` (`HttpOnly`, `SameSite=Strict`, `Path=/api/auth`, `Secure`
//! when the public URL is https) and leaves `refresh_token` out of the body; refresh and logout
//! read the cookie when the body names no token. A script injected into the page can therefore
//! never read the long-lived token — only the short-lived access token the page keeps in memory.
//! Cross-site requests cannot spend the cookie: it is `SameSite=Strict`, and the custom header
//! forces a CORS preflight that this origin never grants.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, FieldError, Json};

use crate::AuthState;
use crate::model::TokenResponse;

pub const SESSION_HEADER: &str = "x-tiketi-session";
pub const REFRESH_COOKIE: &str = "tiketi_refresh";
const COOKIE_PATH: &str = "/api/auth";

/// The request header that asks for a browser session, as documented in the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct SessionHeader {
    /// `cookie`: the refresh token is set as the `HttpOnly` cookie `tiketi_refresh` instead of
    /// being answered in the body, and refresh/logout read it from there.
    #[param(rename = "X-Tiketi-Session")]
    x_tiketi_session: Option<String>,
}

/// Where the refresh token goes: the body (API clients) or a cookie (browsers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Body,
    Cookie,
}

impl<S: Send + Sync> FromRequestParts<S> for Delivery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let wants_cookie =
            parts.headers.get(SESSION_HEADER).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie"));
        Ok(if wants_cookie { Self::Cookie } else { Self::Body })
    }
}

impl Delivery {
    /// The session answer: in cookie mode the refresh token moves from the body to the cookie.
    pub fn respond(self, state: &AuthState, status: StatusCode, mut session: TokenResponse) -> ApiResult<Response> {
        match self {
            Self::Body => Ok((status, Json(session)).into_response()),
            Self::Cookie => {
                let token = session.refresh_token.take().unwrap_or_default();
                let cookie = state.refresh_cookie(&token, state.settings.refresh_ttl.as_secs())?;
                Ok((status, [(header::SET_COOKIE, cookie), no_store()], Json(session)).into_response())
            }
        }
    }

    /// The refresh token presented: the body's, else (in cookie mode) the cookie's.
    pub fn presented(self, body: Option<SecretString>, headers: &HeaderMap) -> ApiResult<SecretString> {
        match (body, self) {
            (Some(token), _) => Ok(token),
            (None, Self::Cookie) => cookies(headers, REFRESH_COOKIE)
                .find(|v| !v.is_empty())
                .map(|v| SecretString::from(v.to_owned()))
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidRefreshToken).detail("no refresh token was presented")),
            (None, Self::Body) => Err(ApiError::validation(vec![FieldError {
                field: "refresh_token".into(),
                message: "is required".into(),
            }])),
        }
    }

    /// Headers that end a browser session (the cookie expires); none for API clients.
    pub fn ended(self, state: &AuthState) -> ApiResult<HeaderMap> {
        let mut headers = HeaderMap::new();
        if self == Self::Cookie {
            headers.insert(header::SET_COOKIE, state.refresh_cookie("", 0)?);
        }
        Ok(headers)
    }
}

impl AuthState {
    pub(crate) fn refresh_cookie(&self, token: &str, max_age_secs: u64) -> ApiResult<HeaderValue> {
        let secure = if self.public_url.scheme() == "https" { "; Secure" } else { "" };
        let cookie = format!(
            "{REFRESH_COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
        );
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)
    }
}

fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// The values of every cookie named `name` in the request's `Cookie` headers.
pub(crate) fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, v)| v)
}
