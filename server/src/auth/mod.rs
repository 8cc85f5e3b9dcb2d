//! Identity and access (DESIGN §4): sign-in through the local provider or Supabase Auth,
//! verified tokens on every RPC, the RPC → permission table, and service credentials.

pub mod layer;
pub mod local;
pub mod password;
pub mod principal;
pub mod provider;
pub mod rules;
pub mod secrets;
pub mod service;
pub mod supabase;
pub mod tokens;

use tonic::{Code, Status};

/// Everything that can go wrong while signing in or managing identities.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this account is disabled; ask an administrator")]
    Disabled,
    #[error("this account is not a CDP platform user")]
    NotAPlatformUser,
    #[error("the session has expired or was signed out; sign in again")]
    SessionInvalid,
    #[error("this link is invalid, used or expired; ask for a new one")]
    LinkInvalid,
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("a platform user with this email already exists")]
    AlreadyExists,
    #[error("no platform user with this id")]
    NotFound,
    #[error("too many attempts; wait a few minutes and try again")]
    RateLimited,
    #[error("the identity provider is unavailable: {0}")]
    ProviderUnavailable(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for AuthError {
    fn from(err: diesel::result::Error) -> Self {
        AuthError::Db(err.into())
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        use crate::error::{internal, invalid_field, with_reason};
        let message = err.to_string();
        match err {
            AuthError::InvalidCredentials => with_reason(Code::Unauthenticated, "INVALID_CREDENTIALS", message),
            AuthError::Disabled => with_reason(Code::Unauthenticated, "USER_DISABLED", message),
            AuthError::NotAPlatformUser => with_reason(Code::PermissionDenied, "USER_UNKNOWN", message),
            AuthError::SessionInvalid => with_reason(Code::Unauthenticated, "SESSION_INVALID", message),
            AuthError::LinkInvalid => with_reason(Code::FailedPrecondition, "LINK_INVALID", message),
            AuthError::InvalidField { field, reason } => invalid_field(field, reason),
            AuthError::AlreadyExists => with_reason(Code::AlreadyExists, "ALREADY_EXISTS", message),
            AuthError::NotFound => with_reason(Code::NotFound, "NOT_FOUND", message),
            AuthError::RateLimited => with_reason(Code::ResourceExhausted, "RATE_LIMITED", message),
            AuthError::ProviderUnavailable(why) => {
                tracing::error!(error = %why, "identity provider unavailable");
                with_reason(Code::Unavailable, "PROVIDER_UNAVAILABLE", "the identity provider is unavailable; retry shortly")
            }
            AuthError::Db(err) => err.into(),
            AuthError::Internal(why) => internal(why),
        }
    }
}

/// A signed-in session as handed to the client.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub user_id: uuid::Uuid,
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}
