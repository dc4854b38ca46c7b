//! The independent sale checker (`tools/sale-check`) against a real sale: buyers queue in a
//! waiting room, hold seats concurrently (two race for one seat), pay through the Toss sandbox,
//! one refunds in part and one cancels in full, and the worker and stats role catch up. Every
//! invariant then holds; after that, one violation at a time is planted straight into the
//! database, Redis or the sandbox, and the checker must name exactly that invariant.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_sale_check::{AdminAuth, ApiConfig, Config, Invariant, Outcome, RedisConfig, Report, Scope, TossConfig};
use tiketi_shared::token::UserRole;
use tiketi_toss_sandbox::{LOCAL_SECRET_KEY, Sandbox};
use uuid::Uuid;

use crate::common::{TestApp, read, spawn_with_toss, wait_until};

const PRICE: i64 = 50_000;
const MAX_ACTIVE: i64 = 4;

/// A buyer admitted through the waiting room: their token and admission token.
struct Admitted {
    token: String,
    admission: String,
}

async fn hold(app: &TestApp, buyer: &Admitted, event: &Value, seats: &[String]) -> (StatusCode, Value) {
    let url = app.url(&format!("/api/events/{}/holds", event["id"].as_str().unwrap()));
    let req = app.http.post(url).bearer_auth(&buyer.token).header("x-admission-token", &buyer.admission);
    read(req.json(&json!({"seat_ids": seats})).send().await.unwrap()).await
}

