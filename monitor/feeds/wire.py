"""Pure helpers every adapter uses to read venue JSON safely.

Venues send numbers as strings (Binance, Bybit, OKX, Hyperliquid) or JSON floats
(Deribit). Each helper turns one field into a checked Python value or raises
`FeedDecodeError` with the reason label the reject metric uses, so no adapter ever lets a
KeyError, a NaN or a bool-as-number through.

Fast paths. The hottest channels are first decoded by `msgspec` straight into a typed
struct of the few fields they use (`decoder`, `fast`), which skips building a dict of every
field and reading it back through the helpers here. A fast path only ever *accepts*: the
types below admit exactly the values the precise readers accept (a subset, where msgspec's
number grammar is narrower than `float()`'s), and any frame it cannot take whole, for any
reason, is handed to the ordinary orjson path, which accepts it or names the precise reject
reason. So the bad-input contract is the precise path's, and only good frames get faster.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeAlias, TypeVar

import msgspec
import orjson

from monitor.core.events import Event, InvalidEventError
from monitor.feeds.base import FeedDecodeError, Instrument, SizeUnit

EARLIEST_MS = 1_400_000_000_000  # 2014-05: before any of these venues existed
LATEST_MS = 4_102_444_800_000  # 2100-01-01
_INF = math.inf
_MAX_DIGITS = 20
"""Longer digit strings are never plausible epoch ms, and `int()` refuses very long ones."""
_BASE: Final = SizeUnit.BASE  # a constant: the enum lookup is ~0.08 µs in Python 3.11
_MS_DIGITS = 13
"""Every plausible epoch ms (`EARLIEST_MS` to `LATEST_MS`) has 13 digits."""

E = TypeVar("E", bound=Event)
S = TypeVar("S")

_MAX = sys.float_info.max  # msgspec bounds must be finite: `<= max` is `< inf`
Price: TypeAlias = Annotated[float, msgspec.Meta(gt=0.0, le=_MAX)]
"""A fast-path price: what `price` accepts (finite, > 0; "nan"/"inf" strings fail)."""
Size: TypeAlias = Annotated[float, msgspec.Meta(ge=0.0, le=_MAX)]
"""A fast-path size: what `size` accepts (finite, >= 0)."""
Number: TypeAlias = Annotated[float, msgspec.Meta(ge=-_MAX, le=_MAX)]
"""A fast-path number: what `number` accepts (finite)."""
MAX_INT: Final = 2**64 - 1
"""The largest JSON integer orjson (the precise path) reads as an int; msgspec reads any, so
a fast path that takes a `Scalar` integer checks this bound too."""
Levels: TypeAlias = tuple[tuple[Price, Size], ...]
"""Fast-path book levels in base units: what `levels` accepts of `[[price, size], ...]` and
gives back, decoded in C instead of a `float()` per string (a level with more elements is
left to `levels`). One difference, harmless: a size `"-0"` reads as 0.0, not -0.0; both
delete the level."""
Scalar: TypeAlias = int | float | str
"""A field whose JSON type the adapter judges itself (e.g. Binance times must be ints):
decoding keeps the wire type instead of coercing it."""


def decoder(kind: type[S]) -> msgspec.json.Decoder[S]:
    """A fast-path decoder for `kind`; numeric strings decode into float fields."""
    return msgspec.json.Decoder(kind, strict=False)


def fast(decoder: msgspec.json.Decoder[S], raw: str) -> S | None:
    """The frame as `decoder`'s struct, or None: then the precise path must judge it.

    One known difference, harmless: a number out of float range (`1e400`) in a field the
    struct does not read is skipped here, while orjson refuses the whole frame as malformed.
    No event differs; only that frame's reject count does.

    Besides its own errors msgspec raises RecursionError on deeply nested values (even in
    fields the struct skips) and UnicodeEncodeError on a str with a lone surrogate; the
    precise path names those frames as it always did. A struct with optional fields must
    also ask `null_text` when one of them comes out None.
    """
    try:
        return decoder.decode(raw)
    except (msgspec.MsgspecError, RecursionError, UnicodeEncodeError):
        return None


def null_text(raw: str) -> bool:
    """Whether a frame holds the string "null" (read as an absent optional field by lax mode).

    The precise path calls it a wrong type. A fast path whose optional field came out None
    sends such a frame the precise way; it asks only then, as a scan of every frame would
    cost the fast paths 5-15 % (bench_feeds).
    """
    return '"null"' in raw


def fast_ms_to_ns(value: object) -> int | None:
    """Plausible epoch ms (a JSON integer) as ns, or None for anything `ms_to_ns` must judge.

    For venues whose precise path accepts integers only (Binance).
    """
    if type(value) is int and EARLIEST_MS <= value <= LATEST_MS:
        return value * 1_000_000
    return None


def fast_digits_ms_to_ns(value: object) -> int | None:
    """`fast_ms_to_ns` that also takes a plain 13-digit string, which `timestamp` accepts.

    A separate function, not a flag: it runs once per timestamp on the hot path, where a
    keyword argument is a measurable cost. No `isdigit()` either (the dearest step): an
    ASCII string of 13 characters that `int()` reads as at least `EARLIEST_MS`, a 13-digit
    number, has only digits, as a sign, space or underscore would leave fewer than 13.
    """
    if type(value) is str and len(value) == _MS_DIGITS and value.isascii():
        try:
            value = int(value)
        except ValueError:
            return None
    if type(value) is int and EARLIEST_MS <= value <= LATEST_MS:
        return value * 1_000_000
    return None


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
    if type(value) is str and value:
        return value
    if not isinstance(value, str) or not value:
        raise FeedDecodeError(venue, "bad_type", f"{key} must be a non-empty string")
    return value


def to_float(venue: str, value: Any, where: str) -> float:
    """A finite number from a JSON number or a numeric string."""
    kind = type(value)
    if kind is str or kind is float or kind is int:
        try:
            number = float(value)
        except (ValueError, OverflowError):
            pass  # the precise path below names the problem
        else:
            if -_INF < number < _INF:
                return number
    return _to_float(venue, value, where)


def _to_float(venue: str, value: Any, where: str) -> float:
    """`to_float`, precise: the error for each kind of bad value."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise FeedDecodeError(venue, "bad_type", f"{where}={value[:40]!r}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range (orjson stops at 64 bits)
            raise FeedDecodeError(venue, "non_finite", f"{where} is out of range") from None
    else:
        raise FeedDecodeError(venue, "bad_type", f"{where} is {type(value).__name__}")
    if not math.isfinite(number):
        raise FeedDecodeError(venue, "non_finite", f"{where}={value!r}")
    return number


