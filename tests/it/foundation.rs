//! The foundation: the schema as the brief defines it, health, reflection, grpc-web with CORS,
//! configuration errors, and UNIMPLEMENTED for RPCs whose capability has not landed.

use cdp_proto::cdp::v1 as pb;
use cdp_tests::{TestApp, TestDb, fixtures};
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::RunQueryDsl;
use prost::Message;

#[derive(QueryableByName, Debug, PartialEq)]
struct Column {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

/// The brief's DDL (tests/fixtures/brief_users_ddl.sql, copied verbatim from SEED.md) parsed
/// into (name, type, nullable) in declaration order.
fn brief_columns() -> Vec<(String, String, bool)> {
    let ddl = include_str!("../fixtures/brief_users_ddl.sql");
    ddl.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("create table") && !line.starts_with("constraint") && !line.starts_with(')'))
        .map(|line| {
            let line = line.trim_end_matches(',');
            let (name, rest) = line.split_once(' ').expect("column line");
            let nullable = rest.ends_with(" null") && !rest.ends_with("not null");
            let ty = rest.trim_end_matches(" not null").trim_end_matches(" null").to_string();
            (name.to_string(), ty, nullable)
        })
        .collect()
}

#[tokio::test]
async fn users_table_has_exactly_the_briefs_columns_and_types() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = 'users' ORDER BY ordinal_position",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let expected = brief_columns();
    assert_eq!(expected.len(), 81, "the brief defines 81 columns");
    let actual: Vec<(String, String, bool)> = columns.into_iter().map(|c| (c.column_name, c.data_type, c.is_nullable == "YES")).collect();
    assert_eq!(actual, expected);
    #[derive(QueryableByName)]
    struct Pk {
        #[diesel(sql_type = Text)]
        def: String,
    }
    let pk: Pk =
        diesel::sql_query("SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'users_pkey'").get_result(&mut conn).await.unwrap();
    assert_eq!(pk.def, "PRIMARY KEY (user_id)");
}

#[tokio::test]
async fn migrations_create_the_application_roles_and_row_level_security() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let roles: Vec<Name> =
        diesel::sql_query("SELECT rolname::text AS name FROM pg_roles WHERE rolname IN ('cdp_app', 'cdp_etl') ORDER BY 1").load(&mut conn).await.unwrap();
    assert_eq!(roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["cdp_app", "cdp_etl"]);
    // Every table of ours has RLS enabled.
    let without_rls: Vec<Name> = diesel::sql_query(
        "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND (n.nspname = 'cdp' OR (n.nspname = 'public' AND c.relname = 'users')) \
         AND NOT c.relrowsecurity ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(without_rls.is_empty(), "tables without RLS: {:?}", without_rls.iter().map(|r| &r.name).collect::<Vec<_>>());
}

