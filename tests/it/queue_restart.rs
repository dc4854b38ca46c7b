//! Redis restarted under a waiting room (no persistence: everything in it is gone): waiters come
//! back at their old order by showing their receipts, ahead of everyone who joined after; admitted
//! buyers keep their admissions by showing their tokens; the lost admissions' slots stay taken
//! until their buyers come back or finish, so `max_active` holds throughout; the counters continue
//! from the checkpoint.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_sale_check::{Invariant, RedisConfig, Scope};
use tiketi_shared::token::UserRole;

use crate::common::{self, TestApp, free_port, spawn_with, start_redis};

async fn queue(
    app: &TestApp,
    method: Method,
    token: &str,
    event: &Value,
    receipt: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.http.request(method, app.url(&format!("/api/events/{}/queue", event["id"].as_str().unwrap())));
    req = req.bearer_auth(token);
    if let Some(receipt) = receipt {
        req = req.header("x-queue-receipt", receipt);
    }
    common::read(req.send().await.unwrap()).await
}

async fn step(app: &TestApp) -> usize {
    tiketi_ticket::queue::admission::step(&app.ticket().await).await.unwrap()
}

async fn hold(app: &TestApp, token: &str, admission: &str, event: &Value, seat: &str) -> (StatusCode, Value) {
    let req = app
        .http
        .post(app.url(&format!("/api/events/{}/holds", event["id"].as_str().unwrap())))
        .bearer_auth(token)
        .header("x-admission-token", admission);
    common::read(req.json(&json!({"seat_ids": [seat]})).send().await.unwrap()).await
}

