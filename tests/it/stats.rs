//! The stats role end to end: a scripted sale through the public API (holds, an expiry, a
//! cancelled hold, card payments, a partial and a full refund, an event cancellation) flows
//! through the outbox, the topic and the stats queue; every projection then equals what the
//! ticket and payment tables say, duplicates and any order of the events change nothing, a
//! rebuild equals the incremental result, and the finance report's files read back cell by cell,
//! reconciled against the Toss sandbox with a planted difference.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use sqlx::PgPool;
use tiketi_shared::events::Envelope;
use tiketi_shared::token::UserRole;
use tiketi_stats::project::{self, Applied, Replay};
use tiketi_toss_sandbox::Sandbox;

use crate::common::{TestApp, read, spawn_with_toss, wait_until};

struct Buyer {
    id: uuid::Uuid,
}

impl Buyer {
    fn new() -> Self {
        Self { id: uuid::Uuid::now_v7() }
    }

    async fn token(&self, app: &TestApp) -> String {
        app.token_for(self.id, UserRole::User).await
    }
}

async fn hold(app: &TestApp, buyer: &Buyer, event: &Value, seats: &[String]) -> Value {
    let (status, held) = app.hold(&buyer.token(app).await, event, seats).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    held["reservation"].clone()
}

/// Checkout, the sandbox window (card), confirm: answers the order id.
async fn pay(app: &TestApp, buyer: &Buyer, reservation: &Value) -> String {
    let token = buyer.token(app).await;
    let body = json!({"reservation_id": reservation["id"]});
    let (status, order) = app.send(Method::POST, "/api/payments/checkout", Some(&token), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let res =
        app.http.post(order["checkout_url"].as_str().unwrap()).form(&[("outcome", "approve")]).send().await.unwrap();
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap();
    let body = json!({"payment_key": param("paymentKey"), "order_id": param("orderId"),
        "amount": param("amount").parse::<i64>().unwrap()});
    let (status, paid) = app.send(Method::POST, "/api/payments/confirm", Some(&token), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    param("orderId")
}

struct Sale {
    event: Value,
    cancelled_event: Value,
    /// The order whose Toss record the reconciliation test changes.
    first_order: String,
    started: DateTime<Utc>,
}

/// The scripted sale, over two hours of the app's clock.
async fn scripted_sale(app: &TestApp) -> Sale {
    let started = app.clock.now();
    let event = app.on_sale_event(&[("Floor", 2, 5, 50_000), ("Balcony", 1, 5, 30_000)], json!({})).await;
    let cancelled_event = app.on_sale_event(&[("Hall", 1, 4, 20_000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let other = app.seat_ids(&cancelled_event).await;

    // Hour 1: two seats paid by card; one seat paid then partly refunded.
    let b1 = Buyer::new();
    let r1 = hold(app, &b1, &event, &seats[0..2]).await;
    let first_order = pay(app, &b1, &r1).await;
    let b2 = Buyer::new();
    let r2 = hold(app, &b2, &event, &seats[2..3]).await;
    let o2 = pay(app, &b2, &r2).await;
    let body = json!({"reason": "seat view", "amount": 10_000});
    let (status, refunded) =
        app.send(Method::POST, &format!("/api/payments/{o2}/cancel"), Some(&b2.token(app).await), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    // A hold that expires, and one the buyer gives up.
    let b4 = Buyer::new();
    hold(app, &b4, &event, &seats[3..4]).await;
    let b5 = Buyer::new();
    let r5 = hold(app, &b5, &event, &seats[4..5]).await;
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/reservations/{}/cancel", r5["id"].as_str().unwrap()),
            Some(&b5.token(app).await),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Hour 2: the expired hold is swept; its seat sells again; a paid reservation is refunded in
    // full; the second event is cancelled with one paid and one pending reservation.
    app.clock.advance(Duration::minutes(70));
    tiketi_ticket::sweeper::sweep(&app.ticket().await).await.unwrap();
    let b6 = Buyer::new();
    let r6 = hold(app, &b6, &event, &seats[3..5]).await;
    pay(app, &b6, &r6).await;
    let b3 = Buyer::new();
    let r3 = hold(app, &b3, &event, &seats[10..12]).await;
    let o3 = pay(app, &b3, &r3).await;
    let body = json!({"reason": "cannot come"});
    let (status, body) =
        app.send(Method::POST, &format!("/api/payments/{o3}/cancel"), Some(&b3.token(app).await), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b7 = Buyer::new();
    let r7 = hold(app, &b7, &cancelled_event, &other[0..1]).await;
    pay(app, &b7, &r7).await;
    let b8 = Buyer::new();
    hold(app, &b8, &cancelled_event, &other[1..3]).await;
    let admin = app.admin().await;
    let path = format!("/api/admin/events/{}/cancel", cancelled_event["id"].as_str().unwrap());
    let (status, _) = app.send(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    tiketi_payment::refunds::refund_cancelled_events(&app.payment().await).await.unwrap();
    Sale { event, cancelled_event, first_order, started }
}

/// Waits until the stats role has applied every event both outboxes hold.
async fn caught_up(app: &TestApp) {
    wait_until("the stats role to apply every event", 60, || async {
        let missing: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT id FROM ticket.outbox UNION ALL SELECT id FROM payment.outbox) o
             WHERE NOT EXISTS (SELECT 1 FROM stats.applied_events a WHERE a.id = o.id)",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        missing == 0
    })
    .await;
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.send(Method::GET, path, Some(&app.admin().await), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Every projection table, as sorted JSON: equal snapshots = equal projections.
async fn snapshot(pool: &PgPool) -> BTreeMap<&'static str, Value> {
    let mut all = BTreeMap::new();
    for table in [
        "events",
        "sections",
        "seats",
        "reservations",
        "reservation_seats",
        "orders",
        "order_changes",
        "refunds",
        "waiting_rooms",
    ] {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM stats.{table} t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        all.insert(table, rows);
    }
    all
}

#[sqlx::test(migrations = false)]
async fn every_projection_equals_the_ground_truth_and_survives_duplicates_reordering_and_rebuilds(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[("TIKETI_STATS_RECEIVE_WAIT_SECS", "1")]).await;
    let sale = scripted_sale(&app).await;
    caught_up(&app).await;
    let event = sale.event["id"].as_str().unwrap();
    let event_id: uuid::Uuid = event.parse().unwrap();

    // Sales per hour (every event, then one): captures by approval hour with the tickets of
    // confirmed reservations, refunds by refund hour.
    let truth: Vec<(DateTime<Utc>, i64, i64, i64)> = sqlx::query_as(
        "WITH sold AS (
           SELECT date_trunc('hour', o.approved_at) AS b, sum(o.amount)::bigint AS gross,
             sum((SELECT count(*) FROM ticket.reservation_seats rs JOIN ticket.reservations r ON r.id = rs.reservation_id
                  WHERE r.id = o.reservation_id AND r.status IN ('confirmed', 'refunded')))::bigint AS tickets
           FROM payment.orders o WHERE o.approved_at IS NOT NULL AND ($1::uuid IS NULL OR o.event_id = $1) GROUP BY 1),
         back AS (
           SELECT date_trunc('hour', f.completed_at) AS b, sum(f.amount)::bigint AS refunds
           FROM payment.refunds f JOIN payment.orders o ON o.id = f.order_id
           WHERE f.status = 'done' AND ($1::uuid IS NULL OR o.event_id = $1) GROUP BY 1)
         SELECT b, coalesce(tickets, 0), coalesce(gross, 0), coalesce(refunds, 0)
         FROM sold FULL JOIN back USING (b) ORDER BY b",
    )
    .bind(None::<uuid::Uuid>)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(truth.len() >= 2, "the sale spans two hours: {truth:?}");
    let from = (sale.started - Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (app.clock.now() + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let query = format!("/api/admin/stats/sales?bucket=hour&from={}&to={}", urlencode(&from), urlencode(&to));
    let series = admin_get(&app, &query).await;
    let nonzero: Vec<(DateTime<Utc>, i64, i64, i64)> = series["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["gross"] != 0 || b["refunds"] != 0)
        .map(|b| {
            assert_eq!(b["net"].as_i64().unwrap(), b["gross"].as_i64().unwrap() - b["refunds"].as_i64().unwrap());
            (
                b["bucket_start"].as_str().unwrap().parse().unwrap(),
                b["tickets"].as_i64().unwrap(),
                b["gross"].as_i64().unwrap(),
                b["refunds"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(nonzero, truth);
    let per_day = admin_get(&app, &format!("/api/admin/stats/sales?bucket=day&event_id={event}")).await;
    let gross: i64 = per_day["items"].as_array().unwrap().iter().map(|b| b["gross"].as_i64().unwrap()).sum();
    let truth_gross: i64 = sqlx::query_scalar(
        "SELECT sum(amount)::bigint FROM payment.orders WHERE event_id = $1 AND approved_at IS NOT NULL",
    )
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(gross, truth_gross);

    // The heatmap: every seat's holds, expired holds, sold, and time to sell.
    let heatmap = admin_get(&app, &format!("/api/admin/stats/events/{event}/heatmap")).await;
    let truth: Vec<(uuid::Uuid, String, i64, i64, bool, Option<f64>)> = sqlx::query_as(
        "SELECT s.id, s.label,
           (SELECT count(*) FROM ticket.reservation_seats rs WHERE rs.seat_id = s.id),
           (SELECT count(*) FROM ticket.reservation_seats rs JOIN ticket.reservations r ON r.id = rs.reservation_id
              WHERE rs.seat_id = s.id AND r.status = 'expired'),
           s.status = 'sold',
           (SELECT extract(epoch FROM r.updated_at - e.sale_opens_at)::float8 FROM ticket.reservations r
              WHERE r.id = s.reservation_id AND s.status = 'sold')
         FROM ticket.seats s JOIN ticket.events e ON e.id = s.event_id
         WHERE s.event_id = $1 ORDER BY s.section_id, s.row_label, s.number",
    )
    .bind(event_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let seats = heatmap["seats"].as_array().unwrap();
    assert_eq!(seats.len(), truth.len());
    let by_id: BTreeMap<&str, &Value> = seats.iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
    for (id, label, holds, expired, sold, seconds) in &truth {
        let seat = by_id[id.to_string().as_str()];
        assert_eq!(seat["label"], *label);
        assert_eq!(seat["holds"], *holds, "{seat}");
        assert_eq!(seat["expired_holds"], *expired, "{seat}");
        assert_eq!(seat["sold"], *sold, "{seat}");
        match seconds {
            Some(s) => assert!((seat["seconds_to_sell"].as_f64().unwrap() - s).abs() < 0.001, "{seat} vs {s}"),
            None => assert!(seat["seconds_to_sell"].is_null(), "{seat}"),
        }
    }
    assert!(truth.iter().any(|t| t.3 == 1) && truth.iter().any(|t| t.2 == 2), "an expired seat, sold again later");

    // The funnel.
    let funnel = admin_get(&app, &format!("/api/admin/stats/funnel?event_id={event}")).await;
    let steps: BTreeMap<&str, i64> = funnel["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["count"].as_i64().unwrap()))
        .collect();
    let (held, buyers, paid, expired, cancelled, refunded): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT user_id), count(*) FILTER (WHERE status IN ('confirmed', 'refunded')),
           count(*) FILTER (WHERE status = 'expired'), count(*) FILTER (WHERE status = 'cancelled'),
           count(*) FILTER (WHERE status = 'refunded')
         FROM ticket.reservations WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (checkout, partial): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT reservation_id), count(*) FILTER (WHERE status = 'partially_refunded')
         FROM payment.orders WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let expected = BTreeMap::from([
        ("joined", buyers),
        ("admitted", buyers),
        ("held", held),
        ("checkout", checkout),
        ("paid", paid),
        ("expired", expired),
        ("cancelled", cancelled),
        ("refunded", refunded),
        ("partially_refunded", partial),
    ]);
    assert_eq!(steps, expected);
    assert_eq!((held, paid, expired, cancelled, refunded, partial), (6, 4, 1, 1, 1, 1));

    // Sell-through per section, and the overview.
    let sections = admin_get(&app, &format!("/api/admin/stats/events/{event}/sections")).await;
    for section in sections["sections"].as_array().unwrap() {
        let sold: i64 =
            sqlx::query_scalar("SELECT count(*) FROM ticket.seats WHERE section_id = $1 AND status = 'sold'")
                .bind(section["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(section["sold"], sold, "{section}");
    }
    let overview = admin_get(&app, "/api/admin/stats/overview").await;
    let listed = overview["events"].as_array().unwrap().iter().find(|e| e["event_id"] == event).unwrap().clone();
    let sold: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket.seats WHERE event_id = $1 AND status = 'sold'")
        .bind(event_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((listed["tickets_sold"].as_i64(), listed["seats_total"].as_i64()), (Some(sold), Some(15)));
    assert_eq!(listed["gross"], truth_gross);
    let cancelled = overview["events"].as_array().unwrap().iter().find(|e| e["event_id"] == sale.cancelled_event["id"]);
    assert_eq!(cancelled.unwrap()["cancelled"], true);
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ticket.reservations WHERE status = 'pending' AND expires_at > $1")
            .bind(app.clock.now())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(overview["holds_active"], pending);
    assert!(overview["cache_hit_rate"].is_null() || overview["cache_hit_rate"].as_f64().unwrap() <= 1.0);

    // Duplicates change nothing; a replay in random order, twice, and the rebuild endpoint give
    // exactly the incremental result.
    let incremental = snapshot(&app.pool).await;
    let log: Vec<(uuid::Uuid, String, uuid::Uuid, i64, DateTime<Utc>, Value)> =
        sqlx::query_as("SELECT id, kind, aggregate_id, version, occurred_at, payload FROM stats.applied_events")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(log.len() > 30, "{} events", log.len());
    for (id, kind, aggregate_id, version, occurred_at, payload) in log.iter().cloned() {
        let envelope = Envelope { id, kind, aggregate_id, occurred_at, version, payload };
        assert_eq!(project::consume(&app.pool, &envelope, app.clock.now()).await.unwrap(), Applied::Duplicate);
    }
    assert_eq!(snapshot(&app.pool).await, incremental, "duplicates changed something");
    for _ in 0..2 {
        project::rebuild(&app.pool, Replay::Shuffled).await.unwrap();
        assert_eq!(snapshot(&app.pool).await, incremental, "a shuffled replay differs");
    }
    let (status, rebuilt) = app.send(Method::POST, "/api/admin/stats/rebuild", Some(&app.admin().await), None).await;
    assert_eq!(status, StatusCode::OK, "{rebuilt}");
    assert_eq!(rebuilt["replayed"].as_u64(), Some(log.len() as u64));
    assert_eq!(snapshot(&app.pool).await, incremental);

    // Each event applied alone into an empty copy, in reverse order, also ends equal.
    sqlx::query(
        "TRUNCATE stats.events, stats.sections, stats.seats, stats.reservations, stats.reservation_seats,
        stats.orders, stats.order_changes, stats.refunds, stats.waiting_rooms, stats.applied_events",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let mut reversed = log.clone();
    reversed.sort_by_key(|e| std::cmp::Reverse(e.4));
    for (id, kind, aggregate_id, version, occurred_at, payload) in reversed {
        let envelope = Envelope { id, kind, aggregate_id, occurred_at, version, payload };
        assert_eq!(project::consume(&app.pool, &envelope, app.clock.now()).await.unwrap(), Applied::Applied);
    }
    assert_eq!(snapshot(&app.pool).await, incremental, "reverse delivery differs");

    // And applied sixteen at a time in a random order, as concurrent consumers would (a deadlock
    // between two applies is retried, as the queue would redeliver).
    for _ in 0..3 {
        truncate_all(&app.pool).await;
        let mut shuffled = log.clone();
        use rand::seq::SliceRandom;
        shuffled.shuffle(&mut rand::thread_rng());
        futures::stream::iter(shuffled)
            .map(|(id, kind, aggregate_id, version, occurred_at, payload)| {
                let (pool, now) = (app.pool.clone(), app.clock.now());
                async move {
                    let envelope = Envelope { id, kind, aggregate_id, occurred_at, version, payload };
                    for _ in 0..20 {
                        if project::consume(&pool, &envelope, now).await.is_ok() {
                            return;
                        }
                    }
                    panic!("event {} never applied", envelope.id);
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        assert_eq!(snapshot(&app.pool).await, incremental, "concurrent delivery differs");
    }
}

async fn truncate_all(pool: &PgPool) {
    sqlx::query(
        "TRUNCATE stats.events, stats.sections, stats.seats, stats.reservations, stats.reservation_seats,
         stats.orders, stats.order_changes, stats.refunds, stats.waiting_rooms, stats.applied_events",
    )
    .execute(pool)
    .await
    .unwrap();
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[sqlx::test(migrations = false)]
async fn the_stats_and_reports_endpoints_refuse_buyers_and_bad_ranges(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[]).await;
    let buyer = app.buyer().await;
    let admin = app.admin().await;
    for path in ["/api/admin/stats/overview", "/api/admin/stats/sales", "/api/admin/reports"] {
        let (status, body) = app.send(Method::GET, path, Some(&buyer), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("FORBIDDEN")), "{path}");
        let (status, _) = app.send(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let body = json!({"kind": "settlement", "from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"});
    let (status, _) = app.send(Method::POST, "/api/admin/reports", Some(&buyer), Some(&body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let bad = [
        "/api/admin/stats/sales?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/api/admin/stats/sales?bucket=minute",
        "/api/admin/stats/sales?from=yesterday",
        "/api/admin/stats/sales?bucket=hour&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/api/admin/stats/funnel",
    ];
    for path in bad {
        let (status, body) = app.send(Method::GET, path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["code"], "VALIDATION_FAILED", "{path}");
    }
    let unknown = uuid::Uuid::now_v7();
    for path in
        [format!("/api/admin/stats/events/{unknown}/heatmap"), format!("/api/admin/stats/funnel?event_id={unknown}")]
    {
        let (status, body) = app.send(Method::GET, &path, Some(&admin), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")), "{path}");
    }
    for body in [
        json!({"kind": "settlement", "from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}),
        json!({"kind": "settlement", "from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
        json!({"kind": "taxes", "from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}),
        json!({"kind": "sales", "from": "2026-12-01", "to": "2026-12-02T00:00:00Z"}),
        json!({"kind": "sales", "from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z", "event_id": unknown}),
    ] {
        let (status, answer) = app.send(Method::POST, "/api/admin/reports", Some(&admin), Some(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    let (status, answer) = app.send(Method::GET, &format!("/api/admin/reports/{unknown}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

/// Downloads a report file through its presigned link.
async fn download(app: &TestApp, file: &Value) -> Vec<u8> {
    let res = app.http.get(file["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{file}");
    res.bytes().await.unwrap().to_vec()
}

/// A CSV file's records (after its BOM).
fn csv_records(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "the CSV starts with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

async fn toss_plant(sandbox: &Sandbox, method: Method, path: &str, body: &Value) -> Value {
    let res =
        reqwest::Client::new().request(method, format!("{}{path}", sandbox.url())).json(body).send().await.unwrap();
    let (status, answer) = read(res).await;
    assert!(status.is_success(), "{path}: {answer}");
    answer
}

#[sqlx::test(migrations = false)]
async fn a_settlement_report_reads_back_cell_by_cell_and_reconciles_with_toss(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[("TIKETI_STATS_RECEIVE_WAIT_SECS", "1")]).await;
    let sale = scripted_sale(&app).await;
    caught_up(&app).await;

    // Toss's records differ from ours for two payments: one amount changed, one payment we never saw.
    let first_key: String = sqlx::query_scalar("SELECT payment_key FROM payment.orders WHERE id = $1")
        .bind(sale.first_order.parse::<uuid::Uuid>().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .get(format!("{}/v1/transactions", sandbox.url()))
        .basic_auth(tiketi_toss_sandbox::LOCAL_SECRET_KEY, Some(""))
        .query(&[("startDate", "2000-01-01T00:00:00"), ("endDate", "2100-01-01T00:00:00"), ("limit", "10000")])
        .send()
        .await
        .unwrap();
    let (_, transactions) = read(res).await;
    let approval = transactions.as_array().unwrap().iter().find(|t| t["paymentKey"] == first_key.as_str()).unwrap();
    let key = approval["transactionKey"].as_str().unwrap();
    toss_plant(&sandbox, Method::PATCH, &format!("/sandbox/transactions/{key}"), &json!({"amount": 99_000})).await;
    let at = app.clock.now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).to_rfc3339();
    toss_plant(
        &sandbox,
        Method::POST,
        "/sandbox/transactions",
        &json!({"orderId": "not-ours-1", "paymentKey": "tviva-planted",
        "amount": 12_000, "status": "DONE", "transactionAt": at}),
    )
    .await;

    let admin = app.admin().await;
    let body = json!({"kind": "settlement", "from": sale.started - Duration::hours(1), "to": app.clock.now() + Duration::hours(1)});
    let (status, requested) = app.send(Method::POST, "/api/admin/reports", Some(&admin), Some(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{requested}");
    assert_eq!(requested["report"]["status"], "pending");
    let id = requested["report"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/admin/reports/{id}");
    wait_until("the report to be built", 60, || async {
        app.send(Method::GET, &path, Some(&admin), None).await.1["report"]["status"] != "pending"
    })
    .await;
    let report = app.send(Method::GET, &path, Some(&admin), None).await.1["report"].clone();
    assert_eq!(report["status"], "ready", "{report}");
    let (_, listed) = app.send(Method::GET, "/api/admin/reports", Some(&admin), None).await;
    assert_eq!(listed["items"][0]["id"], id.as_str());

    let files: BTreeMap<String, Value> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["days.csv", "events.csv", "manifest.json", "orders.csv", "reconciliation.csv", "report.xlsx"]);
    let mut bodies = BTreeMap::new();
    for (name, file) in &files {
        let bytes = download(&app, file).await;
        assert_eq!(bytes.len() as i64, file["bytes"].as_i64().unwrap(), "{name}");
        assert_eq!(hex(&sha2::Sha256::digest(&bytes)), file["sha256"], "{name}");
        bodies.insert(name.clone(), bytes);
    }
    let manifest: Value = serde_json::from_slice(&bodies["manifest.json"]).unwrap();
    for listed in manifest["files"].as_array().unwrap() {
        let name = listed["name"].as_str().unwrap();
        assert_eq!(listed["sha256"], files[name]["sha256"], "the manifest's checksum of {name}");
    }

    // Orders: every order with money captured or refunded in the period, totals that add up.
    let truth: Vec<(uuid::Uuid, i64, i64, String)> = sqlx::query_as(
        "SELECT o.id, o.amount, coalesce((SELECT sum(amount) FROM payment.refunds f WHERE f.order_id = o.id
             AND f.status = 'done'), 0)::bigint, o.payment_key
         FROM payment.orders o WHERE o.approved_at IS NOT NULL ORDER BY o.id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let orders = csv_records(&bodies["orders.csv"]);
    let (total, rows) = orders.split_last().unwrap();
    assert_eq!(rows.len(), truth.len());
    let by_id: BTreeMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    for (id, amount, refunded, key) in &truth {
        let row = by_id[id.to_string().as_str()];
        assert_eq!((row[9].parse::<i64>().unwrap(), row[10].parse::<i64>().unwrap()), (*amount, *refunded), "{row:?}");
        assert_eq!(row[11].parse::<i64>().unwrap(), amount - refunded);
        assert_eq!(row[15], *key);
        assert!(DateTime::parse_from_rfc3339(&row[13]).unwrap().to_rfc3339().ends_with("+09:00"), "{}", row[13]);
    }
    let captured: i64 = truth.iter().map(|t| t.1).sum();
    let refunded: i64 = truth.iter().map(|t| t.2).sum();
    assert_eq!(total[0], "합계 (total)");
    assert_eq!((total[9].parse::<i64>().unwrap(), total[10].parse::<i64>().unwrap()), (captured, refunded));
    let events = csv_records(&bodies["events.csv"]);
    let days = csv_records(&bodies["days.csv"]);
    for totals in [&events, &days] {
        let last = totals.last().unwrap();
        let net: i64 = last[last.len() - 1].parse().unwrap();
        assert_eq!(net, captured - refunded, "{totals:?}");
    }
    assert!(events.iter().any(|r| r[1] == "Test Concert"), "Korean and other text intact: {events:?}");

    // Reconciliation: exactly the two planted differences.
    let reconciliation = csv_records(&bodies["reconciliation.csv"]);
    let differences: HashSet<(String, String)> =
        reconciliation[..reconciliation.len() - 1].iter().map(|r| (r[0].clone(), r[2].clone())).collect();
    assert_eq!(
        differences,
        HashSet::from([
            (first_key.clone(), "amount_differs".to_owned()),
            ("tviva-planted".to_owned(), "missing_here".to_owned())
        ]),
        "{reconciliation:?}"
    );

    // The XLSX: a sheet per section, typed cells equal to the CSV's, totals as numbers.
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bodies["report.xlsx"].clone())).unwrap();
    assert_eq!(book.sheet_names(), ["주문 orders", "공연별 events", "일별 days", "대사 reconciliation"]);
    let sheet = book.worksheet_range("주문 orders").unwrap();
    let cells: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(cells.len(), orders.len() + 1, "the header, every order, the totals");
    for (row, record) in cells[1..].iter().zip(&orders) {
        for (i, (cell, text)) in row.iter().zip(record).enumerate() {
            match cell {
                Data::Float(n) => assert_eq!(*n as i64, text.parse::<i64>().unwrap(), "column {i}"),
                Data::String(s) => assert_eq!(s, text, "column {i}"),
                Data::DateTime(d) => {
                    let at = DateTime::parse_from_rfc3339(text).unwrap().naive_local();
                    assert_eq!(d.as_datetime().map(|x| x.and_utc().timestamp()), Some(at.and_utc().timestamp()));
                }
                Data::Empty => assert!(text.is_empty(), "column {i}: {text}"),
                other => panic!("column {i}: unexpected cell {other:?}"),
            }
        }
    }
    assert!(matches!(cells.last().unwrap()[9], Data::Float(n) if n as i64 == captured));
    let mut raw = Vec::new();
    std::io::Cursor::new(&bodies["report.xlsx"]).read_to_end(&mut raw).unwrap();
    assert!(raw.starts_with(b"PK"), "an XLSX is a zip");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[sqlx::test(migrations = false)]
async fn the_funnel_and_overview_count_the_waiting_room_from_its_events(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[("TIKETI_STATS_RECEIVE_WAIT_SECS", "1")]).await;
    let room = json!({"waiting_room": {"enabled": true, "max_active": 2, "admit_per_minute": 100}});
    let event = app.on_sale_event(&[("Floor", 1, 10, 40_000)], room).await;
    let id = event["id"].as_str().unwrap();
    let buyers: Vec<Buyer> = (0..5).map(|_| Buyer::new()).collect();
    for buyer in &buyers {
        let token = buyer.token(&app).await;
        let (status, body) = app.send(Method::POST, &format!("/api/events/{id}/queue"), Some(&token), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let ticket = app.ticket().await;
    assert_eq!(tiketi_ticket::queue::admission::step(&ticket).await.unwrap(), 2);
    // What Redis says, as the truth.
    let tally = ticket.waiting_room.tally(id.parse().unwrap()).await.unwrap();
    assert_eq!((tally.joined, tally.admitted, tally.waiting, tally.active), (5, 2, 3, 2));

    let admin = app.admin().await;
    wait_until("the room's counts to reach the stats role", 30, || async {
        let (_, funnel) =
            app.send(Method::GET, &format!("/api/admin/stats/funnel?event_id={id}"), Some(&admin), None).await;
        funnel["waiting_room"] == true
    })
    .await;
    let funnel = admin_get(&app, &format!("/api/admin/stats/funnel?event_id={id}")).await;
    let steps = funnel["steps"].as_array().unwrap();
    assert_eq!((steps[0]["step"].as_str(), steps[0]["count"].as_i64()), (Some("joined"), Some(5)));
    assert_eq!(
        (steps[1]["step"].as_str(), steps[1]["count"].as_i64(), steps[1]["ratio"].as_f64()),
        (Some("admitted"), Some(2), Some(0.4))
    );
    let overview = admin_get(&app, "/api/admin/stats/overview").await;
    assert_eq!((overview["waiting"].as_i64(), overview["admitted"].as_i64()), (Some(3), Some(2)));

    // A step that changes nothing tells nothing new; the next admission is told.
    assert_eq!(tiketi_ticket::queue::admission::step(&ticket).await.unwrap(), 0);
    let told: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket.outbox WHERE kind = 'waiting_room.counted'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(told, 1);

    // Seat-map reads count towards the cache hit rate once flushed.
    for _ in 0..3 {
        app.seat_ids(&event).await;
    }
    tiketi_shared::cache_stats::flush(&ticket.redis, app.clock.now()).await;
    let overview = admin_get(&app, "/api/admin/stats/overview").await;
    let rate = overview["cache_hit_rate"].as_f64().expect("reads were counted");
    assert!((0.0..=1.0).contains(&rate), "{rate}");
}

#[sqlx::test(migrations = false)]
async fn the_daily_settlement_covers_the_previous_korean_day_once(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[]).await;
    let overrides = tiketi::app::Overrides { pool: Some(app.pool.clone()), clock: app.clock.clone() };
    let resources = tiketi::app::Resources::connect(&app.settings, overrides).await.unwrap();
    let located = resources.locate_aws(false).await.unwrap();
    let verifier = std::sync::Arc::new(tiketi_shared::token::TokenVerifier::new(
        app.settings.common.jwks_url.clone(),
        app.clock.clone(),
    ));
    let stats = tiketi::app::stats_state(&app.settings, &resources, verifier, located);
    let builder = tiketi::app::report_builder(&app.settings, &stats);
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);

    // 00:10 in Seoul: yesterday is not settled yet (late events may still arrive).
    assert_eq!(builder.schedule_daily(at("2026-12-04T00:10:00+09:00")).await.unwrap(), None);
    let made = builder.schedule_daily(at("2026-12-04T00:31:00+09:00")).await.unwrap().expect("a report");
    assert_eq!(builder.schedule_daily(at("2026-12-04T09:00:00+09:00")).await.unwrap(), None, "once per day");
    let (kind, status, from, to): (String, String, DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("SELECT kind, status, period_from, period_to FROM stats.reports WHERE id = $1")
            .bind(made)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), status.as_str()), ("settlement", "ready"));
    assert_eq!((from, to), (at("2026-12-03T00:00:00+09:00"), at("2026-12-04T00:00:00+09:00")));
}

#[sqlx::test(migrations = false)]
async fn dashboards_polling_share_one_overview_per_interval(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[("TIKETI_STATS_REUSE_MS", "60000")]).await;
    let first = admin_get(&app, "/api/admin/stats/overview").await;
    app.clock.advance(Duration::seconds(5));
    let again = admin_get(&app, "/api/admin/stats/overview").await;
    assert_eq!(first["as_of"], again["as_of"], "reused within the interval");
    assert_eq!(first, again);
}
