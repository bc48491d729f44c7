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

Speed. Adapters build hundreds of thousands of events a second, so each class has a
hand-written ``__init__``: one combined test per field group on the happy path (``type(x) is
float and 0.0 < x < inf`` is false for NaN, ±inf, bool, str and subclasses alike), and only
when it fails the precise ``_check_*`` helpers, which accept what they always accepted (an
``int`` price, a ``float`` subclass such as ``numpy.float64``) and otherwise raise the exact
error. Fields are stored through the slots' own descriptors (``_setters``), which is what
``object.__setattr__`` in a generated frozen ``__init__`` ends up doing, minus the lookup.
The ``new_<event>`` functions (``new_mark_price`` ...) take the same keywords and run the same
``_fill_<event>`` code, but skip the ``type.__call__`` machinery (~0.4 µs of the ~1 µs a
keyword construction costs); the adapters use them on their hot paths.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
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


_INF = math.inf
_new = object.__new__

_Setter: TypeAlias = Callable[[object, object], None]


def _setters(cls: type) -> tuple[_Setter, ...]:
    """The slot descriptors' writers of a frozen dataclass, in field order.

    A frozen dataclass refuses ``setattr``; its generated ``__init__`` goes around that with
    ``object.__setattr__``, which finds the same slot descriptor by name on every call.
    """
    return tuple(cls.__dict__[item.name].__set__ for item in fields(cls))


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


def _header(venue: object, symbol: object, ts_event_ns: object, ts_recv_ns: object) -> None:
    """The fields every event has: one cheap test, the precise checks only on failure."""
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
        _check_header(venue, symbol, ts_event_ns, ts_recv_ns)


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


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class MarkPrice:
    """Mark (and optionally index) price; liquidation engines trigger on mark, not last."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    mark_price: float
    index_price: float | None = None

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        mark_price: float,
        index_price: float | None = None,
    ) -> None:
        _fill_mark_price(self, venue, symbol, ts_event_ns, ts_recv_ns, mark_price, index_price)


_MARK_PRICE = _setters(MarkPrice)


def _fill_mark_price(  # noqa: PLR0917 (positional: the cheapest call)
    self: MarkPrice,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    mark_price: float,
    index_price: float | None,
) -> None:
    """The checks and stores of `MarkPrice.__init__` and `new_mark_price`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
    if not (type(mark_price) is float and 0.0 < mark_price < _INF):
        _check_price(mark_price, "mark_price")
    if index_price is not None and not (type(index_price) is float and 0.0 < index_price < _INF):
        _check_price(index_price, "index_price")
    s_venue, s_symbol, s_event, s_recv, s_mark, s_index = _MARK_PRICE
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_mark(self, mark_price)
    s_index(self, index_price)


def new_mark_price(
    *,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    mark_price: float,
    index_price: float | None = None,
) -> MarkPrice:
    """`MarkPrice(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(MarkPrice)
    _fill_mark_price(event, venue, symbol, ts_event_ns, ts_recv_ns, mark_price, index_price)
    return event


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class OpenInterest:
    """Open interest in base units, **one side** (Bybit: ``singleOpenInterest``, not both sides)."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    open_interest: float

    def __init__(
        self, *, venue: str, symbol: str, ts_event_ns: int, ts_recv_ns: int, open_interest: float
    ) -> None:
        _fill_open_interest(self, venue, symbol, ts_event_ns, ts_recv_ns, open_interest)


_OPEN_INTEREST = _setters(OpenInterest)


