//! The buyer's payment path under load: checkout → the Toss window (sandbox, no browser) →
//! confirm, for many buyers at once, each holding one seat first (untimed).
//!
//! Usage: payflow <base url> <event id> <buyers file: "token seat_id" lines> <concurrency> <seconds>
//! Prints `RESULT` lines: completed flows per second, per-step latency percentiles, failures, and
//! with `SERVER_PID` set the server process's CPU time per completed flow (timed part only).
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::Mutex;

struct Buyer {
    token: String,
    reservation: String,
}

#[derive(Default)]
struct Timings {
    checkout: Vec<f64>,
    window: Vec<f64>,
    confirm: Vec<f64>,
    flow: Vec<f64>,
    failures: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, event, buyers_file, concurrency, seconds] = args.as_slice() else {
        bail!("usage: payflow <base url> <event id> <buyers file> <concurrency> <seconds>");
    };
    let concurrency: usize = concurrency.parse().context("concurrency")?;
    let seconds: u64 = seconds.parse().context("seconds")?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let lines = std::fs::read_to_string(buyers_file)?;
    let pairs: Vec<(String, String)> =
        lines.lines().filter_map(|l| l.split_once(' ').map(|(t, s)| (t.to_owned(), s.to_owned()))).collect();

    // Untimed: every buyer holds one seat.
    let started = Instant::now();
    let queue = Arc::new(Mutex::new(pairs.into_iter()));
    let held = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..64 {
        let (http, base, event, queue, held) = (http.clone(), base.clone(), event.clone(), queue.clone(), held.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().await.next();
                let Some((token, seat)) = next else { return };
                let url = format!("{base}/api/events/{event}/holds");
                let Ok(res) = http.post(url).bearer_auth(&token).json(&json!({"seat_ids": [seat]})).send().await else {
                    continue;
                };
                if res.status().as_u16() == 201
                    && let Ok(body) = res.json::<Value>().await
                    && let Some(id) = body["reservation"]["id"].as_str()
                {
                    held.lock().await.push(Buyer { token, reservation: id.to_owned() });
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let buyers: Vec<Buyer> = std::mem::take(&mut *held.lock().await);
    println!("prepared {} holds in {:.1}s", buyers.len(), started.elapsed().as_secs_f64());

    // Timed: checkout + window + confirm, `concurrency` buyers at a time, for `seconds`.
    let buyers = Arc::new(Mutex::new(buyers.into_iter()));
    let timings = Arc::new(Mutex::new(Timings::default()));
    let done = Arc::new(AtomicUsize::new(0));
    let server = std::env::var("SERVER_PID").ok();
    let cpu_before = server.as_deref().and_then(cpu_seconds);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, base, buyers, timings, done) =
            (http.clone(), base.clone(), buyers.clone(), timings.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let next = buyers.lock().await.next();
                let Some(buyer) = next else { return };
                let result = flow(&http, &base, &buyer).await;
                let mut t = timings.lock().await;
                match result {
                    Ok([checkout, window, confirm]) => {
                        t.checkout.push(checkout);
                        t.window.push(window);
                        t.confirm.push(confirm);
                        t.flow.push(checkout + window + confirm);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => t.failures.push(format!("{e:#}")),
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *timings.lock().await);
    let flows = done.load(Ordering::Relaxed);
    println!(
        "RESULT payments flows={flows} seconds={elapsed:.1} per_second={:.0} failures={}",
        flows as f64 / elapsed,
        t.failures.len()
    );
    for (name, values) in
        [("checkout", &mut t.checkout), ("window", &mut t.window), ("confirm", &mut t.confirm), ("flow", &mut t.flow)]
    {
        values.sort_by(f64::total_cmp);
        println!(
            "RESULT latency_ms step={name} p50={:.1} p95={:.1} p99={:.1}",
            pct(values, 0.50) * 1e3,
            pct(values, 0.95) * 1e3,
            pct(values, 0.99) * 1e3
        );
    }
    if let (Some(before), Some(after)) = (cpu_before, server.as_deref().and_then(cpu_seconds))
        && flows > 0
    {
        println!("RESULT server_cpu_ms_per_flow={:.2}", (after - before) * 1e3 / flows as f64);
    }
    for failure in t.failures.iter().take(5) {
        println!("failure: {failure}");
    }
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One buyer's checkout → window → confirm; answers each step's seconds.
async fn flow(http: &reqwest::Client, base: &str, buyer: &Buyer) -> anyhow::Result<[f64; 3]> {
    let t0 = Instant::now();
    let res = http
        .post(format!("{base}/api/payments/checkout"))
        .bearer_auth(&buyer.token)
        .json(&json!({"reservation_id": buyer.reservation}))
        .send()
        .await?;
    if res.status().as_u16() != 201 {
        bail!("checkout {}: {}", res.status(), res.text().await?);
    }
    let order: Value = res.json().await?;
    let checkout = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let url = order["checkout_url"].as_str().context("checkout_url")?;
    let res = http.post(url).form(&[("outcome", "approve")]).send().await?;
    if res.status().as_u16() != 303 {
        bail!("window {}", res.status());
    }
    let location = res.headers().get("location").context("location")?.to_str()?.to_owned();
    let back = url::Url::parse(&location)?;
    let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let window = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let body = json!({
        "payment_key": param("paymentKey").context("paymentKey")?,
        "order_id": param("orderId").context("orderId")?,
        "amount": param("amount").context("amount")?.parse::<i64>()?,
    });
    let res = http.post(format!("{base}/api/payments/confirm")).bearer_auth(&buyer.token).json(&body).send().await?;
    if res.status().as_u16() != 200 {
        bail!("confirm {}: {}", res.status(), res.text().await?);
    }
    let confirm = t2.elapsed().as_secs_f64();
    Ok([checkout, window, confirm])
}

/// User + system CPU seconds of process `pid` so far (`/proc/<pid>/stat`, in Linux's 100 ticks/s).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may contain spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
