//! Queries of the cohort tables (`cdp.cohorts`, members, size history, sync runs). Each runs
//! on the connection it is given: the caller's RLS transaction in RPCs, the owner's in jobs.

use super::{CohortError, definition};
use crate::{
    conditions::Sql,
    convert::{opt_timestamp, timestamp},
};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Date, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use uuid::Uuid;

/// Kinds and sources as stored.
pub const DYNAMIC: &str = "dynamic";
pub const STATIC: &str = "static";
pub const SOURCE_BUILDER: &str = "builder";
pub const SOURCE_AMPLITUDE: &str = "amplitude_import";

/// Refresh interval when none is given (24 h) and the shortest allowed (15 min).
pub const DEFAULT_REFRESH_SECS: i32 = 86_400;
pub const MIN_REFRESH_SECS: i64 = 900;
/// The longest refresh interval accepted (30 days).
pub const MAX_REFRESH_SECS: i64 = 30 * 86_400;

/// The refresh job kind and its dedupe key (one pending refresh per cohort).
pub const REFRESH_JOB: &str = "cohorts.refresh";
pub fn refresh_dedupe_key(cohort_id: i64) -> String {
    format!("cohort:{cohort_id}")
}

/// A cohort row with what the API shows beside it (pending refresh, last import).
#[derive(QueryableByName, Clone, Debug)]
pub struct CohortRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Jsonb)]
    pub definition: serde_json::Value,
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub amplitude_cohort_id: Option<String>,
    #[diesel(sql_type = Integer)]
    pub refresh_interval_secs: i32,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_refreshed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_refresh_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_refresh_duration_ms: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub created_by: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
    /// Status of the pending refresh job (`queued` / `running`), if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub refresh_job: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub import_downloaded: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub import_matched: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub import_unmatched: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub imported_at: Option<DateTime<Utc>>,
}

/// The columns of [`CohortRow`] over `cdp.cohorts c`.
const COHORT_COLUMNS: &str = "c.id, c.name, c.description, c.kind, c.definition, c.source, c.amplitude_cohort_id, \
     c.refresh_interval_secs, c.size, c.last_refreshed_at, c.next_refresh_at, c.last_refresh_duration_ms, c.last_error, \
     c.created_by, c.created_at, c.updated_at, \
     (SELECT j.status FROM cdp.jobs j WHERE j.kind = 'cohorts.refresh' AND j.dedupe_key = 'cohort:' || c.id \
        AND j.status IN ('queued', 'running') LIMIT 1) AS refresh_job, \
     imp.downloaded_ids AS import_downloaded, imp.matched_users AS import_matched, imp.unmatched_ids AS import_unmatched, \
     imp.finished_at AS imported_at \
     FROM cdp.cohorts c \
     LEFT JOIN LATERAL (SELECT d.downloaded_ids, d.matched_users, d.unmatched_ids, d.finished_at \
        FROM cdp.amplitude_cohort_downloads d WHERE d.cohort_id = c.id AND d.status = 'completed' \
        ORDER BY d.finished_at DESC LIMIT 1) imp ON c.source = 'amplitude_import'";

impl CohortRow {
    pub fn is_imported(&self) -> bool {
        self.source == SOURCE_AMPLITUDE
    }

    pub fn is_dynamic(&self) -> bool {
        self.kind == DYNAMIC
    }

    pub fn refresh_state(&self) -> pb::CohortRefreshState {
        use pb::CohortRefreshState as S;
        match (self.refresh_job.as_deref(), self.last_error.is_some()) {
            (Some("running"), _) => S::Running,
            // A failed refresh waiting for its retry shows as failed (see last_error).
            (Some(_), true) | (None, true) => S::Failed,
            (Some(_), false) => S::Queued,
            (None, false) => S::Idle,
        }
    }

    /// The stored definition as a tree (an unreadable one is a bug, never a user error).
    pub fn definition_tree(&self) -> Result<pb::ConditionGroup, CohortError> {
        definition::from_json(&self.definition).map_err(|e| CohortError::Internal(format!("cohort {} has an unreadable definition: {e}", self.id)))
    }

