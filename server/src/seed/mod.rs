//! `cdp seed`: a deterministic, plausible classified marketplace in the ETL-owned tables
//! (`public.users`, `cdp.user_daily_activity`, `cdp.identities`, `cdp.ingestion_batches`),
//! written as the table owner through PostgreSQL COPY (DESIGN §3, §7); then [`history`]
//! plays the explorable history of [`story`] through the product's own code and refreshes the
//! user stats and dashboard rollups.
//!
//! Users are simulated one by one on a blocking thread ([`generator`]); their rows stream into
//! three COPYs on three connections at once, each in its own transaction, committed only when
//! every COPY succeeded (activity and the batches last, so a reader that sees a finished batch
//! sees its data). The same (seed, users, days, today) always gives the same rows; nothing is
//! dated after the moment the seed runs (the current day's moments are capped at it).
//!
//! How the users columns relate (the seed's tests check each rule on every row):
//! - `total_listings_count = paid_listings_count + free_listings_count`; the eight plan
//!   columns sum to the paid listings; `office_listings_count` is the paid listings a dealer,
//!   agency or shop posted in its own vertical (cars, property, electronics), and only that
//!   office column is set.
//! - `total_credits_spent` = the plans' credits + `extra_addons_total_credits`
//!   = `total_premium_credits_spent + total_free_credits_spent`; the add-on columns sum to
//!   `extra_addons_count` and `extra_addons_total_credits` (= premium + free add-on credits).
//! - Dates: account creation ≤ first transaction ≤ first paid listing ≤ last paid listing ≤
//!   last transaction ≤ today; `days_since_*` count days from the date to today.
//! - `active_months_last_6` / `active_weeks_last_12`: how many of the six 30-day (twelve
//!   7-day) periods ending today hold an activity row.
//! - Offers apply to days with paid listings: `offer_*_percentage` = offer days × 100 / days
//!   with paid listings (0 without any), rounded to 2 decimals; total = 50 + baraka days.

mod batches;
mod catalog;
mod generator;
pub mod history;
pub mod story;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::SinkExt;
use generator::{Chunk, Tally, World};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SeedOptions {
    pub users: u32,
    pub seed: u64,
    /// Days of daily activity (and of ingestion batches), ending `today`.
    pub days: u32,
    pub today: chrono::NaiveDate,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions { users: 100_000, seed: 42, days: 180, today: chrono::Utc::now().date_naive() }
    }
}

/// What was written and how long it took.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub users: u64,
    pub activity_rows: u64,
    pub identities: u64,
    pub batches: u64,
    /// Time the generator spent simulating and formatting rows (it overlaps the COPYs).
    pub generate: Duration,
    pub users_copy: Duration,
    pub activity_copy: Duration,
    pub identities_copy: Duration,
    /// ANALYZE of the four tables after the load, so the first queries plan well.
    pub analyze: Duration,
    pub total: Duration,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seeded {} users, {} activity rows, {} identities, {} ingestion batches", self.users, self.activity_rows, self.identities, self.batches)?;
        writeln!(
            f,
            "  generate {:.1}s (overlapping the loads); COPY users {:.1}s, activity {:.1}s, identities {:.1}s; analyze {:.1}s",
            self.generate.as_secs_f64(),
            self.users_copy.as_secs_f64(),
            self.activity_copy.as_secs_f64(),
            self.identities_copy.as_secs_f64(),
            self.analyze.as_secs_f64()
        )?;
        write!(f, "  total {:.1}s", self.total.as_secs_f64())
    }
}

/// Users simulated per chunk sent to the COPYs.
const CHUNK_USERS: u32 = 2_000;
/// Chunks buffered per table while PostgreSQL catches up.
const CHANNEL_DEPTH: usize = 8;

