"""Normalised, immutable market events emitted by the venue adapters.

Every venue speaks its own dialect (sizes in contracts or USD, order side vs position side,
milliseconds as strings); adapters translate into these classes so nothing downstream ever
sees venue quirks. Conventions (exchange-feeds.md §1):

- Prices are quote currency per base unit; USDT/USDC are treated as USD.
- Sizes and quantities are in **base units** (coins). Adapters convert OKX contracts
  (× ``ctVal``) and Deribit inverse USD face (÷ price) before building an event.
- ``ts_event_ns`` is the exchange's time, ``ts_recv_ns`` our receive time, both integer
  nanoseconds since the Unix epoch. They are independent clocks: no ordering is enforced.
- A liquidation's ``side`` is the side of the *position* that was liquidated, never the side
  of the liquidation order (Binance ``SELL`` and Bybit ``Buy`` both mean a long died).

Construction validates every field, so NaN, ±inf, a non-positive price or a negative size can
never exist in an event. A bad message raises :class:`InvalidEventError`, whose ``reason`` is
one of a small fixed set (``REJECT_REASONS``), used as the ``reason`` label of
``liqmon_feed_rejected_total{venue,reason}``:

- ``bad_type``: a field has the wrong type (e.g. a str or bool price, a list of levels,
  a plain str where a ``Side`` is required).
- ``bad_identifier``: ``venue`` or ``symbol`` is empty.
- ``bad_timestamp``: a timestamp is not a non-negative ``int`` (``bool`` is rejected).
- ``bad_sequence``: a book sequence number is not a non-negative ``int``.
- ``non_finite``: a number is NaN or infinite.
- ``non_positive_price``: a price is zero or negative.
- ``negative_size``: a size, quantity or open interest is negative.
- ``zero_size``: a trade or liquidation quantity is zero.
- ``unsorted_levels``: snapshot bids are not strictly descending or asks not strictly
  ascending by price.
- ``crossed_book``: a snapshot's best bid is at or above its best ask.

Speed. Adapters build hundreds of thousands of events a second, so the classes are frozen
``msgspec.Struct`` types (``gc=False``: they hold only scalars, strings and tuples of
floats): construction stores the fields in C (~0.1 µs against ~0.55 µs for a frozen slotted
dataclass), then ``__post_init__`` validates. It makes one combined test per field group on
the happy path (``type(x) is float and 0.0 < x < inf`` is false for NaN, ±inf, bool, str and
subclasses alike), and only when it fails the precise ``_check_*`` helpers, which accept
what they always accepted (an ``int`` price, a ``float`` subclass such as ``numpy.float64``)
and otherwise raise the exact error. ``__post_init__`` also runs on unpickling and on
``msgspec.structs.replace``, so no path makes an unchecked event. The ``new_<event>`` names
(``new_mark_price`` ...) are the classes themselves: they were the fast path of the
dataclass events and stay for their callers.
"""

import math
from enum import StrEnum
from typing import Literal, TypeAlias, get_args

import msgspec

RejectReason: TypeAlias = Literal[
    "bad_type",
    "bad_identifier",
    "bad_timestamp",
    "bad_sequence",
    "non_finite",
    "non_positive_price",
    "negative_size",
    "zero_size",
    "unsorted_levels",
    "crossed_book",
]

#: Every possible ``InvalidEventError.reason``, so metrics can pre-create their label sets.
REJECT_REASONS: tuple[RejectReason, ...] = get_args(RejectReason)

Level: TypeAlias = tuple[float, float]
"""A book level: (price, size in base units)."""


class Side(StrEnum):
    """Side of a *position* (for a liquidation: the position that was liquidated)."""

    LONG = "long"
    SHORT = "short"


class Aggressor(StrEnum):
    """Taker side of a trade; drives the speculative-share tilt of the ledger."""

    BUY = "buy"
    SELL = "sell"


