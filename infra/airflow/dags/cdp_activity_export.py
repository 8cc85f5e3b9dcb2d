"""DAG cdp_activity_export: the previous day's Amplitude events into cdp.user_daily_activity."""

import os
import sys

DAGS_DIR = os.path.dirname(os.path.abspath(__file__))
if DAGS_DIR not in sys.path:  # Airflow 2 and 3's dag-processor add it; a plain 3.3 DagBag does not
    sys.path.insert(0, DAGS_DIR)

from cdp_etl_airflow import load_dag  # noqa: E402

dag = load_dag(
    dag_id="cdp_activity_export",
    source="activity",
    # Late enough that the previous day (CDP_REPORTING_TZ) plus the upload lag is exportable.
    schedule=os.environ.get("CDP_ETL_ACTIVITY_SCHEDULE", "0 5 * * *"),
    doc_md="""
Exports the previous reporting day from Amplitude's Export API and aggregates it per user and
day into `cdp.user_daily_activity` (sessions, session seconds, events, listings, paid listings,
transactions, credits): **stage** → **validate** → **publish** (the day is replaced).
`dag_run.conf = {"day": "YYYY-MM-DD"}` re-loads a given day.
""",
)
