//! Cohort syncs, Amplitude imports and Braze profile enrichment against local HTTP servers
//! that follow the vendors' documented APIs (../shared/VENDOR-APIS.md §1 and §2) and record
//! every request, so each test asserts exactly what the CDP sent.
//!
//! - Braze (`braze-inc/braze-docs`: `_docs/_api/endpoints/user_data/post_user_track.md`,
//!   `_docs/_api/api_limits.md`, `_docs/_api/errors.md`): `POST /users/track` with
//!   `Authorization: Bearer <REST key>`, at most 75 attribute objects (more is 400 "Max Input
//!   Length Exceeded"), `{"message":"success"}` on success, 429 with `Retry-After` /
//!   `X-RateLimit-*` headers, 5xx to be retried with backoff.
//! - Amplitude (`amplitude/amplitude-docs` `content/collections/api/en/behavioral-cohorts.md`):
//!   HTTP Basic `api_key:secret_key`; `GET /api/3/cohorts` (`{"cohorts":[..]}`, not paged);
//!   `GET /api/5/cohorts/request/{id}` → 202 `{request_id, cohort_id}`;
//!   `GET /api/5/cohorts/request-status/{request_id}` → 202 `JOB INPROGRESS` then 200
//!   `JOB COMPLETED`; `GET /api/5/cohorts/request/{request_id}/file` → 302 to a pre-signed S3
//!   URL (another host: the client must not send its credentials there) serving CSV
//!   `"amplitude_id","user_id"`; `POST /api/3/cohorts/upload` (`name, app_id, id_type BY_USER_ID
//!   | BY_AMP_ID, ids, owner, published`) → `{"cohortId", "metadata"}`;
//!   `POST /api/3/cohorts/membership` (`cohort_id, memberships:[{ids, id_type BY_ID | BY_NAME,
//!   operation ADD | REMOVE}]`) → `{"cohort_id", "memberships_result"}`; at most 100,000 ids.

use super::cohorts::{client, cohort_worker, cond, create, group, members, reason, run_schedule, seeded_app, wait_refreshed};
use axum::{Router, body::Body, extract::State, http::Request, response::Response};
use base64::{Engine, engine::general_purpose::STANDARD};
use cdp_proto::cdp::v1::{self as pb, Combinator, Operator as Op, value::Kind};
use cdp_server::{
    integrations::braze::enrichment::EnrichProfiles,
    jobs::{JobContext, JobHandler},
};
use cdp_tests::{TestApp, authed, fixtures};
use serde_json::{Value, json};
use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tonic::Code;

const BRAZE_KEY: &str = "braze-rest-key-for-tests";
const AMPLITUDE_KEY: &str = "amp-api-key";
const AMPLITUDE_SECRET: &str = "amp-secret-key";
const AMPLITUDE_APP: i64 = 424_242;
const AMPLITUDE_OWNER: &str = "growth@marketplace.test";

// ---- a recording HTTP server ------------------------------------------------------------

/// One request as a fake received it, and the status it answered.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
    at: Instant,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply { status, headers: vec![("content-type", "application/json".into())], body: body.to_string().into_bytes() }
    }
}

type Handler = Box<dyn FnMut(&Recorded) -> Reply + Send>;

struct FakeState {
    requests: Vec<Recorded>,
    handler: Handler,
}

/// A local HTTP server answering with `handler` and recording every request; stops on drop.
struct Fake {
    url: String,
    state: Arc<Mutex<FakeState>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(State(state): State<Arc<Mutex<FakeState>>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default().to_vec();
    let headers = parts.headers.iter().map(|(k, v)| (k.as_str().to_lowercase(), v.to_str().unwrap_or_default().to_string())).collect();
    let mut recorded = Recorded { method: parts.method.to_string(), path: parts.uri.to_string(), headers, body, status: 0, at: Instant::now() };
    let reply = {
        let mut state = state.lock().unwrap();
        let reply = (state.handler)(&recorded);
        recorded.status = reply.status;
        state.requests.push(recorded);
        reply
    };
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

impl Fake {
    async fn start(handler: Handler) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(FakeState { requests: Vec::new(), handler }));
        let router = Router::new().fallback(serve).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the fake serves");
        });
        Fake { url, state, server }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

// ---- the Braze fake ---------------------------------------------------------------------

/// `/users/track` as documented; `fault` may answer a request first (throttling, failures).
fn braze(mut fault: impl FnMut(&Recorded, &Value) -> Option<Reply> + Send + 'static) -> Handler {
    Box::new(move |r: &Recorded| {
        if r.method != "POST" || r.path != "/users/track" {
            return Reply::json(404, json!({ "message": "Not found" }));
        }
        if r.header("authorization") != Some(&format!("Bearer {BRAZE_KEY}")) {
            return Reply::json(401, json!({ "message": "Invalid API Key" }));
        }
        let body = r.json();
        if let Some(reply) = fault(r, &body) {
            return reply;
        }
        let attributes = body.get("attributes").and_then(Value::as_array).cloned().unwrap_or_default();
        if attributes.len() > 75 {
            return Reply::json(400, json!({ "message": "Max Input Length Exceeded", "errors": ["too many attributes"] }));
        }
        let mut reply = Reply::json(201, json!({ "message": "success", "attributes_processed": attributes.len() }));
        reply.headers.push(("x-ratelimit-limit", "3000".into()));
        reply.headers.push(("x-ratelimit-remaining", "2999".into()));
        reply
    })
}

/// (user id, change) of every attribute object Braze accepted, in order.
fn accepted_changes(fake: &Fake, attribute: &str) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for r in fake.requests().iter().filter(|r| r.status < 300) {
        for object in r.json()["attributes"].as_array().cloned().unwrap_or_default() {
            let user: i64 = object["external_id"].as_str().unwrap().parse().unwrap();
            let change = &object[attribute];
            for op in ["add", "remove"] {
                for value in change.get(op).and_then(Value::as_array).cloned().unwrap_or_default() {
                    out.push((user, op.to_string(), value.as_str().unwrap().to_string()));
                }
            }
        }
    }
    out
}

