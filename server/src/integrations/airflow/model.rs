//! What the monitor needs of a DAG and a DAG run, read from either API's JSON. Field names
//! differ between v1 (Airflow 2) and v2 (Airflow 3); see VENDOR-APIS §3.

use crate::config::AirflowApiVersion;
use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Dag {
    pub dag_id: String,
    pub description: String,
    /// As Airflow shows it: a cron expression, a preset, or a timedelta; empty when none.
    pub schedule: String,
    pub is_paused: bool,
    pub tags: Vec<String>,
    pub owners: Vec<String>,
    /// When Airflow will create the next scheduled run.
    pub next_run_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DagRun {
    pub run_id: String,
    /// `queued`, `running`, `success`, `failed` (or a state a later Airflow adds).
    pub state: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Null for manual runs on Airflow 3.
    pub logical_date: Option<DateTime<Utc>>,
    /// When the run was due (v2 `run_after`; v1: the logical date, else the start).
    pub run_after: Option<DateTime<Utc>>,
    pub run_type: String,
    pub note: String,
}

impl Dag {
    pub fn from_json(version: AirflowApiVersion, dag: &Value) -> Option<Dag> {
        let schedule = match version {
            // v2: `timetable_summary` is "0 3 * * *", "@daily", "1 day, 0:00:00" or null.
            AirflowApiVersion::V2 => text(dag, "timetable_summary"),
            // v1: `schedule_interval` is {"__type": "CronExpression", "value"} or a TimeDelta.
            _ => schedule_interval_v1(dag.get("schedule_interval")),
        };
        let next_run_at = match version {
            AirflowApiVersion::V2 => time(dag, "next_dagrun_run_after"),
            _ => time(dag, "next_dagrun_create_after"),
        };
        Some(Dag {
            dag_id: dag.get("dag_id")?.as_str()?.to_string(),
            description: text(dag, "description"),
            schedule: if schedule == "None" { String::new() } else { schedule },
            is_paused: dag.get("is_paused").and_then(Value::as_bool).unwrap_or(false),
            // v1 tags are [{"name": "cdp"}]; v2 tags are [{"name", "dag_id"}].
            tags: dag
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| tags.iter().filter_map(|t| t.get("name").and_then(Value::as_str).or_else(|| t.as_str()).map(str::to_string)).collect())
                .unwrap_or_default(),
            owners: dag.get("owners").and_then(Value::as_array).map(|o| o.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default(),
            next_run_at,
        })
    }
}

impl DagRun {
    pub fn from_json(version: AirflowApiVersion, run: &Value) -> Option<DagRun> {
        let logical_date = time(run, "logical_date").or_else(|| time(run, "execution_date"));
        let started_at = time(run, "start_date");
        let run_after = match version {
            AirflowApiVersion::V2 => time(run, "run_after"),
            _ => logical_date.or(started_at),
        };
        Some(DagRun {
            run_id: run.get("dag_run_id")?.as_str()?.to_string(),
            state: text(run, "state"),
            started_at,
            ended_at: time(run, "end_date"),
            logical_date,
            run_after,
            run_type: text(run, "run_type"),
            note: text(run, "note"),
        })
    }
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn time(value: &Value, key: &str) -> Option<DateTime<Utc>> {
    value.get(key).and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// v1's `ScheduleInterval` as Airflow 3 would summarise it: the cron text, or a timedelta
/// in Python's `str(timedelta)` form.
fn schedule_interval_v1(interval: Option<&Value>) -> String {
    let Some(interval) = interval.filter(|v| !v.is_null()) else { return String::new() };
    let number = |key: &str| interval.get(key).and_then(Value::as_i64).unwrap_or(0);
    match interval.get("__type").and_then(Value::as_str) {
        Some("CronExpression") => text(interval, "value"),
        Some("TimeDelta") => {
            let (days, seconds) = (number("days"), number("seconds"));
            let clock = format!("{}:{:02}:{:02}", seconds / 3600, (seconds % 3600) / 60, seconds % 60);
            match days {
                0 => clock,
                1 => format!("1 day, {clock}"),
                n => format!("{n} days, {clock}"),
            }
        }
        Some("RelativeDelta") => {
            // Months and years have no fixed length; show the largest unit that is set.
            let parts = [("years", "@yearly"), ("months", "@monthly")];
            parts.iter().find(|(key, _)| number(key) == 1).map(|(_, preset)| preset.to_string()).unwrap_or_else(|| interval.to_string())
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_v1_dag_and_run() {
        let dag = json!({
            "dag_id": "cdp_users_load", "description": null, "is_paused": true,
            "schedule_interval": {"__type": "CronExpression", "value": "0 3 * * *"},
            "tags": [{"name": "cdp"}, {"name": "etl"}], "owners": ["cdp"],
            "next_dagrun_create_after": "2026-11-26T03:00:00+00:00"
        });
        let dag = Dag::from_json(AirflowApiVersion::V1, &dag).unwrap();
        assert_eq!(dag.schedule, "0 3 * * *");
        assert_eq!(dag.tags, ["cdp", "etl"]);
        assert_eq!(dag.next_run_at.unwrap().to_rfc3339(), "2026-11-26T03:00:00+00:00");
        let delta = json!({"dag_id": "d", "schedule_interval": {"__type": "TimeDelta", "days": 1, "seconds": 0, "microseconds": 0}});
        assert_eq!(Dag::from_json(AirflowApiVersion::V1, &delta).unwrap().schedule, "1 day, 0:00:00");
        let run = json!({"dag_run_id": "manual__x", "state": "queued", "execution_date": "2026-11-25T10:00:00+00:00", "logical_date": "2026-11-25T10:00:00+00:00", "start_date": null, "end_date": null, "run_type": "manual", "note": null});
        let run = DagRun::from_json(AirflowApiVersion::V1, &run).unwrap();
        assert_eq!(run.state, "queued");
        assert!(run.started_at.is_none());
        assert_eq!(run.run_after, run.logical_date);
    }

    #[test]
    fn reads_a_v2_dag_and_a_run_without_logical_date() {
        let dag = json!({"dag_id": "d", "timetable_summary": null, "is_paused": false, "tags": [{"name": "cdp", "dag_id": "d"}], "owners": ["cdp"], "next_dagrun_run_after": null});
        let dag = Dag::from_json(AirflowApiVersion::V2, &dag).unwrap();
        assert_eq!(dag.schedule, "");
        assert_eq!(dag.tags, ["cdp"]);
        let run = json!({"dag_run_id": "manual__y", "state": "success", "logical_date": null, "run_after": "2026-11-25T10:00:00Z", "start_date": "2026-11-25T10:00:01Z", "end_date": "2026-11-25T10:01:00Z", "run_type": "manual", "note": "n"});
        let run = DagRun::from_json(AirflowApiVersion::V2, &run).unwrap();
        assert!(run.logical_date.is_none());
        assert_eq!(run.run_after.unwrap().to_rfc3339(), "2026-11-25T10:00:00+00:00");
        assert_eq!(run.note, "n");
    }
}
