//! `cdp serve`: one port for gRPC (HTTP/2), grpc-web (HTTP/1.1 via tonic-web, with CORS) and
//! the built web client. Layers, outermost first: tracing, CORS (preflights never reach auth),
//! the web client's files, grpc-web translation, authentication. Health and reflection are public.

use crate::{
    admin::{credentials::ServiceCredentialApi, platform_users::PlatformUserApi, roles::RoleApi},
    app::App,
    audit::service::AuditLogApi,
    auth::{
        layer::{AuthLayer, Authenticator},
        service::AuthApi,
    },
    dashboard::DashboardApi,
    integrations::service::IntegrationApi,
    users::service::UserApi,
    web::WebAppLayer,
};
use cdp_proto::cdp::v1 as pb;
use http::{HeaderName, Method};
use std::{sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::Server};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub async fn serve(app: App, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cdp_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cdp_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let db = app.db.clone();
    let mut routes = Routes::builder();
    routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(pb::auth_service_server::AuthServiceServer::new(AuthApi {
            db: db.clone(),
            provider: app.provider.clone(),
            redis: app.redis.clone(),
            config: app.config.clone(),
        }))
        .add_service(pb::platform_user_service_server::PlatformUserServiceServer::new(PlatformUserApi { db: db.clone(), provider: app.provider.clone() }))
        .add_service(pb::role_service_server::RoleServiceServer::new(RoleApi { db: db.clone() }))
        .add_service(pb::audit_log_service_server::AuditLogServiceServer::new(AuditLogApi { db: db.clone() }))
        .add_service(pb::service_credential_service_server::ServiceCredentialServiceServer::new(ServiceCredentialApi { db: db.clone() }))
        .add_service(pb::user_service_server::UserServiceServer::new(UserApi { db: db.clone(), config: app.config.clone() }))
        .add_service(pb::integration_service_server::IntegrationServiceServer::new(IntegrationApi::new(&app)));
    routes.add_service(pb::dashboard_service_server::DashboardServiceServer::new(DashboardApi {
        db: db.clone(),
        tz: app.config.reporting_tz,
        settings: Default::default(),
    }));
    routes
        .add_service(pb::promotion_service_server::PromotionServiceServer::new(crate::promotions::service::PromotionApi {
            db: db.clone(),
            reporting_tz: app.config.reporting_tz,
        }))
        .add_service(pb::redemption_service_server::RedemptionServiceServer::new(crate::redemption::service::RedemptionApi::new(&app)));
    routes.add_service(pb::cohort_service_server::CohortServiceServer::new(crate::cohorts::service::CohortApi {
        db: db.clone(),
        config: app.config.clone(),
        http: app.http.clone(),
        preview_cache: app.preview_cache.clone(),
    }));
    if let Some(every) = app.config.preview_keep_current_every {
        tokio::spawn(crate::cohorts::keep_current::run(app.db.clone(), app.preview_cache.clone(), every, shutdown.clone()));
    }
    for name in service_names() {
        health_reporter.set_service_status(name, tonic_health::ServingStatus::Serving).await;
    }

    let routes = routes.routes();

    let authenticator = Arc::new(Authenticator::new(app.db.clone(), app.verifier.clone()).with_credential_cache(
        &app.config.redis_url,
        &app.config.redis_key_prefix,
        app.redis.clone(),
    ));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, web = ?app.config.web_dist_dir, "serving gRPC, grpc-web and the web client");
    Server::builder()
        .accept_http1(true)
        .timeout(Duration::from_secs(120))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = tracing::field::Empty)
        }))
        .layer(cors(&app.config.cors_allowed_origins))
        .layer(WebAppLayer::new(app.config.web_dist_dir.clone()))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(crate::metrics::MetricsLayer)
        .layer(AuthLayer::new(authenticator))
        .add_routes(routes)
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown.cancelled_owned())
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Every gRPC service this server answers, as health and reflection name them.
pub fn service_names() -> Vec<&'static str> {
    vec![
        "",
        "cdp.v1.AuthService",
        "cdp.v1.PlatformUserService",
        "cdp.v1.RoleService",
        "cdp.v1.AuditLogService",
        "cdp.v1.ServiceCredentialService",
        "cdp.v1.DashboardService",
        "cdp.v1.UserService",
        "cdp.v1.CohortService",
        "cdp.v1.PromotionService",
        "cdp.v1.RedemptionService",
        "cdp.v1.IntegrationService",
    ]
}

/// CORS for browsers on other origins (CDP_CORS_ALLOWED_ORIGINS). grpc-web needs its request
/// headers allowed and the grpc-* response headers exposed; credentials allow the refresh
/// cookie. With no origins configured only same-origin pages can call the API.
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<http::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    let header = |name: &'static str| HeaderName::from_static(name);
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_credentials(true)
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers([
            header("content-type"),
            header("authorization"),
            header("x-grpc-web"),
            header("x-user-agent"),
            header("grpc-timeout"),
            header("x-request-id"),
            header("connect-protocol-version"),
        ])
        .expose_headers([header("grpc-status"), header("grpc-message"), header("grpc-status-details-bin"), header("x-request-id")])
        .max_age(Duration::from_secs(86400))
}
