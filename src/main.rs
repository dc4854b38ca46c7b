//! `tiketi`: the one server binary. See [`tiketi::cli`].

use clap::Parser;

/// mimalloc instead of glibc's malloc: a request through the router allocates and frees dozens of
/// small objects across two worker threads, where glibc's arenas spent ~17 % of a seat-map read
/// (docs/benchmarks.md, "Seat map against a static file server").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
