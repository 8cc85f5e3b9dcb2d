//! The `dashboard.rollup` job: rebuilds the dashboard's rollup tables from the ETL-owned
//! tables, as the table owner, in one REPEATABLE READ transaction (readers see the old or the
//! new rollups, never a mix). Activity rollups are recomputed from the first changed day to
//! today; the users-derived ones (signup funnel, segment sizes and CLTV, profile health) are
//! small aggregates rebuilt every run.
//!
//! How distinct users over any range stay exact (docs/metrics.md, "How ranges are answered"):
//! one pass over daily activity gives, per day, how many active users come back after a gap of
//! g days (`lag` over each user's days). From that histogram the worker walks the days keeping
//! R[k] = users whose last activity is exactly k days ago (R[0] = DAU; R[k] = yesterday's
//! R[k-1] minus today's returners with gap k), and stores its running sum per day: distinct
//! users active in the k + 1 days ending on the day. WAU, MAU, churned and about-to-churn are
//! read off it. Segments and cohorts keep the cumulative gap histogram itself per day.

use super::{
    DashboardError,
    definitions::{ABOUT_TO_CHURN_FROM_DAYS, MAX_RANGE_DAYS, MetricSettings},
    range::{iso, minus, today},
};
use crate::{
    db::Db,
    jobs::{JobContext, JobError, JobHandler},
};
use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Bool, Date, Int4, Int8, Nullable, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

pub const ROLLUP_KIND: &str = "dashboard.rollup";

/// Entries of the per-day "active within k + 1 days" array: k = 0 ..= 1095, enough for the
/// longest range (and its previous range's growth comparison).
const WINDOW: usize = MAX_RANGE_DAYS as usize;
/// Gaps this long or longer are lumped together (they only matter as "more than any range").
const LONG_GAP: usize = WINDOW;
/// Rows per INSERT statement.
const CHUNK: usize = 2000;

/// What changed, as the ingestion watcher (or an operator) asks for it. Serialised as the
/// job's payload, e.g. `{"activity_from": "2026-03-01", "batches": [41, 42]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollupRequest {
    /// Rebuild everything (e.g. users changed, so every day's segment membership did).
    #[serde(default)]
    pub full: bool,
    /// Activity changed on this day: recompute it and every later day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_from: Option<NaiveDate>,
    /// Cohorts changed: rebuild the cohort rollups over the whole history.
    #[serde(default)]
    pub cohorts: bool,
    /// The ingestion batches that caused this run (for the record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<i64>,
}

/// What a run did, for logs and the benchmark.
#[derive(Clone, Debug)]
pub struct RollupReport {
    pub full: bool,
    /// First activity day recomputed, when any.
    pub activity_from: Option<NaiveDate>,
    pub through: NaiveDate,
    pub activity_days: i64,
    pub cohorts_rebuilt: bool,
    pub duration: Duration,
}

#[derive(QueryableByName)]
struct StateRow {
    #[diesel(sql_type = Nullable<Date>)]
    through_day: Option<NaiveDate>,
    #[diesel(sql_type = Int4)]
    churn_window_days: i32,
    #[diesel(sql_type = Text)]
    cohorts_fingerprint: String,
}

#[derive(QueryableByName)]
struct Bounds {
    #[diesel(sql_type = Nullable<Date>)]
    first_activity: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Date>)]
    first_signup: Option<NaiveDate>,
}

#[derive(QueryableByName)]
struct Fingerprint {
    #[diesel(sql_type = Text)]
    fingerprint: String,
}

#[derive(QueryableByName)]
struct WindowRow {
    #[diesel(sql_type = Array<Int4>)]
    active_within: Vec<i32>,
}

/// One group of activity rows: users of a segment active on `day` whose previous activity was
/// `gap` days earlier (0: never before; LONG_GAP: that long or longer), with their totals.
#[derive(QueryableByName)]
struct GapRow {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Text)]
    user_type: String,
    #[diesel(sql_type = Text)]
    vertical: String,
    #[diesel(sql_type = Int4)]
    gap: i32,
    #[diesel(sql_type = Int8)]
    users: i64,
    #[diesel(sql_type = Int8)]
    sessions: i64,
    #[diesel(sql_type = Int8)]
    session_seconds: i64,
    #[diesel(sql_type = Int8)]
    events: i64,
    #[diesel(sql_type = Int8)]
    listings_posted: i64,
    #[diesel(sql_type = Int8)]
    paid_listings: i64,
    #[diesel(sql_type = Int8)]
    transactions: i64,
    #[diesel(sql_type = Int8)]
    credits_spent: i64,
}

