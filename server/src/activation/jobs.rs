//! The worker's promotion jobs. API calls write a status change and one of these jobs in the
//! same transaction; the worker then freezes audiences, publishes to Redis and announces the
//! change. Scheduled starts and expiries are jobs with `run_at`. Every handler re-reads the
//! promotion under its row lock and does nothing when the change no longer applies, so a job
//! that runs twice, late, or after a newer change is harmless.

use super::{
    Activation, ActivationError, audience,
    events::EventKind,
    publish::{Published, lock},
    reconcile,
};
use crate::{
    audit::{self, AuditActor, Change},
    auth::principal::RequestContext,
    jobs::{JobContext, JobError, JobHandler, NewJob},
    promotions::{
        model::{Audience, PromotionRow, Status},
        schema::promotions as p,
    },
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub const ACTIVATE: &str = "promotion.activate";
pub const START: &str = "promotion.start";
pub const PUBLISH: &str = "promotion.publish";
pub const EXPIRE: &str = "promotion.expire";
pub const BUDGET_EXHAUSTED: &str = "promotion.budget_exhausted";
pub const AUDIENCE_SYNC: &str = "promotion.audience_sync";
pub const RECONCILE: &str = "promotion.reconcile";

/// How often live audiences are checked against their cohorts' refreshes.
pub const AUDIENCE_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// How often every running promotion is reconciled with the ledger.
pub const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Registers the promotion jobs with the worker.
pub fn register(registry: crate::jobs::Registry, app: &crate::app::App) -> crate::jobs::Registry {
    let activation = Activation::new(app);
    registry
        .register(ActivateJob(activation.clone()))
        .register(StartJob(activation.clone()))
        .register(PublishJob(activation.clone()))
        .register(ExpireJob(activation.clone()))
        .register(BudgetExhaustedJob(activation.clone()))
        .recurring(AudienceSyncJob(activation.clone()), AUDIENCE_SYNC_EVERY)
        .recurring(ReconcileJob(activation), RECONCILE_EVERY)
}

/// Why a promotion paused itself when its budget ran out (its `status_reason`).
pub const BUDGET_EXHAUSTED_REASON: &str = "credit budget exhausted";

/// Queues the activation of an ACTIVE promotion: freeze the audience, publish, announce (at
/// most one pending per promotion).
pub async fn enqueue_activate(conn: &mut AsyncPgConnection, promotion_id: i64) -> diesel::QueryResult<()> {
    let job = NewJob::new(ACTIVATE, serde_json::json!({ "promotion_id": promotion_id })).dedupe_key(promotion_id.to_string());
    crate::jobs::enqueue(conn, job).await.map(|_| ())
}

/// Queues the start of a SCHEDULED promotion at `at`.
pub async fn enqueue_start(conn: &mut AsyncPgConnection, promotion_id: i64, at: DateTime<Utc>) -> diesel::QueryResult<()> {
    let job =
        NewJob::new(START, serde_json::json!({ "promotion_id": promotion_id })).run_at(at).dedupe_key(format!("{promotion_id}@{}", at.timestamp_millis()));
    crate::jobs::enqueue(conn, job).await.map(|_| ())
}

/// Queues the expiry of a promotion at its `ends_at`.
pub async fn enqueue_expire(conn: &mut AsyncPgConnection, promotion_id: i64, at: DateTime<Utc>) -> diesel::QueryResult<()> {
    let job =
        NewJob::new(EXPIRE, serde_json::json!({ "promotion_id": promotion_id })).run_at(at).dedupe_key(format!("{promotion_id}@{}", at.timestamp_millis()));
    crate::jobs::enqueue(conn, job).await.map(|_| ())
}

/// Queues a republish of the promotion's state, announced with `event`.
pub async fn enqueue_publish(conn: &mut AsyncPgConnection, promotion_id: i64, event: EventKind) -> diesel::QueryResult<()> {
    crate::jobs::enqueue(conn, NewJob::new(PUBLISH, serde_json::json!({ "promotion_id": promotion_id, "event": event }))).await.map(|_| ())
}

/// Queues bringing the live promotions of `cohort_id` in step with it. For the cohort
/// refresh to call in the transaction that records the new membership (a recurring run also
/// catches refreshes that did not call it).
pub async fn enqueue_audience_sync(conn: &mut AsyncPgConnection, cohort_id: i64) -> diesel::QueryResult<()> {
    let job = NewJob::new(AUDIENCE_SYNC, serde_json::json!({ "cohort_id": cohort_id })).dedupe_key(format!("cohort:{cohort_id}"));
    crate::jobs::enqueue(conn, job).await.map(|_| ())
}

fn promotion_id(job: &JobContext) -> Result<i64, JobError> {
    job.payload.get("promotion_id").and_then(|v| v.as_i64()).ok_or_else(|| JobError::Permanent("payload has no promotion_id".into()))
}

/// The audit context of a change the system makes in a job.
fn system_context(job: &JobContext) -> RequestContext {
    RequestContext { principal: None, request_id: format!("job-{}", job.id), client_address: None }
}

async fn audit_system(conn: &mut AsyncPgConnection, job: &JobContext, action: &str, before: &PromotionRow, after: &PromotionRow) -> diesel::QueryResult<()> {
    let change =
        Change { action, resource_type: "promotion", resource_id: before.id.to_string(), before: Some(before.audit_view()), after: Some(after.audit_view()) };
    audit::record_as(conn, &system_context(job), AuditActor::System, change).await
}

fn generation_of(published: &Published) -> i64 {
    match published {
        Published::Current { generation } | Published::Rebuilt { generation } => *generation,
        _ => 0,
    }
}

/// `promotion.activate`: an ACTIVE promotion's audience is frozen (or, live, synced) and its
/// state published; then `activated` is announced. Killed half-way, it runs again from the
/// start: the audience sync and the rebuild are idempotent.
pub struct ActivateJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for ActivateJob {
    fn kind(&self) -> &'static str {
        ACTIVATE
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let id = promotion_id(job)?;
        let activation = &self.0;
        let mut tx = activation.db.begin_system().await.map_err(JobError::retry)?;
        let Some(row) = lock(&mut tx, id).await.map_err(JobError::retry)? else { return Ok(()) };
        if row.status() != Status::Active {
            // Paused or archived again before the worker got here: that change's own job publishes.
            return Ok(());
        }
        if row.audience() == Audience::Live || row.audience_frozen_at.is_none() {
            audience::sync_with_cohort(&mut tx, &row).await.map_err(JobError::retry)?;
        }
        let row = lock(&mut tx, id).await.map_err(JobError::retry)?.ok_or_else(|| JobError::retry("promotion vanished"))?;
        let published = activation.publish_locked(&mut tx, &row, true).await?;
        tx.commit().await.map_err(JobError::retry)?;
        activation.publish_event(EventKind::Activated, id, &row.status, generation_of(&published), "").await?;
        Ok(())
    }
}

