//! Reports built inside the stats role (`tiketi up`): the same [`Builder`] reading the reports
//! queue, and the daily settlement scheduled by a timer instead of an EventBridge rule.

use std::sync::Arc;
use std::time::Duration;

use tiketi_shared::aws::Queue;
use tiketi_shared::consumer::{self, Consumer, Handler, Outcome, Polling};
use tiketi_shared::messages::ReportRequested;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Builder;

/// Builds each requested report.
pub struct Requests(pub Builder);

#[async_trait::async_trait]
impl Handler for Requests {
    async fn handle(&self, body: &str) -> Outcome {
        let request: ReportRequested = match serde_json::from_str(body) {
            Ok(request) => request,
            Err(e) => return Outcome::Poison(format!("not a report request: {e}")),
        };
        match self.0.build(request.report_id).await {
            Ok(()) => Outcome::Done,
            // The report is marked failed with the reason; asking again makes a new one.
            Err(e) => Outcome::Poison(format!("report {}: {e:#}", request.report_id)),
        }
    }
}

/// Starts the reports consumer and (when `daily`) the daily scheduler on `tasks`; they stop on
/// `stop`.
pub fn start(builder: Builder, polling: Polling, daily: bool, stop: &CancellationToken, tasks: &TaskTracker) {
    let requests = Consumer { queue: Queue::Reports, handler: Arc::new(Requests(builder.clone())) };
    tasks.spawn(consumer::run(polling, requests, stop.clone()));
    if !daily {
        return;
    }
    let stop = stop.clone();
    tasks.spawn(async move {
        loop {
            match builder.schedule_daily(builder.clock.now()).await {
                Ok(Some(id)) => tracing::info!(report = %id, "daily settlement built"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "the daily settlement failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(300)) => {}
            }
        }
    });
}
