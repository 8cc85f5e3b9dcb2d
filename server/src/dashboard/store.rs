//! The queries DashboardService runs: all over the rollup tables (plus the small ETL batch and
//! cohort tables), each a handful of rows per day of the range.

use super::range::DayRange;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Date, Int4, Int8, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;

/// What the rollups cover.
#[derive(QueryableByName, Clone, Debug)]
pub struct RollupState {
    #[diesel(sql_type = Nullable<Date>)]
    pub first_day: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Date>)]
    pub through_day: Option<NaiveDate>,
    #[diesel(sql_type = Int4)]
    pub churn_window_days: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl RollupState {
    /// Whether the rollups hold any data for a day of `range` (else "no previous value").
    pub fn has_data_for(&self, range: &DayRange) -> bool {
        match (self.first_day, self.through_day) {
            (Some(first), Some(through)) => range.overlaps(&DayRange::new(first, through)),
            _ => false,
        }
    }
}

pub async fn state(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Option<RollupState>> {
    let rows: Vec<RollupState> = sql_query("SELECT first_day, through_day, churn_window_days, updated_at FROM cdp.dashboard_rollup_state").load(conn).await?;
    Ok(rows.into_iter().next())
}

/// One day of `cdp.daily_activity_rollup` joined with that day's signups.
#[derive(QueryableByName, Clone, Debug, Default)]
pub struct DayRow {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = Int8)]
    pub dau: i64,
    #[diesel(sql_type = Int8)]
    pub wau: i64,
    #[diesel(sql_type = Int8)]
    pub mau: i64,
    #[diesel(sql_type = Int8)]
    pub churned: i64,
    #[diesel(sql_type = Int8)]
    pub reactivated: i64,
    #[diesel(sql_type = Int8)]
    pub about_to_churn: i64,
    #[diesel(sql_type = Int8)]
    pub sessions: i64,
    #[diesel(sql_type = Int8)]
    pub session_seconds: i64,
    #[diesel(sql_type = Int8)]
    pub events: i64,
    #[diesel(sql_type = Int8)]
    pub credits_spent: i64,
    #[diesel(sql_type = Int8)]
    pub signups: i64,
    #[diesel(sql_type = Int8)]
    pub with_listing: i64,
    #[diesel(sql_type = Int8)]
    pub with_paid_listing: i64,
    #[diesel(sql_type = Int8)]
    pub with_transaction: i64,
}

/// The daily rollups of every day of `range` that has any, keyed by day.
pub async fn days(conn: &mut AsyncPgConnection, range: DayRange) -> diesel::QueryResult<HashMap<NaiveDate, DayRow>> {
    let rows: Vec<DayRow> = sql_query(
        "SELECT coalesce(a.day, s.day) AS day, \
                coalesce(a.dau, 0)::int8 AS dau, coalesce(a.wau, 0)::int8 AS wau, coalesce(a.mau, 0)::int8 AS mau, \
                coalesce(a.churned, 0)::int8 AS churned, coalesce(a.reactivated, 0)::int8 AS reactivated, \
                coalesce(a.about_to_churn, 0)::int8 AS about_to_churn, coalesce(a.sessions, 0) AS sessions, \
                coalesce(a.session_seconds, 0) AS session_seconds, coalesce(a.events, 0) AS events, \
                coalesce(a.credits_spent, 0) AS credits_spent, coalesce(s.signups, 0)::int8 AS signups, \
                coalesce(s.with_listing, 0)::int8 AS with_listing, coalesce(s.with_paid_listing, 0)::int8 AS with_paid_listing, \
                coalesce(s.with_transaction, 0)::int8 AS with_transaction \
         FROM (SELECT * FROM cdp.daily_activity_rollup WHERE day BETWEEN $1 AND $2) a \
         FULL JOIN (SELECT * FROM cdp.signup_funnel_rollup WHERE day BETWEEN $1 AND $2) s ON s.day = a.day",
    )
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.day, r)).collect())
}

