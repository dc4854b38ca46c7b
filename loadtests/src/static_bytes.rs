//! The floor under the seat map: a bare axum server (no layers, no state, the same allocator and
//! runtime as the server) answering one path with a file's bytes held in memory and the headers
//! the seat map sends. What hyper and axum cost for such a read, measured next to the seat map and
//! nginx in `loadtests/seatmap_static.sh`.
//!
//! Usage: static-bytes <port> <path> <file>
#![allow(clippy::print_stdout)]

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(path), Some(file)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: static-bytes <port> <path> <file>");
    };
    let body = Bytes::from(std::fs::read(file)?);
    let serve = move || {
        let body = body.clone();
        async move {
            let mut response = body.into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
    println!("serving {path} on {}", listener.local_addr()?);
    axum::serve(listener, Router::new().route(&path, get(serve))).await?;
    Ok(())
}
