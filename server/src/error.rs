//! The error policy shared by every domain (STYLE: one `From<DomainError> for Status` each):
//! internal failures are logged with detail and answered opaquely; expected failures carry a
//! machine-readable `google.rpc.ErrorInfo` reason and, for bad input, the offending field.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error this server returns.
pub const ERROR_DOMAIN: &str = "cdp.example.com";

/// An unexpected failure: details go to the log, the caller gets an opaque INTERNAL.
pub fn internal(err: impl std::fmt::Display) -> Status {
    tracing::error!(error = %err, "internal error");
    Status::internal("internal error; it has been logged")
}

/// A status with a machine-readable reason clients can switch on (never on the message).
pub fn with_reason(code: Code, reason: &str, message: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::<String, String>::new());
    Status::with_error_details(code, message, details)
}

/// INVALID_ARGUMENT naming the field (AIP-193: a BadRequest field violation).
pub fn invalid_field(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let mut details = ErrorDetails::with_bad_request_violation(field, description.clone());
    details.set_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, std::collections::HashMap::<String, String>::new());
    Status::with_error_details(Code::InvalidArgument, format!("{field}: {description}"), details)
}

/// Parses a UUID field of a request, or INVALID_ARGUMENT naming it.
pub fn parse_uuid(field: &str, value: &str) -> Result<uuid::Uuid, Status> {
    if value.is_empty() {
        return Err(invalid_field(field, "is required"));
    }
    uuid::Uuid::parse_str(value).map_err(|_| invalid_field(field, "must be a UUID"))
}
