//! The integrations monitor (IntegrationService) against local servers that follow the vendors'
//! documented APIs and record what the CDP sent: Airflow 2's stable REST API v1 and Airflow 3's
//! API v2, Amplitude and Braze for the health check. The live Airflow 2.10.5 / 3.3.2 test is
//! tests/airflow/run-live.sh; here are the cases a live Airflow cannot produce on demand
//! (409, 400/422, 5xx, an expired token) and the CDP's own rules (permissions, audit, health).
//!
//! The fake Airflow follows ../shared/VENDOR-APIS.md §3, whose sources are Airflow's OpenAPI
//! documents as shipped in the packages (`airflow/api_connexion/openapi/v1.yaml` in
//! apache-airflow 2.10.5; `airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml` and
//! the simple auth manager's `/auth/token` route in 3.3.2) and runs of both versions:
//! - v1: `/api/v1`, HTTP Basic auth, errors as problem JSON `{"detail","status","title","type"}`
//!   (401 unauthenticated, 404 unknown DAG, 409 duplicate run, 400 bad request or a disallowed
//!   `order_by`), `limit`/`offset` paging (default and maximum 100) with `total_entries`,
//!   `schedule_interval` as `{"__type": "CronExpression", "value"}`, runs ordered by
//!   `-execution_date`, `next_dagrun_create_after` as the next run; `/api/v2/version` is a 404.
//! - v2: `/api/v2`, `POST /auth/token` `{"username","password"}` → 201 `{"access_token"}`, then
//!   `Authorization: Bearer`; FastAPI errors `{"detail": ...}`: 401 "Not authenticated" without a
//!   token, 403 "Invalid JWT token" for a bad or expired one, 404, 409, 422 validation (a trigger
//!   body must contain `logical_date`, extra keys are forbidden); `order_by=-execution_date` is a
//!   400; `timetable_summary` is the schedule, `next_dagrun_run_after` the next run; default page
//!   50, maximum 100.
//! - Amplitude (VENDOR-APIS §1, amplitude-docs `behavioral-cohorts.md`): `GET /api/3/cohorts`
//!   with Basic auth `API_KEY:SECRET_KEY`, invalid auth is an error (401 here).
//! - Braze (VENDOR-APIS §2, braze-docs `post_user_track.md`, `_docs/_api/errors.md`): `POST
//!   /users/track` with `Authorization: Bearer <REST key>`; 401 for a missing or unknown key,
//!   400 for a request without attributes, events or purchases.

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine;
use cdp_proto::cdp::v1::{self as pb, integration_service_client::IntegrationServiceClient};
use cdp_tests::{TestApp, TestDb, authed, fixtures, test_env};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tonic::Code;
use tonic_types::StatusExt;

// ---------------------------------------------------------------------------------------------
// The fake Airflow
// ---------------------------------------------------------------------------------------------

const AIRFLOW_USER: &str = "cdp-monitor";
const AIRFLOW_PASSWORD: &str = "airflow-password-for-the-cdp";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Api {
    V1,
    V2,
}

#[derive(Clone, Debug)]
struct FakeDag {
    dag_id: String,
    description: Option<String>,
    doc_md: Option<String>,
    schedule: Option<String>,
    paused: bool,
    tags: Vec<String>,
    owners: Vec<String>,
    next_run_after: Option<DateTime<Utc>>,
}

impl FakeDag {
    fn new(dag_id: &str, schedule: &str) -> FakeDag {
        FakeDag {
            dag_id: dag_id.into(),
            description: None,
            doc_md: Some(format!("Loads {dag_id}.\nSecond line of the first paragraph.\n\nDetails.")),
            schedule: Some(schedule.into()),
            paused: false,
            tags: vec!["cdp".into(), "etl".into()],
            owners: vec!["cdp".into()],
            next_run_after: Some(Utc::now() + Duration::hours(5)),
        }
    }

    fn to_json(&self, api: Api) -> Value {
        let tags: Vec<Value> =
            self.tags.iter().map(|t| if api == Api::V1 { json!({ "name": t }) } else { json!({ "name": t, "dag_id": self.dag_id }) }).collect();
        let fileloc = format!("/opt/airflow/dags/{}.py", self.dag_id);
        match api {
            Api::V1 => json!({
                "dag_id": self.dag_id, "dag_display_name": self.dag_id, "root_dag_id": null,
                "is_paused": self.paused, "is_active": true, "is_subdag": false,
                "last_parsed_time": Utc::now(), "last_pickled": null, "last_expired": null,
                "scheduler_lock": null, "pickle_id": null, "default_view": "grid",
                "fileloc": fileloc, "file_token": "Ii4uLyI.token", "owners": self.owners,
                "description": self.description,
                "schedule_interval": self.schedule.as_ref().map(|s| json!({ "__type": "CronExpression", "value": s })),
                "timetable_description": "At some time", "tags": tags,
                "max_active_tasks": 16, "max_active_runs": 1, "has_task_concurrency_limits": false,
                "has_import_errors": false,
                "next_dagrun": self.next_run_after.map(|t| t - Duration::days(1)),
                "next_dagrun_data_interval_start": self.next_run_after.map(|t| t - Duration::days(1)),
                "next_dagrun_data_interval_end": self.next_run_after,
                "next_dagrun_create_after": self.next_run_after,
                "max_consecutive_failed_dag_runs": 0,
            }),
            Api::V2 => json!({
                "dag_id": self.dag_id, "dag_display_name": self.dag_id, "is_paused": self.paused,
                "is_stale": false, "last_parsed_time": Utc::now(), "last_parse_duration": 0.2,
                "last_expired": null, "bundle_name": "dags-folder", "bundle_version": null,
                "relative_fileloc": format!("{}.py", self.dag_id), "fileloc": fileloc,
                "description": self.description, "timetable_summary": self.schedule,
                "timetable_description": "At some time", "timetable_partitioned": false,
                "timetable_periodic": self.schedule.is_some(), "tags": tags,
                "max_active_tasks": 16, "max_active_runs": 1, "max_consecutive_failed_dag_runs": 0,
                "has_task_concurrency_limits": false, "has_import_errors": false,
                "next_dagrun_logical_date": self.next_run_after, "next_dagrun_data_interval_start": self.next_run_after,
                "next_dagrun_data_interval_end": self.next_run_after, "next_dagrun_run_after": self.next_run_after,
                "allowed_run_types": null, "owners": self.owners, "is_backfillable": true,
                "file_token": "Ii4uLyI.token",
            }),
        }
    }
}

