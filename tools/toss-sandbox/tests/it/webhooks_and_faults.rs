//! Virtual accounts and deposits, webhook delivery and retries, fault injection.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{self, Harness, Receiver, header};

async fn with_receiver(failures: u32) -> (Harness, Receiver) {
    let receiver = Receiver::start(failures).await;
    let url = receiver.url.clone();
    let h = Harness::start_with(|c| {
        c.webhook_url = Some(url);
        c.webhook_retry_scale = 0.001;
    })
    .await;
    (h, receiver)
}

#[tokio::test]
async fn a_virtual_account_waits_for_its_deposit_then_is_done() {
    let (h, receiver) = with_receiver(0).await;
    let key = h.authorise("order-va-1", 20_000, "virtual_account").await;
    let (status, p) = h.confirm(&key, "order-va-1", 20_000).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "WAITING_FOR_DEPOSIT");
    assert_eq!(p["method"], "가상계좌");
    assert_eq!(p["approvedAt"], Value::Null);
    assert_eq!(p["card"], Value::Null);
    let secret = p["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 20);
    let account = &p["virtualAccount"];
    assert_eq!(account["accountType"], "일반");
    assert_eq!(account["bankCode"], "20");
    assert_eq!(account["customerName"], "김토스");
    assert_eq!(account["refundStatus"], "NONE");
    assert_eq!(account["expired"], false);
    assert_eq!(account["settlementStatus"], "INCOMPLETED");
    assert!(account["accountNumber"].as_str().unwrap()[1..].chars().all(|c| c.is_ascii_digit()));
    let due = chrono::DateTime::parse_from_rfc3339(account["dueDate"].as_str().unwrap()).unwrap();
    assert_eq!(account["dueDate"].as_str().unwrap().get(19..), Some("+09:00"));
    let hours = (due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");

    // Issuing the account: DEPOSIT_CALLBACK (WAITING_FOR_DEPOSIT), then PAYMENT_STATUS_CHANGED.
    let issued = receiver.wait_for(2).await;
    assert_eq!(issued[0].body["status"], "WAITING_FOR_DEPOSIT");
    assert_eq!(issued[0].body["secret"], secret.as_str());
    assert_eq!(issued[1].body["eventType"], "PAYMENT_STATUS_CHANGED");
    assert_eq!(issued[1].body["data"]["status"], "WAITING_FOR_DEPOSIT");

    let deposit = "/sandbox/virtual-accounts/order-va-1/deposit";
    let (status, p) = h.control(Method::POST, deposit, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "DONE");
    assert!(p["approvedAt"].as_str().unwrap().ends_with("+09:00"));

    let received = receiver.wait_for(4).await;
    let callback = &received[2];
    assert_eq!(header(callback, "content-type"), "application/json");
    let body = callback.body.as_object().unwrap();
    assert!(body.get("eventType").is_none() && body.get("data").is_none() && body.get("paymentKey").is_none());
    assert_eq!(body["status"], "DONE");
    assert_eq!(body["secret"], secret.as_str());
    assert_eq!(body["orderId"], "order-va-1");
    assert_eq!(body["transactionKey"], p["lastTransactionKey"]);
    let created_at = body["createdAt"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(created_at, "%Y-%m-%dT%H:%M:%S%.6f").is_ok(), "{created_at}");

    let changed = &received[3];
    assert_eq!(changed.body["eventType"], "PAYMENT_STATUS_CHANGED");
    assert_eq!(changed.body["data"]["status"], "DONE");
    assert_eq!(changed.body["data"]["paymentKey"], key.as_str());
    for r in [callback, changed] {
        assert!(header(r, "tosspayments-webhook-transmission-id").starts_with("tsbx_wh_"));
        assert!(header(r, "tosspayments-webhook-transmission-time").ends_with("+09:00"));
        assert_eq!(header(r, "tosspayments-webhook-transmission-retried-count"), "0");
    }
    assert_ne!(
        header(callback, "tosspayments-webhook-transmission-id"),
        header(changed, "tosspayments-webhook-transmission-id")
    );

    // A second deposit: nothing is waiting any more.
    let (status, body) = h.control(Method::POST, deposit, Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("NOT_WAITING_FOR_DEPOSIT")));
    let (status, _) = h.control(Method::POST, "/sandbox/virtual-accounts/order-nobody/deposit", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A refund of a paid virtual account needs an account to send the money to.
    let (status, body) = h.cancel(&key, json!({ "cancelReason": "환불" })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")));
    let refund = json!({
        "cancelReason": "환불",
        "refundReceiveAccount": { "bank": "88", "accountNumber": "abc", "holderName": "김토스" }
    });
    let (status, body) = h.cancel(&key, refund).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REFUND_ACCOUNT_NUMBER")));
    let refund = json!({
        "cancelReason": "환불",
        "refundReceiveAccount": { "bank": "88", "accountNumber": "110-123-456789", "holderName": "김토스" }
    });
    let (status, p) = h.cancel(&key, refund).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["virtualAccount"]["refundStatus"], "COMPLETED");
    assert_eq!(p["virtualAccount"]["refundReceiveAccount"]["bankCode"], "88");

    let deliveries = h.control(Method::GET, "/sandbox/webhooks", Value::Null).await.1;
    let deliveries = deliveries.as_array().unwrap();
    assert!(deliveries.len() >= 4);
    assert!(deliveries.iter().all(|d| d["order_id"] == "order-va-1"));
}

#[tokio::test]
async fn a_waiting_virtual_account_is_canceled_whole_without_a_refund_account() {
    let h = Harness::start().await;
    let key = h.authorise("order-va-2", 9000, "virtual_account").await;
    h.confirm(&key, "order-va-2", 9000).await;
    let (status, body) = h.cancel(&key, json!({ "cancelReason": "x", "cancelAmount": 1000 })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT"))
    );
    let (status, p) = h.cancel(&key, json!({ "cancelReason": "주문 취소" })).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!((p["status"].as_str(), p["balanceAmount"].as_i64()), (Some("CANCELED"), Some(0)));
    let (status, body) = h.control(Method::POST, "/sandbox/virtual-accounts/order-va-2/deposit", Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("NOT_WAITING_FOR_DEPOSIT")));
}

