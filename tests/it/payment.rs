//! Payments end to end: the real server (all roles) against a Toss sandbox of each test's own,
//! real PostgreSQL and Redis. The buyer's browser is played by posting the sandbox's payment
//! window and following its redirect, exactly as a load script would.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi_payment::reconciler::Backlog;
use tiketi_shared::token::UserRole;
use tiketi_toss_sandbox::{LOCAL_SECRET_KEY, Sandbox};

use crate::common::{self, TestApp, read, spawn_with_toss};

const PRICE: i64 = 50_000;
/// A Toss time limit short enough that a slow first request is cut off and retried while Toss is
/// still processing it ([`STILL_PROCESSING_MS`] covers the first attempt and both retries).
const SHORT_TIMEOUT_MS: &str = "1000";
const STILL_PROCESSING_MS: u64 = 4000;

struct Buyer {
    id: uuid::Uuid,
    token: String,
}

impl Buyer {
    async fn new(app: &TestApp) -> Self {
        let id = uuid::Uuid::now_v7();
        Self { id, token: app.token_for(id, UserRole::User).await }
    }

    /// A token valid at the app's clock (after the test moved it).
    async fn fresh_token(&self, app: &TestApp) -> String {
        app.token_for(self.id, UserRole::User).await
    }
}

/// A buyer holding `seats` seats of a fresh event: (buyer, event, reservation).
async fn holding(app: &TestApp, seats: usize) -> (Buyer, Value, Value) {
    let event = app.on_sale_event(&[("Floor", 2, 5, PRICE)], json!({})).await;
    let ids = app.seat_ids(&event).await;
    let buyer = Buyer::new(app).await;
    let (status, held) = app.hold(&buyer.token, &event, &ids[..seats]).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    (buyer, event, held["reservation"].clone())
}

