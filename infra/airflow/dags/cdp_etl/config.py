"""The one typed configuration of the ETL, read from the environment.

Nothing else in the package reads `os.environ`: the DAG tasks call `EtlConfig.from_env()` and
pass the result down; tests build an `EtlConfig` directly. Every variable is documented in
`infra/airflow/README.md`. No credential has a default.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional
from zoneinfo import ZoneInfo


class ConfigError(ValueError):
    """A required variable is missing or a value cannot be parsed."""


@dataclass(frozen=True)
class AmplitudeConfig:
    api_key: str
    secret_key: str
    # https://amplitude.com (default residency) or https://analytics.eu.amplitude.com (EU).
    base_url: str = "https://amplitude.com"
    # Uploads later than this many hours after the end of a day still count for that day.
    upload_lag_hours: int = 2
    # The event taxonomy mapping of activity.py, overridable as a whole (JSON object).
    event_mapping: Optional[dict] = None


@dataclass(frozen=True)
class BrazeConfig:
    api_key: str
    # The REST endpoint of the workspace's instance, e.g. https://rest.fra-01.braze.eu
    rest_endpoint: str
    # Upper bound on external_ids looked up per run (50 per request).
    max_lookups: int = 5000
    # /users/export/ids allows 250 requests per minute on new workspaces.
    requests_per_minute: int = 200


@dataclass(frozen=True)
class EtlConfig:
    # Where the DAGs write (the CDP database). The session switches to the role `cdp_etl`.
    etl_dsn: str
    # The marketplace database the users snapshot is read from (users DAG only).
    source_dsn: Optional[str] = None
    # Table or view in the source with exactly the brief's users columns.
    source_relation: str = "public.users"
    staging_dir: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(), "cdp-etl-staging"))
    keep_failed_staging: bool = False
    chunk_rows: int = 50_000
    reporting_tz: str = "UTC"
    # Validation thresholds (validation.py).
    min_row_ratio: float = 0.5
    max_null_rate: float = 0.05
    http_timeout_seconds: float = 300.0
    amplitude: Optional[AmplitudeConfig] = None
    braze: Optional[BrazeConfig] = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.reporting_tz)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "EtlConfig":
        env = os.environ if environ is None else environ
        return cls.from_lookup(lambda key: _non_empty(env.get(key)))

    @classmethod
    def from_lookup(cls, get: Callable[[str], Optional[str]]) -> "EtlConfig":
        etl_dsn = get("CDP_ETL_DSN")
        if etl_dsn is None:
            raise ConfigError("CDP_ETL_DSN is not set: the DSN of the CDP database the DAGs write to")

        amplitude = None
        api_key, secret_key = get("AMPLITUDE_API_KEY"), get("AMPLITUDE_SECRET_KEY")
        if (api_key is None) != (secret_key is None):
            raise ConfigError("set both AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY, or neither")
        if api_key is not None and secret_key is not None:
            mapping = get("CDP_AMPLITUDE_EVENT_MAPPING")
            amplitude = AmplitudeConfig(
                api_key=api_key,
                secret_key=secret_key,
                base_url=(get("AMPLITUDE_API_BASE_URL") or "https://amplitude.com").rstrip("/"),
                upload_lag_hours=_int(get, "CDP_AMPLITUDE_UPLOAD_LAG_HOURS", 2, minimum=0),
                event_mapping=_json_object("CDP_AMPLITUDE_EVENT_MAPPING", mapping) if mapping else None,
            )

        braze = None
        braze_key, braze_endpoint = get("BRAZE_REST_API_KEY"), get("BRAZE_REST_ENDPOINT")
        if (braze_key is None) != (braze_endpoint is None):
            raise ConfigError("set both BRAZE_REST_API_KEY and BRAZE_REST_ENDPOINT, or neither")
        if braze_key is not None and braze_endpoint is not None:
            braze = BrazeConfig(
                api_key=braze_key,
                rest_endpoint=braze_endpoint.rstrip("/"),
                max_lookups=_int(get, "CDP_BRAZE_MAX_LOOKUPS", 5000, minimum=0),
                requests_per_minute=_int(get, "CDP_BRAZE_REQUESTS_PER_MINUTE", 200, minimum=1),
            )

        tz = get("CDP_REPORTING_TZ") or "UTC"
        try:
            ZoneInfo(tz)
        except Exception as exc:  # ZoneInfoNotFoundError or ValueError on a malformed key
            raise ConfigError(f"CDP_REPORTING_TZ={tz!r} is not a known time zone") from exc

        defaults = cls(etl_dsn=etl_dsn)
        return cls(
            etl_dsn=etl_dsn,
            source_dsn=get("CDP_ETL_SOURCE_DSN"),
            source_relation=get("CDP_ETL_SOURCE_RELATION") or defaults.source_relation,
            staging_dir=get("CDP_ETL_STAGING_DIR") or defaults.staging_dir,
            keep_failed_staging=(get("CDP_ETL_KEEP_FAILED_STAGING") or "").lower() in ("1", "true", "yes"),
            chunk_rows=_int(get, "CDP_ETL_CHUNK_ROWS", defaults.chunk_rows, minimum=1),
            reporting_tz=tz,
            min_row_ratio=_float(get, "CDP_ETL_MIN_ROW_RATIO", defaults.min_row_ratio),
            max_null_rate=_float(get, "CDP_ETL_MAX_NULL_RATE", defaults.max_null_rate),
            http_timeout_seconds=_float(get, "CDP_ETL_HTTP_TIMEOUT_SECONDS", defaults.http_timeout_seconds),
            amplitude=amplitude,
            braze=braze,
        )


def _non_empty(value: Optional[str]) -> Optional[str]:
    return value if value is not None and value.strip() != "" else None


def _int(get: Callable[[str], Optional[str]], key: str, default: int, minimum: int) -> int:
    raw = get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{key}={raw!r} is not an integer") from exc
    if value < minimum:
        raise ConfigError(f"{key}={value} is below its minimum {minimum}")
    return value


def _float(get: Callable[[str], Optional[str]], key: str, default: float) -> float:
    raw = get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{key}={raw!r} is not a number") from exc
    if value < 0:
        raise ConfigError(f"{key}={value} must not be negative")
    return value


def _json_object(key: str, raw: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{key} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a JSON object")
    return value
