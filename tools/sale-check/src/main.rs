//! `sale-check`: checks a sale's end state and prints every finding (usage in the library's
//! documentation). Exits 1 when an invariant is violated or could not be read, 0 otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Parser;
use sqlx::postgres::PgConnectOptions;
use tiketi_sale_check::{AdminAuth, ApiConfig, Config, RedisConfig, Scope, TossConfig};
use uuid::Uuid;

/// Checks a Tiketi sale's end state against its invariants, reading the stores directly.
#[derive(Debug, Parser)]
#[command(name = "sale-check", version)]
#[command(group = clap::ArgGroup::new("scope").required(true).args(["event", "all_events"]))]
struct Args {
    /// The event whose sale is checked.
    #[arg(long, env = "SALE_CHECK_EVENT")]
    event: Option<Uuid>,
    /// Check every event made through the API (the demo events `tiketi seed` makes are left out).
    #[arg(long)]
    all_events: bool,
    /// PostgreSQL (all schemas); DATABASE_URL is read too.
    #[arg(long, env = "TIKETI_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Redis holding the waiting rooms; without it `admissions` reads only the samples.
    #[arg(long, env = "TIKETI_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The deployment's Redis key prefix (Tiketi's default unless set).
    #[arg(long, env = "TIKETI_REDIS_KEY_PREFIX", default_value = "tiketi:")]
    redis_key_prefix: String,
    /// Toss's API (the sandbox locally); without it the Toss parts are not checked.
    #[arg(long, env = "TIKETI_TOSS_API_URL")]
    toss_url: Option<String>,
    /// The merchant's secret key for Toss's API.
    #[arg(long, env = "TIKETI_TOSS_SECRET_KEY", hide_env_values = true)]
    toss_secret_key: Option<String>,
    /// The public API (`http://host:port`) whose admin stats are compared too.
    #[arg(long, env = "SALE_CHECK_API_URL")]
    api_url: Option<String>,
    /// An admin access token for the API.
    #[arg(long, env = "SALE_CHECK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// An admin account to sign in with, instead of a token.
    #[arg(long, env = "TIKETI_ADMIN_EMAIL")]
    admin_email: Option<String>,
    #[arg(long, env = "TIKETI_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Admitted counts sampled during the sale: `<count>` or `<event id> <count>` per line.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Judge live admissions at this instant (RFC 3339) instead of now.
    #[arg(long)]
    now: Option<DateTime<Utc>>,
}

impl Args {
    fn config(self) -> anyhow::Result<Config> {
        let url = self
            .database_url
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .context("give --database-url (or TIKETI_DATABASE_URL / DATABASE_URL)")?;
        let database = PgConnectOptions::from_str(&url).context("reading the database URL")?;
        let scope = self.event.map_or(Scope::All, Scope::Event);
        let mut config = Config::new(database, scope);
        config.redis = self.redis_url.map(|url| RedisConfig { url, key_prefix: self.redis_key_prefix });
        config.toss = match (self.toss_url, self.toss_secret_key) {
            (Some(url), Some(secret_key)) => Some(TossConfig { url, secret_key }),
            (Some(_), None) => anyhow::bail!("--toss-url needs --toss-secret-key (TIKETI_TOSS_SECRET_KEY)"),
            (None, _) => None,
        };
        config.api = match self.api_url {
            None => None,
            Some(base_url) => {
                let admin = match (self.admin_token, self.admin_email, self.admin_password) {
                    (Some(token), _, _) => AdminAuth::Token(token),
                    (None, Some(email), Some(password)) => AdminAuth::Login { email, password },
                    _ => anyhow::bail!(
                        "--api-url needs --admin-token, or --admin-email with --admin-password \
                         (SALE_CHECK_ADMIN_TOKEN, TIKETI_ADMIN_EMAIL, TIKETI_ADMIN_PASSWORD)"
                    ),
                };
                Some(ApiConfig { base_url, admin })
            }
        };
        config.samples = self.samples;
        config.now = self.now;
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Args::parse().config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sale-check: {e:#}");
            return ExitCode::from(2);
        }
    };
    let report = tiketi_sale_check::check(&config).await;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{report}").is_err() {
        return ExitCode::from(2);
    }
    if report.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
