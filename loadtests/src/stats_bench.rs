//! The stats role's costs on real PostgreSQL (and moto for the report files), in a database of its
//! own that it drops at the end:
//! 1. applying domain events (a 50,000-seat event, `HOLDS` two-seat holds, most paid, some
//!    expired), ten at a time as the SQS consumer does — events per second;
//! 2. the 50,000-seat heatmap answer (query, JSON, gzip) — latency;
//! 3. a sales report over `ORDERS` orders (CSV + XLSX + manifest to S3) — time and peak memory.
//!
//! `cargo run --release -p tiketi-loadtests --bin stats-bench -- [HOLDS] [ORDERS]` with the
//! `./dev env` variables (database, AWS emulator).
// A benchmark reports on stdout.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tiketi_shared::aws::{Aws, AwsSettings};
use tiketi_shared::config::Env;
use tiketi_shared::events::{
    DomainEvent, Envelope, EventCreated, EventSeats, OrderSnapshot, ReservationConfirmed, ReservationEnded,
    ReservationHeld, SEATS_PER_PART, SeatFacts, SectionFacts,
};
use tiketi_shared::ids::{EventId, OrderId, ReservationId, SeatId, UserId};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = std::env::var("TIKETI_LOG").unwrap_or_else(|_| "warn".to_owned());
    tiketi_shared::telemetry::init_tracing(tiketi_shared::config::LogFormat::Pretty, &filter);
    let args: Vec<String> = std::env::args().collect();
    let holds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let orders: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let base = std::env::var("DATABASE_URL").context("DATABASE_URL (./dev env)")?;
    let admin = sqlx::PgPool::connect(&base).await?;
    let name = format!("tiketi_stats_bench_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await?;
    let mut url = url::Url::parse(&base)?;
    url.set_path(&name);
    let result = run(&SecretString::from(url.to_string()), holds, orders).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await?;
    result
}

