//! Finance report requests: `POST` records a pending report and queues it for the
//! `stats-report` function, which writes the files to S3 and marks it ready (or failed); the
//! answers list them with presigned download links, valid for a few minutes.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tiketi_shared::aws::{Queue, describe};
use tiketi_shared::error::Problem;
use tiketi_shared::extract::Path;
use tiketi_shared::ids::EventId;
use tiketi_shared::messages::ReportRequested;
use tiketi_shared::token::AdminUser;
use tiketi_shared::{ApiError, ApiResult, ErrorCode, FieldError, Json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::StatsState;

/// The longest period one report covers.
const MOST_DAYS: i64 = 366;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// Orders, totals per event and per day, and the reconciliation with Toss.
    Settlement,
    /// Orders and totals, without the reconciliation.
    Sales,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Settlement => "settlement",
            ReportKind::Sales => "sales",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    pub kind: ReportKind,
    /// RFC 3339, inclusive.
    pub from: DateTime<Utc>,
    /// RFC 3339, exclusive.
    pub to: DateTime<Utc>,
    /// One event's orders only.
    pub event_id: Option<EventId>,
}

/// One file of a ready report, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    /// The S3 object key.
    pub key: String,
    pub content_type: String,
    pub bytes: i64,
    pub sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportFile {
    pub name: String,
    pub content_type: String,
    pub bytes: i64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// A time-limited download link.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    pub id: Uuid,
    pub kind: ReportKind,
    /// `pending`, `ready` or `failed`.
    pub status: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub event_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub failure: Option<String>,
    /// The CSV files, the XLSX and `manifest.json`, once ready.
    pub files: Vec<ReportFile>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportEnvelope {
    pub report: Report,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub items: Vec<Report>,
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: Uuid,
    kind: String,
    status: String,
    period_from: DateTime<Utc>,
    period_to: DateTime<Utc>,
    event_id: Option<Uuid>,
    files: sqlx::types::Json<Vec<StoredFile>>,
    failure: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, status, period_from, period_to, event_id, files, failure, created_at, completed_at";

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError { field: field.into(), message: message.into() }])
}

/// Request a report; it is built in the background.
#[utoipa::path(post, path = "/api/admin/reports", tag = "reports", security(("bearer" = [])), request_body = ReportInput,
    responses((status = 202, body = ReportEnvelope), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem)))]
pub async fn request(
    State(state): State<StatsState>,
    AdminUser(admin): AdminUser,
    Json(input): Json<ReportInput>,
) -> ApiResult<impl IntoResponse> {
    if input.from >= input.to {
        return Err(invalid("from", "must be before `to`"));
    }
    if input.to - input.from > chrono::Duration::days(MOST_DAYS) {
        return Err(invalid("to", "a report covers at most 366 days"));
    }
    if let Some(event) = input.event_id {
        let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stats.events WHERE id = $1)")
            .bind(event)
            .fetch_one(&state.pool)
            .await?;
        if !known {
            return Err(invalid("event_id", "no such event"));
        }
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO stats.reports (id, kind, status, period_from, period_to, event_id, requested_by, created_at)
         VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(input.kind.as_str())
    .bind(input.from)
    .bind(input.to)
    .bind(input.event_id)
    .bind(admin.sub.to_string())
    .bind(state.clock.now())
    .execute(&state.pool)
    .await?;
    enqueue(&state, id).await?;
    let report = load(&state, id).await?;
    Ok((StatusCode::ACCEPTED, Json(ReportEnvelope { report })))
}

/// Queues a report for building. A report whose message is lost stays pending; asking again
/// makes a new one.
async fn enqueue(state: &StatsState, id: Uuid) -> ApiResult<()> {
    let body = serde_json::to_string(&ReportRequested { report_id: id }).map_err(ApiError::internal)?;
    let sent =
        state.aws.sqs.send_message().queue_url(state.located.queue(Queue::Reports)).message_body(body).send().await;
    if let Err(e) = sent {
        tracing::warn!(report = %id, error = %describe(&e), "queueing a report failed");
        sqlx::query("UPDATE stats.reports SET status = 'failed', failure = 'could not be queued' WHERE id = $1")
            .bind(id)
            .execute(&state.pool)
            .await?;
        return Err(ApiError::new(ErrorCode::ServiceUnavailable).retry_after(5));
    }
    Ok(())
}

/// Reports, newest first (the last 100).
#[utoipa::path(get, path = "/api/admin/reports", operation_id = "list_reports", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = ReportList), (status = 403, body = Problem)))]
pub async fn list(State(state): State<StatsState>, _admin: AdminUser) -> ApiResult<Json<ReportList>> {
    let rows: Vec<ReportRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM stats.reports ORDER BY created_at DESC, id DESC LIMIT 100"))
            .fetch_all(&state.pool)
            .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(render(&state, row).await?);
    }
    Ok(Json(ReportList { items }))
}

/// One report, with fresh download links when it is ready.
#[utoipa::path(get, path = "/api/admin/reports/{id}", operation_id = "get_report", tag = "reports", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ReportEnvelope), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<StatsState>,
    _admin: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ReportEnvelope>> {
    Ok(Json(ReportEnvelope { report: load(&state, id).await? }))
}

async fn load(state: &StatsState, id: Uuid) -> ApiResult<Report> {
    let row: Option<ReportRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM stats.reports WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.pool)
        .await?;
    render(state, row.ok_or_else(|| ApiError::new(ErrorCode::NotFound).detail("no such report"))?).await
}

async fn render(state: &StatsState, row: ReportRow) -> ApiResult<Report> {
    let mut files = Vec::with_capacity(row.files.0.len());
    for file in row.files.0 {
        let url = presign(state, &file.key, state.settings.download_valid).await?;
        files.push(ReportFile {
            name: file.name,
            content_type: file.content_type,
            bytes: file.bytes,
            sha256: file.sha256,
            url,
        });
    }
    Ok(Report {
        id: row.id,
        kind: if row.kind == "sales" { ReportKind::Sales } else { ReportKind::Settlement },
        status: row.status,
        from: row.period_from,
        to: row.period_to,
        event_id: row.event_id,
        created_at: row.created_at,
        completed_at: row.completed_at,
        failure: row.failure,
        files,
    })
}

/// A GET link to one object of the reports bucket (signed locally: no call to S3).
async fn presign(state: &StatsState, key: &str, valid: Duration) -> ApiResult<String> {
    let config = PresigningConfig::expires_in(valid).map_err(ApiError::internal)?;
    let presigned = state
        .aws
        .s3
        .get_object()
        .bucket(state.aws.names.reports_bucket())
        .key(key)
        .presigned(config)
        .await
        .map_err(ApiError::internal)?;
    Ok(presigned.uri().to_owned())
}
