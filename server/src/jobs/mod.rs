//! The durable job queue run by `cdp worker` (DESIGN §2). Capabilities register a
//! [`JobHandler`] per job kind and enqueue work with [`enqueue`], usually in the same
//! transaction as the state change that needs it (an outbox). Jobs are claimed with
//! `FOR UPDATE SKIP LOCKED` under a lease that the running worker renews; a job whose worker
//! died is claimed again when its lease runs out; failures retry with exponential backoff
//! until `max_attempts`, then the job is dead-lettered (`status = 'dead'`).

mod runner;

pub use runner::Worker;

use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Int4, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::{collections::HashMap, sync::Arc, time::Duration};

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    /// Not before this time (a schedule); now when `None`.
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    /// At most one queued or running job per (kind, dedupe_key).
    pub dedupe_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: &'static str, payload: serde_json::Value) -> Self {
        NewJob { kind, payload, run_at: None, max_attempts: 8, dedupe_key: None }
    }
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts;
        self
    }
    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

#[derive(QueryableByName)]
struct InsertedId {
    #[diesel(sql_type = diesel::sql_types::Int8)]
    id: i64,
}

/// Enqueues `job` on `conn` (inside the caller's transaction, so it commits with the change
/// that asked for it). Returns `None` when a pending job with the same dedupe key exists.
pub async fn enqueue(conn: &mut AsyncPgConnection, job: NewJob) -> diesel::QueryResult<Option<i64>> {
    let inserted: Vec<InsertedId> = sql_query(
        "INSERT INTO cdp.jobs (kind, payload, run_at, max_attempts, dedupe_key) \
         VALUES ($1, $2, coalesce($3, now()), $4, $5) \
         ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING \
         RETURNING id",
    )
    .bind::<Text, _>(job.kind)
    .bind::<Jsonb, _>(&job.payload)
    .bind::<Nullable<Timestamptz>, _>(job.run_at)
    .bind::<Int4, _>(job.max_attempts)
    .bind::<Nullable<Text>, _>(job.dedupe_key.as_deref())
    .load(conn)
    .await?;
    Ok(inserted.into_iter().next().map(|row| row.id))
}

/// What a handler is given to run one attempt of a job.
#[derive(Clone, Debug)]
pub struct JobContext {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// 1 on the first attempt.
    pub attempt: i32,
    pub max_attempts: i32,
}

/// A failed attempt. `Retry` is retried with backoff; `Permanent` goes straight to dead.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retry(err: impl std::fmt::Display) -> Self {
        JobError::Retry(err.to_string())
    }
}

/// The code that runs one kind of job. Handlers must be idempotent: a job whose worker died
/// mid-run is run again.
#[tonic::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> &'static str;

    async fn run(&self, job: &JobContext) -> Result<(), JobError>;

    /// Delay before the next attempt after `attempt` failed: 2^attempt seconds, at most 1 h.
    fn retry_delay(&self, attempt: i32) -> Duration {
        Duration::from_secs(2u64.saturating_pow(attempt.clamp(0, 12) as u32).min(3600))
    }
}

/// The job kinds a worker runs.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    /// Kinds that run on a period: one pending run is always queued (dedupe key `recurring`),
    /// and each finished run queues the next.
    recurring: HashMap<&'static str, Duration>,
}

/// The dedupe key of the pending run of a recurring kind.
pub const RECURRING_KEY: &str = "recurring";

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(mut self, handler: impl JobHandler) -> Self {
        let kind = handler.kind();
        assert!(self.handlers.insert(kind, Arc::new(handler)).is_none(), "job kind {kind} registered twice");
        self
    }

    /// Registers `handler` to run every `every` (first run as soon as a worker starts).
    pub fn recurring(mut self, handler: impl JobHandler, every: Duration) -> Self {
        let kind = handler.kind();
        self.recurring.insert(kind, every);
        self.register(handler)
    }

    pub fn recurring_kinds(&self) -> Vec<(&'static str, Duration)> {
        self.recurring.iter().map(|(k, d)| (*k, *d)).collect()
    }

    fn period(&self, kind: &str) -> Option<Duration> {
        self.recurring.get(kind).copied()
    }

    pub fn kinds(&self) -> Vec<String> {
        self.handlers.keys().map(|k| k.to_string()).collect()
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }
}
