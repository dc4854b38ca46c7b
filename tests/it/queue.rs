//! The waiting room against the real server and Redis: fairness, idempotence, atomic admission
//! with concurrent admitters, admission tokens at the door, slots freed, presence, Redis down.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_shared::token::UserRole;

use crate::common::{self, TestApp, spawn, spawn_with};

fn room(max_active: i32, per_minute: i32) -> Value {
    json!({"waiting_room": {"enabled": true, "max_active": max_active, "admit_per_minute": per_minute}})
}

async fn queue(app: &TestApp, method: Method, token: &str, event: &Value) -> (StatusCode, Value) {
    app.send(method, &format!("/api/events/{}/queue", event["id"].as_str().unwrap()), Some(token), None).await
}

async fn step(app: &TestApp) -> usize {
    tiketi_ticket::queue::admission::step(&app.ticket().await).await.unwrap()
}

async fn hold_with(
    app: &TestApp,
    token: &str,
    admission: Option<&str>,
    event: &Value,
    seats: &[String],
) -> (StatusCode, Value) {
    let mut req =
        app.http.post(app.url(&format!("/api/events/{}/holds", event["id"].as_str().unwrap()))).bearer_auth(token);
    if let Some(admission) = admission {
        req = req.header("x-admission-token", admission);
    }
    common::read(req.json(&json!({"seat_ids": seats})).send().await.unwrap()).await
}

#[sqlx::test(migrations = false)]
async fn buyers_queue_first_come_first_served_and_rejoining_keeps_the_place(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(2, 100)).await;
    let buyers: Vec<String> = futures::future::join_all((0..4).map(|_| app.buyer())).await;
    for (i, buyer) in buyers.iter().enumerate() {
        let (status, body) = queue(&app, Method::POST, buyer, &event).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!((body["status"].as_str(), body["position"].as_i64()), (Some("waiting"), Some(i as i64 + 1)));
        assert_eq!(body["ahead"].as_i64(), Some(i as i64));
    }
    let (_, again) = queue(&app, Method::POST, &buyers[0], &event).await;
    assert_eq!(again["position"], 1, "a refresh never sends anyone to the back");
    assert_eq!(again["queue_size"], 4);

    assert_eq!(step(&app).await, 2);
    let (status, admitted) = queue(&app, Method::GET, &buyers[1], &event).await;
    assert_eq!((status, admitted["status"].as_str()), (StatusCode::OK, Some("admitted")));
    assert!(admitted["admission_token"].is_string() && admitted["expires_at"].is_string());
    let (_, third) = queue(&app, Method::GET, &buyers[2], &event).await;
    assert_eq!(third["position"], 1);
    assert_eq!(third["eta_seconds"], 0, "next in line");
    // Before any second of admissions is measured, ETAs use the configured 100 a minute.
    let (_, fourth) = queue(&app, Method::GET, &buyers[3], &event).await;
    assert_eq!((fourth["ahead"].as_i64(), fourth["eta_seconds"].as_i64()), (Some(1), Some(1)));

    let (status, _) = queue(&app, Method::DELETE, &buyers[2], &event).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = queue(&app, Method::GET, &buyers[2], &event).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_IN_QUEUE")));
    assert_eq!(queue(&app, Method::GET, &buyers[3], &event).await.1["position"], 1);

    let plain = app.on_sale_event(&[("A", 1, 2, 1000)], json!({})).await;
    let (status, body) = queue(&app, Method::POST, &buyers[3], &plain).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("admitted")), "no waiting room admits at once");
}

