//! The worker job `users.refresh_stats`: rebuilds `cdp.user_stats` (activity windows, the
//! computed lifecycle stage, CLTV) from `cdp.user_daily_activity` and `public.users`, one
//! set-based statement per chunk of user ids, then the known values of the catalogue's text
//! and list fields (`cdp.user_field_values`). Recurring every 15 minutes; the ingestion watcher
//! also enqueues it when an activity batch lands. Idempotent: every run recomputes from scratch.

use crate::{
    conditions::{Catalogue, Storage},
    db::{Db, DbError},
    jobs::{JobContext, JobError, JobHandler, NewJob},
};
use chrono::NaiveDate;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Date, Integer, Nullable, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::{Duration, Instant};

/// The job kind.
pub const REFRESH_STATS: &str = "users.refresh_stats";
/// How often the recurring run happens.
pub const REFRESH_EVERY: Duration = Duration::from_secs(15 * 60);
/// Users per statement: big enough to be set-based, small enough to keep transactions short.
const CHUNK_USERS: i32 = 50_000;
/// Known values kept per field for ListUserFields.
const KNOWN_VALUES: i64 = 100;

/// A job that refreshes the stats now (e.g. when an activity batch lands).
pub fn refresh_job() -> NewJob {
    NewJob::new(REFRESH_STATS, serde_json::json!({})).dedupe_key("refresh")
}

/// The aggregates of one user's activity as of `$today` ($1), shared by the refresh and by
/// GetUser's live lifecycle stage: activity windows end on today and include it.
const ACTIVITY_AGGREGATES: &str = "\
    min(d.day) AS first_active_day, \
    max(d.day) AS last_active_day, \
    count(*) FILTER (WHERE d.day > $1 - 7) AS active_days_7, \
    count(*) FILTER (WHERE d.day > $1 - 30) AS active_days_30, \
    count(*) FILTER (WHERE d.day > $1 - 90) AS active_days_90, \
    coalesce(sum(d.sessions) FILTER (WHERE d.day > $1 - 30), 0) AS sessions_30, \
    coalesce(sum(d.session_seconds) FILTER (WHERE d.day > $1 - 30), 0) AS session_seconds_30, \
    coalesce(sum(d.events) FILTER (WHERE d.day > $1 - 30), 0) AS events_30, \
    coalesce(sum(d.listings_posted) FILTER (WHERE d.day > $1 - 30), 0) AS listings_posted_30, \
    coalesce(sum(d.paid_listings) FILTER (WHERE d.day > $1 - 30), 0) AS paid_listings_30, \
    coalesce(sum(d.transactions) FILTER (WHERE d.day > $1 - 30), 0) AS transactions_30, \
    coalesce(sum(d.credits_spent) FILTER (WHERE d.day > $1 - 30), 0) AS credits_spent_30, \
    min(d.day) FILTER (WHERE d.day > $1 - 30) AS first_in_window, \
    max(d.day) FILTER (WHERE d.day <= $1 - 30) AS previous_active_day";

/// `reactivated_on` from the aggregates: the window's first active day when at least the churn
/// window (30 whole days) without activity came before it, as docs/metrics.md counts
/// reactivations (the previous activity on D − 31 or earlier).
const REACTIVATED_ON: &str =
    "CASE WHEN act.previous_active_day IS NOT NULL AND act.first_in_window - act.previous_active_day > 30 THEN act.first_in_window END";

/// Rebuilds the stats of users `[from, to)` as of `today` in one statement, and removes the
/// stats of users no longer in `public.users`.
async fn refresh_chunk(conn: &mut AsyncPgConnection, today: NaiveDate, from: i32, to: i32) -> diesel::QueryResult<usize> {
    let upsert = format!(
        "INSERT INTO cdp.user_stats AS s (user_id, as_of, first_active_day, last_active_day, active_days_7, active_days_30, \
           active_days_90, sessions_30, session_seconds_30, events_30, listings_posted_30, paid_listings_30, transactions_30, \
           credits_spent_30, previous_active_day, reactivated_on, lifecycle_stage, cltv, refreshed_at) \
         SELECT u.user_id, $1, act.first_active_day, act.last_active_day, coalesce(act.active_days_7, 0), \
           coalesce(act.active_days_30, 0), coalesce(act.active_days_90, 0), coalesce(act.sessions_30, 0), \
           coalesce(act.session_seconds_30, 0), coalesce(act.events_30, 0), coalesce(act.listings_posted_30, 0), \
           coalesce(act.paid_listings_30, 0), coalesce(act.transactions_30, 0), coalesce(act.credits_spent_30, 0), \
           act.previous_active_day, {REACTIVATED_ON}, \
           cdp.lifecycle_stage(u.user_account_creation_date, u.first_paid_listing_date, act.last_active_day, {REACTIVATED_ON}, $1), \
           coalesce(u.total_credits_spent, 0), now() \
         FROM public.users u \
         LEFT JOIN (SELECT d.user_id, {ACTIVITY_AGGREGATES} FROM cdp.user_daily_activity d \
                    WHERE d.user_id >= $2 AND d.user_id < $3 AND d.day <= $1 GROUP BY d.user_id) act ON act.user_id = u.user_id \
         WHERE u.user_id >= $2 AND u.user_id < $3 \
         ON CONFLICT (user_id) DO UPDATE SET as_of = excluded.as_of, first_active_day = excluded.first_active_day, \
           last_active_day = excluded.last_active_day, active_days_7 = excluded.active_days_7, \
           active_days_30 = excluded.active_days_30, active_days_90 = excluded.active_days_90, \
           sessions_30 = excluded.sessions_30, session_seconds_30 = excluded.session_seconds_30, events_30 = excluded.events_30, \
           listings_posted_30 = excluded.listings_posted_30, paid_listings_30 = excluded.paid_listings_30, \
           transactions_30 = excluded.transactions_30, credits_spent_30 = excluded.credits_spent_30, \
           previous_active_day = excluded.previous_active_day, reactivated_on = excluded.reactivated_on, \
           lifecycle_stage = excluded.lifecycle_stage, cltv = excluded.cltv, refreshed_at = excluded.refreshed_at"
    );
    let written = sql_query(upsert).bind::<Date, _>(today).bind::<Integer, _>(from).bind::<Integer, _>(to).execute(&mut *conn).await?;
    sql_query(
        "DELETE FROM cdp.user_stats s WHERE s.user_id >= $1 AND s.user_id < $2 AND NOT EXISTS (SELECT 1 FROM public.users u WHERE u.user_id = s.user_id)",
    )
    .bind::<Integer, _>(from)
    .bind::<Integer, _>(to)
    .execute(conn)
    .await?;
    Ok(written)
}

