"""A local Braze REST endpoint for `POST /users/export/ids`, following its documentation
(https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/):
Bearer REST key, JSON body with at most 50 `external_ids` and `fields_to_export`; answers
`{"message": "success", "users": [...], "invalid_user_ids": [...]}`. Records every request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeBraze:
    api_key: str = "test-braze-key"
    profiles: dict = field(default_factory=dict)  # external_id -> braze_id
    requests: list = field(default_factory=list)  # (path, headers, body)

    def start(self) -> "FakeBraze":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = None
                fake.requests.append((self.path, dict(self.headers), body))
                if self.path != "/users/export/ids":
                    return self._json(404, {"message": "Not found"})
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._json(401, {"message": "Invalid API key"})
                if not isinstance(body, dict) or self.headers.get("Content-Type") != "application/json":
                    return self._json(400, {"message": "Invalid JSON"})
                ids = body.get("external_ids") or []
                if len(ids) > 50:
                    return self._json(400, {"message": "Max Input Length Exceeded", "errors": ["too many external_ids"]})
                if not body.get("fields_to_export"):
                    return self._json(400, {"message": "fields_to_export is required"})
                fields = set(body["fields_to_export"])
                users = []
                for external_id in ids:
                    if external_id in fake.profiles:
                        profile = {"external_id": external_id, "braze_id": fake.profiles[external_id],
                                   "email": f"user{external_id}@example.invalid"}
                        users.append({k: v for k, v in profile.items() if k in fields})
                invalid = [i for i in ids if i not in fake.profiles]
                self._json(200, {"message": "success", "users": users, "invalid_user_ids": invalid})

            def _json(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
        return [body for path, _headers, body in self.requests if path == "/users/export/ids"]
