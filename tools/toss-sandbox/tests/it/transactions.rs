//! The transactions look-up (`GET /v1/transactions`) and the differences planted in it
//! (`/sandbox/transactions`).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{self, Harness};

/// Korea time without an offset, the way Toss documents `startDate`/`endDate`.
fn kst_local(time: DateTime<Utc>) -> String {
    time.with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap()).format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn range(start: &str, end: &str) -> Vec<(&'static str, String)> {
    vec![("startDate", start.to_owned()), ("endDate", end.to_owned())]
}

/// From an hour ago to an hour ahead.
fn around_now() -> Vec<(&'static str, String)> {
    let now = Utc::now();
    range(&kst_local(now - Duration::hours(1)), &kst_local(now + Duration::hours(1)))
}

fn with(mut query: Vec<(&'static str, String)>, name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    query.push((name, value.to_owned()));
    query
}

async fn look_up(h: &Harness, query: &[(&str, String)]) -> (StatusCode, Value) {
    let response = h
        .http
        .get(format!("{}/v1/transactions", h.base))
        .header("Authorization", Harness::auth())
        .query(query)
        .send()
        .await
        .unwrap();
    common::answer(response).await
}

async fn listed(h: &Harness, query: &[(&str, String)]) -> Vec<Value> {
    let (status, body) = look_up(h, query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a JSON array").clone()
}

/// One field of every transaction.
fn column(transactions: &[Value], name: &str) -> Vec<Value> {
    transactions.iter().map(|t| t[name].clone()).collect()
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

/// A card payment of 10,000 cancelled 3,000 then in full, and a virtual account of 20,000 issued
/// then paid into. Answers the transaction keys the payments carry, in the order they happened.
async fn a_day_of_business(h: &Harness) -> Vec<String> {
    let card = h.paid_by_card("order-tx-card", 10_000).await;
    let (_, paid) = h.get(&format!("/v1/payments/{card}")).await;
    let (status, partial) = h.cancel(&card, json!({ "cancelReason": "부분 환불", "cancelAmount": 3000 })).await;
    assert_eq!(status, StatusCode::OK, "{partial}");
    let (status, canceled) = h.cancel(&card, json!({ "cancelReason": "전액 환불" })).await;
    assert_eq!(status, StatusCode::OK, "{canceled}");

    let account = h.authorise("order-tx-va", 20_000, "virtual_account").await;
    let (status, issued) = h.confirm(&account, "order-tx-va", 20_000).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let (status, deposited) =
        h.control(Method::POST, "/sandbox/virtual-accounts/order-tx-va/deposit", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{deposited}");

    vec![
        text(&paid["lastTransactionKey"]),
        text(&canceled["cancels"][0]["transactionKey"]),
        text(&canceled["cancels"][1]["transactionKey"]),
        text(&issued["lastTransactionKey"]),
        text(&deposited["lastTransactionKey"]),
    ]
}

#[tokio::test]
async fn the_look_up_lists_every_approval_issuance_deposit_and_cancel_in_order() {
    let h = Harness::start().await;
    let keys = a_day_of_business(&h).await;
    let listed = listed(&h, &around_now()).await;

    assert_eq!(column(&listed, "transactionKey"), keys.iter().map(|k| json!(k)).collect::<Vec<_>>());
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), 5, "every transaction has its own key: {keys:?}");
    let statuses = ["DONE", "PARTIAL_CANCELED", "CANCELED", "WAITING_FOR_DEPOSIT", "DONE"];
    assert_eq!(column(&listed, "status"), statuses.map(|s| json!(s)));
    assert_eq!(column(&listed, "amount"), [10_000, 3000, 7000, 0, 20_000].map(|a| json!(a)));
    let orders = ["order-tx-card", "order-tx-card", "order-tx-card", "order-tx-va", "order-tx-va"];
    assert_eq!(column(&listed, "orderId"), orders.map(|o| json!(o)));
    assert_eq!(column(&listed, "method"), ["카드", "카드", "카드", "가상계좌", "가상계좌"].map(|m| json!(m)));

    let card_key = &listed[0]["paymentKey"];
    assert!(listed[..3].iter().all(|t| t["paymentKey"] == *card_key));
    assert!(listed[3..].iter().all(|t| t["paymentKey"] == listed[3]["paymentKey"] && t["paymentKey"] != *card_key));
    let mut previous = String::new();
    for t in &listed {
        let mut names: Vec<_> = t.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "amount",
                "currency",
                "customerKey",
                "mId",
                "method",
                "orderId",
                "paymentKey",
                "receiptUrl",
                "status",
                "transactionAt",
                "transactionKey",
                "useEscrow"
            ],
            "{t}"
        );
        assert_eq!(
            [&t["mId"], &t["currency"], &t["useEscrow"]],
            [&json!("tiketi_sandbox"), &json!("KRW"), &json!(false)]
        );
        assert_eq!(t["customerKey"], Value::Null);
        assert!(text(&t["receiptUrl"]).starts_with(&h.base), "{t}");
        let at = text(&t["transactionAt"]);
        assert!(at.len() == 25 && at.ends_with("+09:00") && DateTime::parse_from_rfc3339(&at).is_ok(), "{at}");
        assert!(at >= previous, "ordered by transactionAt: {previous} then {at}");
        previous = at;
    }

    // The same range written with offsets finds the same transactions.
    let now = Utc::now();
    let with_offsets = range(
        &(now - Duration::hours(1)).with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap()).to_rfc3339(),
        &(now + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    assert_eq!(self::listed(&h, &with_offsets).await, listed);

    // The secret key is needed, as for every /v1 call.
    let response = h.http.get(format!("{}/v1/transactions", h.base)).query(&around_now()).send().await.unwrap();
    let (status, body) = common::answer(response).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED_KEY")));
}

#[tokio::test]
async fn paging_with_starting_after_and_limit_walks_the_list_once() {
    let h = Harness::start().await;
    a_day_of_business(&h).await;
    let everything = listed(&h, &around_now()).await;
    assert_eq!(everything.len(), 5);

    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = with(around_now(), "limit", "2");
        if let Some(key) = &after {
            query = with(query, "startingAfter", key);
        }
        let page = listed(&h, &query).await;
        if page.is_empty() {
            break;
        }
        after = Some(text(&page[page.len() - 1]["transactionKey"]));
        pages.push(page);
        assert!(pages.len() <= 5, "paging does not end");
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), everything);

    let first = listed(&h, &with(around_now(), "limit", "1")).await;
    assert_eq!(first, everything[..1]);
    let after_third = with(around_now(), "startingAfter", &text(&everything[2]["transactionKey"]));
    assert_eq!(listed(&h, &after_third).await, everything[3..]);
}

