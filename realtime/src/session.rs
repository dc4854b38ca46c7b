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
        End::Unauthenticated => close(socket, CLOSE_UNAUTHENTICATED, "TOKEN_EXPIRED: reconnect with a fresh token").await,
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
    let mut keepalive = tokio::time::interval_at(Instant::now() + ctx.limits.ping_every, ctx.limits.ping_every);
    let mut heard = true;
    loop {
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return End::Restart,
            () = &mut expiry => return End::Unauthenticated,
            () = outbox.ready() => {
                while let Some(message) = outbox.pop() {
                    if let Err(end) = send(socket, ctx, outbox, Message::Text(message)).await {
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
                if let Err(end) = send(socket, ctx, outbox, Message::Ping(Default::default())).await {
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
            Ok(_) => reply_error(outbox, &Failure::new("INVALID_TOKEN", "a socket stays with the user it opened as"), None),
            Err(refusal) => reply_error(outbox, &refusal, None),
        },
        ClientMessage::Subscribe { channel: name } => match Channel::parse(&name, outbox.user) {
            Err(refusal) => reply_error(outbox, &refusal, Some(&name)),
            Ok(channel) if subscriptions.contains(&channel) => {
                outbox.push(ServerMessage::Subscribed { channel: &channel.topic() }.text().into());
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
async fn send<S, E>(socket: &mut S, ctx: &Context, outbox: &Outbox, message: Message) -> Result<(), End>
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
{
    tokio::select! {
        biased;
        () = ctx.stop.cancelled() => Err(End::Restart),
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
