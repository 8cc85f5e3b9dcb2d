//! Redemption load benchmark (issue 7; docs/benchmarks.md): a gRPC load generator against a
//! running `cdp serve` (release) and `cdp worker`, started by `tests/bench/redemption/run.sh`.
//! For 8, 32 and 128 concurrent clients it measures redemptions/s and p50/p99 latency on one
//! hot promotion and spread over 100 promotions, three runs each (medians reported), then
//! checks every figure against the ledger: each success must be one committed ledger row, and
//! no cap (total, per user, budget) may be exceeded. A last run races 128 clients for a capped
//! promotion until it is exhausted.
//!
//! Environment: `CDP_BENCH_ADDR` (the server, 127.0.0.1 only), `DATABASE_URL` (the server's
//! database, for setup and the ledger checks), `CDP_BOOTSTRAP_ADMIN_EMAIL`/`_PASSWORD`,
//! `CDP_BENCH_SECONDS` (measured seconds per run, default 10), `CDP_BENCH_RUNS` (default 3).
//! Never part of `make test`.

use cdp_proto::cdp::v1::{
    self as pb, auth_service_client::AuthServiceClient, promotion_service_client::PromotionServiceClient, redemption_service_client::RedemptionServiceClient,
    service_credential_service_client::ServiceCredentialServiceClient,
};
use cdp_tests::authed;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};
use tonic::transport::{Channel, Endpoint};

type Error = Box<dyn std::error::Error + Send + Sync>;

const WARMUP: Duration = Duration::from_secs(2);
/// HTTP/2 connections the clients are spread over (as a service's client pool would).
const CHANNELS: usize = 4;
/// Users of the hot promotion's cohort: every request of every run redeems for a new user.
const HOT_USERS: i64 = 1_500_000;
/// Users of the cohort shared by the 100 spread promotions.
const SPREAD_USERS: i64 = 30_000;
const SPREAD_PROMOTIONS: usize = 100;
/// The hot promotion's total cap: far above what a run reaches, so the figure is not cut short.
const HOT_CAP: i64 = 50_000_000;
/// The capped race: a cap and a budget that 128 clients exhaust.
const RACE_CAP: i64 = 20_000;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set (run tests/bench/redemption/run.sh)").into())
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn scalar(conn: &mut AsyncPgConnection, sql: &str) -> Result<i64, Error> {
    Ok(diesel::sql_query(sql).get_result::<N>(conn).await?.n)
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) -> Result<(), Error> {
    diesel::sql_query(sql).execute(conn).await?;
    Ok(())
}

/// A cohort of users `1..=size`, inserted as the owner (the cohort engine is not under test);
/// kept from an earlier run on the same database.
async fn cohort(conn: &mut AsyncPgConnection, name: &str, size: i64) -> Result<i64, Error> {
    let existing = scalar(conn, &format!("SELECT coalesce(max(id), 0) AS n FROM cdp.cohorts WHERE name = '{name}'")).await?;
    if existing > 0 {
        return Ok(existing);
    }
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let id = diesel::sql_query("INSERT INTO cdp.cohorts (name, kind, last_refreshed_at) VALUES ($1, 'static', now()) RETURNING id")
        .bind::<Text, _>(name)
        .get_result::<Id>(conn)
        .await?
        .id;
    exec(conn, &format!("INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT {id}, g FROM generate_series(1, {size}) g")).await?;
    exec(conn, &format!("UPDATE cdp.cohorts SET size = {size} WHERE id = {id}")).await?;
    Ok(id)
}

struct Setup {
    channel: Channel,
    admin: String,
    secret: String,
}

impl Setup {
    fn promotions(&self) -> PromotionServiceClient<Channel> {
        PromotionServiceClient::new(self.channel.clone())
    }

    /// The promotion of `code` (created and activated if this database has none yet), once
    /// it is redeemable.
    async fn promotion(&self, conn: &mut AsyncPgConnection, cohort_id: i64, code: &str, limits: pb::PromotionLimits) -> Result<i64, Error> {
        let existing = scalar(conn, &format!("SELECT coalesce(max(id), 0) AS n FROM cdp.promotions WHERE code = '{code}' AND status = 'active'")).await?;
        if existing > 0 {
            return Ok(existing);
        }
        let promotion = pb::Promotion {
            name: format!("Bench {code}"),
            cohort_id,
            r#type: pb::PromotionType::BonusCredits as i32,
            value: 10.0,
            code: code.into(),
            limits: Some(limits),
            ..Default::default()
        };
        let created = self.promotions().create_promotion(authed(pb::CreatePromotionRequest { promotion: Some(promotion) }, &self.admin)).await?.into_inner();
        let id = created.promotion.ok_or("no promotion")?.id;
        self.promotions().activate_promotion(authed(pb::ActivatePromotionRequest { id }, &self.admin)).await?;
        let mut redemption = RedemptionServiceClient::new(self.channel.clone());
        for _ in 0..600 {
            let check = pb::ValidatePromotionRequest { code: code.into(), user_id: 1, order_credits: None };
            if redemption.validate_promotion(authed(check, &self.secret)).await?.into_inner().eligible {
                return Ok(id);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("promotion {code} never became redeemable").into())
    }
}

/// One client loop's outcome.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    successes: i64,
    refused: i64,
    errors: i64,
    first_error: Option<String>,
}

