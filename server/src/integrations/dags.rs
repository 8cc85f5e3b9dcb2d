//! DAG cards: what Airflow says about each DAG and its runs, plus what the CDP knows: which of
//! its tables the DAG feeds, and since when that data is stale (no successful load within two
//! schedule intervals, or 48 hours when unscheduled).

use super::{
    airflow::{AirflowClient, AirflowError, Dag, DagRun},
    schedule,
};
use crate::convert::{opt_timestamp, timestamp};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use std::collections::HashMap;

/// Runs shown on a card's status strip (the contract's maximum).
pub const RECENT_RUNS: usize = 10;

/// The project's DAGs (infra/airflow/dags, docs/etl.md): the ingestion-batch source each one
/// writes and what that data feeds in the CDP.
pub struct Feed {
    pub dag_id: &'static str,
    /// `cdp.ingestion_batches.source` of its loads.
    pub source: &'static str,
    pub feeds: &'static str,
}

pub const FEEDS: [Feed; 3] = [
    Feed { dag_id: "cdp_users_load", source: "users", feeds: "public.users: the users table behind the user explorer, profiles, cohorts and promotions" },
    Feed {
        dag_id: "cdp_activity_export",
        source: "activity",
        feeds: "cdp.user_daily_activity: daily activity, and so the dashboard (DAU/WAU/MAU, churn, retention)",
    },
    Feed { dag_id: "cdp_identities_refresh", source: "identities", feeds: "cdp.identities: Amplitude and Braze ids used by cohort syncs" },
];

pub fn feed_of(dag_id: &str) -> Option<&'static Feed> {
    FEEDS.iter().find(|feed| feed.dag_id == dag_id)
}

/// Everything Airflow says about one DAG.
struct DagState {
    dag: Dag,
    recent_runs: Vec<DagRun>,
    last_success: Option<DagRun>,
}

/// The cards of every DAG Airflow shows the CDP, sorted by dag_id. `published` is when each
/// ETL source last got a published batch (`cdp.ingestion_batches`).
pub async fn cards(airflow: &AirflowClient, published: &HashMap<String, DateTime<Utc>>, now: DateTime<Utc>) -> Result<Vec<pb::DagCard>, AirflowError> {
    let dags = airflow.list_dags().await?;
    // A few DAGs at a time: each needs two or three calls, and Airflow is not ours to flood.
    let states: Vec<Result<DagState, AirflowError>> = stream::iter(dags).map(|dag| dag_state(airflow, dag)).buffered(4).collect().await;
    let mut cards = Vec::with_capacity(states.len());
    for state in states {
        match state {
            Ok(state) => cards.push(card(state, published, now)),
            // Deleted between the list and its runs: it is gone, so no card.
            Err(AirflowError::NotFound(_)) => continue,
            Err(err) => return Err(err),
        }
    }
    cards.sort_by(|a, b| a.dag_id.cmp(&b.dag_id));
    Ok(cards)
}

async fn dag_state(airflow: &AirflowClient, mut dag: Dag) -> Result<DagState, AirflowError> {
    let (recent_runs, last_success) = tokio::try_join!(airflow.recent_runs(&dag.dag_id, RECENT_RUNS), airflow.last_successful_run(&dag.dag_id))?;
    if dag.description.trim().is_empty() {
        // Our DAGs document themselves in doc_md; its first paragraph is their description.
        dag.description = airflow.doc_md(&dag.dag_id).await?.map(|doc| first_paragraph(&doc)).unwrap_or_default();
    }
    Ok(DagState { dag, recent_runs, last_success })
}

fn card(state: DagState, published: &HashMap<String, DateTime<Utc>>, now: DateTime<Utc>) -> pb::DagCard {
    let DagState { dag, recent_runs, last_success } = state;
    let Dag { dag_id, description, schedule, is_paused, tags, owners, next_run_at } = dag;
    let feed = feed_of(&dag_id);
    let last_successful_run_at = last_success.as_ref().and_then(|run| run.ended_at.or(run.started_at));
    // The data is as fresh as its latest load, through this DAG or any other way (a manual
    // `python -m cdp_etl`, the seed), as recorded in cdp.ingestion_batches.
    let last_load = feed.and_then(|f| published.get(f.source).copied());
    let fresh_as_of = last_successful_run_at.max(last_load);
    pb::DagCard {
        feeds: feed.map(|f| f.feeds.to_string()).unwrap_or_default(),
        stale_since: opt_timestamp(stale_since(&schedule, fresh_as_of, now)),
        latest_run: recent_runs.first().map(run_to_proto),
        recent_runs: recent_runs.iter().map(run_to_proto).collect(),
        last_successful_run_at: opt_timestamp(last_successful_run_at),
        // Airflow keeps computing a next run for paused DAGs; it will not happen.
        next_run_at: if is_paused { None } else { opt_timestamp(next_run_at) },
        dag_id,
        description,
        schedule,
        is_paused,
        tags,
        owners,
    }
}

/// When the data went stale: the last successful load plus the allowed age, once that moment
/// has passed; None while fresh, or when it never loaded (the card says "never synced").
pub fn stale_since(schedule: &str, fresh_as_of: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let deadline = fresh_as_of? + schedule::stale_after(schedule);
    (deadline < now).then_some(deadline)
}

pub fn run_to_proto(run: &DagRun) -> pb::DagRun {
    let DagRun { run_id, state, started_at, ended_at, logical_date, run_after: _, run_type, note } = run;
    pb::DagRun {
        run_id: run_id.clone(),
        state: run_state(state) as i32,
        started_at: opt_timestamp(*started_at),
        ended_at: opt_timestamp(*ended_at),
        logical_date: logical_date.map(timestamp),
        // Airflow 2 says dataset_triggered for what Airflow 3 calls asset_triggered.
        run_type: if run_type == "dataset_triggered" { "asset_triggered".into() } else { run_type.clone() },
        note: note.clone(),
    }
}

fn run_state(state: &str) -> pb::DagRunState {
    match state {
        "queued" => pb::DagRunState::Queued,
        "running" => pb::DagRunState::Running,
        "success" => pb::DagRunState::Success,
        "failed" => pb::DagRunState::Failed,
        _ => pb::DagRunState::Unspecified,
    }
}

/// The first paragraph of Markdown as one line of plain text.
fn first_paragraph(markdown: &str) -> String {
    let paragraph: Vec<&str> = markdown.trim().lines().map(str::trim).take_while(|line| !line.is_empty()).collect();
    paragraph.join(" ").replace("**", "").replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn stale_after_two_intervals_or_48_hours() {
        let now = Utc::now();
        let daily = "0 3 * * *";
        assert_eq!(stale_since(daily, Some(now - Duration::hours(47)), now), None);
        let last = now - Duration::hours(50);
        assert_eq!(stale_since(daily, Some(last), now), Some(last + Duration::days(2)));
        assert_eq!(stale_since("", Some(last), now), Some(last + Duration::hours(48)));
        assert_eq!(stale_since("*/15 * * * *", Some(now - Duration::minutes(20)), now), None);
        assert!(stale_since("*/15 * * * *", Some(now - Duration::minutes(31)), now).is_some());
        assert_eq!(stale_since(daily, None, now), None);
    }

    #[test]
    fn first_paragraph_of_doc_md() {
        let doc = "\nCopies the snapshot (`X` in `Y`)\ninto `public.users`: **stage** → publish.\n\nMore.";
        assert_eq!(first_paragraph(doc), "Copies the snapshot (X in Y) into public.users: stage → publish.");
    }
}
