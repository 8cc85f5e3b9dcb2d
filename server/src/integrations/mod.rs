//! The integrations monitor (IntegrationService): the Airflow DAGs that feed the CDP as cards
//! (status, last sync, next run, what each feeds, since when its data is stale), manual runs
//! ("refresh now", audited), and the health of Airflow, Amplitude, Braze, PostgreSQL, Redis
//! and Supabase Auth.

pub mod airflow;
pub mod amplitude;
pub mod braze;
pub mod dags;
pub mod health;
pub mod schedule;
pub mod service;
mod store;

use airflow::AirflowError;
use tonic::{Code, Status};

/// Everything an IntegrationService RPC can refuse.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("{0}")]
    NotConfigured(String),
    #[error("Airflow has no DAG {0:?} (or the CDP's Airflow user cannot see it)")]
    DagNotFound(String),
    #[error(transparent)]
    Airflow(#[from] AirflowError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for IntegrationError {
    fn from(err: diesel::result::Error) -> Self {
        IntegrationError::Db(err.into())
    }
}

impl From<IntegrationError> for Status {
    fn from(err: IntegrationError) -> Self {
        use crate::error::{invalid_field, with_reason};
        let message = err.to_string();
        match err {
            IntegrationError::InvalidField { field, reason } => invalid_field(field, reason),
            IntegrationError::NotConfigured(_) => with_reason(Code::FailedPrecondition, "INTEGRATION_NOT_CONFIGURED", message),
            IntegrationError::DagNotFound(_) => with_reason(Code::NotFound, "DAG_NOT_FOUND", message),
            IntegrationError::Airflow(err) => match err {
                AirflowError::Unreachable { .. } | AirflowError::Unexpected(_) => with_reason(Code::Unavailable, "INTEGRATION_UNREACHABLE", message),
                AirflowError::CredentialsRejected { .. } => with_reason(Code::FailedPrecondition, "INTEGRATION_CREDENTIALS_REJECTED", message),
                AirflowError::NotFound(_) => with_reason(Code::NotFound, "NOT_FOUND", format!("Airflow: {message}")),
                AirflowError::Conflict(_) => with_reason(Code::AlreadyExists, "ALREADY_EXISTS", format!("Airflow refused a duplicate run: {message}")),
                AirflowError::Invalid { field, message } => invalid_field(field, format!("Airflow refused it: {message}")),
            },
            IntegrationError::Db(err) => err.into(),
        }
    }
}
