//! The Amplitude Behavioral Cohorts API client (amplitude-docs `behavioral-cohorts.md`,
//! VENDOR-APIS §1): list cohorts, download one (request → poll → file), upload a cohort and
//! change its membership. HTTP Basic auth with the project's API key and secret key.

use crate::config::AmplitudeConfig;
use chrono::{DateTime, Utc};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// Most ids in one upload or membership request (the documented limit).
pub const MAX_IDS_PER_REQUEST: usize = 100_000;
/// The largest cohort Amplitude serves (2 million users).
pub const MAX_COHORT_SIZE: i64 = 2_000_000;

#[derive(Debug, thiserror::Error)]
pub enum AmplitudeError {
    #[error("Amplitude at {url} does not answer: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Amplitude rejected the CDP's keys (HTTP {status}); check CDP_AMPLITUDE_API_KEY and CDP_AMPLITUDE_SECRET_KEY")]
    CredentialsRejected { status: u16 },
    #[error("{0}")]
    NotFound(String),
    #[error("Amplitude throttled the request (HTTP 429): {0}")]
    Throttled(String),
    /// 400 and other 4xx: the request was refused; retrying does not help.
    #[error("Amplitude refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("Amplitude answered HTTP {status}: {message}")]
    Server { status: u16, message: String },
    #[error("Amplitude answered something the CDP cannot read: {0}")]
    Unexpected(String),
}

impl AmplitudeError {
    /// Retrying later cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, AmplitudeError::CredentialsRejected { .. } | AmplitudeError::Rejected { .. } | AmplitudeError::NotFound(_))
    }
}

/// A cohort as `GET /api/3/cohorts` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortListing {
    pub id: String,
    pub name: String,
    pub description: String,
    pub size: i64,
    pub last_computed: Option<DateTime<Utc>>,
    pub owners: Vec<String>,
    pub archived: bool,
}

/// State of a download request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadStatus {
    InProgress,
    Completed,
}

/// One row of a downloaded cohort file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedId {
    pub amplitude_id: Option<String>,
    pub user_id: Option<String>,
}

/// `id_type` of the two write endpoints (they use different vocabularies, VENDOR-APIS §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipOperation {
    Add,
    Remove,
}

pub struct AmplitudeClient {
    base: String,
    api_key: String,
    secret_key: String,
    http: reqwest::Client,
}

impl AmplitudeClient {
    pub fn new(config: &AmplitudeConfig, http: reqwest::Client) -> AmplitudeClient {
        AmplitudeClient {
            base: config.rest_url.trim_end_matches('/').to_string(),
            api_key: config.api_key.clone(),
            secret_key: config.secret_key.clone(),
            http,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).basic_auth(&self.api_key, Some(&self.secret_key)).timeout(Duration::from_secs(120))
    }