fn assert_braze_requests_follow_the_contract(fake: &Fake) {
    let requests = fake.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.header("authorization"), Some(format!("Bearer {BRAZE_KEY}").as_str()));
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")));
        let attributes = r.json()["attributes"].as_array().cloned().expect("an attributes array");
        assert!(!attributes.is_empty() && attributes.len() <= 75, "1 to 75 attribute objects, got {}", attributes.len());
        for object in attributes {
            assert_eq!(object["_update_existing_only"], json!(true), "never creates profiles: {object}");
            assert!(object["external_id"].as_str().is_some_and(|id| id.parse::<i64>().is_ok()), "the marketplace user id is the external_id: {object}");
        }
    }
}

async fn run_status(app: &TestApp, run_id: i64) -> (String, i64) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
    }
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.conn().await;
    let row: Row =
        diesel::sql_query(format!("SELECT status, attempts FROM cdp.integration_sync_runs WHERE id = {run_id}")).get_result(&mut conn).await.unwrap();
    (row.status, row.attempts as i64)
}

async fn wait_run(app: &TestApp, run_id: i64, status: &str) {
    for _ in 0..600 {
        if run_status(app, run_id).await.0 == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sync run {run_id} never reached {status}: {:?}", run_status(app, run_id).await);
}

async fn sync(app: &TestApp, token: &str, cohort_id: i64, target: pb::SyncTarget) -> Result<pb::CohortSync, tonic::Status> {
    client(app).sync_cohort(authed(pb::SyncCohortRequest { id: cohort_id, target: target as i32 }, token)).await.map(|r| r.into_inner().sync.expect("a run"))
}

async fn run_of(app: &TestApp, token: &str, run_id: i64) -> pb::CohortSync {
    let runs = client(app).list_cohort_syncs(authed(pb::ListCohortSyncsRequest { page_size: 500, ..Default::default() }, token)).await.unwrap().into_inner();
    runs.syncs.into_iter().find(|s| s.id == run_id).expect("the run is listed")
}

fn set(ids: &[i64]) -> BTreeSet<i64> {
    ids.iter().copied().collect()
}

/// Members the target should hold: with an id there, not suspended.
async fn expected_on(app: &TestApp, cohort_id: i64, id_column: &str) -> Vec<i64> {
    super::cohorts::ids(
        app,
        &format!(
            "SELECT m.user_id::int8 AS id FROM cdp.cohort_members m JOIN cdp.identities i ON i.user_id = m.user_id \
             WHERE m.cohort_id = {cohort_id} AND i.{id_column} IS NOT NULL AND i.{id_column} <> '' \
               AND NOT EXISTS (SELECT 1 FROM cdp.user_attributes a WHERE a.user_id = m.user_id AND a.account_status = 'suspended')"
        ),
    )
    .await
}

fn listers() -> pb::ConditionGroup {
    group(Combinator::And, vec![cond("total_listings_count", Op::GreaterOrEqual, Some(Kind::Number(2.0)))])
}

// ---- Braze cohort sync ------------------------------------------------------------------

#[tokio::test]
async fn braze_sync_sends_only_the_difference_in_documented_batches() {
    let fake = Fake::start(braze(|_, _| None)).await;
    let app = seeded_app(5000, &[("CDP_BRAZE_REST_URL", fake.url.clone()), ("CDP_BRAZE_API_KEY", BRAZE_KEY.into())]).await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let (engineer_id, engineer) = fixtures::user_with_role(&app, "data_engineer").await;
    // Suspended users are never synced.
    fixtures::exec(&app, "INSERT INTO cdp.user_attributes (user_id, account_status) SELECT user_id, 'suspended' FROM public.users WHERE total_listings_count >= 2 ORDER BY user_id LIMIT 4").await;
    let worker = cohort_worker(&app);
    let cohort = create(&app, &writer, "Active Listers", pb::CohortKind::Dynamic, listers()).await.unwrap();
    let first_refresh = wait_refreshed(&app, &writer, cohort.id, None).await;
    drop(worker);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // With no worker running, the run stays queued: asking again returns it.
    let run = sync(&app, &engineer, cohort.id, pb::SyncTarget::Braze).await.expect("a data engineer may sync");
    assert_eq!(
        (run.target, run.status, run.requested_by.as_str()),
        (pb::SyncTarget::Braze as i32, pb::SyncStatus::Queued as i32, engineer_id.to_string().as_str())
    );
    let again = sync(&app, &writer, cohort.id, pb::SyncTarget::Braze).await.unwrap();
    assert_eq!(again.id, run.id, "a pending run is returned, not duplicated");
    let _worker = cohort_worker(&app);
    wait_run(&app, run.id, "succeeded").await;

    let slug = format!("active_listers_{}", cohort.id);
    let expected = expected_on(&app, cohort.id, "braze_id").await;
    assert!(expected.len() > 75 * 8, "several waves of requests ({} users)", expected.len());
    assert_braze_requests_follow_the_contract(&fake);
    let changes = accepted_changes(&fake, "cdp_cohorts");
    assert!(changes.iter().all(|(_, op, value)| op == "add" && value == &slug));
    let added: Vec<i64> = changes.iter().map(|c| c.0).collect();
    assert_eq!(added.len(), expected.len(), "each member exactly once");
    assert_eq!(set(&added), set(&expected));
    assert_eq!(fake.requests().len(), expected.len().div_ceil(75), "full batches of 75");
    let shown = run_of(&app, &engineer, run.id).await;
    let unmatched = fixtures::count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM cdp.cohort_members m LEFT JOIN cdp.identities i ON i.user_id = m.user_id WHERE m.cohort_id = {} AND coalesce(i.braze_id, '') = '' \
             AND NOT EXISTS (SELECT 1 FROM cdp.user_attributes a WHERE a.user_id = m.user_id AND a.account_status = 'suspended')",
            cohort.id
        ),
    )
    .await;
    assert!(unmatched > 0, "the seed leaves some users without a Braze id");
    assert_eq!(
        (shown.status, shown.users_added, shown.users_removed, shown.users_unmatched),
        (pb::SyncStatus::Succeeded as i32, expected.len() as i64, 0, unmatched)
    );
    assert_eq!((shown.external_id.as_str(), shown.cohort_name.as_str(), shown.attempts), (slug.as_str(), "Active Listers", 1));
    assert!(shown.started_at.is_some() && shown.finished_at.is_some());

    // The data changes; the next refresh queues a scheduled sync that sends only the change.
    let leavers =
        super::cohorts::ids(&app, &format!("SELECT user_id::int8 AS id FROM cdp.cohort_sync_members WHERE cohort_id = {} ORDER BY user_id LIMIT 6", cohort.id))
            .await;
    let joiners = super::cohorts::ids(
        &app,
        "SELECT u.user_id::int8 AS id FROM public.users u JOIN cdp.identities i ON i.user_id = u.user_id AND i.braze_id <> '' \
         WHERE u.total_listings_count < 2 ORDER BY u.user_id LIMIT 9",
    )
    .await;
    let newly_suspended = super::cohorts::ids(
        &app,
        &format!("SELECT user_id::int8 AS id FROM cdp.cohort_sync_members WHERE cohort_id = {} ORDER BY user_id DESC LIMIT 1", cohort.id),
    )
    .await;
    let list = |v: &[i64]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    fixtures::exec(&app, &format!("UPDATE public.users SET total_listings_count = 0 WHERE user_id IN ({})", list(&leavers))).await;
    fixtures::exec(&app, &format!("UPDATE public.users SET total_listings_count = 50 WHERE user_id IN ({})", list(&joiners))).await;
    fixtures::exec(&app, &format!("INSERT INTO cdp.user_attributes (user_id, account_status) VALUES ({}, 'suspended')", newly_suspended[0])).await;
    let before = fake.requests().len();
    fixtures::exec(&app, &format!("UPDATE cdp.cohorts SET next_refresh_at = now() WHERE id = {}", cohort.id)).await;
    run_schedule(&app).await;
    wait_refreshed(&app, &writer, cohort.id, Some(&first_refresh)).await;
    let scheduled = loop {
        let runs = client(&app)
            .list_cohort_syncs(authed(pb::ListCohortSyncsRequest { cohort_id: cohort.id, ..Default::default() }, &engineer))
            .await
            .unwrap()
            .into_inner();
        if runs.total_size == 2 && runs.syncs[0].status == pb::SyncStatus::Succeeded as i32 {
            break runs.syncs[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(scheduled.requested_by.is_empty(), "a scheduled sync has no requester");
    let delta: Vec<(i64, String, String)> = accepted_changes(&fake, "cdp_cohorts").into_iter().skip(added.len()).collect();
    assert!(fake.requests().len() > before);
    let adds: Vec<i64> = delta.iter().filter(|c| c.1 == "add").map(|c| c.0).collect();
    let removes: Vec<i64> = delta.iter().filter(|c| c.1 == "remove").map(|c| c.0).collect();
    assert_eq!(set(&adds), set(&joiners));
    let mut gone = leavers.clone();
    gone.push(newly_suspended[0]);
    assert_eq!(set(&removes), set(&gone));
    assert_eq!((scheduled.users_added, scheduled.users_removed), (joiners.len() as i64, gone.len() as i64));
    assert_eq!(
        set(&super::cohorts::ids(&app, &format!("SELECT user_id::int8 AS id FROM cdp.cohort_sync_members WHERE cohort_id = {}", cohort.id)).await),
        set(&expected_on(&app, cohort.id, "braze_id").await)
    );
    assert_eq!(
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'cohort.sync' AND resource_id = '{}'", cohort.id)).await,
        1
    );
}

#[tokio::test]
async fn braze_throttling_is_honoured_and_a_failure_mid_sync_resumes_without_duplicates_or_losses() {
    // The first request is throttled (Retry-After: 1); the batch holding a chosen user fails
    // with 500 five times in a row (every in-process attempt of the first run), then works.
    let victim = Arc::new(Mutex::new(None::<String>));
    let failures = Arc::new(Mutex::new(0));
    let throttled = Arc::new(Mutex::new(false));
    let (v, f, t) = (victim.clone(), failures.clone(), throttled.clone());
    let fake = Fake::start(braze(move |_, body| {
        let mut throttled = t.lock().unwrap();
        if !*throttled {
            *throttled = true;
            let mut reply = Reply::json(429, json!({ "message": "API rate limit exceeded" }));
            reply.headers.push(("retry-after", "1".into()));
            reply.headers.push(("x-ratelimit-remaining", "0".into()));
            return Some(reply);
        }
        let victim = v.lock().unwrap().clone()?;
        let hit = body["attributes"].as_array()?.iter().any(|o| o["external_id"] == json!(victim));
        let mut failures = f.lock().unwrap();
        if hit && *failures < 5 {
            *failures += 1;
            return Some(Reply::json(500, json!({ "message": "Internal Server Error" })));
        }
        None
    }))
    .await;
    let app = seeded_app(1500, &[("CDP_BRAZE_REST_URL", fake.url.clone()), ("CDP_BRAZE_API_KEY", BRAZE_KEY.into())]).await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let cohort = create(&app, &writer, "listers", pb::CohortKind::Static, listers()).await.unwrap();
    wait_refreshed(&app, &writer, cohort.id, None).await;
    let expected = expected_on(&app, cohort.id, "braze_id").await;
    *victim.lock().unwrap() = Some(expected[expected.len() / 2].to_string());

    let run = sync(&app, &writer, cohort.id, pb::SyncTarget::Braze).await.unwrap();
    // The first attempt fails visibly and waits for its retry.
    let mut saw_retry_pending = false;
    for _ in 0..400 {
        let (status, attempts) = run_status(&app, run.id).await;
        if status == "queued" && attempts == 1 {
            saw_retry_pending = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(saw_retry_pending, "after its first attempt failed the run waits for a retry");
    assert!(run_of(&app, &writer, run.id).await.error.contains("HTTP 500"));
    wait_run(&app, run.id, "succeeded").await;
    let done = run_of(&app, &writer, run.id).await;
    assert_eq!((done.attempts, done.error.as_str(), done.users_added), (2, "", expected.len() as i64));

    assert_braze_requests_follow_the_contract(&fake);
    let requests = fake.requests();
    // 429: the same request came again, at least a second later.
    let first = &requests[0];
    assert_eq!(first.status, 429);
    let resent = requests.iter().skip(1).find(|r| r.body == first.body).expect("the throttled request is sent again");
    assert!(resent.at.duration_since(first.at) >= Duration::from_millis(950), "Retry-After honoured: {:?}", resent.at.duration_since(first.at));
    assert_eq!(requests.iter().filter(|r| r.status == 500).count(), 5);
    // Every member accepted exactly once: none twice, none lost.
    let added: Vec<i64> = accepted_changes(&fake, "cdp_cohorts").into_iter().map(|c| c.0).collect();
    assert_eq!(added.len(), expected.len(), "no duplicate");
    assert_eq!(set(&added), set(&expected), "no loss");
}

// ---- Amplitude --------------------------------------------------------------------------

/// What the Amplitude fake serves.
#[derive(Default)]
struct AmplitudeData {
    cohorts: Vec<Value>,
    /// CSV file per Amplitude cohort id.
    files: HashMap<String, String>,
    /// Status polls answered 202 before the file is ready.
    polls_before_ready: usize,
    polls: HashMap<String, usize>,
    downloads: usize,
    s3: String,
}

fn basic(key: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{key}:{secret}")))
}

fn amplitude(data: Arc<Mutex<AmplitudeData>>) -> Handler {
    Box::new(move |r: &Recorded| {
        if r.header("authorization") != Some(basic(AMPLITUDE_KEY, AMPLITUDE_SECRET).as_str()) {
            return Reply::json(401, json!({ "error": { "http_code": 401, "type": "unauthorized", "message": "Invalid credentials" } }));
        }
        let mut data = data.lock().unwrap();
        let path = r.path.split('?').next().unwrap_or_default().to_string();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (r.method.as_str(), segments.as_slice()) {
            ("GET", ["api", "3", "cohorts"]) => Reply::json(200, json!({ "cohorts": data.cohorts })),
            ("GET", ["api", "5", "cohorts", "request", id]) => {
                if !data.files.contains_key(*id) {
                    return Reply::json(404, json!({ "error": { "http_code": 404, "message": "cohort not found" } }));
                }
                data.downloads += 1;
                let request_id = format!("req-{id}-{}", data.downloads);
                Reply::json(202, json!({ "request_id": request_id, "cohort_id": id }))
            }
            ("GET", ["api", "5", "cohorts", "request-status", request_id]) => {
                let ready = data.polls_before_ready;
                let polls = data.polls.entry(request_id.to_string()).or_default();
                *polls += 1;
                if *polls <= ready {
                    Reply::json(202, json!({ "request_id": request_id, "async_status": "JOB INPROGRESS" }))
                } else {
                    Reply::json(200, json!({ "request_id": request_id, "async_status": "JOB COMPLETED" }))
                }
            }
            ("GET", ["api", "5", "cohorts", "request", request_id, "file"]) => {
                let cohort = request_id.trim_start_matches("req-").rsplit_once('-').map(|(c, _)| c.to_string()).unwrap_or_default();
                Reply { status: 302, headers: vec![("location", format!("{}/signed/{cohort}?X-Amz-Signature=abc", data.s3))], body: Vec::new() }
            }
            ("POST", ["api", "3", "cohorts", "upload"]) => {
                let body = r.json();
                let ok = ["name", "app_id", "id_type", "ids", "owner", "published"].iter().all(|k| body.get(*k).is_some());
                let ids = body["ids"].as_array().map(Vec::len).unwrap_or(usize::MAX);
                if !ok || ids > 100_000 || !matches!(body["id_type"].as_str(), Some("BY_AMP_ID" | "BY_USER_ID")) {
                    return Reply::json(400, json!({ "error": { "http_code": 400, "message": "invalid upload" } }));
                }
                Reply::json(200, json!({ "cohortId": "amp-cohort-1", "metadata": { "matched": ids, "totals": ids, "invalid_ids_sample": [] } }))
            }
            ("POST", ["api", "3", "cohorts", "membership"]) => {
                let body = r.json();
                let memberships = body["memberships"].as_array().cloned().unwrap_or_default();
                let valid = body["cohort_id"] == json!("amp-cohort-1")
                    && memberships.iter().all(|m| {
                        matches!(m["id_type"].as_str(), Some("BY_ID" | "BY_NAME"))
                            && matches!(m["operation"].as_str(), Some("ADD" | "REMOVE"))
                            && m["ids"].as_array().is_some_and(|ids| ids.len() <= 100_000)
                    });
                if !valid {
                    return Reply::json(400, json!({ "error": { "http_code": 400, "message": "invalid membership change" } }));
                }
                let results: Vec<Value> =
                    memberships.iter().map(|m| json!({ "skipped_ids": [], "id_type": m["id_type"], "operation": m["operation"] })).collect();
                Reply::json(200, json!({ "cohort_id": body["cohort_id"], "memberships_result": results }))
            }
            _ => Reply::json(404, json!({ "error": { "http_code": 404, "message": "not found" } })),
        }
    })
}

/// The pre-signed S3 side of a download: another host, no credentials expected.
fn s3(data: Arc<Mutex<AmplitudeData>>) -> Handler {
    Box::new(move |r: &Recorded| {
        let cohort = r.path.trim_start_matches("/signed/").split('?').next().unwrap_or_default().to_string();
        match data.lock().unwrap().files.get(&cohort) {
            Some(csv) => Reply { status: 200, headers: vec![("content-type", "text/csv".into())], body: csv.clone().into_bytes() },
            None => Reply::json(403, json!({ "message": "AccessDenied" })),
        }
    })
}

struct AmplitudeFakes {
    api: Fake,
    storage: Fake,
    data: Arc<Mutex<AmplitudeData>>,
}

async fn amplitude_fakes() -> AmplitudeFakes {
    let data = Arc::new(Mutex::new(AmplitudeData { polls_before_ready: 2, ..Default::default() }));
    let storage = Fake::start(s3(data.clone())).await;
    data.lock().unwrap().s3 = storage.url.clone();
    let api = Fake::start(amplitude(data.clone())).await;
    AmplitudeFakes { api, storage, data }
}

fn amplitude_env(fakes: &AmplitudeFakes, upload: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CDP_AMPLITUDE_API_KEY", AMPLITUDE_KEY.to_string()),
        ("CDP_AMPLITUDE_SECRET_KEY", AMPLITUDE_SECRET.to_string()),
        ("CDP_AMPLITUDE_REST_URL", fakes.api.url.clone()),
    ];
    if upload {
        env.push(("CDP_AMPLITUDE_APP_ID", AMPLITUDE_APP.to_string()));
        env.push(("CDP_AMPLITUDE_COHORT_OWNER", AMPLITUDE_OWNER.to_string()));
    }
    env
}

fn string_ids(value: &Value) -> Vec<i64> {
    value.as_array().unwrap().iter().map(|v| v.as_str().expect("ids are strings").parse().unwrap()).collect()
}

#[tokio::test]
async fn amplitude_sync_uploads_once_then_sends_membership_deltas() {
    let fakes = amplitude_fakes().await;
    let app = seeded_app(1200, &amplitude_env(&fakes, true)).await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let cohort = create(&app, &writer, "Amplitude listers", pb::CohortKind::Dynamic, listers()).await.unwrap();
    let first_refresh = wait_refreshed(&app, &writer, cohort.id, None).await;
    let run = sync(&app, &writer, cohort.id, pb::SyncTarget::Amplitude).await.unwrap();
    wait_run(&app, run.id, "succeeded").await;

    let expected = expected_on(&app, cohort.id, "amplitude_id").await;
    let requests = fakes.api.requests();
    assert_eq!(requests.len(), 1, "a first sync is one upload: {requests:?}");
    let upload = &requests[0];
    assert_eq!((upload.method.as_str(), upload.path.as_str()), ("POST", "/api/3/cohorts/upload"));
    assert_eq!(upload.header("authorization"), Some(basic(AMPLITUDE_KEY, AMPLITUDE_SECRET).as_str()));
    let body = upload.json();
    assert_eq!(
        (body["name"].as_str(), body["app_id"].as_i64(), body["id_type"].as_str(), body["owner"].as_str(), body["published"].as_bool()),
        (Some("Amplitude listers"), Some(AMPLITUDE_APP), Some("BY_USER_ID"), Some(AMPLITUDE_OWNER), Some(true))
    );
    assert_eq!(string_ids(&body["ids"]), expected, "the members known to Amplitude, as user ids");
    let shown = run_of(&app, &writer, run.id).await;
    assert_eq!((shown.external_id.as_str(), shown.users_added, shown.users_removed), ("amp-cohort-1", expected.len() as i64, 0));
    assert_eq!(shown.users_unmatched, fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.cohort_members m LEFT JOIN cdp.identities i ON i.user_id = m.user_id WHERE m.cohort_id = {} AND coalesce(i.amplitude_id, '') = ''", cohort.id)).await);

    // A change of membership: ADD and REMOVE deltas on the same Amplitude cohort.
    let leavers = super::cohorts::ids(
        &app,
        &format!("SELECT user_id::int8 AS id FROM cdp.cohort_sync_members WHERE cohort_id = {} AND target = 'amplitude' ORDER BY user_id LIMIT 4", cohort.id),
    )
    .await;
    let joiners = super::cohorts::ids(&app, "SELECT u.user_id::int8 AS id FROM public.users u JOIN cdp.identities i ON i.user_id = u.user_id AND i.amplitude_id <> '' WHERE u.total_listings_count < 2 ORDER BY u.user_id LIMIT 3").await;
    let list = |v: &[i64]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    fixtures::exec(&app, &format!("UPDATE public.users SET total_listings_count = 0 WHERE user_id IN ({})", list(&leavers))).await;
    fixtures::exec(&app, &format!("UPDATE public.users SET total_listings_count = 9 WHERE user_id IN ({})", list(&joiners))).await;
    fixtures::exec(&app, &format!("UPDATE cdp.cohorts SET next_refresh_at = now() WHERE id = {}", cohort.id)).await;
    run_schedule(&app).await;
    wait_refreshed(&app, &writer, cohort.id, Some(&first_refresh)).await;
    for _ in 0..400 {
        if fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.integration_sync_runs WHERE resource_id = '{}' AND status = 'succeeded'", cohort.id))
            .await
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests = fakes.api.requests();
    assert_eq!(requests.len(), 3, "one ADD and one REMOVE: {requests:?}");
    let mut seen = HashMap::new();
    for r in &requests[1..] {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/3/cohorts/membership"));
        assert_eq!(r.header("authorization"), Some(basic(AMPLITUDE_KEY, AMPLITUDE_SECRET).as_str()));
        let body = r.json();
        assert_eq!(body["cohort_id"], json!("amp-cohort-1"));
        let membership = &body["memberships"][0];
        assert_eq!(membership["id_type"], json!("BY_NAME"), "BY_NAME is the user_id for the User count group");
        seen.insert(membership["operation"].as_str().unwrap().to_string(), string_ids(&membership["ids"]));
    }
    assert_eq!(seen.get("ADD").map(|v| set(v)), Some(set(&joiners)));
    assert_eq!(seen.get("REMOVE").map(|v| set(v)), Some(set(&leavers)));
}

#[tokio::test]
async fn unconfigured_or_unreachable_amplitude_is_refused_plainly() {
    let fakes = amplitude_fakes().await;
    let app = seeded_app(50, &amplitude_env(&fakes, false)).await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let cohort = create(&app, &writer, "c", pb::CohortKind::Static, listers()).await.unwrap();
    let err = sync(&app, &writer, cohort.id, pb::SyncTarget::Amplitude).await.expect_err("uploads need an app id and an owner");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "INTEGRATION_NOT_CONFIGURED"));
    assert!(err.message().contains("CDP_AMPLITUDE_APP_ID"), "{}", err.message());

    let bare = seeded_app(20, &[]).await;
    let (_, token) = fixtures::user_with_role(&bare, "data_engineer").await;
    let err = client(&bare).list_amplitude_cohorts(authed(pb::ListAmplitudeCohortsRequest::default(), &token)).await.expect_err("not configured");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "INTEGRATION_NOT_CONFIGURED"));
    let err = client(&bare)
        .import_amplitude_cohort(authed(pb::ImportAmplitudeCohortRequest { amplitude_cohort_id: "abc".into(), name: String::new() }, &token))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&err), "INTEGRATION_NOT_CONFIGURED");

    // Configured but not answering: UNAVAILABLE, INTEGRATION_UNREACHABLE.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = seeded_app(20, &[("CDP_AMPLITUDE_API_KEY", "k".into()), ("CDP_AMPLITUDE_SECRET_KEY", "s".into()), ("CDP_AMPLITUDE_REST_URL", url)]).await;
    let (_, token) = fixtures::user_with_role(&down, "data_engineer").await;
    let err = client(&down).list_amplitude_cohorts(authed(pb::ListAmplitudeCohortsRequest::default(), &token)).await.expect_err("unreachable");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::Unavailable, "INTEGRATION_UNREACHABLE"));
}