/// `promotion.start` at `starts_at`: a SCHEDULED promotion becomes ACTIVE (audited as
/// `promotion.start` by the system), its audience is frozen and published, and `activated`
/// is announced.
pub struct StartJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for StartJob {
    fn kind(&self) -> &'static str {
        START
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let id = promotion_id(job)?;
        let activation = &self.0;
        let mut tx = activation.db.begin_system().await.map_err(JobError::retry)?;
        let Some(before) = lock(&mut tx, id).await.map_err(JobError::retry)? else { return Ok(()) };
        let due = before.starts_at.is_none_or(|at| at <= Utc::now());
        if before.status() != Status::Scheduled || !due {
            return Ok(());
        }
        diesel::update(p::table.find(id))
            .set((p::status.eq(Status::Active.as_str()), p::updated_at.eq(Utc::now())))
            .execute(&mut tx)
            .await
            .map_err(JobError::retry)?;
        let started = lock(&mut tx, id).await.map_err(JobError::retry)?.ok_or_else(|| JobError::retry("promotion vanished"))?;
        audience::sync_with_cohort(&mut tx, &started).await.map_err(JobError::retry)?;
        let row = lock(&mut tx, id).await.map_err(JobError::retry)?.ok_or_else(|| JobError::retry("promotion vanished"))?;
        audit_system(&mut tx, job, "promotion.start", &before, &row).await.map_err(JobError::retry)?;
        let published = activation.publish_locked(&mut tx, &row, true).await?;
        tx.commit().await.map_err(JobError::retry)?;
        activation.publish_event(EventKind::Activated, id, &row.status, generation_of(&published), "").await?;
        Ok(())
    }
}

