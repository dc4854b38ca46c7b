//! An independent checker of a sale's end state.
//!
//! After a sale (a load test, a staging rehearsal, a real on-sale), [`check`] reads the stores
//! as they are — PostgreSQL, Redis, the Toss sandbox's transactions look-up and the public admin
//! API — and says, invariant by invariant, whether the promises of `docs/architecture.md` held.
//! It depends on no Tiketi crate: it reads tables, keys and endpoints directly, so a bug in
//! Tiketi's own types or queries cannot hide the state it is checking. Queries are built at run
//! time for the same reason (they read the schema deployed, not a cache of it).
//!
//! # The invariants
//!
//! | name | checks |
//! |---|---|
//! | `seats` | `ticket.seats` ↔ `ticket.reservation_seats` ↔ `ticket.reservations`, both ways: a sold seat names one confirmed reservation that lists it live, a held seat one pending; no seat in two pending/confirmed reservations; `live` agrees with the reservation's status; a live reservation covers a seat |
//! | `toss-captures` | Toss's `GET /v1/transactions` folded per `paymentKey`: money still captured belongs (orderId → `payment.orders` → `ticket.reservations`) to a confirmed reservation; a confirmed reservation has exactly one payment still captured, of its amount; Toss's cancels of an order equal the refunds `payment.refunds` recorded done |
//! | `paid-orders` | `payment.orders` paid/partially refunded → reservation confirmed; no order Toss reported `DONE` left unsettled; every confirmed reservation has one paid order of its amount; every orderId Toss captured for is a `payment.orders` row |
//! | `admissions` | per waiting-room event, live admissions in Redis (`<prefix>{ev:<id>}:active` members whose end is after now, plus slots held for a lost generation in `…:ghosts` not yet returned in `…:returned`) ≤ `ticket.events.max_active`; with `--samples`, every sampled count too |
//! | `webhooks` | `payment.webhook_inbox`: every stored delivery applied, no delivery (same body) stored and applied under two ids; per order, done refunds ≤ the amount and the balance = amount − done refunds |
//! | `outbox` | `ticket.outbox` and `payment.outbox`: every row published; every published row in `stats.applied_events`; every published `reservation.held` (the one kind the worker acts on and records) in `worker.consumed_events` |
//! | `stats` | `stats.*` projections against `ticket.*`/`payment.*`: seats total and sold (per event and section), reservations per status and paid, orders per status, gross captured, refunds; with an API URL, `GET /api/admin/stats/overview`, `…/events/{id}/sections` and `…/funnel?event_id=` against the same truth |
//!
//! Each yields holds, violated (with up to 20 offending ids and the total), not checked (an
//! input was not given, and which), or error (a store could not be read — counted as a failure).
//! What a check leaves out by design is said in its notes.
//!
//! # Running it
//!
//! ```text
//! sale-check --event <uuid> | --all-events   (all: every event but `tiketi seed`'s demo events)
//!     [--database-url URL]        TIKETI_DATABASE_URL or DATABASE_URL (required)
//!     [--redis-url URL]           TIKETI_REDIS_URL (else `admissions` is not checked)
//!     [--redis-key-prefix P]      TIKETI_REDIS_KEY_PREFIX (default `tiketi:`, as Tiketi's)
//!     [--toss-url URL]            TIKETI_TOSS_API_URL (else the Toss parts are not checked)
//!     [--toss-secret-key KEY]     TIKETI_TOSS_SECRET_KEY (local sandbox: test_sk_dev-only-tiketi-sandbox)
//!     [--api-url URL]             SALE_CHECK_API_URL (else the API comparison is left out)
//!     [--admin-token JWT]         SALE_CHECK_ADMIN_TOKEN, or
//!     [--admin-email E --admin-password P]  TIKETI_ADMIN_EMAIL / TIKETI_ADMIN_PASSWORD (logs in)
//!     [--samples FILE]            admitted counts sampled during the sale: `<count>` or `<event id> <count>` per line
//!     [--now RFC3339]             judge admissions at this instant (default: now)
//! ```
//!
//! Locally, with the variables of `./dev env` exported (they name the database, Redis and the
//! sandbox): `cargo run -p tiketi-sale-check -- --event <id> --api-url http://127.0.0.1:8080
//! --admin-email admin@tiketi.local --admin-password <its password>`. It prints every finding
//! and a last line `RESULT sale-check: <scope>: all N invariants hold` (or what failed), and
//! exits 1 when an invariant is violated or could not be read, 2 on bad arguments, 0 otherwise.

