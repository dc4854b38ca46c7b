//! Test helpers: a real server on port 0 over a fresh database (from `#[sqlx::test]`), real
//! Redis under a key prefix of its own, and a fixed clock the test can move.

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
        // Tests run admission steps themselves, so they see exactly what each step did.
        ("TIKETI_QUEUE_ADMIT_EVERY_MS".into(), "0".into()),
        // Queues, topic and table of the test's own in the emulator: no test reads another's messages.
        ("TIKETI_AWS_NAME_PREFIX".into(), format!("t{id}-")),
        ("TIKETI_AWS_BOOTSTRAP".into(), "true".into()),
        // Tests read the seat map right after changing it and expect to see the change; the
        // production default (snapshots up to 1 s old, versions telling the rest) is tested in
        // seatmap.rs.
        ("TIKETI_TICKET_SEAT_MAP_MAX_AGE_MS".into(), "0".into()),
        // A failed message comes back at once, so retries and dead letters take no waiting.
        ("TIKETI_WORKER_RETRY_BASE_MS".into(), "0".into()),
        ("TIKETI_STATS_RETRY_BASE_MS".into(), "0".into()),
        // Tests read the stats right after changing them.
        ("TIKETI_STATS_REUSE_MS".into(), "0".into()),
        // Reports are requested by the tests; the daily one would add its own.
        ("TIKETI_STATS_DAILY_SETTLEMENT".into(), "false".into()),
    ];
    for passed in ["TIKETI_REDIS_URL", "AWS_ENDPOINT_URL", "AWS_REGION"] {
        if let Ok(value) = std::env::var(passed) {
            vars.push((passed.into(), value));
        }
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
    spawn_roles(pool, vars, clock, Role::ALL).await
}