    async fn send(&self, request: RequestBuilder, what: &str) -> Result<(StatusCode, String), AmplitudeError> {
        let response = request.send().await.map_err(|e| AmplitudeError::Unreachable { url: self.base.clone(), reason: e.to_string() })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| AmplitudeError::Unreachable { url: self.base.clone(), reason: e.to_string() })?;
        if status.is_success() {
            return Ok((status, text));
        }
        let message = error_message(&text);
        Err(match status.as_u16() {
            401 | 403 => AmplitudeError::CredentialsRejected { status: status.as_u16() },
            404 => AmplitudeError::NotFound(format!("Amplitude has no {what}: {message}")),
            429 => AmplitudeError::Throttled(message),
            s if s >= 500 => AmplitudeError::Server { status: s, message },
            s => AmplitudeError::Rejected { status: s, message },
        })
    }

    /// `GET /api/3/cohorts`: every cohort of the project (the list is not paged).
    pub async fn list_cohorts(&self) -> Result<Vec<CohortListing>, AmplitudeError> {
        let (_, text) = self.send(self.request(reqwest::Method::GET, "/api/3/cohorts"), "cohort list").await?;
        let body: Value = serde_json::from_str(&text).map_err(|e| AmplitudeError::Unexpected(format!("cohort list: {e}")))?;
        let cohorts = body.get("cohorts").and_then(Value::as_array).ok_or_else(|| AmplitudeError::Unexpected("cohort list without `cohorts`".into()))?;
        Ok(cohorts.iter().filter_map(listing).collect())
    }

    /// `GET /api/5/cohorts/request/{id}`: starts a download (counts against the quota).
    pub async fn request_download(&self, cohort_id: &str) -> Result<String, AmplitudeError> {
        let path = format!("/api/5/cohorts/request/{}", path_segment(cohort_id));
        let (_, text) = self.send(self.request(reqwest::Method::GET, &path), &format!("cohort {cohort_id:?}")).await?;
        let body: Value = serde_json::from_str(&text).map_err(|e| AmplitudeError::Unexpected(format!("download request: {e}")))?;
        body.get("request_id").and_then(string_or_number).ok_or_else(|| AmplitudeError::Unexpected("download request without `request_id`".into()))
    }

    /// `GET /api/5/cohorts/request-status/{request_id}`: 202 while in progress, 200 when done.
    pub async fn download_status(&self, request_id: &str) -> Result<DownloadStatus, AmplitudeError> {
        let path = format!("/api/5/cohorts/request-status/{}", path_segment(request_id));
        let (status, text) = self.send(self.request(reqwest::Method::GET, &path), &format!("download request {request_id:?}")).await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let state = body.get("async_status").and_then(Value::as_str).unwrap_or_default().to_uppercase();
        if state.contains("FAIL") || state.contains("ERROR") {
            return Err(AmplitudeError::Server { status: status.as_u16(), message: format!("the download failed in Amplitude ({state})") });
        }
        Ok(if status == StatusCode::OK && (state.is_empty() || state.contains("COMPLETED")) { DownloadStatus::Completed } else { DownloadStatus::InProgress })
    }

    /// `GET /api/5/cohorts/request/{request_id}/file`: the file (large cohorts redirect to a
    /// short-lived S3 URL, which the HTTP client follows without the Authorization header).
    pub async fn download_file(&self, request_id: &str) -> Result<Vec<DownloadedId>, AmplitudeError> {
        let path = format!("/api/5/cohorts/request/{}/file", path_segment(request_id));
        let (_, text) = self.send(self.request(reqwest::Method::GET, &path), &format!("file for download {request_id:?}")).await?;
        parse_cohort_file(&text).map_err(AmplitudeError::Unexpected)
    }

    /// `POST /api/3/cohorts/upload`: creates a cohort of the given user ids (at most 100,000)
    /// and returns its Amplitude id.
    pub async fn upload(&self, name: &str, app_id: i64, owner: &str, user_ids: &[String]) -> Result<String, AmplitudeError> {
        assert!(user_ids.len() <= MAX_IDS_PER_REQUEST, "callers chunk by MAX_IDS_PER_REQUEST");
        let body = json!({
            "name": name, "app_id": app_id, "id_type": "BY_USER_ID", "ids": user_ids,
            "owner": owner, "published": true, "skip_invalid_ids": true,
        });
        let (_, text) = self.send(self.request(reqwest::Method::POST, "/api/3/cohorts/upload").json(&body), "upload endpoint").await?;
        let body: Value = serde_json::from_str(&text).map_err(|e| AmplitudeError::Unexpected(format!("upload: {e}")))?;
        // The doc shows `cohortId`; third-party schemas show `cohort_id`: accept both.
        body.get("cohortId")
            .or_else(|| body.get("cohort_id"))
            .and_then(string_or_number)
            .ok_or_else(|| AmplitudeError::Unexpected("upload answer without a cohort id".into()))
    }

    /// `POST /api/3/cohorts/membership`: adds or removes user ids (at most 100,000).
    pub async fn change_membership(&self, cohort_id: &str, operation: MembershipOperation, user_ids: &[String]) -> Result<(), AmplitudeError> {
        assert!(user_ids.len() <= MAX_IDS_PER_REQUEST, "callers chunk by MAX_IDS_PER_REQUEST");
        let operation = match operation {
            MembershipOperation::Add => "ADD",
            MembershipOperation::Remove => "REMOVE",
        };
        // For the User count group, BY_NAME is the user_id (BY_ID would be the Amplitude id).
        let body = json!({
            "cohort_id": cohort_id,
            "memberships": [{ "ids": user_ids, "id_type": "BY_NAME", "operation": operation }],
            "skip_invalid_ids": true,
        });
        self.send(self.request(reqwest::Method::POST, "/api/3/cohorts/membership").json(&body), &format!("cohort {cohort_id:?}")).await?;
        Ok(())
    }
}

