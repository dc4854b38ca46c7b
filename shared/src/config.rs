//! Typed settings read once from `TIKETI_*` variables.
//!
//! [`Env`] reads one variable at a time with a local default and collects every present-but-invalid
//! value, so start-up fails once with a message naming each bad variable. Each crate owns the
//! section of the settings tree it needs and reads it with an `Env`.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// Start-up configuration errors, one line per variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// A reader over environment variables that remembers what was invalid.
#[derive(Debug)]
pub struct Env {
    vars: HashMap<String, String>,
    errors: Vec<String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let vars = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| !v.trim().is_empty()).collect();
        Self { vars, errors: Vec::new() }
    }

    /// Sets or overrides a variable (tests, and the binary's flags that mirror variables).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_owned(), value.into());
    }

    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim())
    }

    /// The parsed value of `name`, or `None` when unset; an unparsable value is recorded.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let raw = self.raw(name)?.to_owned();
        match raw.parse() {
            Ok(value) => Some(value),
            Err(err) => {
                self.errors.push(format!("{name}: {err} (got {raw:?})"));
                None
            }
        }
    }

    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.opt(name).unwrap_or(default)
    }

    /// A whole number of seconds.
    pub fn secs(&mut self, name: &str, default: u64) -> Duration {
        Duration::from_secs(self.get(name, default))
    }

    pub fn url(&mut self, name: &str, default: &Url) -> Url {
        self.opt(name).unwrap_or_else(|| default.clone())
    }

    /// A secret: parsed like any value but never echoed in an error message.
    pub fn secret(&mut self, name: &str) -> Option<SecretString> {
        self.raw(name).map(|v| SecretString::from(v.to_owned()))
    }

    pub fn secret_or(&mut self, name: &str, default: &str) -> SecretString {
        self.secret(name).unwrap_or_else(|| SecretString::from(default.to_owned()))
    }

    /// Records a problem found while checking values together (e.g. a missing partner variable).
    pub fn invalid(&mut self, name: &str, message: impl Display) {
        self.errors.push(format!("{name}: {message}"));
    }

    /// A comma-separated list.
    pub fn list(&mut self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ConfigError(self.errors)) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            _ => Err("expected json or pretty".into()),
        }
    }
}

/// Settings every role shares.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    pub host: IpAddr,
    pub port: u16,
    /// Where browsers reach us (OAuth redirect URIs, links in answers).
    pub public_url: Url,
    /// Where roles reach each other's `/internal` and JWKS routes.
    pub internal_url: Url,
    /// Calls to a role this process serves itself go into its router, not over HTTP.
    pub internal_in_process: bool,
    pub jwks_url: Url,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub redis_url: SecretString,
    /// Prefixes every Redis key, so environments (or test runs) can share one Redis.
    pub redis_key_prefix: String,
    /// Local state: generated signing keys.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Reverse proxies in front of us that append to `X-Forwarded-For` (0 = trust the peer address).
    pub trusted_proxy_hops: usize,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// After SIGTERM, how long the server keeps answering (each answer closing its connection)
    /// before it stops accepting and closes idle connections.
    pub shutdown_delay: Duration,
}

impl CommonSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let host = env.get("TIKETI_HOST", IpAddr::from([127, 0, 0, 1]));
        let port = env.get("TIKETI_PORT", 8080u16);
        let local = local_url(port);
        let public_url = env.url("TIKETI_PUBLIC_URL", &local);
        let internal_url = env.url("TIKETI_INTERNAL_URL", &local);
        let default_jwks = internal_url.join("api/auth/jwks").unwrap_or_else(|_| local.clone());
        Self {
            host,
            port,
            public_url,
            jwks_url: env.url("TIKETI_JWKS_URL", &default_jwks),
            internal_url,
            internal_in_process: env.get("TIKETI_INTERNAL_IN_PROCESS", true),
            database_url: env
                .secret_or("TIKETI_DATABASE_URL", "postgres://tiketi:dev-only-tiketi@127.0.0.1:5432/tiketi"),
            database_max_connections: env.get("TIKETI_DATABASE_MAX_CONNECTIONS", 20),
            redis_url: env.secret_or("TIKETI_REDIS_URL", "redis://127.0.0.1:6379"),
            redis_key_prefix: env.get("TIKETI_REDIS_KEY_PREFIX", "tiketi:".to_owned()),
            data_dir: env.get("TIKETI_DATA_DIR", PathBuf::from(".tiketi/data")),
            log_format: env.get("TIKETI_LOG_FORMAT", LogFormat::Json),
            log_filter: env.get("TIKETI_LOG", "info".to_owned()),
            trusted_proxy_hops: env.get("TIKETI_TRUSTED_PROXY_HOPS", 0),
            max_body_bytes: env.get("TIKETI_MAX_BODY_BYTES", 1024 * 1024),
            shutdown_grace: env.secs("TIKETI_SHUTDOWN_GRACE_SECS", 20),
            shutdown_delay: Duration::from_millis(env.get("TIKETI_SHUTDOWN_DELAY_MS", 0)),
        }
    }
}

/// `http://127.0.0.1:<port>/`
fn local_url(port: u16) -> Url {
    // An IPv4 literal and a u16 port always form a valid URL.
    Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap_or_else(|e| unreachable!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_values_are_reported_by_variable_name() {
        let mut env = Env::from_pairs([("TIKETI_PORT", "eighty"), ("TIKETI_LOG_FORMAT", "xml")]);
        let _ = CommonSettings::from_env(&mut env);
        let err = env.finish().expect_err("two invalid variables");
        let text = err.to_string();
        assert!(text.contains("TIKETI_PORT"), "{text}");
        assert!(text.contains("TIKETI_LOG_FORMAT"), "{text}");
    }

    #[test]
    fn secrets_are_not_echoed_and_not_debug_printed() {
        let mut env = Env::from_pairs([("TIKETI_DATABASE_URL", "postgres://u:very-secret@h/db")]);
        let settings = CommonSettings::from_env(&mut env);
        assert!(env.finish().is_ok());
        assert!(!format!("{settings:?}").contains("very-secret"));
    }

    #[test]
    fn urls_follow_the_port_by_default() {
        let mut env = Env::from_pairs([("TIKETI_PORT", "9000")]);
        let settings = CommonSettings::from_env(&mut env);
        assert_eq!(settings.jwks_url.as_str(), "http://127.0.0.1:9000/api/auth/jwks");
    }
}
