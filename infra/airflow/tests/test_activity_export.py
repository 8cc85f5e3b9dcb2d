"""cdp_activity_export against a local Amplitude Export API: what is requested (path, range,
Basic auth) and what lands in cdp.user_daily_activity, checked against the generated plan."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import random

import psycopg
import pytest

from cdp_etl import pipeline
from cdp_etl.config import AmplitudeConfig
from cdp_etl.validation import ValidationFailed
from support import pg
from support.events import DAY, UTC, at, event, run_for
from support.fake_amplitude import FakeAmplitude

EVENT_TYPES = ["page_view", "search", "listing_viewed", "listing_posted", "transaction_completed"]


@pytest.fixture
def activity_cfg(cfg, amplitude):
    return dataclasses.replace(cfg, amplitude=AmplitudeConfig(
        api_key=amplitude.api_key, secret_key=amplitude.secret_key, base_url=amplitude.base_url, upload_lag_hours=2))


def plan_day(fake: FakeAmplitude, day: dt.date, users: range, seed: int = 3) -> dict:
    """Uploads a day of activity for `users` and returns what each user's row must say."""
    rng = random.Random(seed)
    expected = {}
    for user_id in users:
        row = dict(sessions=0, session_seconds=0, events=0, listings_posted=0, paid_listings=0,
                   transactions=0, credits_spent=0)
        for _ in range(rng.randint(1, 3)):
            start = at(day, rng.randint(0, 21), rng.randint(0, 59), rng.randint(0, 59))
            duration = rng.randint(30, 1800)
            session_id = int(start.timestamp() * 1000)
            count = rng.randint(2, 7)
            offsets = sorted([0, duration] + [rng.randint(0, duration) for _ in range(count - 2)])
            for offset in offsets:
                moment = start + dt.timedelta(seconds=offset)
                kind = rng.choice(EVENT_TYPES)
                props = {}
                if kind == "listing_posted":
                    paid = rng.random() < 0.5
                    props = {"is_paid": rng.choice([True, "true", 1]) if paid else rng.choice([False, "false", 0]),
                             "vertical": "cars"}
                    row["listings_posted"] += 1
                    row["paid_listings"] += int(paid)
                elif kind == "transaction_completed":
                    credits = rng.randint(1, 90)
                    props = {"credits_spent": credits if rng.random() < 0.5 else str(credits)}
                    row["transactions"] += 1
                    row["credits_spent"] += credits
                fake.upload(event(str(user_id), kind, moment, session_id, **props),
                            moment + dt.timedelta(seconds=rng.randint(1, 900)))
                row["events"] += 1
            row["sessions"] += 1
            row["session_seconds"] += duration
        for _ in range(rng.randint(0, 2)):  # events outside any session (session_id -1)
            moment = at(day, rng.randint(0, 22), rng.randint(0, 59))
            fake.upload(event(str(user_id), "push_opened", moment, -1), moment + dt.timedelta(minutes=1))
            row["events"] += 1
        expected[user_id] = row
    return expected


def activity_rows(dsn: str, day: dt.date) -> dict:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute("SELECT * FROM cdp.user_daily_activity WHERE day = %s ORDER BY user_id", (day,)).fetchall()
    return {r.pop("user_id"): {k: v for k, v in r.items() if k != "day"} for r in rows}


