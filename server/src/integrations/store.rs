//! The monitor's reads of the CDP's own records of syncs: ETL batches (`cdp.ingestion_batches`,
//! written by the DAGs) and cohort/profile syncs (`cdp.integration_sync_runs`). Run as the
//! caller, so row-level security decides what they may see.

use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;

/// The latest success and the latest failure of one kind of sync.
#[derive(QueryableByName, Debug, Default, Clone, PartialEq)]
pub struct SyncSummary {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_failure_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// ETL loads, any source: the last batch that succeeded and the last that failed (with why).
pub async fn etl_batches(conn: &mut AsyncPgConnection) -> diesel::QueryResult<SyncSummary> {
    sql_query(
        "SELECT (SELECT max(finished_at) FROM cdp.ingestion_batches WHERE status = 'succeeded') AS last_success_at, \
                f.at AS last_failure_at, f.error AS last_error \
         FROM (SELECT 1) AS one \
         LEFT JOIN LATERAL (SELECT coalesce(finished_at, started_at) AS at, error FROM cdp.ingestion_batches \
                            WHERE status = 'failed' ORDER BY coalesce(finished_at, started_at) DESC, id DESC LIMIT 1) AS f ON true",
    )
    .get_result(conn)
    .await
}

/// Sync runs to one integration (`amplitude`, `braze`): the last that succeeded and failed.
pub async fn sync_runs(conn: &mut AsyncPgConnection, integration: &str) -> diesel::QueryResult<SyncSummary> {
    sql_query(
        "SELECT (SELECT max(coalesce(finished_at, created_at)) FROM cdp.integration_sync_runs \
                 WHERE integration = $1 AND status = 'succeeded') AS last_success_at, \
                f.at AS last_failure_at, f.error AS last_error \
         FROM (SELECT 1) AS one \
         LEFT JOIN LATERAL (SELECT coalesce(finished_at, created_at) AS at, error FROM cdp.integration_sync_runs \
                            WHERE integration = $1 AND status = 'failed' ORDER BY coalesce(finished_at, created_at) DESC, id DESC LIMIT 1) AS f ON true",
    )
    .bind::<Text, _>(integration)
    .get_result(conn)
    .await
}

#[derive(QueryableByName)]
struct SourceFreshness {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Timestamptz)]
    finished_at: DateTime<Utc>,
}

/// When each ETL source (`users`, `activity`, `identities`) last received a published batch:
/// how fresh the data a DAG feeds really is, however it was loaded.
pub async fn last_published_batch_by_source(conn: &mut AsyncPgConnection) -> diesel::QueryResult<HashMap<String, DateTime<Utc>>> {
    let rows: Vec<SourceFreshness> = sql_query(
        "SELECT source, max(finished_at) AS finished_at FROM cdp.ingestion_batches \
         WHERE status = 'succeeded' AND finished_at IS NOT NULL GROUP BY source",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|row| (row.source, row.finished_at)).collect())
}
