//! The realtime gateway: `GET /ws`, a WebSocket per buyer pushing their waiting-room position
//! and admission, and live seat-map changes.
//!
//! - [`protocol`]: client and server messages, channels
//! - [`session`]: one socket's loop (auth, subscriptions, keepalive, dropping slow clients)
//! - [`hub`]: the process's subscriptions and fan-out, queue positions
//! - [`pump`]: the one Redis pub/sub connection, subscribed to what local sockets want
//! - [`standings`]: exact positions and admission tokens from the ticket role, in batches
//!
//! The role keeps no state of its own beyond its sockets: any number of replicas can run behind
//! a load balancer, each subscribing once per channel it has sockets for.

pub mod hub;
pub mod protocol;
pub mod pump;
pub mod session;
pub mod settings;
pub mod standings;

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tiketi_shared::error::Problem;
use tiketi_shared::extract::Query;
use tiketi_shared::redis::Redis;
use tiketi_shared::{ApiError, ErrorCode};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::hub::Hub;
use crate::session::{Authenticate, Context};
use crate::settings::RealtimeSettings;
use crate::standings::Standings;

pub const ROLE: &str = "realtime";

/// A client message is at most this big (an `auth` message carries a token of ~500 bytes).
const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// tungstenite's default is a 128 KiB read buffer per socket; client messages are small.
const READ_BUFFER_BYTES: usize = 1024;
/// Beyond this much unsent data a write fails and the socket is dropped.
const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct RealtimeState {
    ctx: Context,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl RealtimeState {
    pub fn hub(&self) -> &Arc<Hub> {
        &self.ctx.hub
    }
}

/// Starts the role's background tasks (Redis pump, standings reader, position ticker) on
/// `tasks`; sockets are tracked there too, so shutdown waits for them to say goodbye.
pub fn start(
    settings: &RealtimeSettings,
    redis: Redis,
    auth: Arc<dyn Authenticate>,
    standings: Arc<dyn Standings>,
    stop: CancellationToken,
    tasks: &TaskTracker,
) -> RealtimeState {
    let (hub, changes) = Hub::new(settings.pacing);
    tasks.spawn(pump::run(hub.clone(), redis, changes, stop.clone()));
    tasks.spawn(standings::run(hub.clone(), standings, stop.clone()));
    tasks.spawn(tick(hub.clone(), settings.pacing.tick, Hub::tick, stop.clone()));
    tasks.spawn(tick(hub.clone(), settings.pacing.seats_every / 4, Hub::tick_seats, stop.clone()));
    RealtimeState {
        ctx: Context { hub, auth, limits: settings.limits, stop },
        slots: Arc::new(Semaphore::new(settings.max_connections)),
        tasks: tasks.clone(),
    }
}

/// Runs `step` every `every` (positions and heartbeats; seat-change windows).
async fn tick(
    hub: Arc<Hub>,
    every: std::time::Duration,
    step: fn(&Hub, tokio::time::Instant) -> u64,
    stop: CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            now = interval.tick() => {
                let queued = step(&hub, now);
                metrics::counter!("tiketi_realtime_pushed_total").increment(queued);
            }
        }
    }
}

pub fn router(state: RealtimeState) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(upgrade)).with_state(state)
}

#[derive(Deserialize, IntoParams)]
struct Connect {
    /// The access token (or send `{"type":"auth","token":…}` as the first message).
    token: Option<String>,
}

/// The realtime WebSocket (see API.md, "Realtime", for messages and close codes).
#[utoipa::path(get, path = "/ws", tag = "realtime", params(Connect),
    responses(
        (status = 101, description = "switching to WebSocket"),
        (status = 426, description = "`UPGRADE_REQUIRED`: not a WebSocket request", body = Problem),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: this replica is full; retry", body = Problem),
    ))]
async fn upgrade(
    State(state): State<RealtimeState>,
    Query(connect): Query<Connect>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return ApiError::new(ErrorCode::UpgradeRequired).detail(e.body_text()).into_response(),
    };
    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        metrics::counter!("tiketi_realtime_refused_total").increment(1);
        return ApiError::new(ErrorCode::ServiceUnavailable)
            .detail("this server is at its connection limit; retry")
            .retry_after(1)
            .into_response();
    };
    let RealtimeState { ctx, tasks, .. } = state;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            tasks.track_future(async move {
                metrics::gauge!("tiketi_realtime_connections").increment(1.0);
                session::run(socket, ctx, connect.token).await;
                metrics::gauge!("tiketi_realtime_connections").decrement(1.0);
                drop(slot);
            })
        })
}
