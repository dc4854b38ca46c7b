//! Finance reports. [`Builder::build`] turns a requested report (a row of `stats.reports`) into
//! files in the reports bucket and marks it ready: one CSV per section, one XLSX with a sheet
//! per section, and `manifest.json` with each file's rows, size and SHA-256.
//!
//! Sections: every order with money captured or refunded in the period; totals per event and per
//! Korean day; and for a settlement the reconciliation with Toss's own transactions of the
//! period, listing every payment where the two disagree. The order facts are the stats role's
//! projections of the payment role's events, never the payment schema.
//!
//! It runs as the `stats-report` Lambda (reports queue, daily schedule) in the cloud and inside
//! the stats role locally ([`local`]); the code path is this one function either way.

pub mod local;
pub mod sheets;
pub mod toss;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tiketi_shared::clock::Clock;
use uuid::Uuid;

use crate::sheets::{Cell, Column, Section, col, kst, sum};

/// What a report is built with.
#[derive(Clone)]
pub struct Builder {
    pub pool: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub toss: toss::Transactions,
    pub clock: Clock,
}

/// One file written, as `stats.reports.files` and the manifest record it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileFacts {
    pub name: String,
    pub key: String,
    pub content_type: String,
    pub bytes: i64,
    pub sha256: String,
    /// Data rows (the totals row not counted); per sheet for the XLSX.
    pub rows: BTreeMap<String, u32>,
}

#[derive(Debug, sqlx::FromRow)]
struct Request {
    id: Uuid,
    kind: String,
    status: String,
    period_from: DateTime<Utc>,
    period_to: DateTime<Utc>,
    event_id: Option<Uuid>,
}

const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

const ORDERS: &[Column] = &[
    col("주문번호 (order_id)"),
    col("공연 ID (event_id)"),
    col("공연 (event)"),
    col("좌석 (seats)"),
    sum("매수 (tickets)"),
    col("구매자 ID (buyer_id)"),
    col("결제수단 (method)"),
    col("상태 (status)"),
    col("결제금액 (amount)"),
    sum("기간 내 승인 (captured)"),
    sum("기간 내 환불 (refunded)"),
    sum("순액 (net)"),
    col("잔액 (balance)"),
    col("승인시각 (approved_at)"),
    col("환불시각 (refunded_at)"),
    col("paymentKey"),
];

const EVENTS: &[Column] = &[
    col("공연 ID (event_id)"),
    col("공연 (event)"),
    sum("주문 (orders)"),
    sum("매수 (tickets)"),
    sum("승인 (captured)"),
    sum("환불 (refunded)"),
    sum("순액 (net)"),
];

const DAYS: &[Column] = &[
    col("일자 (date, KST)"),
    sum("주문 (orders)"),
    sum("매수 (tickets)"),
    sum("승인 (captured)"),
    sum("환불 (refunded)"),
    sum("순액 (net)"),
];

const RECONCILIATION: &[Column] = &[
    col("paymentKey"),
    col("주문번호 (order_id)"),
    col("차이 (difference)"),
    sum("당사 승인 (our_captured)"),
    sum("토스 승인 (toss_captured)"),
    sum("당사 환불 (our_refunded)"),
    sum("토스 환불 (toss_refunded)"),
];

/// Orders with money moving in `[$1, $2)` (optionally of event `$3`), with that money and the
/// tickets of the reservation they paid for. Joins, not per-row look-ups: the plan stays linear
/// whatever the planner knows, and only the period's rows are read (by the approval and refund
/// time indexes), never every order there is.
const MOVED: &str = "
WITH refunded_in AS (
  SELECT order_id, sum(amount)::bigint AS refunded FROM stats.refunds
  WHERE refunded_at >= $1 AND refunded_at < $2 GROUP BY order_id),
moved_ids AS (
  SELECT id FROM stats.orders WHERE approved_at >= $1 AND approved_at < $2
  UNION SELECT order_id FROM refunded_in),