# The three field readers below try the common case first (a numeric string or a JSON
# number, in range) with one type test and one chained comparison, and fall back to the
# precise checks for anything else, so every bad value still gets its own reason.


def number(venue: str, message: Mapping[str, Any], key: str) -> float:
    """A required finite number field."""
    try:
        value = message[key]
    except KeyError:
        raise FeedDecodeError(venue, "missing_field", key) from None
    kind = type(value)
    if kind is str or kind is float or kind is int:
        try:
            result = float(value)
        except (ValueError, OverflowError):
            pass
        else:
            if -_INF < result < _INF:
                return result
    return _to_float(venue, value, key)


def price(venue: str, message: Mapping[str, Any], key: str) -> float:
    """A required price: finite and > 0."""
    try:
        value = message[key]
    except KeyError:
        raise FeedDecodeError(venue, "missing_field", key) from None
    kind = type(value)
    if kind is str or kind is float or kind is int:
        try:
            result = float(value)
        except (ValueError, OverflowError):
            pass
        else:
            if 0.0 < result < _INF:
                return result
    result = _to_float(venue, value, key)
    if result <= 0.0:
        raise FeedDecodeError(venue, "non_positive_price", f"{key}={result}")
    return result


def size(venue: str, message: Mapping[str, Any], key: str) -> float:
    """A required size: finite and >= 0."""
    try:
        value = message[key]
    except KeyError:
        raise FeedDecodeError(venue, "missing_field", key) from None
    kind = type(value)
    if kind is str or kind is float or kind is int:
        try:
            result = float(value)
        except (ValueError, OverflowError):
            pass
        else:
            if 0.0 <= result < _INF:
                return result
    result = _to_float(venue, value, key)
    if result < 0.0:
        raise FeedDecodeError(venue, "negative_size", f"{key}={result}")
    return result


def ms_to_ns(venue: str, value: Any, where: str) -> int:
    """Epoch milliseconds (int, float or numeric string) to int nanoseconds, range-checked."""
    if type(value) is int and EARLIEST_MS <= value <= LATEST_MS:
        return value * 1_000_000
    if isinstance(value, str):
        # "²".isdigit() is True and int() fails; so does int() past 4,300 digits.
        if not (value.isascii() and value.isdigit()) or len(value) >= _MAX_DIGITS:
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
    try:
        value = message[key]
    except KeyError:
        raise FeedDecodeError(venue, "missing_field", key) from None
    if type(value) is int and EARLIEST_MS <= value <= LATEST_MS:
        return value * 1_000_000
    return ms_to_ns(venue, value, key)


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
    if type(raw) is list:
        # Fast pass: string or float pairs, in range. On the first other level, hand the
        # whole list to the precise pass (which also accepts ints, or names the error).
        out = []
        in_base = instrument.size_unit is _BASE
        for level in raw:
            if type(level) is not list or len(level) < 2:
                break
            level_price, level_size = level[0], level[1]
            kind_price, kind_size = type(level_price), type(level_size)
            if not (
                (kind_price is str or kind_price is float)
                and (kind_size is str or kind_size is float)
            ):
                break
            try:
                level_price = float(level_price)
                level_size = float(level_size)
            except ValueError:
                break
            if not (0.0 < level_price < _INF and 0.0 <= level_size < _INF):
                break
            if not in_base:
                level_size = instrument.to_base(level_size, reference_price or level_price)
            out.append((level_price, level_size))
        else:
            return tuple(out)
    return _levels(venue, raw, where, instrument, reference_price)


def _levels(
    venue: str,
    raw: Any,
    where: str,
    instrument: Instrument,
    reference_price: float | None,
) -> tuple[tuple[float, float], ...]:
    """`levels`, precise: the error for each kind of bad level."""
    if not isinstance(raw, list):
        raise FeedDecodeError(venue, "malformed", f"{where} is not a list")
    out = []
    for level in raw:
        if not isinstance(level, list | tuple) or len(level) < 2:
            raise FeedDecodeError(venue, "malformed", f"{where} level {level!r:.60}")
        level_price = _to_float(venue, level[0], f"{where} price")
        level_size = _to_float(venue, level[1], f"{where} size")
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