#[tokio::test]
async fn health_reports_serving() {
    let app = TestApp::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    for service in ["", "cdp.v1.AuthService", "cdp.v1.PlatformUserService"] {
        let response = health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(response.status(), tonic_health::pb::health_check_response::ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_lists_every_service_of_the_contract() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient, server_reflection_request::MessageRequest,
        server_reflection_response::MessageResponse,
    };
    let app = TestApp::start().await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut stream = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let response = stream.message().await.unwrap().expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else { panic!("unexpected reflection response") };
    let listed: std::collections::BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    let descriptor = prost_types::FileDescriptorSet::decode(cdp_proto::FILE_DESCRIPTOR_SET).unwrap();
    let contract: Vec<String> = descriptor.file.iter().flat_map(|f| f.service.iter().map(move |s| format!("{}.{}", f.package(), s.name()))).collect();
    assert!(contract.len() >= 6, "the contract has its services");
    for service in contract {
        assert!(listed.contains(&service), "{service} is not listed by reflection: {listed:?}");
    }
    assert!(listed.contains("grpc.health.v1.Health"));
}

/// A grpc-web call as a browser on another origin makes it: a CORS preflight, then a
/// `application/grpc-web+proto` POST over HTTP/1.1.
#[tokio::test]
async fn grpc_web_over_http1_with_cors_preflight_from_another_origin() {
    let app = TestApp::start().await;
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let url = format!("{}/cdp.v1.AuthService/GetAuthConfig", app.base_url());
    let origin = "http://ui.example.test";

    let preflight = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-grpc-web,authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "preflight answered {}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin);
    let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("x-grpc-web") && allowed.contains("authorization"), "{allowed}");

    // A preflight from an origin that is not configured gets no CORS grant.
    let foreign = http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none());

    let frame = |payload: &[u8]| {
        let mut out = vec![0u8];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    };
    let response = http
        .post(&url)
        .header("origin", origin)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(frame(&pb::GetAuthConfigRequest {}.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
    let expose = response.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(expose.contains("grpc-status") && expose.contains("grpc-message"), "{expose}");
    let body = response.bytes().await.unwrap();
    // First frame: the message; then a trailer frame (flag 0x80) with grpc-status.
    assert_eq!(body[0], 0);
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let config = pb::GetAuthConfigResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(config.provider(), pb::AuthProvider::Local);
    assert_eq!(body[5 + len], 0x80);
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

/// An RPC the server does not implement answers UNIMPLEMENTED (never a made-up result), for a
/// signed-in caller as for anyone: a method unknown to a known service, and an unknown service.
#[tokio::test]
async fn an_rpc_the_server_does_not_implement_answers_unimplemented() {
    let app = TestApp::start().await;
    let token = fixtures::admin_token(&app).await;
    for path in ["/cdp.v1.DashboardService/GetFutureMetric", "/cdp.v1.NoSuchService/Anything", "/other.v1.Service/Call"] {
        let mut grpc = tonic::client::Grpc::new(app.channel.clone());
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let status = grpc.unary(cdp_tests::authed((), &token), path.parse().unwrap(), codec).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{path}: {status:?}");
    }
}

#[test]
fn configuration_errors_name_the_variable() {
    use cdp_server::config::Config;
    let env = |pairs: &[(&str, &str)]| {
        let map: std::collections::HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    };
    let err = env(&[]).unwrap_err().to_string();
    assert!(err.contains("CDP_JWT_SECRET"), "{err}");
    let err = env(&[("CDP_JWT_SECRET", &"x".repeat(40)), ("CDP_LISTEN_ADDR", "nonsense")]).unwrap_err().to_string();
    assert!(err.contains("CDP_LISTEN_ADDR"), "{err}");
    let err = env(&[("CDP_JWT_SECRET", &"x".repeat(40)), ("SUPABASE_URL", "https://x.supabase.co")]).unwrap_err().to_string();
    assert!(err.contains("SUPABASE_URL, SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY"), "{err}");
    let err = env(&[("CDP_JWT_SECRET", &"x".repeat(40)), ("CDP_REPORTING_TZ", "Mars/Olympus")]).unwrap_err().to_string();
    assert!(err.contains("CDP_REPORTING_TZ"), "{err}");
    let ok = env(&[("CDP_JWT_SECRET", &"x".repeat(40)), ("CDP_REPORTING_TZ", "Africa/Cairo")]).unwrap();
    assert_eq!(ok.reporting_tz, chrono_tz::Africa::Cairo);
}

#[tokio::test]
async fn the_metrics_endpoint_counts_the_requests_a_test_sends() {
    let app = TestApp::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(cdp_server::metrics::serve(app.app.db.clone(), listener, shutdown.clone()));
    let mut auth = pb::auth_service_client::AuthServiceClient::new(app.channel.clone());
    for _ in 0..3 {
        auth.get_auth_config(pb::GetAuthConfigRequest {}).await.unwrap();
    }
    let mut roles = pb::role_service_client::RoleServiceClient::new(app.channel.clone());
    assert_eq!(roles.list_roles(pb::ListRolesRequest {}).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let mut conn = app.db.conn().await;
    cdp_server::jobs::enqueue(&mut conn, cdp_server::jobs::NewJob::new("test.metrics", serde_json::json!({}))).await.unwrap();

    let body = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    shutdown.cancel();
    let line = |needle: &str| body.lines().find(|l| l.starts_with(needle)).unwrap_or_else(|| panic!("no {needle} in\n{body}")).to_string();
    assert!(line(r#"cdp_rpc_requests_total{code="Ok",method="GetAuthConfig",service="cdp.v1.AuthService"}"#).ends_with(" 3"));
    assert!(line(r#"cdp_rpc_requests_total{code="Unauthenticated",method="ListRoles",service="cdp.v1.RoleService"}"#).ends_with(" 1"));
    assert!(line(r#"cdp_rpc_duration_seconds_count{method="GetAuthConfig",service="cdp.v1.AuthService"}"#).ends_with(" 3"));
    assert!(line(r#"cdp_jobs{kind="test.metrics",status="queued"}"#).ends_with(" 1"));
}
