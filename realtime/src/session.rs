//! One socket's life: authenticate, then serve its subscriptions until it closes, is dropped
//! (too slow, dead, token expired) or the server restarts. Generic over the socket's `Sink` and
//! `Stream`, so it runs over in-memory channels in tests as over a real WebSocket.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures::{Sink, SinkExt, Stream, StreamExt};
use tiketi_shared::ids::UserId;
use tiketi_shared::token::{TokenError, TokenVerifier};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Outbox};
use crate::protocol::{
    CLOSE_RESTART, CLOSE_UNAUTHENTICATED, Channel, ClientMessage, Failure, ServerMessage, parse_client,
};

/// Checks access tokens.
#[async_trait]
pub trait Authenticate: Send + Sync + 'static {
    /// The token's user and how long it stays valid; else why not.
    async fn authenticate(&self, token: &str) -> Result<(UserId, Duration), Failure>;
}

#[async_trait]
impl Authenticate for TokenVerifier {
    async fn authenticate(&self, token: &str) -> Result<(UserId, Duration), Failure> {
        match self.verify_access(token).await {
            Ok(claims) => {
                let left = claims.exp - self.clock().now().timestamp();
                Ok((claims.sub, Duration::from_secs(u64::try_from(left).unwrap_or(0))))
            }
            Err(TokenError::Expired) => Err(Failure::new("TOKEN_EXPIRED", "the access token has expired")),
            Err(TokenError::Invalid(why)) => Err(Failure::new("INVALID_TOKEN", why)),
            Err(TokenError::KeysUnavailable) => {
                Err(Failure::new("SERVICE_UNAVAILABLE", "tokens cannot be checked right now; reconnect shortly"))
            }
        }
    }
}

/// Per-socket limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages queued for a socket before it counts as too slow and is dropped.
    pub outbox: usize,
    /// How long a socket opened without `?token=` has to send its `auth` message.
    pub auth_timeout: Duration,
    /// Keepalive: a ping this often; a socket silent for a whole interval is dropped.
    pub ping_every: Duration,
    /// A single write taking longer than this drops the socket.
    pub send_timeout: Duration,
    pub max_subscriptions: usize,
    /// On shutdown each socket is closed (1012) after a random delay up to this, so its clients
    /// reconnect to the other replicas spread over the interval rather than all in one instant.
    pub restart_spread: Duration,
}

#[derive(Clone)]
pub struct Context {
    pub hub: Arc<Hub>,
    pub auth: Arc<dyn Authenticate>,
    pub limits: Limits,
    /// Cancelled on shutdown: sockets are told to reconnect elsewhere.
    pub stop: CancellationToken,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed or the connection failed.
    Gone,
    /// The token was missing, invalid or ran out.
    Unauthenticated,
    /// The client could not keep up with its messages.
    Slow,
    /// No frame heard for a whole keepalive interval.
    Dead,
    /// Server shutdown: told to reconnect.
    Restart,
}

impl End {
    fn label(self) -> &'static str {
        match self {
            End::Gone => "gone",
            End::Unauthenticated => "unauthenticated",
            End::Slow => "slow",
            End::Dead => "dead",
            End::Restart => "restart",
        }
    }
}

pub async fn run<S, E>(socket: S, ctx: Context, token: Option<String>) -> End
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
{
    let mut socket = socket;
    let end = serve(&mut socket, &ctx, token).await;
    metrics::counter!("tiketi_realtime_closed_total", "reason" => end.label()).increment(1);
    end
}

