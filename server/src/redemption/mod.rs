//! RedemptionService (DESIGN §6), for internal marketplace services holding a service
//! credential scoped to `promotions.redeem`. A redemption is reserved atomically in Redis by
//! one Lua script (status, window, eligibility, per-user cap, total cap, budget, idempotency),
//! then committed to the PostgreSQL ledger by a group-commit writer before the caller hears of
//! it; a reservation that does not commit is released. Redis state is rebuilt from PostgreSQL
//! whenever it is missing or stale, and a generation fence keeps reservations taken on a
//! replaced state from ever committing.

pub mod codes;
pub mod ledger;
pub mod redeem;
pub mod revert;
pub mod service;
pub mod user_promotions;

use crate::activation::scripts::Refusal;
use cdp_proto::cdp::v1 as pb;
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Why a code cannot be redeemed (the contract's IneligibilityReason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ineligibility {
    NotFound,
    NotActive,
    NotStarted,
    Expired,
    NotEligible,
    AlreadyRedeemed,
    Exhausted,
    BudgetExhausted,
}

impl Ineligibility {
    /// The ErrorInfo reason: the enum value's name without its prefix.
    pub fn reason(self) -> &'static str {
        match self {
            Ineligibility::NotFound => "NOT_FOUND",
            Ineligibility::NotActive => "NOT_ACTIVE",
            Ineligibility::NotStarted => "NOT_STARTED",
            Ineligibility::Expired => "EXPIRED",
            Ineligibility::NotEligible => "NOT_ELIGIBLE",
            Ineligibility::AlreadyRedeemed => "ALREADY_REDEEMED",
            Ineligibility::Exhausted => "EXHAUSTED",
            Ineligibility::BudgetExhausted => "BUDGET_EXHAUSTED",
        }
    }

    /// For logs and support, not for end users.
    pub fn message(self) -> &'static str {
        match self {
            Ineligibility::NotFound => "no promotion has this code",
            Ineligibility::NotActive => "the promotion is not running (draft, paused or being activated)",
            Ineligibility::NotStarted => "the promotion has not started yet",
            Ineligibility::Expired => "the promotion's window has ended",
            Ineligibility::NotEligible => "the user is not in the promotion's audience, or the code is another user's",
            Ineligibility::AlreadyRedeemed => "the user has used up the per-user limit",
            Ineligibility::Exhausted => "the promotion's total redemption cap is reached",
            Ineligibility::BudgetExhausted => "the promotion's credit budget cannot cover this redemption",
        }
    }

    pub fn to_proto(self) -> pb::IneligibilityReason {
        use pb::IneligibilityReason as P;
        match self {
            Ineligibility::NotFound => P::NotFound,
            Ineligibility::NotActive => P::NotActive,
            Ineligibility::NotStarted => P::NotStarted,
            Ineligibility::Expired => P::Expired,
            Ineligibility::NotEligible => P::NotEligible,
            Ineligibility::AlreadyRedeemed => P::AlreadyRedeemed,
            Ineligibility::Exhausted => P::Exhausted,
            Ineligibility::BudgetExhausted => P::BudgetExhausted,
        }
    }
}

impl From<Refusal> for Ineligibility {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotActive => Ineligibility::NotActive,
            Refusal::NotStarted => Ineligibility::NotStarted,
            Refusal::Expired => Ineligibility::Expired,
            Refusal::NotEligible => Ineligibility::NotEligible,
            Refusal::AlreadyRedeemed => Ineligibility::AlreadyRedeemed,
            Refusal::Exhausted => Ineligibility::Exhausted,
            Refusal::BudgetExhausted => Ineligibility::BudgetExhausted,
        }
    }
}

/// Everything RedemptionService can answer besides a success.
#[derive(Debug, thiserror::Error)]
pub enum RedemptionError {
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("the idempotency key was already used with other inputs (code, user, order)")]
    KeyMismatch,
    /// The code cannot be redeemed; `promotion_id` is 0 when the code is unknown.
    #[error("{}", .reason.message())]
    Refused { reason: Ineligibility, promotion_id: i64 },
    #[error("no redemption with this id or idempotency key was made with your credential")]
    RedemptionNotFound,
    /// Retry with the same idempotency key.
    #[error("{0}; retry with the same idempotency key")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for RedemptionError {
    fn from(err: diesel::result::Error) -> Self {
        RedemptionError::Db(err.into())
    }
}

impl From<redis::RedisError> for RedemptionError {
    fn from(err: redis::RedisError) -> Self {
        tracing::error!(error = %err, "redis failed during a redemption");
        RedemptionError::Unavailable("promotion state is unavailable".into())
    }
}

impl From<crate::activation::ActivationError> for RedemptionError {
    fn from(err: crate::activation::ActivationError) -> Self {
        tracing::error!(error = %err, "rebuilding a promotion's state failed");
        RedemptionError::Unavailable("promotion state is being rebuilt".into())
    }
}

fn with_info(code: Code, reason: &str, message: String, metadata: HashMap<String, String>) -> Status {
    let details = ErrorDetails::with_error_info(reason, crate::error::ERROR_DOMAIN, metadata);
    Status::with_error_details(code, message, details)
}

impl From<RedemptionError> for Status {
    fn from(err: RedemptionError) -> Self {
        let message = err.to_string();
        match err {
            RedemptionError::InvalidField { field, reason } => crate::error::invalid_field(field, reason),
            RedemptionError::KeyMismatch => {
                let mut details = ErrorDetails::with_bad_request_violation("idempotency_key", message.clone());
                details.set_error_info("IDEMPOTENCY_KEY_MISMATCH", crate::error::ERROR_DOMAIN, HashMap::<String, String>::new());
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            RedemptionError::Refused { reason, promotion_id } => {
                let code = if reason == Ineligibility::NotFound { Code::NotFound } else { Code::FailedPrecondition };
                let metadata = if promotion_id > 0 { HashMap::from([("promotion_id".to_string(), promotion_id.to_string())]) } else { HashMap::new() };
                with_info(code, reason.reason(), message, metadata)
            }
            RedemptionError::RedemptionNotFound => with_info(Code::NotFound, "REDEMPTION_NOT_FOUND", message, HashMap::new()),
            RedemptionError::Unavailable(_) => Status::unavailable(message),
            RedemptionError::Db(err) => err.into(),
        }
    }
}
