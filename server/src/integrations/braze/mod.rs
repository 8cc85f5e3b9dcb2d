//! The Braze REST client for what the CDP writes: user attributes through `POST /users/track`
//! (cohort membership as the `cdp_cohorts` array attribute, and profile enrichment), as
//! braze-docs documents it (VENDOR-APIS §2): Bearer REST key, at most 75 attribute objects per
//! request, 429 with `Retry-After` / `X-RateLimit-Reset` and 5xx retried with backoff.

pub mod enrichment;

use crate::config::BrazeConfig;
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Most attribute objects in one `/users/track` request (`_docs/_api/api_limits.md`).
pub const MAX_ATTRIBUTES_PER_REQUEST: usize = 75;

/// Why Braze did not take a request.
#[derive(Debug, thiserror::Error)]
pub enum BrazeError {
    #[error("Braze at {url} does not answer: {reason}")]
    Unreachable { url: String, reason: String },
    /// 400, 401, 403, 404: the request or the key is wrong; retrying does not help.
    #[error("Braze refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("Braze kept throttling the requests (HTTP 429) after {attempts} attempts")]
    Throttled { attempts: u32 },
    #[error("Braze answered HTTP {status} after {attempts} attempts: {message}")]
    Server { status: u16, message: String, attempts: u32 },
}

impl BrazeError {
    /// Retrying later cannot help (a bad key or a malformed request).
    pub fn is_permanent(&self) -> bool {
        matches!(self, BrazeError::Rejected { .. })
    }
}

/// What Braze said about an accepted request.
#[derive(Debug, Clone, Default)]
pub struct TrackOutcome {
    /// `attributes_processed`, when Braze reports it.
    pub processed: Option<i64>,
    /// Non-fatal errors (`{"message":"success","errors":[...]}`), e.g. an unknown user.
    pub errors: Vec<String>,
}

/// A client for one Braze instance. Paces itself when Braze says the rate limit is spent.
pub struct BrazeClient {
    base: String,
    api_key: String,
    http: reqwest::Client,
    /// Attempts per request on 429, 5xx and network errors.
    max_attempts: u32,
    /// Longest single wait honoured from Retry-After / X-RateLimit-Reset.
    max_wait: Duration,
    /// Not before this instant (the rate limit is spent until its reset).
    not_before: Mutex<Option<Instant>>,
}

impl BrazeClient {
    pub fn new(config: &BrazeConfig, http: reqwest::Client) -> BrazeClient {
        BrazeClient {
            base: config.rest_url.trim_end_matches('/').to_string(),
            api_key: config.api_key.clone(),
            http,
            max_attempts: 5,
            max_wait: Duration::from_secs(60),
            not_before: Mutex::new(None),
        }
    }

    /// One `POST /users/track` with `attributes` (at most 75), retried on 429 (after the wait
    /// Braze asks for), 5xx and network errors (exponential backoff from 250 ms).
    pub async fn track_attributes(&self, attributes: &[Value]) -> Result<TrackOutcome, BrazeError> {
        assert!(attributes.len() <= MAX_ATTRIBUTES_PER_REQUEST, "callers batch by MAX_ATTRIBUTES_PER_REQUEST");
        let body = json!({ "attributes": attributes });
        let url = format!("{}/users/track", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_rate_limit().await;
            let sent = self.http.post(&url).bearer_auth(&self.api_key).json(&body).send().await;
            let response = match sent {
                Ok(response) => response,
                Err(err) if attempt < self.max_attempts => {
                    tracing::warn!(error = %err, attempt, "Braze did not answer; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(err) => return Err(BrazeError::Unreachable { url: self.base.clone(), reason: err.to_string() }),
            };
            let status = response.status();
            self.note_rate_limit(response.headers()).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                if attempt >= self.max_attempts {
                    return Err(BrazeError::Throttled { attempts: attempt });
                }
                let wait = requested_wait(response.headers()).unwrap_or_else(|| backoff(attempt)).min(self.max_wait);
                tracing::info!(wait_ms = wait.as_millis() as u64, attempt, "Braze throttled the request; waiting as asked");
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(TrackOutcome { processed: parsed.get("attributes_processed").and_then(Value::as_i64), errors: error_list(&parsed) });
            }
            let message = describe(&parsed, &text);
            if status.is_server_error() {
                if attempt < self.max_attempts {
                    tracing::warn!(status = status.as_u16(), attempt, %message, "Braze failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                return Err(BrazeError::Server { status: status.as_u16(), message, attempts: attempt });
            }
            return Err(BrazeError::Rejected { status: status.as_u16(), message });
        }
    }

    async fn wait_for_rate_limit(&self) {
        let until = *self.not_before.lock().await;
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// `X-RateLimit-Remaining: 0` means the window is spent: hold further requests until
    /// `X-RateLimit-Reset` (epoch seconds).
    async fn note_rate_limit(&self, headers: &HeaderMap) {
        let remaining = header_number(headers, "x-ratelimit-remaining");
        let mut not_before = self.not_before.lock().await;
        match (remaining, reset_wait(headers)) {
            (Some(0), Some(wait)) => *not_before = Some(Instant::now() + wait.min(self.max_wait)),
            _ => *not_before = None,
        }
    }
}

/// 250 ms, 500 ms, 1 s, 2 s … (at most 8 s).
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.saturating_sub(1).min(5))).min(Duration::from_secs(8))
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// How long until `X-RateLimit-Reset` (epoch seconds).
fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_number(headers, "x-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// The wait a 429 asks for: `Retry-After` seconds, else until `X-RateLimit-Reset`.
fn requested_wait(headers: &HeaderMap) -> Option<Duration> {
    header_number(headers, "retry-after").map(Duration::from_secs).or_else(|| reset_wait(headers))
}

fn error_list(body: &Value) -> Vec<String> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).collect())
        .unwrap_or_default()
}

fn describe(body: &Value, text: &str) -> String {
    match body.get("message").and_then(Value::as_str) {
        Some(message) => {
            let errors = error_list(body);
            if errors.is_empty() { message.to_string() } else { format!("{message}: {}", errors.join("; ")) }
        }
        None => text.chars().take(300).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(10), Duration::from_secs(8));
    }

    #[test]
    fn retry_after_wins_over_the_reset_header() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        headers.insert("x-ratelimit-reset", "1".parse().unwrap());
        assert_eq!(requested_wait(&headers), Some(Duration::from_secs(3)));
    }
}