#[sqlx::test(migrations = false)]
async fn the_prequeue_is_drawn_at_random_at_the_opening_and_latecomers_queue_behind(pool: PgPool) {
    let app = spawn(pool).await;
    let opens = app.clock.now() + Duration::minutes(10);
    let mut spec = room(1, 10_000);
    spec["sale_opens_at"] = json!(opens);
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], spec).await;
    let ids: Vec<uuid::Uuid> = (0..40).map(|_| uuid::Uuid::now_v7()).collect();
    for id in &ids {
        let (status, body) = queue(&app, Method::POST, &app.token_for(*id, UserRole::User).await, &event).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::ACCEPTED, Some("waiting")));
    }
    let too_early = app
        .on_sale_event(&[("A", 1, 1, 1000)], {
            let mut s = room(10, 10);
            s["sale_opens_at"] = json!(app.clock.now() + Duration::hours(3));
            s
        })
        .await;
    assert_eq!(queue(&app, Method::POST, &app.buyer().await, &too_early).await.1["code"], "SALE_NOT_OPEN");

    // Waiters keep polling while they wait (or lose their place); then the sale opens.
    for _ in 0..11 {
        app.clock.advance(Duration::minutes(1));
        for id in &ids {
            queue(&app, Method::GET, &app.token_for(*id, UserRole::User).await, &event).await;
        }
    }
    let late = uuid::Uuid::now_v7();
    queue(&app, Method::POST, &app.token_for(late, UserRole::User).await, &event).await;
    assert_eq!(step(&app).await, 1, "the draw happens, then one admission (max_active 1)");

    let mut positions = Vec::new();
    for id in &ids {
        let (_, body) = queue(&app, Method::GET, &app.token_for(*id, UserRole::User).await, &event).await;
        positions.push(body["position"].as_i64().unwrap_or(0)); // 0 = the one admitted
    }
    let (_, latecomer) = queue(&app, Method::GET, &app.token_for(late, UserRole::User).await, &event).await;
    assert_eq!(latecomer["position"], 40, "the latecomer queues behind the whole pre-queue");
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..40).collect::<Vec<_>>(), "every pre-queue member got a place");
    let arrival: Vec<i64> = (0..40).collect();
    assert_ne!(positions, arrival, "the pre-queue is not served in arrival order");
}

#[sqlx::test(migrations = false)]
async fn a_thousand_concurrent_joiners_get_unique_consecutive_positions(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE", "100000")]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(10, 10)).await;
    let tokens: Vec<String> = futures::future::join_all((0..1000).map(|_| app.buyer())).await;
    let answers = futures::future::join_all(tokens.iter().map(|t| queue(&app, Method::POST, t, &event))).await;
    let mut positions: Vec<i64> = answers
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::ACCEPTED, "{b}");
            b["position"].as_i64().unwrap()
        })
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=1000).collect::<Vec<_>>());
}

#[sqlx::test(migrations = false)]
async fn concurrent_admitters_never_exceed_the_limits_or_skip_anyone(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE", "100000")]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(20, 60)).await;
    let ids: Vec<uuid::Uuid> = (0..300).map(|_| uuid::Uuid::now_v7()).collect();
    for id in &ids {
        queue(&app, Method::POST, &app.token_for(*id, UserRole::User).await, &event).await;
    }
    let states: Vec<_> = futures::future::join_all((0..4).map(|_| app.ticket())).await;
    let room_state = &states[0].waiting_room;
    let event_id: tiketi_ticket::model::EventId = event["id"].as_str().unwrap().parse().unwrap();
    let mut admitted_total: Vec<(i64, usize)> = Vec::new(); // (minute-ms, count)
    let mut everyone_admitted = 0usize;
    for round in 0..120 {
        // Waiters stay present; every round is 5 simulated seconds; four replicas admit at once.
        app.clock.advance(Duration::seconds(5));
        let now_ms = app.clock.now().timestamp_millis();
        for id in ids.iter().skip(everyone_admitted) {
            room_state.standing(event_id, tiketi_shared::ids::UserId(*id), now_ms, false, false, None).await.unwrap();
        }
        let steps = futures::future::join_all(states.iter().map(tiketi_ticket::queue::admission::step)).await;
        let admitted: usize = steps.into_iter().map(Result::unwrap).sum();
        everyone_admitted += admitted;
        admitted_total.push((now_ms, admitted));
        let (_, active) = room_state.counts(event_id).await.unwrap();
        assert!(active <= 20, "round {round}: {active} active");
        // Nobody skipped: the admitted are exactly the first of the queue.
        for (i, id) in ids.iter().enumerate() {
            let standing = room_state
                .standing(event_id, tiketi_shared::ids::UserId(*id), now_ms, false, false, None)
                .await
                .unwrap();
            let is_admitted = matches!(standing, Some(tiketi_ticket::queue::store::Standing::Admitted { .. }));
            assert_eq!(
                is_admitted,
                i >= everyone_admitted - active as usize && i < everyone_admitted,
                "round {round}, buyer {i}"
            );
        }
        // Some admitted buyers finish (buy or leave), freeing slots.
        if round % 3 == 0 {
            for id in ids.iter().take(everyone_admitted).skip(everyone_admitted.saturating_sub(active as usize)).take(7)
            {
                room_state.release(event_id, tiketi_shared::ids::UserId(*id), now_ms, now_ms).await.unwrap();
            }
        }
    }
    for (i, (at, _)) in admitted_total.iter().enumerate() {
        let in_minute: usize = admitted_total[i..].iter().take_while(|(t, _)| t - at < 60_000).map(|(_, n)| n).sum();
        assert!(in_minute <= 60, "{in_minute} admissions within a minute");
    }
    assert!(everyone_admitted > 100, "the room kept moving: {everyone_admitted}");
}

