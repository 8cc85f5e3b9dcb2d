"""DAG cdp_identities_refresh: Amplitude and Braze ids per user into cdp.identities."""

import os
import sys

DAGS_DIR = os.path.dirname(os.path.abspath(__file__))
if DAGS_DIR not in sys.path:  # Airflow 2 and 3's dag-processor add it; a plain 3.3 DagBag does not
    sys.path.insert(0, DAGS_DIR)

from cdp_etl_airflow import load_dag  # noqa: E402

dag = load_dag(
    dag_id="cdp_identities_refresh",
    source="identities",
    # After cdp_activity_export, so Braze look-ups also cover the users it just loaded.
    schedule=os.environ.get("CDP_ETL_IDENTITIES_SCHEDULE", "30 5 * * *"),
    doc_md="""
Refreshes `cdp.identities`: `amplitude_id` from the previous day's Amplitude export and
`braze_id` from Braze `/users/export/ids` for active users without one. A source that is not
configured is logged and skipped. **stage** → **validate** → **publish**.
`dag_run.conf = {"day": "YYYY-MM-DD"}` refreshes from a given day.
""",
)
