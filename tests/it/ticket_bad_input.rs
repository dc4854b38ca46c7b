//! Bad input on every ticket endpoint: 4xx problem+json with a stable code, never a 500.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::common::spawn;

#[sqlx::test(migrations = false)]
async fn every_ticket_endpoint_refuses_bad_input_cleanly(pool: PgPool) {
    let app = spawn(pool).await;
    let event = app.on_sale_event(&[("A", 1, 4, 1000)], json!({})).await;
    let e = event["id"].as_str().unwrap();
    let (admin, buyer) = (app.admin().await, app.buyer().await);
    let venue = |sections: serde_json::Value| json!({"name": "V", "sections": sections});
    let future = Utc::now() + chrono::Duration::days(3);
    let base_event = json!({"title": "T", "artist": "A", "venue_id": uuid::Uuid::now_v7(), "starts_at": future,
                            "sale_opens_at": future, "sale_closes_at": future});
    let huge = "x".repeat(2 * 1024 * 1024);
    // (method, path, bearer token, raw body, expected status)
    type Case<'a> = (Method, String, Option<&'a str>, Option<String>, u16);
    let cases: Vec<Case> = vec![
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some("{\"name\":".into()), 400),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(json!({"name": 5}).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(venue(json!([])).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(venue(json!([{"name": "A", "rows": 0, "seats_per_row": 5, "price": 1}])).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(venue(json!([{"name": "A", "rows": 1000, "seats_per_row": 1000, "price": 1}])).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(venue(json!([{"name": "A", "rows": 1, "seats_per_row": 1, "price": -5}])).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(venue(json!([{"name": "A", "rows": 1, "seats_per_row": 1, "price": 1}, {"name": "a", "rows": 1, "seats_per_row": 1, "price": 1}])).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(venue(json!([{"name": "A", "rows": -1, "seats_per_row": 1, "price": 1}])).to_string()), 422),
        (Method::POST, "/api/admin/venues".into(), Some(&admin), Some(format!("{{\"name\":\"{huge}\"}}")), 413),
        (Method::POST, "/api/admin/events".into(), Some(&admin), Some(base_event.to_string()), 422),
        (Method::POST, "/api/admin/events".into(), Some(&admin), Some(json!({"title": "T"}).to_string()), 422),
        (Method::POST, "/api/admin/events".into(), Some(&admin), Some(json!({"title": "T", "artist": "A", "venue_id": "nope", "starts_at": "tomorrow", "sale_opens_at": 1, "sale_closes_at": null}).to_string()), 422),
        (Method::PATCH, format!("/api/admin/events/{e}"), Some(&admin), Some(json!({"max_seats_per_order": 0}).to_string()), 422),
        (Method::PATCH, format!("/api/admin/events/{e}"), Some(&admin), Some(json!({"sale_opens_at": future + chrono::Duration::days(30)}).to_string()), 422),
        (Method::PATCH, format!("/api/admin/events/{e}"), Some(&admin), Some(json!({"title": "   "}).to_string()), 422),
        (Method::PATCH, format!("/api/admin/events/{e}"), Some(&admin), Some(json!({"poster_url": "javascript:alert(1)"}).to_string()), 422),
        (Method::PATCH, format!("/api/admin/events/{e}"), Some(&admin), Some(json!({"venue_id": uuid::Uuid::now_v7()}).to_string()), 409),
        (Method::PATCH, "/api/admin/events/not-a-uuid".into(), Some(&admin), Some("{}".into()), 404),
        (Method::PATCH, format!("/api/admin/events/{}", uuid::Uuid::now_v7()), Some(&admin), Some("{}".into()), 404),
        (Method::POST, format!("/api/admin/events/{}/cancel", uuid::Uuid::now_v7()), Some(&admin), None, 404),
        (Method::GET, "/api/events/not-a-uuid".into(), None, None, 404),
        (Method::GET, format!("/api/events/{}", uuid::Uuid::now_v7()), None, None, 404),
        (Method::GET, format!("/api/events/{}/seats", uuid::Uuid::now_v7()), None, None, 404),
        (Method::GET, "/api/events/%27%20OR%201%3D1/seats".into(), None, None, 404),
        (Method::GET, "/api/events?q=%27%3B%20DROP%20TABLE%20ticket.events%3B--".into(), None, None, 200),
        (Method::GET, format!("/api/events?q={}", "가".repeat(101)), None, None, 422),
        (Method::GET, "/api/events?page=-1".into(), None, None, 422),
        (Method::POST, format!("/api/events/{e}/holds"), Some(&buyer), Some("[]".into()), 422),
        (Method::POST, format!("/api/events/{e}/holds"), Some(&buyer), Some(json!({"seat_ids": "all"}).to_string()), 422),
        (Method::POST, format!("/api/events/{e}/holds"), Some(&buyer), Some(json!({"seat_ids": ["not-a-uuid"]}).to_string()), 422),
        (Method::POST, format!("/api/events/{e}/holds"), Some(&buyer), Some("{\"seat_ids\": [".into()), 400),
        (Method::POST, format!("/api/events/{e}/holds"), None, Some(json!({"seat_ids": []}).to_string()), 401),
        (Method::POST, format!("/api/events/{}/holds", uuid::Uuid::now_v7()), Some(&buyer), Some(json!({"seat_ids": [uuid::Uuid::now_v7()]}).to_string()), 404),
        (Method::GET, "/api/reservations?limit=1000".into(), Some(&buyer), None, 422),
        (Method::GET, "/api/reservations/not-a-uuid".into(), Some(&buyer), None, 404),
        (Method::POST, format!("/api/reservations/{}/cancel", uuid::Uuid::now_v7()), Some(&buyer), None, 404),
        (Method::GET, format!("/internal/ticket/reservations/{}", uuid::Uuid::now_v7()), Some(&buyer), None, 401),
    ];
    for (method, path, token, body, expected) in cases {
        let mut req = app.http.request(method.clone(), app.url(&path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let text = res.text().await.unwrap();
        assert_eq!(status.as_u16(), expected, "{method} {path}: {text}");
        if status.is_client_error() {
            assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{method} {path}");
            let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(problem["code"].is_string(), "{method} {path}");
        }
        assert!(!text.to_lowercase().contains("sqlx"), "{method} {path} leaks: {text}");
    }
    assert_eq!(app.send(Method::GET, &format!("/api/events/{e}"), None, None).await.0, StatusCode::OK, "still serving");
}
