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
//! A socket the server closes comes back as the web app's does — after a jittered 0.25–0.5 s,
//! doubling, resubscribing — and is counted by how it ended: with 1012 (going away for a
//! restart: resumable) or otherwise (a replica killed); `lost` counts sockets that could not
//! come back. For the waiting room, each socket also compares the ETA it
//! was first promised (the first `eta_seconds` it sees, from then) with when it was admitted.
//!
//! Usage: swarm <http-base> <ws-base> <event-id> <tokens-file> <sockets> <redis-url> <queue-or-seat-channel> <server-pid> <hold-secs>
//! (`http-base` serves the joins; `ws-base` is the realtime server whose pid is measured; it may
//! be a load balancer in front of several).

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
/// The realtime role's close code for "going away for a restart, come back" (API.md).
const CLOSE_RESTART: u16 = 1012;

#[derive(Default)]
struct Stats {
    connected: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
    /// Sockets the server closed with 1012 (going away for a restart), and those that ended
    /// otherwise (a replica killed): both reconnect and resubscribe, as the web app does.
    restart_closes: AtomicUsize,
    abnormal_ends: AtomicUsize,
    /// Reconnects that worked.
    resumed: AtomicUsize,
    positions: AtomicU64,
    admitted: AtomicU64,
    unattributed: AtomicU64,
    /// Delivery delays by millisecond.
    delays: Vec<AtomicU64>,
    measuring: std::sync::atomic::AtomicBool,
    /// For every admitted waiter that had been promised an ETA: (promised wait, admitted − promised), seconds.
    eta: Mutex<Vec<(f64, f64)>>,
}

