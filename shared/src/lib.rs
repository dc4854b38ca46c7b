//! What every Tiketi role stands on. Each module owns one concern:
//!
//! - [`cache_stats`]: cache hits and misses of every process, per minute in Redis, for the operators' overview
//! - [`config`]: typed settings read once from `TIKETI_*` variables; invalid values name the variable
//! - [`aws`]: AWS clients from one configuration (an emulator's endpoint locally), resource names, bootstrap
//! - [`consumer`]: the SQS consumer loop every queue reader shares (per-message outcomes, retries, dead letters)
//! - [`events`]: the domain-event envelope, every event's typed payload, the outbox write
//! - [`error`]: [`ApiError`] and the stable [`ErrorCode`]s, rendered as `application/problem+json`
//! - [`extract`]: request extractors that answer in our error format (JSON, path, query, client IP)
//! - [`flights`]: single flight — one build of a key at a time per process
//! - [`ids`], [`money`], [`clock`]: UUIDv7 id newtypes, integer KRW, a clock tests can fix
//! - [`db`], [`redis`]: PostgreSQL pool with per-service schema migrations; Redis connection
//! - [`keys`]: Ed25519 signing key sets (generated locally, or from a secret store) and their JWKS
//! - [`secrets`]: Secrets Manager: signing key sets in the cloud, other secrets read through a short cache
//! - [`token`]: access and service token claims, JWKS-backed verification, auth extractors
//! - [`internal`]: service-to-service tokens, the `/internal` guard and the internal HTTP client
//! - [`messages`]: queue messages that are not domain events (webhook deliveries, hold expiries)
//! - [`ratelimit`]: fixed-window rate limits shared across replicas through Redis
//! - [`telemetry`]: JSON tracing, request ids, HTTP metrics
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`
//! - [`shutdown`]: the signal that stops servers and background tasks
//! - [`waiting_room`]: the waiting room's messages between the ticket and realtime roles
//! - [`reservations`]: reservations and their states, and the ticket role's internal API bodies for payment
//! - [`seat_changes`]: the seat-change message the ticket role publishes and realtime pushes, and its channel

pub mod aws;
pub mod cache_stats;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod flights;
pub mod ids;
pub mod internal;
pub mod keys;
pub mod messages;
pub mod money;
pub mod ops;
pub mod ratelimit;
pub mod redis;
pub mod reservations;
pub mod seat_changes;
pub mod secrets;
pub mod shutdown;
pub mod telemetry;
pub mod token;
pub mod waiting_room;

pub use clock::Clock;
pub use error::{ApiError, ApiResult, ErrorCode, FieldError, Validation};
pub use extract::Json;
pub use money::Money;
