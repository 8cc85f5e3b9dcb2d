//! User explorer benchmark (issue 5): on a seeded marketplace (default one million users, 180
//! days of activity), measures over gRPC the latency of ListUsers (a search plus a 3-condition
//! filter, and other shapes for context) and GetUser, and the `users.refresh_stats` job.
//! Prints p50/p95/p99/max per scenario as Markdown rows for docs/benchmarks.md.
//!
//!   cargo run --release -p cdp-tests --bin cdp-bench-users -- [users] [requests]
//!
//! The database (`CDP_BENCH_DB`, default `cdp_bench_users`) is kept between runs and seeded
//! again only when its user count differs. Never part of `make test`.

use cdp_proto::cdp::v1::{self as pb, Operator as Op, user_service_client::UserServiceClient, value::Kind};
use cdp_server::{
    app::App,
    config::Config,
    seed::{SeedOptions, seed},
    users::stats::refresh_all,
};
use cdp_tests::{JWT_SECRET, authed, fixtures::mint_token, server_url};
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Sample {
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Text)]
    phone: String,
}

fn cond(field: &str, op: Op, kind: Kind) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(pb::condition_node::Node::Condition(pb::Condition {
            field: field.into(),
            operator: op as i32,
            value: Some(pb::Value { kind: Some(kind) }),
            value_to: None,
        })),
    }
}

/// The benchmark's filter: spenders active in the last 30 days who list cars or property.
fn three_conditions() -> pb::ConditionGroup {
    pb::ConditionGroup {
        combinator: pb::Combinator::And as i32,
        nodes: vec![
            cond("total_credits_spent", Op::GreaterThan, Kind::Number(0.0)),
            cond("last_active_day", Op::WithinLastDays, Kind::Days(30)),
            cond("verticals_listed_in", Op::ContainsAny, Kind::Texts(pb::StringList { values: vec!["cars".into(), "property".into()] })),
        ],
    }
}

struct Stats {
    name: String,
    samples: Vec<Duration>,
    rows: u64,
}

