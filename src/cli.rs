//! The command line: `tiketi up | serve | migrate | seed | keys rotate | aws bootstrap | probe`.

use clap::{Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use tiketi_shared::config::Env;
use tiketi_shared::keys::KeyPurpose;
use tiketi_shared::{shutdown, telemetry};

use crate::app::{self, Application, Overrides, Resources};
use crate::role::Role;
use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(name = "tiketi", version, about = "Tiketi: ticketing for high-demand on-sales")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every role in one process on one port (migrates first).
    Up,
    /// Run the chosen roles, as a Kubernetes Deployment does.
    Serve {
        /// A role to run; repeat for several. Defaults to every role.
        #[arg(long = "role", env = "TIKETI_ROLES", value_delimiter = ',')]
        roles: Vec<Role>,
    },
    /// Apply every role's database migrations.
    Migrate,
    /// Create demo data (idempotent).
    Seed,
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the AWS resources Tiketi uses.
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Ask the server on this machine (`TIKETI_PORT`) whether it is alive; exits 0 if it answers
    /// 2xx. The container image's health check: it has no shell and no curl.
    Probe {
        /// `/healthz` (alive) or `/readyz` (its dependencies answer too).
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
}

#[derive(Debug, Subcommand)]
enum AwsCommand {
    /// Create the SNS topic, the SQS queues (with dead-letter queues), the webhook inbox table and
    /// the reports bucket unless they exist — against `AWS_ENDPOINT_URL` (the local emulator) or AWS.
    Bootstrap,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new active key; the previous one keeps verifying tokens already issued.
    Rotate {
        #[arg(long, value_enum)]
        purpose: Purpose,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Purpose {
    Access,
    Service,
}

/// A demo buyer `tiketi seed` creates, for trying the site locally.
pub const DEMO_BUYER_EMAIL: &str = "buyer@demo.tiketi.local";
const DEMO_BUYER_PASSWORD: &str = "dev-only-buyer-password";

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        let settings = Settings::from_env(Env::from_process())?;
        let traces = match self.command {
            Command::Probe { .. } => None,
            _ => telemetry::TraceExport::from_env(&self.command.service_name())?,
        };
        telemetry::init_tracing_with(settings.common.log_format, &settings.common.log_filter, traces.as_ref());
        let outcome = self.command.run(settings).await;
        if let Some(traces) = traces {
            // The export thread blocks while it flushes.
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
        outcome
    }
}

impl Command {
    /// How this process appears in traces: `tiketi-ticket`, `tiketi-auth+ticket`, `tiketi` (all).
    fn service_name(&self) -> String {
        match self {
            Command::Serve { roles } if !roles.is_empty() => {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                format!("tiketi-{}", names.join("+"))
            }
            _ => "tiketi".to_owned(),
        }
    }

    async fn run(self, mut settings: Settings) -> anyhow::Result<()> {
        match self {
            Command::Up => {
                settings.aws_bootstrap = true;
                serve(settings, Role::ALL, true).await
            }
            Command::Serve { roles } => {
                let roles = if roles.is_empty() { Role::ALL.to_vec() } else { roles };
                serve(settings, &roles, false).await
            }
            Command::Migrate => {
                Resources::connect(&settings, Overrides::default()).await?.migrate().await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Seed => seed(settings).await,
            Command::Aws { command: AwsCommand::Bootstrap } => {
                let resources = Resources::connect(&settings, Overrides::default()).await?;
                let located = resources.locate_aws(true).await?;
                if settings.secrets == crate::settings::SecretSource::Aws {
                    // Locally the Toss test key from configuration seeds the secret; in the cloud
                    // Terraform creates it and an operator puts the live key in.
                    let seeded =
                        app::toss_secret(&resources.aws).put_if_missing(&settings.payment.toss_secret_key).await?;
                    tracing::info!(seeded, "toss secret key in Secrets Manager");
                }
                tracing::info!(topic = located.topic_arn, prefix = settings.aws.name_prefix, "AWS resources ready");
                Ok(())
            }
            Command::Probe { path } => probe(settings.common.port, &path).await,
            Command::Keys { command: KeysCommand::Rotate { purpose } } => {
                let purpose = match purpose {
                    Purpose::Access => KeyPurpose::Access,
                    Purpose::Service => KeyPurpose::Service,
                };
                let kid = app::rotate_keys(&settings, purpose).await?;
                tracing::info!(kid, "rotated; restart the auth role to sign with the new key");
                Ok(())
            }
        }
    }
}

async fn probe(port: u16, path: &str) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/{}", path.trim_start_matches('/'));
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
    let status = http.get(&url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

async fn serve(settings: Settings, roles: &[Role], migrate: bool) -> anyhow::Result<()> {
    let app = Application::build(settings, roles, Overrides::default(), migrate).await?;
    shutdown::cancel_on_signal(app.shutdown_token());
    app.run().await
}

async fn seed(settings: Settings) -> anyhow::Result<()> {
    let resources = Resources::connect(&settings, Overrides::default()).await?;
    let verifier = std::sync::Arc::new(tiketi_shared::token::TokenVerifier::new(
        settings.common.jwks_url.clone(),
        resources.clock.clone(),
    ));
    let auth = app::auth_state(&settings, &resources, verifier).await?;
    if tiketi_auth::store::user_by_email(&resources.pool, DEMO_BUYER_EMAIL).await?.is_none() {
        let hash =
            auth.passwords.hash(SecretString::from(DEMO_BUYER_PASSWORD)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let new = tiketi_auth::store::NewUser {
            email: DEMO_BUYER_EMAIL,
            name: "Demo Buyer",
            role: Default::default(),
            password_hash: Some(&hash),
        };
        tiketi_auth::store::insert_user(&resources.pool, &new, resources.clock.now()).await?;
    }
    if let Some((email, password)) = &settings.admin {
        auth.ensure_admin(email, password).await?;
    }
    let ticket = app::ticket_state(&settings, &resources, auth.verifier.clone()).await?;
    let catalogue = tiketi_ticket::seed::seed(&ticket).await?;
    tracing::info!(demo_buyer = DEMO_BUYER_EMAIL, venues = catalogue.venues, events = catalogue.events, "seeded");
    Ok(())
}
