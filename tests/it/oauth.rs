//! OpenID Connect sign-in end to end against a real provider run locally
//! (tools/oidc-provider: discovery, JWKS, RS256 ID tokens, PKCE and nonce checks).

use std::path::Path;
use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{self, TestApp, spawn_with, unique_email};

struct Provider {
    issuer: String,
    _child: Child,
}

async fn start_provider() -> Provider {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/oidc-provider");
    assert!(dir.join("node_modules").exists(), "tools/oidc-provider has no node_modules: run ./dev test");
    let mut child = Command::new("node")
        .arg("server.js")
        .arg("0")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("provider printed nothing");
    let issuer = line.strip_prefix("listening ").expect("listening line").to_owned();
    Provider { issuer, _child: child }
}

async fn app_with(pool: PgPool, provider: &Provider) -> TestApp {
    spawn_with(
        pool,
        &[
            ("TIKETI_OIDC_PROVIDERS", "local"),
            ("TIKETI_OIDC_LOCAL_ISSUER", &provider.issuer),
            ("TIKETI_OIDC_LOCAL_CLIENT_ID", "tiketi-test"),
            ("TIKETI_OIDC_LOCAL_CLIENT_SECRET", "dev-only-oidc-client-secret"),
        ],
    )
    .await
}

/// The browser's trip: our start → the provider (signing in as `identity`) → our callback.
/// Answers the callback URL and the state cookie without calling the callback.
async fn authorize(app: &TestApp, identity: &Value) -> (String, String) {
    let res = app.http.get(app.url("/api/auth/oauth/local/start")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut to_provider = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = to_provider.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    assert!(query.contains_key("nonce") && query.contains_key("state"));
    assert!(query["redirect_uri"].ends_with("/api/auth/oauth/local/callback"));
    to_provider.query_pairs_mut().append_pair("login_hint", &identity.to_string());

    let res = app.http.get(to_provider).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "provider refused: {:?}", res.text().await);
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&app.base), "{back}");
    (back, cookie)
}

async fn sign_in(app: &TestApp, identity: &Value) -> (StatusCode, Value) {
    let (callback, cookie) = authorize(app, identity).await;
    let res = app.http.get(callback).header("cookie", cookie).send().await.unwrap();
    common::read(res).await
}

#[sqlx::test(migrations = false)]
async fn a_new_identity_creates_an_account_and_signs_it_in_again_later(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    let email = unique_email();
    let identity = json!({"sub": "sub-1", "email": email.to_uppercase(), "email_verified": true, "name": "이서연"});

    let (status, first) = sign_in(&app, &identity).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["user"]["email"], email);
    assert_eq!(first["user"]["name"], "이서연");
    assert_eq!(first["user"]["role"], "user");
    let (status, me) = app.get_auth("/api/auth/me", first["access_token"].as_str().unwrap()).await;
    assert_eq!((status, &me["user"]), (StatusCode::OK, &first["user"]));

    let (status, second) = sign_in(&app, &identity).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["user"]["id"], first["user"]["id"]);
}

#[sqlx::test(migrations = false)]
async fn a_verified_email_links_to_the_existing_account(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    let email = unique_email();
    let registered = app.register(&email, "password123").await;

    let (status, session) = sign_in(&app, &json!({"sub": "sub-2", "email": email, "email_verified": true})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["id"], registered["user"]["id"]);
    let (status, _) = app.post("/api/auth/login", &json!({"email": email, "password": "password123"})).await;
    assert_eq!(status, StatusCode::OK, "the password still works");
}

#[sqlx::test(migrations = false)]
async fn an_unverified_email_neither_links_nor_creates(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    let email = unique_email();
    let registered = app.register(&email, "password123").await;

    let (status, body) = sign_in(&app, &json!({"sub": "sub-3", "email": email, "email_verified": false})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("OAUTH_EMAIL_UNVERIFIED")));
    let (status, body) = sign_in(&app, &json!({"sub": "sub-4", "email_verified": true})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("OAUTH_EMAIL_UNVERIFIED")));
    let linked: i64 = sqlx::query_scalar("SELECT count(*) FROM auth.identities WHERE user_id = $1")
        .bind(uuid::Uuid::parse_str(registered["user"]["id"].as_str().unwrap()).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(linked, 0);
}

#[sqlx::test(migrations = false)]
async fn a_callback_needs_its_browser_and_works_once(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    let identity = json!({"sub": "sub-5", "email": unique_email(), "email_verified": true});

    let (callback, cookie) = authorize(&app, &identity).await;
    let res = app.http.get(&callback).send().await.unwrap();
    let (status, body) = common::read(res).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("OAUTH_STATE_INVALID")), "no cookie");
    let res = app.http.get(&callback).header("cookie", "tiketi_oauth_state=someone-elses").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "another browser's cookie");

    let res = app.http.get(&callback).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.http.get(&callback).header("cookie", &cookie).send().await.unwrap();
    let (status, body) = common::read(res).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("OAUTH_STATE_INVALID")), "replay");
}

#[sqlx::test(migrations = false)]
async fn a_provider_refusal_is_reported(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    let (callback, cookie) = authorize(&app, &json!({"sub": "sub-6"})).await;
    let mut refused = url::Url::parse(&callback).unwrap();
    let state = refused.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    refused.query_pairs_mut().clear().append_pair("state", &state).append_pair("error", "access_denied");
    let res = app.http.get(refused).header("cookie", cookie).send().await.unwrap();
    let (status, body) = common::read(res).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("OAUTH_DENIED")));
}

#[sqlx::test(migrations = false)]
async fn a_browser_sign_in_returns_to_its_page_with_the_refresh_cookie(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    let identity = json!({"sub": "sub-web", "email": unique_email(), "email_verified": true, "name": "Web"});
    let res =
        app.http.get(app.url("/api/auth/oauth/local/start?return_to=/events/1%3Fsigned_in%3D1")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut to_provider = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    to_provider.query_pairs_mut().append_pair("login_hint", &identity.to_string());
    let res = app.http.get(to_provider).send().await.unwrap();
    let callback = res.headers()["location"].to_str().unwrap().to_owned();

    let res = app.http.get(callback).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], app.url("/events/1?signed_in=1"));
    let refresh = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tiketi_refresh="))
        .expect("the refresh cookie");
    assert!(refresh.contains("HttpOnly") && refresh.contains("SameSite=Strict"), "{refresh}");
    let token = refresh.split(';').next().unwrap();
    let res = app
        .http
        .post(app.url("/api/auth/refresh"))
        .header("x-tiketi-session", "cookie")
        .header("cookie", token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let session: Value = res.json().await.unwrap();
    assert_eq!(session["user"]["name"], "Web");
}

#[sqlx::test(migrations = false)]
async fn a_sign_in_only_returns_to_pages_of_this_site(pool: PgPool) {
    let provider = start_provider().await;
    let app = app_with(pool, &provider).await;
    for bad in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "events", "/a b"] {
        let url = format!("{}?return_to={}", app.url("/api/auth/oauth/local/start"), urlencode(bad));
        let (status, problem) = common::read(app.http.get(url).send().await.unwrap()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION_FAILED")),
            "{bad}"
        );
    }
    let (status, providers) = common::read(app.http.get(app.url("/api/auth/providers")).send().await.unwrap()).await;
    assert_eq!((status, providers), (StatusCode::OK, json!({"providers": ["local"]})));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