const USERS_COPY: &str = "COPY public.users (user_id, user_type, phone, current_credits_in_wallet, is_block, \
user_account_creation_date, first_paid_listing_date, last_paid_listing_date, first_transaction_date, \
last_transaction_date, days_since_last_paid_listing, days_since_last_paid_transaction, days_since_last_transaction, \
active_months_last_6, active_weeks_last_12, paid_listings_count, free_listings_count, total_listings_count, \
office_listings_count, total_credits_spent, total_premium_credits_spent, total_free_credits_spent, extra_addons_count, \
extra_addons_total_credits, extra_addons_premium_credits, extra_addons_free_credits, verticals_listed_in, \
levels_1_listed_in, plans_or_bundles_used, favorite_vertical, favorite_level_1, number_of_verticals_listed_in, \
number_of_level1_categories_listed_in, is_multivertical_user, favorite_plan_or_bundle, favorite_extra_addon, \
top_extra_addons, basic_listings_count, basic_credits_spent, pro_listings_count, pro_credits_spent, \
extra_listings_count, extra_credits_spent, plus_listings_count, plus_credits_spent, super_listings_count, \
super_credits_spent, standard_listings_count, standard_credits_spent, premium_listings_count, premium_credits_spent, \
optimum_listings_count, optimum_credits_spent, car_offices_listings_count, car_offices_credits_spent, \
property_offices_listings_count, property_offices_credits_spent, electronics_shops_listings_count, \
electronics_shops_credits_spent, addon_pinning_listings_count, addon_pinning_credits_spent, \
addon_extended_listings_count, addon_extended_credits_spent, addon_promoted_listings_count, \
addon_promoted_credits_spent, addon_pinning_shuffle_listings_count, addon_pinning_shuffle_credits_spent, \
addon_premium_listings_count, addon_premium_credits_spent, addon_power_pin_listings_count, \
addon_power_pin_credits_spent, addon_refresh_listings_count, addon_refresh_credits_spent, addon_vip_listings_count, \
addon_vip_credits_spent, offer_50_days_used, offer_baraka_days_used, offer_total_days_used, offer_50_percentage, \
offer_baraka_percentage, offer_total_percentage) FROM STDIN";
const ACTIVITY_COPY: &str = "COPY cdp.user_daily_activity (user_id, day, sessions, session_seconds, events, \
listings_posted, paid_listings, transactions, credits_spent) FROM STDIN";
const IDENTITIES_COPY: &str = "COPY cdp.identities (user_id, amplitude_id, braze_id, updated_at) FROM STDIN";

/// True when `public.users` has no rows (what `cdp seed --if-empty` checks).
pub async fn is_empty(database_url: &str) -> anyhow::Result<bool> {
    let client = connect(database_url).await?;
    let row = client.query_one("SELECT NOT EXISTS (SELECT 1 FROM public.users)", &[]).await?;
    Ok(row.get(0))
}

