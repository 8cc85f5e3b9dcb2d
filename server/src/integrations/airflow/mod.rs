//! The Airflow REST client: Airflow 2 (stable API v1, HTTP basic auth) and Airflow 3 (API v2,
//! a JWT from `POST /auth/token`, cached and fetched again when Airflow answers 401 or 403),
//! chosen by CDP_AIRFLOW_API_VERSION or probed once with `GET /api/v2/version`.
//! The two APIs' differences (VENDOR-APIS §3) are kept in here: callers see `Dag` and `DagRun`.

mod model;

pub use model::{Dag, DagRun};

use crate::config::{AirflowApiVersion, AirflowConfig};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell};

/// Airflow's largest page (`[api] maximum_page_limit`, 100 in both versions).
const PAGE_LIMIT: usize = 100;
/// More DAGs than any monitor shows; stops a misbehaving server from paging forever.
const MAX_DAGS: usize = 5_000;

/// Why a call to Airflow did not give an answer the CDP can use.
#[derive(Debug, thiserror::Error)]
pub enum AirflowError {
    /// No answer: connection refused, DNS, timeout.
    #[error("Airflow at {url} does not answer: {reason}")]
    Unreachable { url: String, reason: String },
    /// 401/403: the username/password (or the token made from them) were refused.
    #[error("Airflow rejected the CDP's credentials (HTTP {status}: {detail}); check CDP_AIRFLOW_USERNAME and CDP_AIRFLOW_PASSWORD")]
    CredentialsRejected { status: u16, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// 400 (v1) or 422 (v2): Airflow refused the request's content.
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    /// A status the API does not document for the call (5xx included), or a body we cannot read.
    #[error("Airflow answered {0}")]
    Unexpected(String),
}

/// A client for one Airflow deployment. Cheap to share: the version and token are cached.
pub struct AirflowClient {
    base: String,
    username: String,
    password: String,
    setting: AirflowApiVersion,
    http: reqwest::Client,
    timeout: Duration,
    version: OnceCell<AirflowApiVersion>,
    token: Mutex<Option<String>>,
}

impl AirflowClient {
    pub fn new(config: &AirflowConfig, http: reqwest::Client) -> AirflowClient {
        AirflowClient {
            base: config.url.trim_end_matches('/').to_string(),
            username: config.username.clone().unwrap_or_default(),
            password: config.password.clone().unwrap_or_default(),
            setting: config.api_version,
            http,
            timeout: Duration::from_secs(10),
            version: OnceCell::new(),
            token: Mutex::new(None),
        }
    }

