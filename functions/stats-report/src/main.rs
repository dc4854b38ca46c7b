//! The report builder as a Lambda (`provided.al2023`). It answers three kinds of invocation:
//! - an SQS batch from the reports queue (`{"Records": [{"body": "{\"report_id\": …}"}]}`),
//!   answering the failed ones as `batchItemFailures`;
//! - the daily EventBridge schedule (`{"source": "aws.events", …}`): the previous Korean day's
//!   settlement, made once;
//! - a direct `{"report_id": "…"}`.
//!
//! Configuration is the environment's: `TIKETI_DATABASE_URL`, `TIKETI_TOSS_API_URL`, the Toss key
//! (`TIKETI_TOSS_SECRET_KEY`, or Secrets Manager with `TIKETI_SECRETS=aws`), `AWS_REGION`,
//! `TIKETI_AWS_NAME_PREFIX` (and `AWS_ENDPOINT_URL` against an emulator).

#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use secrecy::SecretString;
use serde_json::{Value, json};
use tiketi_shared::aws::{Aws, AwsSettings};
use tiketi_shared::clock::Clock;
use tiketi_shared::config::{Env, LogFormat};
use tiketi_shared::messages::ReportRequested;
use tiketi_shared::secrets::SecretValue;
use tiketi_stats_report::{Builder, toss};
use url::Url;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut env = Env::from_process();
    let aws_settings = AwsSettings::from_env(&mut env);
    let filter = env.get("TIKETI_LOG", "info".to_owned());
    let database_url: SecretString =
        env.secret_or("TIKETI_DATABASE_URL", "postgres://tiketi:dev-only-tiketi@127.0.0.1:5432/tiketi");
    let toss_url: Url = env.url("TIKETI_TOSS_API_URL", &Url::parse("http://127.0.0.1:8091/")?);
    let toss_key = env.secret_or("TIKETI_TOSS_SECRET_KEY", "test_sk_dev-only-tiketi-sandbox");
    let stored_key = env.get("TIKETI_SECRETS", "local".to_owned()) == "aws";
    env.finish()?;
    tiketi_shared::telemetry::init_tracing(LogFormat::Json, &filter);
    let aws = Aws::connect(&aws_settings).await;
    let key = if stored_key {
        toss::Key::Stored(SecretValue::new(aws.secrets.clone(), aws.names.secret("toss-secret-key")))
    } else {
        toss::Key::Configured(toss_key)
    };
    let builder = Builder {
        pool: tiketi_shared::db::pool(&database_url, 2)?,
        s3: aws.s3.clone(),
        bucket: aws.names.reports_bucket(),
        toss: toss::Transactions::new(toss_url, key),
        clock: Clock::System,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&builder, event.payload))).await
}

async fn handle(builder: &Builder, event: Value) -> Result<Value, lambda_runtime::Error> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut failures = Vec::new();
        for record in records {
            let id = record.get("messageId").cloned().unwrap_or(Value::Null);
            let built = match record.get("body").and_then(Value::as_str).map(serde_json::from_str::<ReportRequested>) {
                Some(Ok(request)) => builder.build(request.report_id).await.map_err(|e| format!("{e:#}")),
                _ => Err("not a report request".to_owned()),
            };
            if let Err(e) = built {
                tracing::warn!(message = %id, error = %e, "a report request failed");
                failures.push(json!({"itemIdentifier": id}));
            }
        }
        return Ok(json!({"batchItemFailures": failures}));
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        let made = builder.schedule_daily(builder.clock.now()).await?;
        return Ok(json!({"scheduled": made}));
    }
    if let Some(request) =
        event.get("report_id").and_then(|_| serde_json::from_value::<ReportRequested>(event.clone()).ok())
    {
        builder.build(request.report_id).await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM stats.reports WHERE id = $1")
            .bind(request.report_id)
            .fetch_optional(&builder.pool)
            .await?;
        return Ok(json!({"report_id": request.report_id, "status": status}));
    }
    Err("unrecognised invocation: expected an SQS batch, a schedule or {\"report_id\"}".into())
}