    pub fn to_proto(&self, size_trend: Vec<pb::CohortSizePoint>) -> Result<pb::Cohort, CohortError> {
        let kind = if self.is_dynamic() { pb::CohortKind::Dynamic } else { pb::CohortKind::Static };
        let amplitude_import = self.is_imported().then(|| pb::AmplitudeImport {
            amplitude_cohort_id: self.amplitude_cohort_id.clone().unwrap_or_default(),
            downloaded_ids: self.import_downloaded.unwrap_or_default(),
            matched_users: self.import_matched.unwrap_or_default(),
            unmatched_ids: self.import_unmatched.unwrap_or_default(),
            imported_at: opt_timestamp(self.imported_at),
        });
        Ok(pb::Cohort {
            id: self.id,
            name: self.name.clone(),
            description: self.description.clone(),
            kind: kind as i32,
            definition: if self.is_imported() { None } else { Some(self.definition_tree()?) },
            size: self.size,
            refresh_state: self.refresh_state() as i32,
            last_refreshed_at: opt_timestamp(self.last_refreshed_at),
            next_refresh_at: if self.is_dynamic() { opt_timestamp(self.next_refresh_at) } else { None },
            last_refresh_duration_ms: self.last_refresh_duration_ms.unwrap_or_default() as i64,
            last_error: self.last_error.clone().unwrap_or_default(),
            refresh_interval: Some(prost_types::Duration { seconds: self.refresh_interval_secs as i64, nanos: 0 }),
            created_by: self.created_by.map(|id| id.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(self.created_at)),
            updated_at: Some(timestamp(self.updated_at)),
            size_trend,
            amplitude_import,
        })
    }

    /// What the audit log records of a cohort.
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name, "description": self.description, "kind": self.kind, "source": self.source,
            "definition": self.definition, "refresh_interval_secs": self.refresh_interval_secs,
            "amplitude_cohort_id": self.amplitude_cohort_id,
        })
    }
}

/// A live (not deleted) cohort, or NOT_FOUND. `lock` takes the row lock for a change.
pub async fn find(conn: &mut AsyncPgConnection, id: i64, lock: bool) -> Result<CohortRow, CohortError> {
    let sql = format!("SELECT {COHORT_COLUMNS} WHERE c.id = $1 AND c.deleted_at IS NULL{}", if lock { " FOR UPDATE OF c" } else { "" });
    sql_query(sql)
        .bind::<BigInt, _>(id)
        .get_results::<CohortRow>(conn)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| CohortError::NotFound(format!("no cohort with id {id}")))
}

/// The imported cohort of an Amplitude cohort, if any (locked for the re-import).
pub async fn find_imported(conn: &mut AsyncPgConnection, amplitude_cohort_id: &str) -> Result<Option<CohortRow>, CohortError> {
    let sql = format!(
        "SELECT {COHORT_COLUMNS} WHERE c.source = 'amplitude_import' AND c.amplitude_cohort_id = $1 AND c.deleted_at IS NULL \
         ORDER BY c.created_at DESC LIMIT 1 FOR UPDATE OF c"
    );
    Ok(sql_query(sql).bind::<Text, _>(amplitude_cohort_id).get_results::<CohortRow>(conn).await?.into_iter().next())
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A page of live cohorts by name, and how many match.
pub async fn list(conn: &mut AsyncPgConnection, search: &str, kind: Option<&str>, offset: i64, limit: i64) -> Result<(Vec<CohortRow>, i64), CohortError> {
    let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let filter = "c.deleted_at IS NULL AND c.name ILIKE $1 AND ($2::text IS NULL OR c.kind = $2)";
    let rows = sql_query(format!("SELECT {COHORT_COLUMNS} WHERE {filter} ORDER BY lower(c.name), c.id OFFSET $3 LIMIT $4"))
        .bind::<Text, _>(&pattern)
        .bind::<Nullable<Text>, _>(kind)
        .bind::<BigInt, _>(offset)
        .bind::<BigInt, _>(limit)
        .load::<CohortRow>(conn)
        .await?;
    let total = sql_query(format!("SELECT count(*) AS n FROM cdp.cohorts c WHERE {filter}"))
        .bind::<Text, _>(&pattern)
        .bind::<Nullable<Text>, _>(kind)
        .get_result::<Total>(conn)
        .await?
        .n;
    Ok((rows, total))
}

/// Whether a live cohort other than `except` has this name (case-insensitive).
pub async fn name_taken(conn: &mut AsyncPgConnection, name: &str, except: Option<i64>) -> Result<bool, CohortError> {
    let n = sql_query("SELECT count(*) AS n FROM cdp.cohorts WHERE lower(name) = lower($1) AND deleted_at IS NULL AND id IS DISTINCT FROM $2")
        .bind::<Text, _>(name)
        .bind::<Nullable<BigInt>, _>(except)
        .get_result::<Total>(conn)
        .await?
        .n;
    Ok(n > 0)
}

/// A cohort to insert.
pub struct NewCohort<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub kind: &'a str,
    pub definition: serde_json::Value,
    pub source: &'a str,
    pub amplitude_cohort_id: Option<&'a str>,
    pub refresh_interval_secs: i32,
    pub created_by: Option<Uuid>,
}