#[derive(QueryableByName)]
struct CohortGapRow {
    #[diesel(sql_type = BigInt)]
    cohort_id: i64,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Int4)]
    gap: i32,
    #[diesel(sql_type = Int8)]
    users: i64,
    #[diesel(sql_type = Int8)]
    credits_spent: i64,
}

/// Each activity row of [$1, $2] with the days since the user's previous activity (NULL when
/// there is none). The first row of a user in the range looks further back through the
/// primary key, only when `lag` has nothing.
macro_rules! activity_with_gaps {
    () => {
        "SELECT a.user_id, a.day, a.sessions, a.session_seconds, a.events, a.listings_posted, \
                a.paid_listings, a.transactions, a.credits_spent, \
                a.day - coalesce(lag(a.day) OVER (PARTITION BY a.user_id ORDER BY a.day), \
                                 (SELECT max(b.day) FROM cdp.user_daily_activity b \
                                  WHERE b.user_id = a.user_id AND b.day < $1)) AS gap \
         FROM cdp.user_daily_activity a WHERE a.day BETWEEN $1 AND $2"
    };
}

/// Per day, segment (current user_type × favorite_vertical, '' when not set) and gap: users
/// and their activity totals. (LEAST ignores NULLs, hence the CASE that keeps "never before" 0.)
const SEGMENT_GAPS_SQL: &str = concat!(
    "WITH act AS (",
    activity_with_gaps!(),
    ") SELECT act.day, coalesce(lower(nullif(u.user_type, '')), '') AS user_type, \
              coalesce(lower(nullif(u.favorite_vertical, '')), '') AS vertical, \
              coalesce(CASE WHEN act.gap IS NOT NULL THEN least(act.gap, $3) END, 0)::int4 AS gap, count(*)::int8 AS users, \
              sum(act.sessions)::int8 AS sessions, sum(act.session_seconds)::int8 AS session_seconds, \
              sum(act.events)::int8 AS events, sum(act.listings_posted)::int8 AS listings_posted, \
              sum(act.paid_listings)::int8 AS paid_listings, sum(act.transactions)::int8 AS transactions, \
              sum(act.credits_spent)::int8 AS credits_spent \
       FROM act LEFT JOIN public.users u ON u.user_id = act.user_id \
       GROUP BY 1, 2, 3, 4"
);

/// Per live cohort, day and gap: members active and their credits.
const COHORT_GAPS_SQL: &str = concat!(
    "WITH act AS (",
    activity_with_gaps!(),
    ") SELECT m.cohort_id, act.day, coalesce(CASE WHEN act.gap IS NOT NULL THEN least(act.gap, $3) END, 0)::int4 AS gap, count(*)::int8 AS users, \
              sum(act.credits_spent)::int8 AS credits_spent \
       FROM act JOIN cdp.cohort_members m ON m.user_id = act.user_id \
       JOIN cdp.cohorts c ON c.id = m.cohort_id AND c.deleted_at IS NULL \
       GROUP BY 1, 2, 3"
);

/// Changes whenever a cohort is created, edited, refreshed or deleted.
pub async fn cohorts_fingerprint(conn: &mut AsyncPgConnection) -> diesel::QueryResult<String> {
    let row: Fingerprint = sql_query(
        "SELECT count(*)::text || '/' || coalesce(max(greatest(created_at, updated_at, last_refreshed_at, deleted_at))::text, '') AS fingerprint \
         FROM cdp.cohorts",
    )
    .get_result(conn)
    .await?;
    Ok(row.fingerprint)
}

