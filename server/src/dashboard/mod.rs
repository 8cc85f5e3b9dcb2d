//! The Dashboard page (DashboardService): activity, lifecycle, engagement and value metrics,
//! segment glimpses and data health, each with the previous equal period. Requests read only
//! the rollups that the worker rebuilds when the ETL lands a batch (`rollup`, `watcher`);
//! definitions live in `definitions` and docs/metrics.md.

pub mod definitions;
pub mod distribution;
pub mod health;
pub mod metrics;
pub mod range;
pub mod rollup;
pub mod segments;
pub mod service;
pub mod store;
pub mod watcher;

pub use service::DashboardApi;

use tonic::Status;

/// Everything a dashboard RPC or job can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    /// A malformed filter, already mapped by the condition engine (names the bad node).
    #[error("{0}")]
    Filter(Status),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl DashboardError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DashboardError::InvalidField { field: field.into(), reason: reason.into() }
    }
}

impl From<diesel::result::Error> for DashboardError {
    fn from(err: diesel::result::Error) -> Self {
        DashboardError::Db(err.into())
    }
}

impl From<DashboardError> for Status {
    fn from(err: DashboardError) -> Self {
        match err {
            DashboardError::InvalidField { field, reason } => crate::error::invalid_field(&field, reason),
            DashboardError::Filter(status) => status,
            DashboardError::Db(err) => err.into(),
        }
    }
}
