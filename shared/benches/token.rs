//! What every authenticated request pays: verifying an access token with a cached JWKS key.
//! `cargo bench -p tiketi-shared --bench token`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use tiketi_shared::clock::Clock;
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore, jwk_set};
use tiketi_shared::token::{AccessClaims, TokenVerifier, UserRole};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("tiketi-bench-{}", uuid::Uuid::now_v7()));
    let keys = rt.block_on(LocalKeyStore::new(&dir).load(KeyPurpose::Access)).unwrap();
    let url = url::Url::parse("http://127.0.0.1:9/unused").unwrap();
    let verifier = TokenVerifier::new(url, Clock::System);
    rt.block_on(verifier.preload(&jwk_set(&[&keys])));

    let claims = AccessClaims::new(UserId::new(), UserRole::User, Utc::now().timestamp(), 900);
    let key = keys.active();
    let token = key.sign(&claims).unwrap();

    // Every iteration a token never seen before: the full signature check.
    let fresh: Vec<String> = (0..200_000)
        .map(|_| key.sign(&AccessClaims::new(UserId::new(), UserRole::User, Utc::now().timestamp(), 900)).unwrap())
        .collect();
    let mut next = fresh.iter().cycle();
    c.bench_function("verify_access_token", |b| {
        b.to_async(&rt).iter(|| {
            let token = next.next().unwrap();
            let verifier = &verifier;
            async move { verifier.verify_access(std::hint::black_box(token)).await.unwrap() }
        })
    });
    // 32 first-time tokens at once, as an on-sale's arrivals come: those arriving while one is
    // checked are checked together (`token::signatures`). Per iteration, all 32.
    let shared = std::sync::Arc::new(verifier);
    c.bench_function("verify_32_access_tokens_at_once", |b| {
        b.to_async(&rt).iter(|| {
            let tokens: Vec<String> = (0..32).map(|_| next.next().unwrap().clone()).collect();
            let verifier = shared.clone();
            async move {
                let checks = tokens.into_iter().map(|token| {
                    let verifier = verifier.clone();
                    tokio::spawn(async move { verifier.verify_access(&token).await.unwrap() })
                });
                futures::future::join_all(checks).await
            }
        })
    });
    let verifier = &*shared;
    // The same token again (a buyer polling): served from the verified-token cache.
    c.bench_function("verify_access_token_again", |b| {
        b.to_async(&rt).iter(|| async { verifier.verify_access(std::hint::black_box(&token)).await.unwrap() })
    });
    c.bench_function("sign_access_token", |b| b.iter(|| key.sign(std::hint::black_box(&claims)).unwrap()));
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
