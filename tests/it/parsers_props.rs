//! Fuzzing what others send us, in process: Toss's webhook documents, its API answers and its time
//! formats. Property: every input is parsed or refused — never a panic. proptest generates both
//! arbitrary bytes and JSON shaped like the real documents (their keys and enumerations, at any
//! depth and type), so the branches past the first field are reached. The HTTP edges (extractors,
//! body limits, content types) are fuzzed through the API by schemathesis (`./dev test`).

use proptest::prelude::*;
use serde_json::{Map, Value};
use tiketi_payment::toss::model::{Webhook, parse_time};
use tiketi_payment::toss::{Payment, TossError};

/// Keys of Toss's webhooks, Payment objects and error answers.
const KEYS: &[&str] = &[
    "eventType",
    "createdAt",
    "data",
    "paymentKey",
    "orderId",
    "status",
    "balanceAmount",
    "secret",
    "totalAmount",
    "method",
    "virtualAccount",
    "cancels",
    "approvedAt",
    "requestedAt",
    "code",
    "message",
    "receipt",
    "url",
    "accountNumber",
    "bankCode",
    "dueDate",
    "cancelAmount",
    "canceledAt",
    "transactionKey",
];

/// Values Toss sends, and the edges of what chrono can represent.
const WORDS: &[&str] = &[
    "PAYMENT_STATUS_CHANGED",
    "DEPOSIT_CALLBACK",
    "DONE",
    "WAITING_FOR_DEPOSIT",
    "CANCELED",
    "PARTIAL_CANCELED",
    "ABORTED",
    "EXPIRED",
    "IN_PROGRESS",
    "READY",
    "가상계좌",
    "카드",
    "2024-02-13T12:18:14+09:00",
    "2024-02-13T12:18:14.123456",
    "+262143-12-31T23:59:59",
    "-262143-01-01T00:00:00",
    "262143-12-31T23:59:59.999999999-23:59",
    "0000-01-01T00:00:00+23:59",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..10).prop_map(|pairs| Value::Object(
                pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>()
            )),
        ]
    })
}

/// A webhook's own shape — PAYMENT_STATUS_CHANGED with its `data`, or a deposit callback — with
/// every value drawn freely, so the parser's later fields are reached as often as its first.
fn webhook_shaped() -> impl Strategy<Value = Value> {
    let data = (scalar(), scalar(), scalar(), scalar()).prop_map(|(key, order, status, balance)| {
        serde_json::json!({"paymentKey": key, "orderId": order, "status": status, "balanceAmount": balance})
    });
    prop_oneof![
        (prop::sample::select(WORDS), scalar(), data).prop_map(|(kind, created, data)| {
            serde_json::json!({"eventType": kind, "createdAt": created, "data": data})
        }),
        (scalar(), scalar(), scalar(), scalar()).prop_map(|(secret, status, order, created)| {
            serde_json::json!({"secret": secret, "status": status, "orderId": order, "createdAt": created})
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn toss_documents_are_parsed_or_refused(doc in prop_oneof![document(), webhook_shaped()]) {
        if let Ok(webhook) = Webhook::parse(&doc) {
            let _ = (webhook.kind(), webhook.order_id(), webhook.created_at());
        }
        let bytes = serde_json::to_vec(&doc).unwrap();
        let _ = serde_json::from_slice::<Payment>(&bytes);
        let _ = serde_json::from_slice::<TossError>(&bytes);
    }

    #[test]
    fn arbitrary_bytes_are_parsed_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = serde_json::from_slice::<Value>(&bytes) {
            let _ = Webhook::parse(&doc);
        }
        let _ = serde_json::from_slice::<Payment>(&bytes);
        let _ = serde_json::from_slice::<TossError>(&bytes);
    }

    #[test]
    fn toss_times_are_parsed_or_refused(
        text in "[-+]?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?([-+][0-9]{2}:[0-9]{2}|Z)?|\\PC{0,40}"
    ) {
        if let Some(at) = parse_time(&text) {
            let _ = at.to_rfc3339();
        }
    }
}
