//! What every authenticated request pays: verifying an access token with a cached JWKS key.
//! `cargo bench -p tiketi-shared --bench token`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, Header};
use tiketi_shared::clock::Clock;
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore, jwk_set};
use tiketi_shared::token::{ACCESS_AUDIENCE, ACCESS_ISSUER, AccessClaims, TokenVerifier, UserRole};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("tiketi-bench-{}", uuid::Uuid::now_v7()));
    let keys = rt.block_on(LocalKeyStore::new(&dir).load(KeyPurpose::Access)).unwrap();
    let url = url::Url::parse("http://127.0.0.1:9/unused").unwrap();
    let verifier = TokenVerifier::new(url, Clock::System);
    rt.block_on(verifier.preload(&jwk_set(&[&keys])));

    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        iss: ACCESS_ISSUER.into(),
        aud: ACCESS_AUDIENCE.into(),
        sub: UserId::new(),
        role: UserRole::User,
        iat: now,
        exp: now + 900,
        jti: uuid::Uuid::now_v7(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(keys.active().kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &keys.active().encoding).unwrap();

    c.bench_function("verify_access_token", |b| {
        b.to_async(&rt).iter(|| async { verifier.verify_access(std::hint::black_box(&token)).await.unwrap() })
    });
    c.bench_function("sign_access_token", |b| {
        b.iter(|| jsonwebtoken::encode(&header, std::hint::black_box(&claims), &keys.active().encoding).unwrap())
    });
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
