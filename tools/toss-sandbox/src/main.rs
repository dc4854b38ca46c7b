//! `toss-sandbox`: serves the Toss Payments stand-in until SIGTERM or Ctrl-C.
//! Configuration comes from `TOSS_SANDBOX_*` (see README.md); `RUST_LOG` sets the log level.

use std::io::IsTerminal;
use std::process::ExitCode;

use tiketi_toss_sandbox::{Config, Sandbox};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            // Straight to stderr: this must be seen whatever RUST_LOG says.
            eprintln!("toss-sandbox: invalid configuration: {err:#}");
            return ExitCode::from(2);
        }
    };
    info!(
        addr = %config.addr,
        webhook_url = ?config.webhook_url,
        webhook_retry_scale = config.webhook_retry_scale,
        session_ttl_secs = config.session_ttl.as_secs(),
        "starting the Toss Payments sandbox"
    );
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(err) => {
            error!("cannot start: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    info!("stopping");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