/// Brings every rollup up to date with the ETL-owned tables as `request` describes, through
/// today in `tz`. Concurrent runs serialise on the state row; the later one fails with a
/// serialization error and is retried by the job queue (it then sees the newer data).
pub async fn refresh(db: &Db, tz: Tz, settings: MetricSettings, request: &RollupRequest) -> Result<RollupReport, DashboardError> {
    let started = Instant::now();
    let today = today(tz);
    let mut tx = db.begin_system().await?;
    sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let state: StateRow = sql_query("SELECT through_day, churn_window_days, cohorts_fingerprint FROM cdp.dashboard_rollup_state WHERE id FOR UPDATE")
        .get_result(&mut *tx)
        .await?;
    let bounds: Bounds = sql_query(
        "SELECT (SELECT min(day) FROM cdp.user_daily_activity WHERE day <= $1) AS first_activity, \
                (SELECT min(user_account_creation_date)::date FROM public.users) AS first_signup",
    )
    .bind::<Date, _>(today)
    .get_result(&mut *tx)
    .await?;
    let fingerprint = cohorts_fingerprint(&mut tx).await?;

    let mut full = request.full || state.through_day.is_none() || state.churn_window_days != settings.churn_window_days;
    // The first day whose activity rollups must be recomputed: the changed day, and the days
    // that passed since the last run (churn and windows move on even without new data).
    let mut from = match bounds.first_activity {
        None => None,
        Some(first) if full => Some(first),
        Some(first) => {
            let rollover = state.through_day.map(|t| t + Days::new(1));
            [request.activity_from, rollover].into_iter().flatten().min().map(|d| d.max(first)).filter(|d| *d <= today)
        }
    };
    // The walk starts from the stored window of the day before; without it, start over.
    let mut base = vec![0i64; WINDOW];
    if let (Some(start), Some(first)) = (from, bounds.first_activity)
        && start > first
    {
        match load_window(&mut tx, minus(start, 1)).await? {
            Some(counts) => base = last_activity_counts(&counts),
            None => {
                full = true;
                from = Some(first);
            }
        }
    }

    if full || bounds.first_activity.is_none() {
        for table in ["daily_activity_rollup", "active_window_rollup", "segment_activity_rollup"] {
            sql_query(format!("DELETE FROM cdp.{table}")).execute(&mut *tx).await?;
        }
    }
    let mut activity_days = 0;
    if let Some(start) = from {
        activity_days = (today - start).num_days() + 1;
        for table in ["daily_activity_rollup", "active_window_rollup", "segment_activity_rollup"] {
            sql_query(format!("DELETE FROM cdp.{table} WHERE day >= $1")).bind::<Date, _>(start).execute(&mut *tx).await?;
        }
        let rows: Vec<GapRow> =
            sql_query(SEGMENT_GAPS_SQL).bind::<Date, _>(start).bind::<Date, _>(today).bind::<Int4, _>(LONG_GAP as i32).load(&mut *tx).await?;
        let days = walk_days(start, today, base, &rows, settings);
        write_days(&mut tx, &days).await?;
        write_segments(&mut tx, &segment_days(&rows)).await?;
    }

    // Cohorts: the whole history when they changed, else the same days as the rest.
    let cohorts_rebuilt = full || request.cohorts || fingerprint != state.cohorts_fingerprint;
    let cohort_from = if cohorts_rebuilt { bounds.first_activity } else { from };
    if cohorts_rebuilt {
        sql_query("DELETE FROM cdp.cohort_activity_rollup").execute(&mut *tx).await?;
    }
    if let Some(start) = cohort_from {
        sql_query("DELETE FROM cdp.cohort_activity_rollup WHERE day >= $1").bind::<Date, _>(start).execute(&mut *tx).await?;
        let rows: Vec<CohortGapRow> =
            sql_query(COHORT_GAPS_SQL).bind::<Date, _>(start).bind::<Date, _>(today).bind::<Int4, _>(LONG_GAP as i32).load(&mut *tx).await?;
        write_cohorts(&mut tx, &cohort_days(&rows)).await?;
    }

    refresh_user_aggregates(&mut tx).await?;

    let first_day = [bounds.first_activity, bounds.first_signup].into_iter().flatten().min();
    let duration = started.elapsed();
    sql_query(
        "UPDATE cdp.dashboard_rollup_state SET first_day = $1, through_day = $2, churn_window_days = $3, \
                cohorts_fingerprint = $4, updated_at = now(), \
                last_full_at = CASE WHEN $5 THEN now() ELSE last_full_at END, last_duration_ms = $6 \
         WHERE id",
    )
    .bind::<Nullable<Date>, _>(first_day)
    .bind::<Date, _>(today)
    .bind::<Int4, _>(settings.churn_window_days)
    .bind::<Text, _>(&fingerprint)
    .bind::<Bool, _>(full)
    .bind::<Int4, _>(duration.as_millis().min(i32::MAX as u128) as i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RollupReport { full, activity_from: from, through: today, activity_days, cohorts_rebuilt, duration })
}

async fn load_window(conn: &mut AsyncPgConnection, day: NaiveDate) -> diesel::QueryResult<Option<Vec<i32>>> {
    let rows: Vec<WindowRow> = sql_query("SELECT active_within FROM cdp.active_window_rollup WHERE day = $1").bind::<Date, _>(day).load(conn).await?;
    Ok(rows.into_iter().next().map(|r| r.active_within))
}

