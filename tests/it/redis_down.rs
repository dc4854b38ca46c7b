//! Redis stopped mid-run: holds answer 503 and leave nothing held, seat maps answer 503 rather
//! than a copy that might be stale, and everything works again once Redis is back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::common::{free_port, spawn_with, start_redis};

#[sqlx::test(migrations = false)]
async fn with_redis_down_holds_answer_503_and_hold_nothing(pool: PgPool) {
    let port = free_port();
    let mut redis = start_redis(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_with(pool, &[("TIKETI_REDIS_URL", &url)]).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let buyer = app.buyer().await;
    assert_eq!(app.hold(&buyer, &event, &seats[0..1]).await.0, StatusCode::CREATED);

    redis.kill().await.unwrap();
    let (status, problem) = app.hold(&buyer, &event, &seats[1..2]).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE")));
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket.seats WHERE status = 'held'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(held, 1, "the failed hold left nothing held");
    let (status, _) =
        app.send(Method::GET, &format!("/api/events/{}/seats", event["id"].as_str().unwrap()), None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no possibly stale seat map");
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    let _redis = start_redis(port).await;
    let mut recovered = false;
    for _ in 0..50 {
        if app.hold(&buyer, &event, &seats[1..2]).await.0 == StatusCode::CREATED {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "holds work again once Redis is back");
    let (status, map) =
        app.send(Method::GET, &format!("/api/events/{}/seats", event["id"].as_str().unwrap()), None, None).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&str> = map["seats"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["held", "held", "available", "available"]);
}
