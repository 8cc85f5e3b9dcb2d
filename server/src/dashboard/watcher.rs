//! The ingestion watcher (`etl.ingestion_watch`, every minute): hands each newly succeeded ETL
//! batch on, exactly once, to the jobs that depend on new data (docs/metrics.md, "Keeping the
//! rollups current"). It claims batches by inserting them into its own cursor table, so two
//! watchers never both hand on one batch, and in the same transaction enqueues one
//! `dashboard.rollup` and one `users.refresh_stats` for everything it claimed. With nothing
//! new, it still enqueues a rollup when the reporting day moved on or a cohort changed.

use super::{
    DashboardError,
    range::today,
    rollup::{ROLLUP_KIND, RollupRequest, cohorts_fingerprint},
};
use crate::{
    db::Db,
    jobs::{self, JobContext, JobError, JobHandler, NewJob},
};
use chrono::NaiveDate;
use chrono_tz::Tz;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Date, Int8, Nullable, Text},
};
use diesel_async::RunQueryDsl;
use std::time::Duration;

pub const WATCH_KIND: &str = "etl.ingestion_watch";
pub const WATCH_EVERY: Duration = Duration::from_secs(60);
/// Implemented by UserService's capability (cdp.user_stats); enqueued here by name.
pub const USER_STATS_KIND: &str = "users.refresh_stats";

#[derive(QueryableByName)]
struct NewBatch {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Text>)]
    scope_day: Option<String>,
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    batch_id: i64,
}

#[derive(QueryableByName)]
struct WatchState {
    #[diesel(sql_type = Nullable<Date>)]
    through_day: Option<NaiveDate>,
    #[diesel(sql_type = Text)]
    cohorts_fingerprint: String,
}

/// What one watch did.
#[derive(Clone, Debug, Default)]
pub struct WatchReport {
    /// Batches handed on by this run.
    pub batches: Vec<i64>,
    pub rollup_job: Option<i64>,
    pub user_stats_job: Option<i64>,
}

/// The rollup that a set of new batches needs: a users batch changes every day's segment
/// membership (full rebuild); an activity batch changes its day (validation.scope.day) and
/// what follows; identities only change the profile aggregates every run rebuilds.
fn rollup_for(batches: &[(i64, String, Option<NaiveDate>)]) -> RollupRequest {
    let mut request = RollupRequest { batches: batches.iter().map(|b| b.0).collect(), ..Default::default() };
    for (_, source, day) in batches {
        match (source.as_str(), day) {
            ("users", _) | ("activity", None) => request.full = true,
            ("activity", Some(day)) => request.activity_from = Some(request.activity_from.map_or(*day, |d| d.min(*day))),
            _ => {}
        }
    }
    request
}

