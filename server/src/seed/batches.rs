//! The ETL's ingestion batches for the seeded window: each day the users, identities and
//! activity loads succeed once, with the row counts of the data they would have loaded, and
//! one activity load fails validation (too few rows) before its retry succeeds. The records
//! have the shape the Airflow DAGs write (infra/airflow/dags/cdp_etl/validation.py).

use super::generator::{Tally, World};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::io::Write;

/// Time of day (UTC) each daily load starts; identities' `updated_at` uses its own.
pub const USERS_AT: &str = "23:00:00";
pub const IDENTITIES_AT: &str = "23:15:00";
pub const ACTIVITY_AT: &str = "23:30:00";
/// The ETL's default CDP_ETL_MIN_ROW_RATIO.
const MIN_ROW_RATIO: f64 = 0.5;

/// Columns written, in this order, by `rows`.
pub const COLUMNS: &str = "source, dag_run_id, rows, started_at, finished_at, status, validation, error";

/// The batches in COPY text format, oldest first, and how many there are. No batch ends after
/// `now` (UTC): the loads of a day that is not over yet are moved back to end by then.
pub fn rows(world: &World, tally: &Tally, seed: u64, now: chrono::NaiveDateTime) -> (Vec<u8>, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX - 1);
    let days = world.window_days();
    // The failed load: an activity batch some days ago (the most recent day in short windows).
    let failed_day = days.saturating_sub(1 + rng.random_range(3..21usize).min(days.saturating_sub(1)));
    let mut out = Vec::new();
    let mut count = 0;
    let mut users_total = tally.users_before_window;
    let mut identities_total = tally.identities_before_window;
    let mut previous: [Option<u64>; 3] = [None; 3];
    for index in 0..days {
        let day = world.window_start + index as i32;
        let date = world.date_string(day);
        let logical = world.date_string(day - 1);
        users_total += tally.users_created[index];
        identities_total += tally.identities_created[index];
        let active = tally.activity_by_day[index];

        let loads = [
            (
                "users",
                USERS_AT,
                users_total,
                json!({"inserted": tally.users_created[index], "updated": active.saturating_sub(tally.users_created[index]), "unchanged": users_total.saturating_sub(active.max(tally.users_created[index]))}),
            ),
            (
                "identities",
                IDENTITIES_AT,
                identities_total,
                json!({"inserted": tally.identities_created[index], "updated": 0, "unchanged": identities_total - tally.identities_created[index]}),
            ),
            ("activity", ACTIVITY_AT, active, json!({"day": date, "inserted": active, "updated": 0})),
        ];
        for (slot, (source, at, rows, published)) in loads.into_iter().enumerate() {
            let started = format!("{date} {at}");
            let run_id = format!("scheduled__{logical}T{at}+00:00");
            let jitter = rng.random_range(0..240);
            let duration = 15 + rows / 20_000 + rng.random_range(0..30);
            if source == "activity" && index == failed_day {
                // Amplitude's export came back truncated: the row-count check stops the load.
                let staged = (rows as f64 * rng.random_range(0.05..0.2)).round() as u64;
                let (failed_started, finished) = capped(&plus_seconds(&started, jitter), &plus_seconds(&started, jitter + 12), now);
                let baseline = previous[slot].unwrap_or(rows);
                let reason =
                    if staged == 0 { "the batch has no rows".to_string() } else { format!("{staged} rows is below 50% of the {baseline} of the baseline") };
                let mut checks = checks(staged, Some(baseline));
                checks[0]["passed"] = json!(false);
                checks[0]["details"]["message"] = json!(reason);
                let validation = json!({
                    "source": source, "passed": false, "failed_checks": ["row_count"], "checks": checks,
                    "checked_at": iso(&finished), "scope": {"day": date},
                });
                let error = format!("validation of the activity batch failed: row_count ({reason})");
                line(&mut out, source, &run_id, staged, &failed_started, &finished, "failed", &validation, Some(&error));
                count += 1;
                // The retry, triggered by hand once the export was complete again.
                let (retry_started, retry_finished) =
                    capped(&plus_seconds(&started, 20 * 60 + jitter), &plus_seconds(&started, 20 * 60 + jitter + duration), now);
                let retry_id = format!("manual__{}", iso(&retry_started));
                let validation = succeeded(source, rows, previous[slot], &retry_finished, published);
                line(&mut out, source, &retry_id, rows, &retry_started, &retry_finished, "succeeded", &validation, None);
            } else {
                let (started, finished) = capped(&plus_seconds(&started, jitter), &plus_seconds(&started, jitter + duration), now);
                let validation = succeeded(source, rows, previous[slot], &finished, published);
                line(&mut out, source, &run_id, rows, &started, &finished, "succeeded", &validation, None);
            }
            count += 1;
            previous[slot] = Some(rows);
        }
    }
    (out, count)
}

