//! The sandbox's tests in one binary: the payment window and REST API, virtual accounts, webhooks
//! and fault injection, and the transactions look-up, over a real server on a free port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod api;
mod transactions;
mod webhooks_and_faults;