def _fill_open_interest(  # noqa: PLR0917 (positional: the cheapest call)
    self: OpenInterest,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    open_interest: float,
) -> None:
    """The checks and stores of `OpenInterest.__init__` and `new_open_interest`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
    if not (type(open_interest) is float and 0.0 <= open_interest < _INF):
        _check_size(open_interest, "open_interest", positive=False)
    s_venue, s_symbol, s_event, s_recv, s_oi = _OPEN_INTEREST
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_oi(self, open_interest)


def new_open_interest(
    *, venue: str, symbol: str, ts_event_ns: int, ts_recv_ns: int, open_interest: float
) -> OpenInterest:
    """`OpenInterest(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(OpenInterest)
    _fill_open_interest(event, venue, symbol, ts_event_ns, ts_recv_ns, open_interest)
    return event


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Liquidation:
    """One observed liquidation print; ``side`` is the liquidated *position's* side."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    side: Side
    price: float
    quantity: float

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        side: Side,
        price: float,
        quantity: float,
    ) -> None:
        _fill_liquidation(self, venue, symbol, ts_event_ns, ts_recv_ns, side, price, quantity)

    @property
    def notional_usd(self) -> float:
        """USD notional at the print price (for inverse contracts this is the USD face)."""
        return self.price * self.quantity


_LIQUIDATION = _setters(Liquidation)


def _fill_liquidation(  # noqa: PLR0917 (positional: the cheapest call)
    self: Liquidation,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    side: Side,
    price: float,
    quantity: float,
) -> None:
    """The checks and stores of `Liquidation.__init__` and `new_liquidation`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
    if not isinstance(side, Side):
        raise InvalidEventError("bad_type", f"side must be a Side, got {side!r}")
    if not (type(price) is float and 0.0 < price < _INF):
        _check_price(price, "price")
    if not (type(quantity) is float and 0.0 < quantity < _INF):
        _check_size(quantity, "quantity", positive=True)
    s_venue, s_symbol, s_event, s_recv, s_side, s_price, s_quantity = _LIQUIDATION
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_side(self, side)
    s_price(self, price)
    s_quantity(self, quantity)


def new_liquidation(
    *,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    side: Side,
    price: float,
    quantity: float,
) -> Liquidation:
    """`Liquidation(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(Liquidation)
    _fill_liquidation(event, venue, symbol, ts_event_ns, ts_recv_ns, side, price, quantity)
    return event


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class BookSnapshot:
    """Full (or top-N) book: bids best-first descending, asks best-first ascending."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int | None = None

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
        sequence: int | None = None,
    ) -> None:
        _fill_book_snapshot(self, venue, symbol, ts_event_ns, ts_recv_ns, bids, asks, sequence)


_BOOK_SNAPSHOT = _setters(BookSnapshot)


def _fill_book_snapshot(  # noqa: PLR0917 (positional: the cheapest call)
    self: BookSnapshot,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    sequence: int | None,
) -> None:
    """The checks and stores of `BookSnapshot.__init__` and `new_book_snapshot`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
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
    s_venue, s_symbol, s_event, s_recv, s_bids, s_asks, s_sequence = _BOOK_SNAPSHOT
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_bids(self, bids)
    s_asks(self, asks)
    s_sequence(self, sequence)


def new_book_snapshot(
    *,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    sequence: int | None = None,
) -> BookSnapshot:
    """`BookSnapshot(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(BookSnapshot)
    _fill_book_snapshot(event, venue, symbol, ts_event_ns, ts_recv_ns, bids, asks, sequence)
    return event


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
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

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
        sequence: int | None = None,
        prev_sequence: int | None = None,
        first_sequence: int | None = None,
    ) -> None:
        _fill_book_update(
            self,
            venue,
            symbol,
            ts_event_ns,
            ts_recv_ns,
            bids,
            asks,
            sequence,
            prev_sequence,
            first_sequence,
        )


_BOOK_UPDATE = _setters(BookUpdate)


def _fill_book_update(  # noqa: PLR0917 (positional: the cheapest call)
    self: BookUpdate,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    sequence: int | None,
    prev_sequence: int | None,
    first_sequence: int | None,
) -> None:
    """The checks and stores of `BookUpdate.__init__` and `new_book_update`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
    if not _levels_ok(bids, 0):
        _check_levels(bids, "bids", order=0)
    if not _levels_ok(asks, 0):
        _check_levels(asks, "asks", order=0)
    _check_sequence(sequence, "sequence")
    _check_sequence(prev_sequence, "prev_sequence")
    _check_sequence(first_sequence, "first_sequence")
    (
        s_venue,
        s_symbol,
        s_event,
        s_recv,
        s_bids,
        s_asks,
        s_sequence,
        s_prev,
        s_first,
    ) = _BOOK_UPDATE
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_bids(self, bids)
    s_asks(self, asks)
    s_sequence(self, sequence)
    s_prev(self, prev_sequence)
    s_first(self, first_sequence)


def new_book_update(
    *,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    sequence: int | None = None,
    prev_sequence: int | None = None,
    first_sequence: int | None = None,
) -> BookUpdate:
    """`BookUpdate(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(BookUpdate)
    _fill_book_update(
        event,
        venue,
        symbol,
        ts_event_ns,
        ts_recv_ns,
        bids,
        asks,
        sequence,
        prev_sequence,
        first_sequence,
    )
    return event


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
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

    def __init__(
        self, *, venue: str, symbol: str, ts_event_ns: int, ts_recv_ns: int, reason: str
    ) -> None:
        _fill_feed_gap(self, venue, symbol, ts_event_ns, ts_recv_ns, reason)


_FEED_GAP = _setters(FeedGap)


def _fill_feed_gap(  # noqa: PLR0917 (positional: the cheapest call)
    self: FeedGap, venue: str, symbol: str, ts_event_ns: int, ts_recv_ns: int, reason: str
) -> None:
    """The checks and stores of `FeedGap.__init__` and `new_feed_gap`."""
    _check_header(venue, symbol, ts_event_ns, ts_recv_ns)  # rare: no fast path
    s_venue, s_symbol, s_event, s_recv, s_reason = _FEED_GAP
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_reason(self, reason)


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Trade:
    """A public trade; its price range and volume place newly opened positions."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    price: float
    quantity: float
    aggressor: Aggressor

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        price: float,
        quantity: float,
        aggressor: Aggressor,
    ) -> None:
        _fill_trade(self, venue, symbol, ts_event_ns, ts_recv_ns, price, quantity, aggressor)


