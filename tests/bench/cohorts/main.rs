//! Cohort benchmark (issue 6; never part of `make test`): on a seeded marketplace (default one
//! million users, 180 days of activity) it measures
//! - PreviewCohort over gRPC with 3, 6 and 12 conditions (target: 6 conditions, p50 < 300 ms);
//! - the refresh of a cohort of about 200,000 members (a fifth of the users): the first evaluation (everyone joins),
//!   an unchanged re-evaluation and one after 2% of the users changed (target < 5 s);
//! - a sync of about 100,000 members (a tenth of the users) to a local Braze server that follows `/users/track`
//!   (batches of 75, the real client and job, the same recording of progress).
//!
//! It prints the figures as Markdown rows for docs/benchmarks.md.
//!
//!   cargo run --release -p cdp-tests --bin cdp-bench-cohorts -- [users] [previews]
//!
//! The database (`CDP_BENCH_DB`, default `cdp_bench_cohorts`) is kept between runs and seeded
//! again only when its user count differs.

use axum::{Router, body::Body, extract::State, http::Request, response::Response};
use cdp_proto::cdp::v1::{self as pb, Combinator, Operator as Op, cohort_service_client::CohortServiceClient, value::Kind};
use cdp_server::{
    app::App,
    cohorts::{definition, refresh, sync},
    config::Config,
    jobs::{JobContext, JobHandler},
    seed::{SeedOptions, seed},
    users::stats::refresh_all,
};
use cdp_tests::{JWT_SECRET, authed, fixtures::mint_token, server_url};
use diesel::sql_types::{BigInt, Double};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio_util::sync::CancellationToken;

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct X {
    #[diesel(sql_type = Double)]
    x: f64,
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

fn cond(field: &str, op: Op, kind: Option<Kind>) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(pb::condition_node::Node::Condition(pb::Condition {
            field: field.into(),
            operator: op as i32,
            value: kind.map(|k| pb::Value { kind: Some(k) }),
            value_to: None,
        })),
    }
}

fn between(field: &str, low: f64, high: f64) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(pb::condition_node::Node::Condition(pb::Condition {
            field: field.into(),
            operator: Op::Between as i32,
            value: Some(pb::Value { kind: Some(Kind::Number(low)) }),
            value_to: Some(pb::Value { kind: Some(Kind::Number(high)) }),
        })),
    }
}

fn texts(values: &[&str]) -> Option<Kind> {
    Some(Kind::Texts(pb::StringList { values: values.iter().map(|v| v.to_string()).collect() }))
}

/// The previewed definitions: what a growth manager builds, growing from 3 to 12 conditions
/// (users columns, activity stats, CDP attributes, a nested OR group).
fn definition_with(conditions: usize) -> pb::ConditionGroup {
    let all = vec![
        cond("total_credits_spent", Op::GreaterThan, Some(Kind::Number(100.0))),
        cond("verticals_listed_in", Op::ContainsAny, texts(&["cars", "property"])),
        cond("user_account_creation_date", Op::MoreThanDaysAgo, Some(Kind::Days(30))),
        between("current_credits_in_wallet", 10.0, 5000.0),
        cond("user_type", Op::In, texts(&["dealer", "agency", "individual"])),
        cond("last_active_day", Op::WithinLastDays, Some(Kind::Days(60))),
        cond("paid_listings_count", Op::GreaterOrEqual, Some(Kind::Number(1.0))),
        cond("is_block", Op::Equals, Some(Kind::Flag(false))),
        cond("favorite_vertical", Op::IsSet, None),
        cond("lifecycle_stage", Op::In, texts(&["active", "about_to_churn", "reactivated", "activated"])),
        pb::ConditionNode {
            node: Some(pb::condition_node::Node::Group(pb::ConditionGroup {
                combinator: Combinator::Or as i32,
                nodes: vec![
                    cond("plans_or_bundles_used", Op::ContainsAny, texts(&["pro", "plus", "premium"])),
                    cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(10.0))),
                ],
            })),
        },
        cond("days_since_last_transaction", Op::LessThan, Some(Kind::Number(365.0))),
    ];
    pb::ConditionGroup { combinator: Combinator::And as i32, nodes: all.into_iter().take(conditions).collect() }
}