#[derive(Deserialize)]
struct Pushed {
    #[serde(rename = "type")]
    kind: String,
    served: Option<i64>,
    eta_seconds: Option<i64>,
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
    {
        let published = published.clone();
        // Subscribed again whenever the connection ends (a Redis restart in a chaos run).
        tokio::spawn(async move {
            loop {
                if let Ok(mut pubsub) = client.get_async_pubsub().await
                    && pubsub.subscribe(&channel).await.is_ok()
                {
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let payload: Vec<u8> = message.get_payload_bytes().to_vec();
                        let mark =
                            serde_json::from_slice::<PublishedMark>(&payload).ok().and_then(|m| m.served.or(m.version));
                        if let Some(mark) = mark {
                            published
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .entry(mark)
                                .or_insert_with(Instant::now);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    // 3. Sockets, a few hundred handshakes at a time.
    let rss_before = rss_kb(server_pid);
    let stats = Arc::new(Stats { delays: (0..=MAX_DELAY_MS).map(|_| AtomicU64::new(0)).collect(), ..Stats::default() });
    let server: SocketAddr = ws_base.trim_start_matches("ws://").parse().context("ws-base must be ws://<ip>:<port>")?;
    let eta_started = Instant::now();
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
        "RESULT held={} restart_closes={} abnormal_ends={} resumed={} lost={} {}_per_sec={rate:.0} admitted_pushed={} changes_measured={total} unattributed={} delay_ms_p50={:?} p99={:?} max={:?}",
        stats.connected.load(Ordering::Relaxed) - stats.closed.load(Ordering::Relaxed),
        stats.restart_closes.load(Ordering::Relaxed),
        stats.abnormal_ends.load(Ordering::Relaxed),
        stats.resumed.load(Ordering::Relaxed),
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
    if !seats {
        report_eta(&stats.eta.lock().unwrap_or_else(std::sync::PoisonError::into_inner), eta_started.elapsed());
    }
    Ok(())
}

/// How well the promised ETAs held: the error (admitted − promised) in seconds, and relative to the
/// wait that was promised.
fn report_eta(samples: &[(f64, f64)], over: Duration) {
    if samples.is_empty() {
        println!("RESULT eta: no waiter was both promised an ETA and admitted in {:.0}s", over.as_secs_f64());
        return;
    }
    let pct = |values: &mut Vec<f64>, p: f64| {
        values.sort_by(f64::total_cmp);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        values[((values.len() - 1) as f64 * p).round() as usize]
    };
    let mut error: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut relative: Vec<f64> = samples.iter().filter(|s| s.0 >= 10.0).map(|s| s.1.abs() / s.0).collect();
    let mut promised: Vec<f64> = samples.iter().map(|s| s.0).collect();
    print!(
        "RESULT eta: {} admitted; promised wait p50={:.0}s max={:.0}s; admitted − promised p10={:+.1}s p50={:+.1}s p90={:+.1}s",
        samples.len(),
        pct(&mut promised, 0.5),
        pct(&mut promised, 1.0),
        pct(&mut error, 0.1),
        pct(&mut error, 0.5),
        pct(&mut error, 0.9),
    );
    if relative.is_empty() {
        println!();
    } else {
        println!(
            "; |error| / promised (promises ≥ 10 s, n={}) p50={:.2} p90={:.2}",
            relative.len(),
            pct(&mut relative, 0.5),
            pct(&mut relative, 0.9)
        );
    }
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
    let connect = || async {
        let tcp = TcpSocket::new_v4()?;
        tcp.bind(SocketAddr::new(source, 0))?;
        let stream = tcp.connect(server).await?;
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config)).await?;
        ws.send(Message::Text(subscribe.clone().into())).await?;
        anyhow::Ok(ws)
    };
    let Ok(mut ws) = connect().await else {
        stats.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let mut waiter = Waiter { last_served: i64::MIN, promised: None };
    'socket: loop {
        let counter = if receive(&mut ws, &mut waiter, &stats, &published).await {
            &stats.restart_closes
        } else {
            &stats.abnormal_ends
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // The web app's reconnect delays (frontend/src/lib/realtime.ts: 0.25–0.5 s, doubling).
        for attempt in 0..6 {
            let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 250..500) << attempt;
            tokio::time::sleep(Duration::from_millis(jitter)).await;
            if let Ok(next) = connect().await {
                ws = next;
                stats.resumed.fetch_add(1, Ordering::Relaxed);
                continue 'socket;
            }
        }
        break;
    }
    stats.closed.fetch_add(1, Ordering::Relaxed);
}

/// What one waiter remembers across reconnects.
struct Waiter {
    last_served: i64,
    /// When the first ETA promised admission, and the wait it promised.
    promised: Option<(Instant, f64)>,
}

/// Reads pushes until the socket ends; true when the server closed it for a restart (1012).
/// (The process exiting at the end of the run ends every socket, uncounted.)
async fn receive(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    waiter: &mut Waiter,
    stats: &Stats,
    published: &Published,
) -> bool {
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
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => return frame.is_some_and(|f| u16::from(f.code) == CLOSE_RESTART),
            _ => continue,
        };
        let Ok(pushed) = serde_json::from_str::<Pushed>(&text) else { continue };
        match pushed.kind.as_str() {
            "queue.position" => {
                if let (None, Some(eta)) = (waiter.promised, pushed.eta_seconds) {
                    #[allow(clippy::cast_precision_loss)]
                    let eta = eta as f64;
                    waiter.promised = Some((Instant::now() + Duration::from_secs_f64(eta), eta));
                }
                let served = pushed.served.unwrap_or(i64::MIN);
                if !stats.measuring.load(Ordering::Relaxed) {
                    waiter.last_served = served;
                    continue;
                }
                stats.positions.fetch_add(1, Ordering::Relaxed);
                if served > waiter.last_served && waiter.last_served != i64::MIN {
                    delay(published.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&served).copied());
                }
                waiter.last_served = served;
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
                if let Some((at, eta)) = waiter.promised.take() {
                    let now = Instant::now();
                    let error = if now >= at { (now - at).as_secs_f64() } else { -(at - now).as_secs_f64() };
                    stats.eta.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((eta, error));
                }
            }
            _ => {}
        }
    }
    false
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