class InvalidEventError(ValueError):
    """A venue message that cannot become an event; ``reason`` is a fixed metric label."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason


_INF = math.inf


def _check_identifier(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise InvalidEventError("bad_type", f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidEventError("bad_identifier", f"{name} must not be empty")


def _check_timestamp(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidEventError(
            "bad_timestamp", f"{name} must be a non-negative int (ns), got {value!r}"
        )


def _check_sequence(value: object, name: str) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidEventError(
            "bad_sequence", f"{name} must be a non-negative int or None, got {value!r}"
        )


def _check_finite(value: object, name: str) -> float:
    # bool is an int subclass; a True "price" is always an adapter bug.
    if not isinstance(value, float | int) or isinstance(value, bool):
        raise InvalidEventError("bad_type", f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidEventError("non_finite", f"{name} must be finite, got {value!r}")
    return value


def _check_price(value: object, name: str) -> float:
    price = _check_finite(value, name)
    if price <= 0:
        raise InvalidEventError("non_positive_price", f"{name} must be > 0, got {price!r}")
    return price


def _check_size(value: object, name: str, *, positive: bool) -> None:
    size = _check_finite(value, name)
    if size < 0:
        raise InvalidEventError("negative_size", f"{name} must be >= 0, got {size!r}")
    if positive and size == 0:
        raise InvalidEventError("zero_size", f"{name} must be > 0")


def _check_header(event: "_Header") -> None:
    _check_identifier(event.venue, "venue")
    _check_identifier(event.symbol, "symbol")
    _check_timestamp(event.ts_event_ns, "ts_event_ns")
    _check_timestamp(event.ts_recv_ns, "ts_recv_ns")


def _header(event: "_Header") -> None:
    """The fields every event has: one cheap test, the precise checks only on failure."""
    venue, symbol = event.venue, event.symbol
    ts_event_ns, ts_recv_ns = event.ts_event_ns, event.ts_recv_ns
    if not (
        type(venue) is str
        and venue
        and type(symbol) is str
        and symbol
        and type(ts_event_ns) is int
        and ts_event_ns >= 0
        and type(ts_recv_ns) is int
        and ts_recv_ns >= 0
    ):
        _check_header(event)


def _levels_ok(levels: object, order: Literal[-1, 0, 1]) -> bool:
    """Fast path of `_check_levels`: True only for tuples of valid float pairs in order.

    False means "ask the precise check", not "invalid": int prices, for example, are valid.
    """
    if type(levels) is not tuple:
        return False
    previous = math.nan
    for level in levels:
        if type(level) is not tuple or len(level) != 2:
            return False
        price, size = level
        if not (
            type(price) is float
            and 0.0 < price < _INF
            and type(size) is float
            and 0.0 <= size < _INF
        ):
            return False
        if (order < 0 and price >= previous) or (order > 0 and price <= previous):
            return False
        previous = price
    return True


def _check_levels(levels: object, name: str, *, order: Literal[-1, 0, 1]) -> None:
    """Validate book levels; ``order`` −1 = strictly descending, +1 = ascending, 0 = any."""
    # Tuples only: a list would make the event mutable and unhashable.
    if not isinstance(levels, tuple):
        raise InvalidEventError("bad_type", f"{name} must be a tuple of (price, size) tuples")
    previous = math.nan
    for level in levels:
        if not isinstance(level, tuple) or len(level) != 2:
            raise InvalidEventError("bad_type", f"{name} levels must be (price, size) tuples")
        price = _check_price(level[0], f"{name} price")
        _check_size(level[1], f"{name} size", positive=False)
        # NaN start makes the first comparison False, so the first level always passes.
        if (order < 0 and price >= previous) or (order > 0 and price <= previous):
            raise InvalidEventError(
                "unsorted_levels",
                f"{name} must be strictly {'descending' if order < 0 else 'ascending'} by price",
            )
        previous = price


class _Header(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The fields every event has, first in each event's field order.

    Subclasses repeat the options: without ``kw_only=True`` msgspec would put their own
    fields first, and mypy wants ``frozen=True`` stated on each.
    """

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int


class MarkPrice(_Header, frozen=True, gc=False, kw_only=True):
    """Mark (and optionally index) price; liquidation engines trigger on mark, not last."""

    mark_price: float
    index_price: float | None = None

    def __post_init__(self) -> None:
        _header(self)
        mark_price, index_price = self.mark_price, self.index_price
        if not (type(mark_price) is float and 0.0 < mark_price < _INF):
            _check_price(mark_price, "mark_price")
        if index_price is not None and not (
            type(index_price) is float and 0.0 < index_price < _INF
        ):
            _check_price(index_price, "index_price")


class OpenInterest(_Header, frozen=True, gc=False, kw_only=True):
    """Open interest in base units, **one side** (Bybit: ``singleOpenInterest``, not both sides)."""

    open_interest: float

    def __post_init__(self) -> None:
        _header(self)
        open_interest = self.open_interest
        if not (type(open_interest) is float and 0.0 <= open_interest < _INF):
            _check_size(open_interest, "open_interest", positive=False)