/// Checkout, the sandbox's window (card), confirm: answers the order id.
async fn pay(app: &TestApp, token: &str, reservation: &Value) -> String {
    let body = json!({"reservation_id": reservation["id"]});
    let (status, order) = app.send(Method::POST, "/api/payments/checkout", Some(token), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let res =
        app.http.post(order["checkout_url"].as_str().unwrap()).form(&[("outcome", "approve")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap();
    let body = json!({"payment_key": param("paymentKey"), "order_id": param("orderId"),
        "amount": param("amount").parse::<i64>().unwrap()});
    let (status, paid) = app.send(Method::POST, "/api/payments/confirm", Some(token), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    param("orderId")
}

/// What the sale left to look at.
struct Sale {
    event_id: Uuid,
    /// Two confirmed reservations and a seat of the first.
    confirmed: (Uuid, Uuid),
    seat_of_first: Uuid,
    /// The order of the reservation cancelled with a full refund.
    refunded_order: Uuid,
}

async fn sale(app: &TestApp) -> Sale {
    let room = json!({"waiting_room": {"enabled": true, "max_active": MAX_ACTIVE, "admit_per_minute": 600}});
    let event = app.on_sale_event(&[("Floor", 2, 5, PRICE)], room).await;
    let event_id: Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let seats = app.seat_ids(&event).await;
    let queue = format!("/api/events/{event_id}/queue");

    // Five buyers queue; one admission step lets max_active of them in.
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let token = app.token_for(Uuid::now_v7(), UserRole::User).await;
        let (status, body) = app.send(Method::POST, &queue, Some(&token), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        tokens.push(token);
    }
    let admitted = tiketi_ticket::queue::admission::step(&app.ticket().await).await.unwrap();
    assert_eq!(admitted, MAX_ACTIVE as usize);
    let mut buyers = Vec::new();
    for token in tokens.into_iter().take(MAX_ACTIVE as usize) {
        let (_, body) = app.send(Method::GET, &queue, Some(&token), None).await;
        let admission = body["admission_token"].as_str().expect("admitted").to_owned();
        buyers.push(Admitted { token, admission });
    }

    // Concurrent holds; the first two race for seat 1.
    let wanted = [&seats[0..2], &seats[1..3], &seats[3..4], &seats[4..5]];
    let held = join_all(buyers.iter().zip(wanted).map(|(buyer, seats)| hold(app, buyer, &event, seats))).await;
    let won: Vec<bool> = held.iter().map(|(status, _)| *status == StatusCode::CREATED).collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 3, "exactly one of the racers gets seat 1: {held:?}");
    assert!(held.iter().all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{held:?}");
    let loser = if won[0] { 1 } else { 0 };
    let (status, retry) = hold(app, &buyers[loser], &event, &seats[6..7]).await;
    assert_eq!(status, StatusCode::CREATED, "{retry}");
    let mut reservations: Vec<Value> = held.into_iter().map(|(_, body)| body["reservation"].clone()).collect();
    reservations[loser] = retry["reservation"].clone();

    // Three pay at once; the fourth keeps an unpaid hold.
    let orders = join_all((0..3).map(|i| pay(app, &buyers[i].token, &reservations[i]))).await;
    // The first racer's order is refunded in part; the third buyer cancels in full.
    let path = format!("/api/payments/{}/cancel", orders[0]);
    let body = json!({"reason": "seat view", "amount": 10_000});
    let (status, answer) = app.send(Method::POST, &path, Some(&buyers[0].token), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let path = format!("/api/reservations/{}/cancel", reservations[2]["id"].as_str().unwrap());
    let (status, answer) = app.send(Method::POST, &path, Some(&buyers[2].token), None).await;
    assert_eq!((status, answer["reservation"]["status"].as_str()), (StatusCode::OK, Some("refunded")), "{answer}");

    let id = |r: &Value| r["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    Sale {
        event_id,
        confirmed: (id(&reservations[0]), id(&reservations[1])),
        seat_of_first: reservations[0]["seats"][0]["id"].as_str().unwrap().parse().unwrap(),
        refunded_order: orders[2].parse().unwrap(),
    }
}

/// Waits until the relay published every event, stats and the worker recorded them, and every
/// webhook the sandbox sent was delivered and applied.
async fn caught_up(app: &TestApp, sandbox: &Sandbox) {
    wait_until("the worker and stats to record every event", 60, || async {
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT id, kind, published_at FROM ticket.outbox
                                   UNION ALL SELECT id, kind, published_at FROM payment.outbox) o
             WHERE o.published_at IS NULL
                OR NOT EXISTS (SELECT 1 FROM stats.applied_events a WHERE a.id = o.id)
                OR (o.kind = 'reservation.held'
                    AND NOT EXISTS (SELECT 1 FROM worker.consumed_events c WHERE c.event_id = o.id))",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        behind == 0
    })
    .await;
    wait_until("every webhook to be delivered and applied", 60, || async {
        let (_, sent) = read(app.http.get(format!("{}/sandbox/webhooks", sandbox.url())).send().await.unwrap()).await;
        let sent = sent.as_array().unwrap().clone();
        let ids: Vec<String> = sent.iter().map(|d| d["transmission_id"].as_str().unwrap().to_owned()).collect();
        let applied: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payment.webhook_inbox WHERE id = ANY($1) AND applied_at IS NOT NULL",
        )
        .bind(&ids)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM payment.webhook_inbox WHERE applied_at IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        !sent.is_empty() && sent.iter().all(|d| d["delivered"] == true) && applied == ids.len() as i64 && pending == 0
    })
    .await;
}

fn config(app: &TestApp, sandbox: &Sandbox, scope: Scope) -> Config {
    let mut config = Config::new(app.pool.connect_options().as_ref().clone(), scope);
    config.redis = Some(RedisConfig {
        url: app.settings.common.redis_url.expose_secret().to_owned(),
        key_prefix: app.settings.common.redis_key_prefix.clone(),
    });
    config.toss = Some(TossConfig { url: sandbox.url(), secret_key: LOCAL_SECRET_KEY.to_owned() });
    config
}

/// Checks, and asserts that exactly `violated` is violated (none: everything holds).
async fn expect(config: &Config, violated: &[Invariant]) -> Report {
    let report = tiketi_sale_check::check(config).await;
    assert_eq!(report.violated(), violated, "{report}");
    assert!(report.errors().is_empty() && report.not_checked().is_empty(), "{report}");
    report
}

/// The offences listed for `invariant`.
fn offences(report: &Report, invariant: Invariant) -> Vec<String> {
    match &report.finding(invariant).unwrap().outcome {
        Outcome::Violated(offences) => offences.shown.clone(),
        other => panic!("{invariant} is {other:?}"),
    }
}

async fn toss(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", sandbox.url()));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let (status, answer) = read(req.send().await.unwrap()).await;
    assert!(status.is_success(), "{path}: {answer}");
}

async fn run(pool: &PgPool, sql: &str, binds: &[Uuid]) {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = query.bind(bind);
    }
    assert_eq!(query.execute(pool).await.unwrap().rows_affected(), 1, "{sql}");
}

#[sqlx::test(migrations = false)]
async fn a_clean_sale_holds_every_invariant_and_each_planted_violation_is_named(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[("TIKETI_STATS_RECEIVE_WAIT_SECS", "1")]).await;
    let sale = sale(&app).await;
    caught_up(&app, &sandbox).await;
    let event = sale.event_id;

    // The clean sale, with the public API compared too, for the event and for everything.
    let mut with_api = config(&app, &sandbox, Scope::Event(event));
    with_api.api = Some(ApiConfig { base_url: app.base.clone(), admin: AdminAuth::Token(app.admin().await) });
    let report = expect(&with_api, &[]).await;
    assert!(report.summary().ends_with("all 7 invariants hold"), "{report}");
    assert!(report.to_string().contains("public API: "), "{report}");
    let mut everything = with_api.clone();
    everything.scope = Scope::All;
    expect(&everything, &[]).await;

    // A stats total off by one: the projection and the dashboard both disagree with the truth.
    let order: Uuid = sqlx::query_scalar("SELECT id FROM payment.orders WHERE status = 'paid' LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    run(&app.pool, "UPDATE stats.orders SET amount = amount + 1 WHERE id = $1", &[order]).await;
    let report = expect(&with_api, &[Invariant::Stats]).await;
    let found = offences(&report, Invariant::Stats).join("\n");
    assert!(found.contains("gross: the stats projections say") && found.contains("API's overview gross"), "{found}");
    run(&app.pool, "UPDATE stats.orders SET amount = amount - 1 WHERE id = $1", &[order]).await;

    // The rest is planted with the server stopped, so no background task races a plant.
    let pool = app.pool.clone();
    let config = config(&app, &sandbox, Scope::Event(event));
    let active_key = format!("{}{{ev:{event}}}:active", app.settings.common.redis_key_prefix);
    let redis_url = app.settings.common.redis_url.expose_secret().to_owned();
    app.stop().await;
    expect(&config, &[]).await;

    // A sold seat pointing at a second confirmed reservation.
    let (first, second) = sale.confirmed;
    run(&pool, "UPDATE ticket.seats SET reservation_id = $2 WHERE id = $1", &[sale.seat_of_first, second]).await;
    let report = expect(&config, &[Invariant::Seats]).await;
    assert!(offences(&report, Invariant::Seats).iter().any(|o| o.contains(&sale.seat_of_first.to_string())));
    run(&pool, "UPDATE ticket.seats SET reservation_id = $2 WHERE id = $1", &[sale.seat_of_first, first]).await;

    // A second capture at Toss for the order whose reservation was refunded.
    let key: String = sqlx::query_scalar("SELECT payment_key FROM payment.orders WHERE id = $1")
        .bind(sale.refunded_order)
        .fetch_one(&pool)
        .await
        .unwrap();
    let plant = json!({"orderId": sale.refunded_order, "paymentKey": key, "amount": PRICE, "status": "DONE"});
    toss(&sandbox, Method::POST, "/sandbox/transactions", Some(plant)).await;
    let report = expect(&config, &[Invariant::TossCaptures]).await;
    assert!(offences(&report, Invariant::TossCaptures)[0].contains("is refunded"), "{report}");
    toss(&sandbox, Method::DELETE, "/sandbox/transactions", None).await;

    // A payment captured at Toss for an order the payment role never made.
    let plant = json!({"orderId": "not-ours-1", "paymentKey": "tplanted-unknown", "amount": 12_000, "status": "DONE"});
    toss(&sandbox, Method::POST, "/sandbox/transactions", Some(plant)).await;
    let report = expect(&config, &[Invariant::PaidOrders]).await;
    assert!(offences(&report, Invariant::PaidOrders)[0].contains("not-ours-1"), "{report}");
    toss(&sandbox, Method::DELETE, "/sandbox/transactions", None).await;

    // More live admissions than max_active; then a sampled count over it.
    let mut redis = redis::Client::open(redis_url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let until = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let intruders: Vec<String> = (0..MAX_ACTIVE).map(|i| format!("planted-{i}")).collect();
    for intruder in &intruders {
        let _: i64 =
            redis::cmd("ZADD").arg(&active_key).arg(until).arg(intruder).query_async(&mut redis).await.unwrap();
    }
    expect(&config, &[Invariant::Admissions]).await;
    let _: i64 = redis::cmd("ZREM").arg(&active_key).arg(&intruders).query_async(&mut redis).await.unwrap();
    let samples = std::env::temp_dir().join(format!("sale-check-samples-{}", Uuid::now_v7()));
    std::fs::write(&samples, format!("# admitted\n1\n{MAX_ACTIVE}\n")).unwrap();
    let mut sampled = config.clone();
    sampled.samples = Some(samples.clone());
    expect(&sampled, &[]).await;
    std::fs::write(&samples, format!("1\n{event} {}\n", MAX_ACTIVE + 1)).unwrap();
    let report = expect(&sampled, &[Invariant::Admissions]).await;
    assert!(offences(&report, Invariant::Admissions)[0].starts_with("samples line 2"), "{report}");
    std::fs::remove_file(&samples).unwrap();

    // One webhook delivery stored again under another key and applied again.
    let copied = sqlx::query(
        "INSERT INTO payment.webhook_inbox (id, kind, order_id, body, created_at, received_at, applied_at, attempts)
         SELECT 'planted-copy', kind, order_id, body, created_at, received_at, applied_at, attempts
         FROM payment.webhook_inbox WHERE applied_at IS NOT NULL AND order_id = $1::text LIMIT 1",
    )
    .bind(sale.refunded_order)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(copied.rows_affected(), 1);
    let report = expect(&config, &[Invariant::Webhooks]).await;
    assert!(offences(&report, Invariant::Webhooks)[0].contains("planted-copy"), "{report}");
    sqlx::query("DELETE FROM payment.webhook_inbox WHERE id = 'planted-copy'").execute(&pool).await.unwrap();

    // An outbox event never published; then one published that no consumer recorded.
    let planted = Uuid::now_v7();
    let payload = json!({"reservation_id": first, "event_id": event, "seat_ids": [], "amount": PRICE,
                         "user_id": Uuid::now_v7(), "expires_at": chrono::Utc::now()});
    sqlx::query(
        "INSERT INTO ticket.outbox (id, kind, aggregate_id, version, payload, created_at)
         VALUES ($1, 'reservation.held', $2, 1, $3, now())",
    )
    .bind(planted)
    .bind(first)
    .bind(&payload)
    .execute(&pool)
    .await
    .unwrap();
    let report = expect(&config, &[Invariant::Outbox]).await;
    assert_eq!(offences(&report, Invariant::Outbox).len(), 1, "{report}");
    assert!(offences(&report, Invariant::Outbox)[0].contains("never published"), "{report}");
    run(&pool, "UPDATE ticket.outbox SET published_at = now() WHERE id = $1", &[planted]).await;
    let report = expect(&config, &[Invariant::Outbox]).await;
    let found = offences(&report, Invariant::Outbox).join("\n");
    assert!(found.contains("never reached stats") && found.contains("never reached the worker"), "{found}");
    run(&pool, "DELETE FROM ticket.outbox WHERE id = $1", &[planted]).await;

    // An event id that names nothing fails every invariant rather than holding over nothing;
    // "all events" leaves out the demo events `tiketi seed` makes.
    let unknown = tiketi_sale_check::check(&Config { scope: Scope::Event(Uuid::now_v7()), ..config.clone() }).await;
    assert_eq!(unknown.errors().len(), 7, "{unknown}");
    assert!(unknown.failed() && unknown.summary().contains("FAILED"), "{unknown}");
    run(&pool, "UPDATE ticket.events SET seed_key = 'planted-seed' WHERE id = $1", &[event]).await;
    let all = tiketi_sale_check::check(&Config { scope: Scope::All, ..config.clone() }).await;
    assert!(all.notes.iter().any(|n| n.starts_with("1 seeded demo event left out")), "{all}");
    assert_eq!(
        all.finding(Invariant::Seats).unwrap().notes[0],
        "0 seats held or sold; 0 seat links of 0 reservations pending or confirmed"
    );
    run(&pool, "UPDATE ticket.events SET seed_key = NULL WHERE id = $1", &[event]).await;

    // Every plant undone: everything holds again, for the event and for all events.
    expect(&config, &[]).await;
    expect(&Config { scope: Scope::All, ..config }, &[]).await;
}
