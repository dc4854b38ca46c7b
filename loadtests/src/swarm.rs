//! A WebSocket swarm: N buyers join one event's waiting room, each opens a socket from one of
//! several 127.0.0.x source addresses (past the ~28k ephemeral ports of one address) and
//! subscribes to its queue channel; then, while the server admits steadily, it measures how long
//! each position change takes from the admission step's publish (seen on Redis by the swarm
//! itself) to the socket, and samples the server's RSS and CPU from /proc.
//!
//! Given a seat channel (`…seats:<event>`) instead, the sockets subscribe to the event's seat map
//! (no joins) and the delay is measured for every seat-map version, from the ticket role's publish
//! to the socket's receipt of the `seats.changed` window that carries it.
//!
//! Usage: swarm <http-base> <ws-base> <event-id> <tokens-file> <sockets> <redis-url> <queue-or-seat-channel> <server-pid> <hold-secs>
//! (`http-base` serves the joins; `ws-base` is the realtime server whose pid is measured).

#![allow(clippy::print_stdout)] // the report is this program's output

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const SOURCES: u8 = 8;
const MAX_DELAY_MS: usize = 30_000;

#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
    positions: AtomicU64,
    admitted: AtomicU64,
    unattributed: AtomicU64,
    /// Delivery delays by millisecond.
    delays: Vec<AtomicU64>,
    measuring: std::sync::atomic::AtomicBool,
}

#[derive(Deserialize)]
struct Pushed {
    #[serde(rename = "type")]
    kind: String,
    served: Option<i64>,
    from_version: Option<i64>,
    version: Option<i64>,
}

/// What the swarm reads of a published message: an admission step's progress, or a seat change.
#[derive(Deserialize)]
struct PublishedMark {
    served: Option<i64>,
    version: Option<i64>,
}

type Published = Arc<Mutex<HashMap<i64, Instant>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: swarm <http-base> <ws-base> <event-id> <tokens-file> <sockets> <redis-url> <queue-channel> <server-pid> <hold-secs>";
    anyhow::ensure!(args.len() == 9, usage);
    let (base, ws_base, event) = (args[0].clone(), args[1].clone(), args[2].clone());
    let tokens: Vec<String> =
        std::fs::read_to_string(&args[3])?.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect();
    let sockets: usize = args[4].parse().context(usage)?;
    let (redis_url, channel) = (args[5].clone(), args[6].clone());
    let server_pid: u32 = args[7].parse().context(usage)?;
    let hold = Duration::from_secs(args[8].parse().context(usage)?);
    anyhow::ensure!(tokens.len() >= sockets, "need {sockets} tokens, have {}", tokens.len());
    let tokens: Vec<String> = tokens.into_iter().take(sockets).collect();
    let seats = channel.contains("seats:");

    // 1. Everyone joins over HTTP (for a seat map there is nothing to join).
    let started = Instant::now();
    let http = reqwest::Client::new();
    let joined =
        futures::stream::iter(tokens.iter())
            .map(|token| {
                let http = http.clone();
                let url = format!("{base}/api/events/{event}/queue");
                async move {
                    http.post(url).bearer_auth(token).send().await.map(|r| r.status().is_success()).unwrap_or(false)
                }
            })
            .buffer_unordered(64)
            .filter(|ok| futures::future::ready(*ok && !seats))
            .count()
            .await;
    println!("RESULT joined={joined} join_secs={:.1}", started.elapsed().as_secs_f64());

    // 2. The swarm's own view of every admission step's publish.
    let published: Published = Arc::default();
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&channel).await?;
    {
        let published = published.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let payload: Vec<u8> = message.get_payload_bytes().to_vec();
                let mark = serde_json::from_slice::<PublishedMark>(&payload).ok().and_then(|m| m.served.or(m.version));
                if let Some(mark) = mark {
                    published
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .entry(mark)
                        .or_insert_with(Instant::now);
                }
            }
        });
    }

    // 3. Sockets, a few hundred handshakes at a time.
    let rss_before = rss_kb(server_pid);
    let stats = Arc::new(Stats { delays: (0..=MAX_DELAY_MS).map(|_| AtomicU64::new(0)).collect(), ..Stats::default() });
    let server: SocketAddr = ws_base.trim_start_matches("ws://").parse().context("ws-base must be ws://<ip>:<port>")?;
    let started = Instant::now();
    let handshakes = Arc::new(tokio::sync::Semaphore::new(256));
    for (i, token) in tokens.into_iter().enumerate() {
        let permit = handshakes.clone().acquire_owned().await?;
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + u8::try_from(i % usize::from(SOURCES)).unwrap_or(0)));
        let url = format!("{ws_base}/ws?token={token}");
        let kind = if seats { "seats" } else { "queue" };
        let subscribe = format!(r#"{{"type":"subscribe","channel":"{kind}:{event}"}}"#);
        tokio::spawn(socket(server, source, url, subscribe, stats.clone(), published.clone(), permit));
    }
    let _ = handshakes.acquire_many(256).await;
    let connected = stats.connected.load(Ordering::Relaxed);
    println!(
        "RESULT sockets={connected} failed={} connect_secs={:.1}",
        stats.failed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss_kb(server_pid);
    let per_socket = (rss_after.saturating_sub(rss_before) * 1024) / u64::try_from(connected.max(1)).unwrap_or(1);
    println!("RESULT server_rss_mb={} rss_bytes_per_socket={per_socket}", rss_after / 1024);

    // 4. Measure while the server admits.
    let cpu_before = (cpu_ticks(server_pid), cpu_ticks(std::process::id()), Instant::now());
    stats.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(hold).await;
    stats.measuring.store(false, Ordering::Relaxed);
    let secs = cpu_before.2.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let cpu = |now: u64, then: u64| (now.saturating_sub(then)) as f64 / 100.0 / secs * 100.0;
    let counts: Vec<u64> = stats.delays.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    let pct = |p: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let wanted = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        counts.iter().position(|&c| {
            seen += c;
            seen >= wanted.max(1)
        })
    };
    #[allow(clippy::cast_precision_loss)]
    let rate = stats.positions.load(Ordering::Relaxed) as f64 / secs;
    println!(
        "RESULT held={} closed={} {}_per_sec={rate:.0} admitted_pushed={} changes_measured={total} unattributed={} delay_ms_p50={:?} p99={:?} max={:?}",
        stats.connected.load(Ordering::Relaxed) - stats.closed.load(Ordering::Relaxed),
        stats.closed.load(Ordering::Relaxed),
        if seats { "seat_messages" } else { "positions" },
        stats.admitted.load(Ordering::Relaxed),
        stats.unattributed.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99),
        counts.iter().rposition(|&c| c > 0),
    );
    println!(
        "RESULT server_cpu_pct={:.0} swarm_cpu_pct={:.0} (of one core, over {secs:.0}s)",
        cpu(cpu_ticks(server_pid), cpu_before.0),
        cpu(cpu_ticks(std::process::id()), cpu_before.1)
    );
    Ok(())
}

