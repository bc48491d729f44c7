"""What every venue adapter provides, and the one error a parser may raise.

An adapter is pure: it builds URLs and subscription frames, and turns one raw frame into
normalised events. Only `monitor.feeds.supervisor` touches sockets; it drives any adapter
through the `VenueAdapter` protocol below, so the five venues share one connection loop,
one staleness watchdog and one reject counter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal, Protocol, TypeAlias, get_args

import msgspec

from monitor.core.events import Event, InvalidEventError
from monitor.core.venues import ContractType
from monitor.errors import MonitorError

FeedRejectReason: TypeAlias = Literal[
    "malformed",  # not JSON, not an object, truncated, wrong nesting
    "unknown_message",  # valid JSON of a type or channel we do not handle
    "missing_field",  # a field the message type requires is absent
    "bad_type",  # a field has the wrong type (a string where a number belongs, ...)
    "bad_identifier",  # an empty venue or symbol
    "non_finite",  # NaN or infinity, or a number string that is not a number
    "non_positive_price",
    "negative_size",
    "zero_size",
    "bad_timestamp",  # not a plausible epoch time
    "unknown_symbol",  # an instrument we have no metadata for
    "venue_error",  # the venue answered with an error frame
    "crossed_book",
    "unsorted_levels",
    "bad_sequence",
    "price_jump",  # > 50 % away from the last good price (sanity layer)
    "stale_timestamp",  # far in the past or the future of our receive time (sanity layer)
    "sequence_gap",  # a book delta that does not follow the previous one (book layer)
    "duplicate_sequence",  # a book delta already applied or older (book layer)
]
"""Every `reason` label of `liqmon_feed_rejected_total{venue,reason}`; fixed and small."""

FEED_REJECT_REASONS: tuple[FeedRejectReason, ...] = get_args(FeedRejectReason)


class FeedError(MonitorError):
    """Something went wrong with a venue's feed."""

    def __init__(self, venue: str, message: str) -> None:
        super().__init__(f"{venue}: {message}")
        self.venue = venue


class FeedDecodeError(FeedError):
    """A frame the adapter refuses; counted by `reason`, logged at most once a minute."""

    def __init__(self, venue: str, reason: FeedRejectReason, detail: str) -> None:
        super().__init__(venue, f"{reason}: {detail}")
        self.reason: FeedRejectReason = reason
        self.detail = detail


class StaleFeedError(FeedError):
    """A watched stream stayed silent past its deadline: the connection is reopened."""


class SizeUnit(StrEnum):
    """What a venue's size fields count."""

    BASE = "base"  # coins (Binance, Bybit linear, Hyperliquid, Deribit USDC linear)
    CONTRACTS = "contracts"  # contracts of `contract_size` base units (OKX linear)
    USD = "usd"  # USD face value (Deribit and OKX inverse)


# Members as plain constants for hot paths: in Python 3.11 reading `SizeUnit.BASE` walks the
# enum's class hierarchy unspecialised (~0.08 µs, a fifth of building an event).
_BASE: Final = SizeUnit.BASE
_CONTRACTS: Final = SizeUnit.CONTRACTS


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """Static metadata of one perpetual, fetched from the venue at start-up and cached.

    `contract_size` is base units per contract for CONTRACTS-sized linear instruments and
    USD per contract for inverse ones; 1.0 where sizes are already base units or USD.
    """

    venue: str
    symbol: str  # the venue's own spelling: BTCUSDT, BTC-USDT-SWAP, BTC-PERPETUAL, BTC
    asset: str  # unified key for aggregation across venues: BTC, ETH
    contract_type: ContractType
    size_unit: SizeUnit
    contract_size: float = 1.0
    tick_size: float | None = None

    def to_base(self, size: float, price: float) -> float:
        """Convert a wire size to base units (price is needed for USD-face sizes).

        Adapters check prices before they get here; table readers may not, so a price that
        cannot convert a USD size is refused here rather than dividing by it.
        """
        unit = self.size_unit
        if unit is _BASE:
            return size
        if unit is _CONTRACTS:
            return size * self.contract_size
        if not price > 0:  # also NaN
            raise InvalidEventError("non_positive_price", f"cannot convert USD size at {price!r}")
        return size * self.contract_size / price


@dataclass(frozen=True, slots=True)
class Stream:
    """One logical subscription on a connection, watched for staleness on its own.

    `stale_after_s` None means silence is normal (a liquidation channel): such streams
    must share a connection with a watched one so a dead socket is still noticed.
    """

    key: str  # e.g. "markPrice:BTCUSDT"; adapters report these keys when frames arrive
    stale_after_s: float | None


