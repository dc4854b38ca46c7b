//! The event backbone against real PostgreSQL, Redis and the AWS emulator: outboxes relayed to the
//! topic and every consumer queue, a relay that dies mid-batch, holds expired by their delayed
//! message, dead letters, and Toss webhooks through the receiver (inbox → queue → worker).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tiketi::Role;
use tiketi_queue_worker::{WorkerState, depth, relay};
use tiketi_shared::aws::Queue;
use tiketi_shared::clock::Clock;
use tiketi_shared::consumer::poll_once;
use tiketi_shared::events::Envelope;

use crate::common::{self, TestApp, read, spawn_roles, spawn_with_toss, test_env, wait_until};

/// Every role but the worker: the test drives the worker's steps itself.
const NO_WORKER: &[Role] = &[Role::Auth, Role::Ticket, Role::Realtime, Role::Payment];

/// Drains a queue (deleting what it read) until one receive comes back empty.
async fn drain(worker: &WorkerState, queue: Queue) -> Vec<String> {
    let url = worker.located.queue(queue);
    let mut bodies = Vec::new();
    loop {
        let got = worker.aws.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body().unwrap().to_owned());
            worker
                .aws
                .sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Runs the worker's consumer of `queue` until a receive finds nothing.
async fn consume(worker: &WorkerState, queue: Queue) {
    let consumer = worker.consumers().into_iter().find(|c| c.queue == queue).unwrap();
    while poll_once(&worker.polling(), &consumer, Duration::ZERO).await.unwrap() > 0 {}
}

async fn outbox_ids(app: &TestApp) -> HashSet<uuid::Uuid> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM ticket.outbox UNION ALL SELECT id FROM payment.outbox")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    ids.into_iter().collect()
}