    /// The same client with another per-request timeout (health checks use a short one).
    pub fn with_timeout(mut self, timeout: Duration) -> AirflowClient {
        self.timeout = timeout;
        self
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// V1 or V2: the configured one, or the probed one (cached once known).
    pub async fn api_version(&self) -> Result<AirflowApiVersion, AirflowError> {
        match self.setting {
            AirflowApiVersion::Auto => self.version.get_or_try_init(|| self.probe_version()).await.copied(),
            fixed => Ok(fixed),
        }
    }

    /// `GET /api/v2/version` answers without auth on Airflow 3; Airflow 2 has no /api/v2 (404).
    async fn probe_version(&self) -> Result<AirflowApiVersion, AirflowError> {
        let response = self.send(self.http.get(format!("{}/api/v2/version", self.base))).await?;
        match response.status() {
            status if status.is_success() => Ok(AirflowApiVersion::V2),
            StatusCode::NOT_FOUND => Ok(AirflowApiVersion::V1),
            status => Err(AirflowError::Unexpected(format!("HTTP {status} to GET /api/v2/version while probing its API version"))),
        }
    }

    /// Every DAG the CDP's Airflow user can see, page by page (limit/offset).
    pub async fn list_dags(&self) -> Result<Vec<Dag>, AirflowError> {
        let version = self.api_version().await?;
        let mut dags = Vec::new();
        loop {
            let query = [("limit", PAGE_LIMIT.to_string()), ("offset", dags.len().to_string()), ("order_by", "dag_id".to_string())];
            let page = self.call(Method::GET, "/dags", &query, None).await?;
            let items = page.get("dags").and_then(Value::as_array).ok_or_else(|| unreadable("GET /dags", "no `dags` array"))?;
            let total = page.get("total_entries").and_then(Value::as_u64).unwrap_or(0) as usize;
            let received = items.len();
            for item in items {
                dags.push(Dag::from_json(version, item).ok_or_else(|| unreadable("GET /dags", "a DAG without dag_id"))?);
            }
            if received == 0 || dags.len() >= total || dags.len() >= MAX_DAGS {
                return Ok(dags);
            }
        }
    }

    /// One authenticated call that reads a DAG page of one: Airflow answers and accepts the
    /// CDP's credentials (the health check).
    pub async fn check(&self) -> Result<(), AirflowError> {
        self.call(Method::GET, "/dags", &[("limit", "1".to_string())], None).await.map(|_| ())
    }

    /// The `limit` latest runs, newest first. "Latest" is by logical date on v1 and by
    /// `run_after` on v2, where manual runs may have no logical date.
    pub async fn recent_runs(&self, dag_id: &str, limit: usize) -> Result<Vec<DagRun>, AirflowError> {
        let order = match self.api_version().await? {
            AirflowApiVersion::V2 => "-run_after",
            _ => "-execution_date",
        };
        self.runs(dag_id, &[("order_by", order.to_string()), ("limit", limit.to_string())]).await
    }

    /// The successful run that ended last ("last sync"), if any.
    pub async fn last_successful_run(&self, dag_id: &str) -> Result<Option<DagRun>, AirflowError> {
        let query = [("state", "success".to_string()), ("order_by", "-end_date".to_string()), ("limit", "1".to_string())];
        Ok(self.runs(dag_id, &query).await?.into_iter().next())
    }

    async fn runs(&self, dag_id: &str, query: &[(&str, String)]) -> Result<Vec<DagRun>, AirflowError> {
        let version = self.api_version().await?;
        let page = self.call(Method::GET, &format!("/dags/{}/dagRuns", segment(dag_id)), query, None).await?;
        let items = page.get("dag_runs").and_then(Value::as_array).ok_or_else(|| unreadable("GET /dags/{id}/dagRuns", "no `dag_runs` array"))?;
        items.iter().map(|item| DagRun::from_json(version, item).ok_or_else(|| unreadable("GET /dags/{id}/dagRuns", "a run without dag_run_id"))).collect()
    }

    /// The DAG's `doc_md` (Markdown documentation), for DAGs that have no description.
    pub async fn doc_md(&self, dag_id: &str) -> Result<Option<String>, AirflowError> {
        let details = self.call(Method::GET, &format!("/dags/{}/details", segment(dag_id)), &[], None).await?;
        Ok(details.get("doc_md").and_then(Value::as_str).map(str::to_string))
    }

    /// Starts a run now. Airflow 3 requires the `logical_date` key (null: no data interval).
    pub async fn trigger(&self, dag_id: &str, conf: Value, note: &str) -> Result<DagRun, AirflowError> {
        let version = self.api_version().await?;
        let body = match version {
            AirflowApiVersion::V2 => json!({ "logical_date": null, "conf": conf, "note": note }),
            _ => json!({ "conf": conf, "note": note }),
        };
        let run = self.call(Method::POST, &format!("/dags/{}/dagRuns", segment(dag_id)), &[], Some(body)).await?;
        DagRun::from_json(version, &run).ok_or_else(|| unreadable("POST /dags/{id}/dagRuns", "a run without dag_run_id"))
    }

    /// Pauses or unpauses a DAG (`PATCH /dags/{id}?update_mask=is_paused`).
    pub async fn set_paused(&self, dag_id: &str, paused: bool) -> Result<(), AirflowError> {
        let query = [("update_mask", "is_paused".to_string())];
        self.call(Method::PATCH, &format!("/dags/{}", segment(dag_id)), &query, Some(json!({ "is_paused": paused }))).await?;
        Ok(())
    }

    /// One authenticated call under /api/v1 or /api/v2, returning the JSON body of a 2xx.
    /// On v2 a 401/403 drops the cached token and the call is made once more with a new one.
    async fn call(&self, method: Method, path: &str, query: &[(&str, String)], body: Option<Value>) -> Result<Value, AirflowError> {
        let version = self.api_version().await?;
        let prefix = match version {
            AirflowApiVersion::V2 => "/api/v2",
            _ => "/api/v1",
        };
        let url = format!("{}{prefix}{path}", self.base);
        let mut fresh_token = false;
        loop {
            let mut request = self.http.request(method.clone(), &url).query(query);
            if let Some(body) = &body {
                request = request.json(body);
            }
            request = match version {
                AirflowApiVersion::V2 => {
                    let (token, fresh) = self.token(fresh_token).await?;
                    fresh_token = fresh;
                    request.bearer_auth(token)
                }
                _ => request.basic_auth(&self.username, Some(&self.password)),
            };
            let response = self.send(request).await?;
            let status = response.status();
            if status.is_success() {
                let text = response.text().await.map_err(|e| self.unreachable(e))?;
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|_| unreadable(&format!("{method} {prefix}{path}"), "a body that is not JSON"));
            }
            let detail = error_detail(response).await;
            if version == AirflowApiVersion::V2 && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && !fresh_token {
                // The cached token expired or the secret rotated: log in again, once.
                *self.token.lock().await = None;
                fresh_token = true;
                continue;
            }
            return Err(status_error(status, detail, &format!("{method} {prefix}{path}")));
        }
    }

