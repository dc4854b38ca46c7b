//! The real function binary under cargo-lambda's Lambda runtime emulator (`cargo lambda watch
//! --only-lambda-apis`), invoked with `cargo lambda invoke` and the committed function-URL event
//! fixtures, against the AWS emulator (`./dev test` starts moto and puts cargo-lambda on PATH).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tiketi_shared::aws::{Aws, AwsSettings, Queue};
use tiketi_shared::config::Env;
use tiketi_shared::messages::WebhookDelivery;
use tokio::process::{Child, Command};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

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

/// The emulator, and the function attached to it as the emulator's default function (`_`).
async fn start(port: u16, prefix: &str) -> (Child, Child) {
    let emulator = Command::new("cargo-lambda")
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cargo-lambda on PATH (./dev test installs it from PyPI)");
    wait_for_port(port).await;
    let function = Command::new(env!("CARGO_BIN_EXE_payment-webhook"))
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("TIKETI_AWS_NAME_PREFIX", prefix)
        .env("TIKETI_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (emulator, function)
}

/// `cargo lambda invoke --data-file <fixture>`: the function's answer (an HTTP response event).
async fn invoke(port: u16, fixture: &str) -> serde_json::Value {
    let output = Command::new("cargo-lambda")
        .args(["lambda", "invoke", "-A", "127.0.0.1", "-P", &port.to_string(), "--output-format", "json"])
        .arg("--data-file")
        .arg(format!("{FIXTURES}/{fixture}"))
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "invoke {fixture}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn fixture_body(fixture: &str) -> String {
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{fixture}")).unwrap()).unwrap();
    event["body"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_function_stores_and_queues_each_delivery_once_under_the_lambda_emulator() {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "needs the AWS emulator: run through ./dev test");
    let prefix = format!("l{}-", uuid::Uuid::now_v7().simple());
    let mut env = Env::from_pairs([("TIKETI_AWS_NAME_PREFIX", prefix.as_str())]);
    env.set("AWS_ENDPOINT_URL", std::env::var("AWS_ENDPOINT_URL").unwrap());
    if let Ok(region) = std::env::var("AWS_REGION") {
        env.set("AWS_REGION", region);
    }
    let aws = Aws::connect(&AwsSettings::from_env(&mut env)).await;
    let located = aws.bootstrap().await.unwrap();
    let port = free_port();
    let (_emulator, _function) = start(port, &prefix).await;

    let answers = [
        ("status-changed.json", 200, "stored"),
        ("status-changed-retry.json", 200, "duplicate"),
        ("deposit-callback.json", 200, "stored"),
        ("not-json.json", 400, "INVALID_WEBHOOK"),
    ];
    for (fixture, status, said) in answers {
        let answer = invoke(port, fixture).await;
        assert_eq!(answer["statusCode"], status, "{fixture}: {answer}");
        let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert!(body["status"] == said || body["code"] == said, "{fixture}: {body}");
    }

    let items = aws.dynamodb.scan().table_name(aws.names.webhook_inbox()).send().await.unwrap();
    let mut ids: Vec<String> = items.items().iter().map(|i| i["id"].as_s().unwrap().clone()).collect();
    ids.sort();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[1], "wh-fixture-0001");
    assert!(ids[0].starts_with("sha256:"), "a delivery without a transmission id is keyed by its bytes");

    let queued = aws
        .sqs
        .receive_message()
        .queue_url(located.queue(Queue::PaymentWebhooks))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<String> = queued
        .messages()
        .iter()
        .map(|m| serde_json::from_str::<WebhookDelivery>(m.body().unwrap()).unwrap().body)
        .collect();
    bodies.sort();
    let mut expected = vec![fixture_body("status-changed.json"), fixture_body("deposit-callback.json")];
    expected.sort();
    assert_eq!(bodies, expected, "each delivery queued once, byte for byte");
}
