//! The payment window and the REST API: confirm, look-ups, cancel, auth, Idempotency-Key.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tiketi_toss_sandbox::{LOCAL_CLIENT_KEY, LOCAL_SECRET_KEY};

use crate::common::{self, FAIL_URL, Harness, SUCCESS_URL, location, location_params};

fn is_kst_time(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 25 && text.ends_with("+09:00") && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test]
async fn the_window_shows_the_order_escaped_with_three_buttons() {
    let h = Harness::start().await;
    let mut query = Harness::checkout_query("order-window-1", 15_000);
    query[2].1 = "<script>alert(1)</script>".to_owned();
    let response = h.http.get(format!("{}/v1/checkout", h.base)).query(&query).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("15,000"));
    for outcome in ["approve", "reject", "virtual_account"] {
        assert!(html.contains(&format!(r#"name="outcome" value="{outcome}""#)), "{outcome}");
    }
    assert_eq!(html.matches(r#"<form method="post" action="/v1/checkout?"#).count(), 3);
}

#[tokio::test]
async fn the_window_checks_its_parameters() {
    let h = Harness::start().await;
    let base = Harness::checkout_query("order-window-2", 1000);
    let with = |name: &str, value: &str| {
        let mut query = base.clone();
        query.iter_mut().filter(|(k, _)| *k == name).for_each(|(_, v)| *v = value.to_owned());
        query
    };
    let cases = [
        (with("clientKey", "test_ck_other"), StatusCode::UNAUTHORIZED, "UNAUTHORIZED_KEY"),
        (with("orderId", "short"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (with("orderId", "has spaces in it"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (with("amount", "0"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (with("amount", "12.5"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (with("successUrl", "/relative"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (with("failUrl", "javascript:alert(1)"), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
        (with("orderName", ""), StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
    ];
    for (query, status, code) in cases {
        let response = h.http.get(format!("{}/v1/checkout", h.base)).query(&query).send().await.unwrap();
        assert_eq!(response.status(), status, "{query:?}");
        let (_, body) = common::answer(response).await;
        assert_eq!(body["code"], code, "{query:?}");
        let response = h.choose(&query, "approve").await;
        assert_eq!(response.status(), status, "POST {query:?}");
    }
    let response = h.choose(&base, "steal").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn approving_redirects_to_the_success_url() {
    let h = Harness::start().await;
    let response = h.choose(&Harness::checkout_query("order-approve-1", 12_000), "approve").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let target = location(&response);
    assert_eq!(&target.as_str()[..SUCCESS_URL.len()], SUCCESS_URL);
    let params = location_params(&response);
    assert!(params["paymentKey"].starts_with("tsbx_") && params["paymentKey"].len() == 29);
    assert_eq!(params["orderId"], "order-approve-1");
    assert_eq!(params["amount"], "12000");

    // A success URL with a query of its own keeps it.
    let mut query = Harness::checkout_query("order-approve-2", 500);
    query[4].1 = format!("{SUCCESS_URL}?lang=ko&x=a%20b");
    let response = h.choose(&query, "approve").await;
    let params = location_params(&response);
    assert_eq!(params["lang"], "ko");
    assert_eq!(params["x"], "a b");
    assert_eq!(params["orderId"], "order-approve-2");
}

#[tokio::test]
async fn a_rejected_card_redirects_to_the_fail_url() {
    let h = Harness::start().await;
    let response = h.choose(&Harness::checkout_query("order-reject-1", 12_000), "reject").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).as_str().starts_with(FAIL_URL));
    let params = location_params(&response);
    assert_eq!(params["code"], "REJECT_CARD_COMPANY");
    assert!(!params["message"].is_empty());
    assert_eq!(params["orderId"], "order-reject-1");
    // No session was opened.
    let (status, body) = h.get("/v1/payments/orders/order-reject-1").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_PAYMENT")));
}

#[tokio::test]
async fn a_card_confirm_answers_a_done_payment() {
    let h = Harness::start().await;
    let key = h.authorise("order-card-1", 15_000, "approve").await;
    let (status, p) = h.confirm(&key, "order-card-1", 15_000).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "DONE");
    assert_eq!(p["paymentKey"], key.as_str());
    assert_eq!(p["orderId"], "order-card-1");
    assert_eq!(p["orderName"], "콘서트 R석 외 1건");
    assert_eq!(p["method"], "카드");
    assert_eq!(p["type"], "NORMAL");
    assert_eq!(p["currency"], "KRW");
    assert_eq!(p["country"], "KR");
    assert_eq!(p["version"], "2022-11-16");
    assert_eq!(p["isPartialCancelable"], true);
    assert_eq!((p["totalAmount"].as_i64(), p["balanceAmount"].as_i64()), (Some(15_000), Some(15_000)));
    assert_eq!((p["suppliedAmount"].as_i64(), p["vat"].as_i64()), (Some(13_636), Some(1_364)));
    assert!(is_kst_time(&p["requestedAt"]) && is_kst_time(&p["approvedAt"]), "{p}");
    assert_eq!(p["lastTransactionKey"].as_str().unwrap().len(), 32);
    let card = &p["card"];
    assert_eq!(card["amount"], 15_000);
    assert_eq!(card["cardType"], "신용");
    assert_eq!(card["ownerType"], "개인");
    assert!(card["number"].as_str().unwrap().contains('*'));
    for field in ["issuerCode", "acquirerCode", "approveNo", "installmentPlanMonths", "acquireStatus"] {
        assert!(!card[field].is_null(), "{field}");
    }
    assert!(p["receipt"]["url"].as_str().unwrap().starts_with(&h.base));
    for field in ["virtualAccount", "transfer", "easyPay", "cancels", "secret", "failure", "discount"] {
        assert!(p.get(field).is_some_and(Value::is_null), "{field} should be null");
    }
    // The receipt URL answers.
    let receipt = h.http.get(p["receipt"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(receipt.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_confirm_with_another_amount_is_refused_and_changes_nothing() {
    let h = Harness::start().await;
    let key = h.authorise("order-amount-1", 10_000, "approve").await;
    let (status, body) = h.confirm(&key, "order-amount-1", 100).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")));
    let (_, p) = h.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(p["status"], "IN_PROGRESS");
    let (status, _) = h.confirm(&key, "order-amount-1", 10_000).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_or_mismatched_sessions_are_not_found() {
    let h = Harness::start().await;
    let (status, body) = h.confirm("tsbx_nosuchkey000000000000000", "order-unknown-1", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_PAYMENT_SESSION")));
    let key = h.authorise("order-unknown-2", 1000, "approve").await;
    let (status, body) = h.confirm(&key, "order-unknown-3", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_PAYMENT_SESSION")));
}

#[tokio::test]
async fn a_session_past_its_ttl_expires() {
    let h = Harness::start_with(|c| c.session_ttl = Duration::from_secs(1)).await;
    let key = h.authorise("order-expire-1", 1000, "approve").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = h.confirm(&key, "order-expire-1", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_PAYMENT_SESSION")));
    let (status, p) = h.get("/v1/payments/orders/order-expire-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["status"], "EXPIRED");
    assert_eq!(p["approvedAt"], Value::Null);
    assert_eq!(p["failure"]["code"], "EXPIRED_PAYMENT");
    // The order id was never used up: the buyer may try again.
    let key = h.authorise("order-expire-1", 1000, "approve").await;
    assert_eq!(h.confirm(&key, "order-expire-1", 1000).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_second_confirm_is_already_processed_and_the_order_id_is_used_up() {
    let h = Harness::start().await;
    let key = h.paid_by_card("order-twice-1", 5000).await;
    let (status, body) = h.confirm(&key, "order-twice-1", 5000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ALREADY_PROCESSED_PAYMENT")));
    let response = h.choose(&Harness::checkout_query("order-twice-1", 5000), "approve").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let params = location_params(&response);
    assert_eq!(params["code"], "DUPLICATED_ORDER_ID");
    assert!(location(&response).as_str().starts_with(FAIL_URL));
}

#[tokio::test]
async fn an_idempotency_key_replays_its_first_answer_errors_included() {
    let h = Harness::start().await;
    let key = h.authorise("order-idem-1", 7000, "approve").await;

    // An error answer is recorded and replayed, even once the request is fixed.
    let (status, first) = h.confirm_with_key(&key, "order-idem-1", 1, Some("idem-error")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, again) = h.confirm_with_key(&key, "order-idem-1", 7000, Some("idem-error")).await;
    assert_eq!((status, &again), (StatusCode::BAD_REQUEST, &first));

    // A success is replayed as the same 200, where a plain second confirm would be refused.
    let (status, done) = h.confirm_with_key(&key, "order-idem-1", 7000, Some("idem-ok")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, replay) = h.confirm_with_key("whatever", "order-other", 3, Some("idem-ok")).await;
    assert_eq!((status, &replay), (StatusCode::OK, &done));
    let (status, body) = h.confirm_with_key(&key, "order-idem-1", 7000, Some("idem-new")).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ALREADY_PROCESSED_PAYMENT")));

    // Keys are at most 300 characters.
    let (status, body) = h.confirm_with_key(&key, "order-idem-1", 7000, Some(&"k".repeat(301))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")));

    // Cancels too.
    let cancel = |amount: i64| {
        h.http
            .post(format!("{}/v1/payments/{key}/cancel", h.base))
            .header("Authorization", Harness::auth())
            .header("Idempotency-Key", "idem-cancel")
            .json(&json!({ "cancelReason": "고객 변심", "cancelAmount": amount }))
            .send()
    };
    let (status, first) = common::answer(cancel(1000).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = common::answer(cancel(1000).await.unwrap()).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    let (_, p) = h.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(p["balanceAmount"], 6000);
}

#[tokio::test]
async fn the_rest_api_needs_the_secret_key() {
    let h = Harness::start().await;
    let url = format!("{}/v1/payments/orders/order-auth-1", h.base);
    let cases = [
        (None, StatusCode::UNAUTHORIZED, "UNAUTHORIZED_KEY"),
        (Some(format!("Basic {}", STANDARD.encode("test_sk_wrong:"))), StatusCode::UNAUTHORIZED, "UNAUTHORIZED_KEY"),
        (
            Some(format!("Basic {}", STANDARD.encode(LOCAL_CLIENT_KEY))),
            StatusCode::FORBIDDEN,
            "INCORRECT_BASIC_AUTH_FORMAT",
        ),
        (
            Some(format!("Basic {}", STANDARD.encode(LOCAL_SECRET_KEY))),
            StatusCode::FORBIDDEN,
            "INCORRECT_BASIC_AUTH_FORMAT",
        ),
        (Some(format!("Bearer {LOCAL_SECRET_KEY}")), StatusCode::FORBIDDEN, "INCORRECT_BASIC_AUTH_FORMAT"),
    ];
    for (authorization, status, code) in cases {
        for request in [
            h.http.get(&url),
            h.http.post(format!("{}/v1/payments/confirm", h.base)).json(&json!({})),
            h.http.post(format!("{}/v1/payments/tsbx_x/cancel", h.base)).json(&json!({"cancelReason": "x"})),
        ] {
            let request = match &authorization {
                Some(value) => request.header("Authorization", value),
                None => request,
            };
            let (got, body) = common::answer(request.send().await.unwrap()).await;
            assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{authorization:?}");
        }
    }
}

#[tokio::test]
async fn payments_are_found_by_key_and_by_order() {
    let h = Harness::start().await;
    let key = h.authorise("order-get-1", 3000, "approve").await;
    let (status, p) = h.get("/v1/payments/orders/order-get-1").await;
    assert_eq!((status, p["status"].as_str()), (StatusCode::OK, Some("IN_PROGRESS")));
    assert_eq!(p["paymentKey"], key.as_str());
    assert_eq!(p["approvedAt"], Value::Null);
    h.confirm(&key, "order-get-1", 3000).await;
    let (_, by_key) = h.get(&format!("/v1/payments/{key}")).await;
    let (_, by_order) = h.get("/v1/payments/orders/order-get-1").await;
    assert_eq!(by_key["status"], "DONE");
    assert_eq!(by_key, by_order);
    for path in ["/v1/payments/tsbx_unknown", "/v1/payments/orders/order-nobody"] {
        let (status, body) = h.get(path).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_PAYMENT")), "{path}");
    }
}

#[tokio::test]
async fn cancels_partial_then_full() {
    let h = Harness::start().await;
    let key = h.paid_by_card("order-cancel-1", 10_000).await;

    let (status, body) = h.cancel(&key, json!({ "cancelAmount": 1000 })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")));
    let (status, body) = h.cancel(&key, json!({ "cancelReason": "x".repeat(201) })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")));

    let (status, p) = h.cancel(&key, json!({ "cancelReason": "부분 환불", "cancelAmount": 3000 })).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "PARTIAL_CANCELED");
    assert_eq!(p["balanceAmount"], 7000);
    assert_eq!(p["totalAmount"], 10_000);
    assert_eq!(p["suppliedAmount"].as_i64().unwrap() + p["vat"].as_i64().unwrap(), 7000);
    let cancel = &p["cancels"][0];
    assert_eq!(cancel["cancelAmount"], 3000);
    assert_eq!(cancel["cancelReason"], "부분 환불");
    assert_eq!(cancel["refundableAmount"], 7000);
    assert_eq!(cancel["cancelStatus"], "DONE");
    assert!(is_kst_time(&cancel["canceledAt"]));
    assert_eq!(cancel["transactionKey"], p["lastTransactionKey"]);
    for field in ["taxExemptionAmount", "easyPayDiscountAmount", "taxFreeAmount"] {
        assert_eq!(cancel[field], 0, "{field}");
    }
    for field in ["receiptKey", "cancelRequestId"] {
        assert!(cancel.get(field).is_some_and(Value::is_null), "{field}");
    }

    let (status, body) = h.cancel(&key, json!({ "cancelReason": "too much", "cancelAmount": 8000 })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("NOT_CANCELABLE_AMOUNT")));

    let (status, p) = h.cancel(&key, json!({ "cancelReason": "나머지 환불" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["balanceAmount"], 0);
    assert_eq!(p["cancels"].as_array().unwrap().len(), 2);
    assert_eq!(p["cancels"][1]["cancelAmount"], 7000);
    assert_eq!(p["cancels"][1]["refundableAmount"], 0);

    let (status, body) = h.cancel(&key, json!({ "cancelReason": "again" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ALREADY_CANCELED_PAYMENT")));
}

#[tokio::test]
async fn unconfirmed_or_unknown_payments_cannot_be_canceled() {
    let h = Harness::start().await;
    let key = h.authorise("order-cancel-2", 1000, "approve").await;
    let (status, body) = h.cancel(&key, json!({ "cancelReason": "x" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("NOT_CANCELABLE_PAYMENT")));
    let (status, body) = h.cancel("tsbx_unknown", json!({ "cancelReason": "x" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_PAYMENT")));
}

#[tokio::test]
async fn bad_input_gets_toss_errors() {
    let h = Harness::start().await;
    let send = |body: &'static str| {
        h.http
            .post(format!("{}/v1/payments/confirm", h.base))
            .header("Authorization", Harness::auth())
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for body in ["", "not json", "[]", r#"{"paymentKey": 1}"#, r#"{"paymentKey":"k","orderId":"o","amount":"x"}"#] {
        let (status, answer) = common::answer(send(body).await.unwrap()).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")), "{body}");
        assert!(answer["message"].is_string());
    }
    // Unknown fields are ignored.
    let key = h.authorise("order-extra-1", 1000, "approve").await;
    let body = json!({ "paymentKey": key, "orderId": "order-extra-1", "amount": 1000, "extra": {"a": 1} });
    let response = h
        .http
        .post(format!("{}/v1/payments/confirm", h.base))
        .header("Authorization", Harness::auth())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (status, body) = h.control(Method::GET, "/v1/nowhere", Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")));
    let (status, body) = h.control(Method::DELETE, "/v1/payments/confirm", Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_HTTP_METHOD")));
    let response = h.http.get(format!("{}/healthz", h.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
