//! 500 buyers race for 100 seats with overlapping picks, all at once, against the real server.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::common::spawn_with;

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
