"""The pieces without I/O: configuration from the environment, export windows, target days,
and the event mapping of the activity aggregation."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cdp_etl import amplitude
from cdp_etl.activity import EVENT_MAPPING, DailyActivity, mapping_from
from cdp_etl.config import ConfigError, EtlConfig
from cdp_etl.pipeline import RunContext

UTC = dt.timezone.utc


def test_config_needs_the_etl_dsn_and_has_no_credential_defaults():
    with pytest.raises(ConfigError, match="CDP_ETL_DSN"):
        EtlConfig.from_env({})
    cfg = EtlConfig.from_env({"CDP_ETL_DSN": "dbname=cdp"})
    assert cfg.amplitude is None and cfg.braze is None and cfg.source_dsn is None
    assert (cfg.min_row_ratio, cfg.max_null_rate, cfg.reporting_tz) == (0.5, 0.05, "UTC")


def test_config_reads_integrations_as_pairs():
    env = {"CDP_ETL_DSN": "dbname=cdp", "AMPLITUDE_API_KEY": "k", "AMPLITUDE_SECRET_KEY": "s",
           "AMPLITUDE_API_BASE_URL": "https://analytics.eu.amplitude.com/", "BRAZE_REST_API_KEY": "b",
           "BRAZE_REST_ENDPOINT": "https://rest.fra-01.braze.eu", "CDP_REPORTING_TZ": "Asia/Kuwait",
           "CDP_ETL_MIN_ROW_RATIO": "0.8", "CDP_AMPLITUDE_EVENT_MAPPING": '{"a": 1}'}
    cfg = EtlConfig.from_env(env)
    assert cfg.amplitude.base_url == "https://analytics.eu.amplitude.com"
    assert cfg.amplitude.event_mapping == {"a": 1}
    assert cfg.braze.rest_endpoint == "https://rest.fra-01.braze.eu"
    assert cfg.tz == ZoneInfo("Asia/Kuwait") and cfg.min_row_ratio == 0.8
    with pytest.raises(ConfigError, match="AMPLITUDE_SECRET_KEY"):
        EtlConfig.from_env({"CDP_ETL_DSN": "x", "AMPLITUDE_API_KEY": "k"})
    with pytest.raises(ConfigError, match="BRAZE_REST_ENDPOINT"):
        EtlConfig.from_env({"CDP_ETL_DSN": "x", "BRAZE_REST_API_KEY": "k"})
    with pytest.raises(ConfigError, match="time zone"):
        EtlConfig.from_env({"CDP_ETL_DSN": "x", "CDP_REPORTING_TZ": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="not a number"):
        EtlConfig.from_env({"CDP_ETL_DSN": "x", "CDP_ETL_MAX_NULL_RATE": "lots"})


def test_export_window_covers_the_local_day_plus_the_upload_lag():
    day = dt.date(2026, 3, 29)  # Europe/Berlin switches to summer time that night
    utc = amplitude.window_for_day(day, ZoneInfo("UTC"), 2).as_params()
    assert utc == {"start": "20260329T00", "end": "20260330T01"}
    berlin = amplitude.window_for_day(day, ZoneInfo("Europe/Berlin"), 0).as_params()
    assert berlin == {"start": "20260328T23", "end": "20260329T21"}  # a 23-hour day
    india = amplitude.window_for_day(day, ZoneInfo("Asia/Kolkata"), 0).as_params()
    assert india == {"start": "20260328T18", "end": "20260329T18"}  # half-hour offset: 18:30..18:29


def test_export_is_refused_before_its_last_hour_is_available():
    window = amplitude.window_for_day(dt.date(2026, 5, 1), ZoneInfo("UTC"), 2)  # last hour 05-02T01
    amplitude.ensure_exportable(window, now=dt.datetime(2026, 5, 2, 4, 0, tzinfo=UTC))
    with pytest.raises(amplitude.ExportNotReady):
        amplitude.ensure_exportable(window, now=dt.datetime(2026, 5, 2, 3, 59, tzinfo=UTC))


def test_target_day_is_the_day_before_the_run_or_the_conf_day():
    cfg = EtlConfig(etl_dsn="x", reporting_tz="Asia/Kuwait")
    scheduled = RunContext("r", dt.datetime(2026, 5, 2, 5, 0, tzinfo=UTC))
    assert scheduled.target_day(cfg) == dt.date(2026, 5, 1)
    late_evening = RunContext("r", dt.datetime(2026, 5, 2, 22, 0, tzinfo=UTC))  # already 05-03 in Kuwait
    assert late_evening.target_day(cfg) == dt.date(2026, 5, 2)
    assert RunContext("r", scheduled.reference_time, {"day": "2026-04-10"}).target_day(cfg) == dt.date(2026, 4, 10)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        RunContext("r", scheduled.reference_time, {"day": "yesterday"}).target_day(cfg)


def test_user_ids_must_be_the_marketplace_integer_ids():
    assert amplitude.marketplace_user_id({"user_id": "42"}) == (42, "")
    assert amplitude.marketplace_user_id({"user_id": 42}) == (42, "")
    assert amplitude.marketplace_user_id({}) == (None, "no_user_id")
    assert amplitude.marketplace_user_id({"user_id": "  "}) == (None, "no_user_id")
    for bad in ("u-42", "-3", "0", "4.2", str(2**31)):
        assert amplitude.marketplace_user_id({"user_id": bad}) == (None, "invalid_user_id")


def test_the_event_mapping_can_be_replaced_as_a_whole():
    custom = {"listing_posted_event_types": ["Ad Created"], "paid_listing_property": "plan_paid",
              "transaction_event_types": ["Purchase"], "credits_spent_event_types": ["Purchase", "Ad Created"],
              "credits_spent_property": "credits"}
    day = dt.date(2026, 5, 1)
    agg = DailyActivity(day, ZoneInfo("UTC"), mapping_from(custom))
    t = "2026-05-01 10:00:00.000000"
    agg.add({"user_id": "9", "event_type": "Ad Created", "event_time": t, "session_id": 1,
             "event_properties": {"plan_paid": "yes", "credits": 12.4}})
    agg.add({"user_id": "9", "event_type": "Purchase", "event_time": t, "session_id": 1,
             "event_properties": {"credits": "7.7"}})
    agg.add({"user_id": "9", "event_type": "Purchase", "event_time": t, "session_id": 1,
             "event_properties": {"credits": "n/a"}})
    assert list(agg.rows()) == [(9, "2026-05-01", 1, 0, 3, 1, 1, 2, 20)]
    assert agg.stats["invalid_credits"] == 1
    with pytest.raises(ValueError, match="missing keys"):
        mapping_from({"listing_posted_event_types": []})
    assert mapping_from(None) is EVENT_MAPPING