#[sqlx::test(migrations = false)]
async fn holds_need_a_valid_admission_for_this_event_and_buyer(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(10, 100)).await;
    let other = app.on_sale_event(&[("A", 1, 10, 1000)], room(10, 100)).await;
    let seats = app.seat_ids(&event).await;
    let (alice_id, bob_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (alice, bob) = (app.token_for(alice_id, UserRole::User).await, app.token_for(bob_id, UserRole::User).await);
    for (who, ev) in [(&alice, &event), (&bob, &event), (&alice, &other)] {
        queue(&app, Method::POST, who, ev).await;
    }
    step(&app).await;
    let admission = |body: Value| body["admission_token"].as_str().unwrap().to_owned();
    let alice_admission = admission(queue(&app, Method::GET, &alice, &event).await.1);
    let alice_other = admission(queue(&app, Method::GET, &alice, &other).await.1);

    let keys = {
        use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
        LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Admission).await.unwrap()
    };
    let now = app.clock.now().timestamp();
    let expired = keys
        .active()
        .sign(&tiketi_shared::token::AdmissionClaims {
            iss: tiketi_shared::token::ADMISSION_ISSUER.into(),
            aud: event["id"].as_str().unwrap().into(),
            sub: tiketi_shared::ids::UserId(alice_id),
            iat: now - 700,
            exp: now - 100,
            jti: uuid::Uuid::now_v7(),
            epoch: Some(1),
        })
        .unwrap();
    let cases: [(&str, Option<&str>); 5] = [
        ("missing", None),
        ("forged", Some("eyJhbGciOiJFZERTQSJ9.e30.AAAA")),
        ("expired", Some(&expired)),
        ("for another event", Some(&alice_other)),
        ("another buyer's", Some(&alice_admission)),
    ];
    for (case, token) in cases {
        let who = if case == "another buyer's" { &bob } else { &alice };
        let (status, body) = hold_with(&app, who, token, &event, &seats[0..1]).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("NOT_ADMITTED")), "{case}");
    }
    let (status, held) = hold_with(&app, &alice, Some(&alice_admission), &event, &seats[0..1]).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");

    // Giving the admission up closes the door even with the token in hand.
    queue(&app, Method::DELETE, &alice, &event).await;
    let (status, _) = hold_with(&app, &alice, Some(&alice_admission), &event, &seats[1..2]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = false)]