/// The builder's edit number `k`: a new threshold on the first condition (a users column) or,
/// every other time and where there is one, a new window on the activity condition.
fn edit(definition: &mut pb::ConditionGroup, k: usize) {
    let (index, kind) = if k % 2 == 1 && definition.nodes.len() >= 6 { (5, Kind::Days(30 + (k % 300) as i64)) } else { (0, Kind::Number(100.0 + k as f64)) };
    if let Some(pb::condition_node::Node::Condition(condition)) = definition.nodes[index].node.as_mut() {
        condition.value = Some(pb::Value { kind: Some(kind) });
    }
}

fn percentile(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

/// A Braze `/users/track` endpoint that only counts (as the docs: at most 75 objects).
async fn braze(State(sent): State<Arc<(AtomicU64, AtomicU64)>>, request: Request<Body>) -> Response {
    let body = axum::body::to_bytes(request.into_body(), 16 << 20).await.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let objects = json["attributes"].as_array().map(Vec::len).unwrap_or(0);
    let (status, message) = if objects == 0 || objects > 75 { (400, "Max Input Length Exceeded") } else { (201, "success") };
    if status == 201 {
        sent.0.fetch_add(1, Ordering::Relaxed);
        sent.1.fetch_add(objects as u64, Ordering::Relaxed);
    }
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::json!({ "message": message, "attributes_processed": objects }).to_string()))
        .unwrap()
}