#[tokio::test]
async fn a_card_confirm_and_cancels_send_status_webhooks() {
    let (h, receiver) = with_receiver(0).await;
    let key = h.paid_by_card("order-wh-1", 4000).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].body["eventType"], "PAYMENT_STATUS_CHANGED");
    assert_eq!(received[0].body["data"]["status"], "DONE");
    h.cancel(&key, json!({ "cancelReason": "x", "cancelAmount": 1000 })).await;
    h.cancel(&key, json!({ "cancelReason": "y" })).await;
    let received = receiver.wait_for(3).await;
    let statuses: Vec<_> = received.iter().map(|r| r.body["data"]["status"].clone()).collect();
    assert_eq!(statuses, [json!("DONE"), json!("PARTIAL_CANCELED"), json!("CANCELED")]);
}

#[tokio::test]
async fn a_failed_webhook_is_retried_with_the_same_transmission_id() {
    let (h, receiver) = with_receiver(2).await;
    h.paid_by_card("order-retry-1", 1000).await;
    let received = receiver.wait_for(3).await;
    let ids: Vec<_> = received.iter().map(|r| header(r, "tosspayments-webhook-transmission-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let counts: Vec<_> =
        received.iter().map(|r| header(r, "tosspayments-webhook-transmission-retried-count")).collect();
    assert_eq!(counts, ["0", "1", "2"]);
    assert!(received.iter().all(|r| r.body == received[0].body));

    // The log shows the three attempts once the third is recorded.
    let mut delivery = Value::Null;
    for _ in 0..200 {
        delivery = h.control(Method::GET, "/sandbox/webhooks", Value::Null).await.1[0].clone();
        if delivery["delivered"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(delivery["delivered"], true, "{delivery}");
    assert_eq!(delivery["transmission_id"], ids[0]);
    assert_eq!(delivery["event_type"], "PAYMENT_STATUS_CHANGED");
    let outcomes: Vec<_> =
        delivery["attempts"].as_array().unwrap().iter().map(|a| a["status_or_error"].clone()).collect();
    assert_eq!(outcomes, [json!(500), json!(500), json!(200)]);
}

#[tokio::test]
async fn the_webhook_url_can_change_at_run_time() {
    let h = Harness::start().await;
    let receiver = Receiver::start(0).await;
    let (status, config) = h
        .control(Method::PUT, "/sandbox/config", json!({ "webhook_url": receiver.url, "webhook_retry_scale": 0.001 }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["webhook_url"], receiver.url.as_str());
    assert!(config.get("secret_key").is_none());
    h.paid_by_card("order-config-1", 1000).await;
    receiver.wait_for(1).await;
    let (status, config) = h.control(Method::PUT, "/sandbox/config", json!({ "webhook_url": null })).await;
    assert_eq!((status, &config["webhook_url"]), (StatusCode::OK, &Value::Null));
    assert_eq!(config["webhook_retry_scale"], 0.001);
    let (status, _) = h.control(Method::PUT, "/sandbox/config", json!({ "webhook_url": "not a url" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn latency_holds_answers_back() {
    let h = Harness::start().await;
    let key = h.authorise("order-slow-1", 1000, "approve").await;
    let (status, _) = h.control(Method::PUT, "/sandbox/faults", json!({ "latency_ms": 300 })).await;
    assert_eq!(status, StatusCode::OK);
    let started = Instant::now();
    assert_eq!(h.get(&format!("/v1/payments/{key}")).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    let (status, faults) = h.control(Method::DELETE, "/sandbox/faults", Value::Null).await;
    assert_eq!((status, &faults["latency_ms"]), (StatusCode::OK, &json!(0)));
    let started = Instant::now();
    h.get(&format!("/v1/payments/{key}")).await;
    assert!(started.elapsed() < Duration::from_millis(250));
}

/// Toss answers a request whose Idempotency-Key belongs to a request it is still processing with
/// 409 `IDEMPOTENT_REQUEST_PROCESSING`; the sandbox's "still processing" is the latency fault
/// holding the first answer back. Once that answer is out, the key replays it.
#[tokio::test]
async fn a_key_whose_first_request_is_still_processing_answers_409_until_it_is_answered() {
    let (h, receiver) = with_receiver(0).await;
    let key = h.authorise("order-busy-1", 3000, "approve").await;
    let latency = Duration::from_millis(2500);
    let faults = json!({ "latency_ms": latency.as_millis() as u64, "order_id": "order-busy-1" });
    assert_eq!(h.control(Method::PUT, "/sandbox/faults", faults).await.0, StatusCode::OK);
    let post = |path: String, idempotency_key: &'static str, body: Value| {
        let request = h
            .http
            .post(format!("{}{path}", h.base))
            .header("Authorization", Harness::auth())
            .header("Idempotency-Key", idempotency_key)
            .json(&body);
        async move { common::answer(request.send().await.unwrap()).await }
    };
    let confirm = json!({ "paymentKey": key, "orderId": "order-busy-1", "amount": 3000 });
    let cancel = json!({ "cancelReason": "고객 변심" });
    let cancel_path = format!("/v1/payments/{key}/cancel");

    for (path, idempotency_key, body, status, webhooks) in [
        ("/v1/payments/confirm".to_owned(), "idem-busy-confirm", confirm.clone(), "DONE", 1),
        (cancel_path.clone(), "idem-busy-cancel", cancel.clone(), "CANCELED", 2),
    ] {
        let first = tokio::spawn(post(path.clone(), idempotency_key, body.clone()));
        // The first request has done its work (its webhook is out) but its answer is held back.
        receiver.wait_for(webhooks).await;
        let asked = Instant::now();
        let (code, busy) = post(path.clone(), idempotency_key, body.clone()).await;
        assert_eq!((code, busy["code"].as_str()), (StatusCode::CONFLICT, Some("IDEMPOTENT_REQUEST_PROCESSING")));
        assert!(busy["message"].as_str().is_some_and(|m| !m.is_empty()), "{busy}");
        assert!(asked.elapsed() < latency, "the 409 is not held back: {:?}", asked.elapsed());

        let (code, answered) = first.await.unwrap();
        assert_eq!((code, answered["status"].as_str()), (StatusCode::OK, Some(status)), "{answered}");
        let (code, replay) = post(path, idempotency_key, body).await;
        assert_eq!((code, &replay), (StatusCode::OK, &answered), "once answered, the key replays the answer");
    }
    // The 409 belongs to the key: a confirm under another key is processed (and refused) as usual.
    let (code, again) = post("/v1/payments/confirm".to_owned(), "idem-busy-other", confirm).await;
    assert_eq!((code, again["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ALREADY_PROCESSED_PAYMENT")));
}

#[tokio::test]
async fn server_and_provider_errors_change_nothing_and_are_replayed() {
    let h = Harness::start().await;
    let key = h.authorise("order-5xx-1", 1000, "approve").await;
    h.control(Method::PUT, "/sandbox/faults", json!({ "server_error": 1, "provider_error": 1 })).await;

    let (status, body) = h.confirm_with_key(&key, "order-5xx-1", 1000, Some("idem-5xx")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("FAILED_INTERNAL_SYSTEM_PROCESSING"))
    );
    let (status, body) = h.confirm(&key, "order-5xx-1", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("PROVIDER_ERROR")));
    assert_eq!(h.get(&format!("/v1/payments/{key}")).await.1["status"], "IN_PROGRESS");

    // The faulted answer is what the key replays; a fresh key goes through.
    let (status, _) = h.confirm_with_key(&key, "order-5xx-1", 1000, Some("idem-5xx")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h.confirm(&key, "order-5xx-1", 1000).await;
    assert_eq!(status, StatusCode::OK);

    // server_error also hits cancels.
    h.control(Method::PUT, "/sandbox/faults", json!({ "server_error": 1 })).await;
    let (status, _) = h.cancel(&key, json!({ "cancelReason": "x" })).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.get(&format!("/v1/payments/{key}")).await.1["status"], "DONE");
}

#[tokio::test]
async fn a_rejected_card_aborts_the_payment() {
    let h = Harness::start().await;
    let key = h.authorise("order-rej-1", 1000, "approve").await;
    h.control(Method::PUT, "/sandbox/faults", json!({ "reject_card": 1 })).await;
    let (status, body) = h.confirm(&key, "order-rej-1", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("REJECT_CARD_COMPANY")));
    let (_, p) = h.get(&format!("/v1/payments/{key}")).await;
    assert_eq!(p["status"], "ABORTED");
    assert_eq!(p["failure"]["code"], "REJECT_CARD_COMPANY");
    let (status, body) = h.confirm(&key, "order-rej-1", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("ALREADY_PROCESSED_PAYMENT")));
}

#[tokio::test]
async fn a_dropped_answer_still_approves_and_its_key_replays_the_200() {
    let (h, receiver) = with_receiver(0).await;
    let key = h.authorise("order-drop-1", 2500, "approve").await;
    h.control(Method::PUT, "/sandbox/faults", json!({ "drop_after_approve": 1 })).await;
    let sent = h
        .http
        .post(format!("{}/v1/payments/confirm", h.base))
        .header("Authorization", Harness::auth())
        .header("Idempotency-Key", "idem-drop")
        .json(&json!({ "paymentKey": key, "orderId": "order-drop-1", "amount": 2500 }))
        .send()
        .await;
    // The connection closes before any status line: the client sees a transport error, no 2xx.
    let err = sent.expect_err("the client must not get an answer");
    assert!(!err.is_status() && !err.is_timeout(), "{err}");

    let (_, p) = h.get("/v1/payments/orders/order-drop-1").await;
    assert_eq!(p["status"], "DONE");
    assert_eq!(receiver.wait_for(1).await[0].body["data"]["status"], "DONE");
    let (status, replay) = h.confirm_with_key(&key, "order-drop-1", 2500, Some("idem-drop")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay["paymentKey"], key.as_str());
    assert_eq!(replay["status"], "DONE");
}

#[tokio::test]
async fn faults_can_target_one_order() {
    let h = Harness::start().await;
    let spared = h.authorise("order-spared-1", 1000, "approve").await;
    let target = h.authorise("order-target-1", 1000, "approve").await;
    let (_, faults) =
        h.control(Method::PUT, "/sandbox/faults", json!({ "provider_error": 5, "order_id": "order-target-1" })).await;
    assert_eq!(faults["server_error"], 0);
    assert_eq!(h.confirm(&spared, "order-spared-1", 1000).await.0, StatusCode::OK);
    let (status, body) = h.confirm(&target, "order-target-1", 1000).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("PROVIDER_ERROR")));
    let (status, _) = h.control(Method::PUT, "/sandbox/faults", json!({ "latency_ms": -1 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
