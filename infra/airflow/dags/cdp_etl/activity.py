"""The activity load: one day of Amplitude events into `cdp.user_daily_activity`.

Stage exports the upload hours that hold the reporting day D (amplitude.window_for_day), keeps
the events whose `event_time` falls on D in CDP_REPORTING_TZ, and aggregates them per user:

- user_id: Amplitude `user_id`, the marketplace's integer user id as a string. Events with no
  user_id (signed-out traffic) or a non-integer one are skipped and counted in the stats.
- events: every event of the user that day.
- sessions: distinct `session_id` (Amplitude's session start in epoch ms; -1 = no session).
- session_seconds: per session, last minus first event time within D, summed.
- listings_posted / paid_listings / transactions / credits_spent: from EVENT_MAPPING below.

Publish replaces day D: upserts the staged rows on (user_id, day) and deletes D's rows of users
no longer in the export (a row means "active that day").

EVENT_MAPPING is the marketplace's tracking plan as this load reads it. Override it as a whole
with the JSON object CDP_AMPLITUDE_EVENT_MAPPING (same keys) when the plan names differ.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

import psycopg
from psycopg import sql

from . import amplitude, batches, db, staging, validation
from .config import EtlConfig
from .pipeline import NotConfigured, RunContext
from .validation import Check

log = logging.getLogger(__name__)

EVENT_MAPPING = {
    # event_type values meaning "the user posted a listing" (counted in listings_posted).
    "listing_posted_event_types": ["listing_posted"],
    # event_properties key whose truthy value (true, 1, "true", "yes") marks a posted listing
    # as paid (counted in paid_listings as well).
    "paid_listing_property": "is_paid",
    # event_type values meaning "the user completed a transaction" (counted in transactions).
    "transaction_event_types": ["transaction_completed"],
    # credits_spent sums event_properties[credits_spent_property] over events of these types
    # (one event per spend, so a paid listing that also emits a transaction counts once).
    "credits_spent_event_types": ["transaction_completed"],
    "credits_spent_property": "credits_spent",
}

ACTIVITY_COLUMNS = (
    "user_id", "day", "sessions", "session_seconds", "events",
    "listings_posted", "paid_listings", "transactions", "credits_spent",
)
KEY = ("user_id", "day")
COUNTS = ACTIVITY_COLUMNS[2:]
_TRUE = {"true", "1", "yes", "y", "t"}
NO_SESSION = -1


def mapping_from(cfg_mapping: Optional[dict]) -> dict:
    if cfg_mapping is None:
        return EVENT_MAPPING
    missing = set(EVENT_MAPPING) - set(cfg_mapping)
    unknown = set(cfg_mapping) - set(EVENT_MAPPING)
    if missing or unknown:
        raise ValueError(f"CDP_AMPLITUDE_EVENT_MAPPING: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    return cfg_mapping


@dataclass
class _UserDay:
    events: int = 0
    listings_posted: int = 0
    paid_listings: int = 0
    transactions: int = 0
    credits: float = 0.0
    sessions: dict = field(default_factory=dict)  # session_id -> [first, last] event time


class DailyActivity:
    """Aggregates one reporting day's events per user."""

    def __init__(self, day: dt.date, tz, mapping: dict):
        self.day, self.tz = day, tz
        self.listing_types = set(mapping["listing_posted_event_types"])
        self.paid_property = mapping["paid_listing_property"]
        self.transaction_types = set(mapping["transaction_event_types"])
        self.credit_types = set(mapping["credits_spent_event_types"])
        self.credit_property = mapping["credits_spent_property"]
        self.users: dict[int, _UserDay] = {}
        self.stats = {"events_counted": 0, "no_user_id": 0, "invalid_user_id": 0, "no_event_time": 0,
                      "outside_day": 0, "invalid_credits": 0}

    def add(self, event: dict) -> None:
        moment = amplitude.event_time(event)
        if moment is None:
            self.stats["no_event_time"] += 1
            return
        if moment.astimezone(self.tz).date() != self.day:
            self.stats["outside_day"] += 1
            return
        user_id, reason = amplitude.marketplace_user_id(event)
        if user_id is None:
            self.stats[reason] += 1
            return
        self.stats["events_counted"] += 1
        agg = self.users.get(user_id)
        if agg is None:
            agg = self.users[user_id] = _UserDay()
        agg.events += 1
        event_type = event.get("event_type")
        props = event.get("event_properties") or {}
        if not isinstance(props, dict):
            props = {}
        if event_type in self.listing_types:
            agg.listings_posted += 1
            if str(props.get(self.paid_property, "")).strip().lower() in _TRUE:
                agg.paid_listings += 1
        if event_type in self.transaction_types:
            agg.transactions += 1
        if event_type in self.credit_types and props.get(self.credit_property) is not None:
            credits = _number(props.get(self.credit_property))
            if credits is None:
                self.stats["invalid_credits"] += 1
            else:
                agg.credits += credits
        session_id = event.get("session_id")
        if session_id not in (None, NO_SESSION, str(NO_SESSION)):
            span = agg.sessions.get(session_id)
            if span is None:
                agg.sessions[session_id] = [moment, moment]
            else:
                span[0] = min(span[0], moment)
                span[1] = max(span[1], moment)

    def rows(self) -> Iterable[tuple]:
        for user_id in sorted(self.users):
            agg = self.users[user_id]
            seconds = sum(int((last - first).total_seconds()) for first, last in agg.sessions.values())
            yield (user_id, self.day.isoformat(), len(agg.sessions), seconds, agg.events,
                   agg.listings_posted, agg.paid_listings, agg.transactions, int(round(agg.credits)))


