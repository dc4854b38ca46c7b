//! The payment role's section of the settings tree.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tiketi_shared::config::Env;
use url::Url;

/// The local sandbox's keys (tools/toss-sandbox); real test keys replace them by configuration.
pub const LOCAL_SECRET_KEY: &str = "test_sk_dev-only-tiketi-sandbox";
pub const LOCAL_CLIENT_KEY: &str = "test_ck_dev-only-tiketi-sandbox";

#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Toss's API: `https://api.tosspayments.com/` or the local sandbox.
    pub toss_api_url: Url,
    /// The secret key, when it comes from configuration (never logged or printed).
    pub toss_secret_key: SecretString,
    /// The client key the browser's payment window is opened with.
    pub toss_client_key: String,
    /// The payment window `checkout_url` points at (the sandbox's page locally; in production the
    /// frontend opens Toss's SDK with `client_key` instead).
    pub checkout_page: Url,
    /// Where the window sends the buyer back; default `<public url>/checkout/success` and `…/fail`.
    pub success_url: Option<Url>,
    pub fail_url: Option<Url>,
    /// One Toss request's time limit.
    pub toss_timeout: Duration,
    /// Attempts at a confirm or cancel that Toss answers "try again" (or not at all) before
    /// leaving the order to the reconciler.
    pub toss_attempts: u32,
    /// A `confirming` order older than this is settled by the reconciler from Toss's records.
    pub reconcile_after: Duration,
    /// How often the reconciler runs (0 = never; tests run it by hand).
    pub reconcile_every: Duration,
    /// Hours a virtual account stays open for the deposit (the hold lasts as long, bounded by
    /// the ticket role).
    pub deposit_hours: u32,
}

impl PaymentSettings {
    pub fn from_env(env: &mut Env) -> Self {
        let sandbox = Url::parse("http://127.0.0.1:8091/").unwrap_or_else(|e| unreachable!("{e}"));
        let toss_api_url = env.url("TIKETI_TOSS_API_URL", &sandbox);
        let default_page = toss_api_url.join("v1/checkout").unwrap_or_else(|_| toss_api_url.clone());
        let toss_secret_key = env.secret_or("TIKETI_TOSS_SECRET_KEY", LOCAL_SECRET_KEY);
        let key = toss_secret_key.expose_secret();
        if !(key.starts_with("test_sk_") || key.starts_with("live_sk_")) {
            env.invalid("TIKETI_TOSS_SECRET_KEY", "must be a Toss secret key (test_sk_… or live_sk_…)");
        }
        let toss_client_key = env.get("TIKETI_TOSS_CLIENT_KEY", LOCAL_CLIENT_KEY.to_owned());
        if !(toss_client_key.starts_with("test_ck_") || toss_client_key.starts_with("live_ck_")) {
            env.invalid("TIKETI_TOSS_CLIENT_KEY", "must be a Toss client key (test_ck_… or live_ck_…)");
        }
        let deposit_hours = env.get("TIKETI_PAYMENT_DEPOSIT_HOURS", 1u32);
        if !(1..=720).contains(&deposit_hours) {
            env.invalid("TIKETI_PAYMENT_DEPOSIT_HOURS", "must be 1 to 720");
        }
        let toss_attempts = env.get("TIKETI_TOSS_ATTEMPTS", 3u32);
        if toss_attempts == 0 {
            env.invalid("TIKETI_TOSS_ATTEMPTS", "must be at least 1");
        }
        Self {
            checkout_page: env.url("TIKETI_TOSS_CHECKOUT_URL", &default_page),
            toss_api_url,
            toss_secret_key,
            toss_client_key,
            success_url: env.opt("TIKETI_PAYMENT_SUCCESS_URL"),
            fail_url: env.opt("TIKETI_PAYMENT_FAIL_URL"),
            toss_timeout: Duration::from_millis(env.get("TIKETI_TOSS_TIMEOUT_MS", 15_000)),
            toss_attempts,
            reconcile_after: env.secs("TIKETI_PAYMENT_RECONCILE_AFTER_SECS", 60),
            reconcile_every: env.secs("TIKETI_PAYMENT_RECONCILE_EVERY_SECS", 10),
            deposit_hours,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_a_toss_key_is_refused_without_echoing_it() {
        let mut env = Env::from_pairs([("TIKETI_TOSS_SECRET_KEY", "sk_live_elsewhere_123")]);
        let _ = PaymentSettings::from_env(&mut env);
        let err = env.finish().expect_err("not a Toss key").to_string();
        assert!(err.contains("TIKETI_TOSS_SECRET_KEY"), "{err}");
        assert!(!err.contains("elsewhere"), "{err}");
    }

    #[test]
    fn defaults_point_at_the_local_sandbox() {
        let mut env = Env::from_pairs(Vec::<(String, String)>::new());
        let settings = PaymentSettings::from_env(&mut env);
        assert!(env.finish().is_ok());
        assert_eq!(settings.checkout_page.as_str(), "http://127.0.0.1:8091/v1/checkout");
        assert!(!format!("{settings:?}").contains(LOCAL_SECRET_KEY));
    }
}