/// `promotion.publish`: republish after a change made through the API (pause, update,
/// archive, schedule) and announce it with the event named in the payload.
pub struct PublishJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for PublishJob {
    fn kind(&self) -> &'static str {
        PUBLISH
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let id = promotion_id(job)?;
        let event: Option<EventKind> = job.payload.get("event").cloned().and_then(|e| serde_json::from_value(e).ok());
        let activation = &self.0;
        let mut tx = activation.db.begin_system().await.map_err(JobError::retry)?;
        let Some(row) = lock(&mut tx, id).await.map_err(JobError::retry)? else { return Ok(()) };
        let published = activation.publish_locked(&mut tx, &row, false).await?;
        tx.commit().await.map_err(JobError::retry)?;
        if let Some(event) = event {
            activation.publish_event(event, id, &row.status, generation_of(&published), &row.status_reason).await?;
        }
        Ok(())
    }
}

/// `promotion.expire` at `ends_at`: a running promotion becomes EXPIRED (audited as
/// `promotion.expire` by the system), its keys are removed and `expired` is announced.
pub struct ExpireJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for ExpireJob {
    fn kind(&self) -> &'static str {
        EXPIRE
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        expire(&self.0, promotion_id(job)?, &system_context(job), Utc::now()).await?;
        Ok(())
    }
}

/// What `promotion.expire` does, as of `now`: a running promotion whose window ended by then
/// becomes EXPIRED (`ended_at` = `now`, audited as `promotion.expire` by the system in `ctx`),
/// its keys are removed and `expired` is announced. True when it expired the promotion. The
/// job passes the current time; `cdp seed` passes the end of a promotion it replays.
pub async fn expire(activation: &Activation, id: i64, ctx: &RequestContext, now: DateTime<Utc>) -> Result<bool, ActivationError> {
    let mut tx = activation.db.begin_system().await?;
    let Some(before) = lock(&mut tx, id).await? else { return Ok(false) };
    if !before.status().is_running() || before.ends_at.is_none_or(|at| at > now) {
        return Ok(false); // not running any more, or its end moved later (a new job is queued)
    }
    let row: PromotionRow = diesel::update(p::table.find(id))
        .set((p::status.eq(Status::Expired.as_str()), p::status_reason.eq("window ended"), p::ended_at.eq(now), p::updated_at.eq(now)))
        .returning(PromotionRow::as_returning())
        .get_result(&mut tx)
        .await?;
    let change = Change {
        action: "promotion.expire",
        resource_type: "promotion",
        resource_id: id.to_string(),
        before: Some(before.audit_view()),
        after: Some(row.audit_view()),
    };
    audit::record_as(&mut tx, ctx, AuditActor::System, change).await?;
    activation.publish_locked(&mut tx, &row, false).await?;
    tx.commit().await?;
    activation.publish_event(EventKind::Expired, id, &row.status, 0, &row.status_reason).await?;
    Ok(true)
}

