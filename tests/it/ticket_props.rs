//! Property: no sequence of holds, confirms, cancels, releases, refunds, clock moves and sweeps
//! ever leaves a seat with two live holders, or a seat whose status disagrees with its holder.
//! Runs against the real server and database; generated cases are deterministic and a failure
//! prints the sequence that broke the invariant.

use std::sync::Arc;

use chrono::Duration;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_shared::internal::{InternalClient, ServiceTokenSigner};
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};

use crate::common::{TestApp, spawn};

#[derive(Debug, Clone)]
enum Op {
    Hold { buyer: usize, seats: Vec<usize> },
    Confirm(usize),
    Cancel(usize),
    Release(usize),
    Refund(usize),
    Advance(i64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, proptest::collection::vec(0..6usize, 1..4)).prop_map(|(buyer, seats)| Op::Hold { buyer, seats }),
        2 => (0..8usize).prop_map(Op::Confirm),
        1 => (0..8usize).prop_map(Op::Cancel),
        1 => (0..8usize).prop_map(Op::Release),
        1 => (0..8usize).prop_map(Op::Refund),
        1 => (1..25i64).prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

async fn check_invariants(app: &TestApp, event: &str, history: &[Op]) {
    let broken: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.label, 'status ' || s.status || ' vs holder ' || coalesce(r.status, 'none') FROM ticket.seats s
         LEFT JOIN ticket.reservations r ON r.id = s.reservation_id
         WHERE s.event_id = $1::uuid AND NOT (
              (s.status = 'available' AND r.id IS NULL)
           OR (s.status = 'held' AND r.status = 'pending')
           OR (s.status = 'sold' AND r.status = 'confirmed'))
         UNION ALL
         SELECT s.label, count(*) || ' live holders' FROM ticket.reservation_seats rs
         JOIN ticket.seats s ON s.id = rs.seat_id JOIN ticket.reservations r ON r.id = rs.reservation_id
         WHERE s.event_id = $1::uuid AND r.status IN ('pending', 'confirmed') AND rs.live
         GROUP BY s.label HAVING count(*) > 1
         UNION ALL
         SELECT s.label, 'live row of a ' || r.status || ' reservation' FROM ticket.reservation_seats rs
         JOIN ticket.seats s ON s.id = rs.seat_id JOIN ticket.reservations r ON r.id = rs.reservation_id
         WHERE s.event_id = $1::uuid AND rs.live AND r.status NOT IN ('pending', 'confirmed')",
    )
    .bind(event)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(broken.is_empty(), "invariant broken: {broken:?}\nafter {history:#?}");
}

#[sqlx::test(migrations = false)]
async fn no_sequence_of_operations_yields_two_live_holders(pool: PgPool) {
    let app = spawn(pool).await;
    let keys = LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Service).await.unwrap();
    let payment = InternalClient::new(
        url::Url::parse(&app.base).unwrap(),
        Arc::new(ServiceTokenSigner::new("payment", keys, app.clock.clone())),
    );
    let ticket = app.ticket().await;
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(op(), 5..25);
    for _case in 0..64 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        // Each case gets its own event, long enough on sale for every clock move.
        let event = app
            .on_sale_event(
                &[("A", 1, 6, 1000)],
                json!({"max_seats_per_order": 6, "sale_closes_at": app.clock.now() + Duration::days(300),
                                                        "starts_at": app.clock.now() + Duration::days(301)}),
            )
            .await;
        let event_id = event["id"].as_str().unwrap().to_owned();
        let seats = app.seat_ids(&event).await;
        let buyers: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
        let mut reservations: Vec<String> = Vec::new();
        let mut history = Vec::new();
        for op in ops {
            history.push(op.clone());
            let pick = |i: usize| reservations.get(i % reservations.len().max(1)).cloned();
            let status = match &op {
                Op::Hold { buyer, seats: idx } => {
                    let token = app.token_for(buyers[*buyer], tiketi_shared::token::UserRole::User).await;
                    let chosen: Vec<String> = idx.iter().map(|&i| seats[i].clone()).collect();
                    let (status, body) = app.hold(&token, &event, &chosen).await;
                    if status == StatusCode::CREATED {
                        reservations.push(body["reservation"]["id"].as_str().unwrap().to_owned());
                    }
                    status.as_u16()
                }
                Op::Confirm(i) | Op::Release(i) | Op::Refund(i) => {
                    let Some(r) = pick(*i) else { continue };
                    let action = match op {
                        Op::Confirm(_) => "confirm",
                        Op::Release(_) => "release",
                        _ => "refunded",
                    };
                    match payment
                        .post::<_, Value>("ticket", &format!("/internal/ticket/reservations/{r}/{action}"), &json!({}))
                        .await
                    {
                        Ok(_) => 200,
                        Err(tiketi_shared::internal::InternalError::Status { status, .. }) => status,
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Cancel(i) => {
                    let Some(r) = pick(*i) else { continue };
                    app.send(Method::POST, &format!("/api/reservations/{r}/cancel"), Some(&app.admin().await), None)
                        .await
                        .0
                        .as_u16()
                }
                Op::Advance(minutes) => {
                    app.clock.advance(Duration::minutes(*minutes));
                    200
                }
                Op::Sweep => {
                    tiketi_ticket::sweeper::sweep(&ticket).await.unwrap();
                    200
                }
            };
            assert!(status < 500, "{op:?} answered {status}\nafter {history:#?}");
            check_invariants(&app, &event_id, &history).await;
        }
    }
}
