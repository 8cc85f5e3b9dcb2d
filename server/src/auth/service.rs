//! AuthService: sign-in, session refresh, sign-out and password reset. The refresh token is
//! also set as an HttpOnly cookie so the web client can survive a reload without any script
//! ever reading it; API clients use the token in the response body instead.

use super::{
    AuthError, IssuedSession,
    principal::{Actor, RequestContext, context},
    provider::IdentityProvider,
};
use crate::{
    admin::{
        platform_users::{PlatformUserRow, find},
        roles::permissions_of,
    },
    config::Config,
    db::Db,
    error::invalid_field,
};
use cdp_proto::cdp::v1::{self as pb, auth_service_server::AuthService};
use redis::AsyncCommands;
use std::sync::Arc;
use tonic::{Request, Response, Status, metadata::MetadataValue};

pub const REFRESH_COOKIE: &str = "cdp_refresh";
/// Failed sign-ins allowed per email within the window before RESOURCE_EXHAUSTED.
const MAX_FAILED_SIGN_INS: u64 = 10;
const FAILED_SIGN_IN_WINDOW_SECS: i64 = 900;

pub struct AuthApi {
    pub db: Db,
    pub provider: Arc<IdentityProvider>,
    pub redis: redis::aio::ConnectionManager,
    pub config: Arc<Config>,
}

impl AuthApi {
    /// Loads what the client shows after sign-in: the user and their permissions.
    async fn user_view(&self, session: &IssuedSession) -> Result<(PlatformUserRow, Vec<String>), Status> {
        let mut tx = self.db.begin_system().await?;
        let row = find(&mut tx, session.user_id).await?;
        let permissions = permissions_of(&mut tx, &row.role).await.map_err(crate::error::internal)?;
        tx.commit().await?;
        Ok((row, permissions))
    }

    fn session_proto(session: &IssuedSession) -> pb::Session {
        pb::Session {
            access_token: session.access_token.clone(),
            refresh_token: session.refresh_token.clone(),
            expires_at: Some(prost_types::Timestamp { seconds: session.expires_at, nanos: 0 }),
            token_type: "bearer".into(),
        }
    }

    fn cookie(&self, value: &str, max_age: i64) -> MetadataValue<tonic::metadata::Ascii> {
        let secure = if self.config.public_url.starts_with("https://") { "; Secure" } else { "" };
        format!("{REFRESH_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}").parse().expect("cookie values are URL-safe base64")
    }

    fn with_session_cookie<T>(&self, body: T, session: &IssuedSession) -> Response<T> {
        let mut response = Response::new(body);
        let max_age = self.config.refresh_token_ttl.as_secs() as i64;
        response.metadata_mut().insert("set-cookie", self.cookie(&session.refresh_token, max_age));
        response
    }

    /// Counts failed sign-ins per email in Redis. If Redis is down, sign-in still works
    /// (availability first) and the outage is logged.
    async fn too_many_failures(&self, email: &str) -> bool {
        let key = self.failure_key(email);
        let mut redis = self.redis.clone();
        match redis.get::<_, Option<u64>>(&key).await {
            Ok(count) => count.unwrap_or(0) >= MAX_FAILED_SIGN_INS,
            Err(err) => {
                tracing::warn!(error = %err, "sign-in rate limit unavailable (Redis)");
                false
            }
        }
    }

    async fn count_failure(&self, email: &str) {
        let key = self.failure_key(email);
        let mut redis = self.redis.clone();
        let result: redis::RedisResult<()> = redis::pipe().incr(&key, 1).expire(&key, FAILED_SIGN_IN_WINDOW_SECS).query_async(&mut redis).await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not count a failed sign-in (Redis)");
        }
    }

    fn failure_key(&self, email: &str) -> String {
        format!("{}:auth:failed_sign_ins:{}", self.config.redis_key_prefix, email.trim().to_lowercase())
    }
}

