//! Dashboard benchmark (never part of `make test`): seeds a marketplace (default one million
//! users, 180 days of activity) into a scratch database, times the rollup (full rebuild, then
//! the daily incremental one), starts the real server and measures DashboardService over gRPC:
//! GetMetrics for the last 90 days with comparison (target p99 < 50 ms) and, for reference,
//! the other RPCs. Prints the figures for docs/benchmarks.md.
//!
//!   cargo bench -p cdp-tests --bench dashboard
//!
//! Environment: CDP_BENCH_USERS (1000000), CDP_BENCH_DAYS (180), CDP_BENCH_CALLS (500),
//! CDP_BENCH_DATABASE_URL (use this database; seeded first if it is empty), CDP_BENCH_KEEP_DB=1
//! (keep the scratch database and print its name).

use cdp_proto::cdp::v1::{self as pb, DashboardMetric as M, DatePreset, TimeBucket, dashboard_service_client::DashboardServiceClient};
use cdp_server::{
    app::App,
    config::Config,
    dashboard::{
        definitions::MetricSettings,
        rollup::{self, RollupRequest},
    },
    seed::{self, SeedOptions},
};
use cdp_tests::{JWT_SECRET, authed, fixtures::mint_token, redis_url, server_url};
use chrono::{Days, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::{
    collections::HashMap,
    future::Future,
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }

    fn report(&self, name: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mean = self.0.iter().sum::<Duration>() / self.0.len() as u32;
        println!(
            "{name:<58} calls {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  mean {:>7.2} ms",
            self.0.len(),
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0)),
            ms(mean)
        );
    }
}