def _number(value) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class ActivityLoad:
    source = "activity"
    staged_columns = ACTIVITY_COLUMNS

    def require_config(self, cfg: EtlConfig) -> None:
        if cfg.amplitude is None:
            raise NotConfigured(
                "Amplitude is not configured (AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY unset): "
                "there is no activity to export"
            )

    def stage(self, cfg: EtlConfig, conn: psycopg.Connection, batch_id: int, run: RunContext) -> staging.StagedBatch:
        self.require_config(cfg)
        mapping = mapping_from(cfg.amplitude.event_mapping)
        day = run.target_day(cfg)
        window = amplitude.window_for_day(day, cfg.tz, cfg.amplitude.upload_lag_hours)
        amplitude.ensure_exportable(window)
        directory = staging.prepare(cfg.staging_dir, self.source, batch_id)
        export_stats = amplitude.ExportStats()
        client = amplitude.ExportClient(cfg.amplitude, timeout=cfg.http_timeout_seconds)
        archives = client.download(window, directory, export_stats)
        aggregate = DailyActivity(day, cfg.tz, mapping)
        for event in amplitude.read_events(archives, export_stats):
            aggregate.add(event)
        for path in archives:  # raw events (with IPs and device ids) are not kept
            os.remove(path)
        log.info("activity: %s: %s users, export %s, events %s", day, len(aggregate.users),
                 export_stats.as_dict(), aggregate.stats)
        return staging.write_rows(
            directory,
            db.copy_text_rows(aggregate.rows()),
            {
                "day": day.isoformat(),
                "window": window.as_params(),
                "stats": {"export": export_stats.as_dict(), "events": aggregate.stats, "users": len(aggregate.users)},
            },
        )

    def create_staged_table(self, cur: psycopg.Cursor, table: str) -> None:
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {t} ON COMMIT DROP AS SELECT {cols} FROM cdp.user_daily_activity WITH NO DATA").format(
                t=sql.Identifier(table), cols=sql.SQL(", ").join(map(sql.Identifier, ACTIVITY_COLUMNS))
            )
        )

    def checks(
        self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch,
        baseline: Optional[batches.Baseline],
    ) -> list[Check]:
        export = staged.manifest["stats"]["export"]
        negative = sql.SQL(" OR ").join(sql.SQL("{} < 0").format(sql.Identifier(c)) for c in COUNTS)
        return [
            validation.row_count(staged.rows, baseline, cfg.min_row_ratio),
            Check("export_readable", export["malformed_lines"] == 0,
                  {"malformed_lines": export["malformed_lines"], "lines": export["lines"]}),
            validation.null_key(cur, table, KEY),
            validation.duplicate_key(cur, table, KEY),
            validation.violations(cur, table, "day_in_scope",
                                  sql.SQL("day IS DISTINCT FROM {}::date").format(sql.Literal(staged.manifest["day"])), KEY),
            validation.violations(cur, table, "counts_not_negative", negative, KEY),
            validation.violations(cur, table, "sessions_at_most_events", sql.SQL("sessions > events"), KEY),
            validation.violations(cur, table, "paid_at_most_posted", sql.SQL("paid_listings > listings_posted"), KEY),
        ]

    def publish(self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch) -> dict:
        cols = sql.SQL(", ").join(map(sql.Identifier, ACTIVITY_COLUMNS))
        cur.execute(
            sql.SQL(
                "WITH upserted AS (INSERT INTO cdp.user_daily_activity AS a ({cols}) SELECT {cols} FROM {staged} "
                "  ON CONFLICT (user_id, day) DO UPDATE SET {assign} WHERE ({current}) IS DISTINCT FROM ({incoming}) "
                "  RETURNING (a.xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
            ).format(
                cols=cols,
                staged=sql.Identifier(table),
                assign=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in COUNTS),
                current=sql.SQL(", ").join(sql.SQL("a.{}").format(sql.Identifier(c)) for c in COUNTS),
                incoming=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in COUNTS),
            )
        )
        inserted, updated = cur.fetchone()
        cur.execute(
            sql.SQL(
                "DELETE FROM cdp.user_daily_activity a WHERE a.day = %s::date "
                "AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE s.user_id = a.user_id AND s.day = a.day)"
            ).format(staged=sql.Identifier(table)),
            (staged.manifest["day"],),
        )
        return {"day": staged.manifest["day"], "inserted": inserted, "updated": updated,
                "unchanged": staged.rows - inserted - updated, "deleted": cur.rowcount}
