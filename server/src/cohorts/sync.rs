//! Cohort syncs to Amplitude and Braze (DESIGN §5): SyncCohort queues a run (one pending run
//! per cohort and target) and the worker's `cohorts.sync` job sends only the difference
//! between the cohort and what the target already holds (`cdp.cohort_sync_members`, updated
//! as each request is accepted), so a run that fails half-way is resumed by its retry with no
//! duplicate and no lost member. Members without an id on the target, and suspended users,
//! are not sent.
//!
//! - Braze: `POST /users/track`, 75 attribute objects per request, each adding or removing
//!   the cohort's slug in the `cdp_cohorts` array attribute, `_update_existing_only: true`.
//! - Amplitude: the first sync creates the cohort with `POST /api/3/cohorts/upload`; later
//!   ones send ADD / REMOVE deltas with `POST /api/3/cohorts/membership` (a delta, unlike a
//!   re-upload, does not resend the whole cohort, and keeps the Amplitude cohort id stable),
//!   100,000 ids per request.

use super::{CohortError, store};
use crate::{
    config::Config,
    db::Db,
    integrations::{
        amplitude::{AmplitudeClient, MAX_IDS_PER_REQUEST, MembershipOperation},
        braze::{BrazeClient, MAX_ATTRIBUTES_PER_REQUEST},
    },
    jobs::{JobContext, JobError, JobHandler, NewJob, enqueue},
};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Integer, Nullable, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use std::{sync::Arc, time::Instant};
use uuid::Uuid;

pub const SYNC_JOB: &str = "cohorts.sync";
/// Braze requests in flight at once during a sync.
const BRAZE_CONCURRENCY: usize = 8;

