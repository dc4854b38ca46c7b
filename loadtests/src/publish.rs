//! The emulator's own share of the relay's figure: SNS `PublishBatch` of domain-event-sized
//! messages, ten per call and ten calls at once (what one relay pass of 100 rows sends), with no
//! database involved.
//!
//! Usage: publish <events>   (AWS_ENDPOINT_URL, TIKETI_AWS_NAME_PREFIX of a bootstrapped prefix)
//! Prints a `RESULT` line: events published per second.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use aws_sdk_sns::types::PublishBatchRequestEntry;
use tiketi_shared::aws::{Aws, AwsSettings};
use tiketi_shared::config::Env;
use tiketi_shared::events::{DomainEvent, Envelope, ReservationHeld};
use tiketi_shared::ids::{EventId, ReservationId, SeatId, UserId};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: usize = std::env::args().nth(1).unwrap_or_else(|| "10000".into()).parse()?;
    let mut env = Env::from_process();
    let aws = Aws::connect(&AwsSettings::from_env(&mut env)).await;
    env.finish()?;
    let topic = aws.locate().await?.topic_arn;
    let body = |_: usize| {
        let held = DomainEvent::ReservationHeld(ReservationHeld {
            reservation_id: ReservationId::new(),
            event_id: EventId::new(),
            user_id: UserId::new(),
            seat_ids: vec![SeatId::new()],
            amount: 132_000,
            expires_at: chrono::Utc::now(),
        });
        serde_json::to_string(&Envelope::new(&held, 1, chrono::Utc::now())).unwrap_or_default()
    };
    let started = Instant::now();
    for pass in (0..events).step_by(100) {
        let calls = (0..10).map(|call| {
            let (aws, topic) = (&aws, &topic);
            async move {
                let entries = (0..10)
                    .filter_map(|i| {
                        let n = pass + call * 10 + i;
                        PublishBatchRequestEntry::builder().id(n.to_string()).message(body(n)).build().ok()
                    })
                    .collect();
                aws.sns.publish_batch().topic_arn(topic).set_publish_batch_request_entries(Some(entries)).send().await
            }
        });
        for sent in futures::future::join_all(calls).await {
            sent.map_err(|e| anyhow::anyhow!("{}", tiketi_shared::aws::describe(&e)))?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("RESULT emulator_publish events={events} secs={secs:.1} events_per_s={:.0}", events as f64 / secs);
    Ok(())
}