@dataclass(frozen=True, slots=True)
class Keepalive:
    """An application-level ping the venue requires, sent every `interval_s`."""

    frame: str
    interval_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionPlan:
    """One WebSocket connection: where, what to send after connecting, what to expect."""

    name: str  # unique per venue, e.g. "market"; recorded as `conn` by `liqmon record`
    url: str
    subscribe: tuple[str, ...]
    streams: tuple[Stream, ...]
    keepalive: Keepalive | None = None
    max_lifetime_s: float | None = None  # reconnect on our terms before a forced cut


class Parsed(msgspec.Struct, frozen=True, gc=False):
    """What one frame meant: events, which streams it proves alive, what to answer.

    One is built per frame, so it is a `msgspec.Struct` built in C (~0.1 µs, a third of a
    frozen dataclass's hand-written `__init__`); `gc=False` because it holds only tuples of
    events and strings, which cannot form a cycle.
    """

    events: tuple[Event, ...] = ()
    streams: tuple[str, ...] = ()
    replies: tuple[str, ...] = ()
    resync: tuple[str, ...] = ()  # symbols whose book the venue says to rebuild


NOTHING = Parsed()

# The former fast constructor of the dataclass `Parsed`; kept for its callers.
new_parsed = Parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class RestRequest:
    """A public REST request, described as data so tests can point it at a local server."""

    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    method: Literal["GET", "POST"] = "GET"
    json_body: Mapping[str, Any] | None = None  # Hyperliquid's info endpoint is a POST
    weight: int = 1  # venue request weight, for rate budgeting


class VenueAdapter(Protocol):
    """The pure surface of one venue. Implementations keep no I/O and no clock."""

    venue: str

    def instruments_request(self) -> RestRequest | None:
        """Where to fetch instrument metadata, or None when the adapter knows it statically."""

    def parse_instruments(self, payload: Any) -> list[Instrument]:
        """Decode the instruments response into metadata for every perpetual listed."""

    def plan(self, instruments: Sequence[Instrument]) -> list[ConnectionPlan]:
        """The connections that carry mark price, OI, liquidations, book and trades."""

    def parse(self, conn: str, raw: str | bytes, recv_ns: int) -> Parsed:
        """Decode one frame; raises only `FeedDecodeError`."""

    def resubscribe(self, conn: str, symbol: str) -> tuple[str, ...]:
        """Frames that make the venue send a fresh book snapshot for `symbol`."""

    def book_snapshot_request(self, symbol: str) -> RestRequest | None:
        """A REST book snapshot when the venue's procedure needs one (Binance), else None."""

    def parse_book_snapshot(self, symbol: str, payload: Any, recv_ns: int) -> Parsed:
        """Decode that REST snapshot."""

    def poll_requests(self, instruments: Sequence[Instrument]) -> list[tuple[RestRequest, float]]:
        """REST polls with their intervals in seconds (Binance open interest)."""

    def parse_poll(self, payload: Any, recv_ns: int) -> Parsed:
        """Decode one poll response."""


class StreamedOnly:
    """Defaults for venues whose books and open interest all arrive on the WebSocket.

    Only Binance needs REST book snapshots and open-interest polls; the others inherit
    these four answers instead of repeating them.
    """

    def book_snapshot_request(self, symbol: str) -> RestRequest | None:
        """None: the venue sends book snapshots on the stream itself."""
        return None

    def parse_book_snapshot(self, symbol: str, payload: Any, recv_ns: int) -> Parsed:
        """Never called: there is no REST snapshot in this venue's procedure."""
        return NOTHING

    def poll_requests(self, instruments: Sequence[Instrument]) -> list[tuple[RestRequest, float]]:
        """Nothing to poll: open interest streams."""
        return []

    def parse_poll(self, payload: Any, recv_ns: int) -> Parsed:
        """Never called: there are no polls."""
        return NOTHING


__all__ = [
    "FEED_REJECT_REASONS",
    "NOTHING",
    "ConnectionPlan",
    "FeedDecodeError",
    "FeedError",
    "FeedRejectReason",
    "Instrument",
    "Keepalive",
    "Parsed",
    "RestRequest",
    "SizeUnit",
    "StaleFeedError",
    "Stream",
    "StreamedOnly",
    "VenueAdapter",
    "new_parsed",
]