#[sqlx::test(migrations = false)]
async fn a_redis_restart_loses_no_place_and_no_admission(pool: PgPool) {
    let port = free_port();
    let mut redis = start_redis(port).await;
    let app = spawn_with(pool, &[("TIKETI_REDIS_URL", &format!("redis://127.0.0.1:{port}"))]).await;
    let event = app
        .on_sale_event(
            &[("A", 1, 20, 1000)],
            json!({"waiting_room": {"enabled": true, "max_active": 3, "admit_per_minute": 600}}),
        )
        .await;
    let seats = app.seat_ids(&event).await;
    let ids: Vec<uuid::Uuid> = (0..8).map(|_| uuid::Uuid::now_v7()).collect();
    let mut tokens = Vec::new();
    for id in &ids {
        tokens.push(app.token_for(*id, UserRole::User).await);
    }
    let mut receipts = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (status, body) = queue(&app, Method::POST, token, &event, None).await;
        assert_eq!((status, body["position"].as_i64()), (StatusCode::ACCEPTED, Some(i as i64 + 1)));
        receipts.push(body["receipt"].as_str().expect("a waiter holds a receipt").to_owned());
    }
    assert_eq!(step(&app).await, 3);
    let mut admissions = Vec::new();
    let mut admitted_until = Vec::new();
    for token in &tokens[..3] {
        let (status, body) = queue(&app, Method::GET, token, &event, None).await;
        assert_eq!(status, StatusCode::OK);
        admissions.push(body["admission_token"].as_str().unwrap().to_owned());
        admitted_until.push(body["expires_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap());
    }

    // Buyer 2 holds a seat before the outage (and gives it up after).
    let (status, held) = hold(&app, &tokens[2], &admissions[2], &event, &seats[3]).await;
    assert_eq!(status, StatusCode::CREATED);
    let buyer_2_hold = held["reservation"]["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::seconds(1));

    // Redis restarts empty.
    redis.kill().await.unwrap();
    redis.wait().await.unwrap();
    let _redis = start_redis(port).await;

    // A newcomer joins first: the room starts its next generation from the checkpoint.
    let newcomer = app.token_for(uuid::Uuid::now_v7(), UserRole::User).await;
    // (The server's Redis connection comes back on its own; joining twice keeps the place.)
    common::wait_until("Redis to answer again", 10, || async {
        queue(&app, Method::POST, &newcomer, &event, None).await.0 != StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let (status, body) = queue(&app, Method::POST, &newcomer, &event, None).await;
    assert_eq!((status, body["position"].as_i64()), (StatusCode::ACCEPTED, Some(1)), "{body}");
    assert_eq!(body["ticket"], 9, "numbers continue after the 8 who arrived before");
    let generation: i32 = sqlx::query_scalar("SELECT epoch FROM ticket.waiting_rooms WHERE event_id = $1::text::uuid")
        .bind(event["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(generation, 2);
    let (status, body) = queue(&app, Method::GET, &tokens[5], &event, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_IN_QUEUE")), "gone until shown");

    // The waiters show their receipts, last first: each goes back to its old order.
    for i in (3..8).rev() {
        let (status, body) = queue(&app, Method::GET, &tokens[i], &event, Some(&receipts[i])).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert!(body["ticket"].is_null(), "the number of a place kept from before is not known");
    }
    for (i, token) in tokens.iter().enumerate().skip(3) {
        let (_, body) = queue(&app, Method::GET, token, &event, None).await;
        assert_eq!(body["position"].as_i64(), Some(i as i64 - 2), "buyer {i} is back in place");
    }
    let (_, body) = queue(&app, Method::GET, &newcomer, &event, None).await;
    assert_eq!(body["position"], 6, "the newcomer queues behind everyone who was there before");

    // Receipts are checked: another buyer's, or one shown twice, changes nothing.
    let (status, body) = queue(&app, Method::GET, &tokens[3], &event, Some(&receipts[4])).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION_FAILED")));
    let (status, _) = queue(&app, Method::DELETE, &tokens[7], &event, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = queue(&app, Method::GET, &tokens[7], &event, Some(&receipts[7])).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_IN_QUEUE")), "once per outage");

    // Admission waits out the grace; an admitted buyer keeps the admission by showing the token.
    assert_eq!(step(&app).await, 0, "nobody admitted while waiters are still coming back");
    assert_eq!(hold(&app, &tokens[1], &admissions[1], &event, &seats[0]).await.0, StatusCode::CREATED);
    app.clock.advance(Duration::seconds(11));
    for token in tokens[3..7].iter().chain([&newcomer]) {
        queue(&app, Method::GET, token, &event, None).await;
    }
    assert_eq!(step(&app).await, 0, "the two admissions not shown yet still hold their slots (max_active 3)");
    assert_eq!(hold(&app, &tokens[0], &admissions[0], &event, &seats[1]).await.0, StatusCode::CREATED);
    assert_eq!(step(&app).await, 0, "still full: buyers 0 and 1 back, buyer 2's slot kept");
    let (status, body) = hold(&app, &tokens[3], &admissions[0], &event, &seats[2]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("NOT_ADMITTED")),
        "a token is its buyer's"
    );

    // Buyer 2 gives up the hold made before the outage: that kept slot frees at once, and the
    // queue moves in its old order.
    let (status, _) =
        app.send(Method::POST, &format!("/api/reservations/{buyer_2_hold}/cancel"), Some(&tokens[2]), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(step(&app).await, 1, "buyer 2's slot is free");
    let (status, body) = queue(&app, Method::GET, &tokens[3], &event, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("admitted")),
        "the head of the old queue first"
    );
    assert_eq!(queue(&app, Method::GET, &tokens[4], &event, None).await.1["position"], 1);
    let (status, body) = hold(&app, &tokens[2], &admissions[2], &event, &seats[4]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("NOT_ADMITTED")),
        "a finished admission stays finished"
    );

    // Every slot counts once for as long as its kept minute is counted: past the end of the
    // lost generation's admissions (buyers 0 and 1 back and holding, buyer 2 finished, buyer 3
    // admitted since), live admissions plus kept slots not returned stay within max_active, as
    // the sale's independent checker reads them from Redis. (Buyers counted returned only until
    // their own admission's end counted their slots again for the rest of its minute: 5 of 3.)
    let end = admitted_until[0].timestamp_millis();
    let minute_end = end + (60_000 - end.rem_euclid(60_000)) % 60_000;
    let mut config = tiketi_sale_check::Config::new(
        app.pool.connect_options().as_ref().clone(),
        Scope::Event(event["id"].as_str().unwrap().parse().unwrap()),
    );
    config.redis = Some(RedisConfig {
        url: format!("redis://127.0.0.1:{port}"),
        key_prefix: app.settings.common.redis_key_prefix.clone(),
    });
    for at in [end - 1_000, end + (minute_end - end) / 2, minute_end + 1_000] {
        config.now = Some(DateTime::from_timestamp_millis(at).unwrap());
        let report = tiketi_sale_check::check(&config).await;
        let admissions = report.finding(Invariant::Admissions).expect("admissions are checked");
        assert!(admissions.holds(), "at {at} (admissions end {end}, their kept minute {minute_end}): {report}");
    }
}