async fn cancelling_or_expiring_a_hold_frees_the_slot_for_the_next_waiter(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1, 100)).await;
    let seats = app.seat_ids(&event).await;
    let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    let token = |i: usize| app.token_for(ids[i], UserRole::User);
    for i in 0..3 {
        queue(&app, Method::POST, &token(i).await, &event).await;
    }
    step(&app).await;
    let first = queue(&app, Method::GET, &token(0).await, &event).await.1;
    let (_, held) = hold_with(&app, &token(0).await, first["admission_token"].as_str(), &event, &seats[0..1]).await;
    assert_eq!(step(&app).await, 0, "the only slot is taken while the hold lives");
    app.send(
        Method::POST,
        &format!("/api/reservations/{}/cancel", held["reservation"]["id"].as_str().unwrap()),
        Some(&token(0).await),
        None,
    )
    .await;
    assert_eq!(step(&app).await, 1, "cancelling freed the slot");

    let second = queue(&app, Method::GET, &token(1).await, &event).await.1;
    assert_eq!(second["status"], "admitted");
    let (status, _) = hold_with(&app, &token(1).await, second["admission_token"].as_str(), &event, &seats[1..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    app.clock.advance(Duration::minutes(21));
    tiketi_ticket::sweeper::sweep(&app.ticket().await).await.unwrap();
    // The third waiter kept polling (present) while the hold lived.
    app.clock.advance(Duration::seconds(1));
    queue(&app, Method::GET, &token(2).await, &event).await;
    assert_eq!(step(&app).await, 1, "expiry freed the slot");
}

#[sqlx::test(migrations = false)]
async fn a_waiter_not_seen_for_the_presence_timeout_loses_the_place(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1, 100)).await;
    let (gone, here) = (app.buyer().await, app.buyer().await);
    let blocker = app.buyer().await;
    queue(&app, Method::POST, &blocker, &event).await;
    step(&app).await; // the blocker takes the only slot
    queue(&app, Method::POST, &gone, &event).await;
    queue(&app, Method::POST, &here, &event).await;
    app.clock.advance(Duration::seconds(40));
    queue(&app, Method::GET, &here, &event).await; // a short refresh is fine
    app.clock.advance(Duration::seconds(30));
    step(&app).await;
    assert_eq!(queue(&app, Method::GET, &gone, &event).await.1["code"], "NOT_IN_QUEUE");
    assert_eq!(queue(&app, Method::GET, &here, &event).await.1["position"], 1);
}