async fn run(url: &SecretString, holds: usize, orders: i64) -> anyhow::Result<()> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(12).connect(url.expose_secret()).await?;
    tiketi_shared::db::migrate(&pool, tiketi_stats::SCHEMA, &tiketi_stats::MIGRATOR).await?;

    // 1. Apply throughput.
    let now = Utc::now();
    let event = EventId::new();
    let sections: Vec<SectionFacts> = (0..10)
        .map(|i| SectionFacts { id: uuid::Uuid::now_v7(), name: format!("S{i}"), price: 50_000, seat_count: 5_000 })
        .collect();
    let seats: Vec<SeatFacts> = sections
        .iter()
        .flat_map(|s| {
            (0..5_000).map(|n| SeatFacts { id: SeatId::new(), section_id: s.id, label: format!("{} {n}", s.name) })
        })
        .collect();
    let mut events = vec![Envelope::new(
        &DomainEvent::EventCreated(EventCreated {
            event_id: event,
            venue_id: uuid::Uuid::now_v7(),
            title: "Bench".into(),
            sale_opens_at: Some(now),
            sections,
            seat_parts: 50,
        }),
        1,
        now,
    )];
    for (part, chunk) in (1..).zip(seats.chunks(SEATS_PER_PART)) {
        let e = EventSeats { event_id: event, part, parts: 50, seats: chunk.to_vec() };
        events.push(Envelope::new(&DomainEvent::EventSeats(e), 1, now));
    }
    let setup = events.len();
    let mut sale = Vec::new();
    for i in 0..holds {
        let (reservation, user) = (ReservationId::new(), UserId::new());
        let pair = vec![seats[(2 * i) % seats.len()].id, seats[(2 * i + 1) % seats.len()].id];
        let at = now + Duration::milliseconds(i64::try_from(i)?);
        let held = ReservationHeld {
            reservation_id: reservation,
            event_id: event,
            user_id: user,
            seat_ids: pair.clone(),
            amount: 100_000,
            expires_at: at + Duration::minutes(10),
        };
        sale.push(Envelope::new(&DomainEvent::ReservationHeld(held), 1, at));
        if i % 5 == 4 {
            let ended = ReservationEnded { reservation_id: reservation, event_id: event, seat_ids: pair };
            sale.push(Envelope::new(&DomainEvent::ReservationExpired(ended), 2, at + Duration::minutes(10)));
            continue;
        }
        let order = OrderSnapshot {
            order_id: OrderId::new(),
            reservation_id: reservation,
            event_id: event,
            user_id: user,
            status: "created".into(),
            amount: 100_000,
            balance_amount: 0,
            method: None,
            approved_at: None,
            payment_key: None,
        };
        let paid = OrderSnapshot {
            status: "paid".into(),
            balance_amount: 100_000,
            method: Some("카드".into()),
            approved_at: Some(at + Duration::seconds(30)),
            payment_key: Some(format!("tviva{i}")),
            ..order.clone()
        };
        sale.push(Envelope::new(&DomainEvent::OrderCreated(order), 1, at + Duration::seconds(5)));
        sale.push(Envelope::new(&DomainEvent::OrderChanged(paid), 3, at + Duration::seconds(30)));
        let confirmed = ReservationConfirmed {
            reservation_id: reservation,
            event_id: event,
            user_id: Some(user),
            seat_ids: pair,
            amount: 100_000,
        };
        sale.push(Envelope::new(&DomainEvent::ReservationConfirmed(confirmed), 2, at + Duration::seconds(30)));
    }
    let started = Instant::now();
    futures::stream::iter(&events)
        .map(|e| tiketi_stats::project::consume(&pool, e, now))
        .buffer_unordered(10)
        .for_each(|r| async move { r.map(drop).unwrap_or_else(|e| panic!("{e:#}")) })
        .await;
    let setup_took = started.elapsed();
    let started = Instant::now();
    futures::stream::iter(&sale)
        .map(|e| tiketi_stats::project::consume(&pool, e, now))
        .buffer_unordered(10)
        .for_each(|r| async move { r.map(drop).unwrap_or_else(|e| panic!("{e:#}")) })
        .await;
    let took = started.elapsed();
    println!(
        "apply: catalogue {setup} events (50,000 seats) in {:.2} s; sale {} events in {:.2} s = {:.0} events/s (10 at a time)",
        setup_took.as_secs_f64(),
        sale.len(),
        took.as_secs_f64(),
        sale.len() as f64 / took.as_secs_f64()
    );

    // 2. Heatmap of 50,000 seats.
    let mut times = Vec::new();
    let mut sizes = (0, 0);
    for _ in 0..10 {
        let started = Instant::now();
        let (json, gz) =
            tiketi_stats::api::heatmap_bytes(&pool, event, Utc::now()).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        sizes = (json.len(), gz.len());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "heatmap (50,000 seats, built without reuse): p50 {:.0} ms, max {:.0} ms; {:.1} MB JSON, {:.0} KB gzipped",
        times[times.len() / 2],
        times[times.len() - 1],
        sizes.0 as f64 / 1e6,
        sizes.1 as f64 / 1e3
    );

    // 3. A report over `orders` orders (a fifth partly refunded).
    sqlx::query(
        "INSERT INTO stats.orders (id, reservation_id, event_id, user_id, amount, status, balance_amount, method,
           payment_key, approved_at, version, created_at, updated_at)
         SELECT gen_random_uuid(), gen_random_uuid(), $1, gen_random_uuid(), 100000, 'paid', 100000, '카드',
           'bench' || n, $2 + n * interval '100 ms', 3, $2, $2
         FROM generate_series(1, $3) n",
    )
    .bind(event)
    .bind(now)
    .bind(orders)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO stats.refunds (order_id, version, event_id, amount, refunded_at)
         SELECT id, 4, event_id, 30000, approved_at + interval '1 minute' FROM stats.orders
         WHERE payment_key LIKE 'bench%' AND random() < 0.2",
    )
    .execute(&pool)
    .await?;
    let mut env = Env::from_process();
    let mut aws_settings = AwsSettings::from_env(&mut env);
    aws_settings.name_prefix = format!("b{}-", uuid::Uuid::now_v7().simple());
    let aws = Aws::connect(&aws_settings).await;
    aws.bootstrap().await?;
    let builder = tiketi_stats_report::Builder {
        pool: pool.clone(),
        s3: aws.s3.clone(),
        bucket: aws.names.reports_bucket(),
        toss: tiketi_stats_report::toss::Transactions::new(
            url::Url::parse("http://127.0.0.1:9/")?,
            tiketi_stats_report::toss::Key::Configured(SecretString::from("unused".to_owned())),
        ),
        clock: tiketi_shared::clock::Clock::System,
    };
    let report = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO stats.reports (id, kind, status, period_from, period_to, requested_by, created_at)
         VALUES ($1, 'sales', 'pending', $2, $3, 'bench', $2)",
    )
    .bind(report)
    .bind(now - Duration::days(1))
    .bind(now + Duration::days(2))
    .execute(&pool)
    .await?;
    let rss_before = peak_rss_mib();
    let started = Instant::now();
    builder.build(report).await?;
    let took = started.elapsed();
    let files: serde_json::Value =
        sqlx::query_scalar("SELECT files FROM stats.reports WHERE id = $1").bind(report).fetch_one(&pool).await?;
    let bytes: i64 = files.as_array().into_iter().flatten().filter_map(|f| f["bytes"].as_i64()).sum();
    println!(
        "report: {} orders in {:.1} s ({:.1} MB of files); peak RSS {:.0} MiB before, {:.0} MiB after",
        orders + i64::try_from(holds)? * 4 / 5,
        took.as_secs_f64(),
        bytes as f64 / 1e6,
        rss_before,
        peak_rss_mib()
    );
    Ok(())
}