/// A builder cohort inserted as the table owner (the RPC's checks are not what is measured).
async fn insert_cohort(conn: &mut AsyncPgConnection, name: &str, group: &pb::ConditionGroup) -> i64 {
    let json = definition::to_json(group).to_string().replace('\'', "''");
    count(
        conn,
        &format!(
            "INSERT INTO cdp.cohorts (name, kind, definition) VALUES ('{name} {}', 'dynamic', '{json}'::jsonb) RETURNING id AS n",
            uuid::Uuid::new_v4().simple()
        ),
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into())).init();
    let args: Vec<String> = std::env::args().collect();
    let users: u32 = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let previews: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(30);
    let db_name = std::env::var("CDP_BENCH_DB").unwrap_or_else(|_| "cdp_bench_cohorts".into());
    let url = format!("{}/{db_name}", server_url());
    let today = chrono::Utc::now().date_naive();

    cdp_server::db::migrate(&url).await?;
    let mut conn = AsyncPgConnection::establish(&url).await?;
    if count(&mut conn, "SELECT count(*) AS n FROM public.users").await != users as i64 {
        drop(conn);
        let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await?;
        exec(&mut admin, &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).await;
        cdp_server::db::migrate(&url).await?;
        println!("{}", seed(&url, &SeedOptions { users, seed: 42, days: 180, today }).await?);
        conn = AsyncPgConnection::establish(&url).await?;
    }
    // Earlier runs' cohorts would add to the preview's overlaps: start clean.
    exec(&mut conn, "TRUNCATE cdp.cohorts, cdp.cohort_members, cdp.cohort_size_history, cdp.cohort_membership_changes, cdp.cohort_sync_targets, cdp.cohort_sync_members, cdp.integration_sync_runs CASCADE").await;

    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let braze_url = format!("http://{}", fake.local_addr()?);
    let sent = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let router = Router::new().fallback(braze).with_state(sent.clone());
    tokio::spawn(async move { axum::serve(fake, router).await });

    // Two servers on the database: one whose previews do all the work themselves (the
    // background pass off), and one with the pass on, every second.
    let config_with = |keep_current_secs: &'static str| {
        Config::from_lookup(|key| match key {
            "DATABASE_URL" => Some(url.clone()),
            "CDP_JWT_SECRET" => Some(JWT_SECRET.into()),
            "CDP_LISTEN_ADDR" => Some("127.0.0.1:0".into()),
            "CDP_DATABASE_POOL_SIZE" => Some("12".into()),
            "CDP_BRAZE_REST_URL" => Some(braze_url.clone()),
            "CDP_BRAZE_API_KEY" => Some("bench-key".into()),
            "CDP_PREVIEW_KEEP_CURRENT_SECS" => Some(keep_current_secs.into()),
            _ => None,
        })
    };
    let app = App::build(config_with("0")?).await?;
    let keeping_app = App::build(config_with("1")?).await?;
    let started = Instant::now();
    let stats = refresh_all(&app.db, today).await?;
    println!("users.refresh_stats (for the activity fields): {} users, {:.1}s", stats.users, started.elapsed().as_secs_f64());
    // A settled database, as autovacuum leaves it: statistics current and the visibility map
    // set (a freshly seeded or churned heap makes index-only scans fetch rows).
    exec(&mut conn, "VACUUM ANALYZE public.users, cdp.identities, cdp.user_stats, cdp.user_attributes").await;
    println!("machine: {} cores, PostgreSQL {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), {
        #[derive(diesel::QueryableByName)]
        struct V {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        diesel::sql_query("SELECT current_setting('server_version') AS v").get_result::<V>(&mut conn).await?.v
    });

    // ---- PreviewCohort over gRPC -----------------------------------------------------------
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cdp_server::server::serve(app.clone(), listener, shutdown.clone()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let mut client = CohortServiceClient::new(channel);
    let keeping_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let keeping_addr = keeping_listener.local_addr()?;
    let keeping_shutdown = CancellationToken::new();
    tokio::spawn(cdp_server::server::serve(keeping_app.clone(), keeping_listener, keeping_shutdown.clone()));
    let mut keeping_client = CohortServiceClient::new(tonic::transport::Channel::from_shared(format!("http://{keeping_addr}"))?.connect().await?);
    let id = uuid::Uuid::new_v4();
    let email = format!("bench-{}@cdp.test", &id.simple().to_string()[..8]);
    exec(
        &mut conn,
        &format!("INSERT INTO cdp.platform_users (id, email, display_name, role, status) VALUES ('{id}', '{email}', 'Bench', 'growth_manager', 'active')"),
    )
    .await;

    // Two saved cohorts, so previews compute overlaps as they would in use.
    for (name, n) in [("saved three", 3), ("saved six", 6)] {
        let cohort = insert_cohort(&mut conn, name, &definition_with(n)).await;
        refresh::refresh_now(&app.db, &app.config, cohort).await?;
    }
    // Previews keep each condition's set of users and keep it current as writes arrive (see
    // cohorts::preview_cache), so these cases are measured per shape, the first five on the
    // server without the background pass (each preview does all the work itself):
    // - edit: each preview changes one condition's value, as a person in the builder does
    //   (alternately a users column and, from 6 conditions, the activity condition);
    // - repeat: the same definition again (nothing rescanned);
    // - after write: before every preview, 1,000 random users' users row and 1,000 random
    //   users' stats change (as an ETL micro-batch or a stats refresh does): the kept sets are
    //   re-evaluated for those users;
    // - bulk write: before every preview one statement changes 25,000 users (then a VACUUM,
    //   untimed, so that the repeated writes do not bloat the table the next cases scan);
    // - reload: before every preview, what a statement that changed more than 50,000 users
    //   logs (one row without a user in cdp.filter_changes) is logged: every condition is
    //   scanned again, as after a full ETL load.
    // - the same three writes with the background pass on, the builder's next preview coming
    //   3 s after the write (untimed wait): the pass has done the work. These run last, on the
    //   other server, so that its pass does not compete with the cases above.
    println!("\n| PreviewCohort | case | requests | matching users | p50 ms | p95 ms | max ms | server elapsed p50 ms |\n|---|---|---|---|---|---|---|---|");
    let immediate = ["edit", "repeat", "after write", "bulk write", "reload"].as_slice();
    let later = ["after write, 3 s later", "bulk write, 3 s later", "reload, 3 s later"].as_slice();
    for (cases, keeping) in [(immediate, false), (later, true)] {
        for conditions in [3, 6, 12] {
            for case in cases.iter().copied() {
                let client = if keeping { &mut keeping_client } else { &mut client };
                let write = case.trim_end_matches(", 3 s later");
                let request = |k: usize| {
                    let mut definition = definition_with(conditions);
                    if case == "edit" {
                        edit(&mut definition, k);
                    }
                    pb::PreviewCohortRequest { definition: Some(definition), sample_size: 20 }
                };
                // A token per case (they last 10 minutes; the cases take longer together).
                let token = mint_token(id, &email);
                // Each case starts from a vacuumed table (untimed), not from the previous case's churn.
                exec(&mut conn, "VACUUM public.users, cdp.user_stats").await;
                for k in 0..3 {
                    client.preview_cohort(authed(request(previews + k), &token)).await?;
                }
                let mut samples = Vec::with_capacity(previews);
                let mut server = Vec::with_capacity(previews);
                let mut matching = 0;
                for k in 0..previews {
                    match write {
                        "after write" => {
                            let random = format!("ANY(ARRAY(SELECT (random() * {users})::int FROM generate_series(1, 1000)))");
                            exec(&mut conn, &format!("UPDATE public.users SET total_credits_spent = total_credits_spent + 1, current_credits_in_wallet = current_credits_in_wallet + 1 WHERE user_id = {random}")).await;
                            exec(
                                &mut conn,
                                &format!("UPDATE cdp.user_stats SET last_active_day = current_date - (random() * 90)::int WHERE user_id = {random}"),
                            )
                            .await;
                        }
                        "bulk write" => {
                            exec(
                                &mut conn,
                                &format!(
                                    "UPDATE public.users SET total_listings_count = coalesce(total_listings_count, 0) + 1 WHERE user_id % 40 = {}",
                                    k % 40
                                ),
                            )
                            .await;
                            exec(&mut conn, "VACUUM public.users").await;
                        }
                        "reload" => exec(&mut conn, "INSERT INTO cdp.filter_changes (xid, source) VALUES (pg_current_xact_id(), 'users')").await,
                        _ => {}
                    }
                    if keeping {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    let t = Instant::now();
                    let response = client.preview_cohort(authed(request(k), &token)).await?.into_inner();
                    samples.push(t.elapsed());
                    server.push(Duration::from_millis(response.elapsed_ms as u64));
                    matching = response.count;
                }
                println!(
                    "| {conditions} conditions | {case} | {previews} | {matching} | {:.0} | {:.0} | {:.0} | {:.0} |",
                    percentile(&mut samples, 0.5),
                    percentile(&mut samples, 0.95),
                    percentile(&mut samples, 1.0),
                    percentile(&mut server, 0.5)
                );
            }
        }
    }

    // The second server's background pass would work on the writes below: stop it.
    keeping_shutdown.cancel();

    // Where a preview's time goes: its two statements alone, one after the other (owner, no RLS).
    println!("\n| 6-condition preview, parts alone | median ms of 5 |\n|---|---|");
    let options = cdp_server::conditions::CompileOptions::now("definition", app.config.reporting_tz);
    let filter = cdp_server::conditions::compile(cdp_server::conditions::Catalogue::standard(), &definition_with(6), &options)?;
    let mut funnel = Vec::new();
    let mut matching = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        cdp_server::conditions::funnel(&mut conn, &filter).await?;
        funnel.push(t.elapsed());
        let t = Instant::now();
        cdp_server::conditions::count_matching(&mut conn, &filter).await?;
        matching.push(t.elapsed());
    }
    println!("| conditions::funnel (count, total, every node alone and cumulated) | {:.0} |", percentile(&mut funnel, 0.5));
    println!("| the matching users alone (count_matching) | {:.0} |", percentile(&mut matching, 0.5));

    // ---- Refresh of a cohort of ~200,000 members -----------------------------------------
    let threshold = diesel::sql_query("SELECT current_credits_in_wallet AS x FROM public.users WHERE current_credits_in_wallet IS NOT NULL ORDER BY current_credits_in_wallet DESC OFFSET $1 LIMIT 1")
        .bind::<BigInt, _>(users as i64 / 5 - 1)
        .get_result::<X>(&mut conn)
        .await?
        .x;
    let big = pb::ConditionGroup {
        combinator: Combinator::And as i32,
        nodes: vec![cond("current_credits_in_wallet", Op::GreaterOrEqual, Some(Kind::Number(threshold)))],
    };
    let cohort = insert_cohort(&mut conn, "a fifth of the users", &big).await;
    println!("\n| refresh | members | joined | left | duration s |\n|---|---|---|---|---|");
    let show = |what: &str, outcome: refresh::RefreshOutcome, took: Duration| {
        println!("| {what} | {} | {} | {} | {:.2} |", outcome.delta.size, outcome.delta.joined, outcome.delta.left_count, took.as_secs_f64());
    };
    for what in ["first evaluation (all join)", "unchanged data"] {
        let t = Instant::now();
        let outcome = refresh::refresh_now(&app.db, &app.config, cohort).await?.expect("refreshed");
        show(what, outcome, t.elapsed());
    }
    // 2% of users change wallet: some leave, some join.
    // (A different 2% each run: the database is kept between runs.)
    let even = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() % 50 * 2;
    exec(&mut conn, &format!("UPDATE public.users SET current_credits_in_wallet = CASE WHEN user_id % 2 = 0 THEN 0 ELSE current_credits_in_wallet + 100000 END WHERE user_id % 100 IN ({even}, {})", even + 1)).await;
    let t = Instant::now();
    let outcome = refresh::refresh_now(&app.db, &app.config, cohort).await?.expect("refreshed");
    show("after 2% of users changed", outcome, t.elapsed());

    // ---- Sync of ~100,000 members to the local Braze server ------------------------------
    let threshold = diesel::sql_query(
        "SELECT u.current_credits_in_wallet AS x FROM public.users u JOIN cdp.identities i ON i.user_id = u.user_id AND i.braze_id <> '' \
         WHERE u.current_credits_in_wallet IS NOT NULL ORDER BY u.current_credits_in_wallet DESC OFFSET $1 LIMIT 1",
    )
    .bind::<BigInt, _>(users as i64 / 10 - 1)
    .get_result::<X>(&mut conn)
    .await?
    .x;
    let hundred = pb::ConditionGroup {
        combinator: Combinator::And as i32,
        nodes: vec![cond("current_credits_in_wallet", Op::GreaterOrEqual, Some(Kind::Number(threshold)))],
    };
    let cohort = insert_cohort(&mut conn, "a tenth of the users, in Braze", &hundred).await;
    refresh::refresh_now(&app.db, &app.config, cohort).await?;
    let job = sync::SyncCohortJob { db: app.db.clone(), config: app.config.clone(), http: app.http.clone() };
    println!("\n| Braze sync | users sent | requests | duration s | users/s |\n|---|---|---|---|---|");
    for what in ["first sync (all added)", "next sync (no change)"] {
        let mut tx = app.db.begin_system().await?;
        let (run_id, _) = sync::queue_run(&mut tx, cohort, "braze", None).await?;
        tx.commit().await?;
        let (requests_before, users_before) = (AtomicU64::load(&sent.0, Ordering::Relaxed), AtomicU64::load(&sent.1, Ordering::Relaxed));
        let t = Instant::now();
        job.run(&JobContext { id: run_id, kind: sync::SYNC_JOB.into(), payload: serde_json::json!({ "run_id": run_id }), attempt: 1, max_attempts: 1 })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let took = t.elapsed();
        let users_sent = AtomicU64::load(&sent.1, Ordering::Relaxed) - users_before;
        println!(
            "| {what} | {users_sent} | {} | {:.2} | {:.0} |",
            AtomicU64::load(&sent.0, Ordering::Relaxed) - requests_before,
            took.as_secs_f64(),
            users_sent as f64 / took.as_secs_f64()
        );
    }
    shutdown.cancel();
    Ok(())
}