/// `buyers` buyers each holding one seat of a fresh event, all at once; answers the event.
async fn stampede(app: &TestApp, buyers: usize) -> Value {
    let event = app.on_sale_event(&[("Floor", 10, 10, 30_000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let holds = (0..buyers).map(|i| {
        let (app, event, seat) = (app, &event, seats[i % seats.len()].clone());
        async move {
            let buyer = app.buyer().await;
            app.hold(&buyer, event, &[seat]).await.0
        }
    });
    let statuses = futures::future::join_all(holds).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    event
}

#[sqlx::test(migrations = false)]
async fn every_event_of_a_stampede_reaches_each_consumer_queue_and_the_worker_acts_once(pool: PgPool) {
    let app = spawn_roles(pool, test_env(&[]), Clock::fixed(chrono::Utc::now()), NO_WORKER).await;
    stampede(&app, 150).await; // 100 seats: 100 holds, 50 refused
    let worker = app.worker().await;
    // The lag the alerts watch: 100 holds and the event's own rows wait, the oldest for as long as
    // the clock has moved since they were written.
    app.clock.advance(chrono::Duration::seconds(42));
    let lag = depth::outbox_lag(&worker, "ticket").await.unwrap();
    assert!(lag.unpublished > 100, "{lag:?}");
    assert!((42.0..43.0).contains(&lag.oldest_seconds), "{lag:?}");
    while relay::relay_once(&worker, "ticket").await.unwrap() > 0 {}
    let lag = depth::outbox_lag(&worker, "ticket").await.unwrap();
    assert_eq!(lag, depth::OutboxLag { unpublished: 0, oldest_seconds: 0.0 });

    let expected = outbox_ids(&app).await;
    let delivered: Vec<Envelope> =
        drain(&worker, Queue::StatsEvents).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    let ids: HashSet<uuid::Uuid> = delivered.iter().map(|e| e.id).collect();
    assert_eq!(ids, expected, "the stats queue got every event");
    assert!(delivered.iter().all(|e| e.event().unwrap().is_some()), "every event decodes to its type");

    consume(&worker, Queue::WorkerEvents).await;
    let held = delivered.iter().filter(|e| e.kind == "reservation.held").count();
    assert_eq!(held, 100);
    let acted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM worker.consumed_events").fetch_one(&app.pool).await.unwrap();
    assert_eq!(acted, 100, "one expiry scheduled per hold");
    let [_, delayed, _] = depth::depth(&worker, worker.located.queue(Queue::HoldExpiry)).await.unwrap();
    assert_eq!(delayed, 100, "each waits, delayed, for its hold's end");
}

#[sqlx::test(migrations = false)]
async fn a_relay_killed_between_publishing_and_marking_loses_nothing_and_consumers_act_once(pool: PgPool) {
    let app = spawn_roles(pool, test_env(&[]), Clock::fixed(chrono::Utc::now()), NO_WORKER).await;
    stampede(&app, 20).await;
    let worker = app.worker().await;

    // A relay claims a batch and publishes it, then dies before marking it: its transaction ends
    // without a commit, so the rows are still unpublished.
    let mut tx = app.pool.begin().await.unwrap();
    let rows: Vec<(uuid::Uuid, String, uuid::Uuid, i64, Value, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT id, kind, aggregate_id, version, payload, created_at FROM ticket.outbox
         WHERE published_at IS NULL ORDER BY created_at, id LIMIT 100 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rows.len(), 22, "the event, its seats (one part) and twenty holds");
    let batch: Vec<Envelope> = rows
        .into_iter()
        .map(|(id, kind, aggregate_id, version, payload, occurred_at)| Envelope {
            id,
            kind,
            aggregate_id,
            occurred_at,
            version,
            payload,
        })
        .collect();
    assert_eq!(relay::publish(&worker, &batch).await.len(), 22);
    tx.rollback().await.unwrap(); // killed: its connection closes, its locks go

    // Restarted: the same rows go out again.
    assert_eq!(relay::relay_once(&worker, "ticket").await.unwrap(), 22);
    assert_eq!(relay::relay_once(&worker, "ticket").await.unwrap(), 0);
    let delivered = drain(&worker, Queue::StatsEvents).await;
    assert_eq!(delivered.len(), 44, "every event twice");
    let ids: HashSet<String> =
        delivered.iter().map(|b| serde_json::from_str::<Envelope>(b).unwrap().id.to_string()).collect();
    assert_eq!(ids.len(), 22, "nothing lost");

    consume(&worker, Queue::WorkerEvents).await;
    let [_, delayed, _] = depth::depth(&worker, worker.located.queue(Queue::HoldExpiry)).await.unwrap();
    assert_eq!(delayed, 20, "each hold's expiry scheduled once, though its event came twice");
}

#[sqlx::test(migrations = false)]
async fn an_abandoned_hold_is_freed_within_seconds_of_its_end_by_its_delayed_message(pool: PgPool) {
    // The sweeper is out of the way; each expiry message waits at most a second before re-checking.
    let vars = test_env(&[("TIKETI_TICKET_SWEEP_SECS", "3600"), ("TIKETI_WORKER_MAX_DELAY_SECS", "1")]);
    let app = common::spawn_env(pool, vars, Clock::fixed(chrono::Utc::now())).await;
    let event = app.on_sale_event(&[("Floor", 1, 4, 30_000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let buyer = app.buyer().await;
    let (status, held) = app.hold(&buyer, &event, &seats[..2]).await;
    assert_eq!(status, StatusCode::CREATED);
    let reservation: uuid::Uuid = held["reservation"]["id"].as_str().unwrap().parse().unwrap();
    let status_of = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM ticket.reservations WHERE id = $1")
            .bind(reservation)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    wait_until("the expiry to be scheduled", 15, || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM worker.consumed_events").fetch_one(&app.pool).await.unwrap();
        n == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status_of().await, "pending", "not before its end");

    app.clock.advance(chrono::Duration::seconds(app.settings.ticket.hold_ttl.as_secs() as i64));
    let ended = std::time::Instant::now();
    wait_until("the hold to expire", 15, || async { status_of().await == "expired" }).await;
    let took = ended.elapsed();
    assert!(took < Duration::from_secs(5), "freed {took:?} after its end");
    let free: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ticket.seats WHERE event_id = $1::uuid AND status = 'available'")
            .bind(event["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(free, 4);
}

#[sqlx::test(migrations = false)]
async fn poison_messages_land_in_the_dead_letter_queue_and_show_in_a_metric(pool: PgPool) {
    let app = spawn_roles(pool, test_env(&[]), Clock::fixed(chrono::Utc::now()), NO_WORKER).await;
    let worker = app.worker().await;
    let send = |queue: Queue, body: &str| {
        let (worker, body) = (&worker, body.to_owned());
        async move {
            let url = worker.located.queue(queue);
            worker.aws.sqs.send_message().queue_url(url).message_body(body).send().await.unwrap();
        }
    };
    // Unreadable: dead-lettered at once.
    send(Queue::WorkerEvents, "{not an event").await;
    consume(&worker, Queue::WorkerEvents).await;
    // Readable but never applicable: a deposit for an order that does not exist yet keeps asking
    // to be retried, until the redrive policy moves it after the receive limit.
    let order = uuid::Uuid::now_v7();
    let body = json!({"createdAt": "2026-12-01T10:00:00", "secret": "s", "status": "DONE",
                      "transactionKey": "t", "orderId": order})
    .to_string();
    let delivery = tiketi_shared::messages::WebhookDelivery {
        inbox_id: format!("poison-{order}"),
        received_at: chrono::Utc::now(),
        body,
    };
    send(Queue::PaymentWebhooks, &serde_json::to_string(&delivery).unwrap()).await;
    // The order exists (created, no virtual account yet), so the deposit must wait.
    sqlx::query(
        "INSERT INTO payment.orders (id, reservation_id, user_id, event_id, amount, order_name, hold_expires_at,
           status, created_at, updated_at) VALUES ($1, $2, $3, $4, 1000, 'x', now(), 'created', now(), now())",
    )
    .bind(order)
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::now_v7())
    .execute(&app.pool)
    .await
    .unwrap();
    // Each failure makes it visible again at once (the tests' retry pause is zero), so consuming
    // receives it until the redrive policy takes it away.
    wait_until("both dead letters", 15, || async {
        consume(&worker, Queue::PaymentWebhooks).await;
        let [webhooks, _, _] =
            depth::depth(&worker, worker.located.dead_letters(Queue::PaymentWebhooks)).await.unwrap();
        let [events, _, _] = depth::depth(&worker, worker.located.dead_letters(Queue::WorkerEvents)).await.unwrap();
        webhooks == 1 && events == 1
    })
    .await;

    depth::sample(&worker).await.unwrap();
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for queue in [Queue::WorkerEvents, Queue::PaymentWebhooks] {
        let line = format!("tiketi_sqs_dead_letters{{queue=\"{}\"}} 1", worker.aws.names.queue(queue));
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[sqlx::test(migrations = false)]
async fn bad_input_to_the_webhook_endpoint_is_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_roles(pool, test_env(&[]), Clock::fixed(chrono::Utc::now()), NO_WORKER).await;
    let url = app.url("/webhooks/toss");
    let cases = [
        (Some("application/json"), b"{not json".to_vec(), StatusCode::BAD_REQUEST, "INVALID_WEBHOOK"),
        (Some("application/json"), b"\"a string\"".to_vec(), StatusCode::BAD_REQUEST, "INVALID_WEBHOOK"),
        (
            Some("text/plain"),
            br#"{"eventType":"PAYMENT_STATUS_CHANGED"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            None,
            br#"{"eventType":"PAYMENT_STATUS_CHANGED"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (Some("application/json"), vec![b' '; 10 * 1024 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
    ];
    for (content_type, body, status, code) in cases {
        let mut request = app.http.post(&url).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let (got, problem) = read(request.send().await.unwrap()).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{problem}");
    }
    let worker = app.worker().await;
    let stored = worker.aws.dynamodb.scan().table_name(worker.aws.names.webhook_inbox()).send().await.unwrap();
    assert_eq!(stored.count(), 0);
    assert!(drain(&worker, Queue::PaymentWebhooks).await.is_empty());
}

/// Pays for `n` reservations through the sandbox; answers the order ids.
async fn paid_orders(app: &TestApp, n: usize) -> Vec<String> {
    let event = app.on_sale_event(&[("Floor", 2, 10, 40_000)], json!({})).await;
    let seats = app.seat_ids(&event).await;
    let mut orders = Vec::new();
    for seat in seats.iter().take(n) {
        let buyer = app.buyer().await;
        let (_, held) = app.hold(&buyer, &event, std::slice::from_ref(seat)).await;
        let body = json!({"reservation_id": held["reservation"]["id"]});
        let (status, order) = app.send(Method::POST, "/api/payments/checkout", Some(&buyer), Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let res = app.http.post(order["checkout_url"].as_str().unwrap()).form(&[("outcome", "approve")]).send().await;
        let back = url::Url::parse(res.unwrap().headers()["location"].to_str().unwrap()).unwrap();
        let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).unwrap().1.into_owned();
        let body = json!({"payment_key": param("paymentKey"), "order_id": param("orderId"),
                          "amount": param("amount").parse::<i64>().unwrap()});
        let (status, paid) = app.send(Method::POST, "/api/payments/confirm", Some(&buyer), Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{paid}");
        orders.push(param("orderId"));
    }
    orders
}

#[sqlx::test(migrations = false)]
async fn a_thousand_webhook_deliveries_duplicated_reordered_and_late_are_applied_exactly_once(pool: PgPool) {
    let (app, sandbox) = spawn_with_toss(pool, &[]).await;
    let orders = paid_orders(&app, 4).await;
    let toss = reqwest::Client::new();
    let mut payments = HashMap::new();
    for order in &orders {
        let res = toss
            .get(format!("{}/v1/payments/orders/{order}", sandbox.url()))
            .basic_auth(tiketi_toss_sandbox::LOCAL_SECRET_KEY, Some(""))
            .send()
            .await
            .unwrap();
        payments.insert(order.clone(), read(res).await.1);
    }
    // 200 distinct deliveries (status changes of the four orders, some claiming stale states,
    // some days late), each sent five times, all shuffled and sent at once.
    let mut deliveries = Vec::new();
    for i in 0..200 {
        let order = &orders[i % orders.len()];
        let mut data = payments[order].clone();
        if i % 3 == 0 {
            data["status"] = json!("CANCELED"); // a claim: re-fetched, Toss says DONE
        }
        let day = 1 + (i % 28);
        let created = format!("2026-11-{day:02}T10:00:00.{i:06}");
        let body = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": created, "data": data});
        for _ in 0..5 {
            deliveries.push((format!("load-{i}"), body.clone()));
        }
    }
    use rand::seq::SliceRandom;
    deliveries.shuffle(&mut rand::thread_rng());
    let url = app.url("/webhooks/toss");
    let sends = deliveries.iter().map(|(id, body)| {
        let (http, url) = (&app.http, &url);
        async move {
            http.post(url).header("tosspayments-webhook-transmission-id", id).json(body).send().await.unwrap().status()
        }
    });
    let statuses: Vec<StatusCode> = futures::stream::iter(sends).buffer_unordered(50).collect().await;
    assert_eq!(statuses.len(), 1000);
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "every delivery answered 200");

    wait_until("every delivery to be applied", 60, || async {
        let (stored, unapplied): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE applied_at IS NULL) FROM payment.webhook_inbox WHERE id LIKE 'load-%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        stored == 200 && unapplied == 0
    })
    .await;
    let worker = app.worker().await;
    let inbox = worker.aws.dynamodb.scan().table_name(worker.aws.names.webhook_inbox()).send().await.unwrap();
    let load = inbox.items().iter().filter(|item| item["id"].as_s().unwrap().starts_with("load-")).count();
    assert_eq!(load, 200, "the receiver's inbox holds each delivery once");
    for order in &orders {
        let (status, refunds): (String, i64) = sqlx::query_as(
            "SELECT o.status, (SELECT count(*) FROM payment.refunds r WHERE r.order_id = o.id) FROM payment.orders o
             WHERE o.id = $1::uuid",
        )
        .bind(order)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!((status.as_str(), refunds), ("paid", 0), "a stale or repeated claim changed nothing");
    }
}

#[sqlx::test(migrations = false)]
async fn with_secrets_from_aws_the_signing_keys_live_in_secrets_manager(pool: PgPool) {
    let app =
        spawn_roles(pool, test_env(&[("TIKETI_SECRETS", "aws")]), Clock::fixed(chrono::Utc::now()), NO_WORKER).await;
    let registered = app.register(&common::unique_email(), "password123").await;
    let token = registered["access_token"].as_str().unwrap();
    assert_eq!(app.get_auth("/api/auth/me", token).await.0, StatusCode::OK);

    let worker_aws = tiketi_shared::aws::Aws::connect(&app.settings.aws).await;
    let stored = worker_aws
        .secrets
        .get_secret_value()
        .secret_id(worker_aws.names.secret("signing-keys-access"))
        .send()
        .await
        .expect("the access key set is a secret");
    let stored: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    let kid = stored["keys"][0]["kid"].as_str().unwrap().to_owned();
    let (_, jwks) = read(app.http.get(app.url("/api/auth/jwks")).send().await.unwrap()).await;
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()), "{jwks}");
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()), "tokens are signed with the stored key");
    assert!(!app.data_dir().join("keys").exists(), "nothing written to the local key folder");
}

#[sqlx::test(migrations = false)]
async fn bootstrap_runs_again_harmlessly_and_the_reports_bucket_is_private_encrypted_and_versioned(pool: PgPool) {
    let app = spawn_roles(pool, test_env(&[]), Clock::fixed(chrono::Utc::now()), NO_WORKER).await;
    let worker = app.worker().await;
    let aws = &worker.aws;
    let again = aws.bootstrap().await.unwrap();
    assert_eq!(again.topic_arn, worker.located.topic_arn, "the same topic, not a second one");
    assert_eq!(again, worker.located, "and the same queues");

    let bucket = aws.names.reports_bucket();
    let block = aws.s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    let flags = [
        block.block_public_acls(),
        block.ignore_public_acls(),
        block.block_public_policy(),
        block.restrict_public_buckets(),
    ];
    assert_eq!(flags, [Some(true); 4], "no public access of any kind");
    let encryption = aws.s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rules = encryption.server_side_encryption_configuration().unwrap().rules();
    let algorithm = rules[0].apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str();
    assert_eq!(algorithm, "AES256");

    // Versioned: a rewritten report keeps its earlier version. (Read back through the versions
    // themselves: moto answers GetBucketVersioning with a root element the SDK rejects.)
    let key = "settlement/2026-12-03/orders.csv";
    let bodies = ["\u{feff}주문,금액\n1,132000\n", "\u{feff}주문,금액\n1,132000\n2,198000\n"];
    for body in bodies {
        let body = aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec());
        aws.s3.put_object().bucket(&bucket).key(key).body(body).send().await.unwrap();
    }
    let read = aws.s3.get_object().bucket(&bucket).key(key).send().await.unwrap();
    let bytes = read.body.collect().await.unwrap().into_bytes();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), bodies[1]);
    let versions = aws.s3.list_object_versions().bucket(&bucket).prefix(key).send().await.unwrap();
    assert_eq!(versions.versions().len(), 2, "both versions kept");
}
