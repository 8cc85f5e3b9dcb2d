"""DAG cdp_users_load: the marketplace's users snapshot into public.users (docs/etl.md)."""

import os
import sys

DAGS_DIR = os.path.dirname(os.path.abspath(__file__))
if DAGS_DIR not in sys.path:  # Airflow 2 and 3's dag-processor add it; a plain 3.3 DagBag does not
    sys.path.insert(0, DAGS_DIR)

from cdp_etl_airflow import load_dag  # noqa: E402

dag = load_dag(
    dag_id="cdp_users_load",
    source="users",
    schedule=os.environ.get("CDP_ETL_USERS_SCHEDULE", "0 3 * * *"),
    doc_md="""
Copies the marketplace's user snapshot (`CDP_ETL_SOURCE_RELATION` in `CDP_ETL_SOURCE_DSN`)
into `public.users`: **stage** (COPY out to the staging area) → **validate** (row count vs the
previous batch, null/duplicate user_id, date order, null rates; fails the run and marks the
batch failed) → **publish** (chunked upsert, batch `succeeded` in the same transaction).
""",
)
