//! PostgreSQL: the pool, and migrations kept per service in the service's own schema.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// A pool that connects lazily, so a process starts (and reports not-ready) while PostgreSQL is down.
pub fn pool(url: &SecretString, max_connections: u32) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(url.expose_secret())?)
}

/// Applies `migrator` inside `schema`. The schema is created if needed and sqlx's bookkeeping
/// table lives in it too, so each service's migrations are versioned independently.
pub async fn migrate(pool: &PgPool, schema: &str, migrator: &Migrator) -> anyhow::Result<()> {
    anyhow::ensure!(
        !schema.is_empty() && schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "schema name {schema:?} is not a plain identifier"
    );
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&mut *conn).await?;
    sqlx::query(&format!("SET search_path TO {schema}")).execute(&mut *conn).await?;
    let result = migrator.run(&mut *conn).await;
    sqlx::query("RESET search_path").execute(&mut *conn).await?;
    result.map_err(|e| anyhow::anyhow!("migrating schema {schema}: {e}"))
}
