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
"""

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeAlias, get_args

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


def _check_header(venue: object, symbol: object, ts_event_ns: object, ts_recv_ns: object) -> None:
    _check_identifier(venue, "venue")
    _check_identifier(symbol, "symbol")
    _check_timestamp(ts_event_ns, "ts_event_ns")
    _check_timestamp(ts_recv_ns, "ts_recv_ns")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkPrice:
    """Mark (and optionally index) price; liquidation engines trigger on mark, not last."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    mark_price: float
    index_price: float | None = None

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        _check_price(self.mark_price, "mark_price")
        if self.index_price is not None:
            _check_price(self.index_price, "index_price")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenInterest:
    """Open interest in base units, **one side** (Bybit: ``singleOpenInterest``, not both sides)."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    open_interest: float

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        _check_size(self.open_interest, "open_interest", positive=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Liquidation:
    """One observed liquidation print; ``side`` is the liquidated *position's* side."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    side: Side
    price: float
    quantity: float

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        if not isinstance(self.side, Side):
            raise InvalidEventError("bad_type", f"side must be a Side, got {self.side!r}")
        _check_price(self.price, "price")
        _check_size(self.quantity, "quantity", positive=True)

    @property
    def notional_usd(self) -> float:
        """USD notional at the print price (for inverse contracts this is the USD face)."""
        return self.price * self.quantity


@dataclass(frozen=True, slots=True, kw_only=True)
class BookSnapshot:
    """Full (or top-N) book: bids best-first descending, asks best-first ascending."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int | None = None

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        _check_levels(self.bids, "bids", order=-1)
        _check_levels(self.asks, "asks", order=1)
        _check_sequence(self.sequence, "sequence")
        if self.bids and self.asks and self.bids[0][0] >= self.asks[0][0]:
            raise InvalidEventError(
                "crossed_book",
                f"best bid {self.bids[0][0]!r} >= best ask {self.asks[0][0]!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class BookUpdate:
    """Incremental book change: each level replaces that price's size; size 0 deletes it.

    Levels need not be sorted. ``prev_sequence`` is not required to be below ``sequence``
    because OKX may reset ``seqId`` to a smaller value (exchange-feeds.md §4.2); gap checks
    belong to the book builder, which knows the previous message.
    """

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int | None = None
    prev_sequence: int | None = None
    first_sequence: int | None = None
    """First update id folded into this message (Binance ``U``), for bridging a snapshot."""

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        _check_levels(self.bids, "bids", order=0)
        _check_levels(self.asks, "asks", order=0)
        _check_sequence(self.sequence, "sequence")
        _check_sequence(self.prev_sequence, "prev_sequence")
        _check_sequence(self.first_sequence, "first_sequence")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedGap:
    """The feed of `symbol` lost data (a disconnect, a stale stream, a book resync).

    Not market data: a notice for the ledger, so an open-interest jump across the gap is
    booked as mass of unknown origin instead of new positions.
    """

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    reason: str

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """A public trade; its price range and volume place newly opened positions."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    price: float
    quantity: float
    aggressor: Aggressor

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        _check_price(self.price, "price")
        _check_size(self.quantity, "quantity", positive=True)
        if not isinstance(self.aggressor, Aggressor):
            raise InvalidEventError(
                "bad_type", f"aggressor must be an Aggressor, got {self.aggressor!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Funding:
    """Funding rate per funding interval (a fraction; either sign) and the next settlement."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    rate: float
    next_funding_ns: int | None = None

    def __post_init__(self) -> None:
        _check_header(self.venue, self.symbol, self.ts_event_ns, self.ts_recv_ns)
        _check_finite(self.rate, "rate")
        if self.next_funding_ns is not None:
            _check_timestamp(self.next_funding_ns, "next_funding_ns")


Event: TypeAlias = (
    MarkPrice | OpenInterest | Liquidation | BookSnapshot | BookUpdate | Trade | Funding
)
"""Any normalised market event."""

FeedItem: TypeAlias = Event | FeedGap
"""What a feed hands to the engine: market events and notices of lost data."""