async fn checkout(app: &TestApp, token: &str, reservation: &Value) -> Value {
    let body = json!({"reservation_id": reservation["id"]});
    let (status, order) = app.send(Method::POST, "/api/payments/checkout", Some(token), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order
}

/// The browser in the payment window: picks `outcome`, answers where it was sent back to.
async fn window(app: &TestApp, checkout_url: &str, outcome: &str) -> url::Url {
    let res = app.http.post(checkout_url).form(&[("outcome", outcome)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// `POST /api/payments/confirm` with what the success redirect carried.
async fn confirm(app: &TestApp, token: &str, back: &url::Url) -> (StatusCode, Value) {
    let body = json!({
        "payment_key": param(back, "paymentKey"),
        "order_id": param(back, "orderId"),
        "amount": param(back, "amount").parse::<i64>().unwrap(),
    });
    app.send(Method::POST, "/api/payments/confirm", Some(token), Some(&body)).await
}

/// Checkout, pay by card, confirm: answers the confirm body (asserting 200).
async fn pay(app: &TestApp, token: &str, reservation: &Value) -> Value {
    let order = checkout(app, token, reservation).await;
    let back = window(app, order["checkout_url"].as_str().unwrap(), "approve").await;
    let (status, paid) = confirm(app, token, &back).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    paid
}

async fn payment(app: &TestApp, token: &str, order_id: &str) -> Value {
    let (status, body) = app.send(Method::GET, &format!("/api/payments/{order_id}"), Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["payment"].clone()
}

/// What the sandbox (Toss) has for an order.
async fn at_toss(sandbox: &Sandbox, order_id: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{}/v1/payments/orders/{order_id}", sandbox.url()))
        .basic_auth(LOCAL_SECRET_KEY, Some(""))
        .send()
        .await
        .unwrap();
    read(res).await.1
}

async fn faults(sandbox: &Sandbox, faults: Value) {
    let res = reqwest::Client::new().put(format!("{}/sandbox/faults", sandbox.url())).json(&faults).send().await;
    assert_eq!(res.unwrap().status(), StatusCode::OK);
}

async fn seat_status(app: &TestApp, event: &Value, seat: &str) -> String {
    let path = format!("/api/events/{}/seats", event["id"].as_str().unwrap());
    let (_, map) = app.send(Method::GET, &path, None, None).await;
    let seats = map["seats"].as_array().unwrap();
    seats.iter().find(|s| s["id"] == seat).unwrap()["status"].as_str().unwrap().to_owned()
}

async fn reservation_status(app: &TestApp, token: &str, reservation: &Value) -> String {
    let path = format!("/api/reservations/{}", reservation["id"].as_str().unwrap());
    let (_, body) = app.send(Method::GET, &path, Some(token), None).await;
    body["reservation"]["status"].as_str().unwrap_or_default().to_owned()
}

/// Stops the sandbox's webhooks, for tests that drive settling themselves.
async fn no_webhooks(app: &TestApp, sandbox: &Sandbox) {
    let res = app.http.put(format!("{}/sandbox/config", sandbox.url())).json(&json!({"webhook_url": null})).send();
    assert_eq!(res.await.unwrap().status(), StatusCode::OK);
}

/// An order we took for refused while Toss approved it: the buyer authorised it in the window, our
/// side marked the order `failed` (as an answer "still processing" once was), and the confirm
/// that was in flight captured the money at Toss. Answers the order id.
async fn failed_but_captured(app: &TestApp, sandbox: &Sandbox, token: &str, reservation: &Value) -> String {
    let order = checkout(app, token, reservation).await;
    let order_id = order["order_id"].as_str().unwrap().to_owned();
    let back = window(app, order["checkout_url"].as_str().unwrap(), "approve").await;
    let payment_key = param(&back, "paymentKey");
    let failed = sqlx::query(
        "UPDATE payment.orders SET status = 'failed', payment_key = $2, confirm_started_at = $3,
           failure_code = 'IDEMPOTENT_REQUEST_PROCESSING', failure_message = 'taken for a refusal'
         WHERE id = $1 AND status = 'created'",
    )
    .bind(order_id.parse::<uuid::Uuid>().unwrap())
    .bind(&payment_key)
    .bind(app.clock.now())
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(failed.rows_affected(), 1);
    let res = reqwest::Client::new()
        .post(format!("{}/v1/payments/confirm", sandbox.url()))
        .basic_auth(LOCAL_SECRET_KEY, Some(""))
        .header("Idempotency-Key", format!("confirm-{order_id}-0"))
        .json(&json!({"paymentKey": payment_key, "orderId": order_id, "amount": PRICE}))
        .send()
        .await
        .unwrap();
    let (status, captured) = read(res).await;
    assert_eq!((status, captured["status"].as_str()), (StatusCode::OK, Some("DONE")), "{captured}");
    order_id
}

/// One settling step for an order from Toss's record (what a webhook or the reconciler runs);
/// answers how it ended.
async fn settle_from_toss(app: &TestApp, order_id: &str) -> &'static str {
    let payments = app.payment().await;
    let order = tiketi_payment::orders::load(&app.pool, order_id.parse().unwrap()).await.unwrap().unwrap();
    tiketi_payment::settle::from_toss(&payments, &order).await.unwrap().label()
}

async fn refund_rows(app: &TestApp, order_id: &str) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT amount, status FROM payment.refunds WHERE order_id = $1 ORDER BY created_at")
        .bind(order_id.parse::<uuid::Uuid>().unwrap())
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Polls until `check` holds (webhooks are applied just after they are acknowledged).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[sqlx::test(migrations = false)]
async fn a_buyer_pays_by_card_and_the_reservation_is_confirmed(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, event, reservation) = holding(&app, 2).await;
    let token = buyer.token;

    let order = checkout(&app, &token, &reservation).await;
    assert_eq!(order["amount"], 2 * PRICE);
    assert_eq!(order["status"], "created");
    assert!(order["client_key"].as_str().unwrap().starts_with("test_ck_"));
    assert_eq!(order["order_name"], "Test Concert · 2 seats");
    let url = url::Url::parse(order["checkout_url"].as_str().unwrap()).unwrap();
    assert!(url.as_str().starts_with(&sandbox.url()));
    assert_eq!(param(&url, "orderId"), order["order_id"].as_str().unwrap());
    assert_eq!(param(&url, "amount"), (2 * PRICE).to_string());
    // Idempotent per reservation.
    assert_eq!(checkout(&app, &token, &reservation).await["order_id"], order["order_id"]);
    // Someone else's reservation looks like none.
    let stranger = app.buyer().await;
    let body = json!({"reservation_id": reservation["id"]});
    let (status, _) = app.send(Method::POST, "/api/payments/checkout", Some(&stranger), Some(&body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;
    assert!(back.as_str().starts_with(&app.url("/checkout/success")), "{back}");
    let (status, paid) = confirm(&app, &token, &back).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["payment"]["status"], "paid");
    assert_eq!(paid["payment"]["method"], "카드");
    assert!(paid["payment"]["approved_at"].is_string());
    assert!(paid["payment"]["receipt_url"].is_string());
    assert_eq!(paid["reservation"]["status"], "confirmed");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "sold");

    // Confirming again (a double click, a retry) answers the same and charges nothing more.
    let (status, again) = confirm(&app, &token, &back).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["payment"]["status"], "paid");
    let toss = at_toss(&sandbox, order["order_id"].as_str().unwrap()).await;
    assert_eq!(toss["status"], "DONE");
    assert_eq!(toss["totalAmount"], 2 * PRICE);

    let order_id = order["order_id"].as_str().unwrap();
    assert_eq!(payment(&app, &token, order_id).await["status"], "paid");
    let (status, _) = app.send(Method::GET, &format!("/api/payments/{order_id}"), Some(&stranger), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let admin = app.admin().await;
    assert_eq!(payment(&app, &admin, order_id).await["status"], "paid");
    // The ticket page finds the payment by its reservation; a stranger finds none.
    let by_reservation = format!("/api/payments?reservation_id={}", reservation["id"].as_str().unwrap());
    let (status, list) = app.send(Method::GET, &by_reservation, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["order_id"], order_id);
    let (status, list) = app.send(Method::GET, &by_reservation, Some(&stranger), None).await;
    assert_eq!((status, list), (StatusCode::OK, json!({"items": []})));
    let (status, problem) = app.send(Method::GET, "/api/payments?reservation_id=nope", Some(&token), None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION_FAILED")));
    // A paid reservation is not checked out again.
    let (status, body) = app.send(Method::POST, "/api/payments/checkout", Some(&token), Some(&body)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("RESERVATION_NOT_PENDING")));
    // The sandbox told us too, and the webhook changed nothing.
    eventually("the DONE webhook to be applied", || async {
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM payment.webhook_inbox WHERE applied_at IS NOT NULL")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        applied >= 1
    })
    .await;
    assert_eq!(payment(&app, &token, order_id).await["status"], "paid");
}

#[sqlx::test(migrations = false)]
async fn a_tampered_amount_is_refused_and_nothing_is_captured(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, _event, reservation) = holding(&app, 1).await;
    let token = buyer.token;
    let order = checkout(&app, &token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap();

    // The buyer edits the amount in the window's URL: Toss's session is for 100 won.
    let mut tampered = url::Url::parse(order["checkout_url"].as_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k == "amount" { "100".to_owned() } else { v.into_owned() }))
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let back = window(&app, tampered.as_str(), "approve").await;
    assert_eq!(param(&back, "amount"), "100");

    let (status, body) = confirm(&app, &token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("AMOUNT_MISMATCH")), "{body}");
    assert_eq!(payment(&app, &token, order_id).await["status"], "created");
    assert_ne!(at_toss(&sandbox, order_id).await["status"], "DONE");

    // Even with our amount, Toss refuses a session opened for another: nothing is captured.
    let body = json!({"payment_key": param(&back, "paymentKey"), "order_id": order_id, "amount": PRICE});
    let (status, body) = app.send(Method::POST, "/api/payments/confirm", Some(&token), Some(&body)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::PAYMENT_REQUIRED, Some("PAYMENT_REJECTED")), "{body}");
    assert!(body["toss_code"].is_string());
    assert_ne!(at_toss(&sandbox, order_id).await["status"], "DONE");
    assert_eq!(reservation_status(&app, &token, &reservation).await, "pending");
}

#[sqlx::test(migrations = false)]
async fn a_hold_lost_before_paying_is_not_charged(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let seat = reservation["seats"][0]["id"].as_str().unwrap().to_owned();
    let order = checkout(&app, &buyer.token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;

    app.clock.advance(chrono::Duration::minutes(21));
    let rival = app.buyer().await;
    assert_eq!(app.hold(&rival, &event, std::slice::from_ref(&seat)).await.0, StatusCode::CREATED);
    let token = buyer.fresh_token(&app).await;
    let (status, body) = confirm(&app, &token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("HOLD_EXPIRED")), "{body}");
    assert_eq!(payment(&app, &token, order_id).await["status"], "failed");
    assert_ne!(at_toss(&sandbox, order_id).await["status"], "DONE", "nothing was captured");
    // The order is closed; confirming it again says so.
    let (status, body) = confirm(&app, &token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("ORDER_CLOSED")));
}