mod admissions;
mod api;
mod outbox;
mod payments;
pub mod report;
mod seats;
mod stats;
pub mod toss;
mod webhooks;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

pub use report::{Finding, Invariant, Offences, Outcome, Report};

/// What to check: one event's sale, or every event in the database made through the API.
///
/// `All` leaves out the demo events `tiketi seed` makes (`ticket.events.seed_key` set): their
/// sold-out sections are sold to the box office directly, with no payment and no domain event,
/// so they would break every money and stats invariant without being a sale. Name one with
/// `Event` to check it anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Event(Uuid),
    All,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Event(id) => write!(f, "event {id}"),
            Scope::All => f.write_str("all events"),
        }
    }
}

/// Where the waiting rooms live.
#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    /// `TIKETI_REDIS_KEY_PREFIX` of the deployment.
    pub key_prefix: String,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisConfig").field("key_prefix", &self.key_prefix).finish_non_exhaustive()
    }
}

/// Toss's API (the sandbox locally) and the merchant's secret key.
#[derive(Clone)]
pub struct TossConfig {
    pub url: String,
    pub secret_key: String,
}

impl fmt::Debug for TossConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TossConfig").field("url", &self.url).finish_non_exhaustive()
    }
}

/// How to act as an admin on the public API.
#[derive(Clone)]
pub enum AdminAuth {
    /// An admin access token.
    Token(String),
    /// An admin account, signed in with `POST /api/auth/login`.
    Login { email: String, password: String },
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminAuth::Token(_) => f.write_str("Token(..)"),
            AdminAuth::Login { email, .. } => f.debug_struct("Login").field("email", email).finish_non_exhaustive(),
        }
    }
}

/// The public API whose admin stats are compared with the ground truth.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `http://host:port`, without `/api`.
    pub base_url: String,
    pub admin: AdminAuth,
}

/// Everything a run reads. Only the database is required; each missing input leaves the parts
/// that need it not checked, and the report says so.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: PgConnectOptions,
    pub scope: Scope,
    pub redis: Option<RedisConfig>,
    pub toss: Option<TossConfig>,
    pub api: Option<ApiConfig>,
    /// Admitted counts sampled during the sale (see the `admissions` invariant).
    pub samples: Option<PathBuf>,
    /// The instant admissions are judged at; now unless given.
    pub now: Option<DateTime<Utc>>,
}

impl Config {
    /// A configuration reading only the database, over `scope`.
    pub fn new(database: PgConnectOptions, scope: Scope) -> Self {
        Config { database, scope, redis: None, toss: None, api: None, samples: None, now: None }
    }
}

/// What every check reads from: the open database, the scope, the instant, Toss's ledger.
pub(crate) struct Context<'a> {
    pub pool: PgPool,
    /// The events in scope (every query filters on them).
    pub events: Vec<Uuid>,
    /// Whether the scope is everything: rows that belong to no event are checked too.
    pub all: bool,
    pub now: DateTime<Utc>,
    /// Toss's ledger, read once for the checks that need it; `None` when no Toss URL was given.
    pub toss: Option<Result<toss::Ledger, String>>,
    pub config: &'a Config,
}

