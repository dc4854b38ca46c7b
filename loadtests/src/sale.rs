//! The whole on-sale as buyers live it, on goose: each buyer joins the waiting room, waits to be
//! admitted, browses, looks at the seat map, holds seats (some contended: a lost hold retries other
//! seats), checks out, goes through the sandbox's payment window and confirms; a share abandon the
//! hold, pay by virtual account (deposited through the sandbox) or cancel for a refund. Browsers
//! load the event list, details and the seat map throughout.
//!
//! Usage: `sale --host <base> --users N --hatch-rate R --run-time 5m --report-file report.html`
//! (goose's own flags), with `SALE_EVENT` (the event id), `SALE_TOKENS` (a file of buyer access
//! tokens, one per line: each iteration of a buyer is a new buyer), `SALE_SANDBOX` (the Toss
//! sandbox's URL, for deposits). Steps are named by their transaction so goose's report gives each
//! its throughput and percentiles; `SALE_OUTCOMES` (a file) receives one line per buyer:
//! `paid|abandoned|virtual|refunded|sold_out|failed <seconds waited>`.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use goose::goose::GooseResponse;
use goose::metrics::GooseRequestMetric;
use goose::prelude::*;
use rand::Rng;
use serde_json::{Value, json};

struct Config {
    event: String,
    tokens: Vec<String>,
    sandbox: String,
    outcomes: Mutex<Option<std::fs::File>>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(0);

fn config() -> &'static Config {
    CONFIG.get().unwrap_or_else(|| unreachable!("main loads the configuration before any buyer runs"))
}

fn load() -> anyhow::Result<Config> {
    use anyhow::Context;
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is required"));
    let tokens = std::fs::read_to_string(var("SALE_TOKENS")?).context("reading SALE_TOKENS")?;
    let outcomes = match std::env::var("SALE_OUTCOMES") {
        Ok(path) => Some(std::fs::File::create(path).context("creating SALE_OUTCOMES")?),
        Err(_) => None,
    };
    Ok(Config {
        event: var("SALE_EVENT")?,
        tokens: tokens.lines().map(str::to_owned).collect(),
        sandbox: var("SALE_SANDBOX")?,
        outcomes: Mutex::new(outcomes),
    })
}

/// What one buyer has got so far (goose session data).
#[derive(Default)]
struct Buyer {
    token: String,
    joined: Option<Instant>,
    waited: f64,
    /// The wait the first ETA promised (seconds from joining), to compare with `waited`.
    promised: Option<f64>,
    admission: Option<String>,
    /// The waiting room's receipt for this buyer's place, shown again if the room forgets it.
    receipt: Option<String>,
    reservation: Option<String>,
    outcome: Option<&'static str>,
}

impl Buyer {
    /// Keeps the first ETA a waiting answer promised, as the wait it means from joining.
    fn promise(&mut self, waiting: &Value) {
        if let (None, Some(joined), Some(eta)) = (self.promised, self.joined, waiting["eta_seconds"].as_f64()) {
            self.promised = Some(joined.elapsed().as_secs_f64() + eta);
        }
    }
}

/// Ends this buyer's story with `outcome`.
fn conclude(user: &mut GooseUser, outcome: &'static str) {
    if let Some(buyer) = user.get_session_data_mut::<Buyer>() {
        buyer.outcome = Some(outcome);
    }
}