#[derive(Clone, Debug)]
struct FakeRun {
    run_id: String,
    state: &'static str,
    logical_date: Option<DateTime<Utc>>,
    run_after: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    run_type: &'static str,
    conf: Value,
    note: Option<String>,
}

impl FakeRun {
    /// A finished scheduled run that was due `ago` and ran for five minutes.
    fn finished(state: &'static str, ago: Duration) -> FakeRun {
        let due = Utc::now() - ago;
        FakeRun {
            run_id: format!("scheduled__{}", due.to_rfc3339()),
            state,
            logical_date: Some(due),
            run_after: due,
            start: Some(due + Duration::seconds(5)),
            end: Some(due + Duration::minutes(5)),
            run_type: "scheduled",
            conf: json!({}),
            note: None,
        }
    }

    fn to_json(&self, api: Api, dag_id: &str) -> Value {
        match api {
            Api::V1 => json!({
                "dag_run_id": self.run_id, "dag_id": dag_id, "logical_date": self.logical_date,
                "execution_date": self.logical_date, "start_date": self.start, "end_date": self.end,
                "data_interval_start": self.logical_date, "data_interval_end": self.logical_date,
                "last_scheduling_decision": null, "run_type": self.run_type, "state": self.state,
                "external_trigger": self.run_type == "manual", "conf": self.conf, "note": self.note,
            }),
            Api::V2 => json!({
                "dag_run_id": self.run_id, "dag_id": dag_id, "logical_date": self.logical_date,
                "queued_at": self.run_after, "start_date": self.start, "end_date": self.end,
                "duration": match (self.start, self.end) { (Some(s), Some(e)) => json!((e - s).num_milliseconds() as f64 / 1000.0), _ => Value::Null },
                "data_interval_start": self.logical_date, "data_interval_end": self.logical_date,
                "run_after": self.run_after, "last_scheduling_decision": null, "run_type": self.run_type,
                "state": self.state, "triggered_by": if self.run_type == "manual" { "rest_api" } else { "timetable" },
                "triggering_user_name": if self.run_type == "manual" { json!(AIRFLOW_USER) } else { Value::Null },
                "conf": self.conf, "note": self.note, "dag_versions": [], "bundle_version": null,
                "dag_display_name": dag_id, "partition_key": null, "partition_date": null,
            }),
        }
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    body: Option<Value>,
    status: u16,
}

impl Recorded {
    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct AirflowState {
    dags: Vec<FakeDag>,
    runs: HashMap<String, Vec<FakeRun>>,
    /// JWTs issued by /auth/token that are still valid (v2).
    tokens: Vec<String>,
    /// The next trigger of a DAG gets this documented error instead of a run.
    refuse_trigger: HashMap<String, (u16, Value)>,
    requests: Vec<Recorded>,
}

struct FakeAirflow {
    base: String,
    state: Arc<Mutex<AirflowState>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAirflow {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Reply = (u16, Value);

impl FakeAirflow {
    async fn start(api: Api, dags: Vec<FakeDag>) -> FakeAirflow {
        let state = Arc::new(Mutex::new(AirflowState { dags, ..Default::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake Airflow");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = (api, state.clone());
        let router = Router::new().fallback(airflow_handle).with_state(Arc::new(shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the fake Airflow serves");
        });
        FakeAirflow { base, state, server }
    }

    fn add_runs(&self, dag_id: &str, runs: Vec<FakeRun>) {
        self.state.lock().unwrap().runs.entry(dag_id.to_string()).or_default().extend(runs);
    }

    fn refuse_next_trigger(&self, dag_id: &str, status: u16, body: Value) {
        self.state.lock().unwrap().refuse_trigger.insert(dag_id.to_string(), (status, body));
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// What an expired token or a rotated `jwt_secret` does: every issued token stops working.
    fn expire_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// The CDP's environment for this Airflow.
    fn env(&self, version: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CDP_AIRFLOW_URL", self.base.clone()),
            ("CDP_AIRFLOW_API_VERSION", version.to_string()),
            ("CDP_AIRFLOW_USERNAME", AIRFLOW_USER.to_string()),
            ("CDP_AIRFLOW_PASSWORD", AIRFLOW_PASSWORD.to_string()),
        ]
    }
}

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    // Airflow 2's connexion problem JSON (RFC 7807).
    let kind = match status {
        401 => "Unauthenticated",
        403 => "PermissionDenied",
        404 => "NotFound",
        409 => "AlreadyExists",
        _ => "BadRequest",
    };
    (
        status,
        json!({ "detail": detail, "status": status, "title": title, "type": format!("https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/{kind}") }),
    )
}

fn detail(status: u16, detail: &str) -> Reply {
    (status, json!({ "detail": detail }))
}

async fn airflow_handle(State(shared): State<Arc<(Api, Arc<Mutex<AirflowState>>)>>, request: Request<Body>) -> Response {
    let (api, state) = (shared.0, &shared.1);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())));
    let url = reqwest::Url::parse(&format!("http://fake{}", parts.uri)).expect("a valid uri");
    let mut recorded = Recorded {
        method: parts.method.to_string(),
        path: url.path().to_string(),
        query: url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        authorization: parts.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string),
        body,
        status: 0,
    };
    let (status, reply) = {
        let mut state = state.lock().unwrap();
        let reply = match api {
            Api::V1 => route_v1(&mut state, &recorded),
            Api::V2 => route_v2(&mut state, &recorded),
        };
        recorded.status = reply.0;
        state.requests.push(recorded);
        reply
    };
    let status = StatusCode::from_u16(status).unwrap();
    if reply.is_null() { status.into_response() } else { (status, axum::Json(reply)).into_response() }
}

fn route_v1(state: &mut AirflowState, r: &Recorded) -> Reply {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/health") => return (200, json!({ "metadatabase": { "status": "healthy" }, "scheduler": { "status": "healthy" } })),
        // Airflow 2's webserver has no /api/v2.
        (_, path) if path.starts_with("/api/v2") => return (404, Value::Null),
        _ => {}
    }
    let Some(path) = r.path.strip_prefix("/api/v1") else { return (404, Value::Null) };
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{AIRFLOW_USER}:{AIRFLOW_PASSWORD}")));
    if r.authorization.as_deref() != Some(expected.as_str()) {
        return problem(401, "Unauthorized", "No credentials found or credentials are invalid");
    }
    route_api(state, Api::V1, &r.method, path, r)
}

fn route_v2(state: &mut AirflowState, r: &Recorded) -> Reply {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/v2/version") => return (200, json!({ "version": "3.3.2", "git_version": null })),
        ("GET", "/api/v2/monitor/health") => return (200, json!({ "metadatabase": { "status": "healthy" } })),
        ("POST", "/auth/token") => {
            let body = r.body.clone().unwrap_or_default();
            let (Some(user), Some(password)) = (body.get("username").and_then(Value::as_str), body.get("password").and_then(Value::as_str)) else {
                return (422, json!({ "detail": [{ "type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": body }] }));
            };
            if user != AIRFLOW_USER || password != AIRFLOW_PASSWORD {
                return detail(401, "Invalid credentials");
            }
            let token = format!("jwt-{}", uuid::Uuid::new_v4().simple());
            state.tokens.push(token.clone());
            return (201, json!({ "access_token": token }));
        }
        (_, path) if path.starts_with("/api/v1") => return detail(404, "/api/v1 has been removed in Airflow 3.0. Please use /api/v2 instead."),
        _ => {}
    }
    let Some(path) = r.path.strip_prefix("/api/v2") else { return detail(404, "Not Found") };
    match r.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
        None => return detail(401, "Not authenticated"),
        Some(token) if !state.tokens.iter().any(|t| t == token) => return detail(403, "Invalid JWT token"),
        Some(_) => {}
    }
    route_api(state, Api::V2, &r.method, path, r)
}

