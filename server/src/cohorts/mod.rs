//! Cohorts (CohortService, DESIGN §5): saved condition trees with their membership over time,
//! previews on the whole user base, the refresh engine run by the worker, syncs to Amplitude
//! and Braze (only the difference since the last successful sync), and Amplitude imports.
//!
//! - `service`: the thin tonic layer; `store`: queries; `definition`: the stored JSON form;
//! - `refresh`: the worker jobs `cohorts.schedule` and `cohorts.refresh`;
//! - `preview`: PreviewCohort, over the sets of users kept by `preview_cache`; `guard`: what a
//!   change of a cohort would affect;
//! - `sync`: SyncCohort and the job `cohorts.sync`; `import`: ImportAmplitudeCohort.

pub mod definition;
pub mod guard;
pub mod import;
pub mod keep_current;
pub mod members;
pub mod preview;
pub mod preview_cache;
pub mod refresh;
pub mod service;
pub mod store;
pub mod sync;

use crate::{app::App, jobs::Registry};
use std::{collections::HashMap, time::Duration};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Every way a cohort RPC can refuse (docs/api-spec.md lists the reasons).
#[derive(Debug, thiserror::Error)]
pub enum CohortError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// FAILED_PRECONDITION with its reason and ErrorInfo metadata (e.g. `promotion_ids`).
    #[error("{message}")]
    Precondition { reason: &'static str, message: String, metadata: Vec<(&'static str, String)> },
    /// RESOURCE_EXHAUSTED, e.g. AMPLITUDE_QUOTA_EXHAUSTED.
    #[error("{message}")]
    Exhausted { reason: &'static str, message: String },
    /// UNAVAILABLE: an integration did not answer (INTEGRATION_UNREACHABLE).
    #[error("{message}")]
    Unavailable { reason: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// Unexpected: logged, answered opaquely.
    #[error("{0}")]
    Internal(String),
}

impl CohortError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CohortError::InvalidField { field: field.into(), reason: reason.into() }
    }

    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        CohortError::Precondition { reason, message: message.into(), metadata: Vec::new() }
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        CohortError::precondition("INTEGRATION_NOT_CONFIGURED", message)
    }
}

impl From<diesel::result::Error> for CohortError {
    fn from(err: diesel::result::Error) -> Self {
        CohortError::Db(err.into())
    }
}

impl From<crate::conditions::ConditionError> for CohortError {
    fn from(err: crate::conditions::ConditionError) -> Self {
        CohortError::InvalidField { field: err.path, reason: err.reason }
    }
}

impl From<crate::conditions::ReferenceError> for CohortError {
    fn from(err: crate::conditions::ReferenceError) -> Self {
        match err {
            crate::conditions::ReferenceError::Invalid(err) => err.into(),
            crate::conditions::ReferenceError::Db(err) => err.into(),
        }
    }
}

fn status_with(code: Code, reason: &str, message: String, metadata: Vec<(&'static str, String)>) -> Status {
    let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, crate::error::ERROR_DOMAIN, metadata))
}

impl From<CohortError> for Status {
    fn from(err: CohortError) -> Self {
        let message = err.to_string();
        match err {
            CohortError::InvalidField { field, reason } => crate::error::invalid_field(&field, reason),
            CohortError::NotFound(_) => status_with(Code::NotFound, "NOT_FOUND", message, Vec::new()),
            CohortError::AlreadyExists(_) => status_with(Code::AlreadyExists, "ALREADY_EXISTS", message, Vec::new()),
            CohortError::Precondition { reason, metadata, .. } => status_with(Code::FailedPrecondition, reason, message, metadata),
            CohortError::Exhausted { reason, .. } => status_with(Code::ResourceExhausted, reason, message, Vec::new()),
            CohortError::Unavailable { reason, .. } => status_with(Code::Unavailable, reason, message, Vec::new()),
            CohortError::Db(err) => err.into(),
            CohortError::Internal(err) => crate::error::internal(err),
        }
    }
}

/// How often the worker looks for cohorts due for a refresh.
pub const SCHEDULE_EVERY: Duration = Duration::from_secs(60);

/// Registers the cohort jobs: the schedule (recurring), refreshes and syncs.
pub fn register_jobs(registry: Registry, app: &App) -> Registry {
    registry
        .recurring(refresh::ScheduleRefreshes { db: app.db.clone(), config: app.config.clone() }, SCHEDULE_EVERY)
        .register(refresh::RefreshCohortJob { db: app.db.clone(), config: app.config.clone() })
        .register(sync::SyncCohortJob { db: app.db.clone(), config: app.config.clone(), http: app.http.clone() })
}
