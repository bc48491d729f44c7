"""Pure helpers every adapter uses to read venue JSON safely.

Venues send numbers as strings (Binance, Bybit, OKX, Hyperliquid) or JSON floats
(Deribit). Each helper turns one field into a checked Python value or raises
`FeedDecodeError` with the reason label the reject metric uses, so no adapter ever lets a
KeyError, a NaN or a bool-as-number through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

from monitor.core.events import Event, InvalidEventError
from monitor.feeds.base import FeedDecodeError, Instrument

EARLIEST_MS = 1_400_000_000_000  # 2014-05: before any of these venues existed
LATEST_MS = 4_102_444_800_000  # 2100-01-01

E = TypeVar("E", bound=Event)


def loads(venue: str, raw: str | bytes) -> Any:
    """Decode one frame's JSON; anything that is not JSON is `malformed`."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FeedDecodeError(venue, "malformed", f"not JSON: {str(raw)[:80]!r}") from exc


def obj(venue: str, value: Any, where: str) -> Mapping[str, Any]:
    """`value` must be a JSON object."""
    if not isinstance(value, dict):
        raise FeedDecodeError(venue, "malformed", f"{where} is not an object")
    return value


def field(venue: str, message: Mapping[str, Any], key: str) -> Any:
    """A required field."""
    try:
        return message[key]
    except KeyError:
        raise FeedDecodeError(venue, "missing_field", key) from None


def text(venue: str, message: Mapping[str, Any], key: str) -> str:
    """A required non-empty string field."""
    value = field(venue, message, key)
    if not isinstance(value, str) or not value:
        raise FeedDecodeError(venue, "bad_type", f"{key} must be a non-empty string")
    return value


def to_float(venue: str, value: Any, where: str) -> float:
    """A finite number from a JSON number or a numeric string."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise FeedDecodeError(venue, "bad_type", f"{where}={value[:40]!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise FeedDecodeError(venue, "bad_type", f"{where} is {type(value).__name__}")
    if not math.isfinite(number):
        raise FeedDecodeError(venue, "non_finite", f"{where}={value!r}")
    return number


def number(venue: str, message: Mapping[str, Any], key: str) -> float:
    """A required finite number field."""
    return to_float(venue, field(venue, message, key), key)


def price(venue: str, message: Mapping[str, Any], key: str) -> float:
    """A required price: finite and > 0."""
    value = number(venue, message, key)
    if value <= 0.0:
        raise FeedDecodeError(venue, "non_positive_price", f"{key}={value}")
    return value


def size(venue: str, message: Mapping[str, Any], key: str) -> float:
    """A required size: finite and >= 0."""
    value = number(venue, message, key)
    if value < 0.0:
        raise FeedDecodeError(venue, "negative_size", f"{key}={value}")
    return value


def ms_to_ns(venue: str, value: Any, where: str) -> int:
    """Epoch milliseconds (int, float or numeric string) to int nanoseconds, range-checked."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):  # "²".isdigit() is True; int() fails
            raise FeedDecodeError(venue, "bad_timestamp", f"{where}={value[:40]!r}")
        millis = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        millis = value
    elif isinstance(value, float) and math.isfinite(value):
        millis = int(value)
    else:
        raise FeedDecodeError(venue, "bad_timestamp", f"{where}={value!r}")
    if not EARLIEST_MS <= millis <= LATEST_MS:
        raise FeedDecodeError(venue, "bad_timestamp", f"{where}={millis} ms")
    return millis * 1_000_000


def timestamp(venue: str, message: Mapping[str, Any], key: str) -> int:
    """A required epoch-millisecond field, as int nanoseconds."""
    return ms_to_ns(venue, field(venue, message, key), key)


def levels(
    venue: str,
    raw: Any,
    where: str,
    instrument: Instrument,
    reference_price: float | None = None,
) -> tuple[tuple[float, float], ...]:
    """Book levels `[[price, size, ...], ...]` as (price, base size) tuples.

    Extra elements per level (OKX's order counts, deprecated zeros) are ignored. USD-face
    sizes convert at the level's own price.
    """
    if not isinstance(raw, list):
        raise FeedDecodeError(venue, "malformed", f"{where} is not a list")
    out = []
    for level in raw:
        if not isinstance(level, list | tuple) or len(level) < 2:
            raise FeedDecodeError(venue, "malformed", f"{where} level {level!r:.60}")
        level_price = to_float(venue, level[0], f"{where} price")
        level_size = to_float(venue, level[1], f"{where} size")
        if level_price <= 0.0:
            raise FeedDecodeError(venue, "non_positive_price", f"{where} price {level_price}")
        if level_size < 0.0:
            raise FeedDecodeError(venue, "negative_size", f"{where} size {level_size}")
        out.append((level_price, instrument.to_base(level_size, reference_price or level_price)))
    return tuple(out)


def build(source: str, constructor: Callable[..., E], /, **fields: Any) -> E:
    """Construct an event; its own validation failures become feed rejects of `source`."""
    try:
        return constructor(**fields)
    except InvalidEventError as exc:
        raise FeedDecodeError(source, exc.reason, str(exc)) from exc