/// The resources both versions share, with each version's rules and shapes.
fn route_api(state: &mut AirflowState, api: Api, method: &str, path: &str, r: &Recorded) -> Reply {
    let not_found = |dag_id: &str| match api {
        Api::V1 => problem(404, "DAG not found", &format!("DAG with dag_id: '{dag_id}' not found")),
        Api::V2 => detail(404, &format!("The Dag with ID: `{dag_id}` was not found")),
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["dags"]) => {
            let (default, max) = if api == Api::V1 { (100, 100) } else { (50, 100) };
            let limit = r.query("limit").and_then(|l| l.parse().ok()).unwrap_or(default).min(max);
            let offset = r.query("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
            let mut dags = state.dags.clone();
            dags.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
            let page: Vec<Value> = dags.iter().skip(offset).take(limit).map(|d| d.to_json(api)).collect();
            (200, json!({ "dags": page, "total_entries": dags.len() }))
        }
        ("GET", ["dags", dag_id, "details"]) => match state.dags.iter().find(|d| d.dag_id == *dag_id) {
            Some(dag) => {
                let mut details = dag.to_json(api);
                details["doc_md"] = json!(dag.doc_md);
                (200, details)
            }
            None => not_found(dag_id),
        },
        ("PATCH", ["dags", dag_id]) => match state.dags.iter_mut().find(|d| d.dag_id == *dag_id) {
            Some(dag) => {
                dag.paused = r.body.as_ref().and_then(|b| b.get("is_paused")).and_then(Value::as_bool).unwrap_or(dag.paused);
                (200, dag.to_json(api))
            }
            None => not_found(dag_id),
        },
        ("GET", ["dags", dag_id, "dagRuns"]) => {
            if !state.dags.iter().any(|d| d.dag_id == *dag_id) {
                return not_found(dag_id);
            }
            let order_by = r.query("order_by").unwrap_or("id");
            let key = order_by.trim_start_matches('-');
            let allowed: &[&str] = match api {
                Api::V1 => &["id", "state", "dag_id", "execution_date", "dag_run_id", "start_date", "end_date", "updated_at", "external_trigger", "conf"],
                Api::V2 => {
                    &["id", "state", "dag_id", "run_id", "logical_date", "run_after", "start_date", "end_date", "updated_at", "conf", "duration", "dag_run_id"]
                }
            };
            if !allowed.contains(&key) {
                let message = format!("Ordering with '{key}' is disallowed or the attribute does not exist on the model");
                return if api == Api::V1 { problem(400, "Bad Request", &message) } else { detail(400, &message) };
            }
            let mut runs: Vec<FakeRun> = state.runs.get(*dag_id).cloned().unwrap_or_default();
            let states: Vec<&str> = r.query.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect();
            if !states.is_empty() {
                runs.retain(|run| states.contains(&run.state));
            }
            let sort_key = |run: &FakeRun| match key {
                "execution_date" | "logical_date" => run.logical_date,
                "run_after" => Some(run.run_after),
                "start_date" => run.start,
                "end_date" => run.end,
                _ => Some(run.run_after),
            };
            runs.sort_by_key(|run| sort_key(run));
            if order_by.starts_with('-') {
                runs.reverse();
            }
            let total = runs.len();
            let limit = r.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100).min(100);
            let page: Vec<Value> = runs.iter().take(limit).map(|run| run.to_json(api, dag_id)).collect();
            (200, json!({ "dag_runs": page, "total_entries": total }))
        }
        ("POST", ["dags", dag_id, "dagRuns"]) => {
            if !state.dags.iter().any(|d| d.dag_id == *dag_id) {
                return not_found(dag_id);
            }
            let body = r.body.clone().unwrap_or(json!({}));
            let Some(fields) = body.as_object() else {
                return if api == Api::V1 { problem(400, "Bad Request", "Invalid input") } else { detail(422, "Input should be a valid dictionary") };
            };
            match api {
                Api::V1 => {
                    let known = ["dag_run_id", "logical_date", "execution_date", "conf", "note", "data_interval_start", "data_interval_end"];
                    if let Some(extra) = fields.keys().find(|k| !known.contains(&k.as_str())) {
                        return problem(400, "Bad Request", &format!("{{'{extra}': ['Unknown field.']}}"));
                    }
                }
                Api::V2 => {
                    if !fields.contains_key("logical_date") {
                        return (422, json!({ "detail": [{ "type": "missing", "loc": ["body", "logical_date"], "msg": "Field required", "input": body }] }));
                    }
                    let known = ["dag_run_id", "data_interval_start", "data_interval_end", "logical_date", "run_after", "conf", "note", "partition_key"];
                    if let Some(extra) = fields.keys().find(|k| !known.contains(&k.as_str())) {
                        return (
                            422,
                            json!({ "detail": [{ "type": "extra_forbidden", "loc": ["body", extra], "msg": "Extra inputs are not permitted", "input": fields[extra] }] }),
                        );
                    }
                }
            }
            if let Some(conf) = fields.get("conf").filter(|c| !c.is_object() && !c.is_null()) {
                return if api == Api::V1 {
                    problem(400, "Bad Request", "{'conf': ['Not a valid mapping type.']}")
                } else {
                    (422, json!({ "detail": [{ "type": "dict_type", "loc": ["body", "conf"], "msg": "Input should be a valid dictionary", "input": conf }] }))
                };
            }
            if let Some((status, reply)) = state.refuse_trigger.remove(*dag_id) {
                return (status, reply);
            }
            let now = Utc::now();
            let logical_date = match api {
                Api::V1 => Some(now),
                Api::V2 => fields.get("logical_date").and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc)),
            };
            let run = FakeRun {
                run_id: format!("manual__{}", now.to_rfc3339()),
                state: "queued",
                logical_date,
                run_after: now,
                start: None,
                end: None,
                run_type: "manual",
                conf: fields.get("conf").cloned().unwrap_or(json!({})),
                note: fields.get("note").and_then(Value::as_str).map(str::to_string),
            };
            let reply = run.to_json(api, dag_id);
            state.runs.entry(dag_id.to_string()).or_default().push(run);
            (200, reply)
        }
        _ => match api {
            Api::V1 => problem(404, "Not Found", "The requested URL was not found on the server."),
            Api::V2 => detail(404, "Not Found"),
        },
    }
}

