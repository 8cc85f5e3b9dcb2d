"""The users load: the marketplace's user snapshot into `public.users`.

Source: a table or view in the marketplace database (`CDP_ETL_SOURCE_DSN`,
`CDP_ETL_SOURCE_RELATION`) with exactly the brief's 81 users columns. Stage streams
`COPY (SELECT <columns> FROM <relation>) TO STDOUT` into the staging file; validate checks the
staged rows; publish upserts them into `public.users` in chunks (INSERT ... ON CONFLICT
(user_id) DO UPDATE, unchanged rows untouched) inside one transaction with the batch's
success. Users absent from a snapshot are left as they are: a snapshot never deletes.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import psycopg
from psycopg import sql

from . import batches, db, staging, validation
from .config import EtlConfig
from .pipeline import NotConfigured, RunContext
from .validation import Check

# public.users exactly as the brief defines it (SEED.md), in its column order.
USERS_COLUMNS = (
    "user_id", "user_type", "phone", "current_credits_in_wallet", "is_block",
    "user_account_creation_date", "first_paid_listing_date", "last_paid_listing_date",
    "first_transaction_date", "last_transaction_date", "days_since_last_paid_listing",
    "days_since_last_paid_transaction", "days_since_last_transaction", "active_months_last_6",
    "active_weeks_last_12", "paid_listings_count", "free_listings_count",
    "total_listings_count", "office_listings_count", "total_credits_spent",
    "total_premium_credits_spent", "total_free_credits_spent", "extra_addons_count",
    "extra_addons_total_credits", "extra_addons_premium_credits", "extra_addons_free_credits",
    "verticals_listed_in", "levels_1_listed_in", "plans_or_bundles_used", "favorite_vertical",
    "favorite_level_1", "number_of_verticals_listed_in",
    "number_of_level1_categories_listed_in", "is_multivertical_user", "favorite_plan_or_bundle",
    "favorite_extra_addon", "top_extra_addons", "basic_listings_count", "basic_credits_spent",
    "pro_listings_count", "pro_credits_spent", "extra_listings_count", "extra_credits_spent",
    "plus_listings_count", "plus_credits_spent", "super_listings_count", "super_credits_spent",
    "standard_listings_count", "standard_credits_spent", "premium_listings_count",
    "premium_credits_spent", "optimum_listings_count", "optimum_credits_spent",
    "car_offices_listings_count", "car_offices_credits_spent",
    "property_offices_listings_count", "property_offices_credits_spent",
    "electronics_shops_listings_count", "electronics_shops_credits_spent",
    "addon_pinning_listings_count", "addon_pinning_credits_spent",
    "addon_extended_listings_count", "addon_extended_credits_spent",
    "addon_promoted_listings_count", "addon_promoted_credits_spent",
    "addon_pinning_shuffle_listings_count", "addon_pinning_shuffle_credits_spent",
    "addon_premium_listings_count", "addon_premium_credits_spent",
    "addon_power_pin_listings_count", "addon_power_pin_credits_spent",
    "addon_refresh_listings_count", "addon_refresh_credits_spent", "addon_vip_listings_count",
    "addon_vip_credits_spent", "offer_50_days_used", "offer_baraka_days_used",
    "offer_total_days_used", "offer_50_percentage", "offer_baraka_percentage",
    "offer_total_percentage"
)
KEY = ("user_id",)
# Columns every marketplace user has; more nulls than CDP_ETL_MAX_NULL_RATE fails the batch.
KEY_COLUMNS_NOT_NULL = ("user_type", "user_account_creation_date")
# (earlier, later): a row where both are set and earlier > later fails the batch.
DATE_ORDER = (
    ("first_paid_listing_date", "last_paid_listing_date"),
    ("first_transaction_date", "last_transaction_date"),
    ("user_account_creation_date", "first_paid_listing_date"),
)


class UsersLoad:
    source = "users"
    staged_columns = USERS_COLUMNS

    def require_config(self, cfg: EtlConfig) -> None:
        if not cfg.source_dsn:
            raise NotConfigured("CDP_ETL_SOURCE_DSN is not set: there is no marketplace database to read users from")

    def stage(self, cfg: EtlConfig, conn: psycopg.Connection, batch_id: int, run: RunContext) -> staging.StagedBatch:
        self.require_config(cfg)
        directory = staging.prepare(cfg.staging_dir, self.source, batch_id)
        query = sql.SQL("SELECT {cols} FROM {rel}").format(
            cols=sql.SQL(", ").join(map(sql.Identifier, USERS_COLUMNS)),
            rel=db.relation_identifier(cfg.source_relation),
        )
        with db.connect_source(cfg.source_dsn) as source:
            # Names a missing column or relation before any data moves.
            source.execute(query + sql.SQL(" LIMIT 0"))
            with source.cursor() as cur, cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(query)) as copy:
                return staging.write_rows(
                    directory,
                    copy,
                    {
                        "source_relation": cfg.source_relation,
                        "columns": list(USERS_COLUMNS),
                        "extracted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    },
                )

    def create_staged_table(self, cur: psycopg.Cursor, table: str) -> None:
        # CREATE TABLE AS copies the column types but no constraints, so broken rows (a null or
        # repeated user_id) can be staged and reported instead of aborting the COPY.
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {t} ON COMMIT DROP AS SELECT {cols} FROM public.users WITH NO DATA").format(
                t=sql.Identifier(table), cols=sql.SQL(", ").join(map(sql.Identifier, USERS_COLUMNS))
            )
        )

    def checks(
        self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch,
        baseline: Optional[batches.Baseline],
    ) -> list[Check]:
        live_rows = None
        if baseline is None:
            cur.execute("SELECT count(*) FROM public.users")
            (live_rows,) = cur.fetchone()
        checks = [
            validation.row_count(staged.rows, baseline, cfg.min_row_ratio, live_rows=live_rows),
            validation.null_key(cur, table, KEY),
            validation.duplicate_key(cur, table, KEY),
        ]
        checks += [validation.ordered(cur, table, earlier, later, KEY) for earlier, later in DATE_ORDER]
        checks += [validation.null_rate(cur, table, column, cfg.max_null_rate) for column in KEY_COLUMNS_NOT_NULL]
        return checks

    def publish(self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch) -> dict:
        cur.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (user_id)").format(sql.Identifier(table)))
        cols = sql.SQL(", ").join(map(sql.Identifier, USERS_COLUMNS))
        rest = [c for c in USERS_COLUMNS if c not in KEY]
        # One chunk of staged rows (by user_id) upserted; rows whose values are unchanged are
        # not rewritten. Returns the chunk's size and last id, and how many rows were new.
        upsert_chunk = sql.SQL(
            "WITH chunk AS (SELECT {cols} FROM {staged} WHERE user_id > %(after)s ORDER BY user_id LIMIT %(limit)s), "
            "upserted AS (INSERT INTO public.users AS u ({cols}) SELECT {cols} FROM chunk "
            "  ON CONFLICT (user_id) DO UPDATE SET {assign} WHERE ({current}) IS DISTINCT FROM ({incoming}) "
            "  RETURNING (u.xmax = 0) AS inserted) "
            "SELECT (SELECT count(*) FROM chunk), (SELECT max(user_id) FROM chunk), "
            "       count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
        ).format(
            cols=cols,
            staged=sql.Identifier(table),
            assign=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in rest),
            current=sql.SQL(", ").join(sql.SQL("u.{}").format(sql.Identifier(c)) for c in rest),
            incoming=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in rest),
        )
        after, chunks, inserted, updated = -(2**31), 0, 0, 0
        while True:
            cur.execute(upsert_chunk, {"after": after, "limit": cfg.chunk_rows})
            size, last_id, new_rows, changed_rows = cur.fetchone()
            if size == 0:
                break
            chunks += 1
            inserted += new_rows
            updated += changed_rows
            after = last_id
        return {
            "chunks": chunks,
            "inserted": inserted,
            "updated": updated,
            "unchanged": staged.rows - inserted - updated,
        }
