//! The live half of the Airflow client tests (run by tests/airflow/run-live.sh, which starts a
//! real Airflow 2.10.5 or 3.3.2 on 127.0.0.1 with the project's DAGs): the CDP's real server,
//! on a database of its own, drives list, trigger and run state through IntegrationService.
//!
//! The DAG run is real: cdp_users_load reads a marketplace users table this program creates,
//! validates it and publishes it into the CDP database through `cdp_etl`, so the test ends
//! by comparing the monitor's "last sync" with the ingestion batch the DAG recorded.
//!
//!   cdp-airflow-live --airflow-url URL --api v1|v2 --username U --password P --database NAME
//!
//! Exits non-zero with the reason on the first broken expectation; every wait is bounded.

use cdp_proto::cdp::v1::{self as pb, integration_service_client::IntegrationServiceClient};
use cdp_server::{
    config::{AirflowApiVersion, AirflowConfig},
    integrations::airflow::AirflowClient,
};
use cdp_tests::{TestApp, TestDb, authed, fixtures, server_url, test_env};
use chrono::{DateTime, Utc};
use diesel_async::RunQueryDsl;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_types::StatusExt;

const PROJECT_DAGS: [&str; 3] = ["cdp_activity_export", "cdp_identities_refresh", "cdp_users_load"];
/// The DAG this test runs for real, and the relation it reads (run-live.sh gives Airflow the
/// same CDP_ETL_SOURCE_RELATION).
const DAG: &str = "cdp_users_load";
const SOURCE_USERS: i64 = 250;

struct Args {
    airflow_url: String,
    api: String,
    username: String,
    password: String,
    database: String,
}

