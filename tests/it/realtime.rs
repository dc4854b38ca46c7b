//! The realtime role over real sockets, against the real server, Redis and the ticket role:
//! positions and admissions pushed, seat changes in version order, auth failures, presence
//! kept by an open socket, seat changes coalesced and a stalled reader holding up no one, restarts.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{TestApp, spawn, spawn_with};

struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

async fn connect(app: &TestApp, token: Option<&str>) -> Ws {
    let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
    let url = format!("{}/ws{query}", app.base.replace("http://", "ws://"));
    Ws(tokio_tungstenite::connect_async(url).await.expect("websocket handshake").0)
}

impl Ws {
    async fn say(&mut self, value: Value) {
        self.0.send(Message::Text(value.to_string().into())).await.unwrap();
    }

    async fn subscribe(&mut self, channel: String) {
        self.say(json!({"type": "subscribe", "channel": channel})).await;
    }

    /// The next JSON message (keepalive frames skipped).
    async fn hear(&mut self) -> Value {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.0.next()).await.expect("a message in time");
            match next.expect("socket open").expect("no socket error") {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a JSON message, got {other:?}"),
            }
        }
    }

    /// The next message of `kind`, skipping others.
    async fn hear_type(&mut self, kind: &str) -> Value {
        loop {
            let message = self.hear().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    async fn closed(&mut self) -> (u16, String) {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.0.next()).await.expect("closed in time");
            match next {
                Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return (0, String::new()),
                Some(Ok(_)) => {}
            }
        }
    }
}

fn room(max_active: i32) -> Value {
    json!({"waiting_room": {"enabled": true, "max_active": max_active, "admit_per_minute": 1000}})
}

fn id(event: &Value) -> &str {
    event["id"].as_str().unwrap()
}

async fn queue(app: &TestApp, method: Method, token: &str, event: &Value) -> (StatusCode, Value) {
    app.send(method, &format!("/api/events/{}/queue", id(event)), Some(token), None).await
}

