//! Users (UserService): the User Explorer (`ListUsers`: search, condition filter, sort, keyset
//! pages with a total), the 360° profile (`GetUser`), the CDP-owned attributes
//! (`UpdateUser`), the field catalogue (`ListUserFields`), and the worker job
//! `users.refresh_stats` that keeps the per-user activity rollup and lifecycle stage current.

pub mod explorer;
pub mod profile;
pub mod service;
pub mod stats;
pub mod store;

use crate::conditions::{ConditionError, ReferenceError};
use cdp_proto::cdp::v1 as pb;
use tonic::{Code, Status};

/// Everything a UserService RPC can refuse.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error(transparent)]
    Condition(#[from] ConditionError),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl UserError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        UserError::InvalidField { field: field.into(), reason: reason.into() }
    }
}

impl From<diesel::result::Error> for UserError {
    fn from(err: diesel::result::Error) -> Self {
        UserError::Db(err.into())
    }
}

impl From<ReferenceError> for UserError {
    fn from(err: ReferenceError) -> Self {
        match err {
            ReferenceError::Invalid(err) => UserError::Condition(err),
            ReferenceError::Db(err) => err.into(),
        }
    }
}

impl From<UserError> for Status {
    fn from(err: UserError) -> Self {
        use crate::error::{invalid_field, with_reason};
        let message = err.to_string();
        match err {
            UserError::InvalidField { field, reason } => invalid_field(&field, reason),
            UserError::Condition(err) => err.into(),
            UserError::NotFound(_) => with_reason(Code::NotFound, "NOT_FOUND", message),
            UserError::Db(err) => err.into(),
        }
    }
}

/// `lifecycle_stage` text (as stored and as conditions write it) → enum.
pub fn lifecycle_to_proto(stage: Option<&str>) -> pb::LifecycleStage {
    use pb::LifecycleStage as L;
    match stage {
        Some("new") => L::New,
        Some("activated") => L::Activated,
        Some("active") => L::Active,
        Some("about_to_churn") => L::AboutToChurn,
        Some("churned") => L::Churned,
        Some("reactivated") => L::Reactivated,
        Some("dormant") => L::Dormant,
        _ => L::Unspecified,
    }
}

/// Enum → stored text; `None` for UNSPECIFIED (no override).
pub fn lifecycle_from_proto(stage: pb::LifecycleStage) -> Option<&'static str> {
    use pb::LifecycleStage as L;
    match stage {
        L::Unspecified => None,
        L::New => Some("new"),
        L::Activated => Some("activated"),
        L::Active => Some("active"),
        L::AboutToChurn => Some("about_to_churn"),
        L::Churned => Some("churned"),
        L::Reactivated => Some("reactivated"),
        L::Dormant => Some("dormant"),
    }
}

pub fn account_status_to_proto(status: &str) -> pb::AccountStatus {
    match status {
        "under_review" => pb::AccountStatus::UnderReview,
        "suspended" => pb::AccountStatus::Suspended,
        _ => pb::AccountStatus::Active,
    }
}

/// Enum → stored text; UNSPECIFIED reads as ACTIVE (users.proto).
pub fn account_status_from_proto(status: pb::AccountStatus) -> &'static str {
    match status {
        pb::AccountStatus::UnderReview => "under_review",
        pb::AccountStatus::Suspended => "suspended",
        pb::AccountStatus::Active | pb::AccountStatus::Unspecified => "active",
    }
}