fn args() -> anyhow::Result<Args> {
    let mut args = std::env::args().skip(1);
    let mut get = |name: &str| -> anyhow::Result<String> {
        match (args.next(), args.next()) {
            (Some(flag), Some(value)) if flag == name => Ok(value),
            _ => anyhow::bail!("usage: cdp-airflow-live --airflow-url URL --api v1|v2 --username U --password P --database NAME (expected {name})"),
        }
    };
    Ok(Args {
        airflow_url: get("--airflow-url")?,
        api: get("--api")?,
        username: get("--username")?,
        password: get("--password")?,
        database: get("--database")?,
    })
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            anyhow::bail!($($msg)+);
        }
    };
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let started = Instant::now();
    let step = |what: &str| println!("  [{:>5.1}s] {what}", started.elapsed().as_secs_f64());

    // The database Airflow's tasks write to (run-live.sh set CDP_ETL_DSN to it), migrated, with
    // the marketplace's users table the DAG reads.
    let db = TestDb { url: format!("{}/{}", server_url(), args.database), name: args.database.clone() };
    cdp_server::db::migrate(&db.url).await?;
    create_source_users(&db).await?;
    let mut env = test_env(&db);
    env.insert("CDP_AIRFLOW_URL".into(), args.airflow_url.clone());
    env.insert("CDP_AIRFLOW_API_VERSION".into(), "auto".into());
    env.insert("CDP_AIRFLOW_USERNAME".into(), args.username.clone());
    env.insert("CDP_AIRFLOW_PASSWORD".into(), args.password.clone());
    let app = TestApp::start_with(db, env).await;
    let (_, engineer) = fixtures::user_with_role(&app, "data_engineer").await;
    let (_, reader) = fixtures::user_with_role(&app, "read_only").await;
    let mut monitor = IntegrationServiceClient::new(app.channel.clone());
    step("CDP started on its own database");

    // 1. The project's DAGs appear as cards once Airflow has parsed them (new DAGs are paused).
    let listed = wait_for("the three project DAGs listed", Duration::from_secs(120), || {
        let mut monitor = monitor.clone();
        let reader = reader.clone();
        async move {
            let listed = monitor.list_dags(authed(pb::ListDagsRequest {}, &reader)).await?.into_inner();
            let ids: Vec<&str> = listed.dags.iter().map(|d| d.dag_id.as_str()).collect();
            Ok(PROJECT_DAGS.iter().all(|id| ids.contains(id)).then_some(listed))
        }
    })
    .await?;
    ensure!(listed.configured, "configured is false: {}", listed.message);
    for card in listed.dags.iter().filter(|d| PROJECT_DAGS.contains(&d.dag_id.as_str())) {
        ensure!(card.is_paused, "{} should start paused", card.dag_id);
        ensure!(card.next_run_at.is_none(), "{}: a paused DAG has no next run", card.dag_id);
        ensure!(card.tags.iter().any(|t| t == "cdp") && card.owners == ["cdp"], "{}: tags {:?}, owners {:?}", card.dag_id, card.tags, card.owners);
        ensure!(!card.description.is_empty() && !card.feeds.is_empty(), "{}: description {:?}, feeds {:?}", card.dag_id, card.description, card.feeds);
    }
    let users_card = card(&listed, DAG)?;
    ensure!(users_card.schedule == "0 3 * * *", "schedule {:?}", users_card.schedule);
    ensure!(users_card.feeds.starts_with("public.users"), "feeds {:?}", users_card.feeds);
    step(&format!("ListDags: {} cards, the project's three paused, schedule {}", listed.dags.len(), users_card.schedule));

    // 2. Who may trigger, and a DAG Airflow does not have.
    let refused = monitor.trigger_dag(authed(trigger(DAG), &reader)).await.err().ok_or_else(|| anyhow::anyhow!("read_only triggered a run"))?;
    ensure!(refused.code() == Code::PermissionDenied, "read_only: {refused:?}");
    let missing = monitor
        .trigger_dag(authed(pb::TriggerDagRequest { dag_id: "cdp_no_such_dag".into(), ..trigger(DAG) }, &engineer))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an unknown DAG was triggered"))?;
    ensure!(missing.code() == Code::NotFound && missing.get_details_error_info().is_some_and(|i| i.reason == "DAG_NOT_FOUND"), "unknown DAG: {missing:?}");

    // 3. "Refresh now" as a data engineer while the DAG is still paused: the run waits, queued.
    //    (Triggered before the unpause, so it is the DAG's one active run, max_active_runs=1,
    //    and no catch-up run of the schedule goes first.)
    let run = monitor.trigger_dag(authed(trigger(DAG), &engineer)).await?.into_inner().run.ok_or_else(|| anyhow::anyhow!("no run in the response"))?;
    let version = match args.api.as_str() {
        "v1" => AirflowApiVersion::V1,
        "v2" => AirflowApiVersion::V2,
        other => anyhow::bail!("--api must be v1 or v2, got {other}"),
    };
    ensure!(run.state() == pb::DagRunState::Queued, "new run state {:?}", run.state());
    ensure!(run.run_type == "manual", "run_type {:?}", run.run_type);
    ensure!(run.note.contains("live test (triggered from the CDP by data_engineer-"), "note {:?}", run.note);
    ensure!(version == AirflowApiVersion::V1 || run.logical_date.is_none(), "Airflow 3 manual runs have no logical date: {:?}", run.logical_date);
    let audited = fixtures::count(
        &app,
        &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'dag.trigger' AND resource_id = '{DAG}' AND after->>'run_id' = '{}'", run.run_id),
    )
    .await;
    ensure!(audited == 1, "audit rows for the trigger: {audited}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listed = monitor.list_dags(authed(pb::ListDagsRequest {}, &reader)).await?.into_inner();
    let waiting = card(&listed, DAG)?.latest_run.clone().ok_or_else(|| anyhow::anyhow!("no latest run after the trigger"))?;
    ensure!(waiting.run_id == run.run_id && waiting.state() == pb::DagRunState::Queued, "a paused DAG's run stays queued: {waiting:?}");
    step(&format!("TriggerDag: run {} queued while paused, audited", run.run_id));

    // Unpause it in Airflow (the documented PATCH; the CDP itself never pauses or unpauses).
    let airflow = AirflowClient::new(
        &AirflowConfig { url: args.airflow_url.clone(), api_version: version, username: Some(args.username.clone()), password: Some(args.password.clone()) },
        reqwest::Client::new(),
    );
    airflow.set_paused(DAG, false).await?;

    // 4. Follow the run's state through the monitor until Airflow finishes it.
    let mut seen: Vec<pb::DagRunState> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let listed = monitor.list_dags(authed(pb::ListDagsRequest {}, &reader)).await?.into_inner();
        let card = card(&listed, DAG)?.clone();
        let latest = card.latest_run.clone().ok_or_else(|| anyhow::anyhow!("the card lost its latest run"))?;
        ensure!(latest.run_id == run.run_id, "the latest run is {} rather than the triggered {}", latest.run_id, run.run_id);
        if seen.last() != Some(&latest.state()) {
            seen.push(latest.state());
        }
        if matches!(latest.state(), pb::DagRunState::Success | pb::DagRunState::Failed) {
            break card;
        }
        ensure!(Instant::now() < deadline, "timed out after 180s waiting for run {} (states seen: {seen:?})", run.run_id);
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let latest = finished.latest_run.clone().expect("checked above");
    step(&format!("run states seen through ListDags: {seen:?}"));
    ensure!(latest.state() == pb::DagRunState::Success, "the run failed in Airflow: {latest:?}");
    ensure!(latest.started_at.is_some() && latest.ended_at.is_some(), "a finished run has its times: {latest:?}");
    ensure!(finished.last_successful_run_at == latest.ended_at, "last sync {:?} vs the run's end {:?}", finished.last_successful_run_at, latest.ended_at);
    ensure!(finished.stale_since.is_none(), "fresh data reported stale since {:?}", finished.stale_since);

    // 5. What the run did, read from the database: one succeeded batch for this run, with every
    //    source row published.
    let batch = batch_of(&app, &run.run_id).await?;
    ensure!(batch.status == "succeeded", "batch {batch:?}");
    ensure!(batch.rows == SOURCE_USERS, "batch rows {} vs {SOURCE_USERS} source rows", batch.rows);
    let published = fixtures::count(&app, "SELECT count(*) AS n FROM public.users").await;
    ensure!(published == SOURCE_USERS, "public.users has {published} rows");

    // 6. Health: Airflow reachable, and the ETL's last sync is that batch.
    let health = monitor.get_integration_health(authed(pb::GetIntegrationHealthRequest {}, &reader)).await?.into_inner();
    let airflow_health = health.integrations.iter().find(|h| h.kind() == pb::IntegrationKind::Airflow).ok_or_else(|| anyhow::anyhow!("no Airflow entry"))?;
    ensure!(airflow_health.reachable && airflow_health.message == "ok", "Airflow health {airflow_health:?}");
    let finished_at = batch.finished_at.map(|t| (t.timestamp(), t.timestamp_subsec_micros()));
    let reported = airflow_health.last_successful_sync_at.as_ref().map(|t| (t.seconds, t.nanos as u32 / 1000));
    ensure!(reported == finished_at, "health last sync {reported:?} vs batch finished_at {finished_at:?}");
    step(&format!("GetIntegrationHealth: Airflow ok in {} ms, last sync = batch {}", airflow_health.latency_ms.unwrap_or(-1), batch.id));

    // 7. Wrong credentials, against the same live Airflow.
    let other = TestDb::new().await;
    let mut env = test_env(&other);
    env.insert("CDP_AIRFLOW_URL".into(), args.airflow_url.clone());
    env.insert("CDP_AIRFLOW_USERNAME".into(), args.username.clone());
    env.insert("CDP_AIRFLOW_PASSWORD".into(), "not-the-password".into());
    let wrong = TestApp::start_with(other, env).await;
    let token = fixtures::admin_token(&wrong).await;
    let rejected = IntegrationServiceClient::new(wrong.channel.clone())
        .list_dags(authed(pb::ListDagsRequest {}, &token))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a wrong password was accepted"))?;
    ensure!(
        rejected.code() == Code::FailedPrecondition && rejected.message().contains("Airflow rejected the CDP's credentials"),
        "wrong password: {rejected:?}"
    );
    step("wrong password: FAILED_PRECONDITION");

    // Leave Airflow as found for the next run of this script (it is thrown away anyway).
    airflow.set_paused(DAG, true).await?;
    println!("  live Airflow {} checks passed in {:.1}s", args.api, started.elapsed().as_secs_f64());
    Ok(())
}