#[derive(QueryableByName)]
struct NewId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

pub async fn insert(conn: &mut AsyncPgConnection, cohort: NewCohort<'_>) -> Result<i64, CohortError> {
    let row = sql_query(
        "INSERT INTO cdp.cohorts (name, description, kind, definition, source, amplitude_cohort_id, refresh_interval_secs, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind::<Text, _>(cohort.name)
    .bind::<Text, _>(cohort.description)
    .bind::<Text, _>(cohort.kind)
    .bind::<Jsonb, _>(&cohort.definition)
    .bind::<Text, _>(cohort.source)
    .bind::<Nullable<Text>, _>(cohort.amplitude_cohort_id)
    .bind::<Integer, _>(cohort.refresh_interval_secs)
    .bind::<Nullable<SqlUuid>, _>(cohort.created_by)
    .get_result::<NewId>(conn)
    .await;
    match row {
        Ok(row) => Ok(row.id),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(CohortError::AlreadyExists(format!("a cohort named {:?} already exists", cohort.name)))
        }
        Err(err) => Err(err.into()),
    }
}

/// The settings an update may change.
pub struct CohortSettings {
    pub name: String,
    pub description: String,
    pub definition: serde_json::Value,
    pub refresh_interval_secs: i32,
}

pub async fn update_settings(conn: &mut AsyncPgConnection, id: i64, settings: &CohortSettings) -> Result<(), CohortError> {
    let updated = sql_query(
        "UPDATE cdp.cohorts SET name = $2, description = $3, definition = $4, refresh_interval_secs = $5, updated_at = now(), \
           next_refresh_at = CASE WHEN kind = 'dynamic' AND last_refreshed_at IS NOT NULL \
                                  THEN last_refreshed_at + make_interval(secs => $5) ELSE next_refresh_at END \
         WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(&settings.name)
    .bind::<Text, _>(&settings.description)
    .bind::<Jsonb, _>(&settings.definition)
    .bind::<Integer, _>(settings.refresh_interval_secs)
    .execute(conn)
    .await;
    match updated {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(CohortError::AlreadyExists(format!("a cohort named {:?} already exists", settings.name)))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn soft_delete(conn: &mut AsyncPgConnection, id: i64) -> Result<(), CohortError> {
    sql_query("UPDATE cdp.cohorts SET deleted_at = now(), updated_at = now(), next_refresh_at = NULL WHERE id = $1")
        .bind::<BigInt, _>(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName, Clone, Debug)]
pub struct CohortRef {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
}

/// Live cohorts (other than `id`) whose definition refers to cohort `id` anywhere in the tree:
/// IN_COHORT / NOT_IN_COHORT on it, or, for an imported cohort, *_AMPLITUDE_COHORT on its
/// Amplitude id (the stored JSON writes ids as strings).
pub async fn referencing_cohorts(conn: &mut AsyncPgConnection, id: i64) -> Result<Vec<CohortRef>, CohortError> {
    Ok(sql_query(
        "SELECT c.id, c.name FROM cdp.cohorts c \
         LEFT JOIN cdp.cohorts imported ON imported.id = $1 AND imported.source = 'amplitude_import' \
         WHERE c.deleted_at IS NULL AND c.id <> $1 \
           AND (jsonb_path_exists(c.definition, '$.**.cohortId ? (@ == $id)', jsonb_build_object('id', $1::text)) \
                OR (imported.amplitude_cohort_id IS NOT NULL \
                    AND jsonb_path_exists(c.definition, '$.**.amplitudeCohortId ? (@ == $a)', jsonb_build_object('a', imported.amplitude_cohort_id)))) \
         ORDER BY lower(c.name), c.id",
    )
    .bind::<BigInt, _>(id)
    .load(conn)
    .await?)
}

/// Queues a refresh of `cohort_id` unless one is pending. True when a new job was queued.
pub async fn enqueue_refresh(conn: &mut AsyncPgConnection, cohort_id: i64) -> Result<bool, CohortError> {
    use crate::jobs::{NewJob, enqueue};
    let job = NewJob::new(REFRESH_JOB, serde_json::json!({ "cohort_id": cohort_id })).max_attempts(5).dedupe_key(refresh_dedupe_key(cohort_id));
    Ok(enqueue(conn, job).await?.is_some())
}

#[derive(QueryableByName)]
struct SizePointRow {
    #[diesel(sql_type = BigInt)]
    cohort_id: i64,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = BigInt)]
    joined: i64,
    #[diesel(sql_type = BigInt)]
    left_count: i64,
}

/// Daily points of each cohort over `start..=end` (reporting-zone days, from the day the
/// cohort was created): the size at the end of the day (the last refresh before midnight),
/// and the joiners and leavers of that day's refreshes.
pub async fn size_points(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
    start: NaiveDate,
    end: NaiveDate,
    tz: &str,
) -> Result<HashMap<i64, Vec<pb::CohortSizePoint>>, CohortError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<SizePointRow> = sql_query(
        "SELECT c.id AS cohort_id, d.day::date AS day, \
           coalesce((SELECT h.size FROM cdp.cohort_size_history h WHERE h.cohort_id = c.id \
                       AND h.computed_at < (d.day + interval '1 day') AT TIME ZONE $4 \
                     ORDER BY h.computed_at DESC LIMIT 1), 0)::int8 AS size, \
           coalesce(w.joined, 0)::int8 AS joined, coalesce(w.left_count, 0)::int8 AS left_count \
         FROM cdp.cohorts c \
         CROSS JOIN generate_series($2::date, $3::date, interval '1 day') AS d(day) \
         LEFT JOIN LATERAL (SELECT sum(h.joined) AS joined, sum(h.\"left\") AS left_count FROM cdp.cohort_size_history h \
                            WHERE h.cohort_id = c.id AND h.computed_at >= d.day AT TIME ZONE $4 \
                              AND h.computed_at < (d.day + interval '1 day') AT TIME ZONE $4) w ON true \
         WHERE c.id = ANY($1) AND d.day::date >= (c.created_at AT TIME ZONE $4)::date \
         ORDER BY c.id, d.day",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Date, _>(start)
    .bind::<Date, _>(end)
    .bind::<Text, _>(tz)
    .load(conn)
    .await?;
    let mut points: HashMap<i64, Vec<pb::CohortSizePoint>> = HashMap::new();
    for row in rows {
        points.entry(row.cohort_id).or_default().push(pb::CohortSizePoint {
            date: row.day.format("%Y-%m-%d").to_string(),
            size: row.size,
            joined: row.joined,
            left: row.left_count,
        });
    }
    Ok(points)
}

/// Settings of a transaction that scans the user base: no JIT (compiling costs more than it
/// saves on one scan) and room for hashes of a million ids without spilling to disk.
pub async fn tune_for_scans(conn: &mut AsyncPgConnection) -> Result<(), CohortError> {
    sql_query("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)").execute(conn).await?;
    Ok(())
}

/// The result of replacing a cohort's membership.
#[derive(QueryableByName, Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipDelta {
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = BigInt)]
    pub joined: i64,
    #[diesel(sql_type = BigInt)]
    pub left_count: i64,
}

