//! The sandbox's configuration: where it listens, its keys, where webhooks go.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};

/// The secret key of the local sandbox (dev only; never a real Toss key).
pub const LOCAL_SECRET_KEY: &str = "test_sk_dev-only-tiketi-sandbox";
/// The client key of the local sandbox (dev only; never a real Toss key).
pub const LOCAL_CLIENT_KEY: &str = "test_ck_dev-only-tiketi-sandbox";

/// Where the binary listens unless `TOSS_SANDBOX_ADDR` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8091";

/// How long an authorised payment window session may wait for its confirm (Toss: 10 minutes).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (see [`crate::Sandbox::url`]).
    pub addr: SocketAddr,
    /// The key REST calls must present as `Basic base64("<secret_key>:")`. Never logged.
    pub secret_key: String,
    /// The key the payment window must be opened with.
    pub client_key: String,
    /// Where webhooks are POSTed; `None` sends none. Changeable at run time (`PUT /sandbox/config`).
    pub webhook_url: Option<String>,
    /// Multiplies Toss's retry delays (1, 4, 16, … minutes): 0.001 turns a minute into 60 ms.
    pub webhook_retry_scale: f64,
    /// How long a window session stays confirmable (Toss: 10 minutes).
    pub session_ttl: Duration,
}

impl Config {
    /// The local defaults on `addr`: the `LOCAL_` keys, no webhooks, real retry delays, 10 minutes.
    pub fn local(addr: SocketAddr) -> Config {
        Config {
            addr,
            secret_key: LOCAL_SECRET_KEY.to_owned(),
            client_key: LOCAL_CLIENT_KEY.to_owned(),
            webhook_url: None,
            webhook_retry_scale: 1.0,
            session_ttl: DEFAULT_SESSION_TTL,
        }
    }

    /// Reads `TOSS_SANDBOX_*` from the process environment (see the README for the list).
    pub fn from_env() -> anyhow::Result<Config> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], from any lookup (tests pass a map). An error names the variable
    /// and never echoes a key.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let addr = get("TOSS_SANDBOX_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr: SocketAddr =
            addr.parse().with_context(|| format!("TOSS_SANDBOX_ADDR must be host:port (e.g. {DEFAULT_ADDR})"))?;

        let secret_key = get("TOSS_SANDBOX_SECRET_KEY").unwrap_or_else(|| LOCAL_SECRET_KEY.to_owned());
        check_key("TOSS_SANDBOX_SECRET_KEY", &secret_key)?;
        let client_key = get("TOSS_SANDBOX_CLIENT_KEY").unwrap_or_else(|| LOCAL_CLIENT_KEY.to_owned());
        check_key("TOSS_SANDBOX_CLIENT_KEY", &client_key)?;

        let webhook_url = match get("TOSS_SANDBOX_WEBHOOK_URL") {
            Some(url) => Some(check_http_url(&url).context("TOSS_SANDBOX_WEBHOOK_URL")?),
            None => None,
        };

        let webhook_retry_scale = match get("TOSS_SANDBOX_WEBHOOK_RETRY_SCALE") {
            Some(raw) => {
                let scale: f64 =
                    raw.parse().ok().context("TOSS_SANDBOX_WEBHOOK_RETRY_SCALE must be a number (e.g. 0.001)")?;
                check_retry_scale(scale).context("TOSS_SANDBOX_WEBHOOK_RETRY_SCALE")?
            }
            None => 1.0,
        };

        let session_ttl = match get("TOSS_SANDBOX_SESSION_TTL_SECS") {
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => bail!("TOSS_SANDBOX_SESSION_TTL_SECS must be a whole number of seconds, at least 1"),
            },
            None => DEFAULT_SESSION_TTL,
        };

        Ok(Config { addr, secret_key, client_key, webhook_url, webhook_retry_scale, session_ttl })
    }
}

/// Keys are printed redacted: the secret key must never reach a log.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("secret_key", &"<redacted>")
            .field("client_key", &self.client_key)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_retry_scale", &self.webhook_retry_scale)
            .field("session_ttl", &self.session_ttl)
            .finish()
    }
}

/// A key goes into `Basic base64("<key>:")`, so it may not hold a colon or white space.
fn check_key(name: &str, key: &str) -> anyhow::Result<()> {
    if key.contains(':') || key.chars().any(char::is_whitespace) {
        bail!("{name} may not contain ':' or white space");
    }
    Ok(())
}

/// An absolute `http(s)` URL, returned as given.
pub(crate) fn check_http_url(raw: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(raw).ok().context("must be an absolute http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("must be an absolute http(s) URL");
    }
    Ok(raw.to_owned())
}

pub(crate) fn check_retry_scale(scale: f64) -> anyhow::Result<f64> {
    if !scale.is_finite() || scale < 0.0 {
        bail!("must be a finite number, 0 or more");
    }
    Ok(scale)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let config = from(&[]).unwrap();
        assert_eq!(config.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(config.secret_key, LOCAL_SECRET_KEY);
        assert_eq!(config.client_key, LOCAL_CLIENT_KEY);
        assert_eq!(config.webhook_url, None);
        assert!((config.webhook_retry_scale - 1.0).abs() < f64::EPSILON);
        assert_eq!(config.session_ttl, Duration::from_secs(600));
    }

    #[test]
    fn every_variable_is_read() {
        let config = from(&[
            ("TOSS_SANDBOX_ADDR", "127.0.0.1:0"),
            ("TOSS_SANDBOX_SECRET_KEY", "test_sk_other"),
            ("TOSS_SANDBOX_CLIENT_KEY", "test_ck_other"),
            ("TOSS_SANDBOX_WEBHOOK_URL", "http://127.0.0.1:8080/webhooks/toss"),
            ("TOSS_SANDBOX_WEBHOOK_RETRY_SCALE", "0.001"),
            ("TOSS_SANDBOX_SESSION_TTL_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(config.addr.port(), 0);
        assert_eq!(config.secret_key, "test_sk_other");
        assert_eq!(config.webhook_url.as_deref(), Some("http://127.0.0.1:8080/webhooks/toss"));
        assert_eq!(config.session_ttl, Duration::from_secs(5));
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (name, value) in [
            ("TOSS_SANDBOX_ADDR", "nowhere"),
            ("TOSS_SANDBOX_WEBHOOK_URL", "ftp://x/"),
            ("TOSS_SANDBOX_WEBHOOK_RETRY_SCALE", "-1"),
            ("TOSS_SANDBOX_WEBHOOK_RETRY_SCALE", "fast"),
            ("TOSS_SANDBOX_SESSION_TTL_SECS", "0"),
        ] {
            let err = format!("{:#}", from(&[(name, value)]).unwrap_err());
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_bad_secret_key_is_not_echoed() {
        let err = format!("{:#}", from(&[("TOSS_SANDBOX_SECRET_KEY", "test_sk_abc:def")]).unwrap_err());
        assert!(err.contains("TOSS_SANDBOX_SECRET_KEY"), "{err}");
        assert!(!err.contains("abc"), "{err}");
        assert!(!format!("{:?}", Config::local(([127, 0, 0, 1], 0).into())).contains(LOCAL_SECRET_KEY));
    }
}
