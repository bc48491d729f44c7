"""Assertions every venue's parser tests share."""

from __future__ import annotations

import math

import msgspec

from monitor.core.events import Event


def assert_event_finite(event: Event) -> None:
    """Every number in the event is finite; book levels have a positive price, size >= 0."""
    for item in msgspec.structs.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, float):
            assert math.isfinite(value), (item.name, event)
        elif isinstance(value, tuple):
            for price, size in value:
                assert math.isfinite(price), (item.name, event)
                assert math.isfinite(size), (item.name, event)
                assert price > 0.0, (item.name, event)
                assert size >= 0.0, (item.name, event)
