//! GetDataHealth: unified profiles and identity match rates (rolled up), the daily ingestion
//! volume and the latest ETL batch of each source with its validation result.

use super::{
    DashboardError,
    definitions::DATA_HEALTH_DESCRIPTION,
    range::{self, DayRange, iso},
    store::{self, BatchRow},
};
use crate::convert::{opt_timestamp, timestamp};
use cdp_proto::cdp::v1::{self as pb, IngestionBatchStatus, ValidationOutcome};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use serde_json::Value;

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// PASSED / FAILED from the ETL's `validation.passed` (docs/etl.md); WARNING when it passed
/// but lists `warnings`; unset when no validation ran.
fn outcome(validation: Option<&Value>) -> ValidationOutcome {
    let Some(v) = validation else { return ValidationOutcome::Unspecified };
    match v.get("passed").and_then(Value::as_bool) {
        Some(true) if v.get("warnings").and_then(Value::as_array).is_some_and(|w| !w.is_empty()) => ValidationOutcome::Warning,
        Some(true) => ValidationOutcome::Passed,
        Some(false) => ValidationOutcome::Failed,
        None => ValidationOutcome::Unspecified,
    }
}

/// E.g. `7 checks, 1 failed: row_count (the batch has no rows); published: inserted 120, updated 4`.
pub fn summary(batch: &BatchRow) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &batch.validation {
        if let Some(checks) = v.get("checks").and_then(Value::as_array) {
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| c.get("passed").and_then(Value::as_bool) == Some(false))
                .map(|c| {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("check");
                    match c.pointer("/details/message").and_then(Value::as_str) {
                        Some(message) => format!("{name} ({message})"),
                        None => name.to_string(),
                    }
                })
                .collect();
            if failed.is_empty() {
                parts.push(format!("{} checks passed", checks.len()));
            } else {
                parts.push(format!("{} checks, {} failed: {}", checks.len(), failed.len(), failed.join("; ")));
            }
        }
        if let Some(published) = v.get("published").and_then(Value::as_object) {
            let counts: Vec<String> = published.iter().filter_map(|(k, n)| n.as_i64().map(|n| format!("{k} {n}"))).collect();
            if !counts.is_empty() {
                parts.push(format!("published: {}", counts.join(", ")));
            }
        }
    }
    if let Some(error) = batch.error.as_deref().filter(|e| !e.is_empty()) {
        parts.push(format!("error: {error}"));
    }
    if parts.is_empty() { "no validation recorded".into() } else { parts.join("; ") }
}

fn status(status: &str) -> IngestionBatchStatus {
    match status {
        "running" => IngestionBatchStatus::Running,
        "succeeded" => IngestionBatchStatus::Succeeded,
        "failed" => IngestionBatchStatus::Failed,
        _ => IngestionBatchStatus::Unspecified,
    }
}

pub async fn get_data_health(conn: &mut AsyncPgConnection, range: DayRange, tz: Tz) -> Result<pb::GetDataHealthResponse, DashboardError> {
    let profiles = store::profile_health(conn).await?;
    let rows = store::ingested_rows(conn, range, tz.name()).await?;
    let events = store::events_per_day(conn, range).await?;
    let ingestion = range
        .iter()
        .map(|day| pb::IngestionPoint { date: iso(day), rows: rows.get(&day).copied().unwrap_or(0), events: events.get(&day).copied().unwrap_or(0) })
        .collect();
    let latest_batches = store::latest_batches(conn)
        .await?
        .iter()
        .map(|b| pb::IngestionBatch {
            source: b.source.clone(),
            rows: b.rows,
            status: status(&b.status) as i32,
            started_at: Some(timestamp(b.started_at)),
            finished_at: opt_timestamp(b.finished_at),
            validation: outcome(b.validation.as_ref()) as i32,
            validation_summary: summary(b),
        })
        .collect();
    Ok(pb::GetDataHealthResponse {
        total_unified_profiles: profiles.total_profiles,
        amplitude_match_rate: share(profiles.amplitude_matched, profiles.total_profiles),
        braze_match_rate: share(profiles.braze_matched, profiles.total_profiles),
        amplitude_matched: profiles.amplitude_matched,
        braze_matched: profiles.braze_matched,
        range: Some(range.to_proto()),
        ingestion,
        latest_batches,
        description: DATA_HEALTH_DESCRIPTION.into(),
    })
}

/// Resolves GetDataHealth's range (same presets and limits as GetMetrics).
pub fn resolve_range(request: &pb::GetDataHealthRequest, today: chrono::NaiveDate) -> Result<DayRange, DashboardError> {
    let pb::GetDataHealthRequest { preset, start_date, end_date } = request;
    range::resolve(*preset, start_date, end_date, today)
}
