"""Amplitude Export API: download a range of raw events and read them back.

Contract (https://amplitude.com/docs/apis/analytics/export; source text in the
amplitude/amplitude-docs repository, content/collections/api/en/export.md):
- `GET {base}/api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`, both hours included, UTC.
  The range is the events' *upload* time (`server_upload_time`), and an hour can be exported
  only about 2 hours after it ends.
- HTTP Basic auth, `base64(API_KEY:SECRET_KEY)`.
- 200: a zip archive of JSON files (gzipped in practice, `<app>/<app>_<date>_<hour>#<n>.json.gz`),
  several per hour, one event object per line; `event_time` is UTC.
- 404: no data for the requested range. 400: the export would exceed 4 GB, ask for a shorter
  range. 504: too much data, timed out. On 400/504 this client halves the range, down to one hour.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Iterator, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from . import vendor_http
from .config import AmplitudeConfig

log = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
# "Data is available to export at a minimum within 2 hours of when the servers received it."
EXPORT_DELAY = dt.timedelta(hours=2)
MAX_USER_ID = 2**31 - 1  # public.users.user_id is an integer
_DIGITS = re.compile(r"[0-9]+")


class ExportNotReady(RuntimeError):
    """The requested upload hours are not all exportable yet."""


@dataclass(frozen=True)
class ExportWindow:
    start: dt.datetime  # first upload hour, UTC, included
    end: dt.datetime  # last upload hour, UTC, included

    def as_params(self) -> dict:
        return {"start": format_hour(self.start), "end": format_hour(self.end)}


@dataclass
class ExportStats:
    requests: list = field(default_factory=list)  # [{start, end, status}]
    files: int = 0
    lines: int = 0
    malformed_lines: int = 0

    def as_dict(self) -> dict:
        return {"requests": self.requests, "files": self.files, "lines": self.lines,
                "malformed_lines": self.malformed_lines}


def format_hour(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H")


def window_for_day(day: dt.date, tz: ZoneInfo, upload_lag_hours: int) -> ExportWindow:
    """Upload hours that hold a reporting day's events: from the day's first UTC hour to the
    hour holding its end, plus `upload_lag_hours` for late uploads (offline devices, batching)."""
    start_local = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end_local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    start = _floor_hour(start_local.astimezone(dt.timezone.utc))
    end = _floor_hour(end_local.astimezone(dt.timezone.utc) - dt.timedelta(microseconds=1))
    return ExportWindow(start, end + upload_lag_hours * HOUR)


def ensure_exportable(window: ExportWindow, now: Optional[dt.datetime] = None) -> None:
    now = now or dt.datetime.now(dt.timezone.utc)
    ready_at = window.end + HOUR + EXPORT_DELAY
    if now < ready_at:
        raise ExportNotReady(
            f"upload hour {format_hour(window.end)} becomes exportable at {ready_at.isoformat()}; "
            "run later (the DAG's schedule leaves that margin for the previous day)"
        )


class ExportClient:
    def __init__(self, cfg: AmplitudeConfig, timeout: float = 300.0, sleep=None):
        self._cfg = cfg
        self._timeout = timeout
        self._sleep = sleep
        token = base64.b64encode(f"{cfg.api_key}:{cfg.secret_key}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/zip"}

    def download(self, window: ExportWindow, directory: str, stats: ExportStats) -> list[str]:
        """Downloads the window into zip files under `directory`; returns their paths (none on 404)."""
        return self._download(window.start, window.end, directory, stats)

    def _download(self, start: dt.datetime, end: dt.datetime, directory: str, stats: ExportStats) -> list[str]:
        params = ExportWindow(start, end).as_params()
        url = f"{self._cfg.base_url}/api/2/export?{urlencode(params)}"
        path = os.path.join(directory, f"export-{params['start']}-{params['end']}.zip")
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        resp = vendor_http.request("amplitude", "GET", url, self._headers, timeout=self._timeout,
                                   into_file=path, **kwargs)
        stats.requests.append(dict(params, status=resp.status))
        if resp.status == 200:
            return [path]
        if resp.status == 404:
            log.info("amplitude: no data uploaded in %s..%s (404)", params["start"], params["end"])
            return []
        if resp.status in (400, 504) and end > start:
            # Over 4 GB (400) or too large to assemble in time (504): halve the range.
            hours = int((end - start) / HOUR) + 1
            middle = start + (hours // 2) * HOUR
            log.info("amplitude: HTTP %s for %s..%s; splitting the range", resp.status, params["start"], params["end"])
            return self._download(start, middle - HOUR, directory, stats) + self._download(middle, end, directory, stats)
        raise vendor_http.VendorError(
            "amplitude", resp.status,
            f"export {params['start']}..{params['end']} answered HTTP {resp.status}: {resp.body[:300]!r}",
        )


def read_events(paths: list[str], stats: ExportStats) -> Iterator[dict]:
    """Yields every event of the downloaded archives (members gzipped or plain JSON lines)."""
    for path in paths:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.is_dir():
                    continue
                stats.files += 1
                with archive.open(member) as raw:
                    stream = gzip.GzipFile(fileobj=raw) if member.filename.endswith(".gz") else raw
                    for line in io.TextIOWrapper(stream, encoding="utf-8"):
                        line = line.strip()
                        if not line:
                            continue
                        stats.lines += 1
                        try:
                            event = json.loads(line)
                        except json.JSONDecodeError:
                            stats.malformed_lines += 1
                            continue
                        if isinstance(event, dict):
                            yield event
                        else:
                            stats.malformed_lines += 1


def marketplace_user_id(event: dict) -> tuple[Optional[int], str]:
    """The marketplace's integer user id of an event, or None with the reason it has none."""
    value = event.get("user_id")
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None, "no_user_id"
    text = str(value).strip()
    if not _DIGITS.fullmatch(text) or not 0 < int(text) <= MAX_USER_ID:
        return None, "invalid_user_id"
    return int(text), ""


def event_time(event: dict) -> Optional[dt.datetime]:
    """`event_time` (UTC; `client_event_time` as fallback) as an aware datetime."""
    raw = event.get("event_time") or event.get("client_event_time")
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
