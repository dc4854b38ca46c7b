//! The real binary: `tiketi up` on a random port over a fresh database, driven over HTTP, then
//! stopped with SIGTERM; and start-up refusing bad configuration with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tiketi");

/// The URL of the database `pool` is connected to.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(pool.connect_options().get_database().unwrap());
    url.to_string()
}

#[sqlx::test(migrations = false)]
async fn tiketi_up_serves_a_round_trip_and_stops_on_sigterm(pool: PgPool) {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let mut child = Command::new(BIN)
        .arg("up")
        .env("TIKETI_PORT", "0")
        .env("TIKETI_DATABASE_URL", database_url(&pool))
        .env("TIKETI_REDIS_KEY_PREFIX", format!("test:{id}:"))
        .env("TIKETI_DATA_DIR", std::env::temp_dir().join(format!("tiketi-up-{id}")))
        .env("TIKETI_LOG_FORMAT", "json")
        .env("TIKETI_LOG", "info")
        .env("TIKETI_ADMIN_EMAIL", "admin@up.test")
        .env("TIKETI_ADMIN_PASSWORD", "dev-only-up-password")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = logs.next_line().await.unwrap() {
            let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
            if entry["message"] == "listening" {
                return entry["addr"].as_str().unwrap().to_owned();
            }
        }
        panic!("tiketi up exited before listening");
    })
    .await
    .expect("listening within a minute");
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let registered: Value = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "round@trip.test", "password": "password123", "name": "Round Trip"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me: Value = http
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(registered["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "round@trip.test");
    let admin = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "admin@up.test", "password": "dev-only-up-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let openapi: Value = http.get(format!("{base}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/auth/jwks",
        "/api/auth/oauth/{provider}/start",
        "/api/auth/oauth/{provider}/callback",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert_eq!(http.get(format!("{base}/api/docs/")).send().await.unwrap().status(), 200);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("tiketi_http_requests_total{method=\"POST\",route=\"/api/auth/register\",status=\"201\"}"),
        "{metrics}"
    );

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("stops").unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = Vec::new();
    while let Some(line) = logs.next_line().await.unwrap() {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l.contains("\"stopped\"")), "{rest:?}");
    assert!(
        !rest.iter().chain(std::iter::once(&String::new())).any(|l| l.contains("dev-only-up-password")),
        "password logged"
    );
}

#[test]
fn a_mistyped_role_lists_the_valid_ones() {
    let out = std::process::Command::new(BIN).args(["serve", "--role", "atuh"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("valid roles: auth, ticket"), "{stderr}");
}

#[test]
fn an_invalid_variable_stops_start_up_and_is_named() {
    let out = std::process::Command::new(BIN)
        .arg("migrate")
        .env("TIKETI_PORT", "eighty")
        .env("TIKETI_DATABASE_URL", "postgres://u:a-secret-password@127.0.0.1:1/db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TIKETI_PORT"), "{stderr}");
    assert!(!stderr.contains("a-secret-password"), "{stderr}");
}