async fn serve<S, E>(socket: &mut S, ctx: &Context, token: Option<String>) -> End
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
{
    let token = match token {
        Some(token) => token,
        None => match tokio::time::timeout(ctx.limits.auth_timeout, first_auth(socket)).await {
            Ok(Ok(token)) => token,
            Ok(Err(end)) => return end,
            Err(_) => {
                let refusal = Failure::new("UNAUTHENTICATED", "no auth message in time");
                return refuse(socket, &refusal).await;
            }
        },
    };
    let (user, valid_for) = match ctx.auth.authenticate(&token).await {
        Ok(ok) => ok,
        Err(refusal) => return refuse(socket, &refusal).await,
    };
    let outbox = Outbox::new(user, ctx.limits.outbox);
    let mut subscriptions: Vec<Channel> = Vec::new();
    let end = pump(socket, ctx, &outbox, &mut subscriptions, valid_for).await;
    for channel in subscriptions {
        ctx.hub.unsubscribe(outbox.id, channel);
    }
    match end {
        End::Restart => close(socket, CLOSE_RESTART, "server restarting: reconnect").await,
        End::Unauthenticated => {
            close(socket, CLOSE_UNAUTHENTICATED, "TOKEN_EXPIRED: reconnect with a fresh token").await
        }
        End::Gone | End::Slow | End::Dead => {}
    }
    end
}

/// The first message must be `{"type":"auth","token":…}`.
async fn first_auth<S, E>(socket: &mut S) -> Result<String, End>
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
{
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return match parse_client(&text) {
                    Ok(ClientMessage::Auth { token }) => Ok(token),
                    _ => {
                        let refusal = Failure::new("UNAUTHENTICATED", r#"send {"type":"auth","token":…} first"#);
                        Err(refuse(socket, &refusal).await)
                    }
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(_))) => {
                let refusal = Failure::new("UNAUTHENTICATED", r#"send {"type":"auth","token":…} first"#);
                return Err(refuse(socket, &refusal).await);
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(End::Gone),
        }
    }
}

async fn pump<S, E>(
    socket: &mut S,
    ctx: &Context,
    outbox: &Arc<Outbox>,
    subscriptions: &mut Vec<Channel>,
    valid_for: Duration,
) -> End
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
{
    let mut expiry = pin!(tokio::time::sleep(valid_for));
    // Registered once: every socket waits on the same token, so re-registering it on every turn
    // of the loop would contend on one lock across all sockets. Once it fires, the socket goes on
    // serving for its share of the restart spread.
    let spread = ctx.limits.restart_spread;
    let mut stopped = pin!(async move {
        ctx.stop.cancelled().await;
        tokio::time::sleep(spread.mul_f64(rand::random::<f64>())).await;
    });
    let mut keepalive = tokio::time::interval_at(Instant::now() + ctx.limits.ping_every, ctx.limits.ping_every);
    let mut heard = true;
    loop {
        tokio::select! {
            biased;
            () = &mut stopped => return End::Restart,
            () = &mut expiry => return End::Unauthenticated,
            () = outbox.ready() => {
                while let Some(message) = outbox.pop() {
                    if let Err(end) = send(socket, ctx, stopped.as_mut(), outbox, Message::Text(message)).await {
                        return end;
                    }
                }
                if outbox.is_dropped() {
                    return End::Slow;
                }
            }
            incoming = socket.next() => {
                heard = true;
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(renewed) = handle(ctx, outbox, subscriptions, &text).await {
                            expiry.as_mut().reset(Instant::now() + renewed);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        reply_error(outbox, &Failure::new("MALFORMED_MESSAGE", "messages are JSON text frames"), None);
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return End::Gone,
                }
            }
            _ = keepalive.tick() => {
                if !heard {
                    return End::Dead;
                }
                heard = false;
                if let Err(end) = send(socket, ctx, stopped.as_mut(), outbox, Message::Ping(Default::default())).await {
                    return end;
                }
            }
        }
    }
}

