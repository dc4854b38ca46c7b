//! The waiting room's per-join arithmetic: what the server pays to check a proof of work and a
//! receipt, and what a client (or a bot) pays to solve a challenge natively, per core.
//! `cargo bench -p tiketi-ticket --bench queue`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use tiketi_shared::ids::{EventId, UserId};
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_ticket::queue::proof;
use tiketi_ticket::queue::receipt::Receipt;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("tiketi-bench-{}", uuid::Uuid::now_v7()));
    let keys = rt.block_on(LocalKeyStore::new(&dir).load(KeyPurpose::Admission)).unwrap();
    let (event, user, now) = (EventId::new(), UserId::new(), 1_764_000_000_000);

    let solved = proof::solve(&proof::challenge(&keys, event, user, 16, now));
    c.bench_function("check_proof_d16", |b| {
        b.iter(|| proof::check(&keys, Some(&solved), event, user, 16, now).unwrap());
    });
    c.bench_function("issue_challenge", |b| b.iter(|| proof::challenge(&keys, event, user, 16, now)));

    let receipt = Receipt { event, user, epoch: 1, place: Some(1_000_000_012_345), joined_ms: now };
    c.bench_function("sign_receipt", |b| b.iter(|| receipt.sign(&keys)));
    let text = receipt.sign(&keys);
    c.bench_function("verify_receipt", |b| b.iter(|| Receipt::verify(&text, &keys).unwrap()));

    // A fresh challenge every time: the average over many is 2^16 hashes.
    let mut group = c.benchmark_group("solve");
    group.sample_size(30);
    group.bench_function("solve_d16", |b| {
        b.iter_batched(
            || proof::challenge(&keys, event, user, 16, now),
            |challenge| proof::solve(&challenge),
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