#[sqlx::test(migrations = false)]
async fn a_hold_lost_while_toss_approves_gets_its_charge_cancelled(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let token = buyer.token.clone();
    let seat = reservation["seats"][0]["id"].as_str().unwrap().to_owned();
    let order = checkout(&app, &token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap().to_owned();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;

    // Toss is slow; meanwhile the hold runs out and another buyer takes the seat.
    faults(&sandbox, json!({"latency_ms": 1500})).await;
    let confirming = {
        let (http, url, token, back) =
            (app.http.clone(), app.url("/api/payments/confirm"), token.clone(), back.clone());
        tokio::spawn(async move {
            let body = json!({"payment_key": param(&back, "paymentKey"), "order_id": param(&back, "orderId"),
                              "amount": param(&back, "amount").parse::<i64>().unwrap()});
            read(http.post(url).bearer_auth(token).json(&body).send().await.unwrap()).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.clock.advance(chrono::Duration::minutes(21));
    let rival = app.buyer().await;
    let (status, body) = app.hold(&rival, &event, std::slice::from_ref(&seat)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = confirming.await.unwrap();
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("HOLD_EXPIRED")), "{body}");
    faults(&sandbox, json!({})).await;
    let toss = at_toss(&sandbox, &order_id).await;
    assert_eq!(toss["status"], "CANCELED", "{toss}");
    assert_eq!(toss["balanceAmount"], 0);
    let token = buyer.fresh_token(&app).await;
    let paid = payment(&app, &token, &order_id).await;
    assert_eq!(paid["status"], "refunded");
    assert_eq!(paid["balance_amount"], 0);
    assert_eq!(paid["refunds"][0]["amount"], PRICE);
    // The seat stays the rival's.
    assert_eq!(seat_status(&app, &event, &seat).await, "held");
}

#[sqlx::test(migrations = false)]
async fn toss_being_slow_failing_or_busy_still_ends_in_one_payment(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    // PROVIDER_ERROR and a 5xx are retried (with a new Idempotency-Key); latency is waited out.
    for fault in [json!({"provider_error": 1}), json!({"server_error": 1}), json!({"latency_ms": 400})] {
        let (buyer, _, reservation) = holding(&app, 1).await;
        faults(&sandbox, fault.clone()).await;
        let paid = pay(&app, &buyer.token, &reservation).await;
        assert_eq!(paid["payment"]["status"], "paid", "{fault}");
        assert_eq!(paid["reservation"]["status"], "confirmed", "{fault}");
    }

    // A card company that says no: 402 with Toss's code, the hold stays, a new order can pay.
    faults(&sandbox, json!({"reject_card": 1})).await;
    let (buyer, _, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;
    let (status, body) = confirm(&app, &buyer.token, &back).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(
        (body["code"].as_str(), body["toss_code"].as_str()),
        (Some("PAYMENT_REJECTED"), Some("REJECT_CARD_COMPANY"))
    );
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "pending");
    let retry = pay(&app, &buyer.token, &reservation).await;
    assert_ne!(retry["payment"]["order_id"], order["order_id"], "a failed order is not reused");
    assert_eq!(retry["payment"]["status"], "paid");

    // Toss busy past every attempt: 503 PAYMENT_PENDING, and the reconciler finishes the job.
    faults(&sandbox, json!({"provider_error": 10})).await;
    let (buyer, _, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;
    let (status, body) = confirm(&app, &buyer.token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("PAYMENT_PENDING")), "{body}");
    assert_eq!(payment(&app, &buyer.token, order_id).await["status"], "confirming");
    faults(&sandbox, json!({})).await;
    app.clock.advance(chrono::Duration::seconds(1));
    let pass = tiketi_payment::reconciler::pass(&app.payment().await).await.unwrap();
    assert_eq!(pass.confirming, 1);
    assert_eq!(payment(&app, &buyer.token, order_id).await["status"], "paid");
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "confirmed");
}

/// The answer to an approved confirm never reaches us, and (with one attempt) the process gives
/// up as if it had died there: the order is left `confirming` with the money captured at Toss. A
/// fresh process's reconciler settles it from Toss's record.
#[sqlx::test(migrations = false)]
async fn a_confirm_cut_off_after_approval_is_settled_by_the_reconciler(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool.clone(), &[("TIKETI_TOSS_ATTEMPTS", "1")]).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;
    // Webhooks would settle it too; this test is about the reconciler alone.
    let res = app.http.put(format!("{}/sandbox/config", sandbox.url())).json(&json!({"webhook_url": null})).send();
    assert_eq!(res.await.unwrap().status(), StatusCode::OK);
    faults(&sandbox, json!({"drop_after_approve": 1})).await;
    let (status, body) = confirm(&app, &buyer.token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("PAYMENT_PENDING")), "{body}");
    assert_eq!(at_toss(&sandbox, order_id).await["status"], "DONE", "captured at Toss");
    assert_eq!(payment(&app, &buyer.token, order_id).await["status"], "confirming");
    let clock = app.clock.clone();
    app.stop().await;

    let vars = common::test_env(&[
        ("TIKETI_TOSS_API_URL", &sandbox.url()),
        ("TIKETI_PAYMENT_RECONCILE_EVERY_SECS", "0"),
        ("TIKETI_PAYMENT_RECONCILE_AFTER_SECS", "0"),
    ]);
    clock.advance(chrono::Duration::seconds(1));
    let restarted = common::spawn_env(pool, vars, clock).await;
    // What the alerts see meanwhile: one confirm overdue (that Toss captured it, we do not know yet).
    let payments = restarted.payment().await;
    let open = Backlog { confirming_overdue: 1, ..Backlog::default() };
    assert_eq!(tiketi_payment::reconciler::backlog(&payments).await.unwrap(), open);
    let pass = tiketi_payment::reconciler::pass(&payments).await.unwrap();
    assert_eq!(pass.confirming, 1);
    assert_eq!(tiketi_payment::reconciler::backlog(&payments).await.unwrap(), Backlog::default());
    let token = buyer.fresh_token(&restarted).await;
    let settled = payment(&restarted, &token, order_id).await;
    assert_eq!(settled["status"], "paid");
    assert!(settled["approved_at"].is_string());
    assert_eq!(reservation_status(&restarted, &token, &reservation).await, "confirmed");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&restarted, &event, seat).await, "sold");
    // A second pass finds nothing to do.
    let pass = tiketi_payment::reconciler::pass(&restarted.payment().await).await.unwrap();
    assert_eq!(pass.confirming, 0);

    // Captured money on an order that is neither paid nor refunded is what
    // `tiketi_payment_captured_unsettled` exists for (here forced by hand).
    sqlx::query("UPDATE payment.orders SET status = 'failed' WHERE id = $1::uuid")
        .bind(order_id)
        .execute(&restarted.pool)
        .await
        .unwrap();
    restarted.clock.advance(chrono::Duration::seconds(1));
    let backlog = tiketi_payment::reconciler::backlog(&payments).await.unwrap();
    assert_eq!(backlog, Backlog { captured_unsettled: 1, ..Backlog::default() });
}