/// Ids are put in URL paths: keep them to one safe segment.
fn path_segment(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect()
}

fn string_or_number(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `lastComputed` and friends: epoch milliseconds or an ISO-8601 string.
fn instant(value: Option<&Value>) -> Option<DateTime<Utc>> {
    match value? {
        Value::Number(n) => DateTime::from_timestamp_millis(n.as_i64()?),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())),
        _ => None,
    }
}

fn listing(cohort: &Value) -> Option<CohortListing> {
    let id = cohort.get("id").and_then(string_or_number)?;
    Some(CohortListing {
        id,
        name: cohort.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        description: cohort.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
        size: cohort.get("size").and_then(Value::as_i64).unwrap_or_default(),
        last_computed: instant(cohort.get("lastComputed")),
        owners: cohort.get("owners").and_then(Value::as_array).map(|o| o.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default(),
        archived: cohort.get("archived").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// `{"error":{"message":..}}` as the docs show it, or the body itself.
fn error_message(text: &str) -> String {
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    parsed
        .pointer("/error/message")
        .and_then(Value::as_str)
        .or_else(|| parsed.get("error").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// Splits one CSV line (fields optionally double-quoted, `""` an escaped quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter().map(|f| f.trim().to_string()).collect()
}

/// Reads a downloaded cohort file: CSV with a header naming `amplitude_id` and/or `user_id`
/// (the shape seen in a third-party sample; the format is not documented, VENDOR-APIS §1).
pub fn parse_cohort_file(text: &str) -> Result<Vec<DownloadedId>, String> {
    if text.as_bytes().starts_with(&[0x1f, 0x8b]) {
        return Err("the cohort file is gzip-compressed, which this version does not read".into());
    }
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines.next().map(csv_fields).unwrap_or_default().into_iter().map(|h| h.to_lowercase()).collect();
    let amplitude_col = header.iter().position(|h| h == "amplitude_id");
    let user_col = header.iter().position(|h| h == "user_id");
    if amplitude_col.is_none() && user_col.is_none() {
        return Err(format!("the cohort file has no amplitude_id or user_id column (header: {:?})", header.join(",")));
    }
    let pick = |fields: &[String], col: Option<usize>| col.and_then(|i| fields.get(i)).filter(|v| !v.is_empty() && v.as_str() != "null").cloned();
    Ok(lines
        .map(|line| {
            let fields = csv_fields(line);
            DownloadedId { amplitude_id: pick(&fields, amplitude_col), user_id: pick(&fields, user_col) }
        })
        .filter(|row| row.amplitude_id.is_some() || row.user_id.is_some())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohort_files_are_read_by_their_header() {
        let rows = parse_cohort_file("\"amplitude_id\",\"user_id\"\n\"123\",\"42\"\n\"124\",\"\"\n\n\"125\",\"a \"\"b\"\"\"\n").unwrap();
        assert_eq!(
            rows,
            vec![
                DownloadedId { amplitude_id: Some("123".into()), user_id: Some("42".into()) },
                DownloadedId { amplitude_id: Some("124".into()), user_id: None },
                DownloadedId { amplitude_id: Some("125".into()), user_id: Some("a \"b\"".into()) },
            ]
        );
        assert!(parse_cohort_file("foo,bar\n1,2\n").is_err());
    }

    #[test]
    fn listing_accepts_epoch_millis_and_iso_dates() {
        let a = listing(&json!({"id": "abc", "name": "A", "size": 3, "lastComputed": 1_700_000_000_000i64, "owners": ["o@x.com"]})).unwrap();
        assert_eq!(a.last_computed.unwrap().timestamp(), 1_700_000_000);
        let b = listing(&json!({"id": 7, "name": "B", "lastComputed": "2024-01-02T03:04:05Z"})).unwrap();
        assert_eq!(b.id, "7");
        assert_eq!(b.last_computed.unwrap().timestamp(), 1_704_164_645);
    }

    #[test]
    fn ids_in_paths_are_one_safe_segment() {
        assert_eq!(path_segment("ab/../c d?x=1"), "abcdx1");
    }
}
