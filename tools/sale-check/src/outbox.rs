//! `outbox`: every domain event written to an outbox was published and reached every consumer
//! that records what it received.
//!
//! The relay marks a row `published_at` once SNS took it; the topic fans out to every consumer's
//! queue. Two consumers record event ids: the stats role records every event it receives in
//! `stats.applied_events` (unknown kinds too), and the worker records in
//! `worker.consumed_events` the one kind it acts on, `reservation.held` (it schedules the hold's
//! expiry); it takes every other kind off its queue without a trace, so whether those reached it
//! cannot be seen afterwards. Every payload names its `event_id`, which scopes the rows.

use sqlx::PgPool;

use crate::Context;
use crate::report::{Finding, Invariant, Offences};

/// The outboxes the relay reads.
const SCHEMAS: [&str; 2] = ["ticket", "payment"];

/// `$1` = the events in scope.
const IN_SCOPE: &str = "(o.payload->>'event_id')::uuid = ANY($1)";

/// The worker forgets consumed ids after 15 days; older events cannot be checked against it.
const WORKER_MEMORY_DAYS: i32 = 14;

async fn exists(pool: &PgPool, table: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(pool).await
}

pub async fn check(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let mut offences = Offences::default();
    let mut notes = Vec::new();
    let stats = exists(&ctx.pool, "stats.applied_events").await?;
    let worker = exists(&ctx.pool, "worker.consumed_events").await?;
    if !stats {
        notes.push("stats consumer not checked: there is no stats.applied_events".into());
    }
    if !worker {
        notes.push("worker consumer not checked: there is no worker.consumed_events".into());
    }

    for schema in SCHEMAS {
        if !exists(&ctx.pool, &format!("{schema}.outbox")).await? {
            notes.push(format!("{schema}.outbox not checked: there is no such table"));
            continue;
        }
        let (rows, unpublished): (i64, i64) = sqlx::query_as(&format!(
            "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM {schema}.outbox o WHERE {IN_SCOPE}"
        ))
        .bind(&ctx.events)
        .fetch_one(&ctx.pool)
        .await?;
        notes.push(format!("{schema}.outbox: {rows} events, {unpublished} unpublished"));

        let never: Vec<(uuid::Uuid, String)> = sqlx::query_as(&format!(
            "SELECT id, kind FROM {schema}.outbox o WHERE published_at IS NULL AND {IN_SCOPE} ORDER BY created_at, id"
        ))
        .bind(&ctx.events)
        .fetch_all(&ctx.pool)
        .await?;
        for (id, kind) in &never {
            offences.push(format!("{schema}.outbox event {id} ({kind}) was never published"));
        }

        if stats {
            let missing: Vec<(uuid::Uuid, String)> = sqlx::query_as(&format!(
                "SELECT id, kind FROM {schema}.outbox o WHERE published_at IS NOT NULL AND {IN_SCOPE}
                   AND NOT EXISTS (SELECT 1 FROM stats.applied_events a WHERE a.id = o.id)
                 ORDER BY created_at, id"
            ))
            .bind(&ctx.events)
            .fetch_all(&ctx.pool)
            .await?;
            for (id, kind) in &missing {
                offences.push(format!("{schema}.outbox event {id} ({kind}) was published but never reached stats"));
            }
        }

        if worker {
            let missing: Vec<(uuid::Uuid, String)> = sqlx::query_as(&format!(
                "SELECT id, kind FROM {schema}.outbox o
                 WHERE published_at IS NOT NULL AND kind = 'reservation.held' AND {IN_SCOPE}
                   AND published_at > $2::timestamptz - make_interval(days => $3)
                   AND NOT EXISTS (SELECT 1 FROM worker.consumed_events c WHERE c.event_id = o.id)
                 ORDER BY created_at, id"
            ))
            .bind(&ctx.events)
            .bind(ctx.now)
            .bind(WORKER_MEMORY_DAYS)
            .fetch_all(&ctx.pool)
            .await?;
            for (id, kind) in &missing {
                offences
                    .push(format!("{schema}.outbox event {id} ({kind}) was published but never reached the worker"));
            }
        }
    }
    notes.push(
        "the worker records only reservation.held (the kind it acts on): other kinds' delivery to it is not \
         observable; SQS dead-letter queues are not read; rows pruned after the relay's retention are gone"
            .into(),
    );
    Ok(Finding::from_offences(Invariant::Outbox, offences, notes))
}
