//! The waiting room: a fair queue in Redis, enforced at the door.
//!
//! - [`store`]: keys and atomic Lua scripts (join, leave, open the pre-queue, admit)
//! - [`admission`]: the admission loop every replica runs, and admission tokens
//! - [`receipt`], [`checkpoint`]: what brings the room back when Redis loses it
//!
//! Buyers who join before the sale opens wait in a pre-queue drawn into random order at the
//! opening; later arrivals queue behind them in arrival order. Admission takes from the head while
//! fewer than `max_active` buyers are admitted and fewer than `admit_per_minute` were admitted in
//! the last minute, spread evenly: at most `admit_per_minute / 60` (rounded up) in any second.
//! An admitted buyer gets a signed admission token that holds require.

pub mod admission;
pub mod checkpoint;
pub mod proof;
pub mod receipt;
pub mod store;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tiketi_shared::error::Problem;
use tiketi_shared::extract::{ClientIp, Path};
use tiketi_shared::ratelimit::Limit;
use tiketi_shared::token::AuthUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, Json};
use utoipa::ToSchema;

use crate::TicketState;
use crate::holds::SaleRules;
use crate::model::EventId;
use receipt::Receipt;
use store::{JoinBudget, Returning, Seen, Standing};
use tiketi_shared::ids::UserId;
use tiketi_shared::waiting_room::{self, WATCH_BATCH, WatchReply, WatchRequest};

#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QueueStatus {
    Admitted {
        admission_token: String,
        expires_at: DateTime<Utc>,
    },
    Waiting {
        /// 1 = next to be admitted. Before the opening: the pre-queue's size (the draw decides).
        position: i64,
        ahead: i64,
        /// From the measured admission rate; null until one is measured.
        eta_seconds: Option<i64>,
        queue_size: i64,
        /// This waiter's number; with `served` from `queue:<event_id>` messages, `ticket − served`
        /// bounds the position without asking the server. Null in the pre-queue (not drawn yet)
        /// and for a place brought back after an outage.
        ticket: Option<i64>,
        /// This place, signed: should the waiting room lose its state, showing it again (header
        /// `X-Queue-Receipt` on join or status) puts the waiter back where they stood.
        receipt: String,
    },
}

/// The header that shows a waiting-room receipt again.
pub const RECEIPT_HEADER: &str = "x-queue-receipt";

/// Runs a waiting-room call that needs the room's generation in Redis (`None` without one),
/// starting the generation first when Redis has none.
pub async fn in_generation<T, F, Fut>(state: &TicketState, event: EventId, mut call: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<Option<T>>>,
{
    if let Some(answer) = call().await? {
        return Ok(answer);
    }
    checkpoint::start(state, event).await?;
    call().await?.ok_or_else(|| ApiError::new(ErrorCode::ServiceUnavailable).detail("the waiting room is restarting"))
}

/// Puts the caller back from a receipt shown in [`RECEIPT_HEADER`] (nothing when none is shown);
/// a receipt that is not this buyer's for this event is refused.
async fn show_receipt(state: &TicketState, event: EventId, user: UserId, headers: &HeaderMap) -> ApiResult<()> {
    let Some(shown) = headers.get(RECEIPT_HEADER) else { return Ok(()) };
    let receipt = shown
        .to_str()
        .ok()
        .and_then(|text| Receipt::verify(text, &state.admission_keys))
        .filter(|r| r.event == event && r.user == user)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::ValidationFailed)
                .detail("X-Queue-Receipt is not a receipt of this waiting room for this buyer")
        })?;
    restore(state, event, &[receipt]).await
}

/// Puts waiters of a lost generation back from their (verified) receipts.
async fn restore(state: &TicketState, event: EventId, receipts: &[Receipt]) -> ApiResult<()> {
    let returning: Vec<Returning> = receipts
        .iter()
        .map(|r| Returning { user: r.user, epoch: r.epoch, order: r.place, joined_ms: r.joined_ms })
        .collect();
    let now_ms = state.clock.now().timestamp_millis();
    let room = &state.waiting_room;
    let back = in_generation(state, event, || room.restore(event, &returning, now_ms)).await?;
    if back > 0 {
        #[allow(clippy::cast_sign_loss)]
        metrics::counter!("tiketi_queue_restored_total", "kind" => "waiting").increment(back as u64);
    }
    Ok(())
}