#[derive(QueryableByName)]
struct WindowValue {
    #[diesel(sql_type = Int8)]
    i: i64,
    #[diesel(sql_type = Int8)]
    users: i64,
}

/// Distinct users active in each of `ranges` (each at most the rollup window long), from the
/// "active within" array of the range's last day. Ranges with no rollup give 0.
pub async fn distinct_active(conn: &mut AsyncPgConnection, ranges: &[DayRange]) -> diesel::QueryResult<Vec<i64>> {
    let ends: Vec<NaiveDate> = ranges.iter().map(|r| r.end).collect();
    let offsets: Vec<i32> = ranges.iter().map(|r| (r.days() - 1) as i32).collect();
    let rows: Vec<WindowValue> = sql_query(
        "SELECT q.i, coalesce(w.active_within[least(q.k + 1, cardinality(w.active_within))], 0)::int8 AS users \
         FROM unnest($1::date[], $2::int4[]) WITH ORDINALITY AS q(day, k, i) \
         LEFT JOIN cdp.active_window_rollup w ON w.day = q.day",
    )
    .bind::<Array<Date>, _>(ends)
    .bind::<Array<Int4>, _>(offsets)
    .load(conn)
    .await?;
    let mut out = vec![0; ranges.len()];
    for row in rows {
        if let Some(slot) = out.get_mut((row.i - 1) as usize) {
            *slot = row.users;
        }
    }
    Ok(out)
}

/// Activity of a group over a range: distinct active users and credits spent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupActivity {
    pub active_users: i64,
    pub credits_spent: i64,
}

#[derive(QueryableByName)]
struct SegmentActivityRow {
    #[diesel(sql_type = Text)]
    user_type: String,
    #[diesel(sql_type = Text)]
    vertical: String,
    #[diesel(sql_type = Int8)]
    active_users: i64,
    #[diesel(sql_type = Int8)]
    credits_spent: i64,
}

/// Per user_type × favorite_vertical: activity over `range`. A user is counted on their first
/// active day in the range: active users that day minus those who had come back within the
/// days of the range already passed.
pub async fn segment_activity(conn: &mut AsyncPgConnection, range: DayRange) -> diesel::QueryResult<HashMap<(String, String), GroupActivity>> {
    let rows: Vec<SegmentActivityRow> = sql_query(
        "SELECT user_type, vertical, \
                sum(active_users - CASE WHEN day = $1 OR cardinality(returning_within) = 0 THEN 0 \
                                        ELSE returning_within[least(day - $1, cardinality(returning_within))] END)::int8 AS active_users, \
                sum(credits_spent)::int8 AS credits_spent \
         FROM cdp.segment_activity_rollup WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2",
    )
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| ((r.user_type, r.vertical), GroupActivity { active_users: r.active_users, credits_spent: r.credits_spent })).collect())
}

#[derive(QueryableByName)]
struct CohortActivityRow {
    #[diesel(sql_type = BigInt)]
    cohort_id: i64,
    #[diesel(sql_type = Int8)]
    active_users: i64,
    #[diesel(sql_type = Int8)]
    credits_spent: i64,
}

/// Per saved cohort: its members' activity over `range` (same counting as segments).
pub async fn cohort_activity(conn: &mut AsyncPgConnection, range: DayRange) -> diesel::QueryResult<HashMap<i64, GroupActivity>> {
    let rows: Vec<CohortActivityRow> = sql_query(
        "SELECT cohort_id, \
                sum(active_users - CASE WHEN day = $1 OR cardinality(returning_within) = 0 THEN 0 \
                                        ELSE returning_within[least(day - $1, cardinality(returning_within))] END)::int8 AS active_users, \
                sum(credits_spent)::int8 AS credits_spent \
         FROM cdp.cohort_activity_rollup WHERE day BETWEEN $1 AND $2 GROUP BY 1",
    )
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.cohort_id, GroupActivity { active_users: r.active_users, credits_spent: r.credits_spent })).collect())
}