#[tokio::test]
async fn the_range_excludes_transactions_outside_it() {
    let h = Harness::start().await;
    let card = h.paid_by_card("order-tx-range", 4000).await;
    for (key, at) in [
        ("TX-BEFORE", "2020-02-29T23:59:59"),
        ("TX-FIRST", "2020-03-01T00:00:00"),
        ("TX-LAST", "2020-03-01T23:59:59"),
        ("TX-AFTER", "2020-03-02T00:00:00"),
    ] {
        let plant = json!({
            "orderId": "order-tx-old", "paymentKey": "tsbx_old", "amount": 1000, "status": "DONE",
            "transactionAt": at, "transactionKey": key,
        });
        let (status, body) = h.control(Method::POST, "/sandbox/transactions", plant).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let march_first = listed(&h, &range("2020-03-01T00:00:00", "2020-03-01T23:59:59")).await;
    assert_eq!(column(&march_first, "transactionKey"), [json!("TX-FIRST"), json!("TX-LAST")]);
    assert_eq!(
        column(&march_first, "transactionAt"),
        [json!("2020-03-01T00:00:00+09:00"), json!("2020-03-01T23:59:59+09:00")]
    );
    let in_utc = listed(&h, &range("2020-02-29T15:00:00Z", "2020-03-01T14:59:59.999Z")).await;
    assert_eq!(in_utc, march_first);

    let today = listed(&h, &around_now()).await;
    assert_eq!(column(&today, "paymentKey"), [json!(card)]);
    let now = Utc::now();
    let earlier = range(&kst_local(now - Duration::hours(2)), &kst_local(now - Duration::hours(1)));
    assert!(listed(&h, &earlier).await.is_empty());
    let later = range(&kst_local(now + Duration::hours(1)), &kst_local(now + Duration::hours(2)));
    assert!(listed(&h, &later).await.is_empty());
}

#[tokio::test]
async fn bad_look_ups_answer_400_invalid_request() {
    let h = Harness::start().await;
    h.paid_by_card("order-tx-bad", 1000).await;
    let day = || range("2026-12-01T00:00:00", "2026-12-01T23:59:59");
    let cases = [
        vec![],
        vec![("startDate", "2026-12-01T00:00:00".to_owned())],
        vec![("endDate", "2026-12-01T00:00:00".to_owned())],
        range("2026-12-01", "2026-12-02"),
        range("yesterday", "2026-12-01T00:00:00"),
        range("2026-12-01T00:00:00", "2026-12-32T00:00:00"),
        range("2026-12-02T00:00:00", "2026-12-01T23:59:59"),
        with(day(), "limit", "0"),
        with(day(), "limit", "10001"),
        with(day(), "limit", "-1"),
        with(day(), "limit", "ten"),
        with(day(), "startingAfter", "NO-SUCH-TRANSACTION"),
    ];
    for query in cases {
        let (status, body) = look_up(&h, &query).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")), "{query:?}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    // A '+' left unencoded arrives as a space: refused, with a hint.
    let url = format!("{}/v1/transactions?startDate=2026-12-01T00:00:00+09:00&endDate=2026-12-02T00:00:00", h.base);
    let response = h.http.get(url).header("Authorization", Harness::auth()).send().await.unwrap();
    let (status, body) = common::answer(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("%2B"), "{body}");
    // The bounds themselves are fine.
    assert_eq!(look_up(&h, &with(day(), "limit", "10000")).await.0, StatusCode::OK);
    assert_eq!(look_up(&h, &with(day(), "limit", "1")).await.0, StatusCode::OK);
    assert_eq!(look_up(&h, &range("2026-12-01T00:00:00", "2026-12-01T00:00:00")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refused_and_replayed_requests_add_no_transactions_but_a_dropped_answer_does() {
    let h = Harness::start().await;
    let rejected = h.authorise("order-tx-rejected", 1000, "approve").await;
    h.control(Method::PUT, "/sandbox/faults", json!({ "reject_card": 1 })).await;
    assert_eq!(h.confirm(&rejected, "order-tx-rejected", 1000).await.0, StatusCode::FORBIDDEN);

    let card = h.paid_by_card("order-tx-replay", 5000).await;
    let cancel = || {
        h.http
            .post(format!("{}/v1/payments/{card}/cancel", h.base))
            .header("Authorization", Harness::auth())
            .header("Idempotency-Key", "idem-tx-cancel")
            .json(&json!({ "cancelReason": "고객 변심", "cancelAmount": 1000 }))
            .send()
    };
    assert_eq!(cancel().await.unwrap().status(), StatusCode::OK);
    assert_eq!(cancel().await.unwrap().status(), StatusCode::OK);
    let (status, _) = h.cancel(&card, json!({ "cancelReason": "x", "cancelAmount": 99_999 })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The merchant never hears the approval, but Toss made it: it is listed.
    let dropped = h.authorise("order-tx-dropped", 2000, "approve").await;
    h.control(Method::PUT, "/sandbox/faults", json!({ "drop_after_approve": 1 })).await;
    let sent = h
        .http
        .post(format!("{}/v1/payments/confirm", h.base))
        .header("Authorization", Harness::auth())
        .json(&json!({ "paymentKey": dropped, "orderId": "order-tx-dropped", "amount": 2000 }))
        .send()
        .await;
    assert!(sent.is_err());

    let listed = listed(&h, &around_now()).await;
    let seen: Vec<_> = listed.iter().map(|t| (text(&t["orderId"]), text(&t["status"]), t["amount"].clone())).collect();
    assert_eq!(
        seen,
        [
            ("order-tx-replay".to_owned(), "DONE".to_owned(), json!(5000)),
            ("order-tx-replay".to_owned(), "PARTIAL_CANCELED".to_owned(), json!(1000)),
            ("order-tx-dropped".to_owned(), "DONE".to_owned(), json!(2000)),
        ]
    );
}

#[tokio::test]
async fn a_planted_amount_change_shows_in_the_look_up_but_not_on_the_payment() {
    let h = Harness::start().await;
    let card = h.paid_by_card("order-tx-amount", 10_000).await;
    let key = text(&listed(&h, &around_now()).await[0]["transactionKey"]);

    let path = format!("/sandbox/transactions/{key}");
    let (status, changed) = h.control(Method::PATCH, &path, json!({ "amount": 9000 })).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((text(&changed["transactionKey"]), &changed["amount"]), (key.clone(), &json!(9000)));
    let listed = listed(&h, &around_now()).await;
    assert_eq!((listed.len(), &listed[0]["amount"], &listed[0]["status"]), (1, &json!(9000), &json!("DONE")));

    let (_, payment) = h.get(&format!("/v1/payments/{card}")).await;
    assert_eq!([&payment["totalAmount"], &payment["balanceAmount"]], [&json!(10_000), &json!(10_000)]);
    assert_eq!(payment["lastTransactionKey"], key.as_str());

    let (status, body) = h.control(Method::PATCH, "/sandbox/transactions/NO-SUCH-KEY", json!({ "amount": 1 })).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_TRANSACTION")));
    for bad in [json!({ "amount": -1 }), json!({ "amount": "9000" }), json!({ "amt": 1 }), json!({}), Value::Null] {
        let (status, body) = h.control(Method::PATCH, &path, bad.clone()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")), "{bad}");
    }
}

#[tokio::test]
async fn a_planted_extra_transaction_shows_up_in_its_place() {
    let h = Harness::start().await;
    let card = h.paid_by_card("order-tx-real", 3000).await;

    let ghost = json!({ "orderId": "order-tx-ghost", "paymentKey": "tsbx_ghost", "amount": 5000, "status": "DONE" });
    let (status, planted) = h.control(Method::POST, "/sandbox/transactions", ghost).await;
    assert_eq!(status, StatusCode::CREATED, "{planted}");
    assert_eq!(
        [&planted["orderId"], &planted["paymentKey"], &planted["method"], &planted["mId"], &planted["currency"]],
        [&json!("order-tx-ghost"), &json!("tsbx_ghost"), &json!("카드"), &json!("tiketi_sandbox"), &json!("KRW")]
    );
    assert_eq!(
        [&planted["amount"], &planted["status"], &planted["receiptUrl"]],
        [&json!(5000), &json!("DONE"), &Value::Null]
    );
    let key = text(&planted["transactionKey"]);
    assert!(key.len() == 32 && key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    assert!(text(&planted["transactionAt"]).ends_with("+09:00"));

    let today = listed(&h, &around_now()).await;
    assert_eq!(column(&today, "paymentKey"), [json!(card), json!("tsbx_ghost")]);
    assert_eq!(today[1], planted);

    // At a given time, in order of time then key; any status and method.
    for (key, at, status) in [
        ("TX-B", "2020-05-05T12:00:00", "CANCELED"),
        ("TX-A", "2020-05-05T12:00:00+09:00", "PARTIAL_CANCELED"),
        ("TX-0", "2020-05-05T11:59:59", "DONE"),
    ] {
        let plant = json!({
            "orderId": "order-tx-ghost", "paymentKey": "tsbx_ghost", "amount": 700, "status": status,
            "method": "가상계좌", "transactionAt": at, "transactionKey": key,
        });
        assert_eq!(h.control(Method::POST, "/sandbox/transactions", plant).await.0, StatusCode::CREATED);
    }
    let that_day = listed(&h, &range("2020-05-05T00:00:00", "2020-05-05T23:59:59")).await;
    assert_eq!(column(&that_day, "transactionKey"), [json!("TX-0"), json!("TX-A"), json!("TX-B")]);
    assert_eq!(column(&that_day, "status"), [json!("DONE"), json!("PARTIAL_CANCELED"), json!("CANCELED")]);
    assert!(that_day.iter().all(|t| t["method"] == "가상계좌"));

    let duplicate = json!({ "orderId": "order-tx-ghost", "paymentKey": "p", "amount": 1, "status": "DONE", "transactionKey": "TX-A" });
    let (status, body) = h.control(Method::POST, "/sandbox/transactions", duplicate).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("DUPLICATED_TRANSACTION_KEY")));
    let base = json!({ "orderId": "order-tx-ghost", "paymentKey": "p", "amount": 1, "status": "DONE" });
    let broken = |name: &str, value: Value| {
        let mut body = base.clone();
        match value {
            Value::Null => body.as_object_mut().unwrap().remove(name),
            value => body.as_object_mut().unwrap().insert(name.to_owned(), value),
        };
        body
    };
    for bad in [
        broken("amount", Value::Null),
        broken("amount", json!(-5)),
        broken("status", json!("PAID")),
        broken("orderId", json!("short")),
        broken("paymentKey", json!("")),
        broken("transactionAt", json!("tomorrow")),
        broken("transactionKey", json!("has spaces")),
        broken("colour", json!("blue")),
    ] {
        let (status, body) = h.control(Method::POST, "/sandbox/transactions", bad.clone()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")), "{bad}");
    }
}

#[tokio::test]
async fn clearing_the_plants_restores_what_toss_really_has() {
    let h = Harness::start().await;
    a_day_of_business(&h).await;
    let before = listed(&h, &around_now()).await;

    let hidden = text(&before[1]["transactionKey"]);
    assert_eq!(
        h.control(Method::DELETE, &format!("/sandbox/transactions/{hidden}"), Value::Null).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = h.control(Method::DELETE, "/sandbox/transactions/NO-SUCH-KEY", Value::Null).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND_TRANSACTION")));
    let changed = format!("/sandbox/transactions/{}", text(&before[0]["transactionKey"]));
    h.control(Method::PATCH, &changed, json!({ "amount": 1 })).await;
    let ghost = json!({ "orderId": "order-tx-ghost", "paymentKey": "tsbx_ghost", "amount": 5, "status": "DONE" });
    h.control(Method::POST, "/sandbox/transactions", ghost).await;

    let planted = listed(&h, &around_now()).await;
    assert_eq!(planted.len(), 5);
    assert!(planted.iter().all(|t| t["transactionKey"] != hidden.as_str()));
    assert_eq!(planted[0]["amount"], 1);
    assert_eq!(planted[4]["orderId"], "order-tx-ghost");

    let (status, _) = h.control(Method::DELETE, "/sandbox/transactions", Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(listed(&h, &around_now()).await, before);
}