fn trigger(dag_id: &str) -> pb::TriggerDagRequest {
    pb::TriggerDagRequest { dag_id: dag_id.into(), conf: cdp_server::convert::to_struct(serde_json::json!({})), note: "live test".into() }
}

fn card<'a>(listed: &'a pb::ListDagsResponse, dag_id: &str) -> anyhow::Result<&'a pb::DagCard> {
    listed.dags.iter().find(|d| d.dag_id == dag_id).ok_or_else(|| anyhow::anyhow!("no card for {dag_id}"))
}

/// Polls `check` every second until it yields a value, or fails after `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    let mut last_error = String::new();
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = format!("{err:#}"),
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {}s waiting for {what} (last error: {last_error})", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The marketplace's users snapshot: the brief's columns (as public.users has them), no
/// constraints, `SOURCE_USERS` plausible rows with the columns validation looks at.
async fn create_source_users(db: &TestDb) -> anyhow::Result<()> {
    let mut conn = db.conn().await;
    for sql in [
        "CREATE SCHEMA IF NOT EXISTS marketplace",
        "DROP TABLE IF EXISTS marketplace.users",
        "CREATE TABLE marketplace.users AS SELECT * FROM public.users WITH NO DATA",
    ] {
        diesel::sql_query(sql).execute(&mut conn).await?;
    }
    diesel::sql_query(
        "INSERT INTO marketplace.users (user_id, user_type, user_account_creation_date) \
         SELECT n, (ARRAY['individual', 'business'])[1 + n % 2], timestamp '2026-01-01' + n * interval '1 hour' \
         FROM generate_series(1, $1) AS n",
    )
    .bind::<diesel::sql_types::BigInt, _>(SOURCE_USERS)
    .execute(&mut conn)
    .await?;
    Ok(())
}

#[derive(diesel::QueryableByName, Debug)]
struct Batch {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    finished_at: Option<DateTime<Utc>>,
}

async fn batch_of(app: &TestApp, run_id: &str) -> anyhow::Result<Batch> {
    let mut conn = app.db.conn().await;
    let batches: Vec<Batch> = diesel::sql_query("SELECT id, status, rows, finished_at FROM cdp.ingestion_batches WHERE dag_run_id = $1")
        .bind::<diesel::sql_types::Text, _>(run_id)
        .load(&mut conn)
        .await?;
    match <[Batch; 1]>::try_from(batches) {
        Ok([batch]) => Ok(batch),
        Err(batches) => anyhow::bail!("expected one ingestion batch for run {run_id}, found {batches:?}"),
    }
}
