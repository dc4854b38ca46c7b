//! The verifier against a JWKS endpoint it does not control: keys appear (rotation) and forged
//! key ids arrive; it refetches for the first and does not let the second hammer the endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use tiketi_shared::clock::Clock;
use tiketi_shared::ids::UserId;
use tiketi_shared::keys::{KeyPurpose, KeySet, KeyStore, LocalKeyStore, jwk_set};
use tiketi_shared::token::{AccessClaims, TokenError, TokenVerifier, UserRole};
use tokio::sync::RwLock;

#[derive(Clone, Default)]
struct Jwks {
    set: Arc<RwLock<Option<JwkSet>>>,
    fetches: Arc<AtomicUsize>,
}

async fn serve(jwks: Jwks) -> url::Url {
    let app = Router::new()
        .route(
            "/jwks",
            get(|State(j): State<Jwks>| async move {
                j.fetches.fetch_add(1, Ordering::SeqCst);
                axum::Json(j.set.read().await.clone().unwrap())
            }),
        )
        .with_state(jwks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}/jwks")).unwrap()
}

fn sign(keys: &KeySet, exp_in: i64) -> String {
    let claims = AccessClaims::new(UserId::new(), UserRole::User, Utc::now().timestamp(), exp_in);
    keys.active().sign(&claims).unwrap()
}

fn temp_store() -> LocalKeyStore {
    LocalKeyStore::new(&std::env::temp_dir().join(format!("tiketi-jwks-{}", uuid::Uuid::now_v7())))
}

#[tokio::test]
async fn a_token_signed_by_a_new_key_triggers_one_refetch() {
    let store = temp_store();
    let first = store.load(KeyPurpose::Access).await.unwrap();
    let jwks = Jwks::default();
    *jwks.set.write().await = Some(jwk_set(&[&first]));
    let url = serve(jwks.clone()).await;
    let verifier = TokenVerifier::new(url, Clock::System).with_min_refetch(Duration::ZERO);

    verifier.verify_access(&sign(&first, 60)).await.expect("first key");
    verifier.verify_access(&sign(&first, 60)).await.expect("cached");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "the second verification is served from cache");

    let rotated = store.rotate(KeyPurpose::Access).await.unwrap();
    *jwks.set.write().await = Some(jwk_set(&[&rotated]));
    verifier.verify_access(&sign(&rotated, 60)).await.expect("refetched on unknown kid");
    verifier.verify_access(&sign(&first, 60)).await.expect("the previous key still verifies");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn forged_key_ids_do_not_hammer_the_jwks_endpoint() {
    let known = temp_store().load(KeyPurpose::Access).await.unwrap();
    let jwks = Jwks::default();
    *jwks.set.write().await = Some(jwk_set(&[&known]));
    let url = serve(jwks.clone()).await;
    let verifier = TokenVerifier::new(url, Clock::System);

    for _ in 0..50 {
        let stranger = temp_store().load(KeyPurpose::Access).await.unwrap();
        let err = verifier.verify_access(&sign(&stranger, 60)).await.expect_err("unknown key");
        assert_eq!(err, TokenError::Invalid("unknown key"));
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "one fetch per refetch interval");
    verifier.verify_access(&sign(&known, 60)).await.expect("the real key still verifies");
    assert_eq!(verifier.verify_access(&sign(&known, -60)).await.err(), Some(TokenError::Expired));
}

/// A token signed by our key is still refused when its claims are not ours to accept: another
/// issuer, another audience, or a claim missing.
#[tokio::test]
async fn a_well_signed_token_with_the_wrong_claims_is_refused() {
    let keys = temp_store().load(KeyPurpose::Access).await.unwrap();
    let verifier = TokenVerifier::new(url::Url::parse("http://127.0.0.1:9/unused").unwrap(), Clock::System);
    verifier.preload(&jwk_set(&[&keys])).await;
    let claims = AccessClaims::new(UserId::new(), UserRole::User, Utc::now().timestamp(), 60);
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut value = serde_json::to_value(&claims).unwrap();
        change(&mut value);
        keys.active().sign(&value).unwrap()
    };
    verifier.verify_access(&with(&|_| {})).await.expect("the claims as issued");
    for (token, why) in [
        (with(&|c| c["iss"] = "someone-else".into()), "wrong issuer"),
        (with(&|c| c["aud"] = "another-service".into()), "wrong audience"),
        (with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))), "malformed"),
    ] {
        match verifier.verify_access(&token).await {
            Err(TokenError::Invalid(said)) => assert_eq!(said, why),
            other => panic!("{why}: {other:?}"),
        }
    }
}