/// Toss is slow for one order: the first confirm is cut off by our timeout while Toss goes on to
/// approve it, and the retries under the same Idempotency-Key arrive while it is still processing
/// (409 `IDEMPOTENT_REQUEST_PROCESSING`). That is no refusal: the order stays `confirming`, the
/// buyer gets 503, and the reconciler settles it paid from Toss's record.
#[sqlx::test(migrations = false)]
async fn a_confirm_toss_is_still_processing_is_never_taken_for_a_refusal(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[("TIKETI_TOSS_TIMEOUT_MS", SHORT_TIMEOUT_MS)]).await;
    no_webhooks(&app, &sandbox).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;

    faults(&sandbox, json!({"latency_ms": STILL_PROCESSING_MS, "order_id": order_id})).await;
    let (status, body) = confirm(&app, &buyer.token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("PAYMENT_PENDING")), "{body}");
    assert_eq!(payment(&app, &buyer.token, order_id).await["status"], "confirming");
    faults(&sandbox, json!({})).await;
    assert_eq!(at_toss(&sandbox, order_id).await["status"], "DONE", "the first request approved it");

    app.clock.advance(chrono::Duration::seconds(1));
    let pass = tiketi_payment::reconciler::pass(&app.payment().await).await.unwrap();
    assert_eq!(pass.confirming, 1);
    let token = buyer.fresh_token(&app).await;
    let paid = payment(&app, &token, order_id).await;
    assert_eq!((paid["status"].as_str(), paid["balance_amount"].as_i64()), (Some("paid"), Some(PRICE)));
    assert_eq!(reservation_status(&app, &token, &reservation).await, "confirmed");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "sold");
    assert_eq!(at_toss(&sandbox, order_id).await["status"], "DONE", "kept, not refunded");
}

/// A refund whose first request Toss is still processing when our retry arrives (same key, 409
/// `IDEMPOTENT_REQUEST_PROCESSING`) is not failed: it stays `requested`, the buyer gets 503, and
/// the reconciler records it from the key's replay.
#[sqlx::test(migrations = false)]
async fn a_refund_toss_is_still_processing_is_never_taken_for_a_refusal(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[("TIKETI_TOSS_TIMEOUT_MS", SHORT_TIMEOUT_MS)]).await;
    no_webhooks(&app, &sandbox).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let paid = pay(&app, &buyer.token, &reservation).await;
    let order_id = paid["payment"]["order_id"].as_str().unwrap();

    faults(&sandbox, json!({"latency_ms": STILL_PROCESSING_MS, "order_id": order_id})).await;
    let path = format!("/api/payments/{order_id}/cancel");
    let (status, body) =
        app.send(Method::POST, &path, Some(&buyer.token), Some(&json!({"reason": "cannot come"}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("PAYMENT_PENDING")), "{body}");
    assert_eq!(refund_rows(&app, order_id).await, vec![(PRICE, "requested".to_owned())]);
    faults(&sandbox, json!({})).await;
    assert_eq!(at_toss(&sandbox, order_id).await["status"], "CANCELED", "the first request refunded it");

    // The reconciler sends it again under its key: 409 while Toss's first request runs, then the
    // replay of its answer.
    let payments = app.payment().await;
    eventually("the refund to be recorded from its key's replay", || async {
        app.clock.advance(chrono::Duration::seconds(1));
        tiketi_payment::reconciler::pass(&payments).await.unwrap();
        refund_rows(&app, order_id).await != vec![(PRICE, "requested".to_owned())]
    })
    .await;
    assert_eq!(refund_rows(&app, order_id).await, vec![(PRICE, "done".to_owned())]);
    let token = buyer.fresh_token(&app).await;
    let refunded = payment(&app, &token, order_id).await;
    assert_eq!((refunded["status"].as_str(), refunded["balance_amount"].as_i64()), (Some("refunded"), Some(0)));
    assert_eq!(reservation_status(&app, &token, &reservation).await, "refunded");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "available");
}

/// A `failed` order Toss turns out to have captured, its hold still standing: the seats are the
/// buyer's and the money stays — the order ends paid and the reservation confirmed.
#[sqlx::test(migrations = false)]
async fn a_capture_found_for_a_failed_order_confirms_the_hold_it_still_has(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    no_webhooks(&app, &sandbox).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let order_id = failed_but_captured(&app, &sandbox, &buyer.token, &reservation).await;

    assert_eq!(settle_from_toss(&app, &order_id).await, "paid");
    let paid = payment(&app, &buyer.token, &order_id).await;
    assert_eq!((paid["status"].as_str(), paid["balance_amount"].as_i64()), (Some("paid"), Some(PRICE)));
    assert!(paid["approved_at"].is_string());
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "confirmed");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "sold");
    assert_eq!(at_toss(&sandbox, &order_id).await["status"], "DONE");
    // Found again (a webhook retried, a reconciler pass): nothing changes.
    assert_eq!(settle_from_toss(&app, &order_id).await, "paid");
    assert!(refund_rows(&app, &order_id).await.is_empty());
}