/// A CSV as the download serves it.
fn csv(rows: &[(Option<String>, Option<String>)]) -> String {
    let mut out = String::from("\"amplitude_id\",\"user_id\"\n");
    for (amplitude_id, user_id) in rows {
        out.push_str(&format!("\"{}\",\"{}\"\n", amplitude_id.clone().unwrap_or_default(), user_id.clone().unwrap_or_default()));
    }
    out
}

#[derive(diesel::QueryableByName)]
struct Identity {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    amplitude_id: String,
}

#[tokio::test]
async fn amplitude_import_requests_polls_downloads_and_maps_ids_to_users() {
    let fakes = amplitude_fakes().await;
    let app = seeded_app(600, &amplitude_env(&fakes, false)).await;
    let (_, engineer) = fixtures::user_with_role(&app, "data_engineer").await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let identities: Vec<Identity> = {
        use diesel_async::RunQueryDsl;
        let mut conn = app.db.conn().await;
        diesel::sql_query("SELECT user_id::int8 AS user_id, amplitude_id FROM cdp.identities WHERE amplitude_id <> '' ORDER BY user_id LIMIT 30")
            .load(&mut conn)
            .await
            .unwrap()
    };
    // 10 by user_id, 10 by Amplitude id only, one twice (both ways), 5 that match nobody.
    let mut rows: Vec<(Option<String>, Option<String>)> = Vec::new();
    for i in &identities[..10] {
        rows.push((Some(format!("amp-unknown-{}", i.user_id)), Some(i.user_id.to_string())));
    }
    for i in &identities[10..20] {
        rows.push((Some(i.amplitude_id.clone()), None));
    }
    rows.push((Some(identities[10].amplitude_id.clone()), Some(identities[10].user_id.to_string())));
    let no_user = fixtures::count(&app, "SELECT max(user_id)::int8 + 1000 AS n FROM public.users").await;
    for n in 0..5 {
        rows.push((Some(format!("nobody-{n}")), Some((no_user + n).to_string())));
    }
    let expected: Vec<i64> = identities[..20].iter().map(|i| i.user_id).collect();
    {
        let mut data = fakes.data.lock().unwrap();
        data.cohorts = vec![
            json!({
                "id": "ampC42", "name": "Power sellers (Amplitude)", "description": "From Amplitude", "size": rows.len(), "appId": AMPLITUDE_APP,
                "archived": false, "published": true, "owners": ["analyst@marketplace.test"], "lastMod": 1_760_000_000, "createdAt": 1_750_000_000,
                "lastComputed": 1_764_000_000_000i64, "type": "redshift",
            }),
            json!({ "id": "old1", "name": "Archived one", "size": 3, "archived": true }),
        ];
        data.files.insert("ampC42".into(), csv(&rows));
    }

    let listed = client(&app).list_amplitude_cohorts(authed(pb::ListAmplitudeCohortsRequest { search: "power".into() }, &engineer)).await.unwrap().into_inner();
    assert_eq!(listed.cohorts.iter().map(|c| (c.id.as_str(), c.size, c.imported_cohort_id)).collect::<Vec<_>>(), vec![("ampC42", rows.len() as i64, None)]);
    assert_eq!(listed.cohorts[0].last_computed_at.as_ref().map(|t| t.seconds), Some(1_764_000_000));
    assert_eq!(listed.remaining_download_quota, Some(500), "listing costs no download");

    let imported = client(&app)
        .import_amplitude_cohort(authed(pb::ImportAmplitudeCohortRequest { amplitude_cohort_id: "ampC42".into(), name: String::new() }, &engineer))
        .await
        .expect("a data engineer imports")
        .into_inner();
    let cohort = imported.cohort.unwrap();
    assert_eq!((imported.matched_users, imported.unmatched_ids), (20, 5));
    assert_eq!((cohort.name.as_str(), cohort.kind, cohort.size), ("Power sellers (Amplitude)", pb::CohortKind::Static as i32, 20));
    let info = cohort.amplitude_import.clone().expect("import details");
    assert_eq!((info.amplitude_cohort_id.as_str(), info.downloaded_ids, info.matched_users, info.unmatched_ids), ("ampC42", rows.len() as i64, 20, 5));
    assert!(cohort.definition.is_none());
    assert_eq!(members(&app, cohort.id).await, expected);

    // Request, poll until ready, then the file through the pre-signed URL without credentials.
    let paths: Vec<(String, u16)> = fakes.api.requests().iter().map(|r| (r.path.clone(), r.status)).collect();
    let status_polls = paths.iter().filter(|(p, _)| p.starts_with("/api/5/cohorts/request-status/")).count();
    assert_eq!(paths.iter().filter(|(p, s)| p == "/api/5/cohorts/request/ampC42" && *s == 202).count(), 1);
    assert_eq!(status_polls, 3, "two answers in progress, then completed");
    assert!(paths.iter().any(|(p, s)| p.ends_with("/file") && *s == 302));
    let downloads = fakes.storage.requests();
    assert_eq!(downloads.len(), 1);
    assert!(downloads[0].header("authorization").is_none(), "no Amplitude credentials sent to the storage host");
    assert!(fakes.api.requests().iter().all(|r| r.header("authorization") == Some(basic(AMPLITUDE_KEY, AMPLITUDE_SECRET).as_str())));

    let listed = client(&app).list_amplitude_cohorts(authed(pb::ListAmplitudeCohortsRequest::default(), &engineer)).await.unwrap().into_inner();
    assert_eq!(listed.cohorts.len(), 1, "archived cohorts are not offered");
    assert_eq!((listed.cohorts[0].imported_cohort_id, listed.remaining_download_quota), (Some(cohort.id), Some(499)));
    assert!(listed.cohorts[0].last_imported_at.is_some() && listed.quota_resets_at.is_some());
    let err = client(&app).refresh_cohort(authed(pb::RefreshCohortRequest { id: cohort.id }, &writer)).await.expect_err("imports are not refreshed");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "COHORT_IMPORTED"));

    // A definition on the imported Amplitude cohort.
    let _worker = cohort_worker(&app);
    let on_amplitude = create(
        &app,
        &writer,
        "amplitude power sellers",
        pb::CohortKind::Dynamic,
        group(Combinator::And, vec![cond("amplitude_cohort", Op::InAmplitudeCohort, Some(Kind::AmplitudeCohortId("ampC42".into())))]),
    )
    .await
    .unwrap();
    let dependant = wait_refreshed(&app, &writer, on_amplitude.id, None).await;
    assert_eq!(members(&app, on_amplitude.id).await, expected);

    // Importing again replaces the membership of the same cohort: 3 leave, 2 join.
    let mut next_rows: Vec<(Option<String>, Option<String>)> = rows[3..].to_vec();
    for i in &identities[20..22] {
        next_rows.push((None, Some(i.user_id.to_string())));
    }
    fakes.data.lock().unwrap().files.insert("ampC42".into(), csv(&next_rows));
    let again = client(&app)
        .import_amplitude_cohort(authed(
            pb::ImportAmplitudeCohortRequest { amplitude_cohort_id: "ampC42".into(), name: "ignored on a re-import".into() },
            &engineer,
        ))
        .await
        .unwrap()
        .into_inner();
    let again_cohort = again.cohort.unwrap();
    assert_eq!((again_cohort.id, again_cohort.name.as_str(), again.matched_users), (cohort.id, "Power sellers (Amplitude)", 19));
    let mut expected_next: Vec<i64> = identities[3..22].iter().map(|i| i.user_id).collect();
    expected_next.sort_unstable();
    assert_eq!(members(&app, cohort.id).await, expected_next);
    let joined =
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.cohort_membership_changes WHERE cohort_id = {} AND change = 'joined'", cohort.id)).await;
    let left =
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.cohort_membership_changes WHERE cohort_id = {} AND change = 'left'", cohort.id)).await;
    assert_eq!((joined, left), (22, 3));
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.cohorts WHERE source = 'amplitude_import'").await, 1);
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.amplitude_cohort_downloads WHERE status = 'completed'").await, 2);
    assert_eq!(
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'cohort.import' AND resource_id = '{}'", cohort.id)).await,
        2
    );

    // The cohort defined on the import follows it, and keeps it from being deleted.
    wait_refreshed(&app, &writer, on_amplitude.id, Some(&dependant)).await;
    assert_eq!(members(&app, on_amplitude.id).await, expected_next);
    let err =
        client(&app).delete_cohort(authed(pb::DeleteCohortRequest { id: cohort.id, confirm_audience_change: false }, &writer)).await.expect_err("referenced");
    assert_eq!((reason(&err).as_str(), super::cohorts::metadata(&err, "cohort_ids")), ("COHORT_REFERENCED", on_amplitude.id.to_string()));
}