impl Context<'_> {
    /// Toss's ledger, or why there is none (`Err(not checked reason)` / `Err(error)`).
    pub fn ledger(&self) -> Result<&toss::Ledger, TossMissing> {
        match &self.toss {
            None => Err(TossMissing::NotGiven),
            Some(Err(e)) => Err(TossMissing::Unreadable(e.clone())),
            Some(Ok(ledger)) => Ok(ledger),
        }
    }
}

/// Why a check has no Toss ledger to read.
pub(crate) enum TossMissing {
    NotGiven,
    Unreadable(String),
}

/// Checks every invariant over `config.scope` and reports each.
pub async fn check(config: &Config) -> Report {
    let scope = config.scope.to_string();
    let everything_broken = |error: anyhow::Error| Report {
        scope: scope.clone(),
        notes: Vec::new(),
        findings: Invariant::ALL.iter().map(|&i| Finding::error(i, &error)).collect(),
    };
    let pool = match connect(&config.database).await {
        Ok(pool) => pool,
        Err(e) => return everything_broken(e.context("connecting to PostgreSQL")),
    };
    let (events, notes) = match in_scope(&pool, config.scope).await {
        Ok(resolved) => resolved,
        Err(e) => {
            pool.close().await;
            return everything_broken(e);
        }
    };
    let toss = match &config.toss {
        None => None,
        Some(toss) => Some(toss::Ledger::load(toss).await.map_err(|e| format!("reading Toss's transactions: {e:#}"))),
    };
    let ctx = Context {
        pool,
        events,
        all: config.scope == Scope::All,
        now: config.now.unwrap_or_else(Utc::now),
        toss,
        config,
    };
    let findings = vec![
        settle(Invariant::Seats, seats::check(&ctx).await),
        settle(Invariant::TossCaptures, payments::toss_captures(&ctx).await),
        settle(Invariant::PaidOrders, payments::paid_orders(&ctx).await),
        settle(Invariant::Admissions, admissions::check(&ctx).await),
        settle(Invariant::Webhooks, webhooks::check(&ctx).await),
        settle(Invariant::Outbox, outbox::check(&ctx).await),
        settle(Invariant::Stats, stats::check(&ctx).await),
    ];
    ctx.pool.close().await;
    Report { scope, notes, findings }
}

/// A small pool, after one plain connection so a refusal is reported as itself (a pool only
/// says that it timed out).
async fn connect(options: &PgConnectOptions) -> anyhow::Result<PgPool> {
    use sqlx::Connection as _;
    sqlx::PgConnection::connect_with(options).await?.close().await?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone())
        .await?;
    Ok(pool)
}

/// The events `scope` covers, and what was left out of it. An unknown event id is an error: it
/// would make every check hold over nothing.
async fn in_scope(pool: &PgPool, scope: Scope) -> anyhow::Result<(Vec<Uuid>, Vec<String>)> {
    let events: Vec<(Uuid, bool)> = sqlx::query_as("SELECT id, seed_key IS NOT NULL FROM ticket.events ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(|e| anyhow::anyhow!("reading ticket.events: {e}"))?;
    match scope {
        Scope::Event(id) => {
            anyhow::ensure!(events.iter().any(|(e, _)| *e == id), "there is no event {id} in ticket.events");
            Ok((vec![id], Vec::new()))
        }
        Scope::All => {
            let seeded = events.iter().filter(|(_, seeded)| *seeded).count();
            let mut notes = vec![format!("{} checked", report::plural(events.len() - seeded, "event"))];
            if seeded > 0 {
                notes.push(format!(
                    "{} left out: made by `tiketi seed`, sold to the box office without a payment or an event",
                    report::plural(seeded, "seeded demo event")
                ));
            }
            Ok((events.into_iter().filter(|(_, seeded)| !seeded).map(|(id, _)| id).collect(), notes))
        }
    }
}

/// A check's finding, or the error that kept it from reading its stores.
fn settle(invariant: Invariant, result: anyhow::Result<Finding>) -> Finding {
    result.unwrap_or_else(|e| Finding::error(invariant, &e))
}