/// A `failed` order Toss turns out to have captured after its hold went to someone else: the
/// capture is cancelled at Toss and the refund recorded, once.
#[sqlx::test(migrations = false)]
async fn a_capture_found_for_a_failed_order_whose_hold_is_gone_is_refunded(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    no_webhooks(&app, &sandbox).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let seat = reservation["seats"][0]["id"].as_str().unwrap().to_owned();
    let order_id = failed_but_captured(&app, &sandbox, &buyer.token, &reservation).await;
    app.clock.advance(chrono::Duration::minutes(21));
    let rival = app.buyer().await;
    assert_eq!(app.hold(&rival, &event, std::slice::from_ref(&seat)).await.0, StatusCode::CREATED);

    assert_eq!(settle_from_toss(&app, &order_id).await, "hold lost");
    let toss = at_toss(&sandbox, &order_id).await;
    assert_eq!((toss["status"].as_str(), toss["balanceAmount"].as_i64()), (Some("CANCELED"), Some(0)), "{toss}");
    let token = buyer.fresh_token(&app).await;
    let refunded = payment(&app, &token, &order_id).await;
    assert_eq!((refunded["status"].as_str(), refunded["balance_amount"].as_i64()), (Some("refunded"), Some(0)));
    assert_eq!(refund_rows(&app, &order_id).await, vec![(PRICE, "done".to_owned())]);
    assert_eq!(seat_status(&app, &event, &seat).await, "held", "the seat stays the rival's");
    // Found again (now CANCELED at Toss): recorded once.
    settle_from_toss(&app, &order_id).await;
    assert_eq!(refund_rows(&app, &order_id).await.len(), 1);
}

/// The buyer of a `failed` order checked out again and paid with a second order; then Toss turns
/// out to have captured the first as well. A reservation is paid once: the first capture is
/// refunded (the order stays `failed`, the refund recorded on it), the second order stays paid.
#[sqlx::test(migrations = false)]
async fn a_late_capture_of_a_failed_order_is_refunded_when_another_order_paid_the_reservation(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    no_webhooks(&app, &sandbox).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let first = order["order_id"].as_str().unwrap().to_owned();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;
    // The first order failed (nothing captured, as far as we knew), so the buyer paid again.
    let facts = tiketi_payment::orders::Facts::failure("REJECT_CARD_COMPANY", "declined");
    let moved = tiketi_payment::orders::transition(
        &app.pool,
        first.parse().unwrap(),
        tiketi_payment::model::OrderStatus::Failed,
        &facts,
        app.clock.now(),
    )
    .await
    .unwrap();
    assert!(moved.is_some());
    let second = pay(&app, &buyer.token, &reservation).await;
    let second = second["payment"]["order_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    // Now the first order's payment is captured after all.
    let res = reqwest::Client::new()
        .post(format!("{}/v1/payments/confirm", sandbox.url()))
        .basic_auth(LOCAL_SECRET_KEY, Some(""))
        .json(&json!({"paymentKey": param(&back, "paymentKey"), "orderId": first, "amount": PRICE}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, StatusCode::OK);

    assert_eq!(settle_from_toss(&app, &first).await, "hold lost");
    let toss = at_toss(&sandbox, &first).await;
    assert_eq!((toss["status"].as_str(), toss["balanceAmount"].as_i64()), (Some("CANCELED"), Some(0)), "{toss}");
    let late = payment(&app, &buyer.token, &first).await;
    assert_eq!(late["status"], "failed", "the reservation's live order is the second");
    assert_eq!(late["refunds"][0]["amount"], PRICE);
    assert_eq!(late["refunds"][0]["status"], "done");
    let paid = payment(&app, &buyer.token, &second).await;
    assert_eq!((paid["status"].as_str(), paid["balance_amount"].as_i64()), (Some("paid"), Some(PRICE)));
    assert_eq!(at_toss(&sandbox, &second).await["status"], "DONE");
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "confirmed");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "sold");
    // Found again (the CANCELED webhook, a retry) and a reconciler pass: recorded once.
    settle_from_toss(&app, &first).await;
    tiketi_payment::reconciler::pass(&app.payment().await).await.unwrap();
    assert_eq!(refund_rows(&app, &first).await, vec![(PRICE, "done".to_owned())]);
    assert_eq!(payment(&app, &buyer.token, &second).await["status"], "paid");
}

/// A second order the buyer only opened (nothing captured) gives way to the first order's late
/// capture: the first is paid, the second closed, so its window can no longer charge.
#[sqlx::test(migrations = false)]
async fn a_late_capture_of_a_failed_order_closes_a_second_order_not_yet_paid(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    no_webhooks(&app, &sandbox).await;
    let (buyer, _, reservation) = holding(&app, 1).await;
    let first = failed_but_captured(&app, &sandbox, &buyer.token, &reservation).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let second = order["order_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;

    assert_eq!(settle_from_toss(&app, &first).await, "paid");
    assert_eq!(payment(&app, &buyer.token, &first).await["status"], "paid");
    let closed = payment(&app, &buyer.token, &second).await;
    assert_eq!((closed["status"].as_str(), closed["failure_code"].as_str()), (Some("failed"), Some("SUPERSEDED")));
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "confirmed");
    // The buyer comes back from the second window: nothing is charged.
    let (status, body) = confirm(&app, &buyer.token, &back).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("ORDER_CLOSED")), "{body}");
    assert_ne!(at_toss(&sandbox, &second).await["status"], "DONE");
    assert_eq!(at_toss(&sandbox, &first).await["status"], "DONE");
}