#[derive(QueryableByName)]
struct Bounds {
    #[diesel(sql_type = Nullable<Integer>)]
    low: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    high: Option<i32>,
}

/// What a refresh did.
#[derive(Debug, Clone)]
pub struct RefreshReport {
    pub users: usize,
    pub chunks: usize,
    pub duration: Duration,
}

/// Recomputes every user's stats as of `today` (a reporting-zone day) and the known values.
/// Runs as the owner (the worker); each chunk commits on its own.
pub async fn refresh_all(db: &Db, today: NaiveDate) -> Result<RefreshReport, DbError> {
    let started = Instant::now();
    let mut tx = db.begin_system().await?;
    let bounds: Bounds = sql_query("SELECT min(user_id) AS low, max(user_id) AS high FROM public.users").get_result(&mut *tx).await?;
    tx.commit().await?;
    let (mut users, mut chunks) = (0, 0);
    if let (Some(low), Some(high)) = (bounds.low, bounds.high) {
        let mut from = low;
        while from <= high {
            let to = from.saturating_add(CHUNK_USERS);
            let mut tx = db.begin_system().await?;
            users += refresh_chunk(&mut tx, today, from, to).await?;
            tx.commit().await?;
            chunks += 1;
            if to == i32::MAX {
                break;
            }
            from = to;
        }
    }
    // Stats of users below the current minimum (deleted users).
    let mut tx = db.begin_system().await?;
    sql_query("DELETE FROM cdp.user_stats s WHERE NOT EXISTS (SELECT 1 FROM public.users u WHERE u.user_id = s.user_id) AND s.user_id < coalesce((SELECT min(user_id) FROM public.users), 2147483647)")
        .execute(&mut *tx)
        .await?;
    refresh_known_values(&mut tx).await?;
    tx.commit().await?;
    Ok(RefreshReport { users, chunks, duration: started.elapsed() })
}

/// The most frequent values of each text and list field of the catalogue (not personal data).
async fn refresh_known_values(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    sql_query("DELETE FROM cdp.user_field_values").execute(&mut *conn).await?;
    for field in Catalogue::standard().fields() {
        if field.pii || !field.fixed_values.is_empty() {
            continue;
        }
        // The value expression comes from the catalogue; its joins are all one row per user.
        let values = match field.storage {
            Storage::Text => format!("lower({}) AS value", field.expr),
            Storage::CommaList => format!("unnest(string_to_array({}, ',')) AS value", field.expr),
            Storage::TextArray => format!("unnest({}) AS value", field.expr),
            _ => continue,
        };
        let joins: String = field.joins.iter().map(|j| j.sql()).collect();
        let sql = format!(
            "INSERT INTO cdp.user_field_values (field, value, users) \
             SELECT $1, value, count(*) FROM (SELECT {values} FROM public.users u{joins}) v \
             WHERE coalesce(value, '') <> '' GROUP BY value ORDER BY count(*) DESC, value LIMIT {KNOWN_VALUES}"
        );
        sql_query(sql).bind::<Text, _>(field.name).execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Stage {
    #[diesel(sql_type = Nullable<Text>)]
    stage: Option<String>,
}

/// The lifecycle stage of one user as of `today`, computed live with the same definition
/// as the refresh (`cdp.lifecycle_stage`). `None` when the user does not exist.
pub async fn computed_lifecycle_stage(conn: &mut AsyncPgConnection, user_id: i32, today: NaiveDate) -> diesel::QueryResult<Option<String>> {
    let sql = format!(
        "SELECT cdp.lifecycle_stage(u.user_account_creation_date, u.first_paid_listing_date, act.last_active_day, {REACTIVATED_ON}, $1) AS stage \
         FROM public.users u, \
         LATERAL (SELECT {ACTIVITY_AGGREGATES} FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day <= $1) act \
         WHERE u.user_id = $2"
    );
    let rows: Vec<Stage> = sql_query(sql).bind::<Date, _>(today).bind::<Integer, _>(user_id).load(conn).await?;
    Ok(rows.into_iter().next().and_then(|r| r.stage))
}

/// The `users.refresh_stats` handler.
pub struct RefreshStats {
    pub db: Db,
    pub tz: chrono_tz::Tz,
}

#[tonic::async_trait]
impl JobHandler for RefreshStats {
    fn kind(&self) -> &'static str {
        REFRESH_STATS
    }

    async fn run(&self, _job: &JobContext) -> Result<(), JobError> {
        let today = chrono::Utc::now().with_timezone(&self.tz).date_naive();
        let report = refresh_all(&self.db, today).await.map_err(JobError::retry)?;
        tracing::info!(users = report.users, chunks = report.chunks, ms = report.duration.as_millis() as u64, "refreshed user stats");
        Ok(())
    }
}