_TRADE = _setters(Trade)


def _fill_trade(  # noqa: PLR0917 (positional: the cheapest call)
    self: Trade,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    price: float,
    quantity: float,
    aggressor: Aggressor,
) -> None:
    """The checks and stores of `Trade.__init__` and `new_trade`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
    if not (type(price) is float and 0.0 < price < _INF):
        _check_price(price, "price")
    if not (type(quantity) is float and 0.0 < quantity < _INF):
        _check_size(quantity, "quantity", positive=True)
    if not isinstance(aggressor, Aggressor):
        raise InvalidEventError("bad_type", f"aggressor must be an Aggressor, got {aggressor!r}")
    s_venue, s_symbol, s_event, s_recv, s_price, s_quantity, s_aggressor = _TRADE
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_price(self, price)
    s_quantity(self, quantity)
    s_aggressor(self, aggressor)


def new_trade(
    *,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    price: float,
    quantity: float,
    aggressor: Aggressor,
) -> Trade:
    """`Trade(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(Trade)
    _fill_trade(event, venue, symbol, ts_event_ns, ts_recv_ns, price, quantity, aggressor)
    return event


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Funding:
    """Funding rate per funding interval (a fraction; either sign) and the next settlement."""

    venue: str
    symbol: str
    ts_event_ns: int
    ts_recv_ns: int
    rate: float
    next_funding_ns: int | None = None

    def __init__(
        self,
        *,
        venue: str,
        symbol: str,
        ts_event_ns: int,
        ts_recv_ns: int,
        rate: float,
        next_funding_ns: int | None = None,
    ) -> None:
        _fill_funding(self, venue, symbol, ts_event_ns, ts_recv_ns, rate, next_funding_ns)


_FUNDING = _setters(Funding)


def _fill_funding(  # noqa: PLR0917 (positional: the cheapest call)
    self: Funding,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    rate: float,
    next_funding_ns: int | None,
) -> None:
    """The checks and stores of `Funding.__init__` and `new_funding`."""
    _header(venue, symbol, ts_event_ns, ts_recv_ns)
    if not (type(rate) is float and -_INF < rate < _INF):
        _check_finite(rate, "rate")
    if next_funding_ns is not None and not (type(next_funding_ns) is int and next_funding_ns >= 0):
        _check_timestamp(next_funding_ns, "next_funding_ns")
    s_venue, s_symbol, s_event, s_recv, s_rate, s_next = _FUNDING
    s_venue(self, venue)
    s_symbol(self, symbol)
    s_event(self, ts_event_ns)
    s_recv(self, ts_recv_ns)
    s_rate(self, rate)
    s_next(self, next_funding_ns)


def new_funding(
    *,
    venue: str,
    symbol: str,
    ts_event_ns: int,
    ts_recv_ns: int,
    rate: float,
    next_funding_ns: int | None = None,
) -> Funding:
    """`Funding(...)` with the same checks, ~0.4 µs cheaper: for adapters' hot paths."""
    event = _new(Funding)
    _fill_funding(event, venue, symbol, ts_event_ns, ts_recv_ns, rate, next_funding_ns)
    return event


Event: TypeAlias = (
    MarkPrice | OpenInterest | Liquidation | BookSnapshot | BookUpdate | Trade | Funding
)
"""Any normalised market event."""

FeedItem: TypeAlias = Event | FeedGap
"""What a feed hands to the engine: market events and notices of lost data."""