#[sqlx::test(migrations = false)]
async fn partial_then_full_refunds_and_the_seats_go_back_on_sale(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, event, reservation) = holding(&app, 2).await;
    let paid = pay(&app, &buyer.token, &reservation).await;
    let order_id = paid["payment"]["order_id"].as_str().unwrap();
    let cancel = |body: Value, token: String| {
        let app = &app;
        async move { app.send(Method::POST, &format!("/api/payments/{order_id}/cancel"), Some(&token), Some(&body)).await }
    };

    // Toss answers slowly, so its webhook for this refund arrives before the answer does: the
    // refund must still be counted once.
    faults(&sandbox, json!({"latency_ms": 400})).await;
    let (status, body) =
        cancel(json!({"reason": "one guest cannot come", "amount": 30_000}), buyer.token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    faults(&sandbox, json!({})).await;
    assert_eq!(body["payment"]["status"], "partially_refunded");
    assert_eq!(body["payment"]["balance_amount"], 2 * PRICE - 30_000);
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "confirmed");
    assert_eq!(at_toss(&sandbox, order_id).await["status"], "PARTIAL_CANCELED");

    let (status, body) = cancel(json!({"reason": "too much", "amount": 2 * PRICE}), buyer.token.clone()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("REFUND_EXCEEDS_BALANCE")));
    let stranger = app.buyer().await;
    let (status, _) = cancel(json!({"reason": "not mine"}), stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [json!({"reason": ""}), json!({"reason": "x", "amount": 0}), json!({"reason": "x", "amount": -5})] {
        let (status, body) = cancel(bad.clone(), buyer.token.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION_FAILED")),
            "{bad}"
        );
    }

    // An admin refunds the rest: everything back, seats on sale again.
    let admin = app.admin().await;
    let (status, body) = cancel(json!({"reason": "goodwill"}), admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["payment"]["status"], "refunded");
    assert_eq!(body["payment"]["balance_amount"], 0);
    let refunds: Vec<i64> =
        body["payment"]["refunds"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    assert_eq!(refunds, vec![30_000, 2 * PRICE - 30_000]);
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "refunded");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "available");
    let toss = at_toss(&sandbox, order_id).await;
    assert_eq!((toss["status"].as_str(), toss["balanceAmount"].as_i64()), (Some("CANCELED"), Some(0)));
    let (status, body) = cancel(json!({"reason": "again"}), buyer.token.clone()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("NOT_REFUNDABLE")));

    // The refund webhooks Toss sent change nothing (one that came while its refund was in flight
    // is applied by the reconciler afterwards).
    let payments = app.payment().await;
    eventually("refund webhooks applied", || async {
        app.clock.advance(chrono::Duration::seconds(10));
        tiketi_payment::reconciler::pass(&payments).await.unwrap();
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM payment.webhook_inbox WHERE applied_at IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let all: i64 =
            sqlx::query_scalar("SELECT count(*) FROM payment.webhook_inbox").fetch_one(&app.pool).await.unwrap();
        pending == 0 && all >= 3
    })
    .await;
    let after = payment(&app, &buyer.token, order_id).await;
    assert_eq!(after["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(after["status"], "refunded");
}

#[sqlx::test(migrations = false)]
async fn a_virtual_account_holds_the_seats_until_the_deposit_webhook(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, event, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let order_id = order["order_id"].as_str().unwrap();
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "virtual_account").await;
    let (status, body) = confirm(&app, &buyer.token, &back).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["payment"]["status"], "awaiting_deposit");
    assert_eq!(body["payment"]["method"], "가상계좌");
    assert!(body["payment"]["approved_at"].is_null());
    let account = &body["payment"]["virtual_account"];
    assert!(account["account_number"].is_string() && account["due_at"].is_string(), "{account}");
    assert_eq!(body["reservation"]["status"], "pending");
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["reservation"]["expires_at"].clone()).unwrap();
    let due: chrono::DateTime<chrono::Utc> = serde_json::from_value(account["due_at"].clone()).unwrap();
    assert_eq!(expires, due, "the hold lasts until the account's due time");

    // Past the ordinary hold time the seat is still held (the sweeper leaves it alone).
    app.clock.advance(chrono::Duration::minutes(30));
    tiketi_ticket::sweeper::sweep(&app.ticket().await).await.unwrap();
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "held");

    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/virtual-accounts/{order_id}/deposit", sandbox.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = buyer.fresh_token(&app).await;
    eventually("the deposit to be applied", || async { payment(&app, &token, order_id).await["status"] == "paid" })
        .await;
    assert_eq!(reservation_status(&app, &token, &reservation).await, "confirmed");
    assert_eq!(seat_status(&app, &event, seat).await, "sold");
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM payment.webhook_inbox ORDER BY received_at")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(kinds.contains(&"DEPOSIT_CALLBACK".to_owned()), "{kinds:?}");
}

#[sqlx::test(migrations = false)]
async fn duplicated_late_reordered_and_forged_webhooks_change_nothing(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, _, reservation) = holding(&app, 2).await;
    let paid = pay(&app, &buyer.token, &reservation).await;
    let order_id = paid["payment"]["order_id"].as_str().unwrap().to_owned();
    let path = format!("/api/payments/{order_id}/cancel");
    let (status, _) =
        app.send(Method::POST, &path, Some(&buyer.token), Some(&json!({"reason": "one", "amount": 10_000}))).await;
    assert_eq!(status, StatusCode::OK);
    let toss = at_toss(&sandbox, &order_id).await;
    let state = || async { payment(&app, &buyer.token, &order_id).await };
    let before = state().await;

    let deliver = |id: String, body: Value| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(app.url("/webhooks/toss"))
                .header("tosspayments-webhook-transmission-id", id)
                .json(&body)
                .send()
                .await
                .unwrap();
            read(res).await
        }
    };
    // A delivery claiming DONE (stale): re-fetched, Toss says PARTIAL_CANCELED, nothing changes.
    let mut stale = toss.clone();
    stale["status"] = json!("DONE");
    stale["balanceAmount"] = json!(2 * PRICE);
    let newest =
        json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2030-01-01T09:00:00.000001", "data": stale});
    // Twenty concurrent copies of one delivery (Toss retrying): stored once.
    let copies = futures::future::join_all((0..20).map(|_| deliver("tx-dup".into(), newest.clone()))).await;
    assert!(copies.iter().all(|(status, _)| *status == StatusCode::OK));
    let stored = copies.iter().filter(|(_, body)| body["status"] == "stored").count();
    assert_eq!(stored, 1, "{copies:?}");
    // Late: older than one already applied.
    let late = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2020-01-01T09:00:00", "data": stale});
    assert_eq!(deliver("tx-late".into(), late).await.0, StatusCode::OK);
    // Forged deposit callback: wrong secret, ignored.
    let forged = json!({"createdAt": "2031-01-01T00:00:00", "secret": "guess", "status": "DONE",
                        "transactionKey": "t", "orderId": order_id});
    assert_eq!(deliver("tx-forged".into(), forged).await.0, StatusCode::OK);
    // Not a webhook at all: the receiver only checks for a JSON object and stores it; the worker
    // finds it is no webhook and leaves it in the dead-letter queue (tests/it/backbone.rs).
    let (status, body) = deliver("tx-bad".into(), json!({"hello": "world"})).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("stored")));
    let res = app
        .http
        .post(app.url("/webhooks/toss"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    eventually("the deliveries to be applied", || async {
        // Each has reached the inbox (through the queue, in any order) and none is pending.
        let (arrived, pending): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE id IN ('tx-dup', 'tx-late', 'tx-forged')),
               count(*) FILTER (WHERE applied_at IS NULL) FROM payment.webhook_inbox",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        arrived == 3 && pending == 0
    })
    .await;
    let notes: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, last_error FROM payment.webhook_inbox WHERE id LIKE 'tx-%' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(
        notes.iter().any(|(id, note)| id == "tx-late" && note.as_deref().unwrap_or("").contains("older")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|(id, note)| id == "tx-forged" && note.as_deref().unwrap_or("").contains("secret")),
        "{notes:?}"
    );
    let after = state().await;
    assert_eq!(after["status"], before["status"]);
    assert_eq!(after["balance_amount"], before["balance_amount"]);
    assert_eq!(after["refunds"].as_array().unwrap().len(), before["refunds"].as_array().unwrap().len());
    assert_eq!(reservation_status(&app, &buyer.token, &reservation).await, "confirmed");
}

