//! The auth endpoints against a real server, PostgreSQL and Redis.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common::{self, spawn, spawn_env, spawn_with, test_env, unique_email};

#[sqlx::test(migrations = false)]
async fn a_new_account_can_see_itself(pool: PgPool) {
    let app = spawn(pool).await;
    let email = unique_email();
    let registered = app.register(&format!("  {}  ", email.to_uppercase()), "password123").await;
    assert_eq!(registered["user"]["email"], email, "stored trimmed and lower-cased");
    assert_eq!(registered["user"]["role"], "user");
    assert_eq!(registered["expires_in"], 900);
    assert_eq!(registered["token_type"], "Bearer");

    let (status, me) = app.get_auth("/api/auth/me", registered["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"], registered["user"]);
    app.stop().await;
}

#[sqlx::test(migrations = false)]
async fn an_email_registers_once_however_it_is_typed(pool: PgPool) {
    let app = spawn(pool).await;
    let email = unique_email();
    app.register(&email, "password123").await;
    let (status, body) = app
        .post("/api/auth/register", &json!({"email": email.to_uppercase(), "password": "password456", "name": "B"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "EMAIL_TAKEN");
}

#[sqlx::test(migrations = false)]
async fn registration_names_every_invalid_field(pool: PgPool) {
    let app = spawn(pool).await;
    let (status, body) =
        app.post("/api/auth/register", &json!({"email": "not-an-email", "password": "short", "name": "   "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "VALIDATION_FAILED");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "password", "name"]);
}

#[sqlx::test(migrations = false)]
async fn login_answers_the_same_for_unknown_email_and_wrong_password(pool: PgPool) {
    let app = spawn(pool).await;
    let email = unique_email();
    app.register(&email, "password123").await;

    let (ok, session) = app.post("/api/auth/login", &json!({"email": email, "password": "password123"})).await;
    assert_eq!(ok, StatusCode::OK);
    assert_eq!(session["user"]["email"], email);

    let wrong = app.post("/api/auth/login", &json!({"email": email, "password": "password124"})).await;
    let unknown = app.post("/api/auth/login", &json!({"email": unique_email(), "password": "password123"})).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.1["code"], "INVALID_CREDENTIALS");
    assert_eq!(wrong, unknown, "the two failures must be indistinguishable");
}

#[sqlx::test(migrations = false)]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_session(pool: PgPool) {
    let app = spawn(pool).await;
    let first = app.register(&unique_email(), "password123").await;
    let first_refresh = first["refresh_token"].clone();

    let (status, second) = app.post("/api/auth/refresh", &json!({"refresh_token": first_refresh})).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["refresh_token"], first_refresh);
    assert_eq!(second["user"], first["user"]);
    let (status, _) = app.get_auth("/api/auth/me", second["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // The spent token comes back: someone else holds it.
    let (status, body) = app.post("/api/auth/refresh", &json!({"refresh_token": first_refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "REFRESH_TOKEN_REUSED");
    // ...so the legitimate holder's newer token is dead too.
    let (status, body) = app.post("/api/auth/refresh", &json!({"refresh_token": second["refresh_token"]})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "INVALID_REFRESH_TOKEN");

    // Another session of the same account is untouched.
    let email = first["user"]["email"].as_str().unwrap();
    let (_, other) = app.post("/api/auth/login", &json!({"email": email, "password": "password123"})).await;
    let (status, _) = app.post("/api/auth/refresh", &json!({"refresh_token": other["refresh_token"]})).await;
    assert_eq!(status, StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through(pool: PgPool) {
    let app = spawn(pool).await;
    let session = app.register(&unique_email(), "password123").await;
    let body = json!({"refresh_token": session["refresh_token"]});
    let attempts = (0..8).map(|_| app.post("/api/auth/refresh", &body));
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED));
}

#[sqlx::test(migrations = false)]
async fn logout_ends_the_session(pool: PgPool) {
    let app = spawn(pool).await;
    let session = app.register(&unique_email(), "password123").await;
    let body = json!({"refresh_token": session["refresh_token"]});
    let (status, _) = app.post("/api/auth/logout", &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app.post("/api/auth/refresh", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "INVALID_REFRESH_TOKEN");
    // Unknown tokens log out quietly.
    let (status, _) = app.post("/api/auth/logout", &json!({"refresh_token": "rt_nothing"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[sqlx::test(migrations = false)]
async fn tokens_expire_on_the_clock(pool: PgPool) {
    let app = spawn(pool).await;
    let session = app.register(&unique_email(), "password123").await;
    let token = session["access_token"].as_str().unwrap();

    app.clock.advance(Duration::minutes(14));
    assert_eq!(app.get_auth("/api/auth/me", token).await.0, StatusCode::OK);
    app.clock.advance(Duration::minutes(2));
    let (status, body) = app.get_auth("/api/auth/me", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "TOKEN_EXPIRED");

    // The refresh token outlives the access token, but not its own 30 days.
    let (status, renewed) = app.post("/api/auth/refresh", &json!({"refresh_token": session["refresh_token"]})).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::days(31));
    let (status, body) = app.post("/api/auth/refresh", &json!({"refresh_token": renewed["refresh_token"]})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "INVALID_REFRESH_TOKEN");
}

#[sqlx::test(migrations = false)]
async fn me_refuses_missing_forged_and_foreign_tokens(pool: PgPool) {
    let app = spawn(pool).await;
    let session = app.register(&unique_email(), "password123").await;
    let token = session["access_token"].as_str().unwrap();

    let res = app.http.get(app.url("/api/auth/me")).send().await.unwrap();
    let (status, body) = common::read(res).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")));

    let mut tampered = token.to_owned();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged_payload = format!(
        "{header}.{}.{signature}",
        base64_url(&json!({"iss":"tiketi-auth","aud":"tiketi","sub":session["user"]["id"],"role":"admin","iat":0,"exp":9999999999u64,"jti":"01a2109d-b40b-7310-ad27-74b2770a52e5"}).to_string())
    );
    let none_alg = format!("{}.{}.", base64_url(r#"{"alg":"none","typ":"JWT"}"#), rest.split_once('.').unwrap().0);
    for bad in ["garbage", "a.b.c", tampered.as_str(), forged_payload.as_str(), none_alg.as_str()] {
        let (status, body) = app.get_auth("/api/auth/me", bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(body["code"], "INVALID_TOKEN", "{bad}");
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[sqlx::test(migrations = false)]
async fn sign_in_endpoints_are_rate_limited_per_account_and_per_ip(pool: PgPool) {
    let app =
        spawn_with(pool, &[("TIKETI_AUTH_ACCOUNT_LIMIT_PER_MINUTE", "3"), ("TIKETI_AUTH_IP_LIMIT_PER_MINUTE", "6")])
            .await;
    let email = unique_email();
    for _ in 0..3 {
        let (status, _) = app.post("/api/auth/login", &json!({"email": email, "password": "whatever1"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let res =
        app.http.post(app.url("/api/auth/login")).json(&json!({"email": email, "password": "x"})).send().await.unwrap();
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    let (status, body) = common::read(res).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMITED")));

    // Other accounts from the same address are served until the address's budget (6) is spent.
    for _ in 0..2 {
        let (status, _) = app.post("/api/auth/login", &json!({"email": unique_email(), "password": "whatever1"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) =
        app.post("/api/auth/register", &json!({"email": unique_email(), "password": "whatever1", "name": "N"})).await;
    assert_eq!(status, StatusCode::CREATED, "register has its own budget: {body}");
    let (status, _) = app.post("/api/auth/login", &json!({"email": unique_email(), "password": "whatever1"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the seventh login from one address");
}

#[sqlx::test(migrations = false)]
async fn replicas_share_one_rate_limit_budget(pool: PgPool) {
    let vars = test_env(&[("TIKETI_AUTH_ACCOUNT_LIMIT_PER_MINUTE", "2")]);
    let clock = tiketi_shared::clock::Clock::System;
    let a = spawn_env(pool.clone(), vars.clone(), clock.clone()).await;
    let b = spawn_env(pool, vars, clock).await;
    let email = unique_email();
    let body = json!({"email": email, "password": "whatever1"});
    assert_eq!(a.post("/api/auth/login", &body).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(b.post("/api/auth/login", &body).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(a.post("/api/auth/login", &body).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(b.post("/api/auth/login", &body).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test(migrations = false)]
async fn the_configured_admin_exists_with_the_configured_password(pool: PgPool) {
    let vars = test_env(&[("TIKETI_ADMIN_EMAIL", "Ops@Tiketi.Test"), ("TIKETI_ADMIN_PASSWORD", "first-password")]);
    let app = spawn_env(pool.clone(), vars.clone(), tiketi_shared::clock::Clock::System).await;
    let (status, body) =
        app.post("/api/auth/login", &json!({"email": "ops@tiketi.test", "password": "first-password"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["role"], "admin");
    app.stop().await;

    // A restart with a new password replaces the old one.
    let mut vars = vars;
    vars.retain(|(k, _)| k != "TIKETI_ADMIN_PASSWORD");
    vars.push(("TIKETI_ADMIN_PASSWORD".into(), "second-password".into()));
    let app = spawn_env(pool, vars, tiketi_shared::clock::Clock::System).await;
    let old = app.post("/api/auth/login", &json!({"email": "ops@tiketi.test", "password": "first-password"})).await;
    assert_eq!(old.0, StatusCode::UNAUTHORIZED);
    let new = app.post("/api/auth/login", &json!({"email": "ops@tiketi.test", "password": "second-password"})).await;
    assert_eq!(new.0, StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn expired_sessions_are_purged_a_day_after_expiry(pool: PgPool) {
    let app = spawn(pool).await;
    let first = app.register(&unique_email(), "password123").await;
    app.register(&unique_email(), "password123").await;
    app.post("/api/auth/refresh", &json!({"refresh_token": first["refresh_token"]})).await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM auth.refresh_tokens").fetch_one(&app.pool).await.unwrap()
    };
    assert_eq!(count().await, 3);

    let overrides = tiketi::app::Overrides { pool: Some(app.pool.clone()), clock: app.clock.clone() };
    let resources = tiketi::app::Resources::connect(&app.settings, overrides).await.unwrap();
    let verifier = std::sync::Arc::new(tiketi_shared::token::TokenVerifier::new(
        app.settings.common.jwks_url.clone(),
        app.clock.clone(),
    ));
    let state = tiketi::app::auth_state(&app.settings, &resources, verifier).await.unwrap();

    app.clock.advance(Duration::days(30) + Duration::hours(12));
    assert_eq!(tiketi_auth::background::purge_step(&state).await.unwrap(), 0, "kept for a day past expiry");
    app.clock.advance(Duration::days(1));
    assert_eq!(tiketi_auth::background::purge_step(&state).await.unwrap(), 3);
    assert_eq!(count().await, 0);
}

/// The `tiketi_refresh` cookie an answer set: (value, attributes).
fn refresh_cookie(res: &reqwest::Response) -> (String, String) {
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tiketi_refresh="))
        .expect("a refresh cookie");
    let (pair, attributes) = set.split_once(';').unwrap();
    (pair.trim_start_matches("tiketi_refresh=").to_owned(), attributes.to_owned())
}

#[sqlx::test(migrations = false)]
async fn a_browser_session_keeps_the_refresh_token_in_an_http_only_cookie(pool: PgPool) {
    let app = spawn(pool).await;
    let email = unique_email();
    let browser = |path: &str| app.http.post(app.url(path)).header("x-tiketi-session", "cookie");
    let res = browser("/api/auth/register")
        .json(&json!({"email": email, "password": "password123", "name": "Browser"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (first, attributes) = refresh_cookie(&res);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/auth", "Max-Age=2592000"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert!(!attributes.contains("Secure"), "plain http locally: {attributes}");
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "scripts never see it: {body}");
    assert!(body["access_token"].is_string());

    // Refresh by cookie alone: a new pair, the old cookie spent.
    let refresh = |cookie: &str| {
        browser("/api/auth/refresh").header("cookie", format!("tiketi_refresh={cookie}")).json(&json!({}))
    };
    let res = refresh(&first).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (second, _) = refresh_cookie(&res);
    assert_ne!(second, first);
    let body: Value = res.json().await.unwrap();
    let (status, _) = app.get_auth("/api/auth/me", body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // The spent cookie again: the session is revoked and the browser told to drop the cookie.
    let res = refresh(&first).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh_cookie(&res).0, "");
    assert!(refresh_cookie(&res).1.contains("Max-Age=0"));
    assert_eq!(refresh(&second).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Logout by cookie ends a fresh session and clears the cookie.
    let res =
        browser("/api/auth/login").json(&json!({"email": email, "password": "password123"})).send().await.unwrap();
    let (third, _) = refresh_cookie(&res);
    let res = browser("/api/auth/logout")
        .header("cookie", format!("tiketi_refresh={third}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(refresh_cookie(&res).1.contains("Max-Age=0"));
    assert_eq!(refresh(&third).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // API clients name the token in the body, and a cookie without the header is not read.
    let (status, problem) = app.post("/api/auth/refresh", &json!({})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION_FAILED")));
    let res = app
        .http
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("tiketi_refresh={third}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
