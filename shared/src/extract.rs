//! Extractors that reject in our problem+json format rather than axum's plain text.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode, FieldError};

/// JSON body extractor and response: syntax errors → 400, wrong shapes → 422 naming the field,
/// too large → 413, wrong content type → 415.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(bytes_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON the way [`Json`] does, for bodies read some other way.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            let message = strip_position(&inner.to_string());
            ApiError::validation(vec![FieldError { field: field_name(&path, &message), message }])
        } else {
            malformed(&inner)
        }
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(err: &serde_json::Error) -> ApiError {
    ApiError::new(ErrorCode::MalformedRequest).detail(strip_position(&err.to_string()))
}

fn field_name(path: &str, message: &str) -> String {
    if path != "." {
        return path.to_owned();
    }
    // serde reports a missing field at the parent's path; name the field itself.
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map_or_else(|| "body".to_owned(), str::to_owned)
}

fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge)
    } else {
        ApiError::new(ErrorCode::MalformedRequest).detail("the request body could not be read")
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a value that does not parse (e.g. a malformed id) names nothing that exists.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|rejection: PathRejection| ApiError::new(ErrorCode::NotFound).detail(rejection.body_text()))
    }
}

/// Query parameters; a value of the wrong type → 422.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|rejection: QueryRejection| {
                ApiError::validation(vec![FieldError {
                    field: "query".to_owned(),
                    message: strip_position(&rejection.body_text()),
                }])
            })
    }
}

/// How many proxies in front of us append to `X-Forwarded-For`; installed as a request extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustedProxyHops(pub usize);

/// The client's address: the peer, or with trusted proxies the address the outermost trusted
/// proxy saw (entries further left are client-supplied and could be forged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("server started without connect info")))?;
        let hops = parts.extensions.get::<TrustedProxyHops>().map_or(0, |h| h.0);
        if hops == 0 {
            return Ok(ClientIp(peer));
        }
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let ip = forwarded.len().checked_sub(hops).map_or(peer, |i| forwarded[i]);
        Ok(ClientIp(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: u32,
    }

    #[test]
    fn syntax_errors_are_malformed_and_shape_errors_name_the_field() {
        let err = parse_json::<Body>(b"{\"email\": ").expect_err("truncated");
        assert_eq!(err.code(), ErrorCode::MalformedRequest);
        let err = parse_json::<Body>(br#"{"email": "a", "age": "x"}"#).expect_err("wrong type");
        assert_eq!(err.code(), ErrorCode::ValidationFailed);
        assert!(format!("{err:?}").contains("\"age\""));
        let err = parse_json::<Body>(br#"{"age": 3}"#).expect_err("missing field");
        assert!(format!("{err:?}").contains("field: \"email\""));
        let err = parse_json::<Body>(br#"{"email": "a", "age": 1} trailing"#).expect_err("trailing");
        assert_eq!(err.code(), ErrorCode::MalformedRequest);
    }
}
