"""Amplitude events as the Export API returns them, for a day far enough in the past that its
upload hours are all exportable."""

from __future__ import annotations

import datetime as dt
import uuid

from cdp_etl import pipeline

UTC = dt.timezone.utc
DAY = (dt.datetime.now(UTC) - dt.timedelta(days=5)).date()


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=UTC)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # the export's format


def event(user_id, event_type: str, moment: dt.datetime, session_id: int, **props) -> dict:
    return {
        "uuid": str(uuid.uuid4()), "$insert_id": str(uuid.uuid4()), "app": 187520,
        "event_type": event_type, "user_id": user_id, "device_id": f"device-{user_id}",
        "amplitude_id": 900_000_000 + (int(user_id) if str(user_id).isdigit() else 0),
        "session_id": session_id, "event_time": stamp(moment), "client_event_time": stamp(moment),
        "event_properties": props, "user_properties": {}, "platform": "iOS",
    }


def run_for(day: dt.date) -> pipeline.RunContext:
    """A scheduled run the morning after `day`: the target day is derived, not passed."""
    return pipeline.RunContext(run_id=f"scheduled__{day}", reference_time=at(day + dt.timedelta(days=1), 5))
