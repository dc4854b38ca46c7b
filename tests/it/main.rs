//! Tiketi's integration tests in one binary (one link instead of one per file): every module
//! starts real servers over real PostgreSQL, Redis and the AWS emulator through `common`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod auth;
mod backbone;
mod bad_input;
mod internal;
mod oauth;
mod parsers_props;
mod payment;
mod queue;
mod queue_restart;
mod realtime;
mod redis_down;
mod sale_check;
mod seatmap;
mod seed;
mod stampede;
mod stats;
mod ticket;
mod ticket_bad_input;
mod ticket_props;
mod up;
mod web;