#[tokio::test]
async fn amplitude_download_quotas_and_the_size_cap_are_respected() {
    let fakes = amplitude_fakes().await;
    let app = seeded_app(50, &amplitude_env(&fakes, false)).await;
    let (_, engineer) = fixtures::user_with_role(&app, "data_engineer").await;
    {
        let mut data = fakes.data.lock().unwrap();
        data.cohorts = vec![json!({ "id": "small", "name": "Small", "size": 1 }), json!({ "id": "huge", "name": "Huge", "size": 2_000_001 })];
        data.files.insert("small".into(), csv(&[(Some("a".into()), Some("1".into()))]));
        data.files.insert("huge".into(), csv(&[]));
    }
    let import = |id: &str| pb::ImportAmplitudeCohortRequest { amplitude_cohort_id: id.into(), name: String::new() };
    let download_requests = || fakes.api.requests().iter().filter(|r| r.path.starts_with("/api/5/")).count();

    let err = client(&app).import_amplitude_cohort(authed(import("huge"), &engineer)).await.expect_err("over the size cap");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "AMPLITUDE_COHORT_TOO_LARGE"));
    let err = client(&app).import_amplitude_cohort(authed(import("../../etc"), &engineer)).await.expect_err("not an id");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = client(&app).import_amplitude_cohort(authed(import("missing"), &engineer)).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);

    // 60 downloads in the last 10 minutes: the per-window limit.
    fixtures::exec(&app, "INSERT INTO cdp.amplitude_cohort_downloads (amplitude_cohort_id, status, requested_at) SELECT 'other', 'completed', now() - interval '5 minutes' FROM generate_series(1, 60)").await;
    let err = client(&app).import_amplitude_cohort(authed(import("small"), &engineer)).await.expect_err("60 per 10 minutes");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::ResourceExhausted, "AMPLITUDE_QUOTA_EXHAUSTED"));
    assert!(err.message().contains("10 minutes"), "{}", err.message());

    // 500 this month: the monthly budget.
    // (The monthly budget is checked first, so where in the month these fall does not matter.)
    let month_start = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 second'";
    fixtures::exec(&app, &format!("INSERT INTO cdp.amplitude_cohort_downloads (amplitude_cohort_id, status, requested_at) SELECT 'other', 'completed', {month_start} FROM generate_series(1, 440)")).await;
    let err = client(&app).import_amplitude_cohort(authed(import("small"), &engineer)).await.expect_err("500 a month");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::ResourceExhausted, "AMPLITUDE_QUOTA_EXHAUSTED"));
    assert!(err.message().contains("this month"), "{}", err.message());
    let listed = client(&app).list_amplitude_cohorts(authed(pb::ListAmplitudeCohortsRequest::default(), &engineer)).await.unwrap().into_inner();
    assert_eq!(listed.remaining_download_quota, Some(0));
    assert_eq!(download_requests(), 0, "no refused import reached Amplitude's download endpoints");
}