/// How long a buyer waits to be admitted before giving up (`SALE_MAX_WAIT_SECS`, 120).
fn patience() -> Duration {
    Duration::from_secs(std::env::var("SALE_MAX_WAIT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(120))
}

fn record(buyer: &Buyer) {
    let Some(outcome) = buyer.outcome else { return };
    if let Ok(mut file) = config().outcomes.lock()
        && let Some(file) = file.as_mut()
    {
        let promised = buyer.promised.map_or_else(|| "-".to_owned(), |p| format!("{p:.1}"));
        let _ = writeln!(file, "{outcome} {:.1} {promised}", buyer.waited);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = CONFIG.set(load()?);
    GooseAttack::initialize()?
        .register_scenario(
            scenario!("buyer")
                .set_weight(9)?
                .register_transaction(transaction!(join).set_name("1 join"))
                .register_transaction(transaction!(wait).set_name("2 wait for admission"))
                .register_transaction(transaction!(browse).set_name("3 browse"))
                .register_transaction(transaction!(hold).set_name("4 hold"))
                .register_transaction(transaction!(pay).set_name("5 pay"))
                .register_transaction(transaction!(finish).set_name("6 finish")),
        )
        .register_scenario(
            scenario!("browser").set_weight(1)?.register_transaction(transaction!(browse).set_name("browse")),
        )
        .execute()
        .await?;
    Ok(())
}

/// What came back: status (0 when none), the JSON body (or null), and goose's record of the
/// request (to mark an expected refusal as a success).
struct Answer {
    status: u16,
    body: Value,
    metric: GooseRequestMetric,
}

/// A request with the buyer's token and headers, named for the report. `path` may be a full URL
/// (the sandbox's payment window).
async fn send(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, Box<TransactionError>> {
    let mut builder = user.get_request_builder(&method, path)?;
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    if let Some(body) = body {
        builder = builder.json(body);
    }
    let request = GooseRequest::builder().method(method).path(path).name(name).set_request_builder(builder).build();
    let GooseResponse { request: metric, response } = user.request(request).await?;
    let (status, text) = match response {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    };
    Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), metric })
}

async fn join(user: &mut GooseUser) -> TransactionResult {
    let cfg = config();
    // Every buyer is new (a token used again would be a buyer coming back for more seats, which
    // the per-buyer cap refuses); when the tokens run out, this user stops buying.
    let n = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let Some(token) = cfg.tokens.get(n).cloned() else {
        tokio::time::sleep(Duration::from_secs(1)).await;
        return Ok(());
    };
    let path = format!("/api/events/{}/queue", cfg.event);
    let answer = send(user, GooseMethod::Post, &path, "join", Some(&token), &[], None).await?;
    let mut buyer = Buyer { token, joined: Some(Instant::now()), ..Buyer::default() };
    match answer.status {
        200 => buyer.admission = answer.body["admission_token"].as_str().map(str::to_owned),
        202 => {
            buyer.receipt = answer.body["receipt"].as_str().map(str::to_owned);
            buyer.promise(&answer.body);
        }
        _ => buyer.outcome = Some("failed"),
    }
    user.set_session_data(buyer);
    Ok(())
}

async fn wait(user: &mut GooseUser) -> TransactionResult {
    let cfg = config();
    let path = format!("/api/events/{}/queue", cfg.event);
    loop {
        let Some(buyer) = user.get_session_data::<Buyer>() else { return Ok(()) };
        if buyer.outcome.is_some() || buyer.admission.is_some() {
            break;
        }
        let token = buyer.token.clone();
        if buyer.joined.is_some_and(|t| t.elapsed() > patience()) {
            // Tired of waiting: leaves the queue (a place given back, as a closed tab's would lapse).
            send(user, GooseMethod::Delete, &path, "leave the queue", Some(&token), &[], None).await?;
            conclude(user, "gave_up");
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut answer = send(user, GooseMethod::Get, &path, "queue status", Some(&token), &[], None).await?;
        let receipt = user.get_session_data::<Buyer>().and_then(|b| b.receipt.clone());
        if answer.status == 404
            && let Some(receipt) = receipt
        {
            // Not found: the room may have lost its state. Show the receipt once, as the web app does.
            let shown = [("x-queue-receipt", receipt.as_str())];
            answer =
                send(user, GooseMethod::Get, &path, "queue status with receipt", Some(&token), &shown, None).await?;
            if let Some(buyer) = user.get_session_data_mut::<Buyer>() {
                buyer.receipt = None;
            }
        }
        match answer.status {
            200 => {
                if let Some(buyer) = user.get_session_data_mut::<Buyer>() {
                    buyer.admission = answer.body["admission_token"].as_str().map(str::to_owned);
                }
            }
            202 => {
                if let Some(buyer) = user.get_session_data_mut::<Buyer>() {
                    buyer.receipt = answer.body["receipt"].as_str().map(str::to_owned).or(buyer.receipt.take());
                    buyer.promise(&answer.body);
                }
            }
            // A dependency down or a replica gone (503, no answer): wait and ask again.
            0 | 502..=504 => {}
            // The sale closed, the place was lost, or the room refuses: this buyer is done.
            _ => conclude(user, "failed"),
        }
    }
    if let Some(buyer) = user.get_session_data_mut::<Buyer>() {
        buyer.waited = buyer.joined.map_or(0.0, |t| t.elapsed().as_secs_f64());
    }
    Ok(())
}

async fn browse(user: &mut GooseUser) -> TransactionResult {
    let event = &config().event;
    send(user, GooseMethod::Get, "/api/events", "events list", None, &[], None).await?;
    send(user, GooseMethod::Get, &format!("/api/events/{event}"), "event detail", None, &[], None).await?;
    if user.get_session_data::<Buyer>().is_none() {
        // Browsers only: a pause between pages.
        let pause = rand::thread_rng().gen_range(500..2000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    Ok(())
}

async fn hold(user: &mut GooseUser) -> TransactionResult {
    let event = config().event.clone();
    let Some(buyer) = user.get_session_data::<Buyer>() else { return Ok(()) };
    let (Some(admission), None) = (buyer.admission.clone(), buyer.outcome) else { return Ok(()) };
    let token = buyer.token.clone();
    for attempt in 0..4 {
        let map =
            send(user, GooseMethod::Get, &format!("/api/events/{event}/seats"), "seat map", None, &[], None).await?;
        if map.status != 200 {
            continue;
        }
        let free: Vec<&str> = map.body["seats"]
            .as_array()
            .map(|seats| seats.iter().filter(|s| s["status"] == "available").filter_map(|s| s["id"].as_str()).collect())
            .unwrap_or_default();
        if free.is_empty() {
            conclude(user, "sold_out");
            return Ok(());
        }
        // Two seats side by side where possible; buyers pick among the first free ones, so they
        // contend for the best seats as real buyers do.
        let pick = rand::random::<usize>() % free.len().min(200);
        let seats: Vec<&str> = free[pick..free.len().min(pick + 2)].to_vec();
        let name = if attempt == 0 { "hold" } else { "hold (retry after a lost seat)" };
        let mut answer = send(
            user,
            GooseMethod::Post,
            &format!("/api/events/{event}/holds"),
            name,
            Some(&token),
            &[("x-admission-token", &admission)],
            Some(&json!({"seat_ids": seats})),
        )
        .await?;
        match answer.status {
            201 => {
                if let Some(buyer) = user.get_session_data_mut::<Buyer>() {
                    buyer.reservation = answer.body["reservation"]["id"].as_str().map(str::to_owned);
                }
                return Ok(());
            }
            // Someone else got a seat first: expected in an on-sale, not an error.
            409 => user.set_success(&mut answer.metric)?,
            // A dependency down or a replica gone: a moment, then again.
            0 | 502..=504 => tokio::time::sleep(Duration::from_millis(500)).await,
            _ => {}
        }
    }
    conclude(user, "failed");
    Ok(())
}

async fn pay(user: &mut GooseUser) -> TransactionResult {
    let Some(buyer) = user.get_session_data::<Buyer>() else { return Ok(()) };
    let Some(reservation) = buyer.reservation.clone() else { return Ok(()) };
    let token = buyer.token.clone();
    let roll: f64 = rand::random();
    if roll < 0.08 {
        // Changes their mind: gives the seats back (the seats and the admission free at once).
        let path = format!("/api/reservations/{reservation}/cancel");
        send(user, GooseMethod::Post, &path, "abandon the hold", Some(&token), &[], None).await?;
        conclude(user, "abandoned");
        return Ok(());
    }
    let virtual_account = roll < 0.13;
    let body = json!({"reservation_id": reservation});
    let order =
        send(user, GooseMethod::Post, "/api/payments/checkout", "checkout", Some(&token), &[], Some(&body)).await?;
    let (201, Some(window)) = (order.status, order.body["checkout_url"].as_str()) else {
        conclude(user, "failed");
        return Ok(());
    };
    // The sandbox's payment window: the buyer chooses, the window sends them back to our site
    // with the payment's key (followed, so the final URL carries it).
    let outcome = if virtual_account { "virtual_account" } else { "approve" };
    let mut builder = user.get_request_builder(&GooseMethod::Post, window)?;
    builder = builder.form(&[("outcome", outcome)]);
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(window)
        .name("payment window")
        .set_request_builder(builder)
        .build();
    let back = user.request(request).await?.response.ok().map(|r| r.url().clone());
    let param = |name: &str| back.as_ref()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (Some(key), Some(order_id), Some(amount)) = (param("paymentKey"), param("orderId"), param("amount")) else {
        conclude(user, "failed");
        return Ok(());
    };
    let confirm = json!({"payment_key": key, "order_id": order_id, "amount": amount.parse::<i64>().unwrap_or(0)});
    let confirmed =
        send(user, GooseMethod::Post, "/api/payments/confirm", "confirm", Some(&token), &[], Some(&confirm)).await?;
    conclude(
        user,
        match (confirmed.status, virtual_account) {
            (200, false) => "paid",
            (200, true) => "virtual",
            _ => "failed",
        },
    );
    if virtual_account && confirmed.status == 200 {
        // The buyer transfers the money: the sandbox's deposit sends Toss's webhook.
        let deposit = format!("{}/sandbox/virtual-accounts/{order_id}/deposit", config().sandbox);
        send(user, GooseMethod::Post, &deposit, "virtual account deposit (sandbox)", None, &[], None).await?;
    }
    Ok(())
}

async fn finish(user: &mut GooseUser) -> TransactionResult {
    let Some(buyer) = user.get_session_data::<Buyer>() else { return Ok(()) };
    let (token, reservation, outcome) = (buyer.token.clone(), buyer.reservation.clone(), buyer.outcome);
    if outcome == Some("paid") && rand::random::<f64>() < 0.05 {
        let path = format!("/api/reservations/{}/cancel", reservation.unwrap_or_default());
        let refund = send(user, GooseMethod::Post, &path, "refund", Some(&token), &[], None).await?;
        if refund.status == 200 {
            conclude(user, "refunded");
        }
    }
    if let Some(buyer) = user.get_session_data::<Buyer>() {
        record(buyer);
    }
    user.set_session_data(Buyer::default());
    Ok(())
}