/// Plans the rest of the transaction without nested loops, for statements that compare whole
/// memberships (hashed anti-joins). Right after a first evaluation the statistics may still say
/// a cohort has no members, and a nested loop over 200,000 x 200,000 members was seen to run
/// for more than ten minutes.
pub async fn without_nested_loops(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    sql_query("SELECT set_config('enable_nestloop', 'off', true)").execute(conn).await?;
    Ok(())
}

/// Replaces the membership of `cohort_id` with the users that `new_members` selects (a query
/// returning distinct `user_id`s), in ONE statement: joiners are inserted with `joined_at`
/// now, leavers deleted, and both recorded in `cdp.cohort_membership_changes` (what syncs and
/// live promotions follow). The caller holds the cohort's row lock.
pub async fn replace_membership(conn: &mut AsyncPgConnection, cohort_id: i64, new_members: &Sql) -> Result<MembershipDelta, CohortError> {
    without_nested_loops(conn).await?;
    let mut sql = Sql::new("WITH fresh AS MATERIALIZED (");
    sql.append(new_members)
        .push("), current_members AS MATERIALIZED (SELECT user_id FROM cdp.cohort_members WHERE cohort_id = ")
        .push_bind(crate::conditions::BindValue::Int8(cohort_id))
        .push(
            "), joined AS MATERIALIZED (SELECT f.user_id FROM fresh f WHERE NOT EXISTS (SELECT 1 FROM current_members m WHERE m.user_id = f.user_id)), \
             gone AS MATERIALIZED (SELECT m.user_id FROM current_members m WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.user_id = m.user_id)), \
             added AS (INSERT INTO cdp.cohort_members (cohort_id, user_id, joined_at) SELECT ",
        )
        .push_bind(crate::conditions::BindValue::Int8(cohort_id))
        .push(", user_id, clock_timestamp() FROM joined), removed AS (DELETE FROM cdp.cohort_members m WHERE m.cohort_id = ")
        .push_bind(crate::conditions::BindValue::Int8(cohort_id))
        .push(" AND m.user_id IN (SELECT user_id FROM gone)), changes AS (INSERT INTO cdp.cohort_membership_changes (cohort_id, user_id, change, changed_at) SELECT ")
        .push_bind(crate::conditions::BindValue::Int8(cohort_id))
        .push(", user_id, 'joined', clock_timestamp() FROM joined UNION ALL SELECT ")
        .push_bind(crate::conditions::BindValue::Int8(cohort_id))
        .push(
            ", user_id, 'left', clock_timestamp() FROM gone) \
             SELECT (SELECT count(*) FROM fresh) AS size, (SELECT count(*) FROM joined) AS joined, (SELECT count(*) FROM gone) AS left_count",
        );
    Ok(sql.into_query().get_result::<MembershipDelta>(conn).await?)
}

