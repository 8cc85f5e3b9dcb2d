"""Braze `POST /users/export/ids`: the braze_id of users known by their external_id.

Contract (https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/,
VENDOR-APIS §2): `Authorization: Bearer <REST API key>` with the `users.export.ids`
permission; body `{"external_ids": [...≤50], "fields_to_export": [...]}` (fields_to_export is
required for workspaces onboarded since 2024-08-22); response `{"message": "success",
"users": [{"external_id", "braze_id", ...}], "invalid_user_ids": [...]}`. Rate limit 250
requests/minute (CDP_BRAZE_REQUESTS_PER_MINUTE paces below it; 429 is retried).
The marketplace's user id is the Braze external_id.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Callable, Iterable

from . import vendor_http
from .config import BrazeConfig

log = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 50
FIELDS = ["external_id", "braze_id"]


class ExportIdsClient:
    def __init__(self, cfg: BrazeConfig, timeout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._cfg, self._timeout, self._clock, self._sleep = cfg, timeout, clock, sleep
        self._interval = 60.0 / cfg.requests_per_minute
        self._next_request_at = 0.0
        self.requests = 0

    def braze_ids(self, external_ids: Iterable[str]) -> dict[str, str]:
        """external_id → braze_id for the users Braze knows (unknown ids are simply absent)."""
        found: dict[str, str] = {}
        ids = list(external_ids)
        for start in range(0, len(ids), MAX_IDS_PER_REQUEST):
            found.update(self._export(ids[start:start + MAX_IDS_PER_REQUEST]))
        return found

    def _export(self, external_ids: list[str]) -> dict[str, str]:
        wait = self._next_request_at - self._clock()
        if wait > 0:
            self._sleep(wait)
        self._next_request_at = self._clock() + self._interval
        body = json.dumps({"external_ids": external_ids, "fields_to_export": FIELDS}).encode()
        resp = vendor_http.request(
            "braze", "POST", f"{self._cfg.rest_endpoint}/users/export/ids",
            {"Authorization": f"Bearer {self._cfg.api_key}", "Content-Type": "application/json"},
            body=body, timeout=self._timeout, sleep=self._sleep,
        )
        self.requests += 1
        try:
            payload = json.loads(resp.body or b"{}")
        except json.JSONDecodeError:
            payload = {}
        if resp.status != 200 or payload.get("message") != "success":
            raise vendor_http.VendorError(
                "braze", resp.status, f"/users/export/ids answered HTTP {resp.status}: {resp.body[:300]!r}"
            )
        return {
            str(user["external_id"]): str(user["braze_id"])
            for user in payload.get("users") or []
            if user.get("external_id") is not None and user.get("braze_id")
        }
