//! PostgreSQL access: the connection pool, embedded migrations, and the transaction guard that
//! runs a request's work as the non-owner role `cdp_app` with the caller's JWT claims, so the
//! row-level security policies of the database apply (DESIGN §4).

use diesel::{sql_query, sql_types::Text};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager,
    async_connection_wrapper::AsyncConnectionWrapper,
    pooled_connection::{
        AsyncDieselConnectionManager,
        deadpool::{Object, Pool},
    },
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::ops::{Deref, DerefMut};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

pub type Conn = AsyncPgConnection;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl From<DbError> for tonic::Status {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Pool(msg) => {
                tracing::error!(error = %msg, "database unavailable");
                tonic::Status::unavailable("the database is unavailable; retry shortly")
            }
            DbError::Query(err) => crate::error::internal(err),
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
}

impl Db {
    pub fn connect(database_url: &str, max_size: usize) -> Result<Self, DbError> {
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
        let pool = Pool::builder(manager).max_size(max_size).build().map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Db { pool })
    }

    pub async fn conn(&self) -> Result<Object<AsyncPgConnection>, DbError> {
        self.pool.get().await.map_err(|e| DbError::Pool(e.to_string()))
    }

    /// Begins a transaction as the table owner: no RLS. Only for the worker, migrations and
    /// the authentication steps that run before a caller is known.
    pub async fn begin_system(&self) -> Result<Tx, DbError> {
        let mut conn = self.conn().await?;
        diesel_async::AnsiTransactionManager::begin_transaction(&mut *conn).await?;
        Ok(Tx { conn: Some(conn) })
    }

    /// Begins a transaction as `cdp_app` carrying `claims` (the verified JWT claims, or the
    /// service credential's), exactly as PostgREST does on Supabase.
    pub async fn begin_as(&self, claims: &serde_json::Value) -> Result<Tx, DbError> {
        let tx = self.begin_system().await?;
        Self::act_as(tx, claims).await
    }

    /// [`Self::begin_as`] for a read-only transaction whose statements all see one snapshot
    /// (REPEATABLE READ), taken by its first statement.
    pub async fn begin_snapshot_as(&self, claims: &serde_json::Value) -> Result<Tx, DbError> {
        let mut tx = self.begin_system().await?;
        sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        Self::act_as(tx, claims).await
    }

    async fn act_as(mut tx: Tx, claims: &serde_json::Value) -> Result<Tx, DbError> {
        sql_query("SELECT set_config('role', 'cdp_app', true), set_config('request.jwt.claims', $1, true)")
            .bind::<Text, _>(claims.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// An open transaction on a pooled connection. `commit` ends it; dropping it without a commit
/// (an early `?` return) rolls it back before the connection goes back to the pool.
pub struct Tx {
    conn: Option<Object<AsyncPgConnection>>,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), DbError> {
        let mut conn = self.conn.take().expect("a Tx holds its connection until commit or drop");
        diesel_async::AnsiTransactionManager::commit_transaction(&mut *conn).await?;
        Ok(())
    }
}

impl Deref for Tx {
    type Target = AsyncPgConnection;
    fn deref(&self) -> &AsyncPgConnection {
        self.conn.as_deref().expect("a Tx holds its connection until commit or drop")
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        self.conn.as_deref_mut().expect("a Tx holds its connection until commit or drop")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // Roll back off the request path; if that fails the pool discards the connection.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = diesel_async::AnsiTransactionManager::rollback_transaction(&mut *conn).await;
                });
            }
        }
    }
}

/// Applies every pending migration of `migrations/`. Diesel's harness is synchronous, so it
/// runs on a blocking thread over diesel-async's connection wrapper (no libpq needed).
pub async fn migrate(database_url: &str) -> anyhow::Result<Vec<String>> {
    create_database_if_missing(database_url).await?;
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        use diesel::Connection;
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&url)?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(applied.iter().map(|m| m.to_string()).collect())
    })
    .await?
}

/// A fresh machine has the PostgreSQL server but not our database: create it, so that
/// `make up` works from nothing. Any other connection error is reported as it is.
async fn create_database_if_missing(database_url: &str) -> anyhow::Result<()> {
    let missing = match AsyncPgConnection::establish(database_url).await {
        Ok(_) => return Ok(()),
        Err(err) => err.to_string().contains("does not exist"),
    };
    let (server, name) = database_url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("DATABASE_URL has no database name"))?;
    let name = name.split('?').next().unwrap_or(name);
    if !missing || name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("cannot connect to DATABASE_URL");
    }
    let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres")).await?;
    sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    tracing::info!(database = name, "created the database");
    Ok(())
}

/// Opens one dedicated connection (not pooled), e.g. for COPY or administrative statements.
pub async fn connect_one(database_url: &str) -> Result<AsyncPgConnection, DbError> {
    AsyncPgConnection::establish(database_url).await.map_err(|e| DbError::Pool(e.to_string()))
}
