"""cdp_users_load: a good snapshot is published; a broken one fails the run, marks its batch
failed with the validation result, and leaves public.users exactly as it was."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import os
import uuid

import psycopg
import pytest

from cdp_etl import batches, db, pipeline, staging
from cdp_etl.load_users import USERS_COLUMNS
from cdp_etl.validation import ValidationFailed
from support import marketplace, pg

COLS = ", ".join(USERS_COLUMNS)


def run_ctx(**conf) -> pipeline.RunContext:
    return pipeline.RunContext(
        run_id=f"scheduled__{uuid.uuid4().hex[:8]}", reference_time=dt.datetime.now(dt.timezone.utc), conf=conf
    )


def live_users(dsn: str) -> list[tuple]:
    return pg.rows(dsn, f"SELECT {COLS} FROM public.users ORDER BY user_id")


def source_users(dsn: str) -> list[tuple]:
    return pg.rows(dsn, f"SELECT {COLS} FROM {marketplace.SOURCE_RELATION} ORDER BY user_id")


def batch_rows(dsn: str) -> list[dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM cdp.ingestion_batches ORDER BY id").fetchall()


def execute(dsn: str, statement: str, params=None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement, params)


def load_good_snapshot(cfg, count: int = 300) -> int:
    marketplace.insert_users(cfg.source_dsn, marketplace.generate_users(count))
    return pipeline.run(cfg, "users", run_ctx())


def test_users_columns_are_exactly_the_brief_table(cdp_dsn):
    columns = [r[0] for r in pg.rows(
        cdp_dsn,
        "SELECT attname FROM pg_attribute WHERE attrelid = 'public.users'::regclass "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )]
    assert columns == list(USERS_COLUMNS)
    assert len(columns) == 81


def test_good_snapshot_is_published_with_a_succeeded_batch(users_cfg):
    run = run_ctx()
    marketplace.insert_users(users_cfg.source_dsn, marketplace.generate_users(300))

    batch_id = pipeline.run(users_cfg, "users", run)

    assert live_users(users_cfg.etl_dsn) == source_users(users_cfg.source_dsn)
    (batch,) = batch_rows(users_cfg.etl_dsn)
    assert batch["id"] == batch_id
    assert (batch["source"], batch["dag_run_id"], batch["status"], batch["rows"]) == ("users", run.run_id, "succeeded", 300)
    assert batch["finished_at"] is not None and batch["error"] is None
    validation = batch["validation"]
    assert validation["passed"] is True and validation["failed_checks"] == []
    names = {c["name"] for c in validation["checks"]}
    assert {"row_count", "null_key", "duplicate_key", "null_rate:user_type",
            "date_order:first_paid_listing_date<=last_paid_listing_date",
            "date_order:first_transaction_date<=last_transaction_date",
            "date_order:user_account_creation_date<=first_paid_listing_date"} <= names
    assert validation["published"] == {"chunks": 1, "inserted": 300, "updated": 0, "unchanged": 0}
    # What was published is what was validated, and the staging area is cleaned up.
    assert validation["staged_sha256"]
    assert not os.path.exists(staging.batch_dir(users_cfg.staging_dir, "users", batch_id))


def test_values_round_trip_whatever_the_source_server_defaults(users_cfg):
    # A source configured for day-first dates and short floats must not garble the snapshot.
    with psycopg.connect(pg.ADMIN_DSN, autocommit=True) as admin:
        name = pg.dbname_of(users_cfg.source_dsn)
        admin.execute(f"ALTER DATABASE \"{name}\" SET DateStyle = 'SQL, DMY'")
        admin.execute(f"ALTER DATABASE \"{name}\" SET extra_float_digits = -3")
        admin.execute(f"ALTER DATABASE \"{name}\" SET TimeZone = 'America/Los_Angeles'")
    users = marketplace.generate_users(50)
    users[0].update(current_credits_in_wallet=1 / 3, user_type="multi\tline\nname \\ with escapes",
                    verticals_listed_in="cars,property", offer_total_percentage=0.1 + 0.2)
    marketplace.insert_users(users_cfg.source_dsn, users)

    pipeline.run(users_cfg, "users", run_ctx())

    live = live_users(users_cfg.etl_dsn)
    assert live == [tuple(u[c] for c in USERS_COLUMNS) for u in users]
    assert live[0][USERS_COLUMNS.index("current_credits_in_wallet")] == 1 / 3


def test_next_snapshot_upserts_in_chunks_and_skips_unchanged_rows(users_cfg):
    cfg = dataclasses.replace(users_cfg, chunk_rows=64)
    load_good_snapshot(cfg, 300)
    execute(cfg.source_dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET current_credits_in_wallet = 1234.5 "
                            "WHERE user_id <= 20")
    marketplace.insert_users(cfg.source_dsn, marketplace.generate_users(10, seed=99, first_id=301))

    batch_id = pipeline.run(cfg, "users", run_ctx())

    assert live_users(cfg.etl_dsn) == source_users(cfg.source_dsn)
    batch = batch_rows(cfg.etl_dsn)[-1]
    assert batch["id"] == batch_id and batch["status"] == "succeeded" and batch["rows"] == 310
    assert batch["validation"]["published"] == {"chunks": 5, "inserted": 10, "updated": 20, "unchanged": 280}
    row_count = next(c for c in batch["validation"]["checks"] if c["name"] == "row_count")
    assert row_count["details"]["baseline_rows"] == 300


def _duplicate_key(dsn):
    execute(dsn, f"INSERT INTO {marketplace.SOURCE_RELATION} SELECT * FROM {marketplace.SOURCE_RELATION} "
                 "WHERE user_id = 17")
    execute(dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET current_credits_in_wallet = -1 "
                 "WHERE ctid = (SELECT max(ctid) FROM public.marketplace_users WHERE user_id = 17)")


def _null_id(dsn):
    execute(dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET user_id = NULL WHERE user_id = 42")


def _paid_listing_dates_reversed(dsn):
    execute(dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET first_paid_listing_date = last_paid_listing_date + interval '1 day' "
                 "WHERE user_id = (SELECT min(user_id) FROM public.marketplace_users WHERE last_paid_listing_date IS NOT NULL)")


def _transaction_dates_reversed(dsn):
    execute(dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET last_transaction_date = first_transaction_date - interval '1 hour' "
                 "WHERE user_id IN (SELECT user_id FROM public.marketplace_users WHERE first_transaction_date IS NOT NULL "
                 "ORDER BY user_id LIMIT 3)")


def _created_after_first_paid_listing(dsn):
    execute(dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET user_account_creation_date = first_paid_listing_date + interval '2 days' "
                 "WHERE user_id = (SELECT max(user_id) FROM public.marketplace_users WHERE first_paid_listing_date IS NOT NULL)")


def _row_count_collapse(dsn):
    execute(dsn, f"DELETE FROM {marketplace.SOURCE_RELATION} WHERE user_id > 120")  # 120 of 300 = 40%


def _user_type_mostly_null(dsn):
    execute(dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET user_type = NULL WHERE user_id % 5 = 0")  # 20%


BROKEN = {
    "duplicate_key": (_duplicate_key, "duplicate_key"),
    "null_id": (_null_id, "null_key"),
    "paid_listing_dates_out_of_order": (_paid_listing_dates_reversed, "date_order:first_paid_listing_date<=last_paid_listing_date"),
    "transaction_dates_out_of_order": (_transaction_dates_reversed, "date_order:first_transaction_date<=last_transaction_date"),
    "account_created_after_first_paid_listing": (_created_after_first_paid_listing, "date_order:user_account_creation_date<=first_paid_listing_date"),
    "row_count_collapse": (_row_count_collapse, "row_count"),
    "null_rate_over_threshold": (_user_type_mostly_null, "null_rate:user_type"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_snapshot_fails_the_run_and_leaves_users_unchanged(users_cfg, case):
    break_source, failing_check = BROKEN[case]
    load_good_snapshot(users_cfg, 300)
    before = live_users(users_cfg.etl_dsn)
    break_source(users_cfg.source_dsn)
    # Also change a valid row, so "unchanged" proves nothing of the broken batch was published.
    execute(users_cfg.source_dsn, f"UPDATE {marketplace.SOURCE_RELATION} SET is_block = 1 - is_block WHERE user_id = 1")

    run = run_ctx()
    batch_id = pipeline.begin(users_cfg, "users", run)
    pipeline.stage(users_cfg, "users", batch_id, run)
    with pytest.raises(ValidationFailed) as failure:
        pipeline.validate(users_cfg, "users", batch_id)
    # The DAG stops here (publish is downstream of validate). Running publish, or validate
    # again, on the finished batch is refused and leaves its record as it is.
    with pytest.raises(RuntimeError, match="already failed"):
        pipeline.publish(users_cfg, "users", batch_id)
    with pytest.raises(RuntimeError, match="already failed"):
        pipeline.validate(users_cfg, "users", batch_id)

    assert live_users(users_cfg.etl_dsn) == before
    batch = batch_rows(users_cfg.etl_dsn)[-1]
    assert batch["id"] == batch_id and batch["status"] == "failed" and batch["finished_at"] is not None
    assert batch["validation"]["passed"] is False
    assert failing_check in batch["validation"]["failed_checks"]
    assert failing_check in batch["error"] and str(failure.value) in batch["error"]
    assert "published" not in batch["validation"]
    assert not os.path.exists(staging.batch_dir(users_cfg.staging_dir, "users", batch_id))


def test_failed_checks_name_the_offending_rows(users_cfg):
    load_good_snapshot(users_cfg, 300)
    _duplicate_key(users_cfg.source_dsn)
    _null_id(users_cfg.source_dsn)

    with pytest.raises(ValidationFailed):
        pipeline.run(users_cfg, "users", run_ctx())

    validation = batch_rows(users_cfg.etl_dsn)[-1]["validation"]
    checks = {c["name"]: c for c in validation["checks"]}
    assert checks["duplicate_key"]["details"]["duplicated_keys"] == 1
    assert checks["duplicate_key"]["details"]["sample"] == ["17"]
    assert checks["null_key"]["details"]["count"] == 1
    assert checks["row_count"]["passed"] is True


def test_first_load_is_compared_with_the_live_table(users_cfg):
    # public.users already loaded (as in production, or by `cdp seed`) but no batch yet.
    rows = marketplace.generate_users(500)
    marketplace.insert_users(users_cfg.source_dsn, rows)
    marketplace.insert_users(users_cfg.etl_dsn, rows, relation="public.users")
    execute(users_cfg.source_dsn, f"DELETE FROM {marketplace.SOURCE_RELATION} WHERE user_id > 100")

    with pytest.raises(ValidationFailed, match="row_count"):
        pipeline.run(users_cfg, "users", run_ctx())
    assert len(live_users(users_cfg.etl_dsn)) == 500


def test_stage_failure_marks_the_batch_failed(users_cfg):
    execute(users_cfg.source_dsn, f"ALTER TABLE {marketplace.SOURCE_RELATION} DROP COLUMN offer_total_percentage")
    run = run_ctx()
    batch_id = pipeline.begin(users_cfg, "users", run)

    with pytest.raises(psycopg.errors.UndefinedColumn):
        pipeline.stage(users_cfg, "users", batch_id, run)

    batch = batch_rows(users_cfg.etl_dsn)[-1]
    assert batch["status"] == "failed"
    assert batch["error"].startswith("stage failed: UndefinedColumn") and "offer_total_percentage" in batch["error"]


def test_publish_refuses_a_batch_that_was_not_validated(users_cfg):
    marketplace.insert_users(users_cfg.source_dsn, marketplace.generate_users(40))
    run = run_ctx()
    batch_id = pipeline.begin(users_cfg, "users", run)
    pipeline.stage(users_cfg, "users", batch_id, run)

    with pytest.raises(RuntimeError, match="has not passed validation"):
        pipeline.publish(users_cfg, "users", batch_id)

    assert live_users(users_cfg.etl_dsn) == []
    batch = batch_rows(users_cfg.etl_dsn)[-1]
    assert batch["status"] == "failed" and "has not passed validation" in batch["error"]


def test_a_staged_file_changed_after_validation_is_not_published(users_cfg):
    marketplace.insert_users(users_cfg.source_dsn, marketplace.generate_users(40))
    run = run_ctx()
    batch_id = pipeline.begin(users_cfg, "users", run)
    pipeline.stage(users_cfg, "users", batch_id, run)
    pipeline.validate(users_cfg, "users", batch_id)
    staged = staging.read(users_cfg.staging_dir, "users", batch_id)
    with open(staged.rows_path, "ab") as handle:  # e.g. another writer on the shared volume
        handle.write(gzip.compress(b"999\n"))

    with pytest.raises(staging.StagingError, match="changed after staging"):
        pipeline.publish(users_cfg, "users", batch_id)
    assert live_users(users_cfg.etl_dsn) == []
    assert batch_rows(users_cfg.etl_dsn)[-1]["status"] == "failed"


def test_a_batch_left_running_by_a_dead_run_is_closed_by_the_next(users_cfg):
    marketplace.insert_users(users_cfg.source_dsn, marketplace.generate_users(50))
    dead = pipeline.begin(users_cfg, "users", run_ctx())

    pipeline.run(users_cfg, "users", run_ctx())

    batches_by_id = {b["id"]: b for b in batch_rows(users_cfg.etl_dsn)}
    assert batches_by_id[dead]["status"] == "failed"
    assert batches_by_id[dead]["error"].startswith("abandoned")


def test_writes_go_through_cdp_etl_for_a_member_login(users_cfg):
    login = f"etl_login_{uuid.uuid4().hex[:8]}"
    outsider = f"not_etl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE cdp_etl')
        admin.execute(f'CREATE ROLE "{outsider}" LOGIN')
    try:
        cfg = dataclasses.replace(users_cfg, etl_dsn=pg.dsn_for(pg.dbname_of(users_cfg.etl_dsn), user=login))
        with db.connect_etl(cfg.etl_dsn) as conn:
            assert conn.execute("SELECT current_user, session_user").fetchone() == ("cdp_etl", login)
            # cdp_etl holds only the ETL grants: it cannot touch CDP-owned tables.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM cdp.jobs")
        load_good_snapshot(cfg, 80)
        assert len(live_users(cfg.etl_dsn)) == 80

        stranger = dataclasses.replace(cfg, etl_dsn=pg.dsn_for(pg.dbname_of(cfg.etl_dsn), user=outsider))
        with pytest.raises(db.RoleError, match="not a member of 'cdp_etl'"):
            pipeline.begin(stranger, "users", run_ctx())
    finally:
        with psycopg.connect(pg.ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN ('{login}', '{outsider}')")
            admin.execute(f'DROP ROLE IF EXISTS "{login}"')
            admin.execute(f'DROP ROLE IF EXISTS "{outsider}"')


def test_without_a_source_the_load_is_not_configured(cfg):
    with pytest.raises(pipeline.NotConfigured, match="CDP_ETL_SOURCE_DSN"):
        pipeline.begin(cfg, "users", run_ctx())
    assert batch_rows(cfg.etl_dsn) == []


def test_batches_record_the_previous_succeeded_batch_as_baseline(users_cfg):
    first = load_good_snapshot(users_cfg, 100)
    with psycopg.connect(users_cfg.etl_dsn, autocommit=True) as conn:
        conn.execute("SET ROLE cdp_etl")
        assert batches.previous_succeeded(conn, "users", first + 1) == batches.Baseline(first, 100)
        assert batches.previous_succeeded(conn, "activity", first + 1) is None


def test_the_command_line_runs_the_same_load(users_cfg, monkeypatch):
    from cdp_etl.__main__ import main

    marketplace.insert_users(users_cfg.source_dsn, marketplace.generate_users(25))
    for key in list(os.environ):
        if key.startswith(("CDP_", "AMPLITUDE_", "BRAZE_")):
            monkeypatch.delenv(key)
    assert main(["users"]) == 2  # no CDP_ETL_DSN
    monkeypatch.setenv("CDP_ETL_DSN", users_cfg.etl_dsn)
    monkeypatch.setenv("CDP_ETL_STAGING_DIR", users_cfg.staging_dir)
    assert main(["users"]) == 3  # no source configured
    monkeypatch.setenv("CDP_ETL_SOURCE_DSN", users_cfg.source_dsn)
    monkeypatch.setenv("CDP_ETL_SOURCE_RELATION", marketplace.SOURCE_RELATION)

    assert main(["users", "--run-id", "backfill-1"]) == 0

    assert len(live_users(users_cfg.etl_dsn)) == 25
    assert batch_rows(users_cfg.etl_dsn)[-1]["dag_run_id"] == "backfill-1"
