//! What other roles rely on: JWKS verification of access tokens, key rotation, and
//! service-authenticated `/internal` calls through the internal client.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_shared::clock::Clock;
use tiketi_shared::internal::{InternalClient, InternalError, ServiceTokenSigner};
use tiketi_shared::keys::{KeyPurpose, KeyStore, LocalKeyStore};
use tiketi_shared::token::{TokenError, TokenVerifier, UserRole};

use crate::common::{spawn, spawn_env, test_env, unique_email};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[sqlx::test(migrations = false)]
async fn another_role_verifies_access_tokens_through_the_jwks(pool: PgPool) {
    let app = spawn(pool).await;
    let session = app.register(&unique_email(), "password123").await;
    let token = session["access_token"].as_str().unwrap();

    let verifier = TokenVerifier::new(app.settings.common.jwks_url.clone(), app.clock.clone());
    let claims = verifier.verify_access(token).await.expect("verified via jwks");
    assert_eq!(claims.sub.to_string(), session["user"]["id"].as_str().unwrap());
    assert_eq!(claims.role, UserRole::User);
    assert_eq!(claims.exp - claims.iat, 900);
    // An access token is no service token.
    assert_eq!(verifier.verify_service(token, "auth").await.err(), Some(TokenError::Invalid("key of another purpose")));
}

#[sqlx::test(migrations = false)]
async fn after_a_key_rotation_old_and_new_tokens_both_verify(pool: PgPool) {
    let vars = test_env(&[]);
    let clock = Clock::System;
    let before = spawn_env(pool.clone(), vars.clone(), clock.clone()).await;
    let email = unique_email();
    let old = before.register(&email, "password123").await["access_token"].as_str().unwrap().to_owned();
    let new_kid = tiketi::app::rotate_keys(&before.settings, KeyPurpose::Access).await.unwrap();
    before.stop().await;

    let after = spawn_env(pool, vars, clock.clone()).await;
    let (status, session) = after.post("/api/auth/login", &json!({"email": email, "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK);
    let new = session["access_token"].as_str().unwrap();
    assert_eq!(kid(new), new_kid);
    assert_ne!(kid(&old), new_kid);

    let verifier = TokenVerifier::new(after.settings.common.jwks_url.clone(), clock);
    verifier.verify_access(new).await.expect("new key");
    verifier.verify_access(&old).await.expect("previous key still verifies");
    assert_eq!(after.get_auth("/api/auth/me", &old).await.0, StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn internal_routes_take_service_tokens_for_their_role_only(pool: PgPool) {
    let app = spawn(pool).await;
    let session = app.register(&unique_email(), "password123").await;
    let user_id = session["user"]["id"].as_str().unwrap();
    let path = format!("/internal/auth/users/{user_id}");

    let service_keys = LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Service).await.unwrap();
    let signer = Arc::new(ServiceTokenSigner::new("ticket", service_keys, app.clock.clone()));
    let base = url::Url::parse(&app.base).unwrap();
    let client = InternalClient::new(base, signer.clone());

    let found: Value = client.get("auth", &path).await.expect("internal call");
    assert_eq!(found["user"], session["user"]);
    match client.get::<Value>("auth", &format!("/internal/auth/users/{}", uuid::Uuid::now_v7())).await {
        Err(InternalError::Status { status: 404, .. }) => {}
        other => panic!("expected a 404, got {other:?}"),
    }

    let res = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "no token");
    let for_payment = signer.token_for("payment").await.unwrap();
    let (status, body) = app.get_auth(&path, &for_payment).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")), "other audience");
    let (status, _) = app.get_auth(&path, session["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a user's access token");
}

/// A call to a role this process serves goes into its router — through the same service-token
/// guard, with the same answers — and never touches the network; other roles, and calls after the
/// router is gone, go over HTTP.
#[sqlx::test(migrations = false)]
async fn calls_to_a_role_served_here_skip_http_and_keep_the_guard(pool: PgPool) {
    use axum::routing::get;
    use axum::{Extension, Json, Router};
    use tiketi_shared::internal::{LocalRoutes, guard};
    use tiketi_shared::token::ServiceClaims;

    let app = spawn(pool).await;
    let verifier = Arc::new(TokenVerifier::new(app.settings.common.jwks_url.clone(), app.clock.clone()));
    let echo = |Extension(caller): Extension<ServiceClaims>, axum::extract::Path(n): axum::extract::Path<u32>| async move {
        if n == 0 {
            return Err(StatusCode::NOT_FOUND);
        }
        Ok(Json(json!({"n": n, "caller": caller.sub})))
    };
    let router = Arc::new(guard(Router::new().route("/internal/ticket/echo/{n}", get(echo)), verifier, "ticket"));
    let local = LocalRoutes::new(["ticket", "auth"]);
    local.serve(&router);

    let service_keys = LocalKeyStore::new(&app.data_dir()).load(KeyPurpose::Service).await.unwrap();
    let signer = Arc::new(ServiceTokenSigner::new("payment", service_keys, app.clock.clone()));
    // Nothing listens here: only an in-process call can answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let client = InternalClient::new(url::Url::parse(&format!("http://{closed}/")).unwrap(), signer).with_local(local);

    let answer: Value = client.get("ticket", "/internal/ticket/echo/7").await.expect("in-process call");
    assert_eq!(answer, json!({"n": 7, "caller": "payment"}), "the guard handed the caller to the handler");
    match client.get::<Value>("ticket", "/internal/ticket/echo/0").await {
        Err(InternalError::Status { status: 404, .. }) => {}
        other => panic!("expected a 404, got {other:?}"),
    }
    // A token for `auth` on `ticket`'s routes: the guard refuses it, as it would over HTTP.
    match client.get::<Value>("auth", "/internal/ticket/echo/7").await {
        Err(InternalError::Status { status: 401, body, .. }) => assert!(body.contains("INVALID_TOKEN"), "{body}"),
        other => panic!("expected the guard's 401, got {other:?}"),
    }
    match client.get::<Value>("stats", "/internal/ticket/echo/7").await {
        Err(InternalError::Transport { .. }) => {}
        other => panic!("a role not served here goes over HTTP (nothing listens): {other:?}"),
    }
    drop(router);
    match client.get::<Value>("ticket", "/internal/ticket/echo/7").await {
        Err(InternalError::Transport { .. }) => {}
        other => panic!("with the router gone the call goes over HTTP: {other:?}"),
    }
}
