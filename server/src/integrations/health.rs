//! GetIntegrationHealth: every integration checked now, at once, each with a short timeout,
//! with its latest successful and failed sync from the CDP's own records. An integration that
//! is down is what this reports, never a reason to fail.

use super::{
    airflow::{AirflowClient, AirflowError},
    store::{self, SyncSummary},
};
use crate::{
    config::Config,
    convert::{opt_timestamp, timestamp},
    db::Db,
};
use cdp_proto::cdp::v1 as pb;
use chrono::Utc;
use std::time::{Duration, Instant};

/// How long each check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub configured: bool,
    pub reachable: bool,
    pub latency_ms: Option<i64>,
    pub message: String,
}

impl Probe {
    fn not_configured(what: &str) -> Probe {
        Probe { configured: false, reachable: false, latency_ms: None, message: format!("not configured: set {what}") }
    }

    fn answered(started: Instant, reachable: bool, message: impl Into<String>) -> Probe {
        Probe { configured: true, reachable, latency_ms: Some(started.elapsed().as_millis() as i64), message: message.into() }
    }
}

/// What the checks need from the running process.
pub struct Checks<'a> {
    pub db: &'a Db,
    pub redis: &'a redis::aio::ConnectionManager,
    pub http: &'a reqwest::Client,
    pub config: &'a Config,
    /// The Airflow client with the short timeout; None when Airflow is not configured.
    pub airflow: Option<&'a AirflowClient>,
}

/// Checks every integration concurrently and adds the sync history the caller may read
/// (`claims`: the caller's, for row-level security).
pub async fn check_all(checks: &Checks<'_>, claims: &serde_json::Value) -> pb::GetIntegrationHealthResponse {
    let (airflow, amplitude, braze, postgres, redis, supabase, syncs) = tokio::join!(
        check_airflow(checks.airflow),
        check_amplitude(checks),
        check_braze(checks),
        check_postgres(checks.db),
        check_redis(checks.redis),
        check_supabase(checks),
        sync_history(checks.db, claims),
    );
    let (etl, amplitude_syncs, braze_syncs) = syncs;
    let entry = |kind: pb::IntegrationKind, probe: Probe, syncs: SyncSummary| {
        let Probe { configured, reachable, latency_ms, message } = probe;
        pb::IntegrationHealth {
            kind: kind as i32,
            configured,
            reachable,
            latency_ms,
            message,
            last_successful_sync_at: opt_timestamp(syncs.last_success_at),
            last_failed_sync_at: opt_timestamp(syncs.last_failure_at),
            last_error: syncs.last_error.unwrap_or_default(),
        }
    };
    // One entry per IntegrationKind, in enum order (the contract).
    pb::GetIntegrationHealthResponse {
        integrations: vec![
            entry(pb::IntegrationKind::Airflow, airflow, etl),
            entry(pb::IntegrationKind::Amplitude, amplitude, amplitude_syncs),
            entry(pb::IntegrationKind::Braze, braze, braze_syncs),
            entry(pb::IntegrationKind::Postgres, postgres, SyncSummary::default()),
            entry(pb::IntegrationKind::Redis, redis, SyncSummary::default()),
            entry(pb::IntegrationKind::SupabaseAuth, supabase, SyncSummary::default()),
        ],
        checked_at: Some(timestamp(Utc::now())),
    }
}

/// ETL loads for Airflow (the DAGs record every load as an ingestion batch); cohort and
/// profile syncs for Amplitude and Braze. Unknown (empty) when the database cannot answer:
/// the PostgreSQL entry then says why.
async fn sync_history(db: &Db, claims: &serde_json::Value) -> (SyncSummary, SyncSummary, SyncSummary) {
    let read = async {
        let mut tx = db.begin_as(claims).await?;
        let etl = store::etl_batches(&mut tx).await?;
        let amplitude = store::sync_runs(&mut tx, "amplitude").await?;
        let braze = store::sync_runs(&mut tx, "braze").await?;
        tx.commit().await?;
        Ok::<_, super::IntegrationError>((etl, amplitude, braze))
    };
    match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Ok(Ok(history)) => history,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "reading the sync history for the health check");
            Default::default()
        }
        Err(_) => Default::default(),
    }
}

async fn check_airflow(airflow: Option<&AirflowClient>) -> Probe {
    let Some(airflow) = airflow else { return Probe::not_configured("CDP_AIRFLOW_URL, CDP_AIRFLOW_USERNAME and CDP_AIRFLOW_PASSWORD") };
    let started = Instant::now();
    match airflow.check().await {
        Ok(()) => Probe::answered(started, true, "ok"),
        Err(AirflowError::Unreachable { reason, .. }) => Probe::answered(started, false, reason),
        Err(err) => Probe::answered(started, false, err.to_string()),
    }
}