def last_batch(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM cdp.ingestion_batches ORDER BY id DESC LIMIT 1").fetchone()


def test_day_is_exported_and_aggregated_per_user(activity_cfg, amplitude):
    expected = plan_day(amplitude, DAY, range(1, 41))
    # Noise the load must skip, each counted in the batch's stats.
    late_prev_day = at(DAY, 0, 5) - dt.timedelta(minutes=15)
    amplitude.upload(event("3", "page_view", late_prev_day, -1), at(DAY, 0, 5))  # yesterday's, uploaded today
    amplitude.upload(event("3", "page_view", at(DAY + dt.timedelta(days=1), 0, 30), -1),
                     at(DAY + dt.timedelta(days=1), 0, 31))  # tomorrow's, inside the upload window
    for n in range(4):  # signed-out traffic
        anonymous = event(None, "page_view", at(DAY, 9, n), 123)
        anonymous.pop("user_id")
        amplitude.upload(anonymous, at(DAY, 9, n, 30))
    amplitude.upload(event("guest-7f3a", "search", at(DAY, 10), 5), at(DAY, 10, 1))  # not an integer id
    amplitude.upload(event("", "search", at(DAY, 10), 5), at(DAY, 10, 1))  # an empty id is no id
    # Uploaded after the window (day end + 2 h lag): not in this export.
    amplitude.upload(event("1", "page_view", at(DAY, 23, 50), -1), at(DAY + dt.timedelta(days=1), 3, 30))

    batch_id = pipeline.run(activity_cfg, "activity", run_for(DAY))

    (request,) = amplitude.export_requests()
    assert request.method == "GET" and request.path == "/api/2/export"
    assert request.query == {"start": DAY.strftime("%Y%m%dT00"),
                             "end": (DAY + dt.timedelta(days=1)).strftime("%Y%m%dT01")}
    token = base64.b64encode(b"test-api-key:test-secret-key").decode()
    assert request.headers["Authorization"] == f"Basic {token}"

    assert activity_rows(activity_cfg.etl_dsn, DAY) == expected

    batch = last_batch(activity_cfg.etl_dsn)
    assert (batch["id"], batch["source"], batch["status"], batch["rows"]) == (batch_id, "activity", "succeeded", 40)
    validation = batch["validation"]
    assert validation["passed"] and validation["scope"]["day"] == DAY.isoformat()
    stats = validation["stage_stats"]
    assert stats["events"]["no_user_id"] == 5 and stats["events"]["invalid_user_id"] == 1
    assert stats["events"]["outside_day"] == 2
    assert stats["events"]["events_counted"] == sum(r["events"] for r in expected.values())
    window_end = at(DAY + dt.timedelta(days=1), 2)
    upload_hours = {t.replace(minute=0, second=0, microsecond=0) for t, _ in amplitude.uploads if t < window_end}
    assert stats["export"]["malformed_lines"] == 0 and stats["export"]["files"] == len(upload_hours)
    assert validation["published"]["inserted"] == 40


def test_an_empty_export_fails_validation(activity_cfg, amplitude):
    with pytest.raises(ValidationFailed, match="row_count"):
        pipeline.run(activity_cfg, "activity", run_for(DAY))

    assert [r.query for r in amplitude.export_requests()] == [
        {"start": DAY.strftime("%Y%m%dT00"), "end": (DAY + dt.timedelta(days=1)).strftime("%Y%m%dT01")}]
    batch = last_batch(activity_cfg.etl_dsn)
    assert batch["status"] == "failed" and "the batch has no rows" in batch["error"]
    assert batch["validation"]["stage_stats"]["export"]["requests"][0]["status"] == 404


def test_a_too_large_export_is_split_into_shorter_ranges(activity_cfg, amplitude):
    expected = plan_day(amplitude, DAY, range(1, 31))
    amplitude.max_events = len(amplitude.uploads) // 3

    pipeline.run(activity_cfg, "activity", run_for(DAY))

    assert activity_rows(activity_cfg.etl_dsn, DAY) == expected
    statuses = [r["status"] for r in last_batch(activity_cfg.etl_dsn)["validation"]["stage_stats"]["export"]["requests"]]
    assert statuses[0] == 400 and statuses.count(200) >= 3
    # The 200 ranges tile the window without overlap.
    ok = [r for r in last_batch(activity_cfg.etl_dsn)["validation"]["stage_stats"]["export"]["requests"] if r["status"] != 400]
    hours = [h for r in ok for h in _hours(r["start"], r["end"])]
    assert hours == _hours(DAY.strftime("%Y%m%dT00"), (DAY + dt.timedelta(days=1)).strftime("%Y%m%dT01"))


def _hours(start: str, end: str) -> list:
    first, last = (dt.datetime.strptime(v, "%Y%m%dT%H") for v in (start, end))
    return [first + dt.timedelta(hours=h) for h in range(int((last - first).total_seconds() // 3600) + 1)]


def test_days_follow_the_reporting_time_zone(activity_cfg, amplitude):
    cfg = dataclasses.replace(activity_cfg, reporting_tz="Asia/Kuwait")  # UTC+3, no DST
    previous = DAY - dt.timedelta(days=1)
    # 21:30 UTC the evening before is 00:30 on DAY in Kuwait; 22:30 UTC on DAY is already tomorrow.
    amplitude.upload(event("5", "search", at(previous, 21, 30), 1, ), at(previous, 21, 31))
    amplitude.upload(event("5", "search", at(DAY, 20, 59), 1), at(DAY, 21, 0))
    amplitude.upload(event("6", "search", at(DAY, 22, 30), 2), at(DAY, 22, 31))

    pipeline.run(cfg, "activity", run_for(DAY))

    (request,) = amplitude.export_requests()
    assert request.query == {"start": previous.strftime("%Y%m%dT21"), "end": DAY.strftime("%Y%m%dT22")}
    rows = activity_rows(cfg.etl_dsn, DAY)
    assert list(rows) == [5]
    assert rows[5]["events"] == 2 and rows[5]["sessions"] == 1
    assert rows[5]["session_seconds"] == int((at(DAY, 20, 59) - at(previous, 21, 30)).total_seconds())


def test_reloading_a_day_replaces_it_and_leaves_other_days(activity_cfg, amplitude):
    with psycopg.connect(activity_cfg.etl_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO cdp.user_daily_activity (user_id, day, events) VALUES (999, %s, 5), (1, %s, 7)",
                     (DAY, DAY - dt.timedelta(days=1)))
    expected = plan_day(amplitude, DAY, range(1, 21))

    pipeline.run(activity_cfg, "activity", pipeline.RunContext("manual__1", dt.datetime.now(UTC), {"day": DAY.isoformat()}))

    assert activity_rows(activity_cfg.etl_dsn, DAY) == expected  # user 999 was not active after all
    assert activity_rows(activity_cfg.etl_dsn, DAY - dt.timedelta(days=1))[1]["events"] == 7
    assert last_batch(activity_cfg.etl_dsn)["validation"]["published"]["deleted"] == 1


def test_a_collapsed_day_fails_and_is_not_published(activity_cfg, amplitude):
    plan_day(amplitude, DAY - dt.timedelta(days=1), range(1, 41))
    pipeline.run(activity_cfg, "activity", run_for(DAY - dt.timedelta(days=1)))
    plan_day(amplitude, DAY, range(1, 11))

    with pytest.raises(ValidationFailed, match="row_count"):
        pipeline.run(activity_cfg, "activity", run_for(DAY))

    assert activity_rows(activity_cfg.etl_dsn, DAY) == {}
    batch = last_batch(activity_cfg.etl_dsn)
    assert batch["status"] == "failed" and batch["rows"] == 10
    row_count = next(c for c in batch["validation"]["checks"] if c["name"] == "row_count")
    assert row_count["details"]["baseline_rows"] == 40


def test_an_unreadable_export_line_fails_validation(activity_cfg, amplitude):
    plan_day(amplitude, DAY, range(1, 6))
    amplitude.upload_raw_line('{"event_type": "search", "user_id": "3", "event_ti', at(DAY, 12))

    with pytest.raises(ValidationFailed, match="export_readable"):
        pipeline.run(activity_cfg, "activity", run_for(DAY))
    assert activity_rows(activity_cfg.etl_dsn, DAY) == {}


def test_wrong_credentials_fail_the_stage(activity_cfg, amplitude):
    cfg = dataclasses.replace(activity_cfg, amplitude=dataclasses.replace(activity_cfg.amplitude, secret_key="wrong"))
    plan_day(amplitude, DAY, range(1, 3))

    with pytest.raises(Exception, match="HTTP 401"):
        pipeline.run(cfg, "activity", run_for(DAY))
    batch = last_batch(cfg.etl_dsn)
    assert batch["status"] == "failed" and batch["error"].startswith("stage failed: VendorError")


def test_without_amplitude_the_load_is_not_configured(cfg):
    with pytest.raises(pipeline.NotConfigured, match="AMPLITUDE_API_KEY"):
        pipeline.begin(cfg, "activity", run_for(DAY))
    assert pg.rows(cfg.etl_dsn, "SELECT * FROM cdp.ingestion_batches") == []
