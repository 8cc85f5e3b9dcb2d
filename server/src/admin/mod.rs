//! Administration: platform users (PlatformUserService), roles (RoleService) and service
//! credentials for internal services (ServiceCredentialService).

pub mod credentials;
pub mod platform_users;
pub mod roles;

use tonic::{Code, Status};

/// Everything an administration RPC can refuse.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Forbidden(String),
    /// FAILED_PRECONDITION with its machine-readable reason (docs/api-spec.md lists them).
    #[error("{1}")]
    Precondition(&'static str, String),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for AdminError {
    fn from(err: diesel::result::Error) -> Self {
        AdminError::Db(err.into())
    }
}

impl From<AdminError> for Status {
    fn from(err: AdminError) -> Self {
        use crate::error::{invalid_field, with_reason};
        let message = err.to_string();
        match err {
            AdminError::InvalidField { field, reason } => invalid_field(field, reason),
            AdminError::NotFound(_) => with_reason(Code::NotFound, "NOT_FOUND", message),
            AdminError::AlreadyExists(_) => with_reason(Code::AlreadyExists, "ALREADY_EXISTS", message),
            AdminError::Forbidden(_) => with_reason(Code::PermissionDenied, "PERMISSION_DENIED", message),
            AdminError::Precondition(reason, _) => with_reason(Code::FailedPrecondition, reason, message),
            AdminError::Auth(err) => err.into(),
            AdminError::Db(err) => err.into(),
        }
    }
}