/// Undoes the running sum: users whose last activity was exactly k days before.
fn last_activity_counts(active_within: &[i32]) -> Vec<i64> {
    let mut counts = vec![0i64; WINDOW];
    let mut previous = 0i64;
    for (k, slot) in counts.iter_mut().enumerate() {
        let Some(&within) = active_within.get(k) else { break };
        *slot = within as i64 - previous;
        previous = within as i64;
    }
    counts
}

/// The rollup row of one day.
#[derive(Debug, Default)]
struct DayRollup {
    day: Option<NaiveDate>,
    dau: i64,
    wau: i64,
    mau: i64,
    churned: i64,
    reactivated: i64,
    about_to_churn: i64,
    first_time: i64,
    sums: [i64; 7],
    active_within: Vec<i64>,
}

/// Walks the days of [start, today] from `base` (the last-activity counts of the day before).
fn walk_days(start: NaiveDate, today: NaiveDate, base: Vec<i64>, rows: &[GapRow], settings: MetricSettings) -> Vec<DayRollup> {
    let n = ((today - start).num_days() + 1).max(0) as usize;
    let mut returners = vec![vec![0i64; LONG_GAP + 1]; n];
    let mut sums = vec![[0i64; 7]; n];
    for row in rows {
        let i = (row.day - start).num_days() as usize;
        let Some(day) = returners.get_mut(i) else { continue };
        day[(row.gap.max(0) as usize).min(LONG_GAP)] += row.users;
        let totals = [row.sessions, row.session_seconds, row.events, row.listings_posted, row.paid_listings, row.transactions, row.credits_spent];
        for (sum, value) in sums[i].iter_mut().zip(totals) {
            *sum += value;
        }
    }
    let window = settings.churn_window_days as usize;
    let mut last = base;
    let mut out = Vec::with_capacity(n);
    for (i, returning) in returners.iter().enumerate() {
        let dau: i64 = returning.iter().sum();
        let mut next = vec![0i64; WINDOW];
        next[0] = dau;
        for k in 1..WINDOW {
            next[k] = last[k - 1] - returning[k];
        }
        if next.iter().any(|c| *c < 0) {
            // Only when an earlier day changed and its own rollup has not run yet; that run
            // recomputes this day too.
            tracing::warn!(day = %iso(start + Days::new(i as u64)), "rollup base is stale; figures are clamped until the earlier day is rolled up");
            next.iter_mut().for_each(|c| *c = (*c).max(0));
        }
        let kept = next.iter().rposition(|c| *c != 0).map_or(1, |k| k + 1);
        let mut active_within = Vec::with_capacity(kept);
        let mut running = 0;
        for count in &next[..kept] {
            running += count;
            active_within.push(running);
        }
        let within = |k: usize| active_within[k.min(active_within.len() - 1)];
        out.push(DayRollup {
            day: Some(start + Days::new(i as u64)),
            dau,
            wau: within(6),
            mau: within(29),
            churned: next[window],
            reactivated: returning[window + 1..].iter().sum(),
            about_to_churn: within(window - 1) - within(ABOUT_TO_CHURN_FROM_DAYS as usize - 1),
            first_time: returning[0],
            sums: sums[i],
            active_within,
        });
        last = next;
    }
    out
}

/// The activity of one group (segment or cohort) on one day.
#[derive(Debug, Default)]
struct GroupDay {
    active_users: i64,
    credits_spent: i64,
    /// (gap, users) of returners with a gap that a range can contain.
    returning: Vec<(usize, i64)>,
}

impl GroupDay {
    fn add(&mut self, gap: i32, users: i64, credits: i64) {
        self.active_users += users;
        self.credits_spent += credits;
        let gap = gap.max(0) as usize;
        if (1..LONG_GAP).contains(&gap) {
            self.returning.push((gap, users));
        }
    }

    /// returning_within[j - 1] = returners with a gap of at most j days, up to the longest gap.
    fn returning_within(&self) -> Vec<i64> {
        let longest = self.returning.iter().map(|(g, _)| *g).max().unwrap_or(0);
        let mut by_gap = vec![0i64; longest + 1];
        for (gap, users) in &self.returning {
            by_gap[*gap] += users;
        }
        let mut running = 0;
        by_gap[1..]
            .iter()
            .map(|u| {
                running += u;
                running
            })
            .collect()
    }
}

