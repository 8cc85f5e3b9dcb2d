"""Loads the CDP DAG folder in the Airflow this interpreter has (2.10 or 3.x) and checks it.

Always: `DagBag(dag_folder=..., include_examples=False)` (that argument where the version still
has it) has no import error and exactly the
three CDP DAGs, each with begin_batch → stage → validate → publish (publish only after
validate). With --run (check-dagbag.sh passes it), also runs the DAGs for real with
`dag.test()` against fresh databases on the real PostgreSQL and the local Amplitude server:
a good users snapshot succeeds, a broken one fails at validate and publishes nothing, the
activity DAG loads the day given in the run's conf, and the identities DAG with no source
configured is skipped without a batch. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = {
    "cdp_users_load": "users",
    "cdp_activity_export": "activity",
    "cdp_identities_refresh": "identities",
}
TASKS = ["begin_batch", "stage", "validate", "publish"]


def load_dagbag(dags: str):
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.x, 3.0
        from airflow.models.dagbag import DagBag
    import inspect

    kwargs = {"dag_folder": dags}
    # 2.x and 3.0-3.2 take include_examples; 3.3 dropped it (examples are a bundle of their
    # own there, kept off by AIRFLOW__CORE__LOAD_EXAMPLES=False).
    if "include_examples" in inspect.signature(DagBag.__init__).parameters:
        kwargs["include_examples"] = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(**kwargs)
    ours = [f"{w.category.__name__}: {w.message}" for w in caught if dags in str(getattr(w, "filename", ""))]
    # Airflow 2.9+ also captures warnings per DAG file itself.
    for path, messages in (getattr(bag, "captured_warnings", None) or {}).items():
        if dags in str(path):
            ours += [str(m) for m in messages]
    return bag, ours


def check_structure(bag) -> list[str]:
    problems = []
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            problems.append(f"import error in {path}:\n{error}")
    if set(bag.dags) != set(EXPECTED):
        problems.append(f"DAG ids {sorted(bag.dags)} != expected {sorted(EXPECTED)}")
    for dag_id in EXPECTED:
        dag = bag.dags.get(dag_id)
        if dag is None:
            continue
        tasks = {t.task_id: t for t in dag.tasks}
        if sorted(tasks) != sorted(TASKS):
            problems.append(f"{dag_id}: tasks {sorted(tasks)} != {sorted(TASKS)}")
            continue
        for upstream, downstream in zip(TASKS, TASKS[1:]):
            if tasks[downstream].upstream_task_ids != {upstream}:
                problems.append(f"{dag_id}: {downstream} must run only after {upstream}, "
                                f"has upstream {sorted(tasks[downstream].upstream_task_ids)}")
        if "validate" not in tasks:
            problems.append(f"{dag_id}: no validation task")
        if getattr(dag, "catchup", None) is not False or getattr(dag, "max_active_runs", None) != 1:
            problems.append(f"{dag_id}: expected catchup=False and max_active_runs=1")
    return problems


def task_states(dag_run) -> dict:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def run_state(dag_run) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


def check_runs(bag) -> list[str]:
    """Real runs through Airflow's own executor path (dag.test), one per scenario."""
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(HERE, "..", "dags"))
    import psycopg

    from support import marketplace, pg
    from support.events import DAY, at, event
    from support.fake_amplitude import FakeAmplitude

    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)
        print(("  ok   " if condition else "  FAIL ") + message)

    cdp_dsn = pg.create_cdp_database("cdp_dagbag")
    source_dsn = pg.create_database("cdp_dagbag_source")
    amplitude = FakeAmplitude().start()
    staging_dir = tempfile.mkdtemp(prefix="cdp-dagbag-staging-")
    saved_env = dict(os.environ)
    try:
        marketplace.create_source_table(source_dsn, cdp_dsn)
        marketplace.insert_users(source_dsn, marketplace.generate_users(200))
        os.environ.update({
            "CDP_ETL_DSN": cdp_dsn,
            "CDP_ETL_SOURCE_DSN": source_dsn,
            "CDP_ETL_SOURCE_RELATION": marketplace.SOURCE_RELATION,
            "CDP_ETL_STAGING_DIR": staging_dir,
            "AMPLITUDE_API_KEY": amplitude.api_key,
            "AMPLITUDE_SECRET_KEY": amplitude.secret_key,
            "AMPLITUDE_API_BASE_URL": amplitude.base_url,
        })

        def batches():
            return pg.rows(cdp_dsn, "SELECT source, status, rows, error FROM cdp.ingestion_batches ORDER BY id")

        def users_count():
            return pg.one(cdp_dsn, "SELECT count(*) FROM public.users")[0]

        users = bag.dags["cdp_users_load"]
        dr = users.test()
        expect(run_state(dr) == "success", f"cdp_users_load good snapshot: run {run_state(dr)}, tasks {task_states(dr)}")
        expect(batches()[-1][:3] == ("users", "succeeded", 200), f"users batch succeeded with 200 rows: {batches()[-1]}")
        expect(users_count() == 200, "public.users holds the 200 users")

        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {marketplace.SOURCE_RELATION} SELECT * FROM {marketplace.SOURCE_RELATION} "
                         "WHERE user_id = 5")
            conn.execute(f"UPDATE {marketplace.SOURCE_RELATION} SET current_credits_in_wallet = 0")
        dr = users.test()
        states = task_states(dr)
        expect(run_state(dr) == "failed", f"cdp_users_load duplicate key: run {run_state(dr)}")
        expect(states.get("stage") == "success" and states.get("validate") == "failed"
               and states.get("publish") == "upstream_failed", f"validate failed, publish never ran: {states}")
        last = batches()[-1]
        expect(last[:2] == ("users", "failed") and "duplicate_key" in (last[3] or ""),
               f"users batch failed with the validation error: {last[:2]} {str(last[3])[:120]}")
        expect(pg.one(cdp_dsn, "SELECT count(*) FROM public.users WHERE current_credits_in_wallet = 0")[0] == 0,
               "public.users unchanged by the broken batch")

        day = DAY
        for user_id in range(1, 6):
            amplitude.upload(event(str(user_id), "listing_posted", at(day, 10, user_id), 1, is_paid=True),
                             at(day, 10, user_id, 30))
        activity = bag.dags["cdp_activity_export"]
        dr = activity.test(run_conf={"day": day.isoformat()})
        expect(run_state(dr) == "success", f"cdp_activity_export for {day}: run {run_state(dr)}, tasks {task_states(dr)}")
        rows = pg.rows(cdp_dsn, "SELECT user_id, listings_posted, paid_listings FROM cdp.user_daily_activity "
                                "WHERE day = %s ORDER BY user_id", (day,))
        expect(rows == [(u, 1, 1) for u in range(1, 6)], f"activity rows of {day}: {rows}")
        expect([r.query for r in amplitude.export_requests()] ==
               [{"start": day.strftime("%Y%m%dT00"), "end": (day + dt.timedelta(days=1)).strftime("%Y%m%dT01")}],
               "one Export API request for the conf day's window")

        for key in ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "AMPLITUDE_API_BASE_URL"):
            os.environ.pop(key)
        before = len(batches())
        dr = bag.dags["cdp_identities_refresh"].test()
        states = task_states(dr)
        expect(states.get("begin_batch") == "skipped" and run_state(dr) == "success",
               f"cdp_identities_refresh with no source configured is skipped: run {run_state(dr)}, {states}")
        expect(len(batches()) == before, "no batch row for a skipped run")
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        amplitude.stop()
        pg.drop_database(cdp_dsn)
        pg.drop_database(source_dsn)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", default=os.path.join(HERE, "..", "dags"))
    parser.add_argument("--run", action="store_true", help="also run the DAGs with dag.test()")
    args = parser.parse_args()
    dags = os.path.abspath(args.dags)

    import airflow

    print(f"Airflow {airflow.__version__}: loading {dags}")
    bag, dag_warnings = load_dagbag(dags)
    problems = check_structure(bag)
    # A deprecation today is an import error in the next major version.
    problems += [f"warning raised by our DAG files: {w}" for w in dag_warnings]
    print(f"  DAGs: {sorted(bag.dags)}; import errors: {len(bag.import_errors)}")
    if args.run and not problems:
        try:
            problems += check_runs(bag)
        except Exception:
            problems.append("DAG runs raised:\n" + traceback.format_exc())
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print(f"dagbag_check (Airflow {airflow.__version__}): {'FAILED' if problems else 'passed'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