/// FAILED_PRECONDITION INTEGRATION_NOT_CONFIGURED unless `target` can be synced to.
pub fn ensure_configured(config: &Config, target: &str) -> Result<(), CohortError> {
    match target {
        "braze" if config.braze.is_none() => Err(CohortError::not_configured("Braze is not configured: set CDP_BRAZE_REST_URL and CDP_BRAZE_API_KEY")),
        "amplitude" => match &config.amplitude {
            None => Err(CohortError::not_configured("Amplitude is not configured: set CDP_AMPLITUDE_API_KEY and CDP_AMPLITUDE_SECRET_KEY")),
            Some(a) if a.app_id.is_none() || a.cohort_owner.is_none() => Err(CohortError::not_configured(
                "uploading cohorts to Amplitude needs the project's app id and an owner: set CDP_AMPLITUDE_APP_ID and CDP_AMPLITUDE_COHORT_OWNER",
            )),
            Some(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

#[derive(QueryableByName)]
struct RunId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Queues a sync run of `cohort_id` to `target` with its job, or finds the pending one.
/// Returns (run id, whether it was queued now).
pub async fn queue_run(conn: &mut AsyncPgConnection, cohort_id: i64, target: &str, requested_by: Option<Uuid>) -> Result<(i64, bool), CohortError> {
    let inserted: Vec<RunId> = sql_query(
        "INSERT INTO cdp.integration_sync_runs (integration, operation, resource_type, resource_id, status, requested_by) \
         VALUES ($1, 'cohort_sync', 'cohort', $2::text, 'queued', $3) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind::<Text, _>(target)
    .bind::<BigInt, _>(cohort_id)
    .bind::<Nullable<SqlUuid>, _>(requested_by)
    .load(conn)
    .await?;
    if let Some(run) = inserted.as_slice().first() {
        let job = NewJob::new(SYNC_JOB, json!({ "run_id": run.id })).max_attempts(6).dedupe_key(format!("run:{}", run.id));
        enqueue(conn, job).await?;
        return Ok((run.id, true));
    }
    let pending: Vec<RunId> = sql_query(
        "SELECT id FROM cdp.integration_sync_runs WHERE integration = $1 AND resource_id = $2::text AND operation = 'cohort_sync' \
           AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
    )
    .bind::<Text, _>(target)
    .bind::<BigInt, _>(cohort_id)
    .load(conn)
    .await?;
    pending.as_slice().first().map(|r| (r.id, false)).ok_or_else(|| CohortError::Internal("a sync run conflicted but none is pending".into()))
}

#[derive(QueryableByName)]
struct TargetName {
    #[diesel(sql_type = Text)]
    target: String,
}

/// After a refresh changed a cohort: sync it again to every target it was synced to (runs
/// with no requester; an already pending run is left as it is).
pub async fn queue_scheduled_syncs(conn: &mut AsyncPgConnection, config: &Config, cohort_id: i64) -> Result<(), CohortError> {
    let targets: Vec<TargetName> = sql_query("SELECT target FROM cdp.cohort_sync_targets WHERE cohort_id = $1 AND last_success_run_id IS NOT NULL")
        .bind::<BigInt, _>(cohort_id)
        .load(conn)
        .await?;
    for t in targets {
        if ensure_configured(config, &t.target).is_ok() {
            queue_run(conn, cohort_id, &t.target, None).await?;
        }
    }
    Ok(())
}

/// The value a cohort is known by in Braze's `cdp_cohorts` attribute: a slug of its name and
/// its id, fixed at the first sync.
pub fn braze_slug(name: &str, id: i64) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let slug: String = slug.trim_end_matches('_').chars().take(40).collect();
    if slug.is_empty() { format!("cohort_{id}") } else { format!("{}_{id}", slug.trim_end_matches('_')) }
}

/// `cohorts.sync` with payload `{"run_id": n}`.
pub struct SyncCohortJob {
    pub db: Db,
    pub config: Arc<Config>,
    pub http: reqwest::Client,
}

#[derive(QueryableByName)]
struct RunToDo {
    #[diesel(sql_type = Text)]
    integration: String,
    #[diesel(sql_type = Text)]
    resource_id: String,
    #[diesel(sql_type = Text)]
    status: String,
}

/// A failed attempt: retried unless permanent.
struct SyncFailure {
    message: String,
    permanent: bool,
}

impl SyncFailure {
    fn retry(message: impl std::fmt::Display) -> Self {
        SyncFailure { message: message.to_string(), permanent: false }
    }
    fn permanent(message: impl std::fmt::Display) -> Self {
        SyncFailure { message: message.to_string(), permanent: true }
    }
}

impl From<CohortError> for SyncFailure {
    fn from(err: CohortError) -> Self {
        SyncFailure::retry(err)
    }
}

impl From<diesel::result::Error> for SyncFailure {
    fn from(err: diesel::result::Error) -> Self {
        SyncFailure::retry(err)
    }
}

impl From<crate::db::DbError> for SyncFailure {
    fn from(err: crate::db::DbError) -> Self {
        SyncFailure::retry(err)
    }
}

#[tonic::async_trait]
impl JobHandler for SyncCohortJob {
    fn kind(&self) -> &'static str {
        SYNC_JOB
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let run_id = job.payload.get("run_id").and_then(Value::as_i64).ok_or_else(|| JobError::Permanent("payload has no run_id".into()))?;
        let mut conn = self.db.conn().await.map_err(JobError::retry)?;
        let runs: Vec<RunToDo> = sql_query("SELECT integration, resource_id, status FROM cdp.integration_sync_runs WHERE id = $1")
            .bind::<BigInt, _>(run_id)
            .load(&mut *conn)
            .await
            .map_err(JobError::retry)?;
        let Some(run) = runs.into_iter().next() else { return Ok(()) };
        if matches!(run.status.as_str(), "succeeded" | "failed") {
            return Ok(());
        }
        sql_query(
            "UPDATE cdp.integration_sync_runs SET status = 'running', started_at = coalesce(started_at, now()), attempts = $2, job_id = $3 WHERE id = $1",
        )
        .bind::<BigInt, _>(run_id)
        .bind::<Integer, _>(job.attempt)
        .bind::<BigInt, _>(job.id)
        .execute(&mut *conn)
        .await
        .map_err(JobError::retry)?;
        drop(conn);
        let started = Instant::now();
        let cohort_id: i64 = run.resource_id.parse().map_err(|_| JobError::Permanent(format!("run {run_id} names no cohort")))?;
        let outcome = self.sync(run_id, cohort_id, &run.integration).await;
        let mut conn = self.db.conn().await.map_err(JobError::retry)?;
        match outcome {
            Ok(external_id) => {
                sql_query(
                    "WITH run AS (UPDATE cdp.integration_sync_runs SET status = 'succeeded', finished_at = now(), error = NULL, external_id = $2, \
                                    counts = counts || jsonb_build_object('duration_ms', $3::bigint) WHERE id = $1 RETURNING id) \
                     UPDATE cdp.cohort_sync_targets SET last_success_run_id = $1, last_synced_at = now() WHERE cohort_id = $4 AND target = $5",
                )
                .bind::<BigInt, _>(run_id)
                .bind::<Nullable<Text>, _>(external_id)
                .bind::<BigInt, _>(started.elapsed().as_millis() as i64)
                .bind::<BigInt, _>(cohort_id)
                .bind::<Text, _>(&run.integration)
                .execute(&mut *conn)
                .await
                .map_err(JobError::retry)?;
                tracing::info!(run = run_id, cohort = cohort_id, target = %run.integration, "cohort sync succeeded");
                Ok(())
            }
            Err(failure) => {
                let last = failure.permanent || job.attempt >= job.max_attempts;
                tracing::warn!(run = run_id, cohort = cohort_id, target = %run.integration, attempt = job.attempt, error = %failure.message, "cohort sync attempt failed");
                // Until its retries are spent the run waits (queued) for the next attempt.
                sql_query("UPDATE cdp.integration_sync_runs SET status = $2, error = $3, finished_at = CASE WHEN $2 = 'failed' THEN now() END WHERE id = $1")
                    .bind::<BigInt, _>(run_id)
                    .bind::<Text, _>(if last { "failed" } else { "queued" })
                    .bind::<Text, _>(&failure.message)
                    .execute(&mut *conn)
                    .await
                    .map_err(JobError::retry)?;
                Err(if failure.permanent { JobError::Permanent(failure.message) } else { JobError::Retry(failure.message) })
            }
        }
    }
}

/// Who to add and remove on a target, and how many members have no id there.
#[derive(QueryableByName, Debug)]
struct Delta {
    #[diesel(sql_type = Array<Integer>)]
    to_add: Vec<i32>,
    #[diesel(sql_type = Array<Integer>)]
    to_remove: Vec<i32>,
    #[diesel(sql_type = BigInt)]
    unmatched: i64,
}

#[derive(QueryableByName)]
struct ExternalId {
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
}

impl SyncCohortJob {
    /// One attempt; returns the id the target knows the cohort by.
    async fn sync(&self, run_id: i64, cohort_id: i64, target: &str) -> Result<Option<String>, SyncFailure> {
        ensure_configured(&self.config, target).map_err(SyncFailure::permanent)?;
        let mut conn = self.db.conn().await?;
        let cohort = match store::find(&mut conn, cohort_id, false).await {
            Ok(cohort) => cohort,
            Err(CohortError::NotFound(_)) => return Err(SyncFailure::permanent("the cohort was deleted")),
            Err(err) => return Err(err.into()),
        };
        let initial_external = (target == "braze").then(|| braze_slug(&cohort.name, cohort.id));
        sql_query("INSERT INTO cdp.cohort_sync_targets (cohort_id, target, external_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind::<BigInt, _>(cohort_id)
            .bind::<Text, _>(target)
            .bind::<Nullable<Text>, _>(&initial_external)
            .execute(&mut *conn)
            .await?;
        let external_id = sql_query("SELECT external_id FROM cdp.cohort_sync_targets WHERE cohort_id = $1 AND target = $2")
            .bind::<BigInt, _>(cohort_id)
            .bind::<Text, _>(target)
            .get_result::<ExternalId>(&mut *conn)
            .await?
            .external_id;
        let delta = compute_delta(&mut conn, cohort_id, target).await?;
        drop(conn);
        sql_query("UPDATE cdp.integration_sync_runs SET counts = counts || jsonb_build_object('unmatched', $2::bigint), external_id = $3 WHERE id = $1")
            .bind::<BigInt, _>(run_id)
            .bind::<BigInt, _>(delta.unmatched)
            .bind::<Nullable<Text>, _>(&external_id)
            .execute(&mut *self.db.conn().await?)
            .await?;
        let progress = Progress { db: &self.db, run_id, cohort_id, target };
        match target {
            "braze" => {
                let slug = external_id.ok_or_else(|| SyncFailure::permanent("the Braze attribute value of this cohort is missing"))?;
                let config = self.config.braze.as_ref().ok_or_else(|| SyncFailure::permanent("Braze is not configured"))?;
                let client = BrazeClient::new(config, self.http.clone());
                send_to_braze(&client, &slug, &delta, &progress).await?;
                Ok(Some(slug))
            }
            "amplitude" => {
                let config = self.config.amplitude.as_ref().ok_or_else(|| SyncFailure::permanent("Amplitude is not configured"))?;
                let client = AmplitudeClient::new(config, self.http.clone());
                let (app_id, owner) = match (config.app_id, config.cohort_owner.as_deref()) {
                    (Some(app_id), Some(owner)) => (app_id, owner),
                    _ => return Err(SyncFailure::permanent("CDP_AMPLITUDE_APP_ID and CDP_AMPLITUDE_COHORT_OWNER are needed to upload cohorts")),
                };
                let id = send_to_amplitude(&client, external_id, &cohort.name, app_id, owner, &delta, &progress).await?;
                Ok(Some(id))
            }
            other => Err(SyncFailure::permanent(format!("unknown sync target {other:?}"))),
        }
    }
}

/// The difference between the cohort (minus suspended users) and what `target` holds.
async fn compute_delta(conn: &mut AsyncPgConnection, cohort_id: i64, target: &str) -> Result<Delta, SyncFailure> {
    // The id column that says the user exists on the target.
    let identity = match target {
        "braze" => "i.braze_id",
        _ => "i.amplitude_id",
    };
    let sql = format!(
        "WITH eligible AS MATERIALIZED ( \
           SELECT m.user_id, coalesce({identity}, '') <> '' AS matched FROM cdp.cohort_members m \
           LEFT JOIN cdp.identities i ON i.user_id = m.user_id \
           LEFT JOIN cdp.user_attributes a ON a.user_id = m.user_id \
           WHERE m.cohort_id = $1 AND coalesce(a.account_status, 'active') <> 'suspended'), \
         held AS MATERIALIZED (SELECT user_id FROM cdp.cohort_sync_members WHERE cohort_id = $1 AND target = $2) \
         SELECT \
           coalesce((SELECT array_agg(e.user_id ORDER BY e.user_id) FROM eligible e \
                     WHERE e.matched AND NOT EXISTS (SELECT 1 FROM held h WHERE h.user_id = e.user_id)), '{{}}') AS to_add, \
           coalesce((SELECT array_agg(h.user_id ORDER BY h.user_id) FROM held h \
                     WHERE NOT EXISTS (SELECT 1 FROM eligible e WHERE e.user_id = h.user_id)), '{{}}') AS to_remove, \
           (SELECT count(*) FROM eligible e WHERE NOT e.matched AND NOT EXISTS (SELECT 1 FROM held h WHERE h.user_id = e.user_id)) AS unmatched"
    );
    // Both sides are whole memberships (see store::without_nested_loops; a plan with nested
    // loops ran over four minutes here), in a transaction of its own for the setting.
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    AnsiTransactionManager::begin_transaction(conn).await?;
    let delta = async {
        store::without_nested_loops(&mut *conn).await?;
        sql_query(sql).bind::<BigInt, _>(cohort_id).bind::<Text, _>(target).get_result::<Delta>(&mut *conn).await
    }
    .await;
    match delta {
        Ok(delta) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(delta)
        }
        Err(err) => {
            AnsiTransactionManager::rollback_transaction(conn).await?;
            Err(err.into())
        }
    }
}

/// Records what a target accepted: the users it now holds (or no longer holds) and the run's
/// running totals, in one transaction per accepted slice.
struct Progress<'a> {
    db: &'a Db,
    run_id: i64,
    cohort_id: i64,
    target: &'a str,
}

impl Progress<'_> {
    async fn accepted(&self, added: &[i32], removed: &[i32], requests: usize, non_fatal_errors: usize) -> Result<(), SyncFailure> {
        if added.is_empty() && removed.is_empty() && requests == 0 {
            return Ok(());
        }
        let mut tx = self.db.begin_system().await?;
        sql_query("INSERT INTO cdp.cohort_sync_members (cohort_id, target, user_id) SELECT $1, $2, unnest($3::int4[]) ON CONFLICT DO NOTHING")
            .bind::<BigInt, _>(self.cohort_id)
            .bind::<Text, _>(self.target)
            .bind::<Array<Integer>, _>(added)
            .execute(&mut *tx)
            .await?;
        sql_query("DELETE FROM cdp.cohort_sync_members WHERE cohort_id = $1 AND target = $2 AND user_id = ANY($3)")
            .bind::<BigInt, _>(self.cohort_id)
            .bind::<Text, _>(self.target)
            .bind::<Array<Integer>, _>(removed)
            .execute(&mut *tx)
            .await?;
        sql_query(
            "UPDATE cdp.integration_sync_runs SET counts = counts || jsonb_build_object( \
               'added', coalesce((counts->>'added')::bigint, 0) + $2, \
               'removed', coalesce((counts->>'removed')::bigint, 0) + $3, \
               'requests', coalesce((counts->>'requests')::bigint, 0) + $4, \
               'non_fatal_errors', coalesce((counts->>'non_fatal_errors')::bigint, 0) + $5) WHERE id = $1",
        )
        .bind::<BigInt, _>(self.run_id)
        .bind::<BigInt, _>(added.len() as i64)
        .bind::<BigInt, _>(removed.len() as i64)
        .bind::<BigInt, _>(requests as i64)
        .bind::<BigInt, _>(non_fatal_errors as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One `/users/track` request's worth of changes.
struct BrazeBatch {
    adds: Vec<i32>,
    removes: Vec<i32>,
}

impl BrazeBatch {
    fn attributes(&self, slug: &str) -> Vec<Value> {
        let object =
            |user_id: &i32, change: &str| json!({ "external_id": user_id.to_string(), "_update_existing_only": true, "cdp_cohorts": { change: [slug] } });
        self.adds.iter().map(|u| object(u, "add")).chain(self.removes.iter().map(|u| object(u, "remove"))).collect()
    }
}

async fn send_to_braze(client: &BrazeClient, slug: &str, delta: &Delta, progress: &Progress<'_>) -> Result<(), SyncFailure> {
    let changes: Vec<(i32, bool)> = delta.to_add.iter().map(|u| (*u, true)).chain(delta.to_remove.iter().map(|u| (*u, false))).collect();
    let batches: Vec<BrazeBatch> = changes
        .chunks(MAX_ATTRIBUTES_PER_REQUEST)
        .map(|chunk| BrazeBatch { adds: chunk.iter().filter(|c| c.1).map(|c| c.0).collect(), removes: chunk.iter().filter(|c| !c.1).map(|c| c.0).collect() })
        .collect();
    // Waves of concurrent requests; what a wave got accepted is recorded before the next one
    // (and before giving up on a failure), so a retry resends only what was not accepted.
    for wave in batches.chunks(BRAZE_CONCURRENCY) {
        let results = futures::future::join_all(wave.iter().map(|batch| async move { client.track_attributes(&batch.attributes(slug)).await })).await;
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut accepted = 0;
        let mut non_fatal = 0;
        let mut failure = None;
        for (batch, result) in wave.iter().zip(results) {
            match result {
                Ok(outcome) => {
                    accepted += 1;
                    non_fatal += outcome.errors.len();
                    added.extend_from_slice(&batch.adds);
                    removed.extend_from_slice(&batch.removes);
                }
                Err(err) => {
                    let permanent = err.is_permanent();
                    failure.get_or_insert(SyncFailure { message: err.to_string(), permanent });
                }
            }
        }
        progress.accepted(&added, &removed, accepted, non_fatal).await?;
        if let Some(failure) = failure {
            return Err(failure);
        }
    }
    Ok(())
}

fn amplitude_failure(err: crate::integrations::amplitude::AmplitudeError) -> SyncFailure {
    SyncFailure { permanent: err.is_permanent(), message: err.to_string() }
}

async fn send_to_amplitude(
    client: &AmplitudeClient,
    external_id: Option<String>,
    name: &str,
    app_id: i64,
    owner: &str,
    delta: &Delta,
    progress: &Progress<'_>,
) -> Result<String, SyncFailure> {
    let ids = |users: &[i32]| users.iter().map(|u| u.to_string()).collect::<Vec<String>>();
    let mut adds: &[i32] = &delta.to_add;
    let cohort_id = match external_id {
        Some(id) => id,
        None => {
            // First sync: create the cohort with the first slice of members.
            let (first, rest) = adds.split_at(adds.len().min(MAX_IDS_PER_REQUEST));
            let id = client.upload(name, app_id, owner, &ids(first)).await.map_err(amplitude_failure)?;
            let mut conn = progress.db.conn().await?;
            sql_query("UPDATE cdp.cohort_sync_targets SET external_id = $3 WHERE cohort_id = $1 AND target = $2")
                .bind::<BigInt, _>(progress.cohort_id)
                .bind::<Text, _>(progress.target)
                .bind::<Text, _>(&id)
                .execute(&mut *conn)
                .await?;
            progress.accepted(first, &[], 1, 0).await?;
            adds = rest;
            id
        }
    };
    for chunk in adds.chunks(MAX_IDS_PER_REQUEST) {
        client.change_membership(&cohort_id, MembershipOperation::Add, &ids(chunk)).await.map_err(amplitude_failure)?;
        progress.accepted(chunk, &[], 1, 0).await?;
    }
    for chunk in delta.to_remove.chunks(MAX_IDS_PER_REQUEST) {
        client.change_membership(&cohort_id, MembershipOperation::Remove, &ids(chunk)).await.map_err(amplitude_failure)?;
        progress.accepted(&[], chunk, 1, 0).await?;
    }
    Ok(cohort_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braze_slugs_are_lowercase_words_and_the_id() {
        assert_eq!(braze_slug("VIP Sellers (Cairo)!", 12), "vip_sellers_cairo_12");
        assert_eq!(braze_slug("***", 3), "cohort_3");
    }
}