/// The refresh token of a request: the body's, else the HttpOnly cookie's.
fn refresh_token_of<T>(request: &Request<T>, body_token: &str) -> Option<String> {
    if !body_token.is_empty() {
        return Some(body_token.to_string());
    }
    let cookies = request.metadata().get_all("cookie");
    cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == REFRESH_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

fn bearer_of<T>(request: &Request<T>) -> Option<String> {
    let value = request.metadata().get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::to_string)
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn get_auth_config(&self, _request: Request<pb::GetAuthConfigRequest>) -> Result<Response<pb::GetAuthConfigResponse>, Status> {
        Ok(Response::new(pb::GetAuthConfigResponse {
            provider: if self.provider.is_local() { pb::AuthProvider::Local } else { pb::AuthProvider::Supabase } as i32,
            self_service_password_reset: !self.provider.is_local(),
            min_password_length: self.provider.min_password_length() as i32,
        }))
    }

    async fn sign_in(&self, request: Request<pb::SignInRequest>) -> Result<Response<pb::SignInResponse>, Status> {
        let ctx = context(&request)?;
        let pb::SignInRequest { email, password } = request.into_inner();
        if email.trim().is_empty() {
            return Err(invalid_field("email", "is required"));
        }
        if password.is_empty() {
            return Err(invalid_field("password", "is required"));
        }
        if self.too_many_failures(&email).await {
            return Err(AuthError::RateLimited.into());
        }
        let session = match self.provider.sign_in(&self.db, &ctx, email.trim(), &password).await {
            Ok(session) => session,
            Err(err) => {
                if matches!(err, AuthError::InvalidCredentials) {
                    self.count_failure(&email).await;
                }
                return Err(err.into());
            }
        };
        let (user, permissions) = self.user_view(&session).await?;
        Ok(self.with_session_cookie(pb::SignInResponse { session: Some(Self::session_proto(&session)), user: Some(user.to_proto()), permissions }, &session))
    }

    async fn refresh_session(&self, request: Request<pb::RefreshSessionRequest>) -> Result<Response<pb::RefreshSessionResponse>, Status> {
        let token = refresh_token_of(&request, &request.get_ref().refresh_token).ok_or_else(|| Status::from(AuthError::SessionInvalid))?;
        let session = self.provider.refresh(&self.db, &token).await?;
        Ok(self.with_session_cookie(pb::RefreshSessionResponse { session: Some(Self::session_proto(&session)) }, &session))
    }

    async fn sign_out(&self, request: Request<pb::SignOutRequest>) -> Result<Response<pb::SignOutResponse>, Status> {
        if let Some(token) = refresh_token_of(&request, &request.get_ref().refresh_token) {
            self.provider.sign_out(&self.db, &token, bearer_of(&request).as_deref()).await?;
        }
        let mut response = Response::new(pb::SignOutResponse {});
        response.metadata_mut().insert("set-cookie", self.cookie("", 0));
        Ok(response)
    }

    async fn request_password_reset(&self, request: Request<pb::RequestPasswordResetRequest>) -> Result<Response<pb::RequestPasswordResetResponse>, Status> {
        let email = request.into_inner().email;
        if !email.contains('@') {
            return Err(invalid_field("email", "must be an email address"));
        }
        self.provider.request_password_reset(email.trim()).await?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn complete_password_reset(&self, request: Request<pb::CompletePasswordResetRequest>) -> Result<Response<pb::CompletePasswordResetResponse>, Status> {
        let ctx = context(&request)?;
        let pb::CompletePasswordResetRequest { token, new_password } = request.into_inner();
        if token.is_empty() {
            return Err(invalid_field("token", "is required"));
        }
        let session = self.provider.complete_password_reset(&self.db, &ctx, &token, &new_password).await?;
        let (user, permissions) = self.user_view(&session).await?;
        Ok(self.with_session_cookie(
            pb::CompletePasswordResetResponse { session: Some(Self::session_proto(&session)), user: Some(user.to_proto()), permissions },
            &session,
        ))
    }

    async fn get_current_user(&self, request: Request<pb::GetCurrentUserRequest>) -> Result<Response<pb::GetCurrentUserResponse>, Status> {
        let ctx: RequestContext = context(&request)?;
        let principal = ctx.principal()?;
        let Actor::PlatformUser { id, .. } = &principal.actor else {
            return Err(Status::failed_precondition("a service credential is not a platform user"));
        };
        let mut tx = self.db.begin_as(&principal.claims).await?;
        let row = find(&mut tx, *id).await?;
        tx.commit().await?;
        Ok(Response::new(pb::GetCurrentUserResponse { user: Some(row.to_proto()), permissions: principal.permissions.iter().cloned().collect() }))
    }
}