/// Which promotion and user a request redeems for.
#[derive(Clone)]
enum Target {
    /// One code; users from a shared counter (a new user each time).
    Hot { code: String, next_user: Arc<AtomicI64> },
    /// One of many codes at random; a new user per code.
    Spread { codes: Arc<Vec<String>>, next_user: Arc<Vec<AtomicI64>> },
}

impl Target {
    fn next(&self, n: u64) -> (String, i64) {
        match self {
            Target::Hot { code, next_user } => (code.clone(), next_user.fetch_add(1, Ordering::Relaxed)),
            Target::Spread { codes, next_user } => {
                // A cheap, well-spread pick per request (no shared RNG on the hot path).
                let i = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) as usize % codes.len();
                (codes[i].clone(), next_user[i].fetch_add(1, Ordering::Relaxed))
            }
        }
    }
}

/// Runs `clients` loops for WARMUP + `seconds`; only requests issued after the warm-up count.
/// With `until_refused`, each loop stops at its first refusal (the capped race).
async fn load(channels: &[Channel], secret: &str, target: Target, clients: usize, seconds: u64, run: &str, until_refused: bool) -> Tally {
    let start = Instant::now() + if until_refused { Duration::ZERO } else { WARMUP };
    let end = start + Duration::from_secs(seconds);
    let loops: Vec<_> = (0..clients)
        .map(|i| {
            let mut client = RedemptionServiceClient::new(channels[i % channels.len()].clone());
            let secret = secret.to_string();
            let target = target.clone();
            let run = run.to_string();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = (i as u64) << 32;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    n += 1;
                    let (code, user_id) = target.next(n);
                    let request = pb::RedeemPromotionRequest {
                        code,
                        user_id,
                        idempotency_key: format!("{run}-{i}-{n}"),
                        order_reference: String::new(),
                        order_credits: None,
                    };
                    let answer = client.redeem_promotion(authed(request, &secret)).await;
                    let counted = t0 >= start;
                    match answer {
                        Ok(_) => {
                            tally.successes += 1;
                            if counted {
                                tally.latencies_ns.push(t0.elapsed().as_nanos() as u64);
                            }
                        }
                        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                            tally.refused += 1;
                            if until_refused {
                                break;
                            }
                        }
                        Err(status) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for handle in loops {
        let tally = handle.await.expect("a client loop panicked");
        all.latencies_ns.extend(tally.latencies_ns);
        all.successes += tally.successes;
        all.refused += tally.refused;
        all.errors += tally.errors;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
    }
    all.latencies_ns.sort_unstable();
    all
}

/// ValidatePromotion on the hot promotion: everything a redemption does except the ledger.
async fn validate_load(channels: &[Channel], secret: &str, clients: usize, seconds: u64) -> Tally {
    let start = Instant::now() + WARMUP;
    let end = start + Duration::from_secs(seconds);
    let loops: Vec<_> = (0..clients)
        .map(|i| {
            let mut client = RedemptionServiceClient::new(channels[i % channels.len()].clone());
            let secret = secret.to_string();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut user = 1 + i as i64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    user = (user + 7919) % HOT_USERS + 1;
                    let request = pb::ValidatePromotionRequest { code: "HOT-BENCH".into(), user_id: user, order_credits: None };
                    match client.validate_promotion(authed(request, &secret)).await {
                        Ok(_) if t0 >= start => tally.latencies_ns.push(t0.elapsed().as_nanos() as u64),
                        Ok(_) => {}
                        Err(_) => tally.errors += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for handle in loops {
        let tally = handle.await.expect("a client loop panicked");
        all.latencies_ns.extend(tally.latencies_ns);
        all.errors += tally.errors;
    }
    all.latencies_ns.sort_unstable();
    all
}

fn percentile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Checks a run against the ledger; returns (ledger rows of the run, over-redemptions).
async fn check(conn: &mut AsyncPgConnection, run: &str, promotion_ids: &[i64], successes: i64) -> Result<(i64, i64), Error> {
    let ids = promotion_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows = scalar(conn, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id IN ({ids}) AND idempotency_key LIKE '{run}-%'")).await?;
    // Over-redemptions: redemptions beyond any promotion's total cap or budget, or beyond one
    // use per user, counted over everything the promotions ever granted.
    let over_cap = scalar(
        conn,
        &format!(
            "SELECT coalesce(sum(greatest(r.n - CASE WHEN p.total_cap > 0 THEN p.total_cap ELSE r.n END, 0) \
                              + greatest(r.c - CASE WHEN p.credit_budget > 0 THEN p.credit_budget ELSE r.c END, 0) / greatest(p.value::int8, 1)), 0)::int8 AS n \
             FROM cdp.promotions p JOIN (SELECT promotion_id, count(*) AS n, sum(credits) AS c FROM cdp.redemptions WHERE status = 'redeemed' GROUP BY 1) r \
               ON r.promotion_id = p.id WHERE p.id IN ({ids})"
        ),
    )
    .await?;
    let over_user = scalar(
        conn,
        &format!(
            "SELECT coalesce(sum(n - 1), 0)::int8 AS n FROM (SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id IN ({ids}) AND status = 'redeemed' \
             GROUP BY promotion_id, user_id HAVING count(*) > 1) x"
        ),
    )
    .await?;
    let counters_off = scalar(
        conn,
        &format!(
            "SELECT count(*) AS n FROM cdp.promotions p WHERE p.id IN ({ids}) AND p.redeemed_count <> \
             (SELECT count(*) FROM cdp.redemptions r WHERE r.promotion_id = p.id AND r.status = 'redeemed')"
        ),
    )
    .await?;
    if rows != successes {
        eprintln!("!! run {run}: {successes} successes answered but {rows} ledger rows");
    }
    if counters_off > 0 {
        eprintln!("!! run {run}: {counters_off} promotion counters differ from the ledger");
    }
    Ok((rows, over_cap + over_user))
}

struct Figure {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: i64,
    over: i64,
    unbacked: i64,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let addr = env("CDP_BENCH_ADDR")?;
    if !addr.starts_with("127.0.0.1:") {
        return Err("CDP_BENCH_ADDR must be on 127.0.0.1".into());
    }
    let seconds: u64 = std::env::var("CDP_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let runs: usize = std::env::var("CDP_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut conn = AsyncPgConnection::establish(&env("DATABASE_URL")?).await?;
    let mut channels = Vec::new();
    for _ in 0..CHANNELS {
        channels.push(Endpoint::from_shared(format!("http://{addr}"))?.tcp_nodelay(true).connect().await?);
    }
    let channel = channels[0].clone();

    // Sign in as the bootstrap admin, issue a redemption credential, make the promotions.
    let session = AuthServiceClient::new(channel.clone())
        .sign_in(pb::SignInRequest { email: env("CDP_BOOTSTRAP_ADMIN_EMAIL")?, password: env("CDP_BOOTSTRAP_ADMIN_PASSWORD")? })
        .await?
        .into_inner();
    let admin = session.session.ok_or("no session")?.access_token;
    let secret = ServiceCredentialServiceClient::new(channel.clone())
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "bench-orders".into(), scopes: vec!["promotions.redeem".into()] }, &admin))
        .await?
        .into_inner()
        .secret;
    let setup = Setup { channel: channel.clone(), admin, secret: secret.clone() };
    let t = Instant::now();
    let hot_cohort = cohort(&mut conn, "Bench hot audience", HOT_USERS).await?;
    let hot_id = setup.promotion(&mut conn, hot_cohort, "HOT-BENCH", pb::PromotionLimits { total_redemptions: HOT_CAP, per_user: 1, credit_budget: 0 }).await?;
    let spread_cohort = cohort(&mut conn, "Bench spread audience", SPREAD_USERS).await?;
    let mut spread_ids = Vec::new();
    let mut spread_codes = Vec::new();
    for i in 0..SPREAD_PROMOTIONS {
        let code = format!("SPREAD-{i:03}");
        spread_ids
            .push(setup.promotion(&mut conn, spread_cohort, &code, pb::PromotionLimits { total_redemptions: HOT_CAP, per_user: 1, credit_budget: 0 }).await?);
        spread_codes.push(code);
    }
    exec(&mut conn, "ANALYZE").await?;
    println!(
        "setup: hot promotion over {HOT_USERS} users, {SPREAD_PROMOTIONS} promotions over {SPREAD_USERS} users each, in {:.0}s",
        t.elapsed().as_secs_f64()
    );

    // Every request redeems for a user who has not redeemed yet (also across runs on a kept database).
    let next_after = |max: i64| AtomicI64::new(max + 1);
    let hot_users = Arc::new(next_after(
        scalar(&mut conn, &format!("SELECT coalesce(max(user_id), 0)::int8 AS n FROM cdp.redemptions WHERE promotion_id = {hot_id}")).await?,
    ));
    let mut spread_next = Vec::new();
    for id in &spread_ids {
        spread_next
            .push(next_after(scalar(&mut conn, &format!("SELECT coalesce(max(user_id), 0)::int8 AS n FROM cdp.redemptions WHERE promotion_id = {id}")).await?));
    }
    let spread_users = Arc::new(spread_next);
    let scenarios = std::env::var("CDP_BENCH_SCENARIOS").unwrap_or_else(|_| "hot,spread,race".into());
    let wanted = |name: &str| scenarios.split(',').any(|s| s.trim() == name);
    let client_counts: Vec<usize> =
        std::env::var("CDP_BENCH_CLIENTS").ok().map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect()).unwrap_or_else(|| vec![8, 32, 128]);
    let spread_codes = Arc::new(spread_codes);
    println!();
    println!("| scenario | clients | redemptions/s (median of {runs}) | p50 ms | p99 ms | errors | over-redemptions | successes without a ledger row |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, scenario, ids) in [("hot", "hot: 1 promotion", vec![hot_id]), ("spread", "spread: 100 promotions", spread_ids.clone())] {
        if !wanted(name) {
            continue;
        }
        for clients in client_counts.iter().copied() {
            let mut figures = Vec::new();
            for r in 0..runs {
                let run = format!("{}{clients}r{r}p{}", if ids.len() == 1 { "h" } else { "s" }, std::process::id());
                let target = if ids.len() == 1 {
                    Target::Hot { code: "HOT-BENCH".into(), next_user: hot_users.clone() }
                } else {
                    Target::Spread { codes: spread_codes.clone(), next_user: spread_users.clone() }
                };
                let tally = load(&channels, &secret, target, clients, seconds, &run, false).await;
                let (rows, over) = check(&mut conn, &run, &ids, tally.successes).await?;
                if let Some(error) = &tally.first_error {
                    eprintln!("   run {run}: {} errors, first: {error}", tally.errors);
                }
                let figure = Figure {
                    rps: tally.latencies_ns.len() as f64 / seconds as f64,
                    p50: percentile_ms(&tally.latencies_ns, 0.50),
                    p99: percentile_ms(&tally.latencies_ns, 0.99),
                    errors: tally.errors + tally.refused,
                    over,
                    unbacked: (tally.successes - rows).max(0),
                };
                eprintln!("   run {run}: {:.0}/s p50 {:.2} ms p99 {:.2} ms ({} ledger rows)", figure.rps, figure.p50, figure.p99, rows);
                figures.push(figure);
            }
            println!(
                "| {scenario} | {clients} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
                median(figures.iter().map(|f| f.rps).collect()),
                median(figures.iter().map(|f| f.p50).collect()),
                median(figures.iter().map(|f| f.p99).collect()),
                figures.iter().map(|f| f.errors).sum::<i64>(),
                figures.iter().map(|f| f.over).max().unwrap_or(0),
                figures.iter().map(|f| f.unbacked).sum::<i64>(),
            );
        }
    }

    if wanted("validate") {
        // Diagnosis: the same path without the ledger (authentication, code, Lua dry run).
        for clients in client_counts.iter().copied() {
            let tally = validate_load(&channels, &secret, clients, seconds).await;
            println!(
                "| validate only (no ledger) | {clients} | {:.0} | {:.2} | {:.2} | {} | - | - |",
                tally.latencies_ns.len() as f64 / seconds as f64,
                percentile_ms(&tally.latencies_ns, 0.5),
                percentile_ms(&tally.latencies_ns, 0.99),
                tally.errors
            );
        }
    }
    if !wanted("race") {
        return Ok(());
    }

    // The capped race: 128 clients until the cap and the budget are spent.
    let race_cohort = cohort(&mut conn, "Bench race audience", 200_000).await?;
    let race_code = format!("RACE-{}", std::process::id());
    let race_id = setup
        .promotion(&mut conn, race_cohort, &race_code, pb::PromotionLimits { total_redemptions: RACE_CAP, per_user: 1, credit_budget: (RACE_CAP - 1) * 10 })
        .await?;
    let started = Instant::now();
    let tally = load(&channels, &secret, Target::Hot { code: race_code.clone(), next_user: Arc::new(AtomicI64::new(1)) }, 128, 120, "race", true).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (rows, over) = check(&mut conn, "race", &[race_id], tally.successes).await?;
    println!();
    println!(
        "capped race (128 clients, total cap {RACE_CAP}, budget for {} bonuses): {} granted, {} ledger rows, {} over-redemptions, {} refusals, {} errors, {:.1}s",
        RACE_CAP - 1,
        tally.successes,
        rows,
        over,
        tally.refused,
        tally.errors,
        elapsed
    );
    Ok(())
}
