//! `tiketi seed` (what the README's run command does): the demo catalogue in every state,
//! idempotent, and apart from data created through the API.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::common::spawn;

#[sqlx::test(migrations = false)]
async fn the_demo_catalogue_covers_every_state_and_reseeding_adds_nothing(pool: PgPool) {
    let app = spawn(pool).await;
    let mine = app.on_sale_event(&[("A", 1, 2, 1000)], json!({"title": "Created through the API"})).await;
    let ticket = app.ticket().await;
    let first = tiketi_ticket::seed::seed(&ticket).await.unwrap();
    assert_eq!((first.venues, first.events), (3, 20));
    let again = tiketi_ticket::seed::seed(&ticket).await.unwrap();
    assert_eq!((again.venues, again.events), (0, 0), "re-seeding adds nothing");

    let venues: Vec<i32> =
        sqlx::query_scalar("SELECT seat_count FROM ticket.venues WHERE seed_key IS NOT NULL ORDER BY seat_count")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(venues, [300, 5_000, 50_000]);
    let (_, list) = app.send(Method::GET, "/api/events?limit=100", None, None).await;
    let mut states: HashMap<String, usize> = HashMap::new();
    for event in list["items"].as_array().unwrap() {
        *states.entry(event["status"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(list["total"], 21);
    for (state, count) in [("on_sale", 9), ("scheduled", 5), ("sold_out", 2), ("closed", 3), ("cancelled", 2)] {
        assert_eq!(states.get(state).copied(), Some(count), "{state}: {states:?}");
    }
    let with_room: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ticket.events WHERE seed_key IS NOT NULL AND waiting_room_enabled")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(with_room >= 2);
    let (_, untouched) =
        app.send(Method::GET, &format!("/api/events/{}", mine["id"].as_str().unwrap()), None, None).await;
    assert_eq!(untouched["title"], "Created through the API");
}