/// Records a finished evaluation: a size-history point and the cohort's freshness fields.
pub async fn record_evaluation(conn: &mut AsyncPgConnection, cohort_id: i64, delta: MembershipDelta, duration_ms: i32) -> Result<(), CohortError> {
    sql_query(
        "WITH point AS (INSERT INTO cdp.cohort_size_history (cohort_id, computed_at, size, joined, \"left\", duration_ms) \
                        VALUES ($1, clock_timestamp(), $2, $3, $4, $5) RETURNING computed_at) \
         UPDATE cdp.cohorts SET size = $2, last_refreshed_at = (SELECT computed_at FROM point), last_refresh_duration_ms = $5, \
                last_error = NULL, \
                next_refresh_at = CASE WHEN kind = 'dynamic' AND source = 'builder' \
                                       THEN (SELECT computed_at FROM point) + make_interval(secs => refresh_interval_secs) END \
         WHERE id = $1",
    )
    .bind::<BigInt, _>(cohort_id)
    .bind::<BigInt, _>(delta.size)
    .bind::<BigInt, _>(delta.joined)
    .bind::<BigInt, _>(delta.left_count)
    .bind::<Integer, _>(duration_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// In the transaction of a membership change: live promotions on the cohort follow it
/// (the activation engine's job applies joiners and leavers to their audiences).
pub async fn membership_changed(conn: &mut AsyncPgConnection, cohort_id: i64, delta: MembershipDelta) -> Result<(), CohortError> {
    if delta.joined + delta.left_count > 0 {
        crate::activation::jobs::enqueue_audience_sync(conn, cohort_id).await?;
    }
    Ok(())
}

/// One sync run as the API shows it.
#[derive(QueryableByName, Clone, Debug)]
pub struct SyncRunRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub cohort_id: i64,
    #[diesel(sql_type = Text)]
    pub cohort_name: String,
    #[diesel(sql_type = Text)]
    pub integration: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Jsonb)]
    pub counts: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub external_id: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub requested_by: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

const SYNC_RUN_COLUMNS: &str = "r.id, coalesce(c.id, 0) AS cohort_id, coalesce(c.name, '') AS cohort_name, r.integration, r.status, \
     r.attempts, r.counts, r.error, coalesce(r.external_id, t.external_id) AS external_id, r.requested_by, r.created_at, r.started_at, r.finished_at \
     FROM cdp.integration_sync_runs r \
     LEFT JOIN cdp.cohorts c ON c.id::text = r.resource_id \
     LEFT JOIN cdp.cohort_sync_targets t ON t.cohort_id = c.id AND t.target = r.integration";

/// The filter every cohort sync run matches.
const SYNC_RUN_FILTER: &str = "r.operation = 'cohort_sync' AND r.resource_type = 'cohort'";

