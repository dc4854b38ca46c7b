//! The seat map under a live sale, against the real server, PostgreSQL and Redis: snapshots that
//! may be older than the current version (by up to the max age) plus the coalesced `seats.changed`
//! windows after their version add up to exactly what PostgreSQL holds — under concurrent holds,
//! confirms, cancels and expiries, for readers that join at any moment. Snapshots are reused while
//! seats change; a missed delta or a Redis restart is repaired by the next snapshot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_shared::internal::{InternalClient, ServiceTokenSigner};
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_shared::token::UserRole;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{TestApp, free_port, spawn_with, start_redis, wait_until};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A seat-map client as the frontend is one: subscribe, then snapshot, then windows after it.
struct Reader {
    app_base: String,
    http: reqwest::Client,
    event: String,
    ws: Socket,
    version: i64,
    seats: HashMap<String, String>,
    reloads: u32,
}

impl Reader {
    async fn join(app: &TestApp, event: &str) -> Reader {
        let url = format!("{}/ws?token={}", app.base.replace("http://", "ws://"), app.buyer().await);
        let mut ws = tokio_tungstenite::connect_async(url).await.expect("websocket handshake").0;
        let subscribe = json!({"type": "subscribe", "channel": format!("seats:{event}")});
        ws.send(Message::Text(subscribe.to_string().into())).await.unwrap();
        let mut reader = Reader {
            app_base: app.base.clone(),
            http: app.http.clone(),
            event: event.to_owned(),
            ws,
            version: 0,
            seats: HashMap::new(),
            reloads: 0,
        };
        let subscribed = reader.next().await;
        assert_eq!(subscribed["type"], "subscribed");
        // Changes before the subscription are not pushed: the map must be at least that version.
        reader.reload(subscribed["version"].as_i64().expect("a seat channel tells its version")).await;
        reader.reloads = 0;
        reader
    }