/// The project's three DAGs as the fake serves them.
fn project_dags() -> Vec<FakeDag> {
    vec![
        FakeDag::new("cdp_users_load", "0 3 * * *"),
        FakeDag::new("cdp_activity_export", "0 5 * * *"),
        FakeDag { paused: true, ..FakeDag::new("cdp_identities_refresh", "30 5 * * *") },
    ]
}

// ---------------------------------------------------------------------------------------------
// Amplitude and Braze, for the health check
// ---------------------------------------------------------------------------------------------

const AMPLITUDE_KEY: &str = "amp-api-key";
const AMPLITUDE_SECRET: &str = "amp-secret-key";
const BRAZE_KEY: &str = "braze-rest-key";

struct FakeVendor {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn vendor_handle(State(requests): State<Arc<Mutex<Vec<Recorded>>>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let amplitude_auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{AMPLITUDE_KEY}:{AMPLITUDE_SECRET}")));
    let (status, reply) = match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/api/3/cohorts") if authorization.as_deref() == Some(amplitude_auth.as_str()) => (200, json!({ "cohorts": [] })),
        ("GET", "/api/3/cohorts") => (401, json!({ "error": { "http_code": 401, "type": "unauthorized", "message": "Invalid API key or secret key" } })),
        ("POST", "/users/track") if authorization.as_deref() != Some(&format!("Bearer {BRAZE_KEY}")) => (401, json!({ "message": "Invalid API key: unknown" })),
        ("POST", "/users/track") => {
            let empty = ["attributes", "events", "purchases"]
                .iter()
                .all(|k| body.as_ref().and_then(|b| b.get(*k)).and_then(Value::as_array).is_none_or(|a| a.is_empty()));
            if empty { (400, json!({ "message": "Missing attributes, events or purchases", "errors": [] })) } else { (201, json!({ "message": "success" })) }
        }
        _ => (404, json!({ "message": "not found" })),
    };
    requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: vec![],
        authorization,
        body,
        status,
    });
    (StatusCode::from_u16(status).unwrap(), axum::Json(reply)).into_response()
}