impl SyncRunRow {
    pub fn to_proto(&self) -> pb::CohortSync {
        let count = |key: &str| self.counts.get(key).and_then(serde_json::Value::as_i64).unwrap_or_default();
        pb::CohortSync {
            id: self.id,
            cohort_id: self.cohort_id,
            cohort_name: self.cohort_name.clone(),
            target: target_to_proto(&self.integration) as i32,
            status: sync_status_to_proto(&self.status) as i32,
            users_added: count("added"),
            users_removed: count("removed"),
            users_unmatched: count("unmatched"),
            attempts: self.attempts,
            error: self.error.clone().unwrap_or_default(),
            external_id: self.external_id.clone().unwrap_or_default(),
            requested_by: self.requested_by.map(|id| id.to_string()).unwrap_or_default(),
            queued_at: Some(timestamp(self.created_at)),
            started_at: opt_timestamp(self.started_at),
            finished_at: opt_timestamp(self.finished_at),
        }
    }
}

pub fn target_to_proto(integration: &str) -> pb::SyncTarget {
    match integration {
        "amplitude" => pb::SyncTarget::Amplitude,
        "braze" => pb::SyncTarget::Braze,
        _ => pb::SyncTarget::Unspecified,
    }
}

pub fn target_name(target: pb::SyncTarget) -> Option<&'static str> {
    match target {
        pb::SyncTarget::Amplitude => Some("amplitude"),
        pb::SyncTarget::Braze => Some("braze"),
        pb::SyncTarget::Unspecified => None,
    }
}

fn sync_status_to_proto(status: &str) -> pb::SyncStatus {
    match status {
        "queued" => pb::SyncStatus::Queued,
        "running" => pb::SyncStatus::Running,
        "succeeded" => pb::SyncStatus::Succeeded,
        "failed" => pb::SyncStatus::Failed,
        _ => pb::SyncStatus::Unspecified,
    }
}

pub fn sync_status_name(status: pb::SyncStatus) -> Option<&'static str> {
    match status {
        pb::SyncStatus::Queued => Some("queued"),
        pb::SyncStatus::Running => Some("running"),
        pb::SyncStatus::Succeeded => Some("succeeded"),
        pb::SyncStatus::Failed => Some("failed"),
        pb::SyncStatus::Unspecified => None,
    }
}

pub async fn sync_run(conn: &mut AsyncPgConnection, id: i64) -> Result<SyncRunRow, CohortError> {
    sql_query(format!("SELECT {SYNC_RUN_COLUMNS} WHERE r.id = $1 AND {SYNC_RUN_FILTER}"))
        .bind::<BigInt, _>(id)
        .get_results::<SyncRunRow>(conn)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| CohortError::NotFound(format!("no sync run with id {id}")))
}

/// A page of cohort sync runs, newest first (keyset on id), and how many match.
pub async fn sync_runs(
    conn: &mut AsyncPgConnection,
    cohort_id: Option<i64>,
    target: Option<&str>,
    status: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<SyncRunRow>, i64), CohortError> {
    let filter = format!(
        "{SYNC_RUN_FILTER} AND ($1::bigint IS NULL OR r.resource_id = $1::text) AND ($2::text IS NULL OR r.integration = $2) \
         AND ($3::text IS NULL OR r.status = $3)"
    );
    let rows = sql_query(format!("SELECT {SYNC_RUN_COLUMNS} WHERE {filter} AND ($4::bigint IS NULL OR r.id < $4) ORDER BY r.id DESC LIMIT $5"))
        .bind::<Nullable<BigInt>, _>(cohort_id)
        .bind::<Nullable<Text>, _>(target)
        .bind::<Nullable<Text>, _>(status)
        .bind::<Nullable<BigInt>, _>(before_id)
        .bind::<BigInt, _>(limit + 1)
        .load::<SyncRunRow>(conn)
        .await?;
    let total = sql_query(format!("SELECT count(*) AS n FROM cdp.integration_sync_runs r WHERE {filter}"))
        .bind::<Nullable<BigInt>, _>(cohort_id)
        .bind::<Nullable<Text>, _>(target)
        .bind::<Nullable<Text>, _>(status)
        .get_result::<Total>(conn)
        .await?
        .n;
    Ok((rows, total))
}

/// The latest sync run of a cohort per target.
pub async fn latest_syncs(conn: &mut AsyncPgConnection, cohort_id: i64) -> Result<Vec<SyncRunRow>, CohortError> {
    Ok(sql_query(format!(
        "SELECT DISTINCT ON (r.integration) {SYNC_RUN_COLUMNS} WHERE {SYNC_RUN_FILTER} AND r.resource_id = $1::text \
         ORDER BY r.integration, r.id DESC"
    ))
    .bind::<BigInt, _>(cohort_id)
    .load(conn)
    .await?)
}
