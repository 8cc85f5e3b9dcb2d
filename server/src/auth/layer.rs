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
    /// Recently verified service credentials (see [`CredentialCache`]); `None`: always ask
    /// the database.
    credentials: Option<Arc<CredentialCache>>,
}

impl Authenticator {
    pub fn new(db: Db, verifier: TokenVerifier) -> Self {
        Authenticator { db, verifier, credentials: None }
    }

    /// Caches verified service credentials, so that machine clients calling at high rate (the
    /// redemption API) are not one database read each. Invalidation goes through Redis Pub/Sub
    /// on `<prefix>:auth:credentials`.
    pub fn with_credential_cache(mut self, redis_url: &str, key_prefix: &str, redis: redis::aio::ConnectionManager) -> Self {
        self.credentials = redis::Client::open(redis_url).ok().map(|client| CredentialCache::start(client, redis, format!("{key_prefix}:auth:credentials")));
        self
    }

    /// Decides whether a request may proceed, and with which context.
    pub async fn authorize(&self, path: &str, headers: &http::HeaderMap, remote: Option<std::net::SocketAddr>) -> Result<RequestContext, Status> {
        let mut ctx = RequestContext { principal: None, request_id: request_id(headers), client_address: client_address(headers, remote) };
        let Some((service, method)) = parse_cdp_path(path) else {
            return Ok(ctx);
        };
        let access = access_for(service, method).ok_or_else(|| Status::unimplemented(format!("cdp.v1.{service}/{method} is not an RPC of this server")))?;
        if access == Access::Public {
            return Ok(ctx);
        }
        let bearer =
            bearer_token(headers).ok_or_else(|| with_reason(Code::Unauthenticated, "TOKEN_MISSING", "sign in first: the request carries no bearer token"))?;
        let principal = self.principal(bearer).await?;
        if let Access::Permission(permission) = access
            && !principal.has(permission)
        {
            return Err(permission_denied(permission));
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
        let row: Option<(String, String, String)> =
            u::table.filter(u::id.eq(user_id)).select((u::email, u::role, u::status)).first(&mut conn).await.optional().map_err(crate::error::internal)?;
        let Some((email, role, status)) = row else {
            return Err(with_reason(Code::Unauthenticated, "USER_UNKNOWN", "this account is not a CDP platform user"));
        };
        if status != "active" {
            return Err(with_reason(Code::Unauthenticated, "USER_DISABLED", "this account is disabled; ask an administrator"));
        }
        let role = Role::parse(&role).ok_or_else(|| crate::error::internal(format!("unknown role {role:?} in the database")))?;
        let permissions: Vec<String> =
            rp::table.filter(rp::role.eq(role.as_str())).select(rp::permission).load(&mut conn).await.map_err(crate::error::internal)?;
        Ok(Principal { actor: Actor::PlatformUser { id: user_id, email, role }, permissions: permissions.into_iter().collect(), claims })
    }

    /// Checks a service credential's secret (current, or previous during a rotation overlap).
    async fn service_principal(&self, key_prefix: &str, secret: &str) -> Result<Principal, Status> {
        use schema::service_credentials as c;
        let refused = || with_reason(Code::Unauthenticated, "CREDENTIAL_INVALID", "the service credential is unknown, revoked or rotated out");
        let presented = secrets::hash(secret);
        if let Some(cache) = &self.credentials
            && let Some((principal, record_use)) = cache.get(key_prefix, &presented)
        {
            if record_use {
                self.record_use(principal.id());
            }
            return Ok(principal);
        }
        // Only what was read after the last invalidation may be cached.
        let generation = self.credentials.as_ref().map(|cache| cache.generation());
        let mut conn = self.db.conn().await?;
        type Row =
            (uuid::Uuid, String, Vec<String>, String, Vec<u8>, Option<Vec<u8>>, Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>);
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
        let now = chrono::Utc::now();
        let matches_current = secrets::hashes_equal(&presented, &current);
        let matches_previous = previous.as_deref().is_some_and(|p| secrets::hashes_equal(&presented, p)) && previous_expires.is_some_and(|at| at > now);
        if status != "active" || !(matches_current || matches_previous) {
            return Err(refused());
        }
        // Record use at minute granularity: one write per credential per minute, not per call.
        if last_used.is_none_or(|at| now - at > chrono::Duration::seconds(60)) {
            diesel::update(c::table.filter(c::id.eq(id))).set(c::last_used_at.eq(now)).execute(&mut conn).await.map_err(crate::error::internal)?;
        }
        let claims = serde_json::json!({ "sub": id, "role": "cdp_service", "cdp_credential": id });
        let principal = Principal { actor: Actor::ServiceCredential { id, name }, permissions: scopes.into_iter().collect::<BTreeSet<_>>(), claims };
        if let (Some(cache), Some(generation)) = (&self.credentials, generation) {
            // A previous secret is good only until its overlap ends.
            let good_until = if matches_current { None } else { previous_expires };
            cache.insert(key_prefix, presented, principal.clone(), good_until, generation);
        }
        Ok(principal)
    }

    /// Records a cached credential's use (at minute granularity, off the request path).
    fn record_use(&self, id: uuid::Uuid) {
        use schema::service_credentials as c;
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Ok(mut conn) = db.conn().await {
                let _ = diesel::update(c::table.filter(c::id.eq(id))).set(c::last_used_at.eq(chrono::Utc::now())).execute(&mut conn).await;
            }
        });
    }

    /// Called once a request that may rotate or revoke a credential has been answered (and
    /// before the answer leaves): empties this server's cache, then tells the others.
    fn credentials_changed(&self) {
        if let Some(cache) = &self.credentials {
            cache.clear();
            let cache = cache.clone();
            tokio::spawn(async move { cache.announce().await });
        }
    }
}

