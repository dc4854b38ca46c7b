//! The built web app served beside the API: the app's routes, cache headers, precompressed
//! files, the security headers, and API paths that never fall back to the app.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common::{self, spawn_with};

/// A stand-in build: `index.html` and one hashed asset with its brotli twin.
fn build() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tiketi-web-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Tiketi</title><div id=root></div>").unwrap();
    std::fs::write(dir.join("assets/index-4f3a2b.js"), "console.log('tiketi')").unwrap();
    std::fs::write(dir.join("assets/index-4f3a2b.js.br"), b"\x0b\x0a\x80console.log('tiketi')\x03").unwrap();
    dir
}

#[sqlx::test(migrations = false)]
async fn the_app_is_served_beside_the_api_with_its_security_headers(pool: PgPool) {
    let dir = build();
    let app = spawn_with(pool, &[("TIKETI_WEB_DIR", dir.to_str().unwrap())]).await;
    let get = |path: &str| app.http.get(app.url(path)).send();

    for page in
        ["/", "/events/0190f3c2-0000-7000-8000-000000000000/seats", "/checkout/success?paymentKey=x", "/admin/reports"]
    {
        let res = get(page).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        let headers = res.headers().clone();
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{page}");
        assert_eq!(headers["cache-control"], "no-cache", "{page}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "frame-src 'none'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(!csp.split(';').any(|d| d.trim().starts_with("script-src") && d.contains("unsafe")), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "strict-origin-when-cross-origin");
        assert!(headers.get("strict-transport-security").is_none(), "not over plain http");
        assert!(res.text().await.unwrap().contains("<div id=root>"));
    }

    // Hashed assets: cached for a year, the precompressed twin for browsers that take it.
    let res =
        app.http.get(app.url("/assets/index-4f3a2b.js")).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "br");
    assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(res.headers()["content-type"].to_str().unwrap().contains("javascript"));
    let res = get("/assets/index-4f3a2b.js").await.unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.text().await.unwrap(), "console.log('tiketi')");

    // A hashed file that is gone, and API paths, stay 404 problems — never the app.
    for missing in ["/assets/index-old.js", "/api/nope", "/api", "/internal/nope", "/webhooks/nope"] {
        let (status, problem) = common::read(get(missing).await.unwrap()).await;
        assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")), "{missing}");
    }
    let (status, config) = common::read(get("/api/config").await.unwrap()).await;
    assert_eq!((status, config), (StatusCode::OK, json!({"grafana_url": null})));
    std::fs::remove_dir_all(dir).unwrap();
}

#[sqlx::test(migrations = false)]
async fn grafana_and_tls_show_in_the_headers(pool: PgPool) {
    let dir = build();
    let app = spawn_with(
        pool,
        &[
            ("TIKETI_WEB_DIR", dir.to_str().unwrap()),
            ("TIKETI_PUBLIC_URL", "https://tickets.example/"),
            ("TIKETI_WEB_GRAFANA_URL", "https://grafana.example/d/tiketi"),
        ],
    )
    .await;
    let res = app.http.get(app.url("/")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-src https://grafana.example;"), "{csp}");
    assert_eq!(res.headers()["strict-transport-security"], "max-age=63072000; includeSubDomains");
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_some(), "the API's answers too");
    let config: Value = app.http.get(app.url("/api/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config, json!({"grafana_url": "https://grafana.example/d/tiketi"}));
    std::fs::remove_dir_all(dir).unwrap();
}

#[sqlx::test(migrations = false)]
async fn without_a_build_only_the_api_answers(pool: PgPool) {
    let app = spawn_with(pool, &[("TIKETI_WEB_DIR", "/nonexistent/tiketi-web")]).await;
    let (status, problem) = common::read(app.http.get(app.url("/events")).send().await.unwrap()).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")));
}