/// A server running only `roles` (e.g. without the worker, for a test that drives it step by step).
pub async fn spawn_roles(pool: PgPool, vars: Vec<(String, String)>, clock: Clock, roles: &[Role]) -> TestApp {
    tiketi_shared::telemetry::init_tracing(tiketi_shared::config::LogFormat::Pretty, "warn");
    let settings = Settings::from_env(Env::from_pairs(vars)).expect("test settings");
    let overrides = Overrides { pool: Some(pool.clone()), clock: clock.clone() };
    let app = Application::build(settings, roles, overrides, true).await.expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let settings = app.settings().clone();
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(app.run());
    // Bodies as the server sent them: no transparent decompression (the load tests' goose turns on
    // reqwest's gzip feature in a workspace build), so a test sees the server's Content-Encoding.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_gzip().build().unwrap();
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

impl TestApp {
    /// An access token for `user` signed with this app's key, without the cost of a sign-up.
    pub async fn token_for(&self, user: uuid::Uuid, role: tiketi_shared::token::UserRole) -> String {
        use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
        let keys = LocalKeyStore::new(&self.data_dir()).load(KeyPurpose::Access).await.unwrap();
        let claims = tiketi_shared::token::AccessClaims::new(
            tiketi_shared::ids::UserId(user),
            role,
            self.clock.now().timestamp(),
            900,
        );
        keys.active().sign(&claims).unwrap()
    }

    pub async fn buyer(&self) -> String {
        self.token_for(uuid::Uuid::now_v7(), tiketi_shared::token::UserRole::User).await
    }

    pub async fn admin(&self) -> String {
        self.token_for(uuid::Uuid::now_v7(), tiketi_shared::token::UserRole::Admin).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        read(req.send().await.unwrap()).await
    }

    /// Creates a venue with `sections` of (name, rows, seats per row, price) and an event on sale
    /// now (unless `shift` moves the window); answers the event detail.
    pub async fn on_sale_event(&self, sections: &[(&str, u32, u32, i64)], extra: Value) -> Value {
        let admin = self.admin().await;
        let sections: Vec<Value> = sections
            .iter()
            .map(|(name, rows, per_row, price)| json!({"name": name, "rows": rows, "seats_per_row": per_row, "price": price}))
            .collect();
        let (status, venue) = self
            .send(
                reqwest::Method::POST,
                "/api/admin/venues",
                Some(&admin),
                Some(&json!({"name": "Test Hall", "sections": sections})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{venue}");
        let now = self.clock.now();
        let mut body = json!({
            "title": "Test Concert", "artist": "Test Artist", "venue_id": venue["id"],
            "starts_at": now + chrono::Duration::days(10),
            "sale_opens_at": now - chrono::Duration::hours(1),
            "sale_closes_at": now + chrono::Duration::days(9),
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let (status, event) = self.send(reqwest::Method::POST, "/api/admin/events", Some(&admin), Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{event}");
        event
    }

    pub async fn seat_ids(&self, event: &Value) -> Vec<String> {
        let (status, map) = self
            .send(reqwest::Method::GET, &format!("/api/events/{}/seats", event["id"].as_str().unwrap()), None, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        map["seats"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    }

    pub async fn hold(&self, token: &str, event: &Value, seats: &[String]) -> (StatusCode, Value) {
        let path = format!("/api/events/{}/holds", event["id"].as_str().unwrap());
        self.send(reqwest::Method::POST, &path, Some(token), Some(&json!({"seat_ids": seats}))).await
    }
}

impl TestApp {
    /// The ticket role's state over this app's database, Redis and clock (to run one step of a
    /// background task, as the tests do instead of sleeping).
    pub async fn ticket(&self) -> tiketi_ticket::TicketState {
        let overrides = tiketi::app::Overrides { pool: Some(self.pool.clone()), clock: self.clock.clone() };
        let resources = tiketi::app::Resources::connect(&self.settings, overrides).await.unwrap();
        let verifier = std::sync::Arc::new(tiketi_shared::token::TokenVerifier::new(
            self.settings.common.jwks_url.clone(),
            self.clock.clone(),
        ));
        tiketi::app::ticket_state(&self.settings, &resources, verifier).await.unwrap()
    }
}

/// A Redis server of the test's own on `port`, for tests that stop it.
pub async fn start_redis(port: u16) -> tokio::process::Child {
    let child = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server on PATH (./dev test installs it)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("private redis did not start");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn unique_email() -> String {
    format!("buyer-{}@example.com", uuid::Uuid::now_v7().simple())
}

/// A Toss sandbox of the test's own (faults set on it touch no other test) and a server whose
/// payment role talks to it; the sandbox's webhooks go to the server. The reconciler does not run
/// by itself: tests run a pass with [`TestApp::payment`].
pub async fn spawn_with_toss(pool: PgPool, extra: &[(&str, &str)]) -> (TestApp, tiketi_toss_sandbox::Sandbox) {
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config =
        tiketi_toss_sandbox::Config { webhook_retry_scale: 0.0005, ..tiketi_toss_sandbox::Config::local(addr) };
    let sandbox = tiketi_toss_sandbox::Sandbox::start(config).await.unwrap();
    let toss_url = sandbox.url();
    let mut vars = vec![
        ("TIKETI_TOSS_API_URL", toss_url.as_str()),
        ("TIKETI_PAYMENT_RECONCILE_EVERY_SECS", "0"),
        ("TIKETI_PAYMENT_RECONCILE_AFTER_SECS", "0"),
        ("TIKETI_TOSS_TIMEOUT_MS", "3000"),
    ];
    vars.extend_from_slice(extra);
    let app = spawn_with(pool, &vars).await;
    let (status, _) = read(
        app.http
            .put(format!("{toss_url}/sandbox/config"))
            .json(&json!({"webhook_url": app.url("/webhooks/toss")}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    (app, sandbox)
}

impl TestApp {
    /// The payment role's state over this app's database and clock (to run a reconciler pass).
    pub async fn payment(&self) -> tiketi_payment::PaymentState {
        let overrides = tiketi::app::Overrides { pool: Some(self.pool.clone()), clock: self.clock.clone() };
        let resources = tiketi::app::Resources::connect(&self.settings, overrides).await.unwrap();
        let verifier = std::sync::Arc::new(tiketi_shared::token::TokenVerifier::new(
            self.settings.common.jwks_url.clone(),
            self.clock.clone(),
        ));
        tiketi::app::payment_state(&self.settings, &resources, verifier).await.unwrap()
    }
}

impl TestApp {
    /// The worker role's state over this app's database, clock and queues (to drive its steps).
    pub async fn worker(&self) -> tiketi_queue_worker::WorkerState {
        let overrides = tiketi::app::Overrides { pool: Some(self.pool.clone()), clock: self.clock.clone() };
        let resources = tiketi::app::Resources::connect(&self.settings, overrides).await.unwrap();
        let located = resources.locate_aws(false).await.unwrap();
        let verifier = std::sync::Arc::new(tiketi_shared::token::TokenVerifier::new(
            self.settings.common.jwks_url.clone(),
            self.clock.clone(),
        ));
        tiketi::app::worker_state(&self.settings, &resources, verifier, located).await.unwrap()
    }
}

/// Polls `check` until it holds, for at most `secs` seconds.
pub async fn wait_until<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