/// The receipt of a standing, signed.
fn receipt_of(
    state: &TicketState,
    event: EventId,
    user: UserId,
    epoch: i64,
    place: Option<i64>,
    joined_ms: i64,
) -> String {
    Receipt { event, user, epoch, place, joined_ms }.sign(&state.admission_keys)
}

impl IntoResponse for QueueStatus {
    fn into_response(self) -> Response {
        let status = match self {
            QueueStatus::Admitted { .. } => StatusCode::OK,
            QueueStatus::Waiting { .. } => StatusCode::ACCEPTED,
        };
        (status, Json(self)).into_response()
    }
}

/// Join the event's waiting room (idempotent: a second join keeps the place). A receipt shown in
/// `X-Queue-Receipt` first puts the buyer back where it says, if the room lost its state since.
/// Where the waiting room asks for proof of work, a join without a solved challenge answers 428
/// `PROOF_REQUIRED` with `challenge`, `difficulty` and `expires_at`: find a `solution` such that
/// SHA-256(`challenge:solution`) starts with `difficulty` zero bits and join again with
/// `X-Queue-Proof: challenge:solution`. Joins count per event against budgets per client address
/// and per account (429 `RATE_LIMITED`).
#[utoipa::path(post, path = "/api/events/{id}/queue", tag = "waiting room", security(("bearer" = [])),
    params(("id" = EventId, Path), ReceiptHeader, ProofHeader),
    responses(
        (status = 200, description = "admitted", body = QueueStatus),
        (status = 202, description = "waiting", body = QueueStatus),
        (status = 409, description = "`SALE_NOT_OPEN`, `SALE_CLOSED`, `EVENT_CANCELLED`", body = Problem),
        (status = 422, description = "`VALIDATION_FAILED`: a receipt not of this room for this buyer", body = Problem),
        (status = 428, description = "`PROOF_REQUIRED`, with `challenge`, `difficulty`, `expires_at`", body = Problem),
        (status = 429, body = Problem),
        (status = 503, body = Problem),
    ))]
pub async fn join(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    ClientIp(ip): ClientIp,
    Path(event): Path<EventId>,
    headers: HeaderMap,
) -> ApiResult<QueueStatus> {
    let now = state.clock.now();
    // A cached snapshot may admit a join; a refusal is confirmed against the current row.
    let mut rules = state.current_rules(event, false).await?;
    if check_joinable(&state, &rules, now).is_err() {
        rules = state.current_rules(event, true).await?;
        check_joinable(&state, &rules, now)?;
    }
    let queue = &state.settings.queue;
    if !rules.waiting_room_enabled {
        // Events without a waiting room admit at once.
        let limit = Limit { name: "queue_join", max: queue.join_ip_limit_per_minute, window: ONE_MINUTE };
        state.limiter.hit(&limit, &ip.to_string()).await?;
        return admission::admitted(&state, event, claims.sub, now + window(&state), None);
    }
    if queue.proof_difficulty > 0 {
        check_proof(&state, event, claims.sub, &headers, now.timestamp_millis())?;
    }
    show_receipt(&state, event, claims.sub, &headers).await?;
    let before_open = now < rules.sale_opens_at;
    let budget = JoinBudget {
        address: ip.to_string(),
        per_address: queue.join_ip_limit_per_minute,
        per_account: queue.join_account_limit_per_minute,
        window_ms: i64::try_from(ONE_MINUTE.as_millis()).unwrap_or(i64::MAX),
    };
    let room = &state.waiting_room;
    let now_ms = now.timestamp_millis();
    let standing =
        in_generation(&state, event, || room.standing(event, claims.sub, now_ms, before_open, true, Some(&budget)))
            .await?;
    if !matches!(standing, Standing::Limited { .. }) {
        metrics::counter!("tiketi_queue_joins_total").increment(1);
    }
    respond(&state, event, claims.sub, standing)
}

const ONE_MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

