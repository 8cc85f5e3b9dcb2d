"""The identities load: each user's Amplitude and Braze ids into `cdp.identities`.

Two sources, each used only when configured (a missing one is logged and recorded in the
batch's stats as "not configured"; with neither, the run is skipped):
- Amplitude: the same export window as the activity load for day D; per marketplace user_id
  the `amplitude_id` of its latest event (Amplitude merges a user's devices under one id).
- Braze: `POST /users/export/ids` for the users active on D (in that export or in
  cdp.user_daily_activity) that have no braze_id yet, at most CDP_BRAZE_MAX_LOOKUPS per run.
Publish upserts on user_id; an id this batch did not see keeps its current value.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Optional

import psycopg
from psycopg import sql

from . import amplitude, batches, braze, db, staging, validation
from .config import EtlConfig
from .pipeline import NotConfigured, RunContext
from .validation import Check

log = logging.getLogger(__name__)

IDENTITY_COLUMNS = ("user_id", "amplitude_id", "braze_id")
KEY = ("user_id",)


class IdentitiesLoad:
    source = "identities"
    staged_columns = IDENTITY_COLUMNS

    def require_config(self, cfg: EtlConfig) -> None:
        if cfg.amplitude is None and cfg.braze is None:
            raise NotConfigured(
                "neither Amplitude (AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY) nor Braze "
                "(BRAZE_REST_API_KEY, BRAZE_REST_ENDPOINT) is configured: no identity source"
            )

    def stage(self, cfg: EtlConfig, conn: psycopg.Connection, batch_id: int, run: RunContext) -> staging.StagedBatch:
        self.require_config(cfg)
        day = run.target_day(cfg)
        directory = staging.prepare(cfg.staging_dir, self.source, batch_id)
        sources: dict[str, str] = {}
        stats: dict = {}
        manifest: dict = {"day": day.isoformat()}

        latest: dict[int, tuple[dt.datetime, str]] = {}
        if cfg.amplitude is None:
            log.warning("identities: Amplitude is not configured (AMPLITUDE_API_KEY/AMPLITUDE_SECRET_KEY unset); "
                        "skipping the Amplitude source")
            sources["amplitude"] = "not configured"
        else:
            window = amplitude.window_for_day(day, cfg.tz, cfg.amplitude.upload_lag_hours)
            amplitude.ensure_exportable(window)
            manifest["window"] = window.as_params()
            export_stats = amplitude.ExportStats()
            client = amplitude.ExportClient(cfg.amplitude, timeout=cfg.http_timeout_seconds)
            archives = client.download(window, directory, export_stats)
            skipped = {"no_user_id": 0, "invalid_user_id": 0, "no_amplitude_id": 0}
            for event in amplitude.read_events(archives, export_stats):
                user_id, reason = amplitude.marketplace_user_id(event)
                if user_id is None:
                    skipped[reason] += 1
                    continue
                amplitude_id = event.get("amplitude_id")
                if amplitude_id in (None, ""):
                    skipped["no_amplitude_id"] += 1
                    continue
                moment = amplitude.event_time(event) or dt.datetime.min.replace(tzinfo=dt.timezone.utc)
                seen = latest.get(user_id)
                if seen is None or moment >= seen[0]:
                    latest[user_id] = (moment, str(amplitude_id))
            for path in archives:
                os.remove(path)
            sources["amplitude"] = "exported"
            stats["amplitude"] = {"export": export_stats.as_dict(), "skipped": skipped, "users": len(latest)}

        braze_ids: dict[int, str] = {}
        if cfg.braze is None:
            log.warning("identities: Braze is not configured (BRAZE_REST_API_KEY/BRAZE_REST_ENDPOINT unset); "
                        "skipping the Braze source")
            sources["braze"] = "not configured"
        else:
            candidates = self._braze_candidates(conn, day, set(latest), cfg.braze.max_lookups)
            client = braze.ExportIdsClient(cfg.braze, timeout=min(cfg.http_timeout_seconds, 120.0))
            for external_id, braze_id in client.braze_ids(str(u) for u in candidates).items():
                if external_id.isdigit():
                    braze_ids[int(external_id)] = braze_id
            sources["braze"] = "exported"
            stats["braze"] = {"looked_up": len(candidates), "found": len(braze_ids), "requests": client.requests}

        rows = (
            (user_id, latest[user_id][1] if user_id in latest else None, braze_ids.get(user_id))
            for user_id in sorted(set(latest) | set(braze_ids))
        )
        manifest.update(sources=sources, stats=stats)
        log.info("identities: %s: sources %s, stats %s", day, sources, stats)
        return staging.write_rows(directory, db.copy_text_rows(rows), manifest)

    @staticmethod
    def _braze_candidates(conn: psycopg.Connection, day: dt.date, exported: set[int], limit: int) -> list[int]:
        """Users active on `day` with no braze_id yet, lowest ids first, at most `limit`."""
        with conn.cursor() as cur:
            cur.execute(
                "SELECT u.user_id FROM (SELECT unnest(%s::integer[]) AS user_id "
                "                       UNION SELECT user_id FROM cdp.user_daily_activity WHERE day = %s) u "
                "WHERE NOT EXISTS (SELECT 1 FROM cdp.identities i WHERE i.user_id = u.user_id AND i.braze_id IS NOT NULL) "
                "ORDER BY u.user_id LIMIT %s",
                (sorted(exported), day, limit),
            )
            return [row[0] for row in cur.fetchall()]

    def create_staged_table(self, cur: psycopg.Cursor, table: str) -> None:
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {t} ON COMMIT DROP AS SELECT {cols} FROM cdp.identities WITH NO DATA").format(
                t=sql.Identifier(table), cols=sql.SQL(", ").join(map(sql.Identifier, IDENTITY_COLUMNS))
            )
        )

    def checks(
        self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch,
        baseline: Optional[batches.Baseline],
    ) -> list[Check]:
        checks = [
            validation.row_count(staged.rows, baseline, cfg.min_row_ratio),
            validation.null_key(cur, table, KEY),
            validation.duplicate_key(cur, table, KEY),
            validation.violations(cur, table, "has_an_identifier",
                                  sql.SQL("amplitude_id IS NULL AND braze_id IS NULL"), KEY),
        ]
        export = staged.manifest["stats"].get("amplitude", {}).get("export")
        if export is not None:
            checks.append(Check("export_readable", export["malformed_lines"] == 0,
                                {"malformed_lines": export["malformed_lines"], "lines": export["lines"]}))
        return checks

    def publish(self, cfg: EtlConfig, cur: psycopg.Cursor, table: str, staged: staging.StagedBatch) -> dict:
        cur.execute(
            sql.SQL(
                "WITH upserted AS ("
                "  INSERT INTO cdp.identities AS i (user_id, amplitude_id, braze_id, updated_at) "
                "  SELECT user_id, amplitude_id, braze_id, now() FROM {staged} "
                "  ON CONFLICT (user_id) DO UPDATE SET "
                "    amplitude_id = coalesce(EXCLUDED.amplitude_id, i.amplitude_id), "
                "    braze_id = coalesce(EXCLUDED.braze_id, i.braze_id), updated_at = now() "
                "  WHERE (i.amplitude_id, i.braze_id) IS DISTINCT FROM "
                "        (coalesce(EXCLUDED.amplitude_id, i.amplitude_id), coalesce(EXCLUDED.braze_id, i.braze_id)) "
                "  RETURNING (i.xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
            ).format(staged=sql.Identifier(table))
        )
        inserted, updated = cur.fetchone()
        return {"inserted": inserted, "updated": updated, "unchanged": staged.rows - inserted - updated,
                "sources": staged.manifest.get("sources", {})}