async fn fake_vendor() -> FakeVendor {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding a fake vendor");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new().fallback(vendor_handle).with_state(requests.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the fake vendor serves");
    });
    FakeVendor { base, requests, server }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn app_with(vars: Vec<(&'static str, String)>) -> TestApp {
    let db = TestDb::new().await;
    let mut env = test_env(&db);
    for (key, value) in vars {
        env.insert(key.to_string(), value);
    }
    TestApp::start_with(db, env).await
}

fn client(app: &TestApp) -> IntegrationServiceClient<tonic::transport::Channel> {
    IntegrationServiceClient::new(app.channel.clone())
}

fn reason(status: &tonic::Status) -> String {
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

fn field_violation(status: &tonic::Status) -> Option<String> {
    status.get_details_bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

fn trigger(dag_id: &str, conf: Value, note: &str) -> pb::TriggerDagRequest {
    pb::TriggerDagRequest { dag_id: dag_id.into(), conf: cdp_server::convert::to_struct(conf), note: note.into() }
}

/// A value of the test database read as the owner (an independent look at what the CDP wrote).
async fn sql_timestamp(app: &TestApp, sql: &str) -> Option<DateTime<Utc>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
        at: Option<DateTime<Utc>>,
    }
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.conn().await;
    diesel::sql_query(sql).get_result::<Row>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).at
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_airflow_the_monitor_says_so_instead_of_faking_cards() {
    let app = TestApp::start().await;
    let token = fixtures::admin_token(&app).await;
    let mut integrations = client(&app);
    let listed = integrations.list_dags(authed(pb::ListDagsRequest {}, &token)).await.unwrap().into_inner();
    assert!(!listed.configured);
    assert!(listed.dags.is_empty());
    assert!(listed.message.contains("CDP_AIRFLOW_URL"), "{}", listed.message);

    let refused = integrations.trigger_dag(authed(trigger("cdp_users_load", json!({}), ""), &token)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INTEGRATION_NOT_CONFIGURED");
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'dag.trigger'").await, 0);
}

#[tokio::test]
async fn v1_cards_show_airflow_2_dags_with_last_sync_next_run_feeds_and_staleness() {
    let airflow = FakeAirflow::start(Api::V1, project_dags()).await;
    // users: the last success ended three days ago (stale on a daily schedule); a failed run since.
    let users_success = FakeRun::finished("success", Duration::days(3));
    let users_failed = FakeRun::finished("failed", Duration::days(1));
    airflow.add_runs("cdp_users_load", vec![users_success.clone(), users_failed.clone()]);
    // activity: Airflow's last success is also old, but a batch was published an hour ago
    // (a manual load): the data is fresh.
    airflow.add_runs("cdp_activity_export", (0..12).map(|d| FakeRun::finished("success", Duration::days(3 + d))).collect());
    let app = app_with(airflow.env("v1")).await;
    fixtures::exec(&app, "INSERT INTO cdp.ingestion_batches (source, dag_run_id, rows, started_at, finished_at, status) VALUES ('activity', 'cli__manual', 10, now() - interval '61 minutes', now() - interval '1 hour', 'succeeded')").await;
    let (_, reader) = fixtures::user_with_role(&app, "read_only").await;

    let listed = client(&app).list_dags(authed(pb::ListDagsRequest {}, &reader)).await.unwrap().into_inner();
    assert!(listed.configured, "{}", listed.message);
    let ids: Vec<&str> = listed.dags.iter().map(|d| d.dag_id.as_str()).collect();
    assert_eq!(ids, ["cdp_activity_export", "cdp_identities_refresh", "cdp_users_load"]);

    let users = &listed.dags[2];
    assert_eq!(users.schedule, "0 3 * * *");
    assert_eq!(users.tags, ["cdp", "etl"]);
    assert_eq!(users.owners, ["cdp"]);
    assert!(!users.is_paused);
    assert!(users.feeds.starts_with("public.users"), "{}", users.feeds);
    // No description in Airflow: the first paragraph of doc_md.
    assert_eq!(users.description, "Loads cdp_users_load. Second line of the first paragraph.");
    let latest = users.latest_run.as_ref().expect("a latest run");
    assert_eq!(latest.run_id, users_failed.run_id);
    assert_eq!(latest.state(), pb::DagRunState::Failed);
    assert_eq!(latest.run_type, "scheduled");
    assert_eq!(users.last_successful_run_at, Some(ts(users_success.end.unwrap())));
    assert_eq!(users.stale_since, Some(ts(users_success.end.unwrap() + Duration::days(2))));
    let next = airflow.state.lock().unwrap().dags.iter().find(|d| d.dag_id == "cdp_users_load").unwrap().next_run_after.unwrap();
    assert_eq!(users.next_run_at, Some(ts(next)));
    assert_eq!(users.recent_runs.len(), 2);

    let activity = &listed.dags[0];
    assert!(activity.feeds.contains("dashboard"), "{}", activity.feeds);
    assert_eq!(activity.recent_runs.len(), 10, "at most ten recent runs");
    let newest = activity.recent_runs.iter().map(|r| r.logical_date.unwrap().seconds).collect::<Vec<_>>();
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "newest first: {newest:?}");
    assert_eq!(activity.stale_since, None, "a batch published an hour ago keeps the data fresh");

    let identities = &listed.dags[1];
    assert!(identities.is_paused);
    assert_eq!(identities.next_run_at, None, "a paused DAG has no next run");
    assert_eq!(identities.latest_run, None);
    assert_eq!(identities.last_successful_run_at, None);

    // What was sent: Basic auth on every call, runs newest by execution date, successes by end.
    let requests = airflow.requests();
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");
    let runs: Vec<&Recorded> = requests.iter().filter(|r| r.path.ends_with("/dagRuns")).collect();
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().any(|r| r.query("order_by") == Some("-execution_date") && r.query("limit") == Some("10")));
    assert!(runs.iter().any(|r| r.query("order_by") == Some("-end_date") && r.query("state") == Some("success") && r.query("limit") == Some("1")));
    assert!(requests.iter().all(|r| r.path.starts_with("/api/v1/")), "{requests:#?}");
}

#[tokio::test]
async fn the_dag_list_follows_pagination_on_v1_and_v2() {
    for api in [Api::V1, Api::V2] {
        let dags: Vec<FakeDag> =
            (0..130).map(|i| FakeDag { description: Some(format!("DAG {i}")), ..FakeDag::new(&format!("dag_{i:03}"), "@daily") }).collect();
        let airflow = FakeAirflow::start(api, dags).await;
        let app = app_with(airflow.env(if api == Api::V1 { "v1" } else { "v2" })).await;
        let token = fixtures::admin_token(&app).await;
        let listed = client(&app).list_dags(authed(pb::ListDagsRequest {}, &token)).await.unwrap().into_inner();
        let expected: Vec<String> = (0..130).map(|i| format!("dag_{i:03}")).collect();
        assert_eq!(listed.dags.iter().map(|d| d.dag_id.clone()).collect::<Vec<_>>(), expected, "{api:?}");
        assert_eq!(listed.dags[7].description, "DAG 7");
        let pages: Vec<(Option<String>, Option<String>)> = airflow
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/dags"))
            .map(|r| (r.query("limit").map(str::to_string), r.query("offset").map(str::to_string)))
            .collect();
        assert_eq!(pages, [(Some("100".into()), Some("0".into())), (Some("100".into()), Some("100".into()))], "{api:?}");
        // No DAG lacked a description, so no details were fetched.
        assert!(!airflow.requests().iter().any(|r| r.path.ends_with("/details")));
    }
}