async fn step(app: &TestApp) -> usize {
    tiketi_ticket::queue::admission::step(&app.ticket().await).await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn a_waiter_sees_the_queue_move_and_hears_the_admission(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1)).await;
    let buyers: Vec<String> = futures::future::join_all((0..3).map(|_| app.buyer())).await;
    for buyer in &buyers {
        assert_eq!(queue(&app, Method::POST, buyer, &event).await.0, StatusCode::ACCEPTED);
    }
    let mut ws = connect(&app, Some(&buyers[2])).await;
    ws.subscribe(format!("queue:{}", id(&event))).await;
    let first = ws.hear_type("queue.position").await;
    assert_eq!((first["position"].as_i64(), first["ahead"].as_i64()), (Some(3), Some(2)), "{first}");
    assert_eq!((first["event_id"].as_str(), first["queue_size"].as_i64()), (Some(id(&event)), Some(3)));

    for (admitted, expected) in [(0, 2), (1, 1)] {
        assert_eq!(step(&app).await, 1);
        let moved = ws.hear_type("queue.position").await;
        let moved = if moved["position"] == expected { moved } else { ws.hear_type("queue.position").await };
        assert_eq!(moved["position"].as_i64(), Some(expected), "{moved}");
        // The admitted buyer gives the slot up, so the next step admits the next one.
        assert_eq!(queue(&app, Method::DELETE, &buyers[admitted], &event).await.0, StatusCode::NO_CONTENT);
    }
    assert_eq!(step(&app).await, 1);
    let admitted = ws.hear_type("queue.admitted").await;
    assert_eq!(admitted["event_id"], id(&event));
    let token = admitted["admission_token"].as_str().unwrap();
    assert!(admitted["expires_at"].is_string());

    let seats = app.seat_ids(&event).await;
    let res = app
        .http
        .post(app.url(&format!("/api/events/{}/holds", id(&event))))
        .bearer_auth(&buyers[2])
        .header("x-admission-token", token)
        .json(&json!({"seat_ids": [seats[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "the pushed admission token opens the door");
}

#[sqlx::test(migrations = false)]
async fn seat_changes_arrive_in_version_order(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], json!({})).await;
    let mut ws = connect(&app, Some(&app.buyer().await)).await;
    ws.subscribe(format!("seats:{}", id(&event))).await;
    let subscribed = ws.hear().await;
    assert_eq!(
        (subscribed["type"].as_str(), subscribed["channel"].as_str()),
        (Some("subscribed"), Some(format!("seats:{}", id(&event)).as_str()))
    );
    assert!(subscribed["version"].is_i64(), "a seat channel tells the version: {subscribed}");
    // Subscribed first, then the map: no change can fall between the two.
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    let start = map["version"].as_i64().unwrap();
    let seats = app.seat_ids(&event).await;
    let mut held = Vec::new();
    for seat in seats.iter().take(6) {
        let (status, body) = app.hold(&app.buyer().await, &event, std::slice::from_ref(seat)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        held.push((seat.clone(), body["reservation"]["id"].as_str().unwrap().to_owned()));
    }
    // Coalesced: the first change at once, the rest gathered per window; contiguous versions.
    let mut next = start + 1;
    let mut seen = std::collections::HashMap::new();
    while next <= start + 6 {
        let change = ws.hear_type("seats.changed").await;
        assert_eq!(change["event_id"], id(&event));
        assert_eq!(change["from_version"], next, "contiguous windows");
        next = change["version"].as_i64().unwrap() + 1;
        for seat in change["seats"].as_array().unwrap() {
            seen.insert(seat["id"].as_str().unwrap().to_owned(), seat["status"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(next, start + 7, "exactly the six changes");
    let held: std::collections::HashMap<String, String> =
        held.into_iter().map(|(seat, _)| (seat, "held".to_owned())).collect();
    assert_eq!(seen, held);
}

#[sqlx::test(migrations = false)]
async fn bad_tokens_and_bad_requests_get_clear_answers(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_REALTIME_AUTH_TIMEOUT_SECS", "1")]).await;
    let (code, reason) = connect(&app, Some("not-a-token")).await.closed().await;
    assert_eq!((code, reason.starts_with("INVALID_TOKEN")), (4401, true), "{reason}");

    let (code, reason) = connect(&app, None).await.closed().await;
    assert_eq!((code, reason.starts_with("UNAUTHENTICATED")), (4401, true), "{reason}");

    let stale = app.buyer().await;
    app.clock.advance(chrono::Duration::minutes(16));
    let (code, reason) = connect(&app, Some(&stale)).await.closed().await;
    assert_eq!((code, reason.starts_with("TOKEN_EXPIRED")), (4401, true), "{reason}");

    let mut ws = connect(&app, None).await;
    ws.say(json!({"type": "auth", "token": app.buyer().await})).await;
    ws.say(json!({"type": "ping"})).await;
    assert_eq!(ws.hear().await, json!({"type": "pong"}), "authenticated by the first message");
    ws.0.send(Message::Text("{\"type\":".into())).await.unwrap();
    assert_eq!(ws.hear().await["code"], "MALFORMED_MESSAGE");
    ws.say(json!({"type": "subscribe", "channel": format!("queue:{}:{}", uuid::Uuid::now_v7(), uuid::Uuid::now_v7())}))
        .await;
    assert_eq!(ws.hear().await["code"], "FORBIDDEN_CHANNEL", "another buyer's place");
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1)).await;
    ws.subscribe(format!("queue:{}", id(&event))).await;
    assert_eq!(ws.hear_type("error").await["code"], "NOT_IN_QUEUE", "join over HTTP first");
    ws.say(json!({"type": "ping"})).await;
    assert_eq!(ws.hear_type("pong").await, json!({"type": "pong"}), "still serving after the errors");

    let (status, body) = app.send(Method::GET, "/ws", None, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UPGRADE_REQUIRED, Some("UPGRADE_REQUIRED")));
}

#[sqlx::test(migrations = false)]
async fn an_open_socket_keeps_its_place_in_the_queue(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_REALTIME_PRESENCE_SECS", "1")]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(5)).await;
    let (gone, present) = (app.buyer().await, app.buyer().await);
    queue(&app, Method::POST, &gone, &event).await;
    queue(&app, Method::POST, &present, &event).await;
    let mut ws = connect(&app, Some(&present)).await;
    ws.subscribe(format!("queue:{}", id(&event))).await;
    assert_eq!(ws.hear_type("queue.position").await["position"], 2);
    // Over 60 s (the presence timeout) pass with no poll; the socket is seen every second.
    for _ in 0..2 {
        app.clock.advance(chrono::Duration::seconds(40));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert_eq!(step(&app).await, 1, "only the buyer with an open socket is still waiting");
    assert_eq!(ws.hear_type("queue.admitted").await["event_id"], id(&event));
    assert_eq!(queue(&app, Method::GET, &gone, &event).await.1["code"], "NOT_IN_QUEUE");
}

#[sqlx::test(migrations = false)]
async fn seat_changes_reach_a_healthy_reader_whole_while_a_stalled_one_holds_up_no_one(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_REALTIME_OUTBOX", "8"), ("TIKETI_REALTIME_SEND_TIMEOUT_SECS", "60")]).await;
    let event = uuid::Uuid::now_v7();
    let mut healthy = connect(&app, Some(&app.buyer().await)).await;
    let mut stalled = connect(&app, Some(&app.buyer().await)).await;
    for ws in [&mut healthy, &mut stalled] {
        ws.subscribe(format!("seats:{event}")).await;
        assert_eq!(ws.hear().await["type"], "subscribed");
    }
    // 2,000 changes of 10 seats each, published as fast as Redis takes them.
    let client =
        redis::Client::open(std::env::var("TIKETI_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into())).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("{}seats:{event}", app.settings.common.redis_key_prefix);
    let seats: Vec<uuid::Uuid> = (0..300).map(|_| uuid::Uuid::now_v7()).collect();
    let mut expected = std::collections::HashMap::new();
    let mut changes = Vec::new();
    for version in 1..=2000_i64 {
        let status = ["held", "available", "sold"][usize::try_from(version % 3).unwrap()];
        let touched: Vec<Value> = (0..10)
            .map(|i| {
                let seat = seats[usize::try_from((version * 7 + i * 31) % 300).unwrap()];
                expected.insert(seat.to_string(), status.to_owned());
                json!({"id": seat, "status": status})
            })
            .collect();
        changes.push(json!({"event_id": event, "version": version, "seats": touched}).to_string());
    }
    let publisher = tokio::spawn(async move {
        for payload in changes {
            let _: i64 = redis::cmd("PUBLISH").arg(&channel).arg(payload).query_async(&mut redis).await.unwrap();
        }
    });
    let (mut next, mut messages, mut state) = (1, 0, std::collections::HashMap::new());
    while next <= 2000 {
        let change = healthy.hear_type("seats.changed").await;
        assert_eq!(change["from_version"], next, "contiguous windows");
        next = change["version"].as_i64().unwrap() + 1;
        messages += 1;
        for seat in change["seats"].as_array().unwrap() {
            state.insert(seat["id"].as_str().unwrap().to_owned(), seat["status"].as_str().unwrap().to_owned());
        }
    }
    publisher.await.unwrap();
    assert_eq!(state, expected, "every seat at its last status");
    assert!(messages < 2000, "coalesced into windows ({messages} messages)");

    // The stalled client is still connected, and what it finds ends at the last version: either
    // contiguous windows or a gap it would reload at.
    let mut last = 0;
    while last < 2000 {
        let change = stalled.hear_type("seats.changed").await;
        last = change["version"].as_i64().unwrap();
    }
    stalled.say(json!({"type": "ping"})).await;
    assert_eq!(stalled.hear_type("pong").await["type"], "pong");
}

#[sqlx::test(migrations = false)]
async fn a_bulk_change_too_big_to_push_asks_for_a_reload(pool: PgPool) {
    let app = spawn(pool).await;
    let event = uuid::Uuid::now_v7();
    let mut ws = connect(&app, Some(&app.buyer().await)).await;
    ws.subscribe(format!("seats:{event}")).await;
    assert_eq!(ws.hear().await["type"], "subscribed");
    let seats: Vec<Value> = (0..5000).map(|_| json!({"id": uuid::Uuid::now_v7(), "status": "available"})).collect();
    let client =
        redis::Client::open(std::env::var("TIKETI_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into())).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("{}seats:{event}", app.settings.common.redis_key_prefix);
    let payload = json!({"event_id": event, "version": 7, "seats": seats}).to_string();
    let _: i64 = redis::cmd("PUBLISH").arg(&channel).arg(payload).query_async(&mut redis).await.unwrap();
    assert_eq!(ws.hear().await, json!({"type": "seats.reload", "event_id": event, "version": 7}));
    ws.say(json!({"type": "ping"})).await;
    assert_eq!(ws.hear().await["type"], "pong", "the socket stays open");
}

#[sqlx::test(migrations = false)]
async fn shutdown_asks_clients_to_reconnect(pool: PgPool) {
    let app = spawn(pool).await;
    let mut ws = connect(&app, Some(&app.buyer().await)).await;
    ws.say(json!({"type": "ping"})).await;
    assert_eq!(ws.hear().await["type"], "pong");
    let stopping = tokio::spawn(app.stop());
    assert_eq!(ws.closed().await.0, 1012);
    stopping.await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn open_sockets_bring_their_waiters_back_in_order_after_redis_restarts_empty(pool: PgPool) {
    let port = crate::common::free_port();
    let mut redis = crate::common::start_redis(port).await;
    let app = spawn_with(pool, &[("TIKETI_REDIS_URL", &format!("redis://127.0.0.1:{port}"))]).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], room(1)).await;
    // The first buyer is admitted and told before the loss, and keeps the socket open.
    let first = app.buyer().await;
    queue(&app, Method::POST, &first, &event).await;
    let mut admitted = connect(&app, Some(&first)).await;
    admitted.subscribe(format!("queue:{}", id(&event))).await;
    admitted.hear_type("queue.position").await;
    let mut buyers = Vec::new();
    for _ in 0..4 {
        buyers.push(app.buyer().await);
    }
    let mut sockets = Vec::new();
    for (i, buyer) in buyers.iter().enumerate() {
        queue(&app, Method::POST, buyer, &event).await;
        let mut ws = connect(&app, Some(buyer)).await;
        ws.subscribe(format!("queue:{}", id(&event))).await;
        assert_eq!(ws.hear_type("queue.position").await["position"], i + 2);
        sockets.push(ws);
    }
    assert_eq!(step(&app).await, 1);
    admitted.hear_type("queue.admitted").await;

    redis.kill().await.unwrap();
    redis.wait().await.unwrap();
    let _redis = crate::common::start_redis(port).await;
    // Someone joins after the restart; the sockets' receipts put the four back ahead of them.
    let newcomer = app.buyer().await;
    crate::common::wait_until("joining to work again once Redis is back", 10, || async {
        queue(&app, Method::POST, &newcomer, &event).await.0 == StatusCode::ACCEPTED
    })
    .await;
    assert_eq!(step(&app).await, 0, "the grace: nobody admitted while places come back");
    // Each socket's waiter is back at its old place, without polling with a receipt.
    crate::common::wait_until("every socket's waiter back at its old place", 10, || async {
        let mut positions = Vec::new();
        for buyer in &buyers {
            positions.push(queue(&app, Method::GET, buyer, &event).await.1["position"].as_i64());
        }
        positions == [Some(1), Some(2), Some(3), Some(4)]
    })
    .await;
    assert_eq!(queue(&app, Method::GET, &newcomer, &event).await.1["position"], 5);
    // The admitted buyer's socket brought no place back: they are in, not in line again.
    assert_ne!(queue(&app, Method::GET, &first, &event).await.0, StatusCode::ACCEPTED);
    for ws in &mut sockets {
        let told = ws.hear_type("queue.position").await;
        assert!(told["position"].as_i64().is_some(), "{told}");
    }
}
