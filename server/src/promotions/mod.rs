//! Promotions (PromotionService, DESIGN §6): campaigns over a cohort with a benefit, codes,
//! limits, a validity window and a TTL; their lifecycle (draft → scheduled/active ⇄ paused →
//! expired, archived), statistics and estimates. Activation hands over to the worker through
//! jobs (`crate::activation`); redemption is `crate::redemption`.

pub mod estimate;
pub mod lifecycle;
pub mod model;
pub mod schema;
pub mod service;
pub mod spec;
pub mod stats;
pub mod store;

use model::{Audience, Status};
use tonic::{Code, Status as GrpcStatus};

/// Everything PromotionService can refuse.
#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("no cohort with id {0}")]
    CohortNotFound(i64),
    #[error("the code {0} is used by another promotion that is not archived")]
    CodeTaken(String),
    /// FAILED_PRECONDITION with its machine-readable reason (PROMOTION_NOT_EDITABLE,
    /// INVALID_STATUS, WINDOW_ENDED).
    #[error("{1}")]
    Precondition(&'static str, String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for PromotionError {
    fn from(err: diesel::result::Error) -> Self {
        PromotionError::Db(err.into())
    }
}

impl PromotionError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PromotionError::InvalidField { field: field.into(), reason: reason.into() }
    }
}

impl From<PromotionError> for GrpcStatus {
    fn from(err: PromotionError) -> Self {
        use crate::error::{invalid_field, with_reason};
        let message = err.to_string();
        match err {
            PromotionError::InvalidField { field, reason } => invalid_field(&field, reason),
            PromotionError::NotFound(_) => with_reason(Code::NotFound, "NOT_FOUND", message),
            PromotionError::CohortNotFound(_) => with_reason(Code::NotFound, "COHORT_NOT_FOUND", message),
            PromotionError::CodeTaken(_) => with_reason(Code::AlreadyExists, "CODE_TAKEN", message),
            PromotionError::Precondition(reason, _) => with_reason(Code::FailedPrecondition, reason, message),
            PromotionError::Db(err) => err.into(),
        }
    }
}

/// A promotion that uses a cohort (for the cohorts' usage listing and edit guard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromotionRef {
    pub id: i64,
    pub name: String,
    pub status: Status,
    pub audience: Audience,
    /// A change of the cohort changes this promotion's audience: it is live and running, or
    /// scheduled (its audience is frozen when it starts). Cohort edits and deletion then need
    /// `confirm_audience_change`.
    pub guarded: bool,
}

/// The promotions that use `cohort_id`, except archived ones, newest first; `guarded` marks
/// the live and scheduled ones whose audience a change of the cohort would change. For
/// CohortService (GetCohortUsage, and the guard of UpdateCohort and DeleteCohort); runs on
/// the caller's connection, so RLS applies as usual.
pub async fn usage_of_cohort(conn: &mut diesel_async::AsyncPgConnection, cohort_id: i64) -> diesel::QueryResult<Vec<PromotionRef>> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use schema::promotions as p;
    let rows: Vec<(i64, String, String, String)> = p::table
        .filter(p::cohort_id.eq(cohort_id))
        .filter(p::status.ne(Status::Archived.as_str()))
        .select((p::id, p::name, p::status, p::audience))
        .order(p::id.desc())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, status, audience)| {
            let status = Status::parse(&status).unwrap_or(Status::Draft);
            let audience = Audience::parse(&audience).unwrap_or(Audience::Frozen);
            let guarded = status == Status::Scheduled || (audience == Audience::Live && matches!(status, Status::Active | Status::Paused));
            PromotionRef { id, name, status, audience, guarded }
        })
        .collect())
}
