//! The auth API's request and response bodies, and their validation.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tiketi_shared::ids::UserId;
use tiketi_shared::token::UserRole;
use tiketi_shared::{ApiResult, Validation};
use utoipa::ToSchema;

/// Passwords longer than this are refused before hashing: argon2 cost grows with input.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: UserRole,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserEnvelope {
    pub user: User,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub user: User,
    /// JWT (EdDSA); send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque; single use — every refresh returns a new one. Absent when it was set as the
    /// `tiketi_refresh` cookie instead (requests with `X-Tiketi-Session: cookie`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    pub token_type: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    #[schema(value_type = String, min_length = 8)]
    pub password: SecretString,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String)]
    pub password: SecretString,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// Required unless the request carries `X-Tiketi-Session: cookie` and the refresh cookie.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub refresh_token: Option<SecretString>,
}

/// A registration that passed validation.
pub struct NewAccount {
    pub email: String,
    pub name: String,
    pub password: SecretString,
}

/// Trimmed, lower-cased email — the form accounts are stored and looked up by.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl RegisterRequest {
    pub fn validate(self) -> ApiResult<NewAccount> {
        let email = normalize_email(&self.email);
        let name = self.name.trim().to_owned();
        let password = self.password.expose_secret();
        let mut v = Validation::default();
        v.check(valid_email(&email), "email", "must be an email address")
            .check(password.chars().count() >= MIN_PASSWORD_CHARS, "password", "must be at least 8 characters")
            .check(password.len() <= MAX_PASSWORD_BYTES, "password", "must be at most 1024 bytes")
            .check(!name.is_empty(), "name", "must not be empty")
            .check(name.chars().count() <= 100, "name", "must be at most 100 characters")
            .check(!name.chars().any(char::is_control), "name", "must not contain control characters");
        v.finish()?;
        Ok(NewAccount { email, name, password: self.password })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalize_email("  Kim@Example.COM "), "kim@example.com");
        for good in ["a@b.co", "지민@예시.한국", "x+tag@sub.example.com"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in ["", "a", "@b.co", "a@b", "a@.co", "a@b.co.", "a b@c.de", "a@b@c.de"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn registration_lists_every_invalid_field() {
        let req = RegisterRequest { email: "nope".into(), password: SecretString::from("short"), name: " ".into() };
        let err = req.validate().err().expect("invalid");
        let text = format!("{err:?}");
        for field in ["\"email\"", "\"password\"", "\"name\""] {
            assert!(text.contains(field), "{text}");
        }
    }
}
