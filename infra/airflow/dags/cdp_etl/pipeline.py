"""The four steps every load runs, one Airflow task each: begin → stage → validate → publish.

The steps own the batch bookkeeping (a failure in any step marks the batch `failed` with the
error before re-raising); the per-source modules (load_users, activity, identities) only say
how to stage, what to check and how to publish.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Optional, Protocol, Sequence

import psycopg
from psycopg import sql

from . import batches, db, staging
from .config import EtlConfig
from .validation import Check, ValidationFailed, summarize

log = logging.getLogger(__name__)


class NotConfigured(RuntimeError):
    """The integration a load needs is not configured; the DAG reports the run as skipped."""


@dataclass(frozen=True)
class RunContext:
    """What a load needs to know about the Airflow run that drives it."""

    run_id: Optional[str]
    # When the run is about: the end of its data interval, or when it was triggered.
    reference_time: dt.datetime
    conf: dict = field(default_factory=dict)

    def target_day(self, cfg: EtlConfig) -> dt.date:
        """The reporting-time-zone day a daily export covers: `conf.day`, else the day before."""
        raw = self.conf.get("day")
        if raw:
            try:
                return dt.date.fromisoformat(str(raw))
            except ValueError as exc:
                raise ValueError(f"dag_run.conf.day={raw!r} is not a YYYY-MM-DD date") from exc
        reference = self.reference_time
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=dt.timezone.utc)
        return reference.astimezone(cfg.tz).date() - dt.timedelta(days=1)


class Load(Protocol):
    source: str
    # Columns of the staged file, in order; the staged temp table has exactly these.
    staged_columns: Sequence[str]

    def require_config(self, cfg: EtlConfig) -> None: ...

    def stage(self, cfg: EtlConfig, conn: psycopg.Connection, batch_id: int, run: RunContext) -> staging.StagedBatch: ...

    def create_staged_table(self, cur: psycopg.Cursor, table: str) -> None: ...

    def checks(
        self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch, baseline: Optional[batches.Baseline]
    ) -> list[Check]: ...

    def publish(self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch) -> dict: ...


def load_for(source: str) -> Load:
    from .activity import ActivityLoad
    from .identities import IdentitiesLoad
    from .load_users import UsersLoad

    loads = {"users": UsersLoad(), "activity": ActivityLoad(), "identities": IdentitiesLoad()}
    try:
        return loads[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}") from None


def begin(cfg: EtlConfig, source: str, run: RunContext) -> int:
    load = load_for(source)
    load.require_config(cfg)
    with db.connect_etl(cfg.etl_dsn) as conn:
        batch_id = batches.begin(conn, source, run.run_id)
    log.info("%s: batch %s began (dag run %s)", source, batch_id, run.run_id)
    return batch_id


def stage(cfg: EtlConfig, source: str, batch_id: int, run: RunContext) -> dict:
    load = load_for(source)
    with db.connect_etl(cfg.etl_dsn) as conn:
        _require_running(conn, batch_id)
        try:
            staged = load.stage(cfg, conn, batch_id, run)
            batches.set_rows(conn, batch_id, staged.rows)
        except BaseException as exc:
            _fail(cfg, conn, source, batch_id, f"stage failed: {type(exc).__name__}: {exc}")
            raise
    log.info("%s: batch %s staged %s rows in %s", source, batch_id, staged.rows, staged.directory)
    return {"rows": staged.rows, "sha256": staged.sha256}


def validate(cfg: EtlConfig, source: str, batch_id: int) -> dict:
    load = load_for(source)
    with db.connect_etl(cfg.etl_dsn) as conn:
        _require_running(conn, batch_id)
        try:
            staged = staging.read(cfg.staging_dir, source, batch_id)
            baseline = batches.previous_succeeded(conn, source, batch_id)
            table = f"staged_{source}"
            with conn.transaction(), conn.cursor() as cur:
                _load_staged(load, cur, table, staged)
                checks = load.checks(cfg, cur, table, staged, baseline)
            scope = {k: staged.manifest[k] for k in ("day", "window") if k in staged.manifest}
            result = summarize(
                source, checks, scope=scope, staged_rows=staged.rows, staged_sha256=staged.sha256,
                stage_stats=staged.manifest.get("stats", {}),
            )
            batches.record_validation(conn, batch_id, result)
        except BaseException as exc:
            _fail(cfg, conn, source, batch_id, f"validate failed: {type(exc).__name__}: {exc}")
            raise
        if not result["passed"]:
            failure = ValidationFailed(result)
            _fail(cfg, conn, source, batch_id, str(failure), validation=result)
            raise failure
    log.info("%s: batch %s passed validation: %s", source, batch_id, [c.name for c in checks])
    return {"passed": True, "checks": len(checks)}


def publish(cfg: EtlConfig, source: str, batch_id: int) -> dict:
    load = load_for(source)
    with db.connect_etl(cfg.etl_dsn) as conn:
        batch = _require_running(conn, batch_id)
        try:
            validation = batch["validation"] or {}
            if not validation.get("passed"):
                raise RuntimeError(f"batch {batch_id} has not passed validation; not publishing it")
            staged = staging.read(cfg.staging_dir, source, batch_id)
            if staged.sha256 != validation.get("staged_sha256"):
                raise staging.StagingError("the staged file is not the one that was validated")
            table = f"staged_{source}"
            with conn.transaction(), conn.cursor() as cur:
                _load_staged(load, cur, table, staged)
                stats = load.publish(cfg, cur, table, staged)
                batches.mark_succeeded_in(cur, batch_id, staged.rows, stats)
        except BaseException as exc:
            _fail(cfg, conn, source, batch_id, f"publish failed: {type(exc).__name__}: {exc}")
            raise
    staging.remove(cfg.staging_dir, source, batch_id)
    log.info("%s: batch %s published: %s", source, batch_id, stats)
    return stats


def run(cfg: EtlConfig, source: str, context: RunContext) -> int:
    """All four steps in one process (tests, and `python -m cdp_etl` outside Airflow)."""
    batch_id = begin(cfg, source, context)
    stage(cfg, source, batch_id, context)
    validate(cfg, source, batch_id)
    publish(cfg, source, batch_id)
    return batch_id


def _require_running(conn: psycopg.Connection, batch_id: int) -> dict:
    """A finished batch keeps its record: re-running one task of a finished run is refused
    (clear the run from begin_batch, or trigger a new run, to load again)."""
    batch = batches.get(conn, batch_id)
    if batch["status"] != "running":
        raise RuntimeError(
            f"batch {batch_id} is already {batch['status']}; clear the run from begin_batch "
            "(or trigger a new run) to load again"
        )
    return batch


def _load_staged(load: Load, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch) -> None:
    """COPYs the staged file into a temporary table that lives until the transaction ends."""
    load.create_staged_table(cur, table)
    db.copy_file_into(cur, table, list(load.staged_columns), staged.rows_path)
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def _fail(cfg: EtlConfig, conn: psycopg.Connection, source: str, batch_id: int, error: str, validation: Optional[dict] = None) -> None:
    log.error("%s: batch %s failed: %s", source, batch_id, error)
    try:
        batches.mark_failed(conn, batch_id, error, validation)
    except Exception:  # the original error matters more; the next begin() closes the batch anyway
        log.exception("%s: could not mark batch %s failed", source, batch_id)
    if not cfg.keep_failed_staging:
        staging.remove(cfg.staging_dir, source, batch_id)