/// Applies one client message; answers the renewed validity after a successful `auth`.
async fn handle(ctx: &Context, outbox: &Arc<Outbox>, subscriptions: &mut Vec<Channel>, text: &str) -> Option<Duration> {
    let message = match parse_client(text) {
        Ok(message) => message,
        Err(refusal) => {
            reply_error(outbox, &refusal, None);
            return None;
        }
    };
    match message {
        ClientMessage::Ping => {
            outbox.push(ServerMessage::Pong.text().into());
        }
        ClientMessage::Auth { token } => match ctx.auth.authenticate(&token).await {
            Ok((user, valid_for)) if user == outbox.user => return Some(valid_for),
            Ok(_) => {
                reply_error(outbox, &Failure::new("INVALID_TOKEN", "a socket stays with the user it opened as"), None)
            }
            Err(refusal) => reply_error(outbox, &refusal, None),
        },
        ClientMessage::Subscribe { channel: name } => match Channel::parse(&name, outbox.user) {
            Err(refusal) => reply_error(outbox, &refusal, Some(&name)),
            Ok(channel) if subscriptions.contains(&channel) => {
                let version = ctx.hub.seats_version_of(channel);
                outbox.push(ServerMessage::Subscribed { channel: &channel.topic(), version }.text().into());
            }
            Ok(_) if subscriptions.len() >= ctx.limits.max_subscriptions => {
                let detail = format!("at most {} subscriptions per socket", ctx.limits.max_subscriptions);
                reply_error(outbox, &Failure::new("TOO_MANY_SUBSCRIPTIONS", detail), Some(&name));
            }
            Ok(channel) => {
                subscriptions.push(channel);
                ctx.hub.subscribe(outbox, channel);
            }
        },
        ClientMessage::Unsubscribe { channel: name } => match Channel::parse(&name, outbox.user) {
            Err(refusal) => reply_error(outbox, &refusal, Some(&name)),
            Ok(channel) => {
                if let Some(at) = subscriptions.iter().position(|&c| c == channel) {
                    subscriptions.swap_remove(at);
                    ctx.hub.unsubscribe(outbox.id, channel);
                }
                outbox.push(ServerMessage::Unsubscribed { channel: &channel.topic() }.text().into());
            }
        },
    }
    None
}

fn reply_error(outbox: &Outbox, refusal: &Failure, channel: Option<&str>) {
    outbox.push(ServerMessage::Error { code: refusal.code, detail: &refusal.detail, channel }.text().into());
}

/// Writes one message; a client that stalls the write long enough to overflow its outbox, or
/// past the send timeout, is dropped.
async fn send<S, E>(
    socket: &mut S,
    ctx: &Context,
    stopped: std::pin::Pin<&mut impl Future<Output = ()>>,
    outbox: &Outbox,
    message: Message,
) -> Result<(), End>
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
{
    tokio::select! {
        biased;
        () = stopped => Err(End::Restart),
        () = outbox.dropped() => Err(End::Slow),
        sent = tokio::time::timeout(ctx.limits.send_timeout, socket.send(message)) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Slow),
        },
    }
}

async fn refuse<S>(socket: &mut S, refusal: &Failure) -> End
where
    S: Sink<Message> + Unpin,
{
    close(socket, CLOSE_UNAUTHENTICATED, &format!("{}: {}", refusal.code, refusal.detail)).await;
    End::Unauthenticated
}

