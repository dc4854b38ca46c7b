//! Test helpers: a real server on port 0 over a fresh database (from `#[sqlx::test]`), real
//! Redis under a key prefix of its own, and a fixed clock the test can move.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi::app::Overrides;
use tiketi::{Application, Role, Settings};
use tiketi_shared::clock::Clock;
use tiketi_shared::config::Env;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Clock,
    pub settings: Settings,
    pub pool: PgPool,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Variables every test server gets: port 0, its own Redis prefix and data folder, quiet logs.
pub fn test_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let data_dir = std::env::temp_dir().join(format!("tiketi-test-{id}"));
    let mut vars: Vec<(String, String)> = vec![
        ("TIKETI_PORT".into(), "0".into()),
        ("TIKETI_REDIS_KEY_PREFIX".into(), format!("test:{id}:")),
        ("TIKETI_DATA_DIR".into(), data_dir.display().to_string()),
        ("TIKETI_LOG".into(), "warn".into()),
    ];
    if let Ok(url) = std::env::var("TIKETI_REDIS_URL") {
        vars.push(("TIKETI_REDIS_URL".into(), url));
    }
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).into(), (*v).into()));
    }
    vars
}

pub async fn spawn(pool: PgPool) -> TestApp {
    spawn_with(pool, &[]).await
}

pub async fn spawn_with(pool: PgPool, extra: &[(&str, &str)]) -> TestApp {
    spawn_env(pool, test_env(extra), Clock::fixed(Utc::now())).await
}

pub async fn spawn_env(pool: PgPool, vars: Vec<(String, String)>, clock: Clock) -> TestApp {
    tiketi_shared::telemetry::init_tracing(tiketi_shared::config::LogFormat::Pretty, "warn");
    let settings = Settings::from_env(Env::from_pairs(vars)).expect("test settings");
    let overrides = Overrides { pool: Some(pool.clone()), clock: clock.clone() };
    let app = Application::build(settings, Role::ALL, overrides, true).await.expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let settings = app.settings().clone();
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(app.run());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { base, http, clock, settings, pool, shutdown, task }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.settings.common.data_dir.clone()
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let res = self.http.post(self.url(path)).json(body).send().await.unwrap();
        read(res).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let res = self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap();
        read(res).await
    }

    /// Registers a fresh account; answers the token response.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let (status, body) =
            self.post("/api/auth/register", &json!({"email": email, "password": password, "name": "Test Buyer"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

pub async fn read(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, body)
}

pub fn unique_email() -> String {
    format!("buyer-{}@example.com", uuid::Uuid::now_v7().simple())
}