#[sqlx::test(migrations = false)]
async fn cancelling_an_event_refunds_every_paid_order(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let event = app.on_sale_event(&[("Floor", 2, 5, PRICE)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let mut paid = Vec::new();
    for i in 0..3 {
        let buyer = Buyer::new(&app).await;
        let (status, held) = app.hold(&buyer.token, &event, &seats[i * 2..i * 2 + 2]).await;
        assert_eq!(status, StatusCode::CREATED, "{held}");
        let body = pay(&app, &buyer.token, &held["reservation"]).await;
        paid.push((buyer, body["payment"]["order_id"].as_str().unwrap().to_owned(), held["reservation"].clone()));
    }
    let admin = app.admin().await;
    let path = format!("/api/admin/events/{}/cancel", event["id"].as_str().unwrap());
    assert_eq!(app.send(Method::POST, &path, Some(&admin), None).await.0, StatusCode::OK);

    let pass = tiketi_payment::reconciler::pass(&app.payment().await).await.unwrap();
    assert_eq!(pass.event_refunds, 3);
    for (buyer, order_id, reservation) in &paid {
        assert_eq!(payment(&app, &buyer.token, order_id).await["status"], "refunded");
        assert_eq!(at_toss(&sandbox, order_id).await["status"], "CANCELED");
        assert_eq!(reservation_status(&app, &buyer.token, reservation).await, "refunded");
    }
    let pass = tiketi_payment::reconciler::pass(&app.payment().await).await.unwrap();
    assert_eq!(pass.event_refunds, 0, "nothing is refunded twice");
}

#[sqlx::test(migrations = false)]
async fn concurrent_confirms_of_one_order_capture_once(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, _, reservation) = holding(&app, 1).await;
    let order = checkout(&app, &buyer.token, &reservation).await;
    let back = window(&app, order["checkout_url"].as_str().unwrap(), "approve").await;
    let answers = futures::future::join_all((0..16).map(|_| confirm(&app, &buyer.token, &back))).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::OK || body["code"] == "PAYMENT_IN_PROGRESS",
            "unexpected answer {status}: {body}"
        );
    }
    assert!(ok >= 1);
    let toss = at_toss(&sandbox, order["order_id"].as_str().unwrap()).await;
    assert_eq!((toss["status"].as_str(), toss["totalAmount"].as_i64()), (Some("DONE"), Some(PRICE)));
    assert_eq!(payment(&app, &buyer.token, order["order_id"].as_str().unwrap()).await["status"], "paid");
}

