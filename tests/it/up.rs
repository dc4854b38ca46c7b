//! The real binary: `tiketi up` on a random port over a fresh database, driven over HTTP, then
//! stopped with SIGTERM; and start-up refusing bad configuration with a clear message.

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
    let envs = [
        ("TIKETI_DATABASE_URL", database_url(&pool)),
        ("TIKETI_REDIS_KEY_PREFIX", format!("test:{id}:")),
        ("TIKETI_AWS_NAME_PREFIX", format!("u{id}-")),
        ("TIKETI_DATA_DIR", std::env::temp_dir().join(format!("tiketi-up-{id}")).display().to_string()),
        ("TIKETI_ADMIN_EMAIL", "admin@up.test".to_owned()),
        ("TIKETI_ADMIN_PASSWORD", "dev-only-up-password".to_owned()),
    ];
    let (mut child, base, mut logs) = serve(&["up"], &envs).await;
    let http = reqwest::Client::new();

    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    // The image's health check: `tiketi probe` exits 0 only when this machine's server answers 2xx.
    let port = url::Url::parse(&base).unwrap().port().unwrap().to_string();
    let probe = |args: &[&str], port: &str| {
        let out = std::process::Command::new(BIN).arg("probe").args(args).env("TIKETI_PORT", port).output().unwrap();
        out.status.success()
    };
    assert!(probe(&[], &port));
    assert!(probe(&["--path", "/readyz"], &port));
    assert!(!probe(&["--path", "/api/no-such-probe"], &port));
    assert!(!probe(&[], "1"));
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
    // Generated clients (the web app's) name each operation by its id: two alike would merge.
    let mut ids: Vec<&str> = openapi["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds are not unique");
    // Every error answer is documented as problem+json, and each operation lists the errors of its
    // shape (src/api_doc.rs): what generated clients and schemathesis rely on.
    for (path, ops) in openapi["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let types: Vec<&String> =
                    response["content"].as_object().map(|c| c.keys().collect()).unwrap_or_default();
                if status.starts_with('4') || (status.starts_with('5') && path != "/readyz") {
                    assert_eq!(types, ["application/problem+json"], "{method} {path} {status}");
                }
            }
        }
    }
    let statuses = |path: &str, method: &str| -> Vec<String> {
        openapi["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
    };
    for status in ["400", "404", "503"] {
        assert!(statuses("/api/events/{id}", "get").contains(&status.to_owned()), "GET /api/events/{{id}} {status}");
    }
    for status in ["400", "401", "403", "413", "415", "422", "503"] {
        assert!(statuses("/api/admin/venues", "post").contains(&status.to_owned()), "POST /api/admin/venues {status}");
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

/// Starts the binary with `args` and the env of a test; answers the child, its address and logs.
async fn serve(
    args: &[&str],
    envs: &[(&str, String)],
) -> (tokio::process::Child, String, tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TIKETI_PORT", "0")
        .env("TIKETI_LOG_FORMAT", "json")
        .env("TIKETI_LOG", "info")
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
        panic!("{args:?} exited before listening");
    })
    .await
    .expect("listening within a minute");
    (child, format!("http://{addr}"), logs)
}