class Liquidation(_Header, frozen=True, gc=False, kw_only=True):
    """One observed liquidation print; ``side`` is the liquidated *position's* side."""

    side: Side
    price: float
    quantity: float

    def __post_init__(self) -> None:
        _header(self)
        side, price, quantity = self.side, self.price, self.quantity
        if not isinstance(side, Side):
            raise InvalidEventError("bad_type", f"side must be a Side, got {side!r}")
        if not (type(price) is float and 0.0 < price < _INF):
            _check_price(price, "price")
        if not (type(quantity) is float and 0.0 < quantity < _INF):
            _check_size(quantity, "quantity", positive=True)

    @property
    def notional_usd(self) -> float:
        """USD notional at the print price (for inverse contracts this is the USD face)."""
        return self.price * self.quantity


class BookSnapshot(_Header, frozen=True, gc=False, kw_only=True):
    """Full (or top-N) book: bids best-first descending, asks best-first ascending."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int | None = None

    def __post_init__(self) -> None:
        _header(self)
        bids, asks, sequence = self.bids, self.asks, self.sequence
        if not _levels_ok(bids, -1):
            _check_levels(bids, "bids", order=-1)
        if not _levels_ok(asks, 1):
            _check_levels(asks, "asks", order=1)
        if not (sequence is None or (type(sequence) is int and sequence >= 0)):
            _check_sequence(sequence, "sequence")
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise InvalidEventError(
                "crossed_book", f"best bid {bids[0][0]!r} >= best ask {asks[0][0]!r}"
            )


class BookUpdate(_Header, frozen=True, gc=False, kw_only=True):
    """Incremental book change: each level replaces that price's size; size 0 deletes it.

    Levels need not be sorted. ``prev_sequence`` is not required to be below ``sequence``
    because OKX may reset ``seqId`` to a smaller value (exchange-feeds.md §4.2); gap checks
    belong to the book builder, which knows the previous message.
    """

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int | None = None
    prev_sequence: int | None = None
    first_sequence: int | None = None
    """First update id folded into this message (Binance ``U``), for bridging a snapshot."""

    def __post_init__(self) -> None:
        _header(self)
        if not _levels_ok(self.bids, 0):
            _check_levels(self.bids, "bids", order=0)
        if not _levels_ok(self.asks, 0):
            _check_levels(self.asks, "asks", order=0)
        _check_sequence(self.sequence, "sequence")
        _check_sequence(self.prev_sequence, "prev_sequence")
        _check_sequence(self.first_sequence, "first_sequence")


class FeedGap(_Header, frozen=True, gc=False, kw_only=True):
    """The feed of `symbol` lost data (a disconnect, a stale stream, a book resync).

    Not market data: a notice for the ledger, so an open-interest jump across the gap is
    booked as mass of unknown origin instead of new positions.
    """

    reason: str

    def __post_init__(self) -> None:
        _check_header(self)  # rare: no fast path


class Trade(_Header, frozen=True, gc=False, kw_only=True):
    """A public trade; its price range and volume place newly opened positions."""

    price: float
    quantity: float
    aggressor: Aggressor

    def __post_init__(self) -> None:
        _header(self)
        price, quantity, aggressor = self.price, self.quantity, self.aggressor
        if not (type(price) is float and 0.0 < price < _INF):
            _check_price(price, "price")
        if not (type(quantity) is float and 0.0 < quantity < _INF):
            _check_size(quantity, "quantity", positive=True)
        if not isinstance(aggressor, Aggressor):
            raise InvalidEventError(
                "bad_type", f"aggressor must be an Aggressor, got {aggressor!r}"
            )


class Funding(_Header, frozen=True, gc=False, kw_only=True):
    """Funding rate per funding interval (a fraction; either sign) and the next settlement."""

    rate: float
    next_funding_ns: int | None = None

    def __post_init__(self) -> None:
        _header(self)
        rate, next_funding_ns = self.rate, self.next_funding_ns
        if not (type(rate) is float and -_INF < rate < _INF):
            _check_finite(rate, "rate")
        if next_funding_ns is not None and not (
            type(next_funding_ns) is int and next_funding_ns >= 0
        ):
            _check_timestamp(next_funding_ns, "next_funding_ns")


# The constructors themselves are the fast path now (built in C, checked in
# `__post_init__`); these names stay for the adapters and tests that call them.
new_mark_price = MarkPrice
new_open_interest = OpenInterest
new_liquidation = Liquidation
new_book_snapshot = BookSnapshot
new_book_update = BookUpdate
new_trade = Trade
new_funding = Funding


Event: TypeAlias = (
    MarkPrice | OpenInterest | Liquidation | BookSnapshot | BookUpdate | Trade | Funding
)
"""Any normalised market event."""

FeedItem: TypeAlias = Event | FeedGap
"""What a feed hands to the engine: market events and notices of lost data."""
