"""How exhunt writes KQL values to JSON, CSV and the screen: one place for timestamps.

KQL prints datetimes as ISO 8601 UTC with a ``Z``; the fraction is kept when there is one
(trailing zeros trimmed), never rounded to seconds.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any


def iso_utc(ts: _dt.datetime) -> str:
    """``2021-03-02T08:01:00Z`` or ``2021-03-02T08:01:00.5Z``; aware values are converted
    to UTC, naive values are taken as UTC (the tables store UTC)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += ("." + f"{ts.microsecond:06d}").rstrip("0")
    return text + "Z"


def to_json_value(value: Any) -> Any:
    """A DuckDB/Python value as a JSON-ready value (datetimes as ISO strings, lists kept)."""
    if isinstance(value, _dt.datetime):
        return iso_utc(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    return value