#[tokio::test]
async fn v2_uses_one_jwt_logs_in_again_when_it_is_refused_and_triggers_with_a_null_logical_date() {
    let airflow = FakeAirflow::start(Api::V2, project_dags()).await;
    airflow.add_runs("cdp_users_load", vec![FakeRun::finished("success", Duration::hours(20))]);
    // The version is probed, not configured.
    let app = app_with(airflow.env("auto")).await;
    let (_, engineer) = fixtures::user_with_role(&app, "data_engineer").await;
    let mut integrations = client(&app);

    let listed = integrations.list_dags(authed(pb::ListDagsRequest {}, &engineer)).await.unwrap().into_inner();
    let users = listed.dags.iter().find(|d| d.dag_id == "cdp_users_load").unwrap();
    assert_eq!(users.schedule, "0 3 * * *");
    assert_eq!(users.stale_since, None, "20 hours on a daily schedule is fresh");
    let requests = airflow.requests();
    assert_eq!(requests.iter().filter(|r| r.path == "/api/v2/version").count(), 1);
    assert_eq!(requests.iter().filter(|r| r.path == "/auth/token").count(), 1, "one login for the whole listing");
    let login = requests.iter().find(|r| r.path == "/auth/token").unwrap();
    assert_eq!(login.body, Some(json!({ "username": AIRFLOW_USER, "password": AIRFLOW_PASSWORD })));
    let api_calls: Vec<&Recorded> = requests.iter().filter(|r| r.path.starts_with("/api/v2/dags")).collect();
    assert!(api_calls.iter().all(|r| r.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer jwt-")) && r.status == 200), "{api_calls:#?}");
    assert!(api_calls.iter().any(|r| r.query("order_by") == Some("-run_after")));
    assert!(!api_calls.iter().any(|r| r.query("order_by") == Some("-execution_date")));

    // The token expires: Airflow answers 403 and the client logs in again, once.
    airflow.expire_tokens();
    airflow.clear_requests();
    let run =
        integrations.trigger_dag(authed(trigger("cdp_users_load", json!({ "day": "2026-11-20" }), ""), &engineer)).await.unwrap().into_inner().run.unwrap();
    assert_eq!(run.state(), pb::DagRunState::Queued);
    assert_eq!(run.logical_date, None, "Airflow 3 manual runs have no logical date");
    assert_eq!(run.run_type, "manual");
    let statuses: Vec<(String, u16)> = airflow.requests().iter().map(|r| (r.path.clone(), r.status)).collect();
    assert_eq!(
        statuses,
        [("/api/v2/dags/cdp_users_load/dagRuns".to_string(), 403), ("/auth/token".to_string(), 201), ("/api/v2/dags/cdp_users_load/dagRuns".to_string(), 200)]
    );
    let sent = airflow.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(sent["logical_date"], Value::Null);
    assert!(sent.as_object().unwrap().contains_key("logical_date"));
    assert_eq!(sent["conf"], json!({ "day": "2026-11-20" }));
}

#[tokio::test]
async fn a_trigger_is_audited_and_its_note_says_who_asked() {
    let airflow = FakeAirflow::start(Api::V1, project_dags()).await;
    let app = app_with(airflow.env("v1")).await;
    let (engineer_id, engineer) = fixtures::user_with_role(&app, "data_engineer").await;

    let response = client(&app)
        .trigger_dag(authed(trigger("cdp_activity_export", json!({ "day": "2026-11-20" }), "backfill after the outage"), &engineer))
        .await
        .unwrap()
        .into_inner();
    let run = response.run.unwrap();
    assert_eq!(run.state(), pb::DagRunState::Queued);
    assert!(run.logical_date.is_some(), "Airflow 2 gives manual runs a logical date");
    assert!(run.run_id.starts_with("manual__"));

    let posts: Vec<Recorded> = airflow.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1);
    let body = posts[0].body.clone().unwrap();
    assert_eq!(body["conf"], json!({ "day": "2026-11-20" }));
    assert!(!body.as_object().unwrap().contains_key("logical_date"), "v1 takes no logical_date key from the CDP: {body}");
    let note = body["note"].as_str().unwrap();
    assert!(note.starts_with("backfill after the outage (triggered from the CDP by data_engineer-"), "{note}");
    assert_eq!(run.note, note);

    let audited = fixtures::count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'dag.trigger' AND resource_type = 'dag' \
             AND resource_id = 'cdp_activity_export' AND actor_id = '{engineer_id}' AND after->>'run_id' = '{}' \
             AND after->'conf'->>'day' = '2026-11-20' AND after->>'note' = $${note}$$",
            run.run_id
        ),
    )
    .await;
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn every_role_may_look_but_only_trigger_holders_may_start_a_run() {
    let airflow = FakeAirflow::start(Api::V1, project_dags()).await;
    let app = app_with(airflow.env("v1")).await;
    let mut integrations = client(&app);
    // DESIGN §4: integrations.read for all five roles, integrations.trigger for super_admin,
    // admin and data_engineer.
    for (role, may_trigger) in [("super_admin", true), ("admin", true), ("growth_manager", false), ("data_engineer", true), ("read_only", false)] {
        let (_, token) = fixtures::user_with_role(&app, role).await;
        assert!(integrations.list_dags(authed(pb::ListDagsRequest {}, &token)).await.is_ok(), "{role} lists DAGs");
        assert!(integrations.get_integration_health(authed(pb::GetIntegrationHealthRequest {}, &token)).await.is_ok(), "{role} reads health");
        let posts_before = airflow.requests().iter().filter(|r| r.method == "POST").count();
        let result = integrations.trigger_dag(authed(trigger("cdp_users_load", json!({}), ""), &token)).await;
        let posts_after = airflow.requests().iter().filter(|r| r.method == "POST").count();
        if may_trigger {
            assert!(result.is_ok(), "{role}: {result:?}");
            assert_eq!(posts_after, posts_before + 1);
        } else {
            let refused = result.unwrap_err();
            assert_eq!(refused.code(), Code::PermissionDenied, "{role}");
            assert_eq!(posts_after, posts_before, "{role}'s refused trigger never reached Airflow");
        }
    }
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'dag.trigger'").await, 3);
}

#[tokio::test]
async fn airflow_errors_become_clear_grpc_statuses() {
    for api in [Api::V1, Api::V2] {
        let airflow = FakeAirflow::start(api, project_dags()).await;
        let version = if api == Api::V1 { "v1" } else { "v2" };
        let app = app_with(airflow.env(version)).await;
        let token = fixtures::admin_token(&app).await;
        let mut integrations = client(&app);

        // A DAG Airflow does not have.
        let missing = integrations.trigger_dag(authed(trigger("no_such_dag", json!({}), ""), &token)).await.unwrap_err();
        assert_eq!((missing.code(), reason(&missing).as_str()), (Code::NotFound, "DAG_NOT_FOUND"), "{api:?}: {missing:?}");

        // 409: a run with that id exists already.
        let conflict = match api {
            Api::V1 => problem(409, "Conflict", "DAGRun with DAG ID: 'cdp_users_load' and DAGRun ID: 'manual__x' already exists"),
            Api::V2 => detail(409, "Unique constraint violation"),
        };
        airflow.refuse_next_trigger("cdp_users_load", conflict.0, conflict.1);
        let duplicate = integrations.trigger_dag(authed(trigger("cdp_users_load", json!({}), ""), &token)).await.unwrap_err();
        assert_eq!(duplicate.code(), Code::AlreadyExists, "{api:?}: {duplicate:?}");
        assert!(duplicate.message().contains("already exists") || duplicate.message().contains("Unique constraint"), "{}", duplicate.message());

        // 400 (v1) / 422 (v2): Airflow refuses the run's content.
        let invalid = match api {
            Api::V1 => problem(400, "Bad Request", "{'conf': ['Not a valid mapping type.']}"),
            Api::V2 => (422, json!({ "detail": [{ "type": "dict_type", "loc": ["body", "conf"], "msg": "Input should be a valid dictionary", "input": [] }] })),
        };
        airflow.refuse_next_trigger("cdp_users_load", invalid.0, invalid.1);
        let refused = integrations.trigger_dag(authed(trigger("cdp_users_load", json!({}), ""), &token)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{api:?}");
        assert_eq!(field_violation(&refused).as_deref(), Some("conf"));
        assert!(refused.message().contains("valid"), "{}", refused.message());

        // 500: Airflow itself is failing; try again later.
        airflow.refuse_next_trigger("cdp_users_load", 500, json!({ "detail": "Internal Server Error" }));
        let broken = integrations.trigger_dag(authed(trigger("cdp_users_load", json!({}), ""), &token)).await.unwrap_err();
        assert_eq!((broken.code(), reason(&broken).as_str()), (Code::Unavailable, "INTEGRATION_UNREACHABLE"), "{api:?}");

        // A malformed DAG id never reaches Airflow.
        let posts = airflow.requests().iter().filter(|r| r.method == "POST").count();
        let bad = integrations.trigger_dag(authed(trigger("../admin", json!({}), ""), &token)).await.unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert_eq!(field_violation(&bad).as_deref(), Some("dag_id"));
        let long_note = integrations.trigger_dag(authed(trigger("cdp_users_load", json!({}), &"x".repeat(801)), &token)).await.unwrap_err();
        assert_eq!(field_violation(&long_note).as_deref(), Some("note"));
        assert_eq!(airflow.requests().iter().filter(|r| r.method == "POST").count(), posts);

        // Nothing that failed was audited.
        assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'dag.trigger'").await, 0, "{api:?}");

        // Wrong credentials: 401 on v1, a refused login on v2.
        let mut wrong = airflow.env(version);
        wrong.retain(|(k, _)| *k != "CDP_AIRFLOW_PASSWORD");
        wrong.push(("CDP_AIRFLOW_PASSWORD", "not-the-password".into()));
        let wrong_app = app_with(wrong).await;
        let wrong_token = fixtures::admin_token(&wrong_app).await;
        let rejected = client(&wrong_app).list_dags(authed(pb::ListDagsRequest {}, &wrong_token)).await.unwrap_err();
        assert_eq!(rejected.code(), Code::FailedPrecondition, "{api:?}: {rejected:?}");
        assert_eq!(reason(&rejected), "INTEGRATION_CREDENTIALS_REJECTED");
        assert!(rejected.message().contains("Airflow rejected the CDP's credentials"), "{}", rejected.message());
    }

    // Nobody listening: UNAVAILABLE, for listing and triggering alike.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = app_with(vec![
        ("CDP_AIRFLOW_URL", url),
        ("CDP_AIRFLOW_API_VERSION", "auto".into()),
        ("CDP_AIRFLOW_USERNAME", "u".into()),
        ("CDP_AIRFLOW_PASSWORD", "p".into()),
    ])
    .await;
    let token = fixtures::admin_token(&app).await;
    let down = client(&app).list_dags(authed(pb::ListDagsRequest {}, &token)).await.unwrap_err();
    assert_eq!((down.code(), reason(&down).as_str()), (Code::Unavailable, "INTEGRATION_UNREACHABLE"), "{down:?}");
    let down = client(&app).trigger_dag(authed(trigger("cdp_users_load", json!({}), ""), &token)).await.unwrap_err();
    assert_eq!(down.code(), Code::Unavailable);
}

