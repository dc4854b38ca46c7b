//! The auth role's section of the settings tree.

use std::time::Duration;

use secrecy::SecretString;
use tiketi_shared::config::Env;
use url::Url;

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Requests per minute per client IP on each of register, login and refresh.
    pub ip_limit_per_minute: u32,
    /// Requests per minute per account (email or session) on each of register, login and refresh.
    pub account_limit_per_minute: u32,
    pub argon2: Argon2Settings,
    pub oidc: Vec<OidcProviderSettings>,
}

/// argon2id cost. Defaults follow OWASP's first recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone)]
pub struct OidcProviderSettings {
    /// The `{provider}` path segment, e.g. `google`.
    pub name: String,
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl AuthSettings {
    pub fn from_env(env: &mut Env) -> Self {
        Self {
            access_ttl: env.secs("TIKETI_AUTH_ACCESS_TTL_SECS", 15 * 60),
            refresh_ttl: env.secs("TIKETI_AUTH_REFRESH_TTL_SECS", 30 * 24 * 3600),
            ip_limit_per_minute: env.get("TIKETI_AUTH_IP_LIMIT_PER_MINUTE", 120),
            account_limit_per_minute: env.get("TIKETI_AUTH_ACCOUNT_LIMIT_PER_MINUTE", 10),
            argon2: Argon2Settings {
                memory_kib: env.get("TIKETI_AUTH_ARGON2_MEMORY_KIB", 19 * 1024),
                iterations: env.get("TIKETI_AUTH_ARGON2_ITERATIONS", 2),
                parallelism: env.get("TIKETI_AUTH_ARGON2_PARALLELISM", 1),
            },
            oidc: oidc_providers(env),
        }
    }
}

/// `TIKETI_OIDC_PROVIDERS=google,local` and, per provider, `TIKETI_OIDC_<NAME>_ISSUER`,
/// `_CLIENT_ID`, `_CLIENT_SECRET`.
fn oidc_providers(env: &mut Env) -> Vec<OidcProviderSettings> {
    let mut providers = Vec::new();
    for name in env.list("TIKETI_OIDC_PROVIDERS") {
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            env.invalid("TIKETI_OIDC_PROVIDERS", format!("{name:?} is not a lowercase name"));
            continue;
        }
        let var = |suffix: &str| format!("TIKETI_OIDC_{}_{suffix}", name.to_ascii_uppercase().replace('-', "_"));
        let issuer = env.opt::<Url>(&var("ISSUER"));
        let client_id = env.raw(&var("CLIENT_ID")).map(str::to_owned);
        let client_secret = env.secret(&var("CLIENT_SECRET"));
        match (issuer, client_id, client_secret) {
            (Some(issuer), Some(client_id), Some(client_secret)) => {
                providers.push(OidcProviderSettings { name, issuer, client_id, client_secret });
            }
            _ => env.invalid(&var("ISSUER"), "provider needs _ISSUER, _CLIENT_ID and _CLIENT_SECRET"),
        }
    }
    providers
}
