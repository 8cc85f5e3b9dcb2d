"""Small HTTP layer over urllib for the vendor clients (Amplitude, Braze).

Retries what is worth retrying (429, 500, 502, 503, connection errors) with exponential
backoff and honours `Retry-After` / `X-RateLimit-Reset`; every other status goes back to the
caller, which knows what it means for its API (e.g. Amplitude's 404 "no data").
"""

from __future__ import annotations

import http.client
import logging
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503})


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes  # empty when the body was streamed to a file


class VendorError(RuntimeError):
    def __init__(self, vendor: str, status: Optional[int], message: str):
        self.vendor, self.status = vendor, status
        super().__init__(f"{vendor}: {message}")


def request(
    vendor: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: Optional[bytes] = None,
    timeout: float = 300.0,
    into_file: Optional[str] = None,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
) -> Response:
    """Sends the request; a 2xx body goes to `into_file` when given (streamed), else memory."""
    delay = 2.0
    for attempt in range(1, attempts + 1):
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if into_file is not None:
                    with open(into_file, "wb") as out:
                        shutil.copyfileobj(resp, out, 1 << 20)
                    return Response(resp.status, dict(resp.headers), b"")
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            payload = err.read()
            if err.code in RETRYABLE and attempt < attempts:
                wait = _retry_after(err.headers, delay)
                log.warning("%s: HTTP %s on %s %s; retrying in %.0fs (attempt %s/%s)",
                            vendor, err.code, method, url, wait, attempt, attempts)
                sleep(wait)
                delay *= 3
                continue
            return Response(err.code, dict(err.headers or {}), payload)
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as err:
            if attempt < attempts:
                log.warning("%s: %s on %s %s; retrying in %.0fs", vendor, err, method, url, delay)
                sleep(delay)
                delay *= 3
                continue
            raise VendorError(vendor, None, f"{method} {url} failed: {err}") from err
    raise AssertionError("unreachable")


def _retry_after(headers, default: float) -> float:
    if headers is None:
        return default
    retry_after = headers.get("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), 300.0)
    reset = headers.get("X-RateLimit-Reset")  # Braze: epoch seconds
    if reset and reset.strip().isdigit():
        return min(max(float(reset) - time.time(), 1.0), 300.0)
    return default