moved AS (
  SELECT o.id, o.event_id, o.reservation_id, o.user_id, o.method, o.status, o.amount, o.balance_amount,
         o.approved_at, o.payment_key,
         CASE WHEN o.approved_at >= $1 AND o.approved_at < $2 THEN o.amount ELSE 0 END AS captured,
         coalesce(p.refunded, 0) AS refunded,
         CASE WHEN r.confirmed_at IS NOT NULL THEN cardinality(r.seat_ids) ELSE 0 END::bigint AS tickets,
         r.seat_ids
  FROM moved_ids i JOIN stats.orders o ON o.id = i.id
  LEFT JOIN refunded_in p ON p.order_id = o.id
  LEFT JOIN stats.reservations r ON r.id = o.reservation_id
  WHERE $3::uuid IS NULL OR o.event_id = $3)";

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    event_id: Uuid,
    title: Option<String>,
    seats: Option<String>,
    tickets: i64,
    user_id: Uuid,
    method: Option<String>,
    status: String,
    amount: i64,
    balance_amount: i64,
    approved_at: Option<DateTime<Utc>>,
    refunded_at: Option<DateTime<Utc>>,
    payment_key: Option<String>,
    captured: i64,
    refunded: i64,
}

/// Totals of one group (an event, a day).
#[derive(Default)]
struct Totals {
    orders: i64,
    tickets: i64,
    captured: i64,
    refunded: i64,
}