fn checks(rows: u64, baseline: Option<u64>) -> Vec<serde_json::Value> {
    let mut row_count = json!({"name": "row_count", "passed": true, "details": {"rows": rows, "min_ratio": MIN_ROW_RATIO}});
    match baseline {
        Some(base) if base > 0 => {
            row_count["details"]["baseline_rows"] = json!(base);
            row_count["details"]["ratio"] = json!((rows as f64 / base as f64 * 10_000.0).round() / 10_000.0);
        }
        _ => row_count["details"]["baseline"] = json!("none (first load)"),
    }
    vec![
        row_count,
        json!({"name": "null_key", "passed": true, "details": {"count": 0}}),
        json!({"name": "duplicate_key", "passed": true, "details": {"duplicated_keys": 0, "rows_involved": 0}}),
    ]
}

fn succeeded(source: &str, rows: u64, baseline: Option<u64>, finished: &str, published: serde_json::Value) -> serde_json::Value {
    json!({
        "source": source, "passed": true, "failed_checks": [], "checks": checks(rows, baseline),
        "checked_at": iso(finished), "published": published,
    })
}

#[allow(clippy::too_many_arguments)]
fn line(
    out: &mut Vec<u8>,
    source: &str,
    run_id: &str,
    rows: u64,
    started: &str,
    finished: &str,
    status: &str,
    validation: &serde_json::Value,
    error: Option<&str>,
) {
    // COPY text format: a backslash in the JSON would start an escape, so double it.
    let validation = validation.to_string().replace('\\', "\\\\");
    let _ = writeln!(out, "{source}\t{run_id}\t{rows}\t{started}+00\t{finished}+00\t{status}\t{validation}\t{}", error.unwrap_or("\\N"));
}

/// A batch that would end after `now` is moved back to end at `now`, keeping its duration but
/// not its start before the start of its day (its day stays the day it loads).
fn capped(started: &str, finished: &str, now: chrono::NaiveDateTime) -> (String, String) {
    let parse = |moment: &str| chrono::NaiveDateTime::parse_from_str(moment, "%Y-%m-%d %H:%M:%S").expect("batch times are written by this module");
    let (start, planned_end) = (parse(started), parse(finished));
    if planned_end <= now {
        return (started.to_string(), finished.to_string());
    }
    let day_start = start.date().and_hms_opt(0, 0, 0).expect("midnight exists");
    let end = now.max(day_start + chrono::Duration::seconds(1));
    let start = (start - (planned_end - end)).max(day_start).min(end - chrono::Duration::seconds(1));
    let format = |moment: chrono::NaiveDateTime| moment.format("%Y-%m-%d %H:%M:%S").to_string();
    (format(start), format(end))
}

/// `YYYY-MM-DD HH:MM:SS` plus `seconds`.
fn plus_seconds(moment: &str, seconds: u64) -> String {
    let parsed = chrono::NaiveDateTime::parse_from_str(moment, "%Y-%m-%d %H:%M:%S").expect("batch times are written by this module");
    (parsed + chrono::Duration::seconds(seconds as i64)).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn iso(moment: &str) -> String {
    format!("{}+00:00", moment.replace(' ', "T"))
}