pub async fn watch(db: &Db, tz: Tz) -> Result<WatchReport, DashboardError> {
    let mut tx = db.begin_system().await?;
    let candidates: Vec<NewBatch> = sql_query(
        "SELECT b.id, b.source, b.validation -> 'scope' ->> 'day' AS scope_day FROM cdp.ingestion_batches b \
         WHERE b.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM cdp.ingestion_watch_cursor c WHERE c.batch_id = b.id) \
         ORDER BY b.id",
    )
    .load(&mut *tx)
    .await?;
    let days: Vec<Option<NaiveDate>> = candidates.iter().map(|b| b.scope_day.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())).collect();
    // A concurrent watcher that claimed a batch first makes our insert of it a no-op.
    let claimed: Vec<Claimed> = sql_query(
        "INSERT INTO cdp.ingestion_watch_cursor (batch_id, source, activity_day) \
         SELECT * FROM unnest($1::int8[], $2::text[], $3::date[]) ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id",
    )
    .bind::<Array<Int8>, _>(candidates.iter().map(|b| b.id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(candidates.iter().map(|b| b.source.as_str()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Date>>, _>(&days)
    .load(&mut *tx)
    .await?;
    let mut batches: Vec<(i64, String, Option<NaiveDate>)> =
        candidates.into_iter().zip(days).filter(|(b, _)| claimed.iter().any(|c| c.batch_id == b.id)).map(|(b, day)| (b.id, b.source, day)).collect();
    batches.sort_by_key(|b| b.0);

    let state: WatchState = sql_query("SELECT through_day, cohorts_fingerprint FROM cdp.dashboard_rollup_state").get_result(&mut *tx).await?;
    let day_moved_on = state.through_day.is_none_or(|t| t < today(tz));
    let cohorts_changed = cohorts_fingerprint(&mut tx).await? != state.cohorts_fingerprint;

    let mut report = WatchReport { batches: batches.iter().map(|b| b.0).collect(), ..Default::default() };
    if let Some(last) = batches.last().map(|b| b.0) {
        let request = RollupRequest { cohorts: cohorts_changed, ..rollup_for(&batches) };
        let payload = serde_json::to_value(&request).expect("a RollupRequest always serialises");
        report.rollup_job = jobs::enqueue(&mut tx, NewJob::new(ROLLUP_KIND, payload).dedupe_key(format!("batches:{last}"))).await?;
        let data_sources: Vec<&(i64, String, Option<NaiveDate>)> = batches.iter().filter(|b| b.1 == "activity" || b.1 == "users").collect();
        if !data_sources.is_empty() {
            let payload = serde_json::json!({
                "batches": data_sources.iter().map(|b| b.0).collect::<Vec<_>>(),
                "sources": data_sources.iter().map(|b| b.1.as_str()).collect::<Vec<_>>(),
                "activity_days": data_sources.iter().filter_map(|b| b.2.map(|d| d.to_string())).collect::<Vec<_>>(),
            });
            report.user_stats_job = jobs::enqueue(&mut tx, NewJob::new(USER_STATS_KIND, payload).dedupe_key(format!("batches:{last}"))).await?;
        }
        sql_query("UPDATE cdp.ingestion_watch_cursor SET rollup_job_id = $2, user_stats_job_id = $3 WHERE batch_id = ANY($1)")
            .bind::<Array<Int8>, _>(&report.batches)
            .bind::<Nullable<Int8>, _>(report.rollup_job)
            .bind::<Nullable<Int8>, _>(report.user_stats_job)
            .execute(&mut *tx)
            .await?;
    } else if day_moved_on || cohorts_changed {
        // Nothing new from the ETL, but churn and windows move with the calendar, and cohort
        // figures follow their members.
        let request = RollupRequest { cohorts: cohorts_changed, ..Default::default() };
        let payload = serde_json::to_value(&request).expect("a RollupRequest always serialises");
        report.rollup_job = jobs::enqueue(&mut tx, NewJob::new(ROLLUP_KIND, payload).dedupe_key("refresh")).await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// The job handler of `etl.ingestion_watch`.
pub struct WatchJob {
    pub db: Db,
    pub tz: Tz,
}

#[tonic::async_trait]
impl JobHandler for WatchJob {
    fn kind(&self) -> &'static str {
        WATCH_KIND
    }

    async fn run(&self, _job: &JobContext) -> Result<(), JobError> {
        let report = watch(&self.db, self.tz).await.map_err(JobError::retry)?;
        if !report.batches.is_empty() {
            tracing::info!(batches = ?report.batches, rollup = ?report.rollup_job, user_stats = ?report.user_stats_job, "new ingestion batches handed on");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_batches_rebuild_everything_and_activity_batches_start_at_their_day() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let activity = rollup_for(&[(1, "activity".into(), d("2026-03-02")), (2, "activity".into(), d("2026-03-01")), (3, "identities".into(), None)]);
        assert_eq!(activity, RollupRequest { full: false, activity_from: d("2026-03-01"), cohorts: false, batches: vec![1, 2, 3] });
        assert!(rollup_for(&[(4, "users".into(), None)]).full);
        assert!(rollup_for(&[(5, "activity".into(), None)]).full);
    }
}
