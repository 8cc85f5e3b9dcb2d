"""Throwaway databases on the real PostgreSQL (CDP_TEST_PG, default 127.0.0.1:5432 as postgres).

Each test gets its own database with the repository's migrations applied exactly as shipped:
every `migrations/*/up.sql`, in sorted order.
"""

from __future__ import annotations

import glob
import os
import uuid

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ADMIN_DSN = os.environ.get("CDP_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
MIGRATIONS = os.path.join(REPO_ROOT, "migrations")


def dsn_for(dbname: str, **overrides) -> str:
    return make_conninfo(ADMIN_DSN, dbname=dbname, **overrides)


def dbname_of(dsn: str) -> str:
    return conninfo_to_dict(dsn)["dbname"]


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return dsn_for(name)


def drop_database(dsn: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname_of(dsn))))


def migration_files() -> list[str]:
    files = sorted(glob.glob(os.path.join(MIGRATIONS, "*", "up.sql")))
    if not files:
        raise RuntimeError(f"no migrations found under {MIGRATIONS}")
    return files


def apply_migrations(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for path in migration_files():
            with open(path, encoding="utf-8") as handle:
                conn.execute(handle.read())  # no parameters: sent as one multi-statement script


def create_cdp_database(prefix: str = "cdp_etl_test") -> str:
    dsn = create_database(prefix)
    try:
        apply_migrations(dsn)
    except BaseException:
        drop_database(dsn)
        raise
    return dsn


def rows(dsn: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def one(dsn: str, query: str, params=None):
    result = rows(dsn, query, params)
    return result[0] if result else None