/// Calls `call` `warmup` times unmeasured, then `calls` times one after the other.
async fn measure<F, Fut>(calls: u64, warmup: u64, mut call: F) -> Latencies
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..warmup {
        call().await;
    }
    let mut out = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        let started = Instant::now();
        call().await;
        out.push(started.elapsed());
    }
    Latencies(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let users = env_number("CDP_BENCH_USERS", 1_000_000) as u32;
    let days = env_number("CDP_BENCH_DAYS", 180) as u32;
    let calls = env_number("CDP_BENCH_CALLS", 500);
    let keep = std::env::var("CDP_BENCH_KEEP_DB").is_ok_and(|v| v == "1");
    let (url, scratch) = match std::env::var("CDP_BENCH_DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let name = format!("cdp_bench_dashboard_{}", std::process::id());
            (format!("{}/{name}", server_url()), Some(name))
        }
    };
    println!("== dashboard benchmark: {users} users, {days} days, {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    cdp_server::db::migrate(&url).await?;
    let today = Utc::now().date_naive();
    if seed::is_empty(&url).await? {
        let report = seed::seed(&url, &SeedOptions { users, seed: 42, days, today }).await?;
        println!("seed: {report}");
    }
    let mut conn = AsyncPgConnection::establish(&url).await?;
    diesel::sql_query("VACUUM ANALYZE cdp.user_daily_activity").execute(&mut conn).await?;

    let env: HashMap<String, String> = [
        ("DATABASE_URL", url.as_str()),
        ("CDP_DATABASE_POOL_SIZE", "16"),
        ("REDIS_URL", &redis_url()),
        ("CDP_REDIS_KEY_PREFIX", "cdp_bench_dashboard"),
        ("CDP_LISTEN_ADDR", "127.0.0.1:0"),
        ("CDP_JWT_SECRET", JWT_SECRET),
        ("CDP_LOG_FORMAT", "text"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_lookup(|key| env.get(key).cloned()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tz = config.reporting_tz;
    let app = App::build(config).await?;

    // The rollup: a full rebuild (what a users batch asks for), then the daily incremental run
    // (an activity batch for yesterday), then the same with nothing new (the day rollover).
    let settings = MetricSettings::default();
    let full = rollup::refresh(&app.db, tz, settings, &RollupRequest { full: true, ..Default::default() }).await?;
    println!("rollup, full rebuild: {:.1} s ({} days)", full.duration.as_secs_f64(), full.activity_days);
    let yesterday = today.checked_sub_days(Days::new(1)).expect("a day before today");
    let daily = rollup::refresh(&app.db, tz, settings, &RollupRequest { activity_from: Some(yesterday), ..Default::default() }).await?;
    println!("rollup, incremental from yesterday: {:.1} s ({} days)", daily.duration.as_secs_f64(), daily.activity_days);
    let nothing = rollup::refresh(&app.db, tz, settings, &RollupRequest::default()).await?;
    println!("rollup, nothing new (users aggregates only): {:.1} s", nothing.duration.as_secs_f64());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cdp_server::server::serve(app.clone(), listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let reader = uuid::Uuid::new_v4();
    diesel::sql_query("INSERT INTO cdp.platform_users (id, email, display_name, role, status) VALUES ($1, $2, 'Bench reader', 'read_only', 'active')")
        .bind::<diesel::sql_types::Uuid, _>(reader)
        .bind::<diesel::sql_types::Text, _>(format!("bench-{reader}@cdp.test"))
        .execute(&mut conn)
        .await?;
    let token = mint_token(reader, &format!("bench-{reader}@cdp.test"));
    let client = DashboardServiceClient::new(channel);

    println!("== over gRPC (one client, sequential calls)");
    let metrics = |request: pb::GetMetricsRequest| {
        let client = client.clone();
        let token = token.clone();
        move || {
            let mut client = client.clone();
            let request = authed(request.clone(), &token);
            async move {
                client.get_metrics(request).await.expect("GetMetrics");
            }
        }
    };
    let last_90 = pb::GetMetricsRequest { preset: DatePreset::Last90Days as i32, ..Default::default() };
    measure(calls, 20, metrics(last_90.clone())).await.report("GetMetrics LAST_90_DAYS, all 16 metrics, daily");
    let activity = pb::GetMetricsRequest { metrics: vec![M::Dau as i32, M::Wau as i32, M::Mau as i32, M::ChurnedUsers as i32], ..last_90.clone() };
    measure(calls, 20, metrics(activity)).await.report("GetMetrics LAST_90_DAYS, DAU/WAU/MAU/churned, daily");
    measure(calls, 20, metrics(pb::GetMetricsRequest { bucket: TimeBucket::Weekly as i32, ..last_90.clone() }))
        .await
        .report("GetMetrics LAST_90_DAYS, all metrics, weekly");
    let year = pb::GetMetricsRequest {
        preset: DatePreset::Custom as i32,
        start_date: today.checked_sub_days(Days::new(364)).expect("a year ago").to_string(),
        end_date: today.to_string(),
        bucket: TimeBucket::Daily as i32,
        metrics: vec![],
    };
    measure(calls / 5, 5, metrics(year)).await.report("GetMetrics last 365 days, all metrics, daily");

    let segments = {
        let client = client.clone();
        let token = token.clone();
        move || {
            let mut client = client.clone();
            let request = authed(pb::GetUserSegmentsRequest { preset: DatePreset::Last30Days as i32, limit: 10, ..Default::default() }, &token);
            async move {
                client.get_user_segments(request).await.expect("GetUserSegments");
            }
        }
    };
    measure(calls / 5, 5, segments).await.report("GetUserSegments LAST_30_DAYS by activity");
    let health = {
        let client = client.clone();
        let token = token.clone();
        move || {
            let mut client = client.clone();
            let request = authed(pb::GetDataHealthRequest { preset: DatePreset::Last30Days as i32, ..Default::default() }, &token);
            async move {
                client.get_data_health(request).await.expect("GetDataHealth");
            }
        }
    };
    measure(calls / 5, 5, health).await.report("GetDataHealth LAST_30_DAYS");
    let distribution = {
        let client = client.clone();
        let token = token.clone();
        move || {
            let mut client = client.clone();
            let request = authed(pb::GetAttributeDistributionRequest { field: "favorite_vertical".into(), ..Default::default() }, &token);
            async move {
                client.get_attribute_distribution(request).await.expect("GetAttributeDistribution");
            }
        }
    };
    measure(5, 1, distribution).await.report("GetAttributeDistribution favorite_vertical (all users)");

    println!("== over gRPC (8 concurrent clients)");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let call = metrics(last_90.clone());
        tasks.push(tokio::spawn(async move { measure(calls / 4, 5, call).await.0 }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let elapsed = started.elapsed();
    let total = all.len();
    Latencies(all).report("GetMetrics LAST_90_DAYS, all metrics, 8 clients");
    println!("throughput: {:.0} calls/s", total as f64 / elapsed.as_secs_f64());

    shutdown.cancel();
    drop(conn);
    if let Some(name) = scratch {
        if keep {
            println!("kept database {name}");
        } else {
            let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
        }
    }
    Ok(())
}