/// A join's proof of work ([`proof`]); refused, the answer carries a fresh challenge.
fn check_proof(state: &TicketState, event: EventId, user: UserId, headers: &HeaderMap, now_ms: i64) -> ApiResult<()> {
    let difficulty = state.settings.queue.proof_difficulty;
    let shown = headers.get(proof::PROOF_HEADER).and_then(|v| v.to_str().ok());
    let Err(refusal) = proof::check(&state.admission_keys, shown, event, user, difficulty, now_ms) else {
        return Ok(());
    };
    metrics::counter!("tiketi_queue_proofs_refused_total", "why" => refusal.as_str()).increment(1);
    let challenge = proof::challenge(&state.admission_keys, event, user, difficulty, now_ms);
    let expires_at = DateTime::from_timestamp_millis(now_ms + proof::CHALLENGE_TTL_MS).unwrap_or_default();
    Err(ApiError::new(ErrorCode::ProofRequired)
        .detail(refusal.describe())
        .extra("challenge", challenge)
        .extra("difficulty", difficulty)
        .extra("expires_at", expires_at))
}

/// Where the caller stands (also counts as being present). A receipt shown in `X-Queue-Receipt`
/// first puts the buyer back where it says, if the room lost its state since.
#[utoipa::path(get, path = "/api/events/{id}/queue", tag = "waiting room", security(("bearer" = [])),
    params(("id" = EventId, Path), ReceiptHeader),
    responses(
        (status = 200, description = "admitted", body = QueueStatus),
        (status = 202, description = "waiting", body = QueueStatus),
        (status = 404, description = "`NOT_IN_QUEUE`", body = Problem),
        (status = 422, description = "`VALIDATION_FAILED`: a receipt not of this room for this buyer", body = Problem),
    ))]
pub async fn status(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    Path(event): Path<EventId>,
    headers: HeaderMap,
) -> ApiResult<QueueStatus> {
    let now = state.clock.now();
    let rules = state.current_rules(event, false).await?;
    if rules.waiting_room_enabled {
        show_receipt(&state, event, claims.sub, &headers).await?;
    }
    let before_open = now < rules.sale_opens_at;
    let room = &state.waiting_room;
    let standing = in_generation(&state, event, || {
        room.standing(event, claims.sub, now.timestamp_millis(), before_open, false, None)
    })
    .await?;
    respond(&state, event, claims.sub, standing)
}

/// `X-Queue-Proof`, as documented.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct ProofHeader {
    /// `challenge:solution`, where the waiting room asks for proof of work.
    #[param(rename = "X-Queue-Proof")]
    x_queue_proof: Option<String>,
}

/// `X-Queue-Receipt`, as documented.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct ReceiptHeader {
    /// A receipt from an earlier answer (`receipt`), shown again after the room lost its state.
    #[param(rename = "X-Queue-Receipt")]
    x_queue_receipt: Option<String>,
}

/// Leave the queue, or give up the admission.
#[utoipa::path(delete, path = "/api/events/{id}/queue", tag = "waiting room", security(("bearer" = [])),
    params(("id" = EventId, Path)), responses((status = 204, description = "left")))]