/// `promotion.budget_exhausted`, queued by the ledger writer in the transaction whose
/// redemptions left less than one benefit in the budget: the promotion pauses itself with
/// the reason, audited as a `promotion.deactivate` by the system, and `budget_exhausted` is
/// announced.
pub struct BudgetExhaustedJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for BudgetExhaustedJob {
    fn kind(&self) -> &'static str {
        BUDGET_EXHAUSTED
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let id = promotion_id(job)?;
        let activation = &self.0;
        let mut tx = activation.db.begin_system().await.map_err(JobError::retry)?;
        let Some(before) = lock(&mut tx, id).await.map_err(JobError::retry)? else { return Ok(()) };
        let exhausted = before.credit_budget > 0 && before.credit_budget - before.credits_granted < before.min_credits();
        if before.status() != Status::Active || !exhausted {
            return Ok(()); // a revert gave credits back, or someone paused it already
        }
        let row: PromotionRow = diesel::update(p::table.find(id))
            .set((p::status.eq(Status::Paused.as_str()), p::status_reason.eq(BUDGET_EXHAUSTED_REASON), p::updated_at.eq(Utc::now())))
            .returning(PromotionRow::as_returning())
            .get_result(&mut tx)
            .await
            .map_err(JobError::retry)?;
        audit_system(&mut tx, job, "promotion.deactivate", &before, &row).await.map_err(JobError::retry)?;
        let published = activation.publish_locked(&mut tx, &row, true).await?;
        tx.commit().await.map_err(JobError::retry)?;
        activation.publish_event(EventKind::BudgetExhausted, id, &row.status, generation_of(&published), BUDGET_EXHAUSTED_REASON).await?;
        Ok(())
    }
}

/// `promotion.audience_sync`: live promotions follow their cohort. Runs for one cohort when
/// its refresh asks, and periodically for every live promotion whose cohort was refreshed
/// since its audience was last synced.
pub struct AudienceSyncJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for AudienceSyncJob {
    fn kind(&self) -> &'static str {
        AUDIENCE_SYNC
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let cohort = job.payload.get("cohort_id").and_then(|v| v.as_i64());
        let activation = &self.0;
        for id in stale_live_promotions(activation, cohort).await.map_err(JobError::retry)? {
            let mut tx = activation.db.begin_system().await.map_err(JobError::retry)?;
            let Some(row) = lock(&mut tx, id).await.map_err(JobError::retry)? else { continue };
            if row.audience() != Audience::Live || !matches!(row.status(), Status::Active | Status::Paused) || row.audience_frozen_at.is_none() {
                continue;
            }
            let before = row.audience_size;
            let size = audience::sync_with_cohort(&mut tx, &row).await.map_err(JobError::retry)?;
            let row = lock(&mut tx, id).await.map_err(JobError::retry)?.ok_or_else(|| JobError::retry("promotion vanished"))?;
            let published = activation.publish_locked(&mut tx, &row, true).await?;
            tx.commit().await.map_err(JobError::retry)?;
            tracing::info!(promotion = id, before, after = size, "live audience synced with its cohort");
            activation.publish_event(EventKind::Updated, id, &row.status, generation_of(&published), "audience synced with its cohort").await?;
        }
        Ok(())
    }
}

/// Live promotions (active or paused) to sync: those of `cohort`, or every one whose cohort
/// was refreshed after the audience was last synced. Deleted cohorts are not followed: their
/// promotions keep the membership they had.
async fn stale_live_promotions(activation: &Activation, cohort: Option<i64>) -> Result<Vec<i64>, ActivationError> {
    use crate::promotions::schema::cohorts as c;
    let mut conn = activation.db.conn().await?;
    let mut query = p::table
        .inner_join(c::table)
        .filter(p::audience.eq(Audience::Live.as_str()))
        .filter(p::status.eq_any([Status::Active.as_str(), Status::Paused.as_str()]))
        .filter(p::audience_frozen_at.is_not_null())
        .filter(c::deleted_at.is_null())
        .select(p::id)
        .into_boxed();
    query = match cohort {
        Some(cohort) => query.filter(p::cohort_id.eq(cohort)),
        None => query.filter(c::last_refreshed_at.gt(p::audience_synced_at).or(p::audience_synced_at.is_null())),
    };
    Ok(query.order(p::id).load(&mut conn).await?)
}

/// `promotion.reconcile`: recomputes every running promotion's counters from the ledger,
/// records the drift it finds in `cdp.promotion_reconciliation_runs` and repairs it.
pub struct ReconcileJob(pub Activation);

#[tonic::async_trait]
impl JobHandler for ReconcileJob {
    fn kind(&self) -> &'static str {
        RECONCILE
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let only = job.payload.get("promotion_id").and_then(|v| v.as_i64());
        reconcile::run(&self.0, Some(job.id), only).await.map(|_| ()).map_err(JobError::retry)
    }
}
