//! The process's one Redis pub/sub connection: subscribed to exactly the channels local sockets
//! want, feeding every message to the hub. Reconnects with backoff and resubscribes; while it is
//! down nothing is pushed (seat clients see a version gap and refetch; waiters are re-read).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tiketi_shared::redis::Redis;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::protocol::Channel;

pub async fn run(hub: Arc<Hub>, redis: Redis, mut changes: mpsc::UnboundedReceiver<Channel>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !stop.is_cancelled() {
        match session(&hub, &redis, &mut changes, &stop, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                hub.not_live(None);
                metrics::counter!("tiketi_realtime_pubsub_reconnects_total").increment(1);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(), "Redis pub/sub connection lost");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: answers Ok on shutdown, Err when the connection is lost.
async fn session(
    hub: &Hub,
    redis: &Redis,
    changes: &mut mpsc::UnboundedReceiver<Channel>,
    stop: &CancellationToken,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = redis.pubsub().await?.split();
    let name = |channel: Channel| redis.key(channel.topic());
    let mut live = HashSet::new();
    for channel in hub.wanted() {
        sink.subscribe(name(channel)).await?;
        live.insert(channel);
        hub.live(channel, seats_version(redis, channel).await);
    }
    *backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            change = changes.recv() => {
                let Some(channel) = change else { return Ok(()) };
                let wanted = hub.wants(channel);
                if wanted && !live.contains(&channel) {
                    sink.subscribe(name(channel)).await?;
                    live.insert(channel);
                    hub.live(channel, seats_version(redis, channel).await);
                } else if !wanted && live.remove(&channel) {
                    hub.not_live(Some(channel));
                    sink.unsubscribe(name(channel)).await?;
                }
            }
            message = stream.next() => {
                let Some(message) = message else { anyhow::bail!("the subscription stream ended") };
                let topic = message.get_channel_name();
                let Some(channel) = topic.strip_prefix(redis.prefix()).and_then(Channel::from_topic) else { continue };
                let payload = String::from_utf8_lossy(message.get_payload_bytes());
                let queued = hub.deliver(channel, &payload);
                metrics::counter!("tiketi_realtime_pushed_total").increment(queued);
            }
        }
    }
}

/// A seat channel's current seat-map version, read once its subscription is live (so every later
/// change is pushed); `None` for other channels, or when Redis does not answer (subscribers then
/// learn versions from the pushes).
async fn seats_version(redis: &Redis, channel: Channel) -> Option<i64> {
    let Channel::Seats(event) = channel else { return None };
    let key = redis.key(tiketi_shared::seat_changes::version_key(tiketi_shared::ids::EventId(event)));
    match redis::AsyncCommands::get::<_, Option<i64>>(&mut redis.conn(), key).await {
        Ok(version) => Some(version.unwrap_or(0)),
        Err(e) => {
            tracing::warn!(%event, error = %e, "reading a seat map's version failed");
            None
        }
    }
}
