//! `tiketi`: the one server binary. See [`tiketi::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match tiketi::cli::Cli::parse().run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Before tracing is up (e.g. invalid configuration) this is the only way to say why.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("tiketi: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
