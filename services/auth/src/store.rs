//! The SQL of the auth schema, one small function per statement.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use tiketi_shared::ids::UserId;
use tiketi_shared::token::UserRole;
use uuid::Uuid;

use crate::model::User;

#[derive(sqlx::FromRow)]
pub struct UserWithHash {
    #[sqlx(flatten)]
    pub user: User,
    pub password_hash: Option<String>,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: UserRole,
    pub password_hash: Option<&'a str>,
}

pub async fn insert_user(db: impl PgExecutor<'_>, new: &NewUser<'_>, now: DateTime<Utc>) -> sqlx::Result<User> {
    sqlx::query_as(
        "INSERT INTO auth.users (id, email, name, role, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         RETURNING id, email, name, role",
    )
    .bind(UserId::new())
    .bind(new.email)
    .bind(new.name)
    .bind(new.role)
    .bind(new.password_hash)
    .bind(now)
    .fetch_one(db)
    .await
}

/// Creates the account or makes the existing one an admin with this password.
pub async fn upsert_admin(pool: &PgPool, email: &str, password_hash: &str, now: DateTime<Utc>) -> sqlx::Result<User> {
    sqlx::query_as(
        "INSERT INTO auth.users (id, email, name, role, password_hash, created_at, updated_at)
         VALUES ($1, $2, 'Administrator', 'admin', $3, $4, $4)
         ON CONFLICT (email) DO UPDATE
            SET role = 'admin', password_hash = EXCLUDED.password_hash, updated_at = EXCLUDED.updated_at
         RETURNING id, email, name, role",
    )
    .bind(UserId::new())
    .bind(email)
    .bind(password_hash)
    .bind(now)
    .fetch_one(pool)
    .await
}

pub async fn user_by_email(pool: &PgPool, email: &str) -> sqlx::Result<Option<UserWithHash>> {
    sqlx::query_as("SELECT id, email, name, role, password_hash FROM auth.users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn user_by_id(db: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT id, email, name, role FROM auth.users WHERE id = $1").bind(id).fetch_optional(db).await
}

pub struct NewRefreshToken<'a> {
    pub family_id: Uuid,
    pub user_id: UserId,
    pub token_hash: &'a [u8],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_refresh_token(db: impl PgExecutor<'_>, new: &NewRefreshToken<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO auth.refresh_tokens (id, family_id, user_id, token_hash, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(new.family_id)
    .bind(new.user_id)
    .bind(new.token_hash)
    .bind(new.issued_at)
    .bind(new.expires_at)
    .execute(db)
    .await
    .map(drop)
}

/// Marks a live token spent — only if it is unspent, unrevoked and unexpired — and answers its
/// family and user. One statement, so two concurrent refreshes cannot both spend it.
pub async fn spend_refresh_token(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(Uuid, UserId)>> {
    sqlx::query_as(
        "UPDATE auth.refresh_tokens SET spent_at = $2
         WHERE token_hash = $1 AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > $2
         RETURNING family_id, user_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct RefreshTokenState {
    pub family_id: Uuid,
    pub spent: bool,
    pub revoked: bool,
}

pub async fn refresh_token_state(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<RefreshTokenState>> {
    sqlx::query_as(
        "SELECT family_id, spent_at IS NOT NULL AS spent, revoked_at IS NOT NULL AS revoked
         FROM auth.refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// Revokes every live token of a family; answers how many were live.
pub async fn revoke_family(pool: &PgPool, family_id: Uuid, now: DateTime<Utc>) -> sqlx::Result<u64> {
    sqlx::query("UPDATE auth.refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
        .bind(family_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}

pub async fn user_by_identity(db: impl PgExecutor<'_>, provider: &str, subject: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as(
        "SELECT u.id, u.email, u.name, u.role FROM auth.identities i
         JOIN auth.users u ON u.id = i.user_id
         WHERE i.provider = $1 AND i.subject = $2",
    )
    .bind(provider)
    .bind(subject)
    .fetch_optional(db)
    .await
}

pub async fn user_id_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<UserId>> {
    sqlx::query_scalar("SELECT id FROM auth.users WHERE email = $1").bind(email).fetch_optional(db).await
}

pub async fn link_identity(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
    user_id: UserId,
    email: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO auth.identities (provider, subject, user_id, email, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(provider)
    .bind(subject)
    .bind(user_id)
    .bind(email)
    .bind(now)
    .execute(db)
    .await
    .map(drop)
}

/// Deletes up to `batch` refresh tokens that expired before `before`; answers how many.
pub async fn purge_expired_refresh_tokens(pool: &PgPool, before: DateTime<Utc>, batch: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "DELETE FROM auth.refresh_tokens WHERE id IN (
            SELECT id FROM auth.refresh_tokens WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(before)
    .bind(batch)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
}
