//! The ticket service against a real server, PostgreSQL and Redis: catalogue, seat maps, holds,
//! expiry, caps, sale windows, admin rights, the internal API and seat-change publication.

use std::sync::Arc;

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_shared::events::{DomainEvent, Envelope, ReservationConfirmed};
use tiketi_shared::ids::EventId;
use tiketi_shared::internal::{InternalClient, ServiceTokenSigner};
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_shared::seat_changes::{self, SeatStatus, SeatsChanged};

use crate::common::{TestApp, spawn};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[sqlx::test(migrations = false)]
async fn admins_create_venues_and_events_with_every_seat(pool: PgPool) {
    let app = spawn(pool).await;
    let event =
        app.on_sale_event(&[("VIP", 2, 5, 150_000), ("R", 3, 10, 99_000)], json!({"max_seats_per_order": 6})).await;
    assert_eq!(event["status"], "on_sale");
    assert_eq!((event["min_price"].as_i64(), event["max_price"].as_i64()), (Some(99_000), Some(150_000)));
    assert_eq!(event["max_seats_per_order"], 6);
    assert_eq!(event["waiting_room"]["enabled"], false);
    let sections = event["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 2);
    assert_eq!((sections[0]["seat_count"].as_i64(), sections[0]["available"].as_i64()), (Some(10), Some(10)));

    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    let seats = map["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 40);
    assert_eq!(seats[0]["label"], "VIP A-1");
    assert_eq!(seats[39]["label"], "R C-10");
    assert!(seats.iter().all(|s| s["status"] == "available"));
}

#[sqlx::test(migrations = false)]
async fn a_50000_seat_event_is_created_in_one_go(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("Floor", 50, 100, 198_000), ("Stands", 225, 200, 132_000)], json!({})).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket.seats WHERE event_id = $1::uuid")
        .bind(id(&event))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 50_000);
}