/// A user_type × favorite_vertical segment now: size and lifetime value.
#[derive(QueryableByName, Clone, Debug)]
pub struct SegmentRow {
    #[diesel(sql_type = Text)]
    pub user_type: String,
    #[diesel(sql_type = Text)]
    pub vertical: String,
    #[diesel(sql_type = Int8)]
    pub users: i64,
    #[diesel(sql_type = Int8)]
    pub spenders: i64,
    #[diesel(sql_type = Int8)]
    pub lifetime_credits: i64,
}

pub async fn segments(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<SegmentRow>> {
    sql_query("SELECT user_type, vertical, users, spenders, lifetime_credits FROM cdp.segment_rollup ORDER BY users DESC, user_type, vertical").load(conn).await
}

/// A saved cohort the caller may see.
#[derive(QueryableByName, Clone, Debug)]
pub struct CohortRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
}

pub async fn cohorts(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<CohortRow>> {
    sql_query("SELECT id, name, size FROM cdp.cohorts WHERE deleted_at IS NULL ORDER BY id").load(conn).await
}

#[derive(QueryableByName, Clone, Debug, Default)]
pub struct ProfileHealth {
    #[diesel(sql_type = Int8)]
    pub total_profiles: i64,
    #[diesel(sql_type = Int8)]
    pub amplitude_matched: i64,
    #[diesel(sql_type = Int8)]
    pub braze_matched: i64,
}

pub async fn profile_health(conn: &mut AsyncPgConnection) -> diesel::QueryResult<ProfileHealth> {
    let rows: Vec<ProfileHealth> = sql_query("SELECT total_profiles, amplitude_matched, braze_matched FROM cdp.profile_health_rollup").load(conn).await?;
    Ok(rows.into_iter().next().unwrap_or_default())
}

#[derive(QueryableByName)]
struct IngestedRows {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Int8)]
    rows: i64,
}

/// Rows loaded by succeeded batches per day they finished, in the reporting time zone.
pub async fn ingested_rows(conn: &mut AsyncPgConnection, range: DayRange, tz: &str) -> diesel::QueryResult<HashMap<NaiveDate, i64>> {
    let rows: Vec<IngestedRows> = sql_query(
        "SELECT (finished_at AT TIME ZONE $3)::date AS day, sum(rows)::int8 AS rows FROM cdp.ingestion_batches \
         WHERE status = 'succeeded' AND finished_at >= ($1::timestamp AT TIME ZONE $3) \
           AND finished_at < (($2 + 1)::timestamp AT TIME ZONE $3) \
         GROUP BY 1",
    )
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .bind::<Text, _>(tz)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.day, r.rows)).collect())
}

#[derive(QueryableByName)]
struct DayEvents {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Int8)]
    events: i64,
}

pub async fn events_per_day(conn: &mut AsyncPgConnection, range: DayRange) -> diesel::QueryResult<HashMap<NaiveDate, i64>> {
    let rows: Vec<DayEvents> = sql_query("SELECT day, events FROM cdp.daily_activity_rollup WHERE day BETWEEN $1 AND $2")
        .bind::<Date, _>(range.start)
        .bind::<Date, _>(range.end)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.day, r.events)).collect())
}

/// The most recent ingestion batch of a source.
#[derive(QueryableByName, Clone, Debug)]
pub struct BatchRow {
    #[diesel(sql_type = Text)]
    pub source: String,
    #[diesel(sql_type = Int8)]
    pub rows: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub validation: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

pub async fn latest_batches(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<BatchRow>> {
    sql_query(
        "SELECT DISTINCT ON (source) source, rows, status, started_at, finished_at, validation, error \
         FROM cdp.ingestion_batches ORDER BY source, started_at DESC, id DESC",
    )
    .load(conn)
    .await
}
