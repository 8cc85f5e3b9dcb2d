"""A local Amplitude Export API that follows the documentation and records every request.

https://amplitude.com/docs/apis/analytics/export: `GET /api/2/export?start=YYYYMMDDTHH&end=
YYYYMMDDTHH` (upload hours, both included, UTC) with `Authorization: Basic base64(key:secret)`;
200 with a zip of gzipped JSON-lines files, one per project and upload hour
(`<app>/<app>_<YYYY-MM-DD>_<H>#0.json.gz`); 404 when nothing was uploaded in the range; 400
when the export would exceed the size limit (here: more than `max_events` events).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import re
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlsplit

HOUR_FORMAT = re.compile(r"^\d{8}T\d{2}$")
APP_ID = 187520


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict


@dataclass
class FakeAmplitude:
    api_key: str = "test-api-key"
    secret_key: str = "test-secret-key"
    max_events: Optional[int] = None
    # Raw lines per upload time; each uploaded event is stored with its upload time.
    uploads: list = field(default_factory=list)  # [(server_upload_time, line)]
    requests: list = field(default_factory=list)

    def upload(self, event: dict, upload_time: dt.datetime) -> None:
        """Stores an event as Amplitude would have received it at `upload_time` (UTC)."""
        event = dict(event, server_upload_time=upload_time.strftime("%Y-%m-%d %H:%M:%S.%f"))
        self.uploads.append((upload_time, json.dumps(event)))

    def upload_raw_line(self, line: str, upload_time: dt.datetime) -> None:
        self.uploads.append((upload_time, line))

    def start(self) -> "FakeAmplitude":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(RecordedRequest("GET", parts.path, query, dict(self.headers)))
                if parts.path != "/api/2/export":
                    return self._send(404, b"not found", "text/plain")
                expected = "Basic " + base64.b64encode(f"{fake.api_key}:{fake.secret_key}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, b"Invalid Api-Key", "text/plain")
                start, end = query.get("start", ""), query.get("end", "")
                if not (HOUR_FORMAT.match(start) and HOUR_FORMAT.match(end)):
                    return self._send(400, b"Invalid start or end", "text/plain")
                first = dt.datetime.strptime(start, "%Y%m%dT%H")
                last = dt.datetime.strptime(end, "%Y%m%dT%H")
                selected = [(t, line) for t, line in fake.uploads
                            if first <= t.replace(minute=0, second=0, microsecond=0, tzinfo=None) <= last]
                if not selected:
                    return self._send(404, b"No data available for the time range requested", "text/plain")
                if fake.max_events is not None and len(selected) > fake.max_events:
                    return self._send(400, b"Raw data files were too large", "text/plain")
                self._send(200, fake._zip(selected), "application/zip")

            def _send(self, status: int, body: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def export_requests(self) -> list:
        return [r for r in self.requests if r.path == "/api/2/export"]

    @staticmethod
    def _zip(selected: list) -> bytes:
        by_hour: dict = {}
        for upload_time, line in sorted(selected, key=lambda item: item[0]):
            by_hour.setdefault(upload_time.replace(minute=0, second=0, microsecond=0), []).append(line)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for hour, lines in by_hour.items():
                name = f"{APP_ID}/{APP_ID}_{hour:%Y-%m-%d}_{hour.hour}#0.json.gz"
                archive.writestr(name, gzip.compress(("\n".join(lines) + "\n").encode()))
        return buffer.getvalue()
