//! The real `stats-report` binary under cargo-lambda's Lambda runtime emulator, invoked with
//! `cargo lambda invoke` against real PostgreSQL (the stats schema of a fresh database), the AWS
//! emulator and a Toss sandbox: the report's files are read back from S3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use sqlx::PgPool;
use tiketi_shared::aws::{Aws, AwsSettings};
use tiketi_shared::config::Env;
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Lambda emulator did not listen on {port}");
}

/// The emulator, and the function attached to it as its default function (`_`).
async fn start(port: u16, env: &[(&str, String)]) -> (Child, Child) {
    let emulator = Command::new("cargo-lambda")
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cargo-lambda on PATH (./dev test installs it from PyPI)");
    wait_for_port(port).await;
    let mut function = Command::new(env!("CARGO_BIN_EXE_stats-report"));
    function
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("TIKETI_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        function.env(k, v);
    }
    (emulator, function.spawn().unwrap())
}

async fn invoke(port: u16, payload: &serde_json::Value) -> serde_json::Value {
    let output = Command::new("cargo-lambda")
        .args(["lambda", "invoke", "-A", "127.0.0.1", "-P", &port.to_string(), "--output-format", "json"])
        .arg("--data-ascii")
        .arg(payload.to_string())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "invoke: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Two paid orders (one partly refunded) in the stats projections, as the stats role writes them.
async fn facts(pool: &PgPool, at: chrono::DateTime<chrono::Utc>) -> uuid::Uuid {
    let event = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO stats.events (id, title, sale_opens_at, version) VALUES ($1, '봄 콘서트', $2, 1)")
        .bind(event)
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
    for (n, (amount, refunded)) in [(50_000i64, 0i64), (80_000, 30_000)].into_iter().enumerate() {
        let order = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO stats.orders (id, reservation_id, event_id, user_id, amount, status, balance_amount, method,
               payment_key, approved_at, version, created_at, updated_at)
             VALUES ($1, $2, $3, $2, $4, 'paid', $4 - $5, '카드', $6, $7, 2, $7, $7)",
        )
        .bind(order)
        .bind(uuid::Uuid::now_v7())
        .bind(event)
        .bind(amount)
        .bind(refunded)
        .bind(format!("tviva-emulator-{n}"))
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
        if refunded > 0 {
            sqlx::query(
                "INSERT INTO stats.refunds (order_id, version, event_id, amount, refunded_at) VALUES ($1, 3, $2, $3, $4)",
            )
            .bind(order)
            .bind(event)
            .bind(refunded)
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    event
}

#[sqlx::test(migrations = false)]
async fn the_function_builds_a_settlement_into_s3_under_the_lambda_emulator(pool: PgPool) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs the AWS emulator: run through ./dev test");
    tiketi_shared::db::migrate(&pool, tiketi_stats::SCHEMA, &tiketi_stats::MIGRATOR).await.unwrap();
    let prefix = format!("r{}-", uuid::Uuid::now_v7().simple());
    let mut env = Env::from_pairs([("TIKETI_AWS_NAME_PREFIX", prefix.as_str())]);
    env.set("AWS_ENDPOINT_URL", endpoint.clone());
    let aws = Aws::connect(&AwsSettings::from_env(&mut env)).await;
    aws.bootstrap().await.unwrap();
    let sandbox =
        tiketi_toss_sandbox::Sandbox::start(tiketi_toss_sandbox::Config::local("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();

    let now = chrono::Utc::now();
    facts(&pool, now).await;
    let report = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO stats.reports (id, kind, status, period_from, period_to, requested_by, created_at)
         VALUES ($1, 'settlement', 'pending', $2, $3, 'test', $2)",
    )
    .bind(report)
    .bind(now - chrono::Duration::hours(1))
    .bind(now + chrono::Duration::hours(1))
    .execute(&pool)
    .await
    .unwrap();

    // The function connects to this test's own database.
    let database: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&pool).await.unwrap();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&database);
    let port = free_port();
    let (_emulator, _function) = start(
        port,
        &[
            ("TIKETI_DATABASE_URL", url.to_string()),
            ("TIKETI_AWS_NAME_PREFIX", prefix.clone()),
            ("AWS_ENDPOINT_URL", endpoint),
            ("TIKETI_TOSS_API_URL", sandbox.url().to_string()),
        ],
    )
    .await;

    let answer = invoke(port, &serde_json::json!({"report_id": report})).await;
    assert_eq!(answer["status"], "ready", "{answer}");
    // An SQS batch naming the same report changes nothing and fails nothing.
    let batch = serde_json::json!({"Records": [{"messageId": "m-1", "body": serde_json::json!({"report_id": report}).to_string()}]});
    let answer = invoke(port, &batch).await;
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");

    let files: serde_json::Value = sqlx::query_scalar("SELECT files FROM stats.reports WHERE id = $1")
        .bind(report)
        .fetch_one(&pool)
        .await
        .unwrap();
    let manifest = files.as_array().unwrap().iter().find(|f| f["name"] == "manifest.json").unwrap();
    let object = aws
        .s3
        .get_object()
        .bucket(aws.names.reports_bucket())
        .key(manifest["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(manifest["report_id"], report.to_string());
    let orders = manifest["files"].as_array().unwrap().iter().find(|f| f["name"] == "orders.csv").unwrap();
    assert_eq!(orders["rows"]["orders"], 2);
    let object = aws
        .s3
        .get_object()
        .bucket(aws.names.reports_bucket())
        .key(orders["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(text.starts_with('\u{feff}') && text.contains("봄 콘서트"), "{text}");
    assert!(text.lines().last().unwrap().contains("130000,30000,100000"), "totals: {text}");
    // Toss (the sandbox) never saw these payments: both are differences.
    let reconciliation =
        manifest["files"].as_array().unwrap().iter().find(|f| f["name"] == "reconciliation.csv").unwrap();
    assert_eq!(reconciliation["rows"]["reconciliation"], 2);
}