// ---- Braze profile enrichment -----------------------------------------------------------

async fn enrich(app: &TestApp, job_id: i64) {
    let job = JobContext { id: job_id, kind: "braze.enrich_profiles".into(), payload: json!({}), attempt: 1, max_attempts: 3 };
    EnrichProfiles { db: app.app.db.clone(), config: app.app.config.clone(), http: app.app.http.clone() }.run(&job).await.expect("enrichment runs");
}

#[derive(diesel::QueryableByName, Debug)]
struct Profile {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    user_type: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    wallet: Option<f64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    favorite_vertical: Option<String>,
}

async fn profiles(app: &TestApp, filter: &str) -> HashMap<i64, Profile> {
    use diesel_async::RunQueryDsl;
    let mut conn = app.db.conn().await;
    let rows: Vec<Profile> = diesel::sql_query(format!(
        "SELECT u.user_id::int8 AS user_id, u.user_type, u.current_credits_in_wallet AS wallet, u.favorite_vertical FROM public.users u \
         JOIN cdp.identities i ON i.user_id = u.user_id AND i.braze_id <> '' WHERE {filter}"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|p| (p.user_id, p)).collect()
}

/// The attribute objects Braze accepted from request `from` on, by user.
fn pushed(fake: &Fake, from: usize) -> HashMap<i64, Value> {
    let mut out = HashMap::new();
    for r in fake.requests().iter().skip(from).filter(|r| r.status < 300) {
        for object in r.json()["attributes"].as_array().cloned().unwrap_or_default() {
            let user: i64 = object["external_id"].as_str().unwrap().parse().unwrap();
            assert!(out.insert(user, object).is_none(), "user {user} pushed twice in one run");
        }
    }
    out
}

#[tokio::test]
async fn braze_profile_enrichment_pushes_only_profiles_that_changed() {
    let fake = Fake::start(braze(|_, _| None)).await;
    let app = seeded_app(700, &[("CDP_BRAZE_REST_URL", fake.url.clone()), ("CDP_BRAZE_API_KEY", BRAZE_KEY.into())]).await;
    enrich(&app, 1_000_001).await;
    assert_braze_requests_follow_the_contract(&fake);
    let expected = profiles(&app, "true").await;
    let first = pushed(&fake, 0);
    assert_eq!(set(&first.keys().copied().collect::<Vec<_>>()), set(&expected.keys().copied().collect::<Vec<_>>()), "every user known to Braze, once");
    for (user, object) in &first {
        let p = &expected[user];
        assert_eq!(object["cdp_user_type"], json!(p.user_type), "user {user}");
        assert_eq!(object["cdp_favorite_vertical"], json!(p.favorite_vertical));
        assert_eq!(object["cdp_current_credits_in_wallet"].as_f64(), p.wallet);
        assert!(object["cdp_lifecycle_stage"].is_string() && object.get("cdp_cltv").is_some(), "{object}");
    }
    let runs = fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.integration_sync_runs WHERE operation = 'profile_enrichment' AND status = 'succeeded' AND (counts->>'sent')::int = {}", expected.len())).await;
    assert_eq!(runs, 1);

    // Nothing changed: nothing is sent.
    let after_first = fake.requests().len();
    enrich(&app, 1_000_002).await;
    assert_eq!(fake.requests().len(), after_first, "unchanged profiles are not pushed again");

    // Three profiles known to Braze change (and one that Braze does not know).
    let changed: Vec<i64> = expected.keys().copied().collect::<BTreeSet<_>>().into_iter().take(3).collect();
    let list = changed.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    fixtures::exec(&app, &format!("UPDATE public.users SET current_credits_in_wallet = current_credits_in_wallet + 123.5 WHERE user_id IN ({list})")).await;
    fixtures::exec(&app, "UPDATE public.users SET current_credits_in_wallet = 7 WHERE user_id = (SELECT u.user_id FROM public.users u LEFT JOIN cdp.identities i ON i.user_id = u.user_id WHERE coalesce(i.braze_id, '') = '' LIMIT 1)").await;
    enrich(&app, 1_000_003).await;
    let third = pushed(&fake, after_first);
    assert_eq!(set(&third.keys().copied().collect::<Vec<_>>()), set(&changed));
    let now = profiles(&app, &format!("u.user_id IN ({list})")).await;
    for user in &changed {
        assert_eq!(third[user]["cdp_current_credits_in_wallet"].as_f64(), now[user].wallet);
    }
    assert_eq!(
        fixtures::count(&app, "SELECT count(*) AS n FROM cdp.integration_sync_runs WHERE operation = 'profile_enrichment' AND status = 'succeeded'").await,
        3,
        "each run has its history"
    );
}