#[tokio::test]
async fn health_reports_every_integration_with_its_latest_syncs() {
    let airflow = FakeAirflow::start(Api::V1, project_dags()).await;
    let vendor = fake_vendor().await;
    let mut vars = airflow.env("v1");
    vars.extend([
        ("CDP_AMPLITUDE_API_KEY", AMPLITUDE_KEY.to_string()),
        ("CDP_AMPLITUDE_SECRET_KEY", AMPLITUDE_SECRET.to_string()),
        ("CDP_AMPLITUDE_REST_URL", vendor.base.clone()),
        ("CDP_BRAZE_REST_URL", vendor.base.clone()),
        ("CDP_BRAZE_API_KEY", BRAZE_KEY.to_string()),
    ]);
    let app = app_with(vars).await;
    // History: ETL batches and sync runs, older successes and failures, newest last.
    fixtures::exec(
        &app,
        "INSERT INTO cdp.ingestion_batches (source, rows, started_at, finished_at, status, error) VALUES \
        ('users', 100, now() - interval '3 hours', now() - interval '170 minutes', 'succeeded', NULL), \
        ('activity', 90, now() - interval '2 hours', now() - interval '110 minutes', 'succeeded', NULL), \
        ('users', 3, now() - interval '1 hour', now() - interval '50 minutes', 'failed', 'row_count: 3 rows, fewer than 0.5 x 100'), \
        ('identities', 0, now() - interval '5 hours', now() - interval '290 minutes', 'failed', 'an older failure')",
    )
    .await;
    fixtures::exec(
        &app,
        "INSERT INTO cdp.integration_sync_runs (integration, operation, status, error, created_at, finished_at) VALUES \
        ('amplitude', 'cohort_sync', 'succeeded', NULL, now() - interval '2 days', now() - interval '47 hours'), \
        ('amplitude', 'cohort_sync', 'failed', 'HTTP 429 from Amplitude', now() - interval '1 day', now() - interval '23 hours'), \
        ('braze', 'cohort_sync', 'succeeded', NULL, now() - interval '4 hours', now() - interval '3 hours')",
    )
    .await;
    let (_, reader) = fixtures::user_with_role(&app, "read_only").await;

    let health = client(&app).get_integration_health(authed(pb::GetIntegrationHealthRequest {}, &reader)).await.unwrap().into_inner();
    let kinds: Vec<pb::IntegrationKind> = health.integrations.iter().map(|h| h.kind()).collect();
    use pb::IntegrationKind as K;
    assert_eq!(kinds, [K::Airflow, K::Amplitude, K::Braze, K::Postgres, K::Redis, K::SupabaseAuth]);
    assert!(health.checked_at.is_some());
    let by = |kind: K| health.integrations.iter().find(|h| h.kind() == kind).unwrap().clone();

    for kind in [K::Airflow, K::Amplitude, K::Braze, K::Postgres, K::Redis] {
        let h = by(kind);
        assert!(h.configured && h.reachable, "{kind:?}: {h:?}");
        assert_eq!(h.message, "ok", "{kind:?}");
        assert!(h.latency_ms.is_some_and(|ms| (0..3000).contains(&ms)), "{kind:?}: {h:?}");
    }
    let supabase = by(K::SupabaseAuth);
    assert!(!supabase.configured && !supabase.reachable && supabase.latency_ms.is_none());
    assert!(supabase.message.contains("not configured"), "{}", supabase.message);

    // Latest syncs, compared with the database itself.
    let etl = by(K::Airflow);
    let etl_success = sql_timestamp(&app, "SELECT max(finished_at) AS at FROM cdp.ingestion_batches WHERE status = 'succeeded'").await;
    let etl_failure =
        sql_timestamp(&app, "SELECT finished_at AS at FROM cdp.ingestion_batches WHERE status = 'failed' ORDER BY finished_at DESC LIMIT 1").await;
    assert_eq!(etl.last_successful_sync_at, etl_success.map(ts));
    assert_eq!(etl.last_failed_sync_at, etl_failure.map(ts));
    assert_eq!(etl.last_error, "row_count: 3 rows, fewer than 0.5 x 100");
    let amplitude = by(K::Amplitude);
    assert_eq!(
        amplitude.last_successful_sync_at,
        sql_timestamp(&app, "SELECT max(finished_at) AS at FROM cdp.integration_sync_runs WHERE integration = 'amplitude' AND status = 'succeeded'")
            .await
            .map(ts)
    );
    assert_eq!(
        amplitude.last_failed_sync_at,
        sql_timestamp(&app, "SELECT max(finished_at) AS at FROM cdp.integration_sync_runs WHERE integration = 'amplitude' AND status = 'failed'").await.map(ts)
    );
    assert_eq!(amplitude.last_error, "HTTP 429 from Amplitude");
    let braze = by(K::Braze);
    assert!(braze.last_successful_sync_at.is_some());
    assert_eq!((braze.last_failed_sync_at, braze.last_error.as_str()), (None, ""));
    assert_eq!((by(K::Postgres).last_successful_sync_at, by(K::Redis).last_failed_sync_at), (None, None));

    // What the checks sent: Amplitude with Basic api key:secret, Braze with its Bearer key.
    let sent = vendor.requests.lock().unwrap().clone();
    assert!(sent.iter().any(|r| r.path == "/api/3/cohorts" && r.status == 200));
    let track = sent.iter().find(|r| r.path == "/users/track").expect("Braze was checked");
    assert_eq!(track.authorization.as_deref(), Some(format!("Bearer {BRAZE_KEY}").as_str()));
    assert_eq!(track.body, Some(json!({ "attributes": [] })), "the check changes no profile");
    assert!(airflow.requests().iter().any(|r| r.path == "/api/v1/dags" && r.query("limit") == Some("1") && r.status == 200));
}

