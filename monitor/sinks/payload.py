"""The JSON documents liqmon publishes, encoded once so every sink sends the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from monitor.core.alerts import Alert

NS = 1_000_000_000


def iso_time(ts_ns: int) -> str:
    """UTC ISO-8601 with milliseconds, e.g. ``2026-11-22T10:00:00.123Z``."""
    seconds, rest = divmod(ts_ns, NS)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1_000_000:03d}Z"


def alert_document(alert: Alert) -> dict[str, Any]:
    """The alert object of the MQTT topic and the webhook body."""
    return {"time": iso_time(alert.ts_ns), **alert.as_json()}


def encode(document: object) -> bytes:
    """Compact JSON; NaN never gets here (the core rejects it), orjson would write null."""
    return orjson.dumps(document)