#[sqlx::test(migrations = false)]
async fn bad_payment_requests_get_clear_errors(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[]).await;
    let token = app.buyer().await;
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/payments/checkout",
            Some(json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            Method::POST,
            "/api/payments/checkout",
            Some(json!({"reservation_id": "nope"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            Method::POST,
            "/api/payments/checkout",
            Some(json!({"reservation_id": uuid::Uuid::now_v7()})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            Method::POST,
            "/api/payments/confirm",
            Some(json!({"payment_key": "k"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            Method::POST,
            "/api/payments/confirm",
            Some(json!({"payment_key": "k", "order_id": "x", "amount": 1})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            Method::POST,
            "/api/payments/confirm",
            Some(json!({"payment_key": "", "order_id": "x", "amount": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (Method::GET, "/api/payments/not-an-order", None, StatusCode::NOT_FOUND, "NOT_FOUND"),
        (
            Method::POST,
            "/api/payments/0190aaaa-0000-7000-8000-000000000000/cancel",
            Some(json!({"reason": "x"})),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = app.send(method.clone(), path, Some(&token), body.as_ref()).await;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path} {body:?}: {answer}");
    }
    let (status, body) = app.send(Method::POST, "/api/payments/checkout", None, Some(&json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED")));
}

/// Toss sends nothing when a virtual account's deadline passes, and an account can outlive its
/// hold (the event was cancelled): the reconciler closes such accounts at Toss, so no deposit can
/// arrive for seats that are gone, and frees the hold.
#[sqlx::test(migrations = false)]
async fn the_reconciler_closes_virtual_accounts_past_their_deadline_or_hold(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let issue = |buyer: Buyer, reservation: Value| {
        let app = &app;
        async move {
            let order = checkout(app, &buyer.token, &reservation).await;
            let back = window(app, order["checkout_url"].as_str().unwrap(), "virtual_account").await;
            let (status, body) = confirm(app, &buyer.token, &back).await;
            assert_eq!(
                (status, body["payment"]["status"].as_str()),
                (StatusCode::OK, Some("awaiting_deposit")),
                "{body}"
            );
            (buyer, order["order_id"].as_str().unwrap().to_owned(), reservation)
        }
    };
    let (buyer, event, reservation) = holding(&app, 1).await;
    let (late_buyer, late_order, late_reservation) = issue(buyer, reservation).await;
    let (buyer, cancelled_event, reservation) = holding(&app, 1).await;
    let (gone_buyer, gone_order, _) = issue(buyer, reservation).await;
    let (buyer, _, reservation) = holding(&app, 1).await;
    let (open_buyer, open_order, _) = issue(buyer, reservation).await;

    // Within the deadline and with its hold, nothing happens.
    app.clock.advance(chrono::Duration::seconds(1));
    let payments = app.payment().await;
    tiketi_payment::reconciler::pass(&payments).await.unwrap();
    assert_eq!(payment(&app, &open_buyer.token, &open_order).await["status"], "awaiting_deposit");

    // The second event is cancelled: its pending hold goes, so its account is closed.
    let admin = app.admin().await;
    let path = format!("/api/admin/events/{}/cancel", cancelled_event["id"].as_str().unwrap());
    assert_eq!(app.send(Method::POST, &path, Some(&admin), None).await.0, StatusCode::OK);
    tiketi_payment::reconciler::pass(&payments).await.unwrap();
    let gone = payment(&app, &gone_buyer.token, &gone_order).await;
    assert_eq!((gone["status"].as_str(), gone["failure_code"].as_str()), (Some("failed"), Some("HOLD_EXPIRED")));
    assert_eq!(at_toss(&sandbox, &gone_order).await["status"], "CANCELED");
    assert_eq!(payment(&app, &open_buyer.token, &open_order).await["status"], "awaiting_deposit");

    // Past the deadline (one hour by default): closed and the seat freed, even before the sweeper.
    app.clock.advance(chrono::Duration::minutes(61));
    tiketi_payment::reconciler::pass(&payments).await.unwrap();
    let token = late_buyer.fresh_token(&app).await;
    let late = payment(&app, &token, &late_order).await;
    assert_eq!((late["status"].as_str(), late["failure_code"].as_str()), (Some("failed"), Some("DEPOSIT_EXPIRED")));
    assert_eq!(at_toss(&sandbox, &late_order).await["status"], "CANCELED");
    assert_ne!(reservation_status(&app, &token, &late_reservation).await, "pending");
    let seat = late_reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "available");
    // A deposit can no longer arrive.
    let res = reqwest::Client::new()
        .post(format!("{}/sandbox/virtual-accounts/{late_order}/deposit", sandbox.url()))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn cancelling_a_paid_reservation_refunds_it_in_full(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, event, reservation) = holding(&app, 2).await;
    let paid = pay(&app, &buyer.token, &reservation).await;
    let order_id = paid["payment"]["order_id"].as_str().unwrap();
    let cancel = format!("/api/reservations/{}/cancel", reservation["id"].as_str().unwrap());

    // Nobody else's to cancel.
    let stranger = app.buyer().await;
    let (status, _) = app.send(Method::POST, &cancel, Some(&stranger), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // API.md: "confirmed → refund through payment".
    let (status, body) = app.send(Method::POST, &cancel, Some(&buyer.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reservation"]["status"], "refunded");
    let seat = reservation["seats"][0]["id"].as_str().unwrap();
    assert_eq!(seat_status(&app, &event, seat).await, "available");
    assert_eq!(payment(&app, &buyer.token, order_id).await["status"], "refunded");
    assert_eq!(at_toss(&sandbox, order_id).await["status"], "CANCELED");

    let (status, problem) = app.send(Method::POST, &cancel, Some(&buyer.token), None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("NOT_CANCELLABLE")));
}

/// A stored delivery is found by its key, however many wait to be applied: statistics taken while
/// every delivery was applied show the index of unapplied ones as empty, and the planner once
/// scanned all those waiting to find one.
#[sqlx::test(migrations = false)]
async fn a_stored_webhook_is_found_by_key_not_among_every_one_waiting(pool: PgPool) {
    let (app, _toss) = spawn_with_toss(pool, &[]).await;
    let store = |prefix: &'static str, applied: bool| {
        sqlx::query(
            "INSERT INTO payment.webhook_inbox (id, kind, body, received_at, applied_at)
             SELECT $1 || n, 'PAYMENT_STATUS_CHANGED', '{}', now(), CASE WHEN $2 THEN now() END
             FROM generate_series(1, 1500) AS n",
        )
        .bind(prefix)
        .bind(applied)
        .execute(&app.pool)
    };
    store("applied-", true).await.unwrap();
    sqlx::query("ANALYZE payment.webhook_inbox").execute(&app.pool).await.unwrap();
    store("waiting-", false).await.unwrap();
    let explain = format!("EXPLAIN (FORMAT JSON) {}", tiketi_payment::webhooks::COUNT_ATTEMPT);
    let plan: Value = sqlx::query_scalar(&explain).bind("waiting-700").fetch_one(&app.pool).await.unwrap();
    let plan = plan.to_string();
    assert!(plan.contains(r#""Index Name":"webhook_inbox_pkey""#), "{plan}");
    assert!(!plan.contains("webhook_inbox_pending"), "{plan}");
}

/// Each change of an order writes one event of what the order became, at the order's version,
/// in the change's own statement or transaction: created, then confirming with Toss's key, then
/// paid as the order row now reads.
#[sqlx::test(migrations = false)]
async fn each_order_change_writes_one_event_of_what_the_order_became(pool: PgPool) {
    let (app, _sandbox) = spawn_with_toss(pool, &[]).await;
    let (buyer, _, reservation) = holding(&app, 2).await;
    let answer = pay(&app, &buyer.token, &reservation).await;
    let order_id: uuid::Uuid = answer["payment"]["order_id"].as_str().unwrap().parse().unwrap();
    let order = tiketi_payment::orders::load(&app.pool, tiketi_shared::ids::OrderId(order_id)).await.unwrap().unwrap();
    let events: Vec<(String, i64, Value)> =
        sqlx::query_as("SELECT kind, version, payload FROM payment.outbox WHERE aggregate_id = $1 ORDER BY version")
            .bind(order_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let kinds: Vec<(&str, i64)> = events.iter().map(|(kind, version, _)| (kind.as_str(), *version)).collect();
    assert_eq!(kinds, [("order.created", 1), ("order.changed", 2), ("order.changed", 3)], "{events:?}");
    assert_eq!(order.version, 3);
    // Each reads back, every field, as the order's snapshot at that version. The last is drawn
    // from the row in SQL; the first two were computed before their statements.
    let paid = tiketi_payment::orders::snapshot(&order);
    assert!(paid.approved_at.is_some() && paid.method.is_some() && paid.payment_key.is_some(), "{paid:?}");
    assert_eq!((paid.status.as_str(), paid.amount, paid.balance_amount), ("paid", 2 * PRICE, 2 * PRICE));
    assert_eq!(json!(paid.reservation_id), reservation["id"]);
    let before = |status: &str, payment_key: Option<String>| tiketi_shared::events::OrderSnapshot {
        status: status.to_owned(),
        payment_key,
        balance_amount: 0,
        method: None,
        approved_at: None,
        ..paid.clone()
    };
    let expected = [before("created", None), before("confirming", order.payment_key.clone()), paid.clone()];
    for ((kind, version, payload), expected) in events.iter().zip(expected) {
        let said: tiketi_shared::events::OrderSnapshot = serde_json::from_value(payload.clone()).unwrap();
        assert_eq!(said, expected, "{kind} at version {version}");
    }
}