#[sqlx::test(migrations = false)]
async fn only_admins_touch_the_catalogue(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 1, 1000)], json!({})).await;
    let buyer = app.buyer().await;
    let venue = json!({"name": "X", "sections": [{"name": "A", "rows": 1, "seats_per_row": 1, "price": 1}]});
    let paths = [
        (Method::POST, "/api/admin/venues".to_owned(), venue.clone()),
        (Method::POST, "/api/admin/events".to_owned(), json!({})),
        (Method::PATCH, format!("/api/admin/events/{}", id(&event)), json!({"title": "Mine"})),
        (Method::POST, format!("/api/admin/events/{}/cancel", id(&event)), json!({})),
    ];
    for (method, path, body) in paths {
        let (status, problem) = app.send(method.clone(), &path, Some(&buyer), Some(&body)).await;
        assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("FORBIDDEN")), "{method} {path}");
        let (status, _) = app.send(method.clone(), &path, None, Some(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[sqlx::test(migrations = false)]
async fn admins_list_venues_newest_first(pool: PgPool) {
    let app = spawn(pool).await;
    let admin = app.admin().await;
    for (name, rows) in [("Older Hall", 2), ("Newer Arena", 3)] {
        let venue = json!({"name": name, "address": "Seoul",
            "sections": [{"name": "R", "rows": rows, "seats_per_row": 4, "price": 99_000}, {"name": "S", "rows": 1, "seats_per_row": 2, "price": 77_000}]});
        let (status, created) = app.send(Method::POST, "/api/admin/venues", Some(&admin), Some(&venue)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }

    let (status, list) = app.send(Method::GET, "/api/admin/venues", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!((list["page"].as_i64(), list["limit"].as_i64(), list["total"].as_i64()), (Some(1), Some(20), Some(2)));
    let items = list["items"].as_array().unwrap();
    let names: Vec<_> = items.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Newer Arena", "Older Hall"]);
    let newest = &items[0];
    assert_eq!((newest["address"].as_str(), newest["seat_count"].as_i64()), (Some("Seoul"), Some(14)));
    let sections: Vec<_> = newest["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["rows"].as_i64().unwrap(), s["seat_count"].as_i64().unwrap()))
        .collect();
    assert_eq!(sections, [("R", 3, 12), ("S", 1, 2)]);

    let (_, second) = app.send(Method::GET, "/api/admin/venues?limit=1&page=2", Some(&admin), None).await;
    assert_eq!(second["items"][0]["name"], "Older Hall");
    assert_eq!(second["total"], 2);
    let (_, beyond) = app.send(Method::GET, "/api/admin/venues?limit=1&page=3", Some(&admin), None).await;
    assert_eq!((beyond["items"].as_array().map(Vec::len), beyond["total"].as_i64()), (Some(0), Some(2)));
    let (status, _) = app.send(Method::GET, "/api/admin/venues?limit=100&page=100000", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "a page far past the end is empty");
    for bad in ["limit=0", "limit=101", "page=0", "page=100001", "page=4294967295"] {
        let (status, _) = app.send(Method::GET, &format!("/api/admin/venues?{bad}"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }

    let (_, doc) = app.send(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(doc["paths"]["/api/admin/venues"]["get"]["operationId"], "list_venues", "documented");

    let buyer = app.buyer().await;
    let (status, problem) = app.send(Method::GET, "/api/admin/venues", Some(&buyer), None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("FORBIDDEN")));
    let (status, _) = app.send(Method::GET, "/api/admin/venues", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = false)]
async fn events_are_listed_searched_filtered_and_paginated(pool: PgPool) {
    let app = spawn(pool).await;
    let admin = app.admin().await;
    app.on_sale_event(&[("A", 1, 2, 1000)], json!({"title": "별빛 콘서트", "artist": "윤하늘"})).await;
    app.on_sale_event(&[("A", 1, 2, 1000)], json!({"title": "Midnight Jazz", "artist": "Quartet"})).await;
    let later = app.on_sale_event(&[("A", 1, 2, 1000)], json!({"title": "Future Show", "artist": "Nova"})).await;
    let now = app.clock.now();
    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/api/admin/events/{}", id(&later)),
            Some(&admin),
            Some(&json!({"sale_opens_at": now + Duration::days(1)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let list = |query: &'static str| {
        let app = &app;
        async move { app.send(Method::GET, &format!("/api/events?{query}"), None, None).await.1 }
    };
    let titles = |page: &Value| {
        page["items"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(list("").await["total"], 3);
    assert_eq!(titles(&list("q=%EB%B3%84%EB%B9%9B").await), ["별빛 콘서트"], "Korean partial word");
    assert_eq!(titles(&list("q=하늘").await), ["별빛 콘서트"], "artist");
    assert_eq!(titles(&list("q=JAZ").await), ["Midnight Jazz"], "case-insensitive partial");
    assert_eq!(titles(&list("q=test%20hall&limit=1").await).len(), 1, "venue name");
    assert_eq!(list("q=test%20hall&limit=1").await["total"], 3);
    assert_eq!(titles(&list("status=scheduled").await), ["Future Show"]);
    assert_eq!(list("status=on_sale").await["total"], 2);
    assert_eq!(list("q=100%25").await["total"], 0, "% is literal");
    let page2 = list("limit=2&page=2").await;
    assert_eq!(
        (page2["page"].as_i64(), page2["limit"].as_i64(), page2["items"].as_array().unwrap().len()),
        (Some(2), Some(2), 1)
    );
    for bad in ["limit=0", "limit=101", "page=0", "page=2147483648", "status=sideways", "limit=abc"] {
        let res = app.http.get(app.url(&format!("/api/events?{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

#[sqlx::test(migrations = false)]
async fn the_seat_map_is_versioned_compressed_and_revalidated(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 2, 5, 1000)], json!({})).await;
    let path = format!("/api/events/{}/seats", id(&event));
    let first = app.http.get(app.url(&path)).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let map: Value = first.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", map["version"]));

    let same = app.http.get(app.url(&path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
    let gz = app.http.get(app.url(&path)).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");

    let seat = map["seats"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.hold(&app.buyer().await, &event, std::slice::from_ref(&seat)).await;
    assert_eq!(status, StatusCode::CREATED);
    let changed = app.http.get(app.url(&path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "a change invalidates the old ETag at once");
    let map2: Value = changed.json().await.unwrap();
    assert_eq!(map2["version"].as_i64().unwrap(), map["version"].as_i64().unwrap() + 1);
    assert_eq!(map2["seats"][0]["status"], "held");
    let (_, detail) = app.send(Method::GET, &format!("/api/events/{}", id(&event)), None, None).await;
    assert_eq!(detail["sections"][0]["available"], 9, "the cached detail was invalidated too");
}

#[sqlx::test(migrations = false)]
async fn seat_changes_are_published_in_version_order(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], json!({"max_seats_per_order": 10})).await;
    let seats = app.seat_ids(&event).await;
    let client =
        redis::Client::open(std::env::var("TIKETI_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".into())).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    let prefix = &app.settings.common.redis_key_prefix;
    let event_id: EventId = id(&event).parse().unwrap();
    pubsub.subscribe(format!("{prefix}{}", seat_changes::channel(event_id))).await.unwrap();

    let buyer = app.buyer().await;
    let (_, held) = app.hold(&buyer, &event, &seats[0..2]).await;
    app.hold(&buyer, &event, &seats[2..3]).await;
    app.send(
        Method::POST,
        &format!("/api/reservations/{}/cancel", held["reservation"]["id"].as_str().unwrap()),
        Some(&buyer),
        None,
    )
    .await;

    use futures::StreamExt;
    let mut messages = pubsub.on_message();
    let mut got = Vec::new();
    for _ in 0..3 {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next()).await.unwrap().unwrap();
        // The script writes the version into the message: it must read as the shared type.
        got.push(serde_json::from_str::<SeatsChanged>(&msg.get_payload::<String>().unwrap()).unwrap());
    }
    assert!(got.iter().all(|m| m.event_id == event_id));
    let versions: Vec<i64> = got.iter().map(|m| m.version).collect();
    assert_eq!(versions[1], versions[0] + 1);
    assert_eq!(versions[2], versions[1] + 1);
    assert_eq!(got[0].seats.len(), 2);
    assert_eq!(got[0].seats[0].status, SeatStatus::Held);
    assert_eq!(got[2].seats[0].status, SeatStatus::Available);
    let outbox: Vec<String> = sqlx::query_scalar("SELECT kind FROM ticket.outbox ORDER BY created_at, id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        outbox,
        ["event.created", "event.seats", "reservation.held", "reservation.held", "reservation.cancelled"]
    );
}

#[sqlx::test(migrations = false)]
async fn a_holds_event_names_the_seats_it_took_and_the_sum_of_their_prices(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 2, 1000), ("B", 1, 2, 2500)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let (asked_a, asked_b) = (seats[1].clone(), seats[2].clone());
    let buyer = app.buyer().await;
    let (status, held) = app.hold(&buyer, &event, &[asked_b.clone(), asked_a.clone()]).await;
    assert_eq!(status, StatusCode::CREATED);

    let envelope: Envelope = sqlx::query_as::<_, (uuid::Uuid, String, uuid::Uuid, i64, Value, chrono::DateTime<chrono::Utc>)>(
        "SELECT id, kind, aggregate_id, version, payload, created_at FROM ticket.outbox WHERE kind = 'reservation.held'",
    )
    .fetch_one(&app.pool)
    .await
    .map(|(id, kind, aggregate_id, version, payload, occurred_at)| Envelope { id, kind, aggregate_id, occurred_at, version, payload })
    .unwrap();
    let Some(DomainEvent::ReservationHeld(told)) = envelope.event().unwrap() else { panic!("{envelope:?}") };
    let reservation = &held["reservation"];
    assert_eq!(told.reservation_id.to_string(), reservation["id"].as_str().unwrap());
    assert_eq!(envelope.aggregate_id.to_string(), reservation["id"].as_str().unwrap());
    assert_eq!(told.event_id.to_string(), id(&event));
    assert_eq!((told.amount, reservation["amount"].as_i64()), (3500, Some(3500)), "the prices the statement found");
    let mut asked = [asked_a, asked_b];
    asked.sort();
    let mut told_seats: Vec<String> = told.seat_ids.iter().map(ToString::to_string).collect();
    told_seats.sort();
    assert_eq!(told_seats, asked);
    let expires: chrono::DateTime<chrono::Utc> = reservation["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((told.expires_at - expires).num_milliseconds().abs() < 1, "{} vs {expires}", told.expires_at);
    assert_eq!(envelope.version, 1);
}

#[sqlx::test(migrations = false)]
async fn a_hold_is_all_or_nothing(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let (status, first) = app.hold(&app.buyer().await, &event, &seats[0..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["reservation"]["status"], "pending");
    assert_eq!(first["reservation"]["amount"], 2000);

    let (status, problem) = app.hold(&app.buyer().await, &event, &[seats[1].clone(), seats[2].clone()]).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("SEAT_UNAVAILABLE")));
    assert_eq!(problem["seat_ids"], json!([seats[1]]));
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    assert_eq!(map["seats"][2]["status"], "available", "nothing was held");
}

/// A confirm, a release or an expiry finds its reservation and that reservation's seats by key,
/// however many holds the sale has. Statistics are taken before a sale, when nothing is held or
/// pending; an index of only held seats or only pending reservations then looks empty, and the
/// planner once scanned every hold of the sale through it to find one (a confirm cost more with
/// each hold).
#[sqlx::test(migrations = false)]
async fn one_reservation_is_found_by_key_not_among_every_hold_of_the_sale(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("R", 40, 50, 99_000)], json!({})).await;
    // Earlier sales left reservations that ended; nothing is pending when statistics are taken.
    sqlx::query(
        "INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
         SELECT gen_random_uuid(), $1::uuid, gen_random_uuid(), 'expired', 99000, now(), now(), now()
         FROM generate_series(1, 500)",
    )
    .bind(id(&event))
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE ticket.seats, ticket.reservations").execute(&app.pool).await.unwrap();
    // 1,500 holds of one seat each, written directly (the API would take a while).
    let held: Vec<tiketi_shared::ids::ReservationId> = sqlx::query_scalar(
        "WITH held AS (
           UPDATE ticket.seats SET status = 'held', held_until = now() + interval '10 minutes',
             reservation_id = gen_random_uuid()
           WHERE id IN (SELECT id FROM ticket.seats WHERE event_id = $1::uuid ORDER BY id LIMIT 1500)
           RETURNING reservation_id, event_id)
         INSERT INTO ticket.reservations (id, event_id, user_id, status, amount, expires_at, created_at, updated_at)
         SELECT reservation_id, event_id, gen_random_uuid(), 'pending', 99000, now() + interval '10 minutes', now(), now()
         FROM held RETURNING id",
    )
    .bind(id(&event))
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(held.len(), 1500);
    let explain = |statement: &str| format!("EXPLAIN (FORMAT JSON) {statement}");
    let (confirm, release, end) = (
        explain(&tiketi_ticket::settle::CONFIRM),
        explain(tiketi_ticket::reservations::RELEASE_SEATS),
        explain(tiketi_ticket::reservations::END_HOLD),
    );
    let now = chrono::Utc::now();
    let confirmed = Envelope::new(
        &DomainEvent::ReservationConfirmed(ReservationConfirmed {
            reservation_id: held[700],
            event_id: id(&event).parse().unwrap(),
            user_id: None,
            seat_ids: vec![],
            amount: 99_000,
        }),
        2,
        now,
    );
    let confirm =
        tiketi_shared::events::bind_event(sqlx::query_as(&confirm).bind(held[700]).bind(now).bind(1), &confirmed);
    for (what, by_key, explain) in [
        ("confirm", &["seats_reservation", "reservations_pkey"][..], confirm),
        ("release", &["seats_reservation"], sqlx::query_as(&release).bind(held[700]).bind("held")),
        ("expire", &["reservations_pkey"], sqlx::query_as(&end).bind(held[700]).bind("expired").bind(now)),
    ] {
        let (plan,): (Value,) = explain.fetch_one(&app.pool).await.unwrap();
        let plan = plan.to_string();
        for index in by_key {
            assert!(plan.contains(&format!(r#""Index Name":"{index}""#)), "{what} does not use {index}: {plan}");
        }
        for every_hold in ["seats_event_hold", "reservations_pending_expiry", "reservations_event_user"] {
            assert!(!plan.contains(every_hold), "{what} scans {every_hold}: {plan}");
        }
    }
}

#[sqlx::test(migrations = false)]
async fn bad_seat_picks_are_refused(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], json!({"max_seats_per_order": 3})).await;
    let other = app.on_sale_event(&[("A", 1, 2, 1000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let foreign = app.seat_ids(&other).await;
    let buyer = app.buyer().await;
    let cases = [
        (vec![], "VALIDATION_FAILED"),
        (seats[0..4].to_vec(), "TOO_MANY_SEATS"),
        (vec![seats[0].clone(), seats[0].clone()], "INVALID_SEATS"),
        (vec![seats[0].clone(), foreign[0].clone()], "INVALID_SEATS"),
        (vec![uuid::Uuid::now_v7().to_string()], "INVALID_SEATS"),
    ];
    for (pick, code) in cases {
        let (status, problem) = app.hold(&buyer, &event, &pick).await;
        assert_eq!((status, problem["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{pick:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_buyer_cap_counts_every_live_reservation(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 10, 1000)], json!({"max_seats_per_order": 3})).await;
    let seats = app.seat_ids(&event).await;
    let buyer = app.buyer().await;
    assert_eq!(app.hold(&buyer, &event, &seats[0..2]).await.0, StatusCode::CREATED);
    let (status, problem) = app.hold(&buyer, &event, &seats[2..4]).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("TOO_MANY_SEATS")));
    assert_eq!(app.hold(&buyer, &event, &seats[2..3]).await.0, StatusCode::CREATED);
    assert_eq!(app.hold(&app.buyer().await, &event, &seats[3..6]).await.0, StatusCode::CREATED, "another buyer");

    // Concurrent attempts by one buyer cannot slip past the cap together.
    let racer = app.buyer().await;
    let attempts = (6..10).map(|i| app.hold(&racer, &event, &seats[i..=i]));
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 3);
}

#[sqlx::test(migrations = false)]
async fn holds_respect_the_sale_window_cancellation_and_the_waiting_room(pool: PgPool) {
    let app = spawn(pool).await;
    let admin = app.admin().await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let buyer = app.buyer().await;
    let patch = |body: Value| {
        let (app, admin, path) = (&app, &admin, format!("/api/admin/events/{}", id(&event)));
        async move { assert_eq!(app.send(Method::PATCH, &path, Some(admin), Some(&body)).await.0, StatusCode::OK) }
    };
    let now = app.clock.now();
    patch(json!({"sale_opens_at": now + Duration::hours(1)})).await;
    assert_eq!(app.hold(&buyer, &event, &seats[0..1]).await.1["code"], "SALE_NOT_OPEN");
    patch(json!({"sale_opens_at": now - Duration::days(2), "sale_closes_at": now - Duration::days(1)})).await;
    assert_eq!(app.hold(&buyer, &event, &seats[0..1]).await.1["code"], "SALE_CLOSED");
    patch(json!({"sale_closes_at": now + Duration::days(1), "waiting_room": {"enabled": true, "max_active": 10, "admit_per_minute": 10}})).await;
    let (status, problem) = app.hold(&buyer, &event, &seats[0..1]).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("NOT_ADMITTED")));
    patch(json!({"waiting_room": {"enabled": false, "max_active": 10, "admit_per_minute": 10}})).await;
    assert_eq!(app.hold(&buyer, &event, &seats[0..1]).await.0, StatusCode::CREATED);

    let (status, cancelled) =
        app.send(Method::POST, &format!("/api/admin/events/{}/cancel", id(&event)), Some(&admin), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_eq!(app.hold(&buyer, &event, &seats[1..2]).await.1["code"], "EVENT_CANCELLED");
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    assert!(
        map["seats"].as_array().unwrap().iter().all(|s| s["status"] == "available"),
        "cancelling released the hold"
    );
    let (_, reservations) = app.send(Method::GET, "/api/reservations", Some(&buyer), None).await;
    assert_eq!(reservations["items"][0]["status"], "cancelled");
}

#[sqlx::test(migrations = false)]
async fn holds_expire_on_the_clock_lazily_and_by_the_sweeper(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let (alice_id, bob_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let user = tiketi_shared::token::UserRole::User;
    let (alice, bob) = (app.token_for(alice_id, user).await, app.token_for(bob_id, user).await);
    let (_, held) = app.hold(&alice, &event, &seats[0..2]).await;
    let reservation = held["reservation"]["id"].as_str().unwrap().to_owned();
    let (_, other) = app.hold(&bob, &event, &seats[2..3]).await;
    let other = other["reservation"]["id"].as_str().unwrap().to_owned();

    app.clock.advance(Duration::minutes(19));
    // Access tokens last 15 minutes; the buyers signed in again.
    let bob = app.token_for(bob_id, user).await;
    assert_eq!(app.hold(&bob, &event, &seats[0..1]).await.0, StatusCode::CONFLICT, "still held at 19 minutes");
    app.clock.advance(Duration::minutes(2));
    let (alice, bob) = (app.token_for(alice_id, user).await, app.token_for(bob_id, user).await);
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    assert!(
        map["seats"].as_array().unwrap().iter().all(|s| s["status"] == "available"),
        "expired holds are shown free"
    );

    // Bob takes one seat of Alice's expired hold: her whole hold ends and her other seat is freed.
    let (status, _) = app.hold(&bob, &event, &seats[0..1]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mine) = app.send(Method::GET, &format!("/api/reservations/{reservation}"), Some(&alice), None).await;
    assert_eq!(mine["reservation"]["status"], "expired");
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    let statuses: Vec<&str> = map["seats"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["held", "available", "available", "available"], "bob's first hold expired too (shown free)");

    // The sweeper makes it so in the database (unless the worker's delayed expiry was first).
    let ticket = app.ticket().await;
    tiketi_ticket::sweeper::sweep(&ticket).await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM ticket.reservations WHERE id = $1::uuid")
        .bind(&other)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "expired");
}

/// Asserts an internal call was answered 409 `HOLD_EXPIRED`.
fn hold_expired(answer: Result<Value, tiketi_shared::internal::InternalError>) {
    match answer {
        Err(tiketi_shared::internal::InternalError::Status { status: 409, body, .. }) => {
            assert!(body.contains("HOLD_EXPIRED"), "{body}")
        }
        other => panic!("expected HOLD_EXPIRED, got {other:?}"),
    }
}

async fn payment_client(app: &TestApp) -> InternalClient {
    let keys = LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Service).await.unwrap();
    let signer = Arc::new(ServiceTokenSigner::new("payment", keys, app.clock.clone()));
    InternalClient::new(url::Url::parse(&app.base).unwrap(), signer)
}

#[sqlx::test(migrations = false)]
async fn the_payment_role_confirms_releases_and_refunds_through_the_internal_api(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 6, 5000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let buyer = app.buyer().await;
    let payment = payment_client(&app).await;
    let (_, held) = app.hold(&buyer, &event, &seats[0..2]).await;
    let r = held["reservation"]["id"].as_str().unwrap().to_owned();

    let checkout: Value = payment.get("ticket", &format!("/internal/ticket/reservations/{r}")).await.unwrap();
    assert_eq!(checkout["reservation"]["amount"], 10_000);
    assert!(checkout["reservation"]["user_id"].is_string(), "the owner, for the order");
    let confirmed: Value =
        payment.post("ticket", &format!("/internal/ticket/reservations/{r}/confirm"), &json!({})).await.unwrap();
    assert_eq!(confirmed["reservation"]["status"], "confirmed");
    let again: Value =
        payment.post("ticket", &format!("/internal/ticket/reservations/{r}/confirm"), &json!({})).await.unwrap();
    assert_eq!(again["reservation"]["status"], "confirmed", "confirming twice answers the same");
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    assert_eq!((map["seats"][0]["status"].as_str(), map["seats"][1]["status"].as_str()), (Some("sold"), Some("sold")));
    let (status, problem) = app.send(Method::POST, &format!("/api/reservations/{r}/cancel"), Some(&buyer), None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("NOT_CANCELLABLE")));

    let refunded: Value =
        payment.post("ticket", &format!("/internal/ticket/reservations/{r}/refunded"), &json!({})).await.unwrap();
    assert_eq!(refunded["reservation"]["status"], "refunded");
    let (_, map) = app.send(Method::GET, &format!("/api/events/{}/seats", id(&event)), None, None).await;
    assert_eq!(map["seats"][0]["status"], "available", "refunded seats go back on sale");

    // A hold that lost a seat after expiring cannot be confirmed.
    let (_, late) = app.hold(&buyer, &event, &seats[2..4]).await;
    let late = late["reservation"]["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::minutes(25));
    let buyer = app.buyer().await;
    assert_eq!(app.hold(&app.buyer().await, &event, &seats[3..4]).await.0, StatusCode::CREATED);
    hold_expired(
        payment.post::<_, Value>("ticket", &format!("/internal/ticket/reservations/{late}/confirm"), &json!({})).await,
    );
    // Release is for pending holds (a failed payment) and is idempotent.
    let (_, pending) = app.hold(&buyer, &event, &seats[4..5]).await;
    let pending = pending["reservation"]["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let released: Value = payment
            .post("ticket", &format!("/internal/ticket/reservations/{pending}/release"), &json!({}))
            .await
            .unwrap();
        assert_eq!(released["reservation"]["status"], "cancelled");
    }
    let res =
        app.http.get(app.url(&format!("/internal/ticket/reservations/{r}"))).bearer_auth(&buyer).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a user's token is no service token");
}

/// A confirm is one statement whose parts always run, so each part carries the whole condition:
/// a hold that no longer has every seat sells none of them, and confirms that race (the buyer's
/// and a webhook's) sell once, write one event and all answer confirmed.
#[sqlx::test(migrations = false)]
async fn a_confirm_sells_every_seat_of_the_hold_once_or_none(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 4, 5000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let payment = payment_client(&app).await;
    let confirm = |r: String| {
        let payment = payment.clone();
        async move {
            payment.post::<_, Value>("ticket", &format!("/internal/ticket/reservations/{r}/confirm"), &json!({})).await
        }
    };
    let status = |sql: &'static str, r: String| {
        let pool = app.pool.clone();
        async move { sqlx::query_scalar::<_, String>(sql).bind(r).fetch_all(&pool).await.unwrap() }
    };
    let seat_statuses = "SELECT status FROM ticket.seats WHERE reservation_id = $1::uuid ORDER BY id";
    let events = "SELECT kind FROM ticket.outbox WHERE aggregate_id = $1::uuid ORDER BY created_at, id";

    // A state no path leaves (a taken seat expires its hold), set by hand: one seat is gone.
    let (_, broken) = app.hold(&app.buyer().await, &event, &seats[0..2]).await;
    let broken = broken["reservation"]["id"].as_str().unwrap().to_owned();
    sqlx::query(
        "UPDATE ticket.seats SET status = 'available', reservation_id = NULL, held_until = NULL WHERE id = $1::uuid",
    )
    .bind(&seats[1])
    .execute(&app.pool)
    .await
    .unwrap();
    hold_expired(confirm(broken.clone()).await);
    assert_eq!(status(seat_statuses, broken.clone()).await, ["held"], "the seat left is not sold");
    assert_eq!(status(events, broken.clone()).await, ["reservation.held"]);

    let (_, raced) = app.hold(&app.buyer().await, &event, &seats[2..4]).await;
    let raced = raced["reservation"]["id"].as_str().unwrap().to_owned();
    let answers = futures::future::join_all((0..8).map(|_| confirm(raced.clone()))).await;
    for answer in answers {
        assert_eq!(answer.unwrap()["reservation"]["status"], "confirmed");
    }
    assert_eq!(status(seat_statuses, raced.clone()).await, ["sold", "sold"]);
    assert_eq!(status(events, raced.clone()).await, ["reservation.held", "reservation.confirmed"]);
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM ticket.outbox WHERE aggregate_id = $1::uuid AND kind = 'reservation.confirmed'",
    )
    .bind(&raced)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(payload["seat_ids"], json!(seats[2..4]));
    assert_eq!(payload["amount"], 10_000);
}

#[sqlx::test(migrations = false)]
async fn cancelling_an_event_marks_paid_reservations_for_refund(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 4, 5000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let payment = payment_client(&app).await;
    let (_, paid) = app.hold(&app.buyer().await, &event, &seats[0..1]).await;
    let paid = paid["reservation"]["id"].as_str().unwrap().to_owned();
    payment
        .post::<_, Value>("ticket", &format!("/internal/ticket/reservations/{paid}/confirm"), &json!({}))
        .await
        .unwrap();
    app.hold(&app.buyer().await, &event, &seats[1..2]).await;

    let (status, _) = app
        .send(Method::POST, &format!("/api/admin/events/{}/cancel", id(&event)), Some(&app.admin().await), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let payload: Value = sqlx::query_scalar("SELECT payload FROM ticket.outbox WHERE kind = 'event.cancelled'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payload["refund_reservations"], json!([paid]));
    assert_eq!(payload["cancelled_reservations"].as_array().unwrap().len(), 1);
    let marked: bool =
        sqlx::query_scalar("SELECT refund_requested_at IS NOT NULL FROM ticket.reservations WHERE id = $1::uuid")
            .bind(&paid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(marked);
}

#[sqlx::test(migrations = false)]
async fn reservations_are_private_to_their_owner_and_admins(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let owner = app.buyer().await;
    let (_, held) = app.hold(&owner, &event, &seats[0..1]).await;
    let path = format!("/api/reservations/{}", held["reservation"]["id"].as_str().unwrap());
    assert_eq!(app.send(Method::GET, &path, Some(&owner), None).await.0, StatusCode::OK);
    assert_eq!(app.send(Method::GET, &path, Some(&app.admin().await), None).await.0, StatusCode::OK);
    assert_eq!(app.send(Method::GET, &path, Some(&app.buyer().await), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.send(Method::POST, &format!("{path}/cancel"), Some(&app.buyer().await), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app.send(Method::GET, "/api/reservations", Some(&app.buyer().await), None).await;
    assert_eq!(list["total"], 0);
    let (status, cancelled) = app.send(Method::POST, &format!("{path}/cancel"), Some(&owner), None).await;
    assert_eq!((status, cancelled["reservation"]["status"].as_str()), (StatusCode::OK, Some("cancelled")));
}
