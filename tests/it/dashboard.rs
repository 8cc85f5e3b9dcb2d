//! DashboardService: every metric against an independent SQL computation over a seeded
//! marketplace (straight from the definitions in docs/metrics.md, over the raw tables, never
//! through the rollups), edge ranges, bad ranges, the reporting time zone, segments and
//! distributions with their drill-down conditions, data health, and the ingestion watcher.

use cdp_proto::cdp::v1::{self as pb, DashboardMetric as M, DatePreset, TimeBucket, dashboard_service_client::DashboardServiceClient};
use cdp_server::{
    conditions::{self, Catalogue, CompileOptions},
    dashboard::{
        definitions::{self, MetricSettings},
        rollup::{self, RollupRequest},
        watcher::{self, WatchJob},
    },
    jobs::{Registry, Worker},
    seed::{SeedOptions, seed},
};
use cdp_tests::{TestApp, TestDb, authed, fixtures, test_env};
use chrono::{Datelike, Days, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Date, Double, Nullable, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::{collections::HashMap, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::Code;

const SEED_USERS: u32 = 1500;
const SEED_DAYS: u32 = 150;

fn iso(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn minus(day: NaiveDate, days: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(days)).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn today(app: &TestApp) -> NaiveDate {
    Utc::now().with_timezone(&app.app.config.reporting_tz).date_naive()
}

/// A server whose database holds a seeded marketplace ending today, rolled up.
async fn seeded_app() -> (TestApp, String) {
    let app = TestApp::start().await;
    let options = SeedOptions { users: SEED_USERS, seed: 11, days: SEED_DAYS, today: today(&app) };
    seed(&app.db.url, &options).await.expect("seeding");
    rollup_full(&app).await;
    let (_, token) = fixtures::user_with_role(&app, "read_only").await;
    (app, token)
}

async fn rollup_full(app: &TestApp) {
    rollup::refresh(&app.app.db, app.app.config.reporting_tz, MetricSettings::default(), &RollupRequest { full: true, ..Default::default() })
        .await
        .expect("the rollup runs");
}

fn client(app: &TestApp) -> DashboardServiceClient<tonic::transport::Channel> {
    DashboardServiceClient::new(app.channel.clone())
}

async fn metrics(app: &TestApp, token: &str, request: pb::GetMetricsRequest) -> pb::GetMetricsResponse {
    client(app).get_metrics(authed(request, token)).await.expect("GetMetrics").into_inner()
}

fn custom(start: NaiveDate, end: NaiveDate, bucket: TimeBucket) -> pb::GetMetricsRequest {
    pb::GetMetricsRequest { preset: DatePreset::Custom as i32, start_date: iso(start), end_date: iso(end), bucket: bucket as i32, metrics: vec![] }
}

#[derive(QueryableByName)]
struct V {
    #[diesel(sql_type = Double)]
    v: f64,
}

/// Runs an oracle query with $1 = first day, $2 = last day.
async fn sql_value(conn: &mut AsyncPgConnection, sql: &str, start: NaiveDate, end: NaiveDate) -> f64 {
    diesel::sql_query(sql).bind::<Date, _>(start).bind::<Date, _>(end).get_result::<V>(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).v
}

/// The definition of each metric over the days [$1, $2], written directly against the raw
/// tables (docs/metrics.md).
fn oracle_sql(metric: M) -> &'static str {
    match metric {
        M::Dau => "SELECT (SELECT count(*) FROM cdp.user_daily_activity WHERE day BETWEEN $1 AND $2)::float8 / ($2::date - $1::date + 1) AS v",
        M::Wau => {
            "SELECT avg(x)::float8 AS v FROM generate_series($1::date, $2::date, interval '1 day') g(d), \
                   LATERAL (SELECT count(DISTINCT user_id) AS x FROM cdp.user_daily_activity WHERE day BETWEEN g.d::date - 6 AND g.d::date) l"
        }
        M::Mau => {
            "SELECT avg(x)::float8 AS v FROM generate_series($1::date, $2::date, interval '1 day') g(d), \
                   LATERAL (SELECT count(DISTINCT user_id) AS x FROM cdp.user_daily_activity WHERE day BETWEEN g.d::date - 29 AND g.d::date) l"
        }
        M::ActiveUsers => "SELECT count(DISTINCT user_id)::float8 AS v FROM cdp.user_daily_activity WHERE day BETWEEN $1 AND $2",
        M::NewUsers => "SELECT count(*)::float8 AS v FROM public.users WHERE user_account_creation_date::date BETWEEN $1 AND $2",
        M::ChurnedUsers => {
            "SELECT coalesce(sum(x), 0)::float8 AS v FROM generate_series($1::date, $2::date, interval '1 day') g(d), \
                            LATERAL (SELECT count(*) AS x FROM (SELECT max(day) AS last FROM cdp.user_daily_activity WHERE day <= g.d::date GROUP BY user_id) t \
                                     WHERE t.last = g.d::date - 30) l"
        }
        M::ReactivatedUsers => {
            "SELECT count(*)::float8 AS v FROM cdp.user_daily_activity a WHERE a.day BETWEEN $1 AND $2 \
                                AND (SELECT max(b.day) FROM cdp.user_daily_activity b WHERE b.user_id = a.user_id AND b.day < a.day) <= a.day - 31"
        }
        M::AboutToChurnUsers => {
            "SELECT count(*)::float8 AS v FROM (SELECT max(day) AS last FROM cdp.user_daily_activity \
                                 WHERE day <= $2 AND $1::date <= $2::date GROUP BY user_id) t WHERE t.last BETWEEN $2::date - 29 AND $2::date - 14"
        }
        M::StickinessDauMau => {
            "SELECT coalesce(sum(l.dau)::float8 / nullif(sum(l.mau), 0), 0) AS v FROM generate_series($1::date, $2::date, interval '1 day') g(d), \
                                LATERAL (SELECT count(*) FILTER (WHERE day = g.d::date) AS dau, count(DISTINCT user_id) AS mau \
                                         FROM cdp.user_daily_activity WHERE day BETWEEN g.d::date - 29 AND g.d::date) l"
        }
        M::StickinessWauMau => {
            "SELECT coalesce(sum(l.wau)::float8 / nullif(sum(l.mau), 0), 0) AS v FROM generate_series($1::date, $2::date, interval '1 day') g(d), \
                                LATERAL (SELECT count(DISTINCT user_id) FILTER (WHERE day >= g.d::date - 6) AS wau, count(DISTINCT user_id) AS mau \
                                         FROM cdp.user_daily_activity WHERE day BETWEEN g.d::date - 29 AND g.d::date) l"
        }
        M::AvgSessionDuration => {
            "SELECT coalesce(sum(session_seconds)::float8 / nullif(sum(sessions), 0), 0) AS v FROM cdp.user_daily_activity WHERE day BETWEEN $1 AND $2"
        }
        M::KeyEventCompletionRate => {
            "SELECT coalesce(count(*) FILTER (WHERE (coalesce(total_listings_count, 0) > 0 OR first_paid_listing_date IS NOT NULL) \
                                          AND first_paid_listing_date IS NOT NULL AND first_transaction_date IS NOT NULL)::float8 / nullif(count(*), 0), 0) AS v \
                                      FROM public.users WHERE user_account_creation_date::date BETWEEN $1 AND $2"
        }
        M::AverageCltv => {
            "SELECT coalesce(avg(total_credits_spent) FILTER (WHERE total_credits_spent > 0), 0)::float8 AS v FROM public.users WHERE $1::date <= $2::date"
        }
        M::Events => "SELECT coalesce(sum(events), 0)::float8 AS v FROM cdp.user_daily_activity WHERE day BETWEEN $1 AND $2",
        M::CreditsSpent => "SELECT coalesce(sum(credits_spent), 0)::float8 AS v FROM cdp.user_daily_activity WHERE day BETWEEN $1 AND $2",
        M::ActiveUserGrowthRate | M::Unspecified => unreachable!("computed from active users"),
    }
}

async fn oracle(conn: &mut AsyncPgConnection, metric: M, start: NaiveDate, end: NaiveDate) -> f64 {
    if metric == M::ActiveUserGrowthRate {
        let days = (end - start).num_days() as u64 + 1;
        let now = sql_value(conn, oracle_sql(M::ActiveUsers), start, end).await;
        let before = sql_value(conn, oracle_sql(M::ActiveUsers), minus(start, days), minus(end, days)).await;
        return if before == 0.0 { 0.0 } else { (now - before) / before };
    }
    sql_value(conn, oracle_sql(metric), start, end).await
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn range_of(r: &Option<pb::DateRange>) -> (NaiveDate, NaiveDate) {
    let r = r.as_ref().expect("a range");
    (day(&r.start_date), day(&r.end_date))
}

/// Every KPI (value and previous value) against the oracle of its range.
async fn assert_kpis_match(app: &TestApp, response: &pb::GetMetricsResponse) {
    let conn = &mut app.db.conn().await;
    let (start, end) = range_of(&response.range);
    let (prev_start, prev_end) = range_of(&response.previous_range);
    assert_eq!(prev_end, minus(start, 1));
    assert_eq!((prev_end - prev_start).num_days(), (end - start).num_days());
    for kpi in &response.kpis {
        let metric = kpi.metric();
        let expected = oracle(conn, metric, start, end).await;
        assert!(close(kpi.value, expected), "{metric:?} over {start}..{end}: API {} vs SQL {expected}", kpi.value);
        if metric == M::AverageCltv {
            assert_eq!(kpi.previous_value, None, "CLTV has no previous period");
            continue;
        }
        let previous = kpi.previous_value.unwrap_or_else(|| panic!("{metric:?} has a previous value"));
        let expected_previous = oracle(conn, metric, prev_start, prev_end).await;
        assert!(close(previous, expected_previous), "{metric:?} previous {prev_start}..{prev_end}: API {previous} vs SQL {expected_previous}");
        match kpi.change_ratio {
            Some(change) => assert!(close(change, (kpi.value - previous) / previous)),
            None => assert_eq!(previous, 0.0),
        }
        assert!(!kpi.description.is_empty() && !kpi.label.is_empty() && kpi.unit != 0, "{metric:?} is described");
    }
}

/// Every point and previous point of `series` against the oracle of its bucket.
async fn assert_series_match(app: &TestApp, response: &pb::GetMetricsResponse, metrics: &[M]) {
    let conn = &mut app.db.conn().await;
    let (start, end) = range_of(&response.range);
    let length = (end - start).num_days() as u64 + 1;
    for series in response.series.iter().filter(|s| metrics.contains(&s.metric())) {
        assert_eq!(series.points.len(), series.previous_points.len());
        for (i, point) in series.points.iter().enumerate() {
            let bucket_start = day(&point.bucket_start);
            let bucket_end = series.points.get(i + 1).map_or(end, |next| minus(day(&next.bucket_start), 1));
            let expected = oracle(conn, series.metric(), bucket_start, bucket_end).await;
            assert!(close(point.value, expected), "{:?} bucket {bucket_start}..{bucket_end}: API {} vs SQL {expected}", series.metric(), point.value);
            let previous = &series.previous_points[i];
            assert_eq!(day(&previous.bucket_start), minus(bucket_start, length), "previous points are the buckets moved back by the range");
            let expected = oracle(conn, series.metric(), minus(bucket_start, length), minus(bucket_end, length)).await;
            assert!(close(previous.value, expected), "{:?} previous bucket of {bucket_start}: API {} vs SQL {expected}", series.metric(), previous.value);
        }
    }
}

#[tokio::test]
async fn last_90_days_match_sql_for_every_metric_with_comparison() {
    let (app, token) = seeded_app().await;
    let request = pb::GetMetricsRequest { preset: DatePreset::Last90Days as i32, ..Default::default() };
    let response = metrics(&app, &token, request).await;
    let today = today(&app);
    assert_eq!(range_of(&response.range), (minus(today, 89), today));
    assert_eq!(response.bucket(), TimeBucket::Daily);
    assert_eq!(response.kpis.iter().map(|k| k.metric()).collect::<Vec<_>>(), definitions::ALL_METRICS.to_vec(), "every metric, in order");
    assert_eq!(response.series.len(), definitions::ALL_METRICS.len() - 1, "every metric but CLTV has a series");
    assert!(response.data_updated_at.is_some());
    assert_kpis_match(&app, &response).await;
    assert_series_match(&app, &response, &[M::Dau, M::Wau, M::Mau, M::ActiveUsers, M::ChurnedUsers, M::ReactivatedUsers, M::AboutToChurnUsers, M::NewUsers])
        .await;
    // The seed is realistic: all of these happen in 90 days.
    for metric in [M::Dau, M::ChurnedUsers, M::ReactivatedUsers, M::AboutToChurnUsers, M::NewUsers, M::CreditsSpent] {
        assert!(response.kpis.iter().any(|k| k.metric() == metric && k.value > 0.0), "{metric:?} is not zero on the seeded marketplace");
    }

    // Funnel and CLTV.
    let (start, end) = range_of(&response.range);
    let steps = [
        "TRUE",
        "(coalesce(total_listings_count, 0) > 0 OR first_paid_listing_date IS NOT NULL)",
        "(coalesce(total_listings_count, 0) > 0 OR first_paid_listing_date IS NOT NULL) AND first_paid_listing_date IS NOT NULL",
        "(coalesce(total_listings_count, 0) > 0 OR first_paid_listing_date IS NOT NULL) AND first_paid_listing_date IS NOT NULL AND first_transaction_date IS NOT NULL",
    ];
    assert_eq!(response.funnel.len(), 4);
    let mut conn = app.db.conn().await;
    for (step, condition) in response.funnel.iter().zip(steps) {
        let sql = format!("SELECT count(*)::float8 AS v FROM public.users WHERE user_account_creation_date::date BETWEEN $1 AND $2 AND {condition}");
        assert_eq!(step.users as f64, sql_value(&mut conn, &sql, start, end).await, "{}", step.name);
        assert_eq!(step.previous_users as f64, sql_value(&mut conn, &sql, minus(start, 90), minus(end, 90)).await, "{} previous", step.name);
        assert!(!step.description.is_empty());
    }
    assert!(close(response.funnel[3].conversion_from_start, response.funnel[3].users as f64 / response.funnel[0].users as f64));
    let cltv = response.cltv.expect("CLTV");
    assert_eq!(cltv.users, fixtures::count(&app, "SELECT count(*) AS n FROM public.users WHERE total_credits_spent > 0").await);
    #[derive(QueryableByName)]
    struct Segment {
        #[diesel(sql_type = Text)]
        user_type: String,
        #[diesel(sql_type = Text)]
        vertical: String,
        #[diesel(sql_type = BigInt)]
        users: i64,
        #[diesel(sql_type = Double)]
        average: f64,
    }
    let expected: Vec<Segment> = diesel::sql_query(
        "SELECT coalesce(user_type, '') AS user_type, coalesce(favorite_vertical, '') AS vertical, count(*) AS users, avg(total_credits_spent)::float8 AS average \
         FROM public.users WHERE total_credits_spent > 0 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(cltv.segments.len(), expected.len());
    for (got, want) in cltv.segments.iter().zip(&expected) {
        assert_eq!((got.user_type.as_str(), got.vertical.as_str(), got.users), (want.user_type.as_str(), want.vertical.as_str(), want.users));
        assert!(close(got.average_ltv, want.average));
    }
}

#[tokio::test]
async fn weekly_and_monthly_buckets_across_month_boundaries_match_sql() {
    let (app, token) = seeded_app().await;
    let today = today(&app);
    // From the 20th of the month before last to the 10th of this month (or today).
    let first_of_month = today.with_day0(0).unwrap();
    let start = minus(minus(first_of_month, 1).with_day0(0).unwrap(), 1).with_day0(19).unwrap();
    let end = first_of_month.with_day0(9).unwrap().min(today);
    for bucket in [TimeBucket::Weekly, TimeBucket::Monthly] {
        let response = metrics(&app, &token, custom(start, end, bucket)).await;
        assert_eq!(response.bucket(), bucket);
        let starts: Vec<NaiveDate> = response.series[0].points.iter().map(|p| day(&p.bucket_start)).collect();
        assert_eq!(starts[0], start, "the first bucket is cut to the range");
        for s in &starts[1..] {
            match bucket {
                TimeBucket::Weekly => assert_eq!(s.weekday(), chrono::Weekday::Mon),
                _ => assert_eq!(s.day(), 1),
            }
        }
        if bucket == TimeBucket::Monthly {
            assert_eq!(starts.len(), 3, "three calendar months are touched");
        }
        assert_kpis_match(&app, &response).await;
        assert_series_match(&app, &response, &definitions::ALL_METRICS.iter().copied().filter(|m| *m != M::AverageCltv).collect::<Vec<_>>()).await;
    }
}

#[tokio::test]
async fn a_custom_one_day_range_compares_with_the_day_before() {
    let (app, token) = seeded_app().await;
    let the_day = minus(today(&app), 40);
    let response = metrics(&app, &token, custom(the_day, the_day, TimeBucket::Unspecified)).await;
    assert_eq!(range_of(&response.range), (the_day, the_day));
    assert_eq!(range_of(&response.previous_range), (minus(the_day, 1), minus(the_day, 1)));
    assert_eq!(response.bucket(), TimeBucket::Daily);
    assert_eq!(response.series[0].points.len(), 1);
    assert_kpis_match(&app, &response).await;
    let dau = response.kpis.iter().find(|k| k.metric() == M::Dau).unwrap();
    let active = response.kpis.iter().find(|k| k.metric() == M::ActiveUsers).unwrap();
    assert_eq!(dau.value, active.value, "on one day, DAU is the active users");

    // TODAY and YESTERDAY are one-day ranges too.
    for (preset, expected) in [(DatePreset::Today, today(&app)), (DatePreset::Yesterday, minus(today(&app), 1))] {
        let response = metrics(&app, &token, pb::GetMetricsRequest { preset: preset as i32, ..Default::default() }).await;
        assert_eq!(range_of(&response.range), (expected, expected));
        assert_kpis_match(&app, &response).await;
    }
}

#[tokio::test]
async fn an_empty_range_returns_zeros_without_a_previous_value() {
    let (app, token) = seeded_app().await;
    let response = metrics(&app, &token, custom(day("2001-01-01"), day("2001-03-31"), TimeBucket::Monthly)).await;
    assert_eq!(response.kpis.len(), definitions::ALL_METRICS.len());
    for kpi in response.kpis.iter().filter(|k| k.metric() != M::AverageCltv) {
        assert_eq!(kpi.value, 0.0, "{:?}", kpi.metric());
        assert_eq!(kpi.previous_value, None, "{:?}: no data before the range either", kpi.metric());
        assert_eq!(kpi.change_ratio, None);
    }
    for series in &response.series {
        assert_eq!(series.points.len(), 3);
        assert!(series.points.iter().all(|p| p.value == 0.0));
        assert!(series.previous_points.is_empty());
    }
    assert!(response.funnel.iter().all(|s| s.users == 0 && s.previous_users == 0));

    // An empty database answers zeros as well.
    let empty = TestApp::start().await;
    let (_, token) = fixtures::user_with_role(&empty, "read_only").await;
    let response = metrics(&empty, &token, pb::GetMetricsRequest::default()).await;
    assert!(response.kpis.iter().all(|k| k.value == 0.0 && k.previous_value.is_none()));
    assert_eq!(response.data_updated_at, None);
}

fn violation_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_bad_request().and_then(|b| <[_]>::first(&b.field_violations).map(|v| v.field.clone())).unwrap_or_default()
}

#[tokio::test]
async fn bad_ranges_and_arguments_are_invalid_argument_naming_the_field() {
    let app = TestApp::start().await;
    let (_, token) = fixtures::user_with_role(&app, "read_only").await;
    let today = today(&app);
    let cases = [
        (custom(minus(today, 3), minus(today, 4), TimeBucket::Daily), "end_date"),
        (custom(minus(today, 1096), today, TimeBucket::Monthly), "start_date"),
        (custom(minus(today, 2), today + Days::new(1), TimeBucket::Daily), "end_date"),
        (
            pb::GetMetricsRequest { preset: DatePreset::Custom as i32, start_date: "2026-02-30".into(), end_date: iso(today), ..Default::default() },
            "start_date",
        ),
        (pb::GetMetricsRequest { preset: DatePreset::Custom as i32, start_date: iso(today), ..Default::default() }, "end_date"),
        (pb::GetMetricsRequest { preset: DatePreset::Last7Days as i32, start_date: iso(today), ..Default::default() }, "start_date"),
        (pb::GetMetricsRequest { preset: 99, ..Default::default() }, "preset"),
        (pb::GetMetricsRequest { bucket: 42, ..Default::default() }, "bucket"),
        (pb::GetMetricsRequest { metrics: vec![M::Dau as i32, 0], ..Default::default() }, "metrics[1]"),
    ];
    for (request, field) in cases {
        let status = client(&app).get_metrics(authed(request.clone(), &token)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(violation_field(&status), field, "{request:?}: {}", status.message());
    }
    // The longest allowed span is accepted.
    assert!(client(&app).get_metrics(authed(custom(minus(today, 1095), today, TimeBucket::Unspecified), &token)).await.is_ok());
    // The other RPCs validate their ranges the same way.
    let segments =
        pb::GetUserSegmentsRequest { preset: DatePreset::Custom as i32, start_date: iso(today), end_date: iso(minus(today, 1)), ..Default::default() };
    assert_eq!(violation_field(&client(&app).get_user_segments(authed(segments, &token)).await.unwrap_err()), "end_date");
    let segments = pb::GetUserSegmentsRequest { limit: -1, ..Default::default() };
    assert_eq!(violation_field(&client(&app).get_user_segments(authed(segments, &token)).await.unwrap_err()), "limit");
    let health = pb::GetDataHealthRequest { preset: DatePreset::Custom as i32, start_date: iso(minus(today, 2000)), end_date: iso(today) };
    assert_eq!(violation_field(&client(&app).get_data_health(authed(health, &token)).await.unwrap_err()), "start_date");
    // Without a token there is nothing to see.
    assert_eq!(client(&app).get_metrics(pb::GetMetricsRequest::default()).await.unwrap_err().code(), Code::Unauthenticated);
}

/// A zone whose date differs from UTC's right now (UTC+14 late in the UTC day, UTC−12 early),
/// so "today" can only be right if the server uses the reporting zone.
fn zone_off_utc_today() -> Tz {
    if Utc::now().hour() >= 12 { chrono_tz::Pacific::Kiritimati } else { chrono_tz::Etc::GMTPlus12 }
}

#[tokio::test]
async fn the_reporting_time_zone_sets_today_and_day_boundaries() {
    let tz = zone_off_utc_today();
    let db = TestDb::new().await;
    let mut env = test_env(&db);
    env.insert("CDP_REPORTING_TZ".into(), tz.name().into());
    let app = TestApp::start_with(db, env).await;
    let local_today = Utc::now().with_timezone(&tz).date_naive();
    let utc_today = Utc::now().date_naive();
    assert_ne!(local_today, utc_today, "the test zone must disagree with UTC about today");
    assert_eq!(today(&app), local_today);

    // Five users active on the local today, three on the local yesterday, two on UTC's today
    // when it is not the local today or yesterday.
    let (lt, ly) = (local_today, minus(local_today, 1));
    let mut conn = app.db.conn().await;
    diesel::sql_query(
        "INSERT INTO public.users (user_id, user_type, user_account_creation_date) SELECT g, 'individual', $1::timestamp + interval '23 hours' FROM generate_series(1, 10) g",
    )
    .bind::<Date, _>(ly)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO cdp.user_daily_activity (user_id, day, sessions, session_seconds, events) \
         SELECT g, $1, 1, 60, 3 FROM generate_series(1, 5) g UNION ALL SELECT g, $2, 1, 60, 3 FROM generate_series(6, 8) g",
    )
    .bind::<Date, _>(lt)
    .bind::<Date, _>(ly)
    .execute(&mut conn)
    .await
    .unwrap();
    // A batch that finished a minute ago counts on the local today, not UTC's.
    diesel::sql_query("INSERT INTO cdp.ingestion_batches (source, rows, status, started_at, finished_at) VALUES ('activity', 77, 'succeeded', now() - interval '2 minutes', now() - interval '1 minute')")
        .execute(&mut conn)
        .await
        .unwrap();
    rollup_full(&app).await;
    let (_, token) = fixtures::user_with_role(&app, "read_only").await;

    let today_metrics = metrics(
        &app,
        &token,
        pb::GetMetricsRequest { preset: DatePreset::Today as i32, metrics: vec![M::Dau as i32, M::NewUsers as i32], ..Default::default() },
    )
    .await;
    assert_eq!(range_of(&today_metrics.range), (lt, lt));
    assert_eq!(today_metrics.kpis[0].value, 5.0);
    assert_eq!(today_metrics.kpis[0].previous_value, Some(3.0));
    let yesterday = metrics(
        &app,
        &token,
        pb::GetMetricsRequest { preset: DatePreset::Yesterday as i32, metrics: vec![M::Dau as i32, M::NewUsers as i32], ..Default::default() },
    )
    .await;
    assert_eq!(range_of(&yesterday.range), (ly, ly));
    assert_eq!(yesterday.kpis[0].value, 3.0);
    assert_eq!(yesterday.kpis[1].value, 10.0, "accounts created at 23:00 local time count on that local day");
    // Buckets are local days: the last daily point of LAST_7_DAYS is the local today.
    let week = metrics(&app, &token, pb::GetMetricsRequest { preset: DatePreset::Last7Days as i32, metrics: vec![M::Dau as i32], ..Default::default() }).await;
    let points = &week.series[0].points;
    assert_eq!(points.last().map(|p| (p.bucket_start.clone(), p.value)), Some((iso(lt), 5.0)));
    assert_eq!(points[points.len() - 2].value, 3.0);

    let health = client(&app)
        .get_data_health(authed(pb::GetDataHealthRequest { preset: DatePreset::Last7Days as i32, ..Default::default() }, &token))
        .await
        .unwrap()
        .into_inner();
    let point = |d: NaiveDate| health.ingestion.iter().find(|p| p.date == iso(d)).map(|p| (p.rows, p.events));
    assert_eq!(point(lt), Some((77, 15)), "the batch and today's events count on the local today");
    assert_eq!(point(ly), Some((0, 9)));
}

#[derive(QueryableByName, Debug)]
struct JobRow {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payload: serde_json::Value,
}

async fn jobs_of(app: &TestApp, kinds: &[&str]) -> Vec<JobRow> {
    let mut conn = app.db.conn().await;
    let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    diesel::sql_query("SELECT payload FROM cdp.jobs WHERE kind = ANY($1) ORDER BY id")
        .bind::<diesel::sql_types::Array<Text>, _>(kinds)
        .load(&mut conn)
        .await
        .unwrap()
}

fn batch_ids(job: &JobRow) -> Vec<i64> {
    job.payload["batches"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn the_watcher_hands_each_succeeded_batch_on_exactly_once() {
    let app = TestApp::start().await;
    let tz = app.app.config.reporting_tz;
    let d = iso(minus(today(&app), 3));
    fixtures::exec(
        &app,
        &format!(
            "INSERT INTO cdp.ingestion_batches (id, source, rows, status, finished_at, validation) VALUES \
           (1, 'activity', 10, 'succeeded', now(), '{{\"passed\": true, \"scope\": {{\"day\": \"{d}\"}}}}'), \
           (2, 'identities', 5, 'succeeded', now(), '{{\"passed\": true}}'), \
           (3, 'users', 0, 'failed', now(), '{{\"passed\": false}}'), \
           (4, 'users', 0, 'running', NULL, NULL)"
        ),
    )
    .await;

    let first = watcher::watch(&app.app.db, tz).await.unwrap();
    assert_eq!(first.batches, vec![1, 2], "only succeeded batches are handed on");
    let rollups = jobs_of(&app, &["dashboard.rollup"]).await;
    assert_eq!(rollups.len(), 1);
    assert_eq!(batch_ids(&rollups[0]), vec![1, 2]);
    assert_eq!(rollups[0].payload["activity_from"], serde_json::json!(d), "an activity batch rolls up from its day");
    assert_eq!(rollups[0].payload["full"], serde_json::json!(false));
    let stats = jobs_of(&app, &["users.refresh_stats"]).await;
    assert_eq!(stats.len(), 1);
    assert_eq!(batch_ids(&stats[0]), vec![1], "user stats follow activity and users batches");
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.ingestion_watch_cursor WHERE rollup_job_id IS NOT NULL").await, 2);

    // Watching again hands nothing on twice, even from a concurrent watcher.
    let (again, concurrent) = tokio::join!(watcher::watch(&app.app.db, tz), watcher::watch(&app.app.db, tz));
    assert!(again.unwrap().batches.is_empty() && concurrent.unwrap().batches.is_empty());

    // The running batch succeeds; a new one arrives: each is handed on once, by one job.
    fixtures::exec(&app, "UPDATE cdp.ingestion_batches SET status = 'succeeded', finished_at = now(), rows = 9 WHERE id = 4").await;
    fixtures::exec(&app, "INSERT INTO cdp.ingestion_batches (id, source, rows, status, finished_at) VALUES (5, 'activity', 3, 'succeeded', now())").await;
    let (a, b) = tokio::join!(watcher::watch(&app.app.db, tz), watcher::watch(&app.app.db, tz));
    let mut handed: Vec<i64> = a.unwrap().batches.into_iter().chain(b.unwrap().batches).collect();
    handed.sort();
    assert_eq!(handed, vec![4, 5]);
    let rollups = jobs_of(&app, &["dashboard.rollup"]).await;
    let mut all: Vec<i64> = rollups.iter().flat_map(batch_ids).collect();
    all.sort();
    assert_eq!(all, vec![1, 2, 4, 5], "every succeeded batch in exactly one rollup job");
    let latest = rollups.iter().find(|j| batch_ids(j).contains(&4)).unwrap();
    assert_eq!(latest.payload["full"], serde_json::json!(true), "a users batch rebuilds everything");
    let mut stats: Vec<i64> = jobs_of(&app, &["users.refresh_stats"]).await.iter().flat_map(batch_ids).collect();
    stats.sort();
    assert_eq!(stats, vec![1, 4, 5]);
}

#[tokio::test]
async fn the_worker_picks_up_a_seeded_marketplace_and_the_dashboard_shows_it() {
    let app = TestApp::start().await;
    let options = SeedOptions { users: 300, seed: 5, days: 60, today: today(&app) };
    seed(&app.db.url, &options).await.expect("seeding");
    let tz = app.app.config.reporting_tz;
    let registry = Registry::new()
        .register(rollup::RollupJob { db: app.app.db.clone(), tz, settings: MetricSettings::default() })
        .recurring(WatchJob { db: app.app.db.clone(), tz }, watcher::WATCH_EVERY);
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(app.app.db.clone(), registry, 2, Duration::from_secs(30), Duration::from_millis(50)).run(shutdown.clone()));
    let mut rolled = false;
    for _ in 0..400 {
        if fixtures::count(&app, "SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'dashboard.rollup' AND status = 'succeeded'").await > 0 {
            rolled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    worker.await.unwrap();
    assert!(rolled, "the watcher enqueued a rollup and the worker ran it");
    let batches = fixtures::count(&app, "SELECT count(*) AS n FROM cdp.ingestion_batches WHERE status = 'succeeded'").await;
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.ingestion_watch_cursor").await, batches);
    let (_, token) = fixtures::user_with_role(&app, "read_only").await;
    let response = metrics(
        &app,
        &token,
        pb::GetMetricsRequest { preset: DatePreset::Last30Days as i32, metrics: vec![M::Mau as i32, M::ActiveUsers as i32], ..Default::default() },
    )
    .await;
    assert_kpis_match(&app, &response).await;
    assert!(response.kpis[1].value > 0.0);
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Digest {
    #[diesel(sql_type = Nullable<Text>)]
    digest: Option<String>,
}

async fn rollup_digest(app: &TestApp) -> Vec<Option<String>> {
    let mut conn = app.db.conn().await;
    let mut out = Vec::new();
    for table in
        ["daily_activity_rollup", "active_window_rollup", "segment_activity_rollup", "cohort_activity_rollup", "signup_funnel_rollup", "segment_rollup"]
    {
        let digest: Digest = diesel::sql_query(format!("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM cdp.{table} t"))
            .get_result(&mut conn)
            .await
            .unwrap();
        out.push(digest.digest);
    }
    out
}

#[tokio::test]
async fn an_incremental_rollup_equals_a_full_rebuild() {
    let (app, _) = seeded_app().await;
    let tz = app.app.config.reporting_tz;
    let today = today(&app);
    fixtures::exec(&app, "INSERT INTO cdp.cohorts (name, kind, size) VALUES ('Spenders', 'static', 0)").await;
    fixtures::exec(&app, "INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT 1, user_id FROM public.users WHERE total_credits_spent > 50").await;
    rollup_full(&app).await;
    // An activity batch rewrites a day 50 days ago and adds returns 20 days ago.
    let (changed, later) = (minus(today, 50), minus(today, 20));
    let mut conn = app.db.conn().await;
    diesel::sql_query("DELETE FROM cdp.user_daily_activity WHERE day = $1 AND user_id % 3 = 0").bind::<Date, _>(changed).execute(&mut conn).await.unwrap();
    diesel::sql_query("INSERT INTO cdp.user_daily_activity (user_id, day, sessions, events) SELECT user_id, $1, 1, 1 FROM public.users WHERE user_id % 7 = 0 ON CONFLICT DO NOTHING")
        .bind::<Date, _>(changed)
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query("INSERT INTO cdp.user_daily_activity (user_id, day, sessions, events, credits_spent) SELECT user_id, $1, 2, 5, 3 FROM public.users WHERE user_id % 11 = 0 ON CONFLICT DO NOTHING")
        .bind::<Date, _>(later)
        .execute(&mut conn)
        .await
        .unwrap();
    let report =
        rollup::refresh(&app.app.db, tz, MetricSettings::default(), &RollupRequest { activity_from: Some(changed), ..Default::default() }).await.unwrap();
    assert!(!report.full);
    assert_eq!(report.activity_from, Some(changed));
    let incremental = rollup_digest(&app).await;
    rollup_full(&app).await;
    assert_eq!(incremental, rollup_digest(&app).await, "recomputing from the changed day gives the same rollups as a full rebuild");
}

async fn drill_down_count(app: &TestApp, condition: &pb::ConditionGroup) -> i64 {
    let filter = conditions::compile(Catalogue::standard(), condition, &CompileOptions::now("condition", app.app.config.reporting_tz))
        .expect("the drill-down condition compiles");
    let mut conn = app.db.conn().await;
    conditions::count_matching(&mut conn, &filter).await.expect("counting")
}

#[tokio::test]
async fn top_segments_by_activity_and_value_match_sql_and_drill_down() {
    let (app, token) = seeded_app().await;
    fixtures::exec(&app, "INSERT INTO cdp.cohorts (id, name, kind, size) VALUES (1, 'Big spenders', 'static', 0), (2, 'Gone', 'static', 0)").await;
    fixtures::exec(&app, "INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT 1, user_id FROM public.users WHERE total_credits_spent > 200").await;
    fixtures::exec(&app, "UPDATE cdp.cohorts SET size = (SELECT count(*) FROM cdp.cohort_members WHERE cohort_id = 1) WHERE id = 1").await;
    fixtures::exec(&app, "UPDATE cdp.cohorts SET deleted_at = now() WHERE id = 2").await;
    // The watcher notices the cohort change and asks for a rollup of cohorts.
    let watch = watcher::watch(&app.app.db, app.app.config.reporting_tz).await.unwrap();
    let job = jobs_of(&app, &["dashboard.rollup"]).await.into_iter().last().expect("a rollup job");
    assert!(watch.rollup_job.is_some() && job.payload["cohorts"] == serde_json::json!(true));
    rollup::refresh(&app.app.db, app.app.config.reporting_tz, MetricSettings::default(), &serde_json::from_value(job.payload).unwrap()).await.unwrap();

    let today = today(&app);
    let (start, end) = (minus(today, 29), today);
    let (prev_start, prev_end) = (minus(today, 59), minus(today, 30));
    let segment_sql = |measure: &str| {
        format!(
            "SELECT coalesce(sum(x), 0)::float8 AS v FROM (SELECT {measure} AS x FROM cdp.user_daily_activity a JOIN public.users u ON u.user_id = a.user_id \
             WHERE a.day BETWEEN $1 AND $2 AND coalesce(lower(u.user_type), '') = $3 AND coalesce(lower(u.favorite_vertical), '') = $4) t"
        )
    };
    let cohort_sql = |measure: &str| {
        format!(
            "SELECT coalesce(sum(x), 0)::float8 AS v FROM (SELECT {measure} AS x FROM cdp.user_daily_activity a JOIN cdp.cohort_members m ON m.user_id = a.user_id AND m.cohort_id = $3::int8 \
                 WHERE a.day BETWEEN $1 AND $2) t"
        )
    };
    for (measure, sql_measure) in [(pb::SegmentMeasure::Activity, "count(DISTINCT a.user_id)"), (pb::SegmentMeasure::Value, "sum(a.credits_spent)")] {
        let request = pb::GetUserSegmentsRequest { measure: measure as i32, preset: DatePreset::Last30Days as i32, limit: 50, ..Default::default() };
        let response = client(&app).get_user_segments(authed(request, &token)).await.unwrap().into_inner();
        assert_eq!(response.measure(), measure);
        assert!(!response.description.is_empty());
        let segments = &response.segments;
        assert!(segments.windows(2).all(|w| w[0].value >= w[1].value), "highest value first");
        assert!(segments.iter().any(|s| s.cohort_id == Some(1)), "the saved cohort is a segment");
        assert!(!segments.iter().any(|s| s.cohort_id == Some(2)), "deleted cohorts are not");
        let attribute_segments =
            fixtures::count(&app, "SELECT count(*) AS n FROM (SELECT DISTINCT lower(user_type), lower(favorite_vertical) FROM public.users) t").await;
        assert_eq!(segments.len() as i64, (attribute_segments + 1).min(50));
        for segment in segments {
            let mut conn = app.db.conn().await;
            let (value, previous) = match segment.source() {
                pb::SegmentSource::Cohort => {
                    let sql = cohort_sql(sql_measure);
                    let run = |a: NaiveDate, b: NaiveDate| diesel::sql_query(sql.clone()).bind::<Date, _>(a).bind::<Date, _>(b).bind::<BigInt, _>(1i64);
                    (run(start, end).get_result::<V>(&mut conn).await.unwrap().v, run(prev_start, prev_end).get_result::<V>(&mut conn).await.unwrap().v)
                }
                _ => {
                    let (user_type, vertical) = segment.name.split_once(" · ").unwrap();
                    let unset = |v: &str| if v == "(not set)" { String::new() } else { v.to_string() };
                    let sql = segment_sql(sql_measure);
                    let run = |a: NaiveDate, b: NaiveDate| {
                        diesel::sql_query(sql.clone()).bind::<Date, _>(a).bind::<Date, _>(b).bind::<Text, _>(unset(user_type)).bind::<Text, _>(unset(vertical))
                    };
                    (run(start, end).get_result::<V>(&mut conn).await.unwrap().v, run(prev_start, prev_end).get_result::<V>(&mut conn).await.unwrap().v)
                }
            };
            assert_eq!(segment.value, value, "{} {measure:?}", segment.name);
            assert_eq!(segment.previous_value, Some(previous), "{} {measure:?} previous", segment.name);
            let condition = segment.condition.as_ref().expect("a drill-down condition");
            assert_eq!(drill_down_count(&app, condition).await, segment.users, "{}: the condition selects the segment's users", segment.name);
        }
    }
    // The limit holds.
    let response = client(&app).get_user_segments(authed(pb::GetUserSegmentsRequest { limit: 3, ..Default::default() }, &token)).await.unwrap().into_inner();
    assert_eq!(response.segments.len(), 3);
}

#[derive(QueryableByName)]
struct ValueCount {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn attribute_distributions_match_sql_and_each_slice_drills_down_to_its_users() {
    let (app, token) = seeded_app().await;
    let mut conn = app.db.conn().await;
    let top_type: ValueCount = diesel::sql_query("SELECT lower(user_type) AS value, count(*) AS n FROM public.users GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        .get_result(&mut conn)
        .await
        .unwrap();
    let top_type = top_type.value.unwrap();
    let filter = pb::ConditionGroup {
        combinator: pb::Combinator::And as i32,
        nodes: vec![pb::ConditionNode {
            node: Some(pb::condition_node::Node::Condition(pb::Condition {
                field: "user_type".into(),
                operator: pb::Operator::Equals as i32,
                value: Some(pb::Value { kind: Some(pb::value::Kind::Text(top_type.clone())) }),
                value_to: None,
            })),
        }],
    };
    let distribution = |field: &str, bins: i32, max_categories: i32, filter: Option<pb::ConditionGroup>| pb::GetAttributeDistributionRequest {
        field: field.into(),
        bins,
        max_categories,
        filter,
    };

    // A text field, filtered, top 3 and the rest.
    let response =
        client(&app).get_attribute_distribution(authed(distribution("favorite_vertical", 0, 3, Some(filter.clone())), &token)).await.unwrap().into_inner();
    assert_eq!((response.field.as_str(), response.r#type()), ("favorite_vertical", pb::FieldType::Text));
    let expected: Vec<ValueCount> = diesel::sql_query(
        "SELECT lower(nullif(favorite_vertical, '')) AS value, count(*) AS n FROM public.users WHERE lower(user_type) = $1 GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .bind::<Text, _>(&top_type)
    .load(&mut conn)
    .await
    .unwrap();
    let set: Vec<&ValueCount> = expected.iter().filter(|v| v.value.is_some()).collect();
    assert_eq!(response.total_users, expected.iter().map(|v| v.n).sum::<i64>());
    for (bucket, want) in response.buckets.iter().zip(set.iter().take(3)) {
        assert_eq!((bucket.label.as_str(), bucket.count), (want.value.as_deref().unwrap(), want.n));
    }
    let other = response.buckets.iter().find(|b| b.label == "Other").expect("an Other slice");
    assert_eq!(other.count, set.iter().skip(3).map(|v| v.n).sum::<i64>());
    let not_set = expected.iter().find(|v| v.value.is_none()).map_or(0, |v| v.n);
    assert_eq!(response.buckets.iter().find(|b| b.label == "(not set)").map_or(0, |b| b.count), not_set);
    for bucket in &response.buckets {
        assert_eq!(drill_down_count(&app, bucket.condition.as_ref().unwrap()).await, bucket.count, "favorite_vertical slice {}", bucket.label);
    }

    // A list field: a user counts in each of their verticals.
    let response = client(&app).get_attribute_distribution(authed(distribution("verticals_listed_in", 0, 50, None), &token)).await.unwrap().into_inner();
    let expected: Vec<ValueCount> = diesel::sql_query(
        "SELECT v AS value, count(*) AS n FROM public.users, unnest(string_to_array(verticals_listed_in, ',')) v GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(expected.len() > 2);
    for (bucket, want) in response.buckets.iter().zip(&expected) {
        assert_eq!((bucket.label.as_str(), bucket.count), (want.value.as_deref().unwrap(), want.n));
        assert_eq!(drill_down_count(&app, bucket.condition.as_ref().unwrap()).await, bucket.count, "list slice {}", bucket.label);
    }
    let empty_lists = fixtures::count(&app, "SELECT count(*) AS n FROM public.users WHERE coalesce(verticals_listed_in, '') = ''").await;
    assert_eq!(response.buckets.iter().find(|b| b.label == "(not set)").map_or(0, |b| b.count), empty_lists);

    // A number field in bins: contiguous, ascending, adding up, each drilling down exactly.
    let response =
        client(&app).get_attribute_distribution(authed(distribution("total_credits_spent", 6, 0, Some(filter.clone())), &token)).await.unwrap().into_inner();
    let bins: Vec<&pb::DistributionBucket> = response.buckets.iter().filter(|b| b.label != "(not set)").collect();
    assert!(bins.len() > 1 && bins.len() <= 6);
    let sum: i64 = response.buckets.iter().map(|b| b.count).sum();
    assert_eq!(sum, response.total_users);
    let min_max: ValueCount = diesel::sql_query(
        "SELECT min(total_credits_spent)::text || ' ' || max(total_credits_spent)::text AS value, count(*) AS n FROM public.users WHERE lower(user_type) = $1",
    )
    .bind::<Text, _>(&top_type)
    .get_result(&mut conn)
    .await
    .unwrap();
    let bounds = min_max.value.unwrap();
    let (min, max) = bounds.split_once(' ').unwrap();
    assert!(bins[0].label.starts_with(min), "{} starts at the minimum {min}", bins[0].label);
    assert!(bins.last().unwrap().label.ends_with(max), "{} ends at the maximum {max}", bins.last().unwrap().label);
    for bucket in &response.buckets {
        assert_eq!(drill_down_count(&app, bucket.condition.as_ref().unwrap()).await, bucket.count, "bin {}", bucket.label);
    }

    // A yes/no field.
    let response = client(&app).get_attribute_distribution(authed(distribution("is_multivertical_user", 0, 1, None), &token)).await.unwrap().into_inner();
    let yes = fixtures::count(&app, "SELECT count(*) AS n FROM public.users WHERE is_multivertical_user = 1").await;
    let no = fixtures::count(&app, "SELECT count(*) AS n FROM public.users WHERE is_multivertical_user = 0").await;
    let count_of = |label: &str| response.buckets.iter().find(|b| b.label == label).map_or(0, |b| b.count);
    assert_eq!((count_of("yes"), count_of("no")), (yes, no));

    // Fields that cannot be distributed, unknown fields and malformed filters.
    for (request, field) in [
        (distribution("phone", 0, 0, None), "field"),
        (distribution("user_account_creation_date", 0, 0, None), "field"),
        (distribution("user_id; DROP TABLE users", 0, 0, None), "field"),
        (distribution("favorite_vertical", -1, 0, None), "bins"),
        (
            distribution(
                "favorite_vertical",
                0,
                0,
                Some(pb::ConditionGroup { combinator: pb::Combinator::And as i32, nodes: vec![pb::ConditionNode::default()] }),
            ),
            "filter.nodes[0]",
        ),
    ] {
        let status = client(&app).get_attribute_distribution(authed(request, &token)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(violation_field(&status).starts_with(field), "{field}: {}", violation_field(&status));
    }
    assert!(fixtures::count(&app, "SELECT count(*) AS n FROM public.users").await > 0, "the table is still there");
}

#[tokio::test]
async fn data_health_matches_the_tables() {
    let (app, token) = seeded_app().await;
    // The latest identities batch: a failed one, started after every seeded batch.
    fixtures::exec(&app, "INSERT INTO cdp.ingestion_batches (source, rows, status, started_at, finished_at, validation, error) SELECT \
        'identities', 0, 'failed', max(started_at) + interval '1 minute', max(started_at) + interval '2 minutes', \
         '{\"passed\": false, \"checks\": [{\"name\": \"row_count\", \"passed\": false, \"details\": {\"message\": \"the batch has no rows\"}}, {\"name\": \"null_key\", \"passed\": true, \"details\": {}}]}', \
         'validation of the identities batch failed' FROM cdp.ingestion_batches").await;
    let response = client(&app).get_data_health(authed(pb::GetDataHealthRequest::default(), &token)).await.unwrap().into_inner();
    let users = fixtures::count(&app, "SELECT count(*) AS n FROM public.users").await;
    let amplitude =
        fixtures::count(&app, "SELECT count(*) AS n FROM public.users u JOIN cdp.identities i USING (user_id) WHERE coalesce(i.amplitude_id, '') <> ''").await;
    let braze =
        fixtures::count(&app, "SELECT count(*) AS n FROM public.users u JOIN cdp.identities i USING (user_id) WHERE coalesce(i.braze_id, '') <> ''").await;
    assert_eq!((response.total_unified_profiles, response.amplitude_matched, response.braze_matched), (users, amplitude, braze));
    assert!(close(response.amplitude_match_rate, amplitude as f64 / users as f64) && response.amplitude_match_rate < 1.0);
    assert!(close(response.braze_match_rate, braze as f64 / users as f64));
    let today = today(&app);
    assert_eq!(range_of(&response.range), (minus(today, 29), today));
    assert_eq!(response.ingestion.len(), 30);
    let mut conn = app.db.conn().await;
    for point in &response.ingestion {
        let d = day(&point.date);
        let rows = sql_value(&mut conn, "SELECT coalesce(sum(rows), 0)::float8 AS v FROM cdp.ingestion_batches WHERE status = 'succeeded' AND (finished_at AT TIME ZONE 'UTC')::date BETWEEN $1 AND $2", d, d).await;
        let events = sql_value(&mut conn, oracle_sql(M::Events), d, d).await;
        assert_eq!((point.rows as f64, point.events as f64), (rows, events), "{d}");
    }
    assert!(response.ingestion.iter().any(|p| p.rows > 0 && p.events > 0));
    let sources: Vec<&str> = response.latest_batches.iter().map(|b| b.source.as_str()).collect();
    assert_eq!(sources, vec!["activity", "identities", "users"]);
    let identities = &response.latest_batches[1];
    assert_eq!((identities.status(), identities.validation()), (pb::IngestionBatchStatus::Failed, pb::ValidationOutcome::Failed));
    assert!(identities.validation_summary.contains("row_count (the batch has no rows)"), "{}", identities.validation_summary);
    assert!(identities.validation_summary.contains("validation of the identities batch failed"));
    let activity = &response.latest_batches[0];
    assert_eq!(activity.status(), pb::IngestionBatchStatus::Succeeded);
    assert!(activity.finished_at.is_some() && activity.rows > 0);
    assert!(!response.description.is_empty());
}

#[tokio::test]
async fn every_tooltip_is_documented_in_docs_metrics_md() {
    let (app, token) = seeded_app().await;
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md")).expect("docs/metrics.md");
    let response = metrics(&app, &token, pb::GetMetricsRequest::default()).await;
    let mut texts: Vec<String> = response.kpis.iter().map(|k| k.description.clone()).collect();
    texts.extend(response.funnel.iter().map(|s| s.description.clone()));
    texts.push(response.cltv.unwrap().description);
    for measure in [pb::SegmentMeasure::Activity, pb::SegmentMeasure::Value] {
        let segments = client(&app)
            .get_user_segments(authed(pb::GetUserSegmentsRequest { measure: measure as i32, ..Default::default() }, &token))
            .await
            .unwrap()
            .into_inner();
        texts.push(segments.description);
    }
    texts.push(client(&app).get_data_health(authed(pb::GetDataHealthRequest::default(), &token)).await.unwrap().into_inner().description);
    let documented: HashMap<&String, bool> = texts.iter().map(|t| (t, docs.contains(t.as_str()))).collect();
    for (text, found) in documented {
        assert!(found, "not in docs/metrics.md: {text}");
    }
}