#[tokio::test]
async fn health_names_what_is_wrong_and_still_answers() {
    let vendor = fake_vendor().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = app_with(vec![
        ("CDP_AIRFLOW_URL", dead_url),
        ("CDP_AIRFLOW_API_VERSION", "v2".into()),
        ("CDP_AIRFLOW_USERNAME", "u".into()),
        ("CDP_AIRFLOW_PASSWORD", "p".into()),
        ("CDP_AMPLITUDE_API_KEY", AMPLITUDE_KEY.into()),
        ("CDP_AMPLITUDE_SECRET_KEY", "a-wrong-secret".into()),
        ("CDP_AMPLITUDE_REST_URL", vendor.base.clone()),
    ])
    .await;
    let token = fixtures::admin_token(&app).await;
    let health = client(&app).get_integration_health(authed(pb::GetIntegrationHealthRequest {}, &token)).await.unwrap().into_inner();
    let by = |kind: pb::IntegrationKind| health.integrations.iter().find(|h| h.kind() == kind).unwrap().clone();
    let airflow = by(pb::IntegrationKind::Airflow);
    assert!(airflow.configured && !airflow.reachable, "{airflow:?}");
    assert!(airflow.message.contains("connection refused"), "{}", airflow.message);
    assert!(airflow.latency_ms.is_some());
    let amplitude = by(pb::IntegrationKind::Amplitude);
    assert!(amplitude.configured && !amplitude.reachable);
    assert_eq!(amplitude.message, "Amplitude rejected the API key and secret key (HTTP 401)");
    let braze = by(pb::IntegrationKind::Braze);
    assert!(!braze.configured && !braze.reachable && braze.latency_ms.is_none());
    assert!(braze.message.contains("CDP_BRAZE_REST_URL"), "{}", braze.message);
    assert!(by(pb::IntegrationKind::Postgres).reachable && by(pb::IntegrationKind::Redis).reachable);
}
