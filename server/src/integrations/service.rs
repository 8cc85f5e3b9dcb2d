//! IntegrationService: the thin tonic layer and the domain functions behind it (ListDags,
//! TriggerDag, GetIntegrationHealth). The permission table (auth/rules.rs) has already
//! checked `integrations.read` / `integrations.trigger` when a handler runs.

use super::{
    IntegrationError,
    airflow::{AirflowClient, AirflowError},
    dags, health, store,
};
use crate::{
    app::App,
    audit::{self, Change},
    auth::principal::{Actor, Principal, RequestContext, context},
    config::Config,
    convert::from_struct,
    db::Db,
};
use cdp_proto::cdp::v1::{self as pb, integration_service_server::IntegrationService};
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Airflow's limit on a DAG id (`ID_LEN`) and a note we stay well inside.
const MAX_DAG_ID_LEN: usize = 250;
const MAX_NOTE_LEN: usize = 800;

pub const NOT_CONFIGURED: &str =
    "Airflow is not configured on this server: set CDP_AIRFLOW_URL (with CDP_AIRFLOW_USERNAME and CDP_AIRFLOW_PASSWORD) to monitor its DAGs";

pub struct IntegrationApi {
    db: Db,
    redis: redis::aio::ConnectionManager,
    http: reqwest::Client,
    config: Arc<Config>,
    /// For the DAG cards and triggers.
    airflow: Option<Arc<AirflowClient>>,
    /// The same Airflow with the health check's short timeout.
    airflow_probe: Option<Arc<AirflowClient>>,
}

impl IntegrationApi {
    pub fn new(app: &App) -> IntegrationApi {
        let client = |timeout: Option<std::time::Duration>| {
            app.config.airflow.as_ref().map(|config| {
                let client = AirflowClient::new(config, app.http.clone());
                Arc::new(match timeout {
                    Some(timeout) => client.with_timeout(timeout),
                    None => client,
                })
            })
        };
        IntegrationApi {
            db: app.db.clone(),
            redis: app.redis.clone(),
            http: app.http.clone(),
            config: app.config.clone(),
            airflow: client(None),
            airflow_probe: client(Some(health::CHECK_TIMEOUT)),
        }
    }
}

/// The DAG cards, or `configured: false` with what to set. Batches are read as the caller.
pub async fn list_dags(db: &Db, caller: &Principal, airflow: Option<&AirflowClient>) -> Result<pb::ListDagsResponse, IntegrationError> {
    let Some(airflow) = airflow else {
        return Ok(pb::ListDagsResponse { configured: false, message: NOT_CONFIGURED.to_string(), dags: Vec::new() });
    };
    let mut tx = db.begin_as(&caller.claims).await?;
    let published = store::last_published_batch_by_source(&mut tx).await?;
    tx.commit().await?;
    let cards = dags::cards(airflow, &published, Utc::now()).await?;
    Ok(pb::ListDagsResponse { configured: true, message: String::new(), dags: cards })
}

/// What a caller asked to run.
pub struct TriggerRequest {
    pub dag_id: String,
    pub conf: Value,
    pub note: String,
}

impl TriggerRequest {
    pub fn parse(req: pb::TriggerDagRequest) -> Result<TriggerRequest, IntegrationError> {
        let pb::TriggerDagRequest { dag_id, conf, note } = req;
        let dag_id = dag_id.trim().to_string();
        if dag_id.is_empty() {
            return Err(IntegrationError::InvalidField { field: "dag_id", reason: "is required".into() });
        }
        if dag_id.len() > MAX_DAG_ID_LEN || !dag_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err(IntegrationError::InvalidField {
                field: "dag_id",
                reason: "must be an Airflow DAG id: letters, digits, '_', '.' and '-', at most 250".into(),
            });
        }
        let note = note.trim().to_string();
        if note.chars().count() > MAX_NOTE_LEN {
            return Err(IntegrationError::InvalidField { field: "note", reason: format!("must be at most {MAX_NOTE_LEN} characters") });
        }
        Ok(TriggerRequest { dag_id, conf: conf.map(from_struct).unwrap_or_else(|| json!({})), note })
    }
}

/// Starts a run now and records who asked, in the run's note and in the audit log. The
/// transaction opens first, so a CDP without its database starts nothing it cannot audit.
pub async fn trigger_dag(
    db: &Db,
    ctx: &RequestContext,
    caller: &Principal,
    airflow: Option<&AirflowClient>,
    request: TriggerRequest,
) -> Result<pb::DagRun, IntegrationError> {
    let airflow = airflow.ok_or_else(|| IntegrationError::NotConfigured(NOT_CONFIGURED.to_string()))?;
    let who = match &caller.actor {
        Actor::PlatformUser { email, .. } => email.clone(),
        Actor::ServiceCredential { name, .. } => format!("service credential {name}"),
    };
    let note = match request.note.as_str() {
        "" => format!("Triggered from the CDP by {who}"),
        why => format!("{why} (triggered from the CDP by {who})"),
    };
    let mut tx = db.begin_as(&caller.claims).await?;
    let run = airflow.trigger(&request.dag_id, request.conf.clone(), &note).await.map_err(|err| match err {
        AirflowError::NotFound(_) => IntegrationError::DagNotFound(request.dag_id.clone()),
        other => IntegrationError::Airflow(other),
    })?;
    let after = json!({
        "run_id": run.run_id,
        "state": run.state,
        "logical_date": run.logical_date,
        "conf": request.conf,
        "note": note,
        "airflow_url": airflow.url(),
    });
    audit::record(&mut tx, ctx, Change { action: "dag.trigger", resource_type: "dag", resource_id: request.dag_id.clone(), before: None, after: Some(after) })
        .await?;
    tx.commit().await?;
    Ok(dags::run_to_proto(&run))
}

#[tonic::async_trait]
impl IntegrationService for IntegrationApi {
    async fn list_dags(&self, request: Request<pb::ListDagsRequest>) -> Result<Response<pb::ListDagsResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListDagsRequest {} = request.into_inner();
        Ok(Response::new(list_dags(&self.db, ctx.principal()?, self.airflow.as_deref()).await?))
    }

    async fn trigger_dag(&self, request: Request<pb::TriggerDagRequest>) -> Result<Response<pb::TriggerDagResponse>, Status> {
        let ctx = context(&request)?;
        let trigger = TriggerRequest::parse(request.into_inner())?;
        let run = trigger_dag(&self.db, &ctx, ctx.principal()?, self.airflow.as_deref(), trigger).await?;
        Ok(Response::new(pb::TriggerDagResponse { run: Some(run) }))
    }

    async fn get_integration_health(&self, request: Request<pb::GetIntegrationHealthRequest>) -> Result<Response<pb::GetIntegrationHealthResponse>, Status> {
        let ctx = context(&request)?;
        let pb::GetIntegrationHealthRequest {} = request.into_inner();
        let checks = health::Checks { db: &self.db, redis: &self.redis, http: &self.http, config: &self.config, airflow: self.airflow_probe.as_deref() };
        Ok(Response::new(health::check_all(&checks, &ctx.principal()?.claims).await))
    }
}
