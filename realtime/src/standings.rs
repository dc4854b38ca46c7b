//! Reading waiters' standings from the ticket role, which owns the waiting room.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use tiketi_shared::ids::UserId;
use tiketi_shared::internal::InternalClient;
use tiketi_shared::waiting_room::{WATCH_BATCH, WatchReply, WatchRequest};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::hub::Hub;

/// Where buyers stand in an event's waiting room (asking also keeps their places).
#[async_trait]
pub trait Standings: Send + Sync + 'static {
    /// `receipts`: some of these buyers' receipts, shown again (the room lost its state).
    async fn watch(&self, event: Uuid, users: &[UserId], receipts: Vec<String>) -> anyhow::Result<WatchReply>;
}

/// The ticket role's `POST /internal/ticket/events/{id}/queue/watch`.
pub struct TicketStandings(pub InternalClient);

#[async_trait]
impl Standings for TicketStandings {
    async fn watch(&self, event: Uuid, users: &[UserId], receipts: Vec<String>) -> anyhow::Result<WatchReply> {
        let request = WatchRequest { users: users.to_vec(), receipts };
        Ok(self.0.post("ticket", &format!("/internal/ticket/events/{event}/queue/watch"), &request).await?)
    }
}

/// Reads pending standings in batches of [`WATCH_BATCH`] (a few calls at once) and applies them.
pub async fn run(hub: Arc<Hub>, standings: Arc<dyn Standings>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = hub.lookups_wanted() => {}
        }
        // Let subscriptions arriving together share a call.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let calls: Vec<(Uuid, Vec<UserId>)> = hub
            .take_pending()
            .into_iter()
            .flat_map(|(event, users)| users.chunks(WATCH_BATCH).map(|c| (event, c.to_vec())).collect::<Vec<_>>())
            .collect();
        let mut failed = false;
        let mut results = futures::stream::iter(calls)
            .map(|(event, users)| {
                let standings = standings.clone();
                let receipts = hub.receipts_for(event, &users);
                async move {
                    let shown = receipts.iter().map(|(_, receipt)| receipt.clone()).collect();
                    let reply = standings.watch(event, &users, shown).await;
                    (event, users, receipts, reply)
                }
            })
            .buffer_unordered(4);
        while let Some((event, users, receipts, reply)) = results.next().await {
            match reply {
                Ok(reply) if reply.standings.len() == users.len() => {
                    hub.apply(event, &users, &reply, Instant::now());
                }
                Ok(_) => tracing::warn!(%event, "watch reply does not match the request"),
                Err(e) => {
                    tracing::warn!(%event, error = %e, "reading queue standings failed; retrying");
                    hub.retry(event, &users, receipts);
                    failed = true;
                }
            }
        }
        if failed {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            hub.wake_lookups();
        }
    }
}