/// Service credentials verified in the last [`CREDENTIAL_CACHE_TTL`], by key prefix and hash
/// of the presented secret. Correctness rests on invalidation: a rotation or revocation made
/// through this server empties the cache before its answer leaves (the RPC passes through this
/// layer), and is announced on a Redis channel that every server listens to; while a server is
/// not listening, it caches nothing. The TTL bounds anything else (a change made in SQL).
struct CredentialCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, Vec<u8>), CachedCredential>>,
    /// Bumped by every invalidation; an entry read before one is not cached.
    generation: std::sync::atomic::AtomicU64,
    listening: std::sync::atomic::AtomicBool,
    channel: String,
    redis: redis::aio::ConnectionManager,
}

struct CachedCredential {
    principal: Principal,
    expires: std::time::Instant,
    last_recorded: std::time::Instant,
}

const CREDENTIAL_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
const CREDENTIAL_USE_GRANULARITY: std::time::Duration = std::time::Duration::from_secs(60);

impl CredentialCache {
    fn start(client: redis::Client, redis: redis::aio::ConnectionManager, channel: String) -> Arc<CredentialCache> {
        let cache = Arc::new(CredentialCache { entries: Default::default(), generation: Default::default(), listening: Default::default(), channel, redis });
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            use futures::StreamExt;
            loop {
                let Some(cache) = weak.upgrade() else { return };
                if let Ok(mut pubsub) = client.get_async_pubsub().await
                    && pubsub.subscribe(&cache.channel).await.is_ok()
                {
                    cache.clear(); // whatever was announced while not listening
                    cache.listening.store(true, std::sync::atomic::Ordering::SeqCst);
                    drop(cache);
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        match weak.upgrade() {
                            Some(cache) => cache.clear(),
                            None => return,
                        }
                    }
                }
                let Some(cache) = weak.upgrade() else { return };
                cache.listening.store(false, std::sync::atomic::Ordering::SeqCst);
                cache.clear();
                drop(cache);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        cache
    }

    fn generation(&self) -> u64 {
        std::sync::atomic::AtomicU64::load(&self.generation, std::sync::atomic::Ordering::SeqCst)
    }

    /// The cached principal, and whether its use should be recorded now.
    fn get(&self, key_prefix: &str, presented: &[u8]) -> Option<(Principal, bool)> {
        if !std::sync::atomic::AtomicBool::load(&self.listening, std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let entry = entries.get_mut(&(key_prefix.to_string(), presented.to_vec())).filter(|e| e.expires > now)?;
        let record = now.duration_since(entry.last_recorded) > CREDENTIAL_USE_GRANULARITY;
        if record {
            entry.last_recorded = now;
        }
        Some((entry.principal.clone(), record))
    }

    fn insert(&self, key_prefix: &str, presented: Vec<u8>, principal: Principal, good_until: Option<chrono::DateTime<chrono::Utc>>, generation: u64) {
        if !std::sync::atomic::AtomicBool::load(&self.listening, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let now = std::time::Instant::now();
        let mut expires = now + CREDENTIAL_CACHE_TTL;
        if let Some(until) = good_until {
            let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
            expires = expires.min(now + left);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return; // invalidated while this one was being read
        }
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert((key_prefix.to_string(), presented), CachedCredential { principal, expires, last_recorded: now });
    }

    fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.clear();
    }

    async fn announce(&self) {
        let mut redis = self.redis.clone();
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH").arg(&self.channel).arg("changed").query_async(&mut redis).await;
        if let Err(err) = published {
            // Other servers keep their entries for at most the TTL.
            tracing::warn!(error = %err, "could not announce a credential change to other servers");
        }
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
            let remote = request.extensions().get::<tonic::transport::server::TcpConnectInfo>().and_then(|info| info.remote_addr());
            // Rotating or revoking a credential empties the credential cache before it is answered.
            let changes_credentials = matches!(
                request.uri().path(),
                "/cdp.v1.ServiceCredentialService/RotateServiceCredential" | "/cdp.v1.ServiceCredentialService/RevokeServiceCredential"
            );
            match authenticator.authorize(request.uri().path(), request.headers(), remote).await {
                Ok(ctx) => {
                    tracing::Span::current().record("request_id", ctx.request_id.as_str());
                    request.extensions_mut().insert(ctx);
                    let response = inner.call(request).await;
                    if changes_credentials {
                        authenticator.credentials_changed();
                    }
                    response
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}
