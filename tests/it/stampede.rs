//! 500 buyers race for 100 seats with overlapping picks, all at once, against the real server.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::common::{spawn_with, wait_until};

#[sqlx::test(migrations = false)]
async fn no_seat_is_held_twice_in_a_stampede(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_DATABASE_MAX_CONNECTIONS", "30")]).await;
    let event = app.on_sale_event(&[("Floor", 5, 20, 110_000)], json!({"max_seats_per_order": 4})).await;
    let seats = app.seat_ids(&event).await;
    assert_eq!(seats.len(), 100);

    let mut rng = StdRng::seed_from_u64(20261125);
    let mut buyers = Vec::new();
    for _ in 0..500 {
        let n = rng.gen_range(1..=4);
        let pick: Vec<String> = seats.choose_multiple(&mut rng, n).cloned().collect();
        buyers.push((app.buyer().await, pick));
    }
    let answers = futures::future::join_all(buyers.iter().map(|(token, pick)| app.hold(token, &event, pick))).await;

    let mut held_by: HashMap<String, usize> = HashMap::new();
    let mut winners = 0;
    for (i, (status, body)) in answers.iter().enumerate() {
        match *status {
            StatusCode::CREATED => {
                winners += 1;
                let got: Vec<&str> = body["reservation"]["seats"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_str().unwrap())
                    .collect();
                let asked: HashSet<&str> = buyers[i].1.iter().map(String::as_str).collect();
                assert_eq!(
                    got.iter().copied().collect::<HashSet<_>>(),
                    asked,
                    "a winner gets exactly what it asked for"
                );
                for seat in got {
                    assert!(held_by.insert(seat.to_owned(), i).is_none(), "seat {seat} held twice");
                }
            }
            StatusCode::CONFLICT => assert_eq!(body["code"], "SEAT_UNAVAILABLE", "{body}"),
            other => panic!("buyer {i} got {other}: {body}"),
        }
    }
    assert!(winners > 0 && winners < 500, "{winners} winners");

    let held_in_db: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ticket.seats WHERE event_id = $1::uuid AND status = 'held'")
            .bind(event["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(held_in_db, i64::try_from(held_by.len()).unwrap(), "seats held = sum over the 201 answers");

    let (_, map) =
        app.send(Method::GET, &format!("/api/events/{}/seats", event["id"].as_str().unwrap()), None, None).await;
    let shown_held: HashSet<String> = map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "held")
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        shown_held,
        held_by.keys().cloned().collect::<HashSet<_>>(),
        "the seat map agrees with the reservations"
    );
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket.reservation_seats WHERE live")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, held_in_db);
}

/// Holds that arrive together are written in shared transactions (`holds::batch`), and each ends
/// as it would alone: a seat two holds of one transaction ask for goes to one of them, a buyer's
/// holds in one transaction stay within the buyer's cap, and every hold has its outbox event.
#[sqlx::test(migrations = false)]
async fn holds_sharing_a_transaction_end_as_they_would_alone(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_DATABASE_MAX_CONNECTIONS", "8"), ("TIKETI_TICKET_HOLD_BATCHES", "2")]).await;
    let event = app.on_sale_event(&[("Floor", 4, 10, 50_000)], json!({"max_seats_per_order": 2})).await;
    let seats = app.seat_ids(&event).await;

    // 60 buyers, each asking 4 times at once for one seat of 40: more holds than seats, and every
    // buyer past the cap of 2 if all of theirs went through.
    let mut rng = StdRng::seed_from_u64(20261205);
    let mut asks = Vec::new();
    for _ in 0..60 {
        let buyer = app.buyer().await;
        for _ in 0..4 {
            asks.push((buyer.clone(), vec![seats.choose(&mut rng).unwrap().clone()]));
        }
    }
    let answers = futures::future::join_all(asks.iter().map(|(token, pick)| app.hold(token, &event, pick))).await;

    let mut holder: HashMap<String, &str> = HashMap::new();
    let mut per_buyer: HashMap<&str, usize> = HashMap::new();
    for ((token, pick), (status, body)) in asks.iter().zip(&answers) {
        match *status {
            StatusCode::CREATED => {
                assert_eq!(body["reservation"]["seats"][0]["id"], pick[0].as_str());
                assert!(holder.insert(pick[0].clone(), token).is_none(), "seat {} held twice", pick[0]);
                *per_buyer.entry(token).or_default() += 1;
            }
            StatusCode::CONFLICT => assert_eq!(body["code"], "SEAT_UNAVAILABLE", "{body}"),
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(body["code"], "TOO_MANY_SEATS", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(per_buyer.values().all(|&n| n <= 2), "a buyer over the cap: {per_buyer:?}");
    assert!(answers.iter().any(|(s, _)| *s == StatusCode::UNPROCESSABLE_ENTITY), "some buyer reached the cap");

    let event_id = event["id"].as_str().unwrap();
    let (reservations, transactions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT xmin::text) FROM ticket.reservations WHERE event_id = $1::uuid",
    )
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(reservations, i64::try_from(holder.len()).unwrap(), "one reservation per 201");
    assert!(transactions < reservations, "some holds shared a transaction: {transactions} for {reservations}");
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM ticket.seats WHERE event_id = $1::uuid AND status = 'held' ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut answered: Vec<String> = holder.keys().cloned().collect();
    answered.sort();
    assert_eq!(held, answered, "the seats held are exactly those answered 201");
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'reservation_id' FROM ticket.outbox o
         WHERE kind = 'reservation.held' AND payload->>'event_id' = $1 ORDER BY 1",
    )
    .bind(event_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut ids: Vec<String> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b["reservation"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(events, ids, "one reservation.held per hold");
}

/// A buyer who gives up while the batch writing their hold is under way keeps no seat: nobody will
/// learn of that reservation, so it is cancelled once the batch commits and the seat is free again.
#[sqlx::test(migrations = false)]
async fn a_hold_whose_buyer_left_while_its_batch_was_written_is_cancelled(pool: PgPool) {
    let app = spawn_with(pool, &[]).await;
    let event = app.on_sale_event(&[("Floor", 1, 4, 50_000)], json!({})).await;
    let (event_id, seat) = (event["id"].as_str().unwrap().to_owned(), app.seat_ids(&event).await.remove(0));
    let user = uuid::Uuid::now_v7();
    let token = app.token_for(user, tiketi_shared::token::UserRole::User).await;

    // The buyer's hold lock, taken here: the batch writing this hold waits for it in its BEGIN.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("hold:{user}:{event_id}"))
        .execute(&mut *blocker)
        .await
        .unwrap();
    let impatient = reqwest::Client::builder().timeout(std::time::Duration::from_millis(500)).build().unwrap();
    let gave_up = impatient
        .post(app.url(&format!("/api/events/{event_id}/holds")))
        .bearer_auth(&token)
        .json(&json!({"seat_ids": [seat]}))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "the hold waits for the buyer's lock");
    blocker.commit().await.unwrap();

    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM ticket.reservations WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    };
    wait_until("the hold nobody awaits to be cancelled", 10, || async {
        status().await.as_deref() == Some("cancelled")
    })
    .await;
    let (code, body) = app.hold(&app.buyer().await, &event, &[seat]).await;
    assert_eq!(code, StatusCode::CREATED, "the seat is free again: {body}");
}
