//! The refresh engine, run by the worker: `cohorts.schedule` (recurring) queues a
//! `cohorts.refresh` for every dynamic cohort that is due (its interval elapsed, or new data
//! landed since it was computed), and `cohorts.refresh` re-evaluates one cohort: the new
//! membership in one set-based statement over the compiled filter, joiners and leavers
//! recorded, a size-history point, and the cohort's freshness fields. A failure keeps the
//! previous membership, shows in `last_error` and is retried with backoff.

use super::{CohortError, store, sync};
use crate::{
    conditions::{self, Catalogue, CompileOptions, Sql},
    config::Config,
    db::Db,
    jobs::{JobContext, JobError, JobHandler},
};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{BigInt, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::{sync::Arc, time::Instant};

/// `cohorts.schedule`: queues the refreshes that are due (one pending job per cohort).
pub struct ScheduleRefreshes {
    pub db: Db,
    pub config: Arc<Config>,
}

#[derive(QueryableByName)]
struct DueCohort {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[tonic::async_trait]
impl JobHandler for ScheduleRefreshes {
    fn kind(&self) -> &'static str {
        "cohorts.schedule"
    }

    async fn run(&self, _job: &JobContext) -> Result<(), JobError> {
        let mut tx = self.db.begin_system().await.map_err(JobError::retry)?;
        // Due: the interval elapsed (or never computed), or users, activity or identities
        // changed since the last refresh (a finished ETL batch).
        let due: Vec<DueCohort> = sql_query(
            "SELECT c.id FROM cdp.cohorts c \
             WHERE c.deleted_at IS NULL AND c.kind = 'dynamic' AND c.source = 'builder' \
               AND (c.next_refresh_at IS NULL OR c.next_refresh_at <= now() \
                    OR c.last_refreshed_at < (SELECT max(b.finished_at) FROM cdp.ingestion_batches b WHERE b.status = 'succeeded' AND b.finished_at <= now())) \
             ORDER BY c.next_refresh_at NULLS FIRST, c.id",
        )
        .load(&mut *tx)
        .await
        .map_err(JobError::retry)?;
        for cohort in &due {
            store::enqueue_refresh(&mut tx, cohort.id).await.map_err(JobError::retry)?;
        }
        // Sync runs whose job was given up (its workers kept dying) end as failed, visibly.
        sql_query(
            "UPDATE cdp.integration_sync_runs r SET status = 'failed', finished_at = now(), \
                    error = coalesce(j.last_error, r.error, 'the sync job was abandoned') \
             FROM cdp.jobs j WHERE r.job_id = j.id AND j.status = 'dead' AND r.status IN ('queued', 'running')",
        )
        .execute(&mut *tx)
        .await
        .map_err(JobError::retry)?;
        tx.commit().await.map_err(JobError::retry)?;
        if !due.is_empty() {
            tracing::info!(cohorts = due.len(), "queued due cohort refreshes");
        }
        Ok(())
    }
}

/// `cohorts.refresh` with payload `{"cohort_id": n}`.
pub struct RefreshCohortJob {
    pub db: Db,
    pub config: Arc<Config>,
}

/// Why an attempt did not refresh: retried, or final (a definition that no longer compiles).
enum RefreshFailure {
    Retry(String),
    Permanent(String),
}

impl From<CohortError> for RefreshFailure {
    fn from(err: CohortError) -> Self {
        match err {
            CohortError::InvalidField { field, reason } => RefreshFailure::Permanent(format!("the definition is no longer valid: {field}: {reason}")),
            other => RefreshFailure::Retry(other.to_string()),
        }
    }
}

/// What one refresh did.
#[derive(Debug, Clone, Copy)]
pub struct RefreshOutcome {
    pub delta: store::MembershipDelta,
    pub duration_ms: i32,
    /// The cohort's settings changed while it was evaluated: evaluate again.
    pub stale: bool,
}

#[derive(QueryableByName)]
struct UpdatedAt {
    #[diesel(sql_type = Timestamptz)]
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[tonic::async_trait]
impl JobHandler for RefreshCohortJob {
    fn kind(&self) -> &'static str {
        store::REFRESH_JOB
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let cohort_id =
            job.payload.get("cohort_id").and_then(serde_json::Value::as_i64).ok_or_else(|| JobError::Permanent("payload has no cohort_id".into()))?;
        match refresh_cohort(&self.db, &self.config, cohort_id, None).await {
            Ok(None) => Ok(()),
            Ok(Some(outcome)) if outcome.stale => Err(JobError::Retry("the definition changed while it was evaluated; evaluating it again".into())),
            Ok(Some(outcome)) => {
                if outcome.delta.joined + outcome.delta.left_count > 0 {
                    self.follow_up(cohort_id).await.map_err(|e| JobError::Retry(e.to_string()))?;
                }
                Ok(())
            }
            Err(failure) => {
                let (message, permanent) = match failure {
                    RefreshFailure::Retry(m) => (m, false),
                    RefreshFailure::Permanent(m) => (m, true),
                };
                tracing::warn!(cohort = cohort_id, attempt = job.attempt, error = %message, "cohort refresh failed");
                record_failure(&self.db, cohort_id, &message).await.map_err(JobError::retry)?;
                Err(if permanent { JobError::Permanent(message) } else { JobError::Retry(message) })
            }
        }
    }
}

impl RefreshCohortJob {
    /// After a change of membership: refresh the dynamic cohorts defined on this one, and
    /// sync it again to the targets it was synced to before (scheduled syncs).
    async fn follow_up(&self, cohort_id: i64) -> Result<(), CohortError> {
        let mut tx = self.db.begin_system().await?;
        for dependant in store::referencing_cohorts(&mut tx, cohort_id).await? {
            store::enqueue_refresh(&mut tx, dependant.id).await?;
        }
        sync::queue_scheduled_syncs(&mut tx, &self.config, cohort_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn record_failure(db: &Db, cohort_id: i64, message: &str) -> Result<(), CohortError> {
    let mut conn = db.conn().await?;
    sql_query("UPDATE cdp.cohorts SET last_error = $2 WHERE id = $1").bind::<BigInt, _>(cohort_id).bind::<Text, _>(message).execute(&mut *conn).await?;
    Ok(())
}

/// The users of a compiled filter, as the `new_members` query of [`store::replace_membership`].
pub fn matching_users(filter: &conditions::CompiledFilter) -> Sql {
    let mut sql = Sql::new("SELECT u.user_id FROM public.users u");
    sql.push_joins(filter).push(" WHERE ").push_filter(filter);
    sql
}

/// Re-evaluates one builder cohort (dynamic or static) as the table owner, as of `as_of` (a
/// reporting-zone day; `None`: today). `None` when there is nothing to do (deleted, or
/// imported: imports are refreshed by importing again).
async fn refresh_cohort(db: &Db, config: &Config, cohort_id: i64, as_of: Option<chrono::NaiveDate>) -> Result<Option<RefreshOutcome>, RefreshFailure> {
    let started = Instant::now();
    let mut tx = db.begin_system().await.map_err(|e| RefreshFailure::Retry(e.to_string()))?;
    let cohort = match store::find(&mut tx, cohort_id, true).await {
        Ok(cohort) => cohort,
        Err(CohortError::NotFound(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    if cohort.is_imported() {
        return Ok(None);
    }
    let tree = cohort.definition_tree()?;
    // The stored definition was checked when saved; a catalogue change can still break it.
    let mut options = CompileOptions::now("definition", config.reporting_tz).allow_pii(true);
    if let Some(day) = as_of {
        options.today = day;
    }
    let filter = conditions::compile(Catalogue::standard(), &tree, &options).map_err(CohortError::from)?;
    store::tune_for_scans(&mut tx).await?;
    let delta = store::replace_membership(&mut tx, cohort_id, &matching_users(&filter)).await?;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    store::record_evaluation(&mut tx, cohort_id, delta, duration_ms).await?;
    store::membership_changed(&mut tx, cohort_id, delta).await?;
    tx.commit().await.map_err(|e| RefreshFailure::Retry(e.to_string()))?;
    let stale = settings_changed_since(db, cohort_id, cohort.updated_at).await?;
    tracing::info!(cohort = cohort_id, size = delta.size, joined = delta.joined, left = delta.left_count, duration_ms, "cohort refreshed");
    Ok(Some(RefreshOutcome { delta, duration_ms, stale }))
}

/// Whether the cohort's settings changed after `seen` (an update that committed while the
/// refresh held its lock could not queue a refresh of its own: this one was still running).
async fn settings_changed_since(db: &Db, cohort_id: i64, seen: chrono::DateTime<chrono::Utc>) -> Result<bool, CohortError> {
    let mut conn = db.conn().await?;
    let rows: Vec<UpdatedAt> =
        sql_query("SELECT updated_at FROM cdp.cohorts WHERE id = $1 AND deleted_at IS NULL").bind::<BigInt, _>(cohort_id).load(&mut *conn).await?;
    Ok(rows.as_slice().first().is_some_and(|r| r.updated_at > seen))
}

/// Re-evaluates a cohort now, in the caller's task (benchmarks and tests of the engine).
pub async fn refresh_now(db: &Db, config: &Config, cohort_id: i64) -> Result<Option<RefreshOutcome>, CohortError> {
    refresh_cohort(db, config, cohort_id, None).await.map_err(|f| match f {
        RefreshFailure::Retry(m) | RefreshFailure::Permanent(m) => CohortError::Internal(m),
    })
}

/// Re-evaluates a cohort now, in the caller's task, with "today" (the anchor of every
/// "within the last N days") set to `as_of`: `cdp seed` replays the refreshes of a cohort's
/// past days with it. The evaluation is otherwise the worker's.
pub async fn refresh_as_of(db: &Db, config: &Config, cohort_id: i64, as_of: chrono::NaiveDate) -> Result<Option<RefreshOutcome>, CohortError> {
    refresh_cohort(db, config, cohort_id, Some(as_of)).await.map_err(|f| match f {
        RefreshFailure::Retry(m) | RefreshFailure::Permanent(m) => CohortError::Internal(m),
    })
}

/// Connection-level helper for tests: the current members of a cohort, sorted.
pub async fn member_ids(conn: &mut AsyncPgConnection, cohort_id: i64) -> Result<Vec<i64>, CohortError> {
    #[derive(QueryableByName)]
    struct Member {
        #[diesel(sql_type = BigInt)]
        user_id: i64,
    }
    let rows: Vec<Member> = sql_query("SELECT user_id::int8 AS user_id FROM cdp.cohort_members WHERE cohort_id = $1 ORDER BY user_id")
        .bind::<BigInt, _>(cohort_id)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|m| m.user_id).collect())
}