    /// Takes the snapshot (whatever its age).
    async fn snapshot(&mut self) {
        let res = self.http.get(format!("{}/api/events/{}/seats", self.app_base, self.event)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let map: Value = res.json().await.unwrap();
        self.version = map["version"].as_i64().unwrap();
        self.seats = map["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
            .collect();
    }

    /// Takes snapshots until one is at `version` or later (a snapshot may be up to the max age old).
    async fn reload(&mut self, version: i64) {
        self.reloads += 1;
        for _ in 0..100 {
            self.snapshot().await;
            if self.version >= version {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no snapshot reached version {version} (at {})", self.version);
    }

    async fn next(&mut self) -> Value {
        let version = self.version;
        tokio::time::timeout(Duration::from_secs(10), self.message())
            .await
            .unwrap_or_else(|_| panic!("no message in 10 s; the map is at version {version}"))
    }

    /// The next JSON message, however long it takes (a quiet sale sends none).
    async fn message(&mut self) -> Value {
        loop {
            match self.ws.next().await.expect("socket open").expect("no socket error") {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a JSON message, got {other:?}"),
            }
        }
    }

    /// Applies one pushed message by the rules of API.md.
    async fn apply(&mut self, message: &Value) {
        match message["type"].as_str() {
            Some("seats.changed") => {
                let (from, to) = (message["from_version"].as_i64().unwrap(), message["version"].as_i64().unwrap());
                if to <= self.version {
                    return; // already in the snapshot
                }
                if from > self.version + 1 {
                    // A gap (or a snapshot older than the subscription): reload to just before it.
                    self.reload(from - 1).await;
                    if to <= self.version {
                        return;
                    }
                }
                for seat in message["seats"].as_array().unwrap() {
                    self.seats
                        .insert(seat["id"].as_str().unwrap().to_owned(), seat["status"].as_str().unwrap().to_owned());
                }
                self.version = to;
            }
            Some("seats.reload") => self.reload(message["version"].as_i64().unwrap()).await,
            _ => {}
        }
    }

    /// Follows the pushed windows until its map is at `target` (sent once the sale settles).
    async fn follow(mut self, mut target: watch::Receiver<Option<i64>>) -> Reader {
        loop {
            if let Some(t) = *target.borrow()
                && self.version >= t
            {
                return self;
            }
            // Until the sale settles, with or without changes meanwhile (the caller bounds the wait).
            tokio::select! {
                _ = target.changed() => {}
                message = self.message() => self.apply(&message).await,
            }
        }
    }
}

/// What PostgreSQL holds, as the seat map shows it (an expired hold shows free).
async fn truth(app: &TestApp, event: &str) -> HashMap<String, String> {
    sqlx::query_as(
        "SELECT id::text, CASE WHEN status = 'held' AND held_until <= $2 THEN 'available' ELSE status END
         FROM ticket.seats WHERE event_id = $1::uuid",
    )
    .bind(event)
    .bind(app.clock.now())
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn current_version(app: &TestApp, event: &str) -> i64 {
    let ticket = app.ticket().await;
    ticket.publisher.current_version(event.parse().unwrap(), app.clock.now()).await.unwrap()
}

fn differences(seen: &HashMap<String, String>, truth: &HashMap<String, String>) -> Vec<String> {
    truth
        .iter()
        .filter(|(id, status)| seen.get(*id) != Some(status))
        .map(|(id, status)| format!("{id}: {status} in PostgreSQL, {:?} seen", seen.get(id)))
        .collect()
}

#[sqlx::test(migrations = false)]
async fn snapshots_plus_pushed_windows_are_what_postgresql_holds_under_a_live_sale(pool: PgPool) {
    // Production's max age, so readers get snapshots older than the current version.
    let app = Arc::new(spawn_with(pool, &[("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", "1000")]).await);
    let event = app
        .on_sale_event(
            &[("A", 4, 10, 1000)],
            json!({"max_seats_per_order": 3, "sale_closes_at": app.clock.now() + chrono::Duration::days(3),
                   "starts_at": app.clock.now() + chrono::Duration::days(4)}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let seats = Arc::new(app.seat_ids(&event).await);
    let keys = LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Service).await.unwrap();
    let payment = Arc::new(InternalClient::new(
        url::Url::parse(&app.base).unwrap(),
        Arc::new(ServiceTokenSigner::new("payment", keys, app.clock.clone())),
    ));
    let (settled, target) = watch::channel(None);
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut readers = vec![tokio::spawn(Reader::join(&app, &event_id).await.follow(target.clone()))];

    // Eight buyers at once: hold one to three random seats, then confirm, cancel or abandon.
    let buyers = (0..8u64).map(|b| {
        let (app, event, seats, payment) = (app.clone(), event.clone(), seats.clone(), payment.clone());
        let finished = finished.clone();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(b);
            let token = app.token_for(uuid::Uuid::now_v7(), UserRole::User).await;
            let mut outcomes = HashMap::<u16, u32>::new();
            for _ in 0..25 {
                let chosen: Vec<String> =
                    (0..rng.gen_range(1..=3)).map(|_| seats[rng.gen_range(0..seats.len())].clone()).collect();
                let mut chosen = chosen;
                chosen.sort();
                chosen.dedup();
                let (status, body) = app.hold(&token, &event, &chosen).await;
                *outcomes.entry(status.as_u16()).or_default() += 1;
                if status != StatusCode::CREATED {
                    assert!(status == StatusCode::CONFLICT || status == StatusCode::UNPROCESSABLE_ENTITY, "{body}");
                    continue;
                }
                let reservation = body["reservation"]["id"].as_str().unwrap().to_owned();
                match rng.gen_range(0..4) {
                    0 => {
                        let path = format!("/internal/ticket/reservations/{reservation}/confirm");
                        payment.post::<_, Value>("ticket", &path, &json!({})).await.unwrap();
                    }
                    1 | 2 => {
                        let path = format!("/api/reservations/{reservation}/cancel");
                        let (status, body) = app.send(Method::POST, &path, Some(&token), None).await;
                        assert_eq!(status, StatusCode::OK, "{body}");
                    }
                    _ => {} // abandoned: expires below
                }
            }
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            outcomes
        })
    });
    let buyers: Vec<_> = buyers.collect();
    // Readers join while the sale runs: after every 15 more seat changes (or once it is over: how
    // many changes a sale makes depends on who wins which seat).
    let start = current_version(&app, &event_id).await;
    for joined in 1..=3 {
        wait_until("the sale to move on", 60, || async {
            finished.load(std::sync::atomic::Ordering::SeqCst) == 8
                || current_version(&app, &event_id).await >= start + 15 * joined
        })
        .await;
        readers.push(tokio::spawn(Reader::join(&app, &event_id).await.follow(target.clone())));
    }
    let mut created = 0;
    for buyer in buyers {
        created += buyer.await.unwrap().get(&201).copied().unwrap_or(0);
    }
    assert!(created > 20, "the sale held seats ({created} holds)");
    // The abandoned holds expire, and the sweeper releases them.
    app.clock.advance(chrono::Duration::hours(1));
    tiketi_ticket::sweeper::sweep(&app.ticket().await).await.unwrap();
    readers.push(tokio::spawn(Reader::join(&app, &event_id).await.follow(target.clone())));

    settled.send(Some(current_version(&app, &event_id).await)).unwrap();
    let truth = truth(&app, &event_id).await;
    assert!(truth.values().any(|s| s == "sold") && truth.values().any(|s| s == "available"), "{truth:?}");
    for (i, reader) in readers.into_iter().enumerate() {
        let reader = tokio::time::timeout(Duration::from_secs(30), reader).await.expect("caught up").unwrap();
        let wrong = differences(&reader.seats, &truth);
        assert!(wrong.is_empty(), "reader {i} (reloaded {} times) disagrees: {wrong:#?}", reader.reloads);
    }
}

#[sqlx::test(migrations = false)]
async fn snapshots_are_reused_while_seats_change_and_revalidate_by_version(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", "60000")]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], json!({})).await;
    let path = format!("/api/events/{}/seats", event["id"].as_str().unwrap());
    let seats = app.seat_ids(&event).await;
    let (_, first) = app.send(Method::GET, &path, None, None).await;
    let (status, _) = app.hold(&app.buyer().await, &event, &seats[..1]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, second) = app.send(Method::GET, &path, None, None).await;
    assert_eq!(second, first, "within the max age the snapshot is reused: its version tells what it lacks");
    let etag = format!("\"{}\"", first["version"]);
    let res = app.http.get(app.url(&path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "the ETag is the served snapshot's version");

    // The version moved: a snapshot older than 60 s would not be served. Zero max age shows it.
    let fresh = spawn_with(app.pool.clone(), &[("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", "0")]).await;
    let (_, current) = fresh.send(Method::GET, &path, None, None).await;
    assert!(current["version"].as_i64() > first["version"].as_i64());
    let held = current["seats"].as_array().unwrap().iter().find(|s| s["id"] == seats[0].as_str()).unwrap();
    assert_eq!(held["status"], "held");
    let res = fresh.http.get(fresh.url(&path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "an older ETag gets the newer map");
}

/// A quiet event's map, once found current, is answered from memory for the max age — no Redis
/// call per read — and never longer: after that the version is asked for again.
#[sqlx::test(migrations = false)]
async fn a_map_found_current_is_served_from_memory_for_the_max_age_and_no_longer(pool: PgPool) {
    let port = free_port();
    let mut redis = start_redis(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_with(pool, &[("TIKETI_REDIS_URL", &url), ("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", "1500")]).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let path = format!("/api/events/{}/seats", event["id"].as_str().unwrap());
    let max_age = Duration::from_millis(1500);
    let building = std::time::Instant::now();
    let (_, built) = app.send(Method::GET, &path, None, None).await;
    // The snapshot ages on the server's monotonic clock, which a test cannot advance. Reads are
    // answered from memory until it is older than the max age; then one asks Redis for the
    // version, with a script — counted on this test's own Redis, where nothing else runs any.
    let redis_conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let scripts_run = |mut conn: redis::aio::MultiplexedConnection| async move {
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_evalsha:"))
            .filter_map(|l| l.split(['=', ',']).nth(1)?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = scripts_run(redis_conn.clone()).await;
    let mut asked = std::time::Instant::now();
    let (app_ref, path_ref, built_ref) = (&app, &path, &built);
    wait_until("a read older than the max age to ask for the version", 5, || {
        asked = std::time::Instant::now();
        let conn = redis_conn.clone();
        async move {
            let (status, found) = app_ref.send(Method::GET, path_ref, None, None).await;
            assert_eq!((status, &found), (StatusCode::OK, built_ref), "the same snapshot, asked for or not");
            let asked_redis = scripts_run(conn).await > before;
            assert!(!asked_redis || building.elapsed() >= max_age, "asked for the version before the max age");
            asked_redis
        }
    })
    .await;

    redis.kill().await.unwrap();
    let (status, from_memory) = app.send(Method::GET, &path, None, None).await;
    assert!(asked.elapsed() < max_age, "the test itself was too slow to tell");
    assert_eq!((status, &from_memory), (StatusCode::OK, &built), "found current: served without Redis");
    wait_until("reads to ask for the version again", 5, || async {
        let unavailable = app.send(Method::GET, &path, None, None).await.0 == StatusCode::SERVICE_UNAVAILABLE;
        assert!(!unavailable || asked.elapsed() >= max_age, "asked again before the max age had passed");
        unavailable
    })
    .await;
}

#[sqlx::test(migrations = false)]
async fn after_a_redis_restart_the_next_snapshot_is_correct_again(pool: PgPool) {
    let port = free_port();
    let mut redis = start_redis(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_with(pool, &[("TIKETI_REDIS_URL", &url), ("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", "300")]).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let path = format!("/api/events/{}/seats", event["id"].as_str().unwrap());
    let seats = app.seat_ids(&event).await;
    assert_eq!(app.hold(&app.buyer().await, &event, &seats[..1]).await.0, StatusCode::CREATED);
    let held =
        |map: &Value, n: usize| map["seats"].as_array().unwrap().iter().filter(|s| s["status"] == "held").count() == n;
    wait_until("a snapshot with the hold", 5, || async { held(&app.send(Method::GET, &path, None, None).await.1, 1) })
        .await;
    let (_, before) = app.send(Method::GET, &path, None, None).await;

    // Redis comes back empty (no version, no pushed delta for what happens meanwhile); versions
    // restart from the clock, which has moved on.
    redis.kill().await.unwrap();
    let _redis = start_redis(port).await;
    app.clock.advance(chrono::Duration::seconds(1));
    wait_until("holds to work again once Redis is back", 5, || async {
        app.hold(&app.buyer().await, &event, &seats[1..2]).await.0 == StatusCode::CREATED
    })
    .await;
    wait_until("a snapshot with both holds", 5, || async {
        held(&app.send(Method::GET, &path, None, None).await.1, 2)
    })
    .await;
    let (status, after) = app.send(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(after["version"].as_i64() > before["version"].as_i64(), "versions jump forward: {before} → {after}");
    let statuses: Vec<&str> =
        after["seats"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["held", "held", "available", "available"]);
}

#[sqlx::test(migrations = false)]
async fn event_detail_availability_is_at_most_the_max_age_old_while_seats_change(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS", "400")]).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let path = format!("/api/events/{}", event["id"].as_str().unwrap());
    let available = |detail: &Value| detail["sections"][0]["available"].as_i64().unwrap();
    let (_, before) = app.send(Method::GET, &path, None, None).await;
    assert_eq!(available(&before), 4);
    let seats = app.seat_ids(&event).await;
    assert_eq!(app.hold(&app.buyer().await, &event, &seats[..1]).await.0, StatusCode::CREATED);
    let (_, cached) = app.send(Method::GET, &path, None, None).await;
    assert_eq!(available(&cached), 4, "not rebuilt at every hold");
    wait_until("the detail to be rebuilt once the max age passed", 5, || async {
        available(&app.send(Method::GET, &path, None, None).await.1) == 3
    })
    .await;
}

/// A plain seat-map read is answered ahead of the router (`src/app.rs`, `SeatMapFirst`); the
/// answers, headers and metrics are the route's, and anything else about the path still goes
/// through the route.
#[sqlx::test(migrations = false)]
async fn a_seat_map_read_answered_ahead_of_the_router_is_the_routes_answer(pool: PgPool) {
    let app = crate::common::spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let id = event["id"].as_str().unwrap();
    let get = |path: String, headers: &[(&'static str, String)]| {
        let mut request = app.http.get(app.url(&path));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    let gzip = ("accept-encoding", "gzip".to_owned());

    let read = get(format!("/api/events/{id}/seats"), std::slice::from_ref(&gzip)).await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let headers = read.headers().clone();
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-content-type-options"], "nosniff", "the server's layers");
    assert!(headers.contains_key("x-request-id"), "the route's telemetry");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let map: Value = get(format!("/api/events/{id}/seats"), &[]).await.unwrap().json().await.unwrap();
    assert_eq!(map["seats"].as_array().unwrap().len(), 4);
    let upper = get(format!("/api/events/{}/seats", id.to_uppercase()), std::slice::from_ref(&gzip)).await.unwrap();
    assert_eq!(upper.headers()["etag"].to_str().unwrap(), etag, "the same event, as the route parses it");
    let unchanged = get(format!("/api/events/{id}/seats"), &[("if-none-match", etag.clone())]).await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    let head = app.http.head(app.url(&format!("/api/events/{id}/seats"))).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK, "HEAD goes through the route");
    // No such event (answered ahead), and an id that is none (the route's extractor refuses it).
    for path in [format!("/api/events/{}/seats", uuid::Uuid::now_v7()), "/api/events/not-an-id/seats".to_owned()] {
        let res = get(path.clone(), &[]).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.headers()["content-type"], "application/problem+json", "{path}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "NOT_FOUND", "{path}");
    }

    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for status in ["200", "304", "404"] {
        let series = format!(
            "tiketi_http_requests_total{{method=\"GET\",route=\"/api/events/{{id}}/seats\",status=\"{status}\"}}"
        );
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
}