fn segment_days(rows: &[GapRow]) -> HashMap<(NaiveDate, String, String), GroupDay> {
    let mut out: HashMap<(NaiveDate, String, String), GroupDay> = HashMap::new();
    for row in rows {
        out.entry((row.day, row.user_type.clone(), row.vertical.clone())).or_default().add(row.gap, row.users, row.credits_spent);
    }
    out
}

fn cohort_days(rows: &[CohortGapRow]) -> HashMap<(i64, NaiveDate), GroupDay> {
    let mut out: HashMap<(i64, NaiveDate), GroupDay> = HashMap::new();
    for row in rows {
        out.entry((row.cohort_id, row.day)).or_default().add(row.gap, row.users, row.credits_spent);
    }
    out
}

/// `{1,2,3}`: an int array as PostgreSQL's text form, bound as text and cast in SQL.
fn int_array(values: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    format!("{{{}}}", items.join(","))
}

fn int4(value: i64) -> i32 {
    value.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

async fn write_days(conn: &mut AsyncPgConnection, days: &[DayRollup]) -> diesel::QueryResult<()> {
    for chunk in days.chunks(CHUNK) {
        let col = |f: &dyn Fn(&DayRollup) -> i64| chunk.iter().map(f).collect::<Vec<i64>>();
        let day: Vec<NaiveDate> = chunk.iter().filter_map(|d| d.day).collect();
        let as_int4 = |v: Vec<i64>| v.into_iter().map(int4).collect::<Vec<i32>>();
        sql_query(
            "INSERT INTO cdp.daily_activity_rollup (day, dau, wau, mau, churned, reactivated, about_to_churn, first_time, \
                    sessions, session_seconds, events, listings_posted, paid_listings, transactions, credits_spent) \
             SELECT * FROM unnest($1::date[], $2::int4[], $3::int4[], $4::int4[], $5::int4[], $6::int4[], $7::int4[], $8::int4[], \
                                  $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[])",
        )
        .bind::<Array<Date>, _>(&day)
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.dau)))
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.wau)))
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.mau)))
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.churned)))
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.reactivated)))
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.about_to_churn)))
        .bind::<Array<Int4>, _>(as_int4(col(&|d| d.first_time)))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[0]))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[1]))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[2]))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[3]))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[4]))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[5]))
        .bind::<Array<Int8>, _>(col(&|d| d.sums[6]))
        .execute(conn)
        .await?;
        let windows: Vec<String> = chunk.iter().map(|d| int_array(d.active_within.iter().copied())).collect();
        sql_query("INSERT INTO cdp.active_window_rollup (day, active_within) SELECT d, w::int4[] FROM unnest($1::date[], $2::text[]) AS t(d, w)")
            .bind::<Array<Date>, _>(&day)
            .bind::<Array<Text>, _>(&windows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

async fn write_segments(conn: &mut AsyncPgConnection, groups: &HashMap<(NaiveDate, String, String), GroupDay>) -> diesel::QueryResult<()> {
    let entries: Vec<_> = groups.iter().collect();
    for chunk in entries.chunks(CHUNK) {
        let days: Vec<NaiveDate> = chunk.iter().map(|((d, _, _), _)| *d).collect();
        let types: Vec<&str> = chunk.iter().map(|((_, t, _), _)| t.as_str()).collect();
        let verticals: Vec<&str> = chunk.iter().map(|((_, _, v), _)| v.as_str()).collect();
        let active: Vec<i32> = chunk.iter().map(|(_, g)| int4(g.active_users)).collect();
        let credits: Vec<i64> = chunk.iter().map(|(_, g)| g.credits_spent).collect();
        let returning: Vec<String> = chunk.iter().map(|(_, g)| int_array(g.returning_within())).collect();
        sql_query(
            "INSERT INTO cdp.segment_activity_rollup (day, user_type, vertical, active_users, credits_spent, returning_within) \
             SELECT d, t, v, a, c, r::int4[] FROM unnest($1::date[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::text[]) AS x(d, t, v, a, c, r)",
        )
        .bind::<Array<Date>, _>(days)
        .bind::<Array<Text>, _>(types)
        .bind::<Array<Text>, _>(verticals)
        .bind::<Array<Int4>, _>(active)
        .bind::<Array<Int8>, _>(credits)
        .bind::<Array<Text>, _>(returning)
        .execute(conn)
        .await?;
    }
    Ok(())
}

async fn write_cohorts(conn: &mut AsyncPgConnection, groups: &HashMap<(i64, NaiveDate), GroupDay>) -> diesel::QueryResult<()> {
    let entries: Vec<_> = groups.iter().collect();
    for chunk in entries.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|((id, _), _)| *id).collect();
        let days: Vec<NaiveDate> = chunk.iter().map(|((_, d), _)| *d).collect();
        let active: Vec<i32> = chunk.iter().map(|(_, g)| int4(g.active_users)).collect();
        let credits: Vec<i64> = chunk.iter().map(|(_, g)| g.credits_spent).collect();
        let returning: Vec<String> = chunk.iter().map(|(_, g)| int_array(g.returning_within())).collect();
        sql_query(
            "INSERT INTO cdp.cohort_activity_rollup (cohort_id, day, active_users, credits_spent, returning_within) \
             SELECT i, d, a, c, r::int4[] FROM unnest($1::int8[], $2::date[], $3::int4[], $4::int8[], $5::text[]) AS x(i, d, a, c, r)",
        )
        .bind::<Array<Int8>, _>(ids)
        .bind::<Array<Date>, _>(days)
        .bind::<Array<Int4>, _>(active)
        .bind::<Array<Int8>, _>(credits)
        .bind::<Array<Text>, _>(returning)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The small aggregates of the users table (and identities): rebuilt whole every run.
async fn refresh_user_aggregates(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    sql_query("DELETE FROM cdp.signup_funnel_rollup").execute(conn).await?;
    // Each funnel step requires the ones before it.
    sql_query(
        "INSERT INTO cdp.signup_funnel_rollup (day, signups, with_listing, with_paid_listing, with_transaction) \
         SELECT user_account_creation_date::date, count(*), \
                count(*) FILTER (WHERE listed), \
                count(*) FILTER (WHERE listed AND first_paid_listing_date IS NOT NULL), \
                count(*) FILTER (WHERE listed AND first_paid_listing_date IS NOT NULL AND first_transaction_date IS NOT NULL) \
         FROM (SELECT user_account_creation_date, first_paid_listing_date, first_transaction_date, \
                      (coalesce(total_listings_count, 0) > 0 OR first_paid_listing_date IS NOT NULL) AS listed \
               FROM public.users WHERE user_account_creation_date IS NOT NULL) u \
         GROUP BY 1",
    )
    .execute(conn)
    .await?;
    sql_query("DELETE FROM cdp.segment_rollup").execute(conn).await?;
    sql_query(
        "INSERT INTO cdp.segment_rollup (user_type, vertical, users, spenders, lifetime_credits) \
         SELECT coalesce(lower(nullif(user_type, '')), ''), coalesce(lower(nullif(favorite_vertical, '')), ''), count(*), \
                count(*) FILTER (WHERE total_credits_spent > 0), \
                coalesce(sum(total_credits_spent) FILTER (WHERE total_credits_spent > 0), 0) \
         FROM public.users GROUP BY 1, 2",
    )
    .execute(conn)
    .await?;
    sql_query(
        "INSERT INTO cdp.profile_health_rollup (id, total_profiles, amplitude_matched, braze_matched, computed_at) \
         SELECT true, count(*), count(nullif(i.amplitude_id, '')), count(nullif(i.braze_id, '')), now() \
         FROM public.users u LEFT JOIN cdp.identities i ON i.user_id = u.user_id \
         ON CONFLICT (id) DO UPDATE SET total_profiles = excluded.total_profiles, amplitude_matched = excluded.amplitude_matched, \
                braze_matched = excluded.braze_matched, computed_at = excluded.computed_at",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The job handler of `dashboard.rollup`.
pub struct RollupJob {
    pub db: Db,
    pub tz: Tz,
    pub settings: MetricSettings,
}

#[tonic::async_trait]
impl JobHandler for RollupJob {
    fn kind(&self) -> &'static str {
        ROLLUP_KIND
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let request: RollupRequest = serde_json::from_value(job.payload.clone()).map_err(|e| JobError::Permanent(format!("bad payload: {e}")))?;
        let report = refresh(&self.db, self.tz, self.settings, &request).await.map_err(JobError::retry)?;
        tracing::info!(full = report.full, from = ?report.activity_from, through = %report.through, days = report.activity_days,
                       cohorts = report.cohorts_rebuilt, ms = report.duration.as_millis() as u64, "dashboard rollups refreshed");
        Ok(())
    }
}