#[sqlx::test(migrations = false)]
async fn with_redis_down_joining_answers_503_and_admits_nobody(pool: PgPool) {
    let port = common::free_port();
    let mut redis = common::start_redis(port).await;
    let app = spawn_with(pool, &[("TIKETI_REDIS_URL", &format!("redis://127.0.0.1:{port}"))]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(10, 100)).await;
    let buyer = app.buyer().await;
    let seats = app.seat_ids(&event).await;
    assert_eq!(queue(&app, Method::POST, &buyer, &event).await.0, StatusCode::ACCEPTED);
    redis.kill().await.unwrap();
    let res = app
        .http
        .post(app.url(&format!("/api/events/{}/queue", event["id"].as_str().unwrap())))
        .bearer_auth(&buyer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(queue(&app, Method::GET, &buyer, &event).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = hold_with(&app, &buyer, None, &event, &seats[0..1]).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::SERVICE_UNAVAILABLE, "{status}");
    let _restarted = common::start_redis(port).await;
    let mut back = false;
    for _ in 0..50 {
        if queue(&app, Method::GET, &buyer, &event).await.0 != StatusCode::SERVICE_UNAVAILABLE {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "the waiting room answers again after Redis restarts");
    // This Redis kept nothing (no persistence): the room starts its next generation (receipts
    // bring places back: queue_restart.rs; this buyer simply joins again).
    assert_eq!(queue(&app, Method::POST, &buyer, &event).await.0, StatusCode::ACCEPTED);
    assert_eq!(step(&app).await, 0, "admission waits out the grace for receipts");
    app.clock.advance(Duration::seconds(11));
    queue(&app, Method::GET, &buyer, &event).await;
    assert_eq!(step(&app).await, 1, "and admits again");
}

#[sqlx::test(migrations = false)]
async fn admission_steps_publish_what_realtime_needs_to_place_every_waiter(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(2, 100)).await;
    let tokens: Vec<String> = futures::future::join_all((0..5).map(|_| app.buyer())).await;
    let mut tickets = Vec::new();
    for token in &tokens {
        tickets.push(queue(&app, Method::POST, token, &event).await.1["ticket"].as_i64().unwrap());
    }
    assert_eq!(tickets, [1, 2, 3, 4, 5]);

    let client =
        redis::Client::open(std::env::var("TIKETI_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into())).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    let prefix = &app.settings.common.redis_key_prefix;
    pubsub.subscribe(format!("{prefix}queue:{}", event["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(step(&app).await, 2);
    use futures::StreamExt;
    let msg =
        tokio::time::timeout(std::time::Duration::from_secs(5), pubsub.on_message().next()).await.unwrap().unwrap();
    let body: Value = serde_json::from_str(&msg.get_payload::<String>().unwrap()).unwrap();
    assert_eq!((body["served"].as_i64(), body["queue_size"].as_i64()), (Some(2), Some(3)));
    assert_eq!(body["admitted"].as_array().unwrap().len(), 2);
    for (token, ticket) in tokens.iter().zip(&tickets).skip(2) {
        let (_, status) = queue(&app, Method::GET, token, &event).await;
        assert_eq!(status["position"].as_i64(), Some(ticket - 2), "ticket − served is the position");
    }
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    // Waits are minutes: the histogram's buckets are too (requests' end at 5 s and include 0.2 s).
    assert!(metrics.contains("tiketi_queue_wait_seconds_bucket{le=\"600\"}"), "wait-time histogram in\n{metrics}");
    assert!(metrics.contains("le=\"0.2\"}"), "the hold SLO's 0.2 s boundary in\n{metrics}");
    // Admissions per event: one room's admissions must not hide another's stall (the alert).
    let admitted = format!("tiketi_queue_admissions_total{{event=\"{}\"}} 2", event["id"].as_str().unwrap());
    assert!(metrics.contains(&admitted), "{admitted} in\n{metrics}");
}

#[sqlx::test(migrations = false)]
async fn a_confirmed_purchase_frees_the_slot(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1, 100)).await;
    let seats = app.seat_ids(&event).await;
    let (buyer, next) = (app.buyer().await, app.buyer().await);
    queue(&app, Method::POST, &buyer, &event).await;
    queue(&app, Method::POST, &next, &event).await;
    step(&app).await;
    let admission = queue(&app, Method::GET, &buyer, &event).await.1;
    let (_, held) = hold_with(&app, &buyer, admission["admission_token"].as_str(), &event, &seats[0..1]).await;
    assert_eq!(step(&app).await, 0);
    let keys = {
        use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
        LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Service).await.unwrap()
    };
    let payment = tiketi_shared::internal::InternalClient::new(
        url::Url::parse(&app.base).unwrap(),
        std::sync::Arc::new(tiketi_shared::internal::ServiceTokenSigner::new("payment", keys, app.clock.clone())),
    );
    let path = format!("/internal/ticket/reservations/{}/confirm", held["reservation"]["id"].as_str().unwrap());
    let confirmed: Value = payment.post("ticket", &path, &json!({})).await.unwrap();
    assert_eq!(confirmed["reservation"]["status"], "confirmed");
    assert_eq!(step(&app).await, 1, "paying freed the slot for the next waiter");
    assert_eq!(queue(&app, Method::GET, &next, &event).await.1["status"], "admitted");
}

#[sqlx::test(migrations = false)]
async fn the_per_minute_budget_is_spread_over_the_minute(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(100, 120)).await;
    for _ in 0..10 {
        queue(&app, Method::POST, &app.buyer().await, &event).await;
    }
    assert_eq!(step(&app).await, 2, "120 a minute is 2 a second");
    assert_eq!(step(&app).await, 0, "a second step in the same second shares its budget");
    app.clock.advance(Duration::seconds(1));
    assert_eq!(step(&app).await, 2);
}

/// The value of `name{event="<id>"}` in the process's /metrics.
async fn gauge(app: &TestApp, name: &str, event: &Value) -> Option<f64> {
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series = format!("{name}{{event=\"{}\"}} ", event["id"].as_str().unwrap());
    metrics.lines().find_map(|l| l.strip_prefix(&series)).map(|v| v.parse().unwrap())
}

#[sqlx::test(migrations = false)]
async fn a_closed_room_stops_counting_as_waiting_for_the_autoscaler(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1, 100)).await;
    for _ in 0..4 {
        let token = app.buyer().await;
        queue(&app, Method::POST, &token, &event).await;
    }
    // One process's admission loop: the same state step after step.
    let ticket = app.ticket().await;
    tiketi_ticket::queue::admission::step(&ticket).await.unwrap();
    assert_eq!(gauge(&app, "tiketi_queue_waiting", &event).await, Some(3.0));
    assert_eq!(gauge(&app, "tiketi_queue_active", &event).await, Some(1.0));

    let admin = app.admin().await;
    let cancel = format!("/api/admin/events/{}/cancel", event["id"].as_str().unwrap());
    let (status, body) = app.send(Method::POST, &cancel, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tiketi_ticket::queue::admission::step(&ticket).await.unwrap();
    assert_eq!(gauge(&app, "tiketi_queue_waiting", &event).await, Some(0.0));
    assert_eq!(gauge(&app, "tiketi_queue_active", &event).await, Some(0.0));
}

#[sqlx::test(migrations = false)]
async fn joins_ask_for_proof_of_work_where_configured(pool: PgPool) {
    use tiketi_ticket::queue::proof;
    let app = spawn_with(pool, &[("TIKETI_QUEUE_PROOF_DIFFICULTY", "10")]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(10, 100)).await;
    let path = format!("/api/events/{}/queue", event["id"].as_str().unwrap());
    let (alice, bob) = (app.buyer().await, app.buyer().await);
    let join = |token: &str, proof: Option<&str>| {
        let mut req = app.http.post(app.url(&path)).bearer_auth(token);
        if let Some(proof) = proof {
            req = req.header("x-queue-proof", proof);
        }
        async move { common::read(req.send().await.unwrap()).await }
    };

    let (status, asked) = join(&alice, None).await;
    assert_eq!((status, asked["code"].as_str()), (StatusCode::PRECONDITION_REQUIRED, Some("PROOF_REQUIRED")));
    assert_eq!(asked["difficulty"], 10);
    assert!(asked["expires_at"].is_string() && asked["detail"].as_str().unwrap().contains("X-Queue-Proof"));
    let solved = proof::solve(asked["challenge"].as_str().unwrap());
    let (status, body) = join(&alice, Some(&solved)).await;
    assert_eq!((status, body["position"].as_i64()), (StatusCode::ACCEPTED, Some(1)));

    // Alice's solution is hers; an unsolved or made-up one is refused, each with a new challenge.
    let (status, body) = join(&bob, Some(&solved)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::PRECONDITION_REQUIRED, Some("PROOF_REQUIRED")));
    assert!(body["detail"].as_str().unwrap().contains("not carry a challenge given to this buyer"), "{body}");
    let challenge = body["challenge"].as_str().unwrap();
    let unsolved = (0..).map(|n| format!("{challenge}:{n}")).find(|p| proof::solve(challenge) != *p).unwrap();
    assert_eq!(join(&bob, Some(&unsolved)).await.0, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(join(&bob, Some("made-up:1")).await.0, StatusCode::PRECONDITION_REQUIRED);
    let (status, _) = join(&bob, Some(&proof::solve(challenge))).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let plain = app.on_sale_event(&[("A", 1, 2, 1000)], json!({})).await;
    let (status, _) = queue(&app, Method::POST, &bob, &plain).await;
    assert_eq!(status, StatusCode::OK, "an event without a waiting room asks for no proof");
}

#[sqlx::test(migrations = false)]
async fn join_budgets_per_address_and_account_hold_across_replicas(pool: PgPool) {
    // Two replicas of one deployment: one database, one Redis prefix, one key folder.
    let vars = common::test_env(&[
        ("TIKETI_QUEUE_JOIN_ACCOUNT_LIMIT_PER_MINUTE", "4"),
        ("TIKETI_QUEUE_JOIN_IP_LIMIT_PER_MINUTE", "6"),
    ]);
    let clock = tiketi_shared::clock::Clock::fixed(chrono::Utc::now());
    let first = common::spawn_env(pool.clone(), vars.clone(), clock.clone()).await;
    let second = common::spawn_env(pool, vars, clock).await;
    let event = first.on_sale_event(&[("A", 1, 10, 1000)], room(10, 100)).await;
    let (alice, bob) = (first.buyer().await, first.buyer().await);
    for n in 0..4 {
        let replica = if n % 2 == 0 { &first } else { &second };
        assert_eq!(queue(replica, Method::POST, &alice, &event).await.0, StatusCode::ACCEPTED, "join {n}");
    }
    let limited = second
        .http
        .post(second.url(&format!("/api/events/{}/queue", event["id"].as_str().unwrap())))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account's fifth join in a minute, on either replica"
    );
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(common::read(limited).await.1["code"], "RATE_LIMITED");
    assert_eq!(queue(&first, Method::GET, &alice, &event).await.1["position"], 1, "status is not a join");

    // The address has spent 5 of its 6 across both replicas: one more join from it, then none.
    assert_eq!(queue(&second, Method::POST, &bob, &event).await.0, StatusCode::ACCEPTED);
    assert_eq!(queue(&first, Method::POST, &bob, &event).await.0, StatusCode::TOO_MANY_REQUESTS);
    second.stop().await;
    first.stop().await;
}
