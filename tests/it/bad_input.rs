//! Bad input on every auth endpoint gets a 4xx problem+json with a stable code — never a 500,
//! never a stack trace or SQL.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::common::{self, spawn};

const JSON_ENDPOINTS: [&str; 4] = ["/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"];

/// (case, content type, body, acceptable statuses)
type Case = (&'static str, Option<&'static str>, Vec<u8>, &'static [u16]);

fn cases() -> Vec<Case> {
    let json = Some("application/json");
    let huge_name = format!(
        r#"{{"email":"a@b.co","password":"password123","name":"{}","refresh_token":"x"}}"#,
        "가".repeat(200_000)
    );
    let ten_mb = format!(r#"{{"email":"{}"}}"#, "x".repeat(10 * 1024 * 1024));
    vec![
        ("malformed json", json, b"{\"email\": ".to_vec(), &[400]),
        ("not json at all", json, b"email=a@b.co".to_vec(), &[400]),
        ("empty body", json, Vec::new(), &[400]),
        // Endpoints that need more fields report those first (422); the others the garbage (400).
        ("trailing garbage", json, br#"{"refresh_token":"x"} {"#.to_vec(), &[400, 422]),
        ("json array", json, b"[1,2,3]".to_vec(), &[422]),
        ("json null", json, b"null".to_vec(), &[422]),
        ("wrong types", json, br#"{"email":42,"password":true,"name":[],"refresh_token":7}"#.to_vec(), &[422]),
        ("missing fields", json, b"{}".to_vec(), &[422]),
        ("no content type", None, br#"{"email":"a@b.co"}"#.to_vec(), &[415]),
        ("wrong content type", Some("text/plain"), br#"{"email":"a@b.co"}"#.to_vec(), &[415]),
        ("10 MB body", json, ten_mb.into_bytes(), &[413]),
        ("very long strings", json, huge_name.into_bytes(), &[413, 422, 401, 204]),
        (
            "sql-looking strings",
            json,
            br#"{"email":"x' OR '1'='1'; DROP TABLE auth.users; --@a.co","password":"' OR 1=1 --","name":"Robert'); DROP TABLE users;--","refresh_token":"' OR 1=1 --"}"#.to_vec(),
            &[201, 401, 204, 422],
        ),
        (
            "unicode and control characters",
            json,
            "{\"email\":\"\u{1F600}@\u{C608}\u{C2DC}.\u{D55C}\u{AD6D}\",\"password\":\"\\u0000\u{FEFF}\u{202E}pass\u{1F600}word\",\"name\":\"a\\u0000b\",\"refresh_token\":\"\u{FFFF}\"}".as_bytes().to_vec(),
            &[422, 401, 204],
        ),
        (
            "a NUL in the email (PostgreSQL text cannot hold one)",
            json,
            br#"{"email":"a\u0000b@example.com","password":"password123","name":"n","refresh_token":"x"}"#.to_vec(),
            &[422, 401, 204],
        ),
        ("invalid utf-8", json, vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], &[400]),
    ]
}

#[sqlx::test(migrations = false)]
async fn bad_bodies_get_problem_json_and_never_a_500(pool: PgPool) {
    let app = spawn(pool).await;
    for endpoint in JSON_ENDPOINTS {
        for (case, content_type, body, expected) in cases() {
            let mut req = app.http.post(app.url(endpoint)).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            assert!(expected.contains(&status.as_u16()), "{endpoint} {case}: got {status}");
            if status == StatusCode::NO_CONTENT || status.is_success() {
                continue;
            }
            let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
            let text = res.text().await.unwrap();
            assert_eq!(content_type, "application/problem+json", "{endpoint} {case}");
            let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(problem["status"], status.as_u16(), "{endpoint} {case}");
            let code = problem["code"].as_str().unwrap();
            assert!(code.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{code}");
            let lower = text.to_lowercase();
            for leak in ["panicked", "select ", "insert ", "sqlx", "backtrace", "src/"] {
                assert!(!lower.contains(leak), "{endpoint} {case} leaks {leak:?}: {text}");
            }
        }
    }
}

#[sqlx::test(migrations = false)]
async fn unknown_routes_methods_and_ids_get_problem_json(pool: PgPool) {
    let app = spawn(pool).await;
    let cases = [
        (reqwest::Method::GET, "/api/nothing-here", 404, "NOT_FOUND"),
        (reqwest::Method::DELETE, "/api/auth/login", 405, "METHOD_NOT_ALLOWED"),
        (reqwest::Method::GET, "/api/auth/oauth/nobody/start", 404, "OAUTH_PROVIDER_UNKNOWN"),
        (reqwest::Method::GET, "/api/auth/oauth/nobody/callback?state=x", 400, "OAUTH_STATE_INVALID"),
    ];
    for (method, path, status, code) in cases {
        let res = app.http.request(method.clone(), app.url(path)).send().await.unwrap();
        let (got, body) = common::read(res).await;
        assert_eq!((got.as_u16(), body["code"].as_str()), (status, Some(code)), "{method} {path}");
    }
    for header in ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer a.b", "Token abc"] {
        let res = app.http.get(app.url("/api/auth/me")).header("authorization", header).send().await.unwrap();
        let (status, body) = common::read(res).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        assert!(body["code"].is_string(), "{header}");
    }
}
