"""Airflow wiring shared by the CDP DAGs: every load is four PythonOperator tasks,
begin_batch → stage → validate → publish, each calling one step of `cdp_etl.pipeline`.

Written to import under Airflow 2.10 and 3.x: `schedule=` (never `schedule_interval=`),
`from airflow import DAG`, PythonOperator from the standard provider (3.x) or its 2.x home,
and plain `**context` callables (no TaskFlow). Listed in .airflowignore: not a DAG file.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow import DAG

try:  # Airflow 3.x (and 2.x with apache-airflow-providers-standard installed)
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2.10
    from airflow.operators.python import PythonOperator

try:  # Airflow 3.x (airflow.exceptions still has it there, deprecated)
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.10
    from airflow.exceptions import AirflowSkipException

from cdp_etl import pipeline
from cdp_etl.config import EtlConfig

log = logging.getLogger(__name__)

START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
BEGIN, STAGE, VALIDATE, PUBLISH = "begin_batch", "stage", "validate", "publish"


def run_context(context: dict) -> pipeline.RunContext:
    """The run's id, conf and reference time, read the same way under 2.10 and 3.x.

    Scheduled runs: the end of the data interval (2.x) or the logical date (3.x cron
    timetables), i.e. the scheduled time. Manual runs in 3.x may have neither (logical_date
    null), so the time the run was queued for (`run_after`) or now is used.
    """
    dag_run = context.get("dag_run")
    reference = None
    for key in ("data_interval_end", "logical_date"):
        try:
            reference = context.get(key)
        except Exception:  # 3.x raises on some keys of runs without a logical date
            reference = None
        if reference is not None:
            break
    if reference is None:
        reference = getattr(dag_run, "run_after", None) or dt.datetime.now(dt.timezone.utc)
    conf = dict(getattr(dag_run, "conf", None) or {})
    return pipeline.RunContext(run_id=context.get("run_id"), reference_time=reference, conf=conf)


def _batch_id(context: dict) -> int:
    value = context["ti"].xcom_pull(task_ids=BEGIN)
    if value is None:
        raise RuntimeError(f"task {BEGIN} left no batch id")
    return int(value)


def _begin(source: str, **context):
    try:
        return pipeline.begin(EtlConfig.from_env(), source, run_context(context))
    except pipeline.NotConfigured as exc:
        log.warning("%s load skipped: %s", source, exc)
        raise AirflowSkipException(str(exc)) from exc


def _stage(source: str, **context):
    return pipeline.stage(EtlConfig.from_env(), source, _batch_id(context), run_context(context))


def _validate(source: str, **context):
    return pipeline.validate(EtlConfig.from_env(), source, _batch_id(context))


def _publish(source: str, **context):
    return pipeline.publish(EtlConfig.from_env(), source, _batch_id(context))


def load_dag(dag_id: str, source: str, schedule: str, doc_md: str) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # one batch per source at a time (batches.begin relies on it)
        tags=["cdp", "etl", source],
        doc_md=doc_md,
        default_args={"owner": "cdp", "retries": 0},
    ) as dag:
        kwargs = {"source": source}
        begin = PythonOperator(task_id=BEGIN, python_callable=_begin, op_kwargs=kwargs)
        stage = PythonOperator(task_id=STAGE, python_callable=_stage, op_kwargs=kwargs)
        validate = PythonOperator(task_id=VALIDATE, python_callable=_validate, op_kwargs=kwargs)
        publish = PythonOperator(task_id=PUBLISH, python_callable=_publish, op_kwargs=kwargs)
        begin >> stage >> validate >> publish
    return dag
