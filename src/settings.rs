//! The process's settings tree: the shared section plus each role's, read once at start-up.

use secrecy::SecretString;
use tiketi_auth::settings::AuthSettings;
use tiketi_payment::settings::PaymentSettings;
use tiketi_queue_worker::settings::WorkerSettings;
use tiketi_realtime::settings::RealtimeSettings;
use tiketi_shared::aws::AwsSettings;
use tiketi_shared::config::{CommonSettings, ConfigError, Env};
use tiketi_stats::settings::StatsSettings;
use tiketi_ticket::settings::TicketSettings;

use crate::web::WebSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub auth: AuthSettings,
    pub ticket: TicketSettings,
    pub realtime: RealtimeSettings,
    pub payment: PaymentSettings,
    pub stats: StatsSettings,
    pub worker: WorkerSettings,
    pub aws: AwsSettings,
    pub web: WebSettings,
    /// `TIKETI_SECRETS`: where signing keys and the Toss secret key come from.
    pub secrets: SecretSource,
    /// `TIKETI_AWS_BOOTSTRAP`: create the queues, topic and table at start-up (`tiketi up` does).
    pub aws_bootstrap: bool,
    /// `TIKETI_ADMIN_EMAIL` / `TIKETI_ADMIN_PASSWORD`: this admin exists after start-up.
    pub admin: Option<(String, SecretString)>,
}

impl Settings {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_env(&mut env);
        let auth = AuthSettings::from_env(&mut env);
        let ticket = TicketSettings::from_env(&mut env);
        let realtime = RealtimeSettings::from_env(&mut env);
        let payment = PaymentSettings::from_env(&mut env);
        let stats = StatsSettings::from_env(&mut env);
        let worker = WorkerSettings::from_env(&mut env);
        let aws = AwsSettings::from_env(&mut env);
        let web = WebSettings::from_env(&mut env);
        let aws_bootstrap = env.get("TIKETI_AWS_BOOTSTRAP", false);
        let secrets = env.get("TIKETI_SECRETS", SecretSource::Local);
        let admin = match (env.raw("TIKETI_ADMIN_EMAIL").map(str::to_owned), env.secret("TIKETI_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) => Some((email, password)),
            (None, None) => None,
            _ => {
                env.invalid("TIKETI_ADMIN_EMAIL", "set both TIKETI_ADMIN_EMAIL and TIKETI_ADMIN_PASSWORD, or neither");
                None
            }
        };
        env.finish()?;
        Ok(Self { common, auth, ticket, realtime, payment, stats, worker, aws, web, secrets, aws_bootstrap, admin })
    }

    /// After binding port 0, point the default local URLs at the port actually bound.
    pub fn resolve_port(&mut self, port: u16) {
        self.common.port = port;
        for url in [&mut self.common.public_url, &mut self.common.internal_url, &mut self.common.jwks_url] {
            if url.port() == Some(0) {
                let _ = url.set_port(Some(port));
            }
        }
    }
}

/// Where secrets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// Signing keys generated into `TIKETI_DATA_DIR`; the Toss key from `TIKETI_TOSS_SECRET_KEY`.
    Local,
    /// AWS Secrets Manager: `<prefix>signing-keys-<purpose>` and `<prefix>toss-secret-key`.
    Aws,
}

impl std::str::FromStr for SecretSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "aws" => Ok(Self::Aws),
            _ => Err("expected local or aws".into()),
        }
    }
}