/// Generates the marketplace described by `options` into an empty database.
pub async fn seed(database_url: &str, options: &SeedOptions) -> anyhow::Result<SeedReport> {
    if options.users == 0 {
        bail!("--users must be at least 1");
    }
    if !(1..=3650).contains(&options.days) {
        bail!("--days must be between 1 and 3650, got {}", options.days);
    }
    let started = Instant::now();
    let users_conn = connect(database_url).await?;
    let row = users_conn
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM public.users) OR EXISTS (SELECT 1 FROM cdp.user_daily_activity) \
             OR EXISTS (SELECT 1 FROM cdp.identities) OR EXISTS (SELECT 1 FROM cdp.ingestion_batches)",
            &[],
        )
        .await?;
    if row.get::<_, bool>(0) {
        bail!("the database already holds marketplace data (users, activity, identities or batches); seed fills an empty one");
    }
    let activity_conn = connect(database_url).await?;
    let identities_conn = connect(database_url).await?;
    for conn in [&users_conn, &activity_conn, &identities_conn] {
        conn.batch_execute("BEGIN").await?;
    }

    // Nothing is written after the seed's own time (the current day is not over yet).
    let now = chrono::Utc::now().naive_utc();
    let world = Arc::new(World::new(options.users, options.seed, options.days, options.today, now));
    let (users_tx, users_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (activity_tx, activity_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (identities_tx, identities_rx) = mpsc::channel(CHANNEL_DEPTH);
    let total_users = options.users;
    let generator_world = world.clone();
    let generator = tokio::task::spawn_blocking(move || -> (Tally, Duration) {
        let world = generator_world;
        let mut tally = Tally::new(world.window_days());
        let mut busy = Duration::ZERO;
        let mut first = 1u32;
        while first <= total_users {
            let last = first.saturating_add(CHUNK_USERS - 1).min(total_users);
            let began = Instant::now();
            let mut chunk = Chunk::new(world.window_days());
            for user_id in first..=last {
                world.generate_user(user_id, &mut chunk);
            }
            tally.add(&chunk.tally);
            busy += began.elapsed();
            // A closed channel means its COPY failed; that error is the one reported.
            if users_tx.blocking_send(Bytes::from(chunk.users)).is_err()
                || activity_tx.blocking_send(Bytes::from(chunk.activity)).is_err()
                || identities_tx.blocking_send(Bytes::from(chunk.identities)).is_err()
            {
                break;
            }
            first = last.saturating_add(1);
            if last == total_users {
                break;
            }
        }
        (tally, busy)
    });

    let (users_copy, activity_copy, identities_copy) = tokio::try_join!(
        copy(&users_conn, USERS_COPY, users_rx),
        copy(&activity_conn, ACTIVITY_COPY, activity_rx),
        copy(&identities_conn, IDENTITIES_COPY, identities_rx),
    )?;
    let (tally, generate) = generator.await.context("the generator thread panicked")?;
    if users_copy.0 != tally.users() || activity_copy.0 != tally.activity_rows() || identities_copy.0 != tally.identities() {
        bail!("COPY wrote a different number of rows than generated; nothing was committed");
    }

    let (batch_rows, batch_count) = batches::rows(&world, &tally, options.seed, now);
    let (batches_tx, batches_rx) = mpsc::channel(1);
    batches_tx.send(Bytes::from(batch_rows)).await.context("queueing the ingestion batches")?;
    drop(batches_tx);
    copy(&activity_conn, &format!("COPY cdp.ingestion_batches ({}) FROM STDIN", batches::COLUMNS), batches_rx).await?;

    users_conn.batch_execute("COMMIT").await?;
    identities_conn.batch_execute("COMMIT").await?;
    activity_conn.batch_execute("COMMIT").await?;

    let analyze_started = Instant::now();
    users_conn.batch_execute("ANALYZE public.users; ANALYZE cdp.user_daily_activity; ANALYZE cdp.identities; ANALYZE cdp.ingestion_batches").await?;
    Ok(SeedReport {
        users: tally.users(),
        activity_rows: tally.activity_rows(),
        identities: tally.identities(),
        batches: batch_count,
        generate,
        users_copy: users_copy.1,
        activity_copy: activity_copy.1,
        identities_copy: identities_copy.1,
        analyze: analyze_started.elapsed(),
        total: started.elapsed(),
    })
}

/// A plain tokio-postgres connection: diesel-async has no COPY, and it runs on this crate.
async fn connect(database_url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) =
        tokio_postgres::connect(database_url, tokio_postgres::NoTls).await.with_context(|| format!("connecting to {}", crate::app::redact(database_url)))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "seed connection ended with an error");
        }
    });
    Ok(client)
}

/// Streams every chunk of `chunks` into `statement`; returns the rows written and the time
/// until the last one was accepted.
async fn copy(client: &tokio_postgres::Client, statement: &str, mut chunks: mpsc::Receiver<Bytes>) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let table = statement.split_whitespace().nth(1).unwrap_or(statement);
    let sink = client.copy_in::<_, Bytes>(statement).await.with_context(|| format!("COPY into {table}"))?;
    futures::pin_mut!(sink);
    while let Some(chunk) = chunks.recv().await {
        if !chunk.is_empty() {
            sink.send(chunk).await.with_context(|| format!("COPY into {table}"))?;
        }
    }
    let rows = sink.as_mut().finish().await.with_context(|| format!("COPY into {table}"))?;
    Ok((rows, started.elapsed()))
}
