"""`cdp.ingestion_batches`: one row per load, the ETL's signal to the CDP.

A batch starts `running`, and ends either `succeeded` (committed in the same transaction as
the published rows, so a reader never sees a succeeded batch without its data) or `failed`
(with the validation result and an error). The CDP worker reacts to finished succeeded
batches (docs/etl.md); a `pg_notify('cdp_ingestion', …)` on success is a latency hint only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import psycopg
from psycopg.types.json import Jsonb

SOURCES = ("users", "activity", "identities")
NOTIFY_CHANNEL = "cdp_ingestion"


@dataclass(frozen=True)
class Baseline:
    """The previous succeeded batch of a source, the reference of the row-count check."""

    batch_id: int
    rows: int


def begin(conn: psycopg.Connection, source: str, dag_run_id: Optional[str]) -> int:
    """Opens a `running` batch and closes any batch of the source left `running` by a dead run."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO cdp.ingestion_batches (source, dag_run_id, status) VALUES (%s, %s, 'running') "
            "RETURNING id",
            (source, dag_run_id),
        )
        (batch_id,) = cur.fetchone()
        # The DAGs run one at a time per source (max_active_runs=1), so an older running batch
        # belongs to a run that died without reaching its failure handling.
        cur.execute(
            "UPDATE cdp.ingestion_batches SET status = 'failed', finished_at = now(), "
            "error = format('abandoned: still running when batch %%s of the same source began', %s::bigint) "
            "WHERE source = %s AND status = 'running' AND id < %s",
            (batch_id, source, batch_id),
        )
    return batch_id


def get(conn: psycopg.Connection, batch_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, source, dag_run_id, rows, status, validation, error "
            "FROM cdp.ingestion_batches WHERE id = %s",
            (batch_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise LookupError(f"ingestion batch {batch_id} does not exist")
        names = [d.name for d in cur.description]
        return dict(zip(names, row))


def set_rows(conn: psycopg.Connection, batch_id: int, rows: int) -> None:
    with conn.transaction():
        conn.execute("UPDATE cdp.ingestion_batches SET rows = %s WHERE id = %s", (rows, batch_id))


def record_validation(conn: psycopg.Connection, batch_id: int, validation: dict) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE cdp.ingestion_batches SET validation = %s WHERE id = %s",
            (Jsonb(validation), batch_id),
        )


def mark_failed(conn: psycopg.Connection, batch_id: int, error: str, validation: Optional[dict] = None) -> None:
    """Ends a running batch as failed; keeps a validation result already recorded unless given
    one. A batch that already ended keeps its record."""
    with conn.transaction():
        conn.execute(
            "UPDATE cdp.ingestion_batches SET status = 'failed', finished_at = now(), error = %s, "
            "validation = coalesce(%s, validation) WHERE id = %s AND status = 'running'",
            (error[:10_000], Jsonb(validation) if validation is not None else None, batch_id),
        )


def mark_succeeded_in(cur: psycopg.Cursor, batch_id: int, rows: int, publish_stats: dict) -> None:
    """Ends the batch as succeeded inside the caller's publishing transaction."""
    cur.execute(
        "UPDATE cdp.ingestion_batches SET status = 'succeeded', finished_at = now(), rows = %s, error = NULL, "
        "validation = coalesce(validation, '{}'::jsonb) || jsonb_build_object('published', %s::jsonb) "
        "WHERE id = %s AND status = 'running' RETURNING source",
        (rows, Jsonb(publish_stats), batch_id),
    )
    row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"batch {batch_id} is no longer running; refusing to publish it")
    # Delivered on commit; the worker also polls, since a notification with no listener is lost.
    cur.execute(
        "SELECT pg_notify(%s, %s)",
        (NOTIFY_CHANNEL, json.dumps({"batch_id": batch_id, "source": row[0], "rows": rows})),
    )


def previous_succeeded(conn: psycopg.Connection, source: str, before_batch_id: int) -> Optional[Baseline]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, rows FROM cdp.ingestion_batches "
            "WHERE source = %s AND status = 'succeeded' AND id < %s ORDER BY id DESC LIMIT 1",
            (source, before_batch_id),
        )
        row = cur.fetchone()
        return None if row is None else Baseline(batch_id=row[0], rows=row[1])