/// Amplitude: `GET /api/3/cohorts` with Basic auth (api key : secret key), the cheapest
/// documented authenticated read of the Behavioral Cohorts API; only the status is read.
async fn check_amplitude(checks: &Checks<'_>) -> Probe {
    let Some(amplitude) = &checks.config.amplitude else { return Probe::not_configured("CDP_AMPLITUDE_API_KEY and CDP_AMPLITUDE_SECRET_KEY") };
    let request = checks.http.get(format!("{}/api/3/cohorts", amplitude.rest_url)).basic_auth(&amplitude.api_key, Some(&amplitude.secret_key));
    vendor_probe("Amplitude", "the API key and secret key", request, &[]).await
}

/// Braze: `POST /users/track` with no attributes. It changes nothing; Braze checks the REST
/// key (401/403) before the body, and the body's emptiness is a 400 (braze-docs
/// `_docs/_api/errors.md`), so a 2xx or 400 both mean "reachable, key accepted".
async fn check_braze(checks: &Checks<'_>) -> Probe {
    let Some(braze) = &checks.config.braze else { return Probe::not_configured("CDP_BRAZE_REST_URL and CDP_BRAZE_API_KEY") };
    let request = checks.http.post(format!("{}/users/track", braze.rest_url)).bearer_auth(&braze.api_key).json(&serde_json::json!({ "attributes": [] }));
    vendor_probe("Braze", "the REST API key", request, &[400]).await
}

/// Supabase Auth: GoTrue's `GET /auth/v1/health` with the project's `apikey`.
async fn check_supabase(checks: &Checks<'_>) -> Probe {
    let Some(supabase) = &checks.config.supabase else {
        return Probe::not_configured("SUPABASE_URL, SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY (the local identity provider is in use)");
    };
    let request = checks.http.get(format!("{}/auth/v1/health", supabase.url)).header("apikey", &supabase.anon_key);
    vendor_probe("Supabase Auth", "the anon key", request, &[]).await
}

/// Sends one check request; 2xx (and any status in `also_ok`) is healthy.
async fn vendor_probe(vendor: &str, credential: &str, request: reqwest::RequestBuilder, also_ok: &[u16]) -> Probe {
    let started = Instant::now();
    match request.timeout(CHECK_TIMEOUT).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match status {
                s if (200..300).contains(&s) || also_ok.contains(&s) => Probe::answered(started, true, "ok"),
                401 | 403 => Probe::answered(started, false, format!("{vendor} rejected {credential} (HTTP {status})")),
                429 => Probe::answered(started, true, format!("{vendor} is rate limiting the CDP (HTTP 429)")),
                _ => Probe::answered(started, false, format!("{vendor} answered HTTP {status}")),
            }
        }
        Err(err) if err.is_timeout() => Probe::answered(started, false, format!("timeout after {} s", CHECK_TIMEOUT.as_secs())),
        Err(err) if err.is_connect() => Probe::answered(started, false, format!("{vendor} does not answer (connection refused or host unknown)")),
        Err(err) => Probe::answered(started, false, format!("{vendor} does not answer: {err}")),
    }
}

/// PostgreSQL: a pooled connection and `SELECT 1`.
async fn check_postgres(db: &Db) -> Probe {
    use diesel_async::RunQueryDsl;
    let started = Instant::now();
    let ping = async {
        let mut conn = db.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut *conn).await?;
        Ok::<_, super::IntegrationError>(())
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(())) => Probe::answered(started, true, "ok"),
        Ok(Err(err)) => Probe::answered(started, false, format!("PostgreSQL does not answer: {err}")),
        Err(_) => Probe::answered(started, false, format!("timeout after {} s", CHECK_TIMEOUT.as_secs())),
    }
}

/// Redis: `PING` on the shared connection.
async fn check_redis(redis: &redis::aio::ConnectionManager) -> Probe {
    let started = Instant::now();
    let mut conn = redis.clone();
    match tokio::time::timeout(CHECK_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn)).await {
        Ok(Ok(reply)) if reply == "PONG" => Probe::answered(started, true, "ok"),
        Ok(Ok(reply)) => Probe::answered(started, false, format!("Redis answered {reply:?} to PING")),
        Ok(Err(err)) => Probe::answered(started, false, format!("Redis does not answer: {err}")),
        Err(_) => Probe::answered(started, false, format!("timeout after {} s", CHECK_TIMEOUT.as_secs())),
    }
}
