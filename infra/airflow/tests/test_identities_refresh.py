"""cdp_identities_refresh: amplitude_id from the Amplitude export, braze_id from Braze's
/users/export/ids (≤ 50 ids per request, Bearer key), each source skipped when unconfigured."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import psycopg
import pytest

from cdp_etl import pipeline
from cdp_etl.config import AmplitudeConfig, BrazeConfig
from support import pg
from support.fake_amplitude import FakeAmplitude
from support.fake_braze import FakeBraze
from support.events import DAY, at, event, run_for


def amplitude_cfg(fake: FakeAmplitude) -> AmplitudeConfig:
    return AmplitudeConfig(api_key=fake.api_key, secret_key=fake.secret_key, base_url=fake.base_url)


def braze_cfg(fake: FakeBraze) -> BrazeConfig:
    return BrazeConfig(api_key=fake.api_key, rest_endpoint=fake.base_url, requests_per_minute=6000)


def identities(dsn: str) -> dict:
    return {r[0]: (r[1], r[2]) for r in pg.rows(dsn, "SELECT user_id, amplitude_id, braze_id FROM cdp.identities")}


def last_batch(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM cdp.ingestion_batches ORDER BY id DESC LIMIT 1").fetchone()


def upload_users(fake: FakeAmplitude, users: range) -> dict:
    """Each user is seen on DAY under one amplitude_id; returns the expected amplitude_id."""
    expected = {}
    for user_id in users:
        e = event(str(user_id), "page_view", at(DAY, 8 + user_id % 12, user_id % 60), 1)
        e["amplitude_id"] = 5_000_000 + user_id
        fake.upload(e, at(DAY, 8 + user_id % 12, user_id % 60, 30))
        expected[user_id] = str(5_000_000 + user_id)
    return expected


def test_amplitude_and_braze_ids_are_refreshed(cfg, amplitude, braze):
    cfg = dataclasses.replace(cfg, amplitude=amplitude_cfg(amplitude), braze=braze_cfg(braze))
    expected_amplitude = upload_users(amplitude, range(1, 121))
    # User 7 was merged in Amplitude later that day: its latest event carries the new id.
    merged = event("7", "search", at(DAY, 23, 0), 2)
    merged["amplitude_id"] = 7_777_777
    amplitude.upload(merged, at(DAY, 23, 1))
    expected_amplitude[7] = "7777777"
    # Braze knows the even users; user 2 already has a braze_id in the CDP (not looked up again);
    # user 500 was active on DAY per cdp.user_daily_activity but not in this export.
    braze.profiles = {str(u): f"braze-{u}" for u in list(range(2, 121, 2)) + [500]}
    with psycopg.connect(cfg.etl_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO cdp.identities (user_id, amplitude_id, braze_id) VALUES (2, 'old', 'braze-2-kept')")
        conn.execute("INSERT INTO cdp.user_daily_activity (user_id, day, events) VALUES (500, %s, 3)", (DAY,))

    batch_id = pipeline.run(cfg, "identities", run_for(DAY))

    requests = braze.export_requests()
    looked_up = [i for body in requests for i in body["external_ids"]]
    assert all(len(body["external_ids"]) <= 50 for body in requests)
    assert [len(body["external_ids"]) for body in requests] == [50, 50, 20]
    assert all(body["fields_to_export"] == ["external_id", "braze_id"] for body in requests)
    assert sorted(looked_up, key=int) == [str(u) for u in list(range(1, 121)) + [500] if u != 2]
    (path, headers, _) = braze.requests[0]
    assert headers["Authorization"] == "Bearer test-braze-key"

    got = identities(cfg.etl_dsn)
    assert got[2] == (expected_amplitude[2], "braze-2-kept")
    assert got[7] == ("7777777", None)
    assert got[8] == (expected_amplitude[8], "braze-8")
    assert got[500] == (None, "braze-500")
    assert set(got) == set(range(1, 121)) | {500}

    batch = last_batch(cfg.etl_dsn)
    assert (batch["id"], batch["source"], batch["status"], batch["rows"]) == (batch_id, "identities", "succeeded", 121)
    assert batch["validation"]["published"]["sources"] == {"amplitude": "exported", "braze": "exported"}
    assert batch["validation"]["stage_stats"]["braze"] == {"looked_up": 120, "found": 60, "requests": 3}


def test_braze_not_configured_is_logged_and_skipped(cfg, amplitude, caplog):
    cfg = dataclasses.replace(cfg, amplitude=amplitude_cfg(amplitude))
    expected = upload_users(amplitude, range(1, 31))

    with caplog.at_level(logging.WARNING):
        pipeline.run(cfg, "identities", run_for(DAY))

    assert "Braze is not configured" in caplog.text
    assert identities(cfg.etl_dsn) == {u: (a, None) for u, a in expected.items()}
    batch = last_batch(cfg.etl_dsn)
    assert batch["status"] == "succeeded"
    assert batch["validation"]["published"]["sources"] == {"amplitude": "exported", "braze": "not configured"}


def test_amplitude_not_configured_uses_braze_for_active_users(cfg, braze, caplog):
    cfg = dataclasses.replace(cfg, braze=braze_cfg(braze))
    braze.profiles = {"11": "braze-11", "12": "braze-12"}
    with psycopg.connect(cfg.etl_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO cdp.user_daily_activity (user_id, day, events) "
                     "SELECT u, %s, 1 FROM generate_series(10, 13) u", (DAY,))

    with caplog.at_level(logging.WARNING):
        pipeline.run(cfg, "identities", run_for(DAY))

    assert "Amplitude is not configured" in caplog.text
    assert identities(cfg.etl_dsn) == {11: (None, "braze-11"), 12: (None, "braze-12")}


def test_with_no_identity_source_the_run_is_skipped(cfg):
    with pytest.raises(pipeline.NotConfigured, match="neither Amplitude"):
        pipeline.begin(cfg, "identities", run_for(DAY))
    assert pg.rows(cfg.etl_dsn, "SELECT * FROM cdp.ingestion_batches") == []


def test_braze_errors_fail_the_batch(cfg, braze):
    cfg = dataclasses.replace(cfg, braze=dataclasses.replace(braze_cfg(braze), api_key="revoked"))
    with psycopg.connect(cfg.etl_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO cdp.user_daily_activity (user_id, day, events) VALUES (10, %s, 1)", (DAY,))

    with pytest.raises(Exception, match="HTTP 401"):
        pipeline.run(cfg, "identities", run_for(DAY))
    assert last_batch(cfg.etl_dsn)["status"] == "failed"
    assert identities(cfg.etl_dsn) == {}