async fn socket(
    server: SocketAddr,
    source: IpAddr,
    url: String,
    subscribe: String,
    stats: Arc<Stats>,
    published: Published,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let connect = async {
        let tcp = TcpSocket::new_v4()?;
        tcp.bind(SocketAddr::new(source, 0))?;
        let stream = tcp.connect(server).await?;
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        anyhow::Ok(ws)
    };
    let mut ws = match connect.await {
        Ok(ws) => ws,
        Err(_) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if ws.send(Message::Text(subscribe.into())).await.is_err() {
        stats.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    stats.connected.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let mut last_served = i64::MIN;
    let delay = |at: Option<Instant>| match at {
        Some(at) => {
            let ms = usize::try_from(at.elapsed().as_millis()).unwrap_or(MAX_DELAY_MS).min(MAX_DELAY_MS);
            stats.delays[ms].fetch_add(1, Ordering::Relaxed);
        }
        None => {
            stats.unattributed.fetch_add(1, Ordering::Relaxed);
        }
    };
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else { continue };
        let Ok(pushed) = serde_json::from_str::<Pushed>(&text) else { continue };
        match pushed.kind.as_str() {
            "queue.position" => {
                let served = pushed.served.unwrap_or(i64::MIN);
                if !stats.measuring.load(Ordering::Relaxed) {
                    last_served = served;
                    continue;
                }
                stats.positions.fetch_add(1, Ordering::Relaxed);
                if served > last_served && last_served != i64::MIN {
                    delay(published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&served).copied());
                }
                last_served = served;
            }
            "seats.changed" if stats.measuring.load(Ordering::Relaxed) => {
                stats.positions.fetch_add(1, Ordering::Relaxed);
                let (Some(from), Some(to)) = (pushed.from_version, pushed.version) else { continue };
                // Every version the window carries: its delay since its own publish.
                let at: Vec<Option<Instant>> = {
                    let published = published.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    (from..=to).map(|v| published.get(&v).copied()).collect()
                };
                at.into_iter().for_each(delay);
            }
            "queue.admitted" => {
                stats.admitted.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    stats.closed.fetch_add(1, Ordering::Relaxed);
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time in clock ticks (100 per second).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}