impl Stats {
    fn row(&mut self) -> String {
        self.samples.sort();
        let at = |q: f64| self.samples[((self.samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
        format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            self.name,
            self.samples.len(),
            at(0.50),
            at(0.95),
            at(0.99),
            at(1.0),
            self.rows as f64 / self.samples.len() as f64
        )
    }
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let users: u32 = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let requests: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(300);
    let db_name = std::env::var("CDP_BENCH_DB").unwrap_or_else(|_| "cdp_bench_users".into());
    let url = format!("{}/{db_name}", server_url());
    let today = chrono::Utc::now().date_naive();

    // The database: migrated, seeded once per size.
    cdp_server::db::migrate(&url).await?;
    let mut conn = AsyncPgConnection::establish(&url).await?;
    let have = diesel::sql_query("SELECT count(*) AS n FROM public.users").get_result::<N>(&mut conn).await?.n;
    if have != users as i64 {
        drop(conn);
        let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await?;
        exec(&mut admin, &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).await;
        cdp_server::db::migrate(&url).await?;
        let report = seed(&url, &SeedOptions { users, seed: 42, days: 180, today }).await?;
        println!("{report}");
        conn = AsyncPgConnection::establish(&url).await?;
    }
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.clone()),
        "CDP_JWT_SECRET" => Some(JWT_SECRET.into()),
        "CDP_LISTEN_ADDR" => Some("127.0.0.1:0".into()),
        "CDP_DATABASE_POOL_SIZE" => Some("8".into()),
        _ => None,
    })?;
    let app = App::build(config).await?;

    let started = Instant::now();
    let refresh = refresh_all(&app.db, today).await?;
    println!("users.refresh_stats: {} users in {} chunks, {:.1}s", refresh.users, refresh.chunks, started.elapsed().as_secs_f64());
    // Steady state: what autovacuum leaves after a load (visibility map set, statistics fresh).
    exec(&mut conn, "VACUUM (ANALYZE) public.users, cdp.user_stats, cdp.identities, cdp.user_daily_activity, cdp.user_attributes").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cdp_server::server::serve(app.clone(), listener, shutdown.clone()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let mut client = UserServiceClient::new(channel);

    // A growth manager (reads PII, so phone search applies).
    let id = uuid::Uuid::new_v4();
    let email = format!("bench-{}@cdp.test", &id.simple().to_string()[..8]);
    exec(
        &mut conn,
        &format!("INSERT INTO cdp.platform_users (id, email, display_name, role, status) VALUES ('{id}', '{email}', 'Bench', 'growth_manager', 'active')"),
    )
    .await;
    let token = mint_token(id, &email);

    let samples: Vec<Sample> =
        diesel::sql_query("SELECT user_id, phone::text AS phone FROM public.users TABLESAMPLE SYSTEM (1) WHERE phone IS NOT NULL LIMIT 2000")
            .load(&mut conn)
            .await?;
    anyhow::ensure!(!samples.is_empty(), "no users to sample");
    let pick = |i: usize| &samples[(i * 7919) % samples.len()];

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n{users} users, {requests} sequential requests per scenario after 20 warm-up calls; load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!("\n| scenario | requests | p50 ms | p95 ms | p99 ms | max ms | rows/response |\n|---|---|---|---|---|---|---|");
    let mut results = Vec::new();
    // Each scenario: warm-up, then `requests` sequential calls.
    macro_rules! scenario {
        ($name:expr, $i:ident => $call:expr) => {{
            let mut stats = Stats { name: $name.to_string(), samples: Vec::with_capacity(requests), rows: 0 };
            for $i in 0..20usize {
                let _ = $call;
            }
            for $i in 0..requests {
                let t = Instant::now();
                let rows = $call;
                stats.samples.push(t.elapsed());
                stats.rows += rows;
            }
            println!("{}", stats.row());
            results.push(stats);
        }};
    }
    let list = |search: String, filter: Option<pb::ConditionGroup>, order_by: &str, page_token: String| pb::ListUsersRequest {
        page_size: 50,
        page_token,
        search,
        filter,
        order_by: order_by.into(),
    };

    scenario!("ListUsers: phone digits (5) + 3-condition filter", i => {
        let phone = &pick(i).phone;
        let digits = phone[phone.len() - 7..phone.len() - 2].to_string();
        client.list_users(authed(list(digits, Some(three_conditions()), "", String::new()), &token)).await?.into_inner().users.len() as u64
    });
    scenario!("ListUsers: user id + 3-condition filter", i => {
        client.list_users(authed(list(pick(i).user_id.to_string(), Some(three_conditions()), "", String::new()), &token)).await?.into_inner().users.len() as u64
    });
    scenario!("GetUser", i => {
        client.get_user(authed(pb::GetUserRequest { user_id: pick(i).user_id as i64 }, &token)).await?.into_inner().profile.map(|_| 1).unwrap_or(0)
    });
    // Context (no target): the filter alone counts across all users on the first page; later
    // pages reuse the count carried by the page token.
    scenario!("ListUsers: 3-condition filter, first page (exact total)", _i => {
        client.list_users(authed(list(String::new(), Some(three_conditions()), "", String::new()), &token)).await?.into_inner().users.len() as u64
    });
    let first = client.list_users(authed(list(String::new(), Some(three_conditions()), "total_credits_spent desc", String::new()), &token)).await?.into_inner();
    scenario!("ListUsers: 3-condition filter by total_credits_spent desc, next page", _i => {
        client.list_users(authed(list(String::new(), Some(three_conditions()), "total_credits_spent desc", first.next_page_token.clone()), &token)).await?.into_inner().users.len() as u64
    });
    scenario!("ListUsers: no filter, first page (exact total)", _i => {
        client.list_users(authed(list(String::new(), None, "", String::new()), &token)).await?.into_inner().users.len() as u64
    });
    let first = client.list_users(authed(list(String::new(), None, "last_transaction_date desc", String::new()), &token)).await?.into_inner();
    scenario!("ListUsers: by last_transaction_date desc, next page", _i => {
        client.list_users(authed(list(String::new(), None, "last_transaction_date desc", first.next_page_token.clone()), &token)).await?.into_inner().users.len() as u64
    });
    shutdown.cancel();
    let _ = results;
    Ok(())
}