    /// The cached JWT, or a new one from `POST /auth/token` (then `fresh` is true).
    async fn token(&self, force_new: bool) -> Result<(String, bool), AirflowError> {
        let mut cached = self.token.lock().await;
        if let (Some(token), false) = (cached.as_ref(), force_new) {
            return Ok((token.clone(), false));
        }
        let request = self.http.post(format!("{}/auth/token", self.base)).json(&json!({ "username": self.username, "password": self.password }));
        let response = self.send(request).await?;
        let status = response.status();
        if !status.is_success() {
            let detail = error_detail(response).await;
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                    AirflowError::CredentialsRejected { status: status.as_u16(), detail }
                }
                _ => status_error(status, detail, "POST /auth/token"),
            });
        }
        let body: Value = response.json().await.map_err(|_| unreadable("POST /auth/token", "a body that is not JSON"))?;
        let token = body.get("access_token").and_then(Value::as_str).ok_or_else(|| unreadable("POST /auth/token", "no access_token"))?.to_string();
        *cached = Some(token.clone());
        Ok((token, true))
    }

    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, AirflowError> {
        request.timeout(self.timeout).send().await.map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, err: reqwest::Error) -> AirflowError {
        let reason = if err.is_timeout() {
            format!("timeout after {} s", self.timeout.as_secs_f64())
        } else if err.is_connect() {
            "connection refused or host unknown".to_string()
        } else {
            err.to_string()
        };
        AirflowError::Unreachable { url: self.base.clone(), reason }
    }
}

/// A DAG id as one URL path segment (ids are `[A-Za-z0-9_.-]`, so nothing to escape in
/// practice; refuse the rest rather than build another path).
fn segment(dag_id: &str) -> String {
    dag_id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).collect()
}

fn unreadable(call: &str, what: &str) -> AirflowError {
    AirflowError::Unexpected(format!("{call} with {what}"))
}

fn status_error(status: StatusCode, detail: String, call: &str) -> AirflowError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => AirflowError::CredentialsRejected { status: status.as_u16(), detail },
        StatusCode::NOT_FOUND => AirflowError::NotFound(detail),
        StatusCode::CONFLICT => AirflowError::Conflict(detail),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => AirflowError::Invalid { field: invalid_field(&detail), message: detail },
        _ => AirflowError::Unexpected(format!("HTTP {} to {call}: {detail}", status.as_u16())),
    }
}

/// The request field Airflow's refusal names: `note` when it says so, else `conf` (the only
/// other thing the CDP sends that a caller chose).
fn invalid_field(detail: &str) -> &'static str {
    if detail.contains("note") { "note" } else { "conf" }
}

/// The human-readable part of an error body: v1 problem JSON `{"detail","status","title",
/// "type"}`, v2 FastAPI `{"detail": "..."}` or validation `{"detail": [{"loc","msg"}]}`.
async fn error_detail(response: reqwest::Response) -> String {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    let detail = parsed.as_ref().and_then(|body| match body.get("detail") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| {
                    let loc: Vec<String> = item
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string())).collect())
                        .unwrap_or_default();
                    let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                    if loc.is_empty() { msg.to_string() } else { format!("{}: {msg}", loc.join(".")) }
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Some(other) if !other.is_null() => Some(other.to_string()),
        _ => body.get("title").and_then(Value::as_str).map(str::to_string),
    });
    detail.filter(|d| !d.is_empty()).unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string())
}
