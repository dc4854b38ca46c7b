//! The receiver as a Lambda (behind a function URL or an HTTP API): the router `tiketi up` mounts
//! at `/webhooks/toss`, served by `lambda_http`. Configuration is the environment's: `AWS_REGION`,
//! `TIKETI_AWS_NAME_PREFIX` (and `AWS_ENDPOINT_URL` against an emulator).

use tiketi_shared::aws::{Aws, AwsSettings};
use tiketi_shared::clock::Clock;
use tiketi_shared::config::{Env, LogFormat};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let mut env = Env::from_process();
    let settings = AwsSettings::from_env(&mut env);
    let filter = env.get("TIKETI_LOG", "info".to_owned());
    env.finish()?;
    tiketi_shared::telemetry::init_tracing(LogFormat::Json, &filter);
    let aws = Aws::connect(&settings).await;
    let receiver = tiketi_payment_webhook::aws::receiver(&aws, Clock::System).await?;
    let (router, _) = tiketi_payment_webhook::router(receiver).split_for_parts();
    lambda_http::run(router).await
}
