"""Database sessions of the ETL.

Every write to the CDP goes through the role `cdp_etl`, which holds only the grants on the
ETL-owned tables (migration 000001): the DSN's user is a member of it (or a superuser in local
tests) and the session switches to it with `SET ROLE` before doing anything else.
Reads of the marketplace source use a separate, read-only session.
"""

from __future__ import annotations

import gzip
from typing import Iterator

import psycopg
from psycopg import sql

ETL_ROLE = "cdp_etl"


class RoleError(RuntimeError):
    """The DSN's user may not act as `cdp_etl`."""


def connect_etl(dsn: str, application_name: str = "cdp-etl") -> psycopg.Connection:
    """Opens a session on the CDP database acting as `cdp_etl`.

    The session is in autocommit mode: every unit of work that must be atomic runs inside an
    explicit `with conn.transaction():` block, so nothing is left open between steps.
    """
    conn = psycopg.connect(dsn, application_name=application_name, autocommit=True, client_encoding="UTF8")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, pg_has_role(current_user, %s, 'MEMBER')", (ETL_ROLE,))
            user, may_switch = cur.fetchone()
            if user != ETL_ROLE:
                if not may_switch:
                    raise RoleError(
                        f"database user {user!r} is not a member of {ETL_ROLE!r}; "
                        f"GRANT {ETL_ROLE} TO {user} (CDP_ETL_DSN must name such a user)"
                    )
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(ETL_ROLE)))
            # Timestamps without time zone are written as read; only now() uses this.
            cur.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_source(dsn: str, application_name: str = "cdp-etl-extract") -> psycopg.Connection:
    """Opens a read-only session on the marketplace's source database."""
    conn = psycopg.connect(dsn, application_name=application_name, autocommit=True, client_encoding="UTF8")
    conn.read_only = True  # transactions opened with conn.transaction() are READ ONLY
    conn.execute("SET default_transaction_read_only = on")  # and so is every other statement
    # The staged COPY text must read back the same on the CDP side whatever the source
    # server's defaults: ISO dates (not e.g. 'SQL, DMY') and floats that round-trip exactly.
    conn.execute("SET DateStyle = 'ISO'")
    conn.execute("SET extra_float_digits = 3")
    return conn


def relation_identifier(name: str) -> sql.Composable:
    """`schema.table` (or `table`) as a quoted identifier; never formatted into SQL as text."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or any(part.strip() == "" for part in parts):
        raise ValueError(f"not a relation name: {name!r}")
    return sql.Identifier(*parts)


def copy_file_into(cur: psycopg.Cursor, table: str, columns: list[str], path: str) -> None:
    """Streams a gzipped COPY-text file into `table` (a temporary staging table)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with gzip.open(path, "rb") as source, cur.copy(statement) as copy:
        for block in iter(lambda: source.read(1 << 20), b""):
            copy.write(block)


def copy_text_rows(rows: Iterator[tuple]) -> Iterator[bytes]:
    """Encodes rows in PostgreSQL's COPY text format (None → \\N), one line per row."""
    for row in rows:
        yield ("\t".join(_copy_text_value(value) for value in row) + "\n").encode("utf-8")


def _copy_text_value(value: object) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return (
        text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )

