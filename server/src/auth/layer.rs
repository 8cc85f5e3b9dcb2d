//! The tower layer in front of every RPC: it turns the bearer token (a platform user's JWT or
//! a service credential) into a typed `Principal`, reading the caller's current role, status
//! and permissions from the database, and enforces the rule of `rules::access_for`.
//! Requests that are not `cdp.v1` RPCs (health, reflection, the web client) pass through.

use super::{
    principal::{Actor, Principal, RequestContext, Role, permission_denied},
    rules::{Access, access_for, parse_cdp_path},
    secrets,
    tokens::{TokenError, TokenVerifier},
};
use crate::{db::Db, error::with_reason, schema};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::{
    collections::BTreeSet,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tonic::{Code, Status};

pub struct Authenticator {
    db: Db,
    verifier: TokenVerifier,
}

impl Authenticator {
    pub fn new(db: Db, verifier: TokenVerifier) -> Self {
        Authenticator { db, verifier }
    }

    /// Decides whether a request may proceed, and with which context.
    pub async fn authorize(&self, path: &str, headers: &http::HeaderMap, remote: Option<std::net::SocketAddr>) -> Result<RequestContext, Status> {
        let mut ctx = RequestContext { principal: None, request_id: request_id(headers), client_address: client_address(headers, remote) };
        let Some((service, method)) = parse_cdp_path(path) else {
            return Ok(ctx);
        };
        let access = access_for(service, method)
            .ok_or_else(|| Status::unimplemented(format!("cdp.v1.{service}/{method} is not an RPC of this server")))?;
        if access == Access::Public {
            return Ok(ctx);
        }
        let bearer = bearer_token(headers).ok_or_else(|| {
            with_reason(Code::Unauthenticated, "TOKEN_MISSING", "sign in first: the request carries no bearer token")
        })?;
        let principal = self.principal(bearer).await?;
        if let Access::Permission(permission) = access {
            if !principal.has(permission) {
                return Err(permission_denied(permission));
            }
        }
        ctx.principal = Some(principal);
        Ok(ctx)
    }

    async fn principal(&self, bearer: &str) -> Result<Principal, Status> {
        if let Some((key_prefix, secret)) = secrets::parse_service_bearer(bearer) {
            return self.service_principal(key_prefix, secret).await;
        }
        let token = self.verifier.verify(bearer).await.map_err(|err| match err {
            TokenError::Expired => with_reason(Code::Unauthenticated, "TOKEN_EXPIRED", "the access token has expired; refresh the session"),
            TokenError::Invalid(why) => with_reason(Code::Unauthenticated, "TOKEN_INVALID", format!("the access token is not valid: {why}")),
            TokenError::KeysUnavailable(why) => {
                tracing::error!(error = %why, "signing keys unavailable");
                Status::unavailable("the token signing keys cannot be fetched right now; retry shortly")
            }
        })?;
        self.platform_principal(token.subject, token.claims).await
    }

    /// Loads a platform user's current role, status and permissions (one query).
    async fn platform_principal(&self, user_id: uuid::Uuid, claims: serde_json::Value) -> Result<Principal, Status> {
        use schema::{platform_users as u, role_permissions as rp};
        let mut conn = self.db.conn().await?;
        let row: Option<(String, String, String)> = u::table
            .filter(u::id.eq(user_id))
            .select((u::email, u::role, u::status))
            .first(&mut conn)
            .await
            .optional()
            .map_err(crate::error::internal)?;
        let Some((email, role, status)) = row else {
            return Err(with_reason(Code::Unauthenticated, "USER_UNKNOWN", "this account is not a CDP platform user"));
        };
        if status != "active" {
            return Err(with_reason(Code::Unauthenticated, "USER_DISABLED", "this account is disabled; ask an administrator"));
        }
        let role = Role::parse(&role).ok_or_else(|| crate::error::internal(format!("unknown role {role:?} in the database")))?;
        let permissions: Vec<String> = rp::table
            .filter(rp::role.eq(role.as_str()))
            .select(rp::permission)
            .load(&mut conn)
            .await
            .map_err(crate::error::internal)?;
        Ok(Principal { actor: Actor::PlatformUser { id: user_id, email, role }, permissions: permissions.into_iter().collect(), claims })
    }

    /// Checks a service credential's secret (current, or previous during a rotation overlap).
    async fn service_principal(&self, key_prefix: &str, secret: &str) -> Result<Principal, Status> {
        use schema::service_credentials as c;
        let refused = || with_reason(Code::Unauthenticated, "CREDENTIAL_INVALID", "the service credential is unknown, revoked or rotated out");
        let mut conn = self.db.conn().await?;
        type Row = (uuid::Uuid, String, Vec<String>, String, Vec<u8>, Option<Vec<u8>>, Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>);
        let row: Option<Row> = c::table
            .filter(c::key_prefix.eq(key_prefix))
            .select((c::id, c::name, c::scopes, c::status, c::secret_hash, c::previous_secret_hash, c::previous_secret_expires_at, c::last_used_at))
            .first(&mut conn)
            .await
            .optional()
            .map_err(crate::error::internal)?;
        let Some((id, name, scopes, status, current, previous, previous_expires, last_used)) = row else {
            return Err(refused());
        };
        let presented = secrets::hash(secret);
        let now = chrono::Utc::now();
        let matches_current = secrets::hashes_equal(&presented, &current);
        let matches_previous = previous.as_deref().is_some_and(|p| secrets::hashes_equal(&presented, p))
            && previous_expires.is_some_and(|at| at > now);
        if status != "active" || !(matches_current || matches_previous) {
            return Err(refused());
        }
        // Record use at minute granularity: one write per credential per minute, not per call.
        if last_used.is_none_or(|at| now - at > chrono::Duration::seconds(60)) {
            diesel::update(c::table.filter(c::id.eq(id)))
                .set(c::last_used_at.eq(now))
                .execute(&mut conn)
                .await
                .map_err(crate::error::internal)?;
        }
        let claims = serde_json::json!({ "sub": id, "role": "cdp_service", "cdp_credential": id });
        Ok(Principal { actor: Actor::ServiceCredential { id, name }, permissions: scopes.into_iter().collect::<BTreeSet<_>>(), claims })
    }
}

fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// The caller's request id (if sane) or a new one, so logs and audit rows can be joined.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn client_address(headers: &http::HeaderMap, remote: Option<std::net::SocketAddr>) -> Option<String> {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 64);
    forwarded.or_else(|| remote.map(|addr| addr.ip().to_string()))
}

/// Tower layer wrapping the gRPC routes with [`Authenticator`].
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthLayer {
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        AuthLayer { authenticator }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Authenticate { inner, authenticator: self.authenticator.clone() }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S, B> tower::Service<http::Request<B>> for Authenticate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this call (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let remote = request
                .extensions()
                .get::<tonic::transport::server::TcpConnectInfo>()
                .and_then(|info| info.remote_addr());
            match authenticator.authorize(request.uri().path(), request.headers(), remote).await {
                Ok(ctx) => {
                    tracing::Span::current().record("request_id", ctx.request_id.as_str());
                    request.extensions_mut().insert(ctx);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}