impl Builder {
    /// Builds the report if it is still pending; a failure marks it failed with the reason.
    pub async fn build(&self, report: Uuid) -> anyhow::Result<()> {
        let request: Option<Request> = sqlx::query_as(
            "SELECT id, kind, status, period_from, period_to, event_id FROM stats.reports WHERE id = $1",
        )
        .bind(report)
        .fetch_optional(&self.pool)
        .await?;
        let Some(request) = request else {
            tracing::warn!(%report, "a report to build is unknown");
            return Ok(());
        };
        if request.status != "pending" {
            return Ok(());
        }
        let started = std::time::Instant::now();
        match self.write(&request).await {
            Ok(files) => {
                sqlx::query(
                    "UPDATE stats.reports SET status = 'ready', files = $2, completed_at = $3
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(report)
                .bind(sqlx::types::Json(&files))
                .bind(self.clock.now())
                .execute(&self.pool)
                .await?;
                tracing::info!(%report, took_ms = started.elapsed().as_millis(), "report ready");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(%report, error = %format!("{e:#}"), "building a report failed");
                sqlx::query(
                    "UPDATE stats.reports SET status = 'failed', failure = $2, completed_at = $3
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(report)
                .bind(format!("{e:#}").chars().take(500).collect::<String>())
                .bind(self.clock.now())
                .execute(&self.pool)
                .await?;
                Err(e)
            }
        }
    }

    /// Writes every file to a temporary directory, then to S3; answers what was stored.
    async fn write(&self, r: &Request) -> anyhow::Result<Vec<FileFacts>> {
        let dir = tempfile::tempdir()?;
        let mut book = rust_xlsxwriter::Workbook::new();
        book.set_tempdir(dir.path())?;
        let mut rows = BTreeMap::new();

        let mut by_event: BTreeMap<Uuid, (String, Totals)> = BTreeMap::new();
        let mut by_day: BTreeMap<NaiveDate, Totals> = BTreeMap::new();
        let mut orders = Section::start(&mut book, "주문 orders", ORDERS, &dir.path().join("orders.csv"))?;
        let listing = format!(
            "{MOVED}
             , last_refund AS (
               SELECT f.order_id, max(f.refunded_at) AS refunded_at
               FROM stats.refunds f JOIN moved_ids i ON i.id = f.order_id GROUP BY f.order_id)
             SELECT m.id, m.event_id, e.title, l.seats, m.tickets, m.user_id, m.method, m.status, m.amount,
               m.balance_amount, m.approved_at, last.refunded_at, m.payment_key, m.captured, m.refunded
             FROM moved m LEFT JOIN stats.events e ON e.id = m.event_id
             LEFT JOIN last_refund last ON last.order_id = m.id
             LEFT JOIN LATERAL (
               SELECT string_agg(s.label, ', ' ORDER BY s.position) AS seats
               FROM unnest(m.seat_ids) AS sid JOIN stats.seats s ON s.id = sid) l ON true
             ORDER BY m.approved_at NULLS LAST, m.id"
        );
        let mut stream = sqlx::query_as::<_, OrderRow>(&listing)
            .bind(r.period_from)
            .bind(r.period_to)
            .bind(r.event_id)
            .fetch(&self.pool);
        while let Some(o) = stream.try_next().await? {
            let tickets = if o.captured > 0 { o.tickets } else { 0 };
            let title = o.title.clone().unwrap_or_default();
            orders.push(&[
                Cell::Text(o.id.to_string()),
                Cell::Text(o.event_id.to_string()),
                Cell::Text(title.clone()),
                Cell::Text(o.seats.clone().unwrap_or_default()),
                Cell::Count(tickets),
                Cell::Text(o.user_id.to_string()),
                Cell::Text(o.method.clone().unwrap_or_default()),
                Cell::Text(o.status.clone()),
                Cell::Money(o.amount),
                Cell::Money(o.captured),
                Cell::Money(o.refunded),
                Cell::Money(o.captured - o.refunded),
                Cell::Money(o.balance_amount),
                Cell::Time(o.approved_at),
                Cell::Time(o.refunded_at),
                Cell::Text(o.payment_key.clone().unwrap_or_default()),
            ])?;
            let event = &mut by_event.entry(o.event_id).or_insert_with(|| (title, Totals::default())).1;
            add(event, &o, tickets);
        }
        drop(stream);
        rows.insert("orders.csv".to_owned(), orders.finish()?);
        tracing::debug!(report = %r.id, orders = rows["orders.csv"], "orders written");

        // Days: captures by approval day, refunds by refund day.
        let days: Vec<(NaiveDate, i64, i64, i64, i64)> = sqlx::query_as(&format!(
            "{MOVED},
             captured AS (
               SELECT (m.approved_at AT TIME ZONE 'Asia/Seoul')::date AS day, count(*) AS orders,
                 sum(m.tickets)::bigint AS tickets, sum(m.captured)::bigint AS captured
               FROM moved m WHERE m.captured > 0 GROUP BY 1),
             refunded AS (
               SELECT (f.refunded_at AT TIME ZONE 'Asia/Seoul')::date AS day, sum(f.amount)::bigint AS refunded
               FROM stats.refunds f JOIN moved m ON m.id = f.order_id
               WHERE f.refunded_at >= $1 AND f.refunded_at < $2 GROUP BY 1)
             SELECT day, coalesce(c.orders, 0), coalesce(c.tickets, 0), coalesce(c.captured, 0), coalesce(f.refunded, 0)
             FROM captured c FULL JOIN refunded f USING (day) ORDER BY day"
        ))
        .bind(r.period_from)
        .bind(r.period_to)
        .bind(r.event_id)
        .fetch_all(&self.pool)
        .await?;
        for (day, orders, tickets, captured, refunded) in days {
            by_day.insert(day, Totals { orders, tickets, captured, refunded });
        }

        let mut events = Section::start(&mut book, "공연별 events", EVENTS, &dir.path().join("events.csv"))?;
        for (id, (title, t)) in &by_event {
            events.push(&[
                Cell::Text(id.to_string()),
                Cell::Text(title.clone()),
                Cell::Count(t.orders),
                Cell::Count(t.tickets),
                Cell::Money(t.captured),
                Cell::Money(t.refunded),
                Cell::Money(t.captured - t.refunded),
            ])?;
        }
        rows.insert("events.csv".to_owned(), events.finish()?);

        let mut day_section = Section::start(&mut book, "일별 days", DAYS, &dir.path().join("days.csv"))?;
        for (day, t) in &by_day {
            day_section.push(&[
                Cell::Date(*day),
                Cell::Count(t.orders),
                Cell::Count(t.tickets),
                Cell::Money(t.captured),
                Cell::Money(t.refunded),
                Cell::Money(t.captured - t.refunded),
            ])?;
        }
        rows.insert("days.csv".to_owned(), day_section.finish()?);

        let mut names = vec!["orders.csv", "events.csv", "days.csv"];
        if r.kind == "settlement" {
            let mut section = Section::start(
                &mut book,
                "대사 reconciliation",
                RECONCILIATION,
                &dir.path().join("reconciliation.csv"),
            )?;
            self.reconcile(r, &mut section).await?;
            rows.insert("reconciliation.csv".to_owned(), section.finish()?);
            names.push("reconciliation.csv");
        }
        let xlsx_name = "report.xlsx";
        book.save(dir.path().join(xlsx_name))?;
        tracing::debug!(report = %r.id, "workbook saved");

        let prefix = format!("reports/{}/{}-{}/", r.period_from.with_timezone(&kst()).format("%Y/%m"), r.kind, r.id);
        let mut files = Vec::new();
        for name in names {
            let file_rows = BTreeMap::from([(name.trim_end_matches(".csv").to_owned(), rows[name])]);
            files.push(self.upload(&dir.path().join(name), &prefix, name, CSV, file_rows).await?);
        }
        let sheet_rows = rows.iter().map(|(name, n)| (name.trim_end_matches(".csv").to_owned(), *n)).collect();
        files.push(self.upload(&dir.path().join(xlsx_name), &prefix, xlsx_name, XLSX, sheet_rows).await?);

        let manifest = serde_json::json!({
            "report_id": r.id,
            "kind": r.kind,
            "from": r.period_from,
            "to": r.period_to,
            "event_id": r.event_id,
            "time_zone": "Asia/Seoul",
            "generated_at": self.clock.now(),
            "files": files,
        });
        let manifest_path = dir.path().join("manifest.json");
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)?;
        files.push(self.upload(&manifest_path, &prefix, "manifest.json", "application/json", BTreeMap::new()).await?);
        Ok(files)
    }

    /// Loads Toss's transactions of the period into a temporary table, then lists every payment
    /// whose captured or refunded money differs between us and Toss.
    async fn reconcile(&self, r: &Request, section: &mut Section<'_>) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query(
            "CREATE TEMPORARY TABLE IF NOT EXISTS toss_transactions (
               payment_key text NOT NULL, order_id text NOT NULL, status text NOT NULL, amount bigint NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query("TRUNCATE toss_transactions").execute(&mut *conn).await?;
        // Toss's end is inclusive, to the second. A page at a time: memory stays flat.
        let last = r.period_to - Duration::seconds(1);
        let mut after: Option<String> = None;
        loop {
            let page = self.toss.page(r.period_from, last, after.as_deref()).await.context("Toss's transactions")?;
            let full = page.len() >= toss::PAGE;
            after = page.last().map(|t| t.transaction_key.clone());
            let (mut keys, mut orders, mut statuses, mut amounts) = (vec![], vec![], vec![], vec![]);
            for t in page {
                keys.push(t.payment_key);
                orders.push(t.order_id);
                statuses.push(t.status);
                amounts.push(t.amount);
            }
            sqlx::query(
                "INSERT INTO toss_transactions SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])",
            )
            .bind(keys)
            .bind(orders)
            .bind(statuses)
            .bind(amounts)
            .execute(&mut *conn)
            .await?;
            if !full {
                break;
            }
        }
        let differences: Vec<(String, String, String, i64, i64, i64, i64)> = sqlx::query_as(&format!(
            "{MOVED},
             ours AS (SELECT payment_key, id::text AS order_id, captured, refunded FROM moved WHERE payment_key IS NOT NULL),
             theirs AS (
               SELECT payment_key, max(order_id) AS order_id,
                 coalesce(sum(amount) FILTER (WHERE status = 'DONE'), 0)::bigint AS captured,
                 coalesce(sum(amount) FILTER (WHERE status IN ('CANCELED', 'PARTIAL_CANCELED')), 0)::bigint AS refunded
               FROM toss_transactions
               WHERE $3::uuid IS NULL OR order_id IN (SELECT id::text FROM stats.orders WHERE event_id = $3)
               GROUP BY payment_key)
             SELECT coalesce(o.payment_key, t.payment_key), coalesce(o.order_id, t.order_id),
               CASE WHEN o.payment_key IS NULL THEN 'missing_here' WHEN t.payment_key IS NULL THEN 'missing_at_toss'
                    ELSE 'amount_differs' END,
               coalesce(o.captured, 0), coalesce(t.captured, 0), coalesce(o.refunded, 0), coalesce(t.refunded, 0)
             FROM ours o FULL JOIN theirs t ON t.payment_key = o.payment_key
             WHERE o.payment_key IS NULL OR t.payment_key IS NULL
                OR o.captured <> t.captured OR o.refunded <> t.refunded
             ORDER BY 1"
        ))
        .bind(r.period_from)
        .bind(r.period_to)
        .bind(r.event_id)
        .fetch_all(&mut *conn)
        .await?;
        sqlx::query("DROP TABLE toss_transactions").execute(&mut *conn).await?;
        for (key, order, difference, ours_captured, toss_captured, ours_refunded, toss_refunded) in differences {
            section.push(&[
                Cell::Text(key),
                Cell::Text(order),
                Cell::Text(difference),
                Cell::Money(ours_captured),
                Cell::Money(toss_captured),
                Cell::Money(ours_refunded),
                Cell::Money(toss_refunded),
            ])?;
        }
        Ok(())
    }

    async fn upload(
        &self,
        path: &Path,
        prefix: &str,
        name: &str,
        content_type: &str,
        rows: BTreeMap<String, u32>,
    ) -> anyhow::Result<FileFacts> {
        let (bytes, sha256) = digest(path)?;
        let key = format!("{prefix}{name}");
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .content_disposition(format!("attachment; filename=\"{name}\""))
            .body(ByteStream::from_path(path).await?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("storing {key}: {}", tiketi_shared::aws::describe(&e)))?;
        tracing::debug!(%key, bytes, "stored");
        Ok(FileFacts {
            name: name.to_owned(),
            key,
            content_type: content_type.to_owned(),
            bytes: i64::try_from(bytes)?,
            sha256,
            rows,
        })
    }

    /// Requests the daily settlement of the previous Korean day once it is over (30 minutes past
    /// midnight, so late events are in), unless it exists; answers the new report's id.
    pub async fn schedule_daily(&self, now: DateTime<Utc>) -> anyhow::Result<Option<Uuid>> {
        let today = now.with_timezone(&kst()).date_naive();
        let midnight = |day: NaiveDate| {
            day.and_time(NaiveTime::MIN).and_local_timezone(kst()).single().map(|d| d.with_timezone(&Utc))
        };
        let (Some(to), Some(from)) = (midnight(today), today.pred_opt().and_then(midnight)) else {
            return Ok(None);
        };
        if now < to + Duration::minutes(30) {
            return Ok(None);
        }
        let id: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO stats.reports (id, kind, status, period_from, period_to, requested_by, created_at)
             VALUES ($1, 'settlement', 'pending', $2, $3, 'schedule', $4)
             ON CONFLICT (kind, period_from, period_to) WHERE requested_by = 'schedule' DO NOTHING
             RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = id {
            self.build(id).await?;
        }
        Ok(id)
    }
}

fn add(t: &mut Totals, o: &OrderRow, tickets: i64) {
    if o.captured > 0 {
        t.orders += 1;
    }
    t.tickets += tickets;
    t.captured += o.captured;
    t.refunded += o.refunded;
}

/// A file's size and hex SHA-256, read in blocks.
fn digest(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