#[sqlx::test(migrations = false)]
async fn roles_in_separate_processes_trust_each_other_through_the_jwks(pool: PgPool) {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let envs = vec![
        ("TIKETI_DATABASE_URL", database_url(&pool)),
        ("TIKETI_REDIS_KEY_PREFIX", format!("test:{id}:")),
        ("TIKETI_ADMIN_EMAIL", "admin@roles.test".to_owned()),
        ("TIKETI_ADMIN_PASSWORD", "dev-only-roles-password".to_owned()),
    ];
    let migrate =
        Command::new(BIN).arg("migrate").envs(envs.iter().map(|(k, v)| (*k, v.as_str()))).status().await.unwrap();
    assert!(migrate.success());
    let mut auth_env = envs.clone();
    auth_env.push(("TIKETI_DATA_DIR", std::env::temp_dir().join(format!("tiketi-auth-{id}")).display().to_string()));
    let (_auth, auth, _) = serve(&["serve", "--role", "auth"], &auth_env).await;
    let mut ticket_env = envs.clone();
    ticket_env
        .push(("TIKETI_DATA_DIR", std::env::temp_dir().join(format!("tiketi-ticket-{id}")).display().to_string()));
    ticket_env.push(("TIKETI_JWKS_URL", format!("{auth}/api/auth/jwks")));
    ticket_env.push(("TIKETI_ROLES", "ticket".to_owned()));
    let (_ticket, ticket, _) = serve(&["serve"], &ticket_env).await;

    let http = reqwest::Client::new();
    let post = |url: String, token: Option<String>, body: Value| {
        let http = http.clone();
        async move {
            let mut req = http.post(url).json(&body);
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, admin) = post(
        format!("{auth}/api/auth/login"),
        None,
        json!({"email": "admin@roles.test", "password": "dev-only-roles-password"}),
    )
    .await;
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let (status, venue) = post(
        format!("{ticket}/api/admin/venues"),
        Some(admin.clone()),
        json!({"name": "Split Hall", "sections": [{"name": "A", "rows": 1, "seats_per_row": 4, "price": 5000}]}),
    )
    .await;
    assert_eq!(status, 201, "an admin token from the auth process works on the ticket process: {venue}");
    let now = chrono::Utc::now();
    let (status, event) = post(
        format!("{ticket}/api/admin/events"),
        Some(admin),
        json!({"title": "Split", "artist": "Roles", "venue_id": venue["id"], "starts_at": now + chrono::Duration::days(2),
               "sale_opens_at": now - chrono::Duration::hours(1), "sale_closes_at": now + chrono::Duration::days(1)}),
    )
    .await;
    assert_eq!(status, 201, "{event}");
    let (_, buyer) = post(
        format!("{auth}/api/auth/register"),
        None,
        json!({"email": "split@roles.test", "password": "password123", "name": "S"}),
    )
    .await;
    let map: Value = http
        .get(format!("{ticket}/api/events/{}/seats", event["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, held) = post(
        format!("{ticket}/api/events/{}/holds", event["id"].as_str().unwrap()),
        buyer["access_token"].as_str().map(str::to_owned),
        json!({"seat_ids": [map["seats"][0]["id"]]}),
    )
    .await;
    assert_eq!(status, 201, "{held}");
    assert_eq!(
        http.get(format!("{ticket}/api/auth/me")).send().await.unwrap().status(),
        404,
        "the ticket process serves no auth routes"
    );
    assert_eq!(
        http.get(format!("{auth}/api/events")).send().await.unwrap().status(),
        404,
        "and the auth process no ticket routes"
    );
}

/// A replica that is still starting refuses connections, so the load balancer in front sends the
/// request to another replica; a listening socket would queue it until start-up ends (a rolling
/// restart under load saw checkouts wait 60 s for a payment process locating its AWS resources).
#[sqlx::test]
async fn a_starting_replica_refuses_connections_until_it_can_serve(pool: PgPool) {
    use tiketi::app::Overrides;
    use tiketi::{Application, Role, Settings};
    use tiketi_shared::clock::Clock;
    use tiketi_shared::config::Env;

    // An AWS endpoint that accepts and never answers holds the payment role's start-up.
    let aws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let aws_url = format!("http://{}", aws.local_addr().unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut vars = crate::common::test_env(&[("TIKETI_PORT", &port.to_string()), ("AWS_ENDPOINT_URL", &aws_url)]);
    vars.push(("AWS_MAX_ATTEMPTS".into(), "1".into()));
    let settings = Settings::from_env(Env::from_pairs(vars)).unwrap();
    let overrides = Overrides { pool: Some(pool), clock: Clock::fixed(chrono::Utc::now()) };
    let starting = Application::build(settings, &[Role::Payment], overrides, true);
    let probe = async {
        let (held, _) = aws.accept().await.unwrap();
        (held, tokio::net::TcpStream::connect(("127.0.0.1", port)).await)
    };
    let (_held, refused) = tokio::select! {
        built = starting => panic!("start-up finished without AWS: {:?}", built.err()),
        probed = tokio::time::timeout(Duration::from_secs(30), probe) => probed.expect("start-up calls AWS"),
    };
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused),
        "a replica still starting accepted a connection"
    );
}

/// After SIGTERM a replica keeps answering for `TIKETI_SHUTDOWN_DELAY_MS`, each answer closing its
/// connection, so a proxy holding connections open to it has none left idle when it stops (closing
/// an idle one races a POST the proxy may be sending on it); then it stops accepting.
#[sqlx::test]
async fn a_stopping_replica_answers_through_its_delay_closing_each_connection(pool: PgPool) {
    use tiketi::app::Overrides;
    use tiketi::{Application, Role, Settings};
    use tiketi_shared::clock::Clock;
    use tiketi_shared::config::Env;

    let vars = crate::common::test_env(&[("TIKETI_SHUTDOWN_DELAY_MS", "1500")]);
    let settings = Settings::from_env(Env::from_pairs(vars)).unwrap();
    let overrides = Overrides { pool: Some(pool), clock: Clock::fixed(chrono::Utc::now()) };
    let app = Application::build(settings, &[Role::Ticket], overrides, true).await.unwrap();
    let url = format!("http://127.0.0.1:{}/api/events", app.port());
    let shutdown = app.shutdown_token();
    let serving = tokio::spawn(app.run());
    let http = reqwest::Client::new();

    let before = http.get(&url).send().await.unwrap();
    assert_eq!(before.status(), 200);
    assert_eq!(before.headers().get("connection"), None, "kept alive while serving");
    shutdown.cancel();
    let draining = http.get(&url).send().await.expect("answered during the delay");
    assert_eq!(draining.status(), 200);
    assert_eq!(draining.headers().get("connection").and_then(|v| v.to_str().ok()), Some("close"));
    assert!(!serving.is_finished(), "stopped before its delay");

    tokio::time::timeout(Duration::from_secs(10), serving).await.expect("stopped after its delay").unwrap().unwrap();
    assert!(http.get(&url).send().await.is_err(), "still accepting after the delay");
}