/// Sends a close frame (best effort, briefly). Reasons are cut to the 123 bytes a frame allows.
async fn close<S>(socket: &mut S, code: u16, reason: &str) -> ()
where
    S: Sink<Message> + Unpin,
{
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let frame = CloseFrame { code, reason: Utf8Bytes::from(&reason[..cut]) };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(frame)))).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    use futures::channel::mpsc;
    use serde_json::{Value, json};
    use tiketi_shared::ids::{EventId, SeatId};
    use tiketi_shared::seat_changes::{SeatDelta, SeatStatus, SeatsChanged};
    use uuid::Uuid;

    use super::*;
    use crate::hub::Pacing;

    /// A socket made of two in-memory channels.
    struct Duplex {
        incoming: mpsc::Receiver<Result<Message, Infallible>>,
        outgoing: mpsc::Sender<Message>,
    }

    impl Stream for Duplex {
        type Item = Result<Message, Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_next_unpin(cx)
        }
    }

    impl Sink<Message> for Duplex {
        type Error = mpsc::SendError;
        fn poll_ready(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
            self.outgoing.poll_ready(cx)
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.outgoing.start_send(item)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
            Pin::new(&mut self.outgoing).poll_flush(cx)
        }
        fn poll_close(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
            Pin::new(&mut self.outgoing).poll_close(cx)
        }
    }

    /// Tokens are `good:<uuid>` (a minute), `short:<uuid>` (200 ms) or anything else (invalid).
    struct FakeAuth;

    #[async_trait]
    impl Authenticate for FakeAuth {
        async fn authenticate(&self, token: &str) -> Result<(UserId, Duration), Failure> {
            let (kind, user) = token.split_once(':').unwrap_or_default();
            let user = user.parse().map_err(|_| Failure::new("INVALID_TOKEN", "not a token"))?;
            match kind {
                "good" => Ok((user, Duration::from_secs(60))),
                "short" => Ok((user, Duration::from_millis(200))),
                _ => Err(Failure::new("INVALID_TOKEN", "not a token")),
            }
        }
    }

    struct Client {
        to_server: mpsc::Sender<Result<Message, Infallible>>,
        from_server: mpsc::Receiver<Message>,
        session: tokio::task::JoinHandle<End>,
    }

    impl Client {
        async fn say(&mut self, value: Value) {
            self.say_raw(Message::Text(value.to_string().into())).await;
        }
        async fn say_raw(&mut self, message: Message) {
            self.to_server.send(Ok(message)).await.unwrap();
        }
        async fn hear(&mut self) -> Message {
            tokio::time::timeout(Duration::from_secs(5), self.from_server.next()).await.expect("in time").expect("open")
        }
        async fn hear_json(&mut self) -> Value {
            match self.hear().await {
                Message::Text(text) => serde_json::from_str(&text).unwrap(),
                other => panic!("expected text, got {other:?}"),
            }
        }
        async fn hear_close(&mut self) -> (u16, String) {
            match self.hear().await {
                Message::Close(Some(frame)) => (frame.code, frame.reason.to_string()),
                other => panic!("expected close, got {other:?}"),
            }
        }
    }

    fn context(outbox: usize) -> Context {
        context_with(outbox, Duration::from_secs(30))
    }

    fn context_with(outbox: usize, send_timeout: Duration) -> Context {
        let pacing = Pacing {
            heartbeat: Duration::from_secs(2),
            min_gap: Duration::ZERO,
            min_move_percent: 1,
            presence_every: Duration::from_secs(20),
            tick: Duration::from_millis(250),
            seats_every: Duration::from_millis(100),
        };
        let (hub, _changes) = Hub::new(pacing);
        let limits = Limits {
            outbox,
            auth_timeout: Duration::from_millis(300),
            ping_every: Duration::from_secs(30),
            send_timeout,
            max_subscriptions: 2,
            restart_spread: Duration::ZERO,
        };
        Context { hub, auth: Arc::new(FakeAuth), limits, stop: CancellationToken::new() }
    }

    fn connect(ctx: &Context, token: Option<String>, buffer: usize) -> Client {
        let (to_server, incoming) = mpsc::channel(16);
        let (outgoing, from_server) = mpsc::channel(buffer);
        let session = tokio::spawn(run(Duplex { incoming, outgoing }, ctx.clone(), token));
        Client { to_server, from_server, session }
    }

    /// A seat change as the ticket role publishes it: serialized around its version, the number
    /// written in by the publishing script.
    fn seats_payload(event: Uuid, version: i64) -> String {
        let seats = vec![SeatDelta { id: SeatId::new(), status: SeatStatus::Held }];
        let change = SeatsChanged { event_id: EventId(event), version: 0, seats };
        change.around_version().unwrap().at(version)
    }

    #[tokio::test]
    async fn first_message_auth_then_subscriptions_replies_and_errors() {
        let ctx = context(32);
        let (user, event) = (UserId::new(), Uuid::now_v7());
        let mut client = connect(&ctx, None, 64);
        client.say(json!({"type": "auth", "token": format!("good:{user}")})).await;
        client.say(json!({"type": "subscribe", "channel": format!("seats:{event}")})).await;
        client.say(json!({"type": "ping"})).await;
        assert_eq!(client.hear_json().await["type"], "pong", "subscribed waits for the channel to go live");
        ctx.hub.live(Channel::Seats(event), Some(0));
        assert_eq!(
            client.hear_json().await,
            json!({"type": "subscribed", "channel": format!("seats:{event}"), "version": 0})
        );
        ctx.hub.deliver(Channel::Seats(event), &seats_payload(event, 7));
        let change = client.hear_json().await;
        assert_eq!((change["type"].as_str(), change["version"].as_i64()), (Some("seats.changed"), Some(7)));
        let read: SeatsChanged = serde_json::from_value(change).unwrap();
        assert_eq!((read.event_id, read.version, read.seats[0].status), (EventId(event), 7, SeatStatus::Held));

        client.say_raw(Message::Text("{nope".into())).await;
        assert_eq!(client.hear_json().await["code"], "MALFORMED_MESSAGE");
        client.say_raw(Message::Binary(vec![1, 2, 3].into())).await;
        assert_eq!(client.hear_json().await["code"], "MALFORMED_MESSAGE");
        client.say(json!({"type": "dance"})).await;
        assert_eq!(client.hear_json().await["code"], "UNKNOWN_MESSAGE_TYPE");
        client.say(json!({"type": "subscribe", "channel": format!("queue:{event}:{}", UserId::new())})).await;
        let refused = client.hear_json().await;
        assert_eq!((refused["code"].as_str(), refused["channel"].is_string()), (Some("FORBIDDEN_CHANNEL"), true));
        client.say(json!({"type": "subscribe", "channel": format!("seats:{}", Uuid::now_v7())})).await;
        client.say(json!({"type": "subscribe", "channel": format!("seats:{}", Uuid::now_v7())})).await;
        assert_eq!(client.hear_json().await["code"], "TOO_MANY_SUBSCRIPTIONS");
        client.say(json!({"type": "auth", "token": format!("good:{}", UserId::new())})).await;
        assert_eq!(client.hear_json().await["code"], "INVALID_TOKEN", "a socket cannot change user");

        client.say(json!({"type": "unsubscribe", "channel": format!("seats:{event}")})).await;
        assert_eq!(client.hear_json().await["type"], "unsubscribed");
        assert_eq!(ctx.hub.deliver(Channel::Seats(event), &seats_payload(event, 8)), 0);
        drop(client.to_server);
        assert_eq!(client.session.await.unwrap(), End::Gone);
        assert_eq!(ctx.hub.counts(), (0, 0), "a closed socket leaves no subscription behind");
    }

    #[tokio::test]
    async fn missing_invalid_or_expired_tokens_close_with_4401() {
        let ctx = context(8);
        let mut bad = connect(&ctx, Some("forged".into()), 8);
        let (code, reason) = bad.hear_close().await;
        assert_eq!(code, CLOSE_UNAUTHENTICATED);
        assert!(reason.starts_with("INVALID_TOKEN"), "{reason}");

        let mut silent = connect(&ctx, None, 8);
        let (code, reason) = silent.hear_close().await;
        assert_eq!((code, reason.starts_with("UNAUTHENTICATED")), (CLOSE_UNAUTHENTICATED, true), "{reason}");

        let mut wrong_first = connect(&ctx, None, 8);
        wrong_first.say(json!({"type": "ping"})).await;
        assert_eq!(wrong_first.hear_close().await.0, CLOSE_UNAUTHENTICATED);

        let user = UserId::new();
        let mut short = connect(&ctx, Some(format!("short:{user}")), 8);
        let (code, reason) = short.hear_close().await;
        assert_eq!((code, reason.starts_with("TOKEN_EXPIRED")), (CLOSE_UNAUTHENTICATED, true), "{reason}");
        assert_eq!(short.session.await.unwrap(), End::Unauthenticated);

        let mut renewed = connect(&ctx, Some(format!("short:{user}")), 8);
        renewed.say(json!({"type": "auth", "token": format!("good:{user}")})).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        renewed.say(json!({"type": "ping"})).await;
        assert_eq!(renewed.hear_json().await["type"], "pong", "a renewed token keeps the socket open");
    }

    #[tokio::test]
    async fn a_stalled_reader_skips_seat_windows_holds_up_no_one_and_is_dropped_at_the_send_timeout() {
        let ctx = context_with(4, Duration::from_secs(2));
        let event = Uuid::now_v7();
        ctx.hub.live(Channel::Seats(event), Some(0));
        let mut healthy = connect(&ctx, Some(format!("good:{}", UserId::new())), 1);
        // The stalled client never reads: its socket accepts one message, then writes block.
        let mut stalled = connect(&ctx, Some(format!("good:{}", UserId::new())), 0);
        for client in [&mut healthy, &mut stalled] {
            client.say(json!({"type": "subscribe", "channel": format!("seats:{event}")})).await;
        }
        assert_eq!(healthy.hear_json().await["type"], "subscribed");
        let reader = tokio::spawn(async move {
            let mut windows = Vec::new();
            while windows.last().is_none_or(|&(_, to)| to < 200) {
                let change = healthy.hear_json().await;
                windows.push((change["from_version"].as_i64().unwrap(), change["version"].as_i64().unwrap()));
            }
            (windows, healthy)
        });
        for version in 1..=200 {
            ctx.hub.deliver(Channel::Seats(event), &seats_payload(event, version));
            tokio::task::yield_now().await;
        }
        ctx.hub.tick_seats(tokio::time::Instant::now() + Duration::from_secs(1));
        let (windows, _still_open) = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert!(windows.len() < 200, "coalesced: {} messages", windows.len());
        let mut next = 1;
        for (from, to) in windows {
            assert_eq!(from, next, "contiguous windows");
            next = to + 1;
        }
        assert!(!stalled.session.is_finished(), "seat windows are skipped, never queued up to overflowing");
        let end = tokio::time::timeout(Duration::from_secs(5), stalled.session).await.expect("dropped").unwrap();
        assert_eq!(end, End::Slow);
        assert_eq!(ctx.hub.counts().0, 1, "only the healthy socket is still subscribed");
    }

    #[tokio::test]
    async fn shutdown_tells_clients_to_reconnect() {
        let ctx = context(8);
        let mut client = connect(&ctx, Some(format!("good:{}", UserId::new())), 8);
        client.say(json!({"type": "ping"})).await;
        assert_eq!(client.hear_json().await["type"], "pong");
        ctx.stop.cancel();
        assert_eq!(client.hear_close().await.0, CLOSE_RESTART);
        assert_eq!(client.session.await.unwrap(), End::Restart);
    }

    #[tokio::test]
    async fn shutdown_spreads_the_closes_over_the_restart_spread() {
        let mut ctx = context(8);
        ctx.limits.restart_spread = Duration::from_millis(1000);
        let mut clients: Vec<Client> =
            (0..20).map(|_| connect(&ctx, Some(format!("good:{}", UserId::new())), 8)).collect();
        for client in &mut clients {
            client.say(json!({"type": "ping"})).await;
            assert_eq!(client.hear_json().await["type"], "pong");
        }
        let started = std::time::Instant::now();
        ctx.stop.cancel();
        let closed_at: Vec<Duration> = futures::future::join_all(clients.iter_mut().map(|client| async move {
            assert_eq!(client.hear_close().await.0, CLOSE_RESTART);
            started.elapsed()
        }))
        .await;
        let (first, last) = (closed_at.iter().min().unwrap(), closed_at.iter().max().unwrap());
        // Twenty uniform delays: all inside a tenth of the spread has odds of 1e-20.
        assert!(*last - *first > Duration::from_millis(100), "spread out: {closed_at:?}");
        assert!(*last < Duration::from_millis(1500), "all within the spread: {closed_at:?}");
    }
}