pub async fn leave(
    State(state): State<TicketState>,
    AuthUser(claims): AuthUser,
    Path(event): Path<EventId>,
) -> ApiResult<StatusCode> {
    state.waiting_room.leave(event, claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Internal (realtime role): where each of up to [`WATCH_BATCH`] buyers stands, with admission
/// tokens for the admitted; the waiting ones count as present.
pub async fn internal_watch(
    State(state): State<TicketState>,
    Path(event): Path<EventId>,
    Json(request): Json<WatchRequest>,
) -> ApiResult<Json<WatchReply>> {
    if request.users.len() > WATCH_BATCH {
        return Err(ApiError::new(ErrorCode::ValidationFailed).detail(format!("at most {WATCH_BATCH} users per call")));
    }
    // Receipts the realtime role kept for its sockets put them back first (others are ignored:
    // the realtime role only relays what the ticket role gave out).
    let receipts: Vec<Receipt> = request
        .receipts
        .iter()
        .filter_map(|text| Receipt::verify(text, &state.admission_keys))
        .filter(|r| r.event == event && request.users.contains(&r.user))
        .collect();
    restore(&state, event, &receipts).await?;
    let now = state.clock.now();
    let room = &state.waiting_room;
    let watched = in_generation(&state, event, || room.watch(event, &request.users, now.timestamp_millis())).await?;
    let epoch = watched.epoch;
    let mut standings = Vec::with_capacity(watched.standings.len());
    for (&user, seen) in request.users.iter().zip(watched.standings) {
        standings.push(match seen {
            Seen::Admitted { until_ms } => {
                let expires_at = DateTime::from_timestamp_millis(until_ms).unwrap_or(now);
                let admission_token = admission::token(&state, event, user, expires_at, Some(epoch))?;
                waiting_room::Standing::Admitted { admission_token, expires_at }
            }
            Seen::Waiting { position, order, joined_ms } => waiting_room::Standing::Waiting {
                position,
                receipt: Some(receipt_of(&state, event, user, epoch, Some(order), joined_ms)),
            },
            Seen::PreQueue { size, joined_ms } => waiting_room::Standing::PreQueue {
                size,
                receipt: Some(receipt_of(&state, event, user, epoch, None, joined_ms)),
            },
            Seen::Absent => waiting_room::Standing::Absent,
        });
    }
    Ok(Json(WatchReply {
        served: watched.served,
        queue_size: watched.queue_size,
        rate: watched.rate,
        epoch,
        standings,
    }))
}

fn window(state: &TicketState) -> chrono::Duration {
    chrono::Duration::from_std(state.settings.queue.admission_window).unwrap_or(chrono::Duration::minutes(10))
}

fn check_joinable(state: &TicketState, rules: &SaleRules, now: DateTime<Utc>) -> ApiResult<()> {
    let early = chrono::Duration::from_std(state.settings.queue.prequeue_opens_before).unwrap_or_default();
    if rules.cancelled {
        Err(ApiError::new(ErrorCode::EventCancelled))
    } else if now >= rules.sale_closes_at {
        Err(ApiError::new(ErrorCode::SaleClosed))
    } else if now < rules.sale_opens_at - early {
        Err(ApiError::new(ErrorCode::SaleNotOpen)
            .detail(format!("the waiting room opens {} before the sale", humanize(early))))
    } else {
        Ok(())
    }
}

fn humanize(d: chrono::Duration) -> String {
    if d.num_minutes() >= 1 { format!("{} minutes", d.num_minutes()) } else { format!("{} seconds", d.num_seconds()) }
}

fn respond(state: &TicketState, event: EventId, user: UserId, standing: Standing) -> ApiResult<QueueStatus> {
    match standing {
        Standing::Admitted { until_ms, epoch } => {
            let until = DateTime::from_timestamp_millis(until_ms).unwrap_or_default();
            admission::admitted(state, event, user, until, Some(epoch))
        }
        Standing::Waiting { position, size, ticket, rate, order, joined_ms, epoch } => {
            let ahead = position - 1;
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let eta_seconds = (rate > 0.001).then(|| (ahead as f64 / rate).ceil() as i64);
            let receipt = receipt_of(state, event, user, epoch, Some(order), joined_ms);
            Ok(QueueStatus::Waiting { position, ahead, eta_seconds, queue_size: size, ticket, receipt })
        }
        Standing::PreQueue { size, joined_ms, epoch } => Ok(QueueStatus::Waiting {
            position: size,
            ahead: size - 1,
            eta_seconds: None,
            queue_size: size,
            ticket: None,
            receipt: receipt_of(state, event, user, epoch, None, joined_ms),
        }),
        Standing::Absent => Err(ApiError::new(ErrorCode::NotInQueue)),
        Standing::Limited { limit, retry_ms } => {
            metrics::counter!("tiketi_rate_limited_total", "limit" => limit).increment(1);
            #[allow(clippy::cast_sign_loss)]
            let retry_after = (retry_ms.max(0) as u64).div_ceil(1000);
            Err(ApiError::new(ErrorCode::RateLimited)
                .detail(format!("limit {limit} exceeded"))
                .retry_after(retry_after))
        }
    }
}
