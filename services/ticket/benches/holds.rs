//! Planning a batch of holds (`holds::batch::plan`): the buyers' lock statement, the rounds of
//! holds that share nothing, the seats to lock first — what the batch writer pays in its own code
//! for every batch, before the database. `cargo bench -p tiketi-ticket --bench holds`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tiketi_shared::ids::{EventId, ReservationId, UserId};
use tiketi_ticket::holds::batch::{AskedHold, plan};

/// `holds` holds of two seats each by different buyers, the seats drawn from `seats` seats.
fn batch(holds: usize, seats: usize) -> Vec<AskedHold> {
    let (event, now) = (EventId::new(), Utc::now());
    let seat_ids: Vec<uuid::Uuid> = (0..seats).map(|_| uuid::Uuid::now_v7()).collect();
    (0..holds)
        .map(|i| AskedHold {
            event,
            user: UserId::new(),
            id: ReservationId::new(),
            seats: vec![seat_ids[(2 * i) % seats], seat_ids[(2 * i + 1) % seats]],
            now,
            expires_at: now,
            admitted: false,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_batch");
    // Distinct seats (one round), as in the distinct-seat benchmark; then 32 holds after 8 seats
    // (a contended sale: eight rounds).
    for (name, holds) in [("32_distinct", batch(32, 64)), ("32_contended_8_seats", batch(32, 8))] {
        let asked: Vec<&AskedHold> = holds.iter().collect();
        group.bench_with_input(BenchmarkId::from_parameter(name), &asked, |b, asked| b.iter(|| plan(asked)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
