"""Checks run on a staged batch before it is published.

Each check returns a `Check` (name, passed, details with a sample of offending keys). A load's
validate step runs its checks over the temporary table it COPYed the staged file into, writes
the result JSON to the batch row, and on any failed check marks the batch failed and raises
`ValidationFailed`, which fails the Airflow task and so the run; publish never runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import psycopg
from psycopg import sql

from .batches import Baseline

SAMPLE_SIZE = 10


@dataclass
class Check:
    name: str
    passed: bool
    details: dict = field(default_factory=dict)


class ValidationFailed(RuntimeError):
    """The staged batch broke at least one rule; `result` is what the batch row records."""

    def __init__(self, result: dict):
        self.result = result
        super().__init__(error_message(result))


def summarize(source: str, checks: Sequence[Check], scope: Optional[dict] = None, **extra) -> dict:
    failed = [c.name for c in checks if not c.passed]
    result = {
        "source": source,
        "passed": not failed,
        "failed_checks": failed,
        "checks": [asdict(c) for c in checks],
        "checked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if scope:
        result["scope"] = scope
    result.update(extra)
    return result


def error_message(result: dict) -> str:
    parts = []
    for check in result["checks"]:
        if not check["passed"]:
            details = check["details"]
            summary = details.get("message") or ", ".join(
                f"{k}={v}" for k, v in details.items() if k != "sample"
            )
            sample = details.get("sample")
            parts.append(f"{check['name']} ({summary}{'; e.g. ' + str(sample) if sample else ''})")
    return f"validation of the {result['source']} batch failed: " + "; ".join(parts)


def row_count(rows: int, baseline: Optional[Baseline], min_ratio: float, live_rows: Optional[int] = None) -> Check:
    """Fails on an empty batch, or one below `min_ratio` of the previous succeeded batch.

    With no previous batch, `live_rows` (the live table's size, for full snapshots) is the
    reference instead, so a first run cannot replace a loaded table with a fragment either.
    """
    details: dict = {"rows": rows, "min_ratio": min_ratio}
    if rows == 0:
        details["message"] = "the batch has no rows"
        return Check("row_count", False, details)
    reference = None
    if baseline is not None:
        reference = baseline.rows
        details.update(baseline_batch_id=baseline.batch_id, baseline_rows=baseline.rows)
    elif live_rows:
        reference = live_rows
        details["baseline_live_rows"] = live_rows
    else:
        details["baseline"] = "none (first load)"
    if reference:
        details["ratio"] = round(rows / reference, 4)
        if rows < min_ratio * reference:
            details["message"] = f"{rows} rows is below {min_ratio:.0%} of the {reference} of the baseline"
            return Check("row_count", False, details)
    return Check("row_count", True, details)


def null_key(cur: psycopg.Cursor, table: str, key: Sequence[str]) -> Check:
    where = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(c)) for c in key)
    cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where))
    (count,) = cur.fetchone()
    return Check("null_key", count == 0, {"key": list(key), "count": count})


def duplicate_key(cur: psycopg.Cursor, table: str, key: Sequence[str]) -> Check:
    cols = sql.SQL(", ").join(map(sql.Identifier, key))
    cur.execute(
        sql.SQL(
            "SELECT count(*), coalesce(sum(n), 0), "
            "(array_agg(to_jsonb(ARRAY[{cols}]::text[]) ORDER BY {cols}))[1:%s] "
            "FROM (SELECT {cols}, count(*) AS n FROM {table} WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1) d"
        ).format(
            cols=cols,
            table=sql.Identifier(table),
            not_null=sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in key),
        ),
        (SAMPLE_SIZE,),
    )
    keys, rows, sample = cur.fetchone()
    details = {"key": list(key), "duplicated_keys": keys, "rows_involved": int(rows)}
    if keys:
        details["sample"] = [s if len(s) > 1 else s[0] for s in sample]
    return Check("duplicate_key", keys == 0, details)


def violations(cur: psycopg.Cursor, table: str, name: str, condition: sql.Composable, key: Sequence[str]) -> Check:
    """Counts rows where `condition` holds (each such row breaks the rule `name`)."""
    key_cols = sql.SQL(", ").join(map(sql.Identifier, key))
    cur.execute(
        sql.SQL(
            "SELECT count(*), (array_agg(to_jsonb(ARRAY[{key}]::text[]) ORDER BY {key}))[1:%s] "
            "FROM {table} WHERE {condition}"
        ).format(key=key_cols, table=sql.Identifier(table), condition=condition),
        (SAMPLE_SIZE,),
    )
    count, sample = cur.fetchone()
    details: dict = {"count": count}
    if count:
        details["sample"] = [s if len(s) > 1 else s[0] for s in sample]
    return Check(name, count == 0, details)


def ordered(cur: psycopg.Cursor, table: str, earlier: str, later: str, key: Sequence[str]) -> Check:
    """Rows where both values are set and `earlier` is after `later`."""
    condition = sql.SQL("{a} IS NOT NULL AND {b} IS NOT NULL AND {a} > {b}").format(
        a=sql.Identifier(earlier), b=sql.Identifier(later)
    )
    return violations(cur, table, f"date_order:{earlier}<={later}", condition, key)


def null_rate(cur: psycopg.Cursor, table: str, column: str, max_rate: float) -> Check:
    cur.execute(
        sql.SQL("SELECT count(*), count(*) FILTER (WHERE {c} IS NULL) FROM {t}").format(
            c=sql.Identifier(column), t=sql.Identifier(table)
        )
    )
    total, nulls = cur.fetchone()
    rate = (nulls / total) if total else 0.0
    return Check(
        f"null_rate:{column}",
        rate <= max_rate,
        {"nulls": nulls, "rows": total, "rate": round(rate, 4), "max_rate": max_rate},
    )
