"""Bybit v5 public market data for USDT/USDC linear (and inverse) perpetuals: a pure adapter.

One connection per market (``/v5/public/linear``, ``/v5/public/inverse``; more only past
the venue's 21,000-character args limit) carries four topics per symbol:

- ``tickers.{symbol}``: a snapshot, then deltas that carry only the fields that changed.
  The adapter keeps five numbers per symbol (mark, index, one-side open interest, funding
  rate, next funding time) to merge them: the one piece of state it holds, reset by every
  snapshot. Gives `MarkPrice` (mark + index), `OpenInterest`, `Funding`.
- ``orderbook.{depth}.{symbol}``: snapshot then deltas, `u` as the sequence.
- ``publicTrade.{symbol}``: taker trades.
- ``allLiquidation.{symbol}``: every liquidation, batched every 500 ms.

What was confirmed, and where (search tool, 2026 copies of the sources):

- URLs, ``{"op":"ping"}`` every 20 s, the linear pong and subscribe-ack shapes, the
  21,000-character args limit and the 10-minute idle cut: bybit-exchange/docs
  ``docs/v5/websocket/wss-authentication.mdx`` (the "Connect" page).
- Ticker deltas omit unchanged fields: ``docs/v5/websocket/public/ticker.mdx`` ("If a
  response param is not found in the message, then its value has not changed"), and
  sieblyio/bybit-api#329, ccxt/ccxt#21451.
- ``openInterest`` is "Open interest size (both sides)" and ``singleOpenInterest`` "(single
  side)": the current rendered ticker page (bybit-exchange.github.io/docs/v5/websocket/
  public/ticker, copy dated 2026-10). Bybit's announcement "Update to the Open Interest (OI)
  calculation method" (2026-05-28) gives the semantics: 1,000 BTC long against 1,000 BTC
  short is 2,000 both-sides and 1,000 single-side, so single = both / 2. The cryptofeed
  capture in shared/data agrees on every frame to the instrument's qty step (BTCUSDT
  59891.732 vs 29945.866). Hence: `singleOpenInterest` where a frame has it, otherwise
  half of `openInterest`.
- ``allLiquidation``: fields ``T,s,S,v,p``; ``S`` is the *position* side ("When you receive a
  `Buy` update, this means that a long position has been liquidated"); ``p`` is the
  bankruptcy price; pushed every 500 ms: ``docs/v5/websocket/public/all-liquidation.mdx``.
  The old ``liquidation.{symbol}`` topic now fails with "handler not found" (ccxt/ccxt#27929).
- Order book depths and push rates for linear/inverse (1: 10 ms, 50: 20 ms, 200: 100 ms),
  ``u`` = 1 meaning "snapshot data due to the restart of the service":
  ``docs/v5/websocket/public/orderbook.mdx``.
- ``publicTrade`` ``S`` is the taker side: ``docs/v5/websocket/public/trade.mdx``.
- Instruments: ``/v5/market/instruments-info``, ``limit`` 1..1000 (default 500, more than
  500 linear symbols exist), only ``Trading`` symbols by default:
  ``docs/v5/market/instrument.mdx``. Inverse contracts are 1 USD each: Bybit help centre,
  "What is Inverse Contract".

Still UNCONFIRMED: that ``u`` always grows by exactly 1 per push. It did on all 1,594
deltas of the capture, but the docs only say "Is a sequence", so book updates carry
``sequence`` = ``u`` and no ``prev_sequence``: the book builder checks that it increases.
Also assumed, not confirmed: inverse ``allLiquidation`` ``v`` and inverse ticker open
interest count 1-USD contracts like the inverse book and trades (converted at the frame's
price and at the mark).

Sample payloads (doc examples, shortened), one per channel::

    {"topic":"tickers.BTCUSDT","type":"snapshot","cs":24987956059,"ts":1673272861686,
     "data":{"symbol":"BTCUSDT","markPrice":"17217.33","indexPrice":"17227.36",
             "openInterest":"68744.761","nextFundingTime":"1673280000000",
             "fundingRate":"-0.000212","bid1Price":"17215.50", ...}}
    {"topic":"tickers.NKNUSDT","type":"delta","cs":93597554249,"ts":1709202840989,
     "data":{"symbol":"NKNUSDT","ask1Price":"0.13942","ask1Size":"3691"}}
    {"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,
     "data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],
             "u":18521288,"seq":7961638724}}
    {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,
     "data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50",
              "L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}
    {"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,
     "data":[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}]}
    {"success":true,"ret_msg":"","conn_id":"3cd84cb1-...","req_id":"","op":"subscribe"}
    {"success":true,"ret_msg":"pong","conn_id":"465772b1-...","req_id":"","op":"ping"}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import msgspec
import orjson

from monitor.core.events import (
    Aggressor,
    BookSnapshot,
    BookUpdate,
    Event,
    InvalidEventError,
    Side,
    new_funding,
    new_liquidation,
    new_mark_price,
    new_open_interest,
    new_trade,
)
from monitor.core.venues import ContractType
from monitor.feeds import wire
from monitor.feeds.base import (
    NOTHING,
    ConnectionPlan,
    FeedDecodeError,
    FeedRejectReason,
    Instrument,
    Keepalive,
    Parsed,
    RestRequest,
    SizeUnit,
    Stream,
    StreamedOnly,
    new_parsed,
)

VENUE: Final = "bybit"
DEFAULT_WS_URL: Final = "wss://stream.bybit.com/v5/public"
"""Base of the public routes; the adapter appends ``/linear`` or ``/inverse``."""
DEFAULT_REST_URL: Final = "https://api.bybit.com"
INSTRUMENTS_PATH: Final = "/v5/market/instruments-info"
INSTRUMENTS_LIMIT: Final = 1000
"""The documented maximum page size; 800 linear symbols were listed in 2026-08."""

KEEPALIVE: Final = Keepalive('{"op":"ping"}', 20.0)
"""Bybit recommends a ping every 20 s; it cuts a connection idle for 10 minutes."""

TICKER_STALE_S: Final = 5.0
"""Tickers push at most every 100 ms but only on change; a mark price moves about once a
second (worst gap over 42 s of the capture: 1.1 s). 5 s is about 5 x that cadence."""
BOOK_STALE_S: Final = 5.0
"""Depth 200 pushes every 100 ms on change (capture: median 0.1 s, worst 0.5 s)."""
BOOK_DEPTHS: Final = (50, 200)
ARGS_BUDGET: Final = 18_000
"""Characters of topics (JSON-quoted) per connection: the venue refuses an args array over
21,000 characters on one public connection; 18,000 leaves a margin for how it counts."""

Market = Literal["linear", "inverse"]

_TICKER: Final = 0
_BOOK: Final = 1
_TRADE: Final = 2
_LIQUIDATION: Final = 3
_CHANNELS: Final = ("tickers", "orderbook", "publicTrade", "allLiquidation")
_STALE_AFTER_S: Final = (TICKER_STALE_S, BOOK_STALE_S, None, None)
"""Per route kind; trades and liquidations have no cadence (silence is normal)."""
_CONTROL_OPS: Final = ("subscribe", "unsubscribe", "ping", "pong")
_MESSAGE_TYPES: Final = ("snapshot", "delta")
"""Tuples, not sets: `in` on a tuple never hashes, and a hostile `op` may be a JSON list."""
_PERPETUALS: Final[Mapping[str, tuple[ContractType, SizeUnit]]] = {
    "LinearPerpetual": (ContractType.LINEAR, SizeUnit.BASE),
    "InversePerpetual": (ContractType.INVERSE, SizeUnit.USD),
}
_AGGRESSOR: Final[Mapping[str, Aggressor]] = {"Buy": Aggressor.BUY, "Sell": Aggressor.SELL}
_BASE: Final = SizeUnit.BASE  # a constant: the enum lookup is ~0.08 µs in Python 3.11
_POSITION: Final[Mapping[str, Side]] = {"Buy": Side.LONG, "Sell": Side.SHORT}
"""allLiquidation ``S`` is the liquidated position's side: ``Buy`` = a long died."""


_TickerFields: TypeAlias = tuple[float | None, float | None, float | None, float | None, int | None]
"""Mark, index, one-side open interest, funding rate, next funding (ns); None = not sent."""


class _Ticker:
    """The merged ticker of one symbol, in wire units (OI: one side, base or USD)."""

    __slots__ = ("index", "mark", "next_funding_ns", "open_interest", "rate")

    def __init__(self) -> None:
        self.mark: float | None = None
        self.index: float | None = None
        self.open_interest: float | None = None
        self.rate: float | None = None
        self.next_funding_ns: int | None = None

    def merge(self, snapshot: bool, fields: _TickerFields) -> None:
        """A snapshot replaces everything; a delta replaces only what it carries."""
        mark, index, open_interest, rate, next_funding_ns = fields
        if snapshot:
            self.mark, self.index, self.open_interest = mark, index, open_interest
            self.rate, self.next_funding_ns = rate, next_funding_ns
            return
        if mark is not None:
            self.mark = mark
        if index is not None:
            self.index = index
        if open_interest is not None:
            self.open_interest = open_interest
        if rate is not None:
            self.rate = rate
        if next_funding_ns is not None:
            self.next_funding_ns = next_funding_ns


@dataclass(slots=True, frozen=True)
class _Route:
    """What one subscribed topic on one connection means."""

    kind: int
    instrument: Instrument
    streams: tuple[str, ...]
    ticker: _Ticker | None = None


class BybitAdapter(StreamedOnly):
    """Bybit v5 public feeds; pure, driven by the supervisor through `VenueAdapter`."""

    venue = VENUE

    def __init__(
        self,
        *,
        ws_url: str = DEFAULT_WS_URL,
        rest_url: str = DEFAULT_REST_URL,
        book_depth: int = 200,
    ) -> None:
        if book_depth not in BOOK_DEPTHS:
            msg = f"book_depth must be one of {BOOK_DEPTHS}, got {book_depth!r}"
            raise ValueError(msg)
        self.ws_url = ws_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/")
        self.book_depth = book_depth
        self._routes: dict[str, dict[str, _Route]] = {}
        self._book_topics: dict[str, dict[str, str]] = {}  # conn -> symbol -> book topic
        self._symbols: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ instruments

    def instruments_request(self) -> RestRequest:
        """Every linear instrument in one page (USDT and USDC perpetuals and futures)."""
        return self._instruments_request("linear")

    def inverse_instruments_request(self) -> RestRequest:
        """The inverse instruments (BTCUSD, ...), for callers that also want those."""
        return self._instruments_request("inverse")

    def _instruments_request(self, category: Market) -> RestRequest:
        return RestRequest(
            url=self.rest_url + INSTRUMENTS_PATH,
            params={"category": category, "limit": str(INSTRUMENTS_LIMIT)},
        )

    def parse_instruments(self, payload: Any) -> list[Instrument]:
        """Perpetuals that are `Trading`; futures, pre-market and settling ones are skipped.

        A page that is not the last (non-empty ``nextPageCursor``) still yields its
        instruments: with `limit` 1000 that needs more than 1000 linear symbols.
        """
        if isinstance(payload, str | bytes):
            payload = wire.loads(VENUE, payload)
        body = wire.obj(VENUE, payload, "instruments response")
        code = body.get("retCode")
        if code != 0:
            detail = f"instruments: retCode={code!r} {str(body.get('retMsg'))[:80]}"
            raise FeedDecodeError(VENUE, "venue_error", detail)
        result = wire.obj(VENUE, wire.field(VENUE, body, "result"), "result")
        entries = wire.field(VENUE, result, "list")
        if not isinstance(entries, list):
            raise FeedDecodeError(VENUE, "malformed", "result.list is not a list")
        instruments = []
        for entry in entries:
            instrument = _instrument(wire.obj(VENUE, entry, "instrument"))
            if instrument is not None:
                instruments.append(instrument)
        return instruments

    # ------------------------------------------------------------------ plan

    def plan(self, instruments: Sequence[Instrument]) -> list[ConnectionPlan]:
        """One connection per market (split past the args limit), four topics per symbol."""
        markets: dict[Market, dict[str, Instrument]] = {"linear": {}, "inverse": {}}
        for instrument in instruments:
            if instrument.venue != VENUE:
                msg = f"{instrument.venue} instrument {instrument.symbol} given to bybit"
                raise ValueError(msg)
            market: Market = (
                "inverse" if instrument.contract_type is ContractType.INVERSE else "linear"
            )
            markets[market][instrument.symbol] = instrument
        self._routes = {}
        self._book_topics = {}
        self._symbols = frozenset(s for group in markets.values() for s in group)
        plans = []
        for market, group in markets.items():
            for index, chunk in enumerate(_chunks(list(group.values()), self.book_depth)):
                plans.append(self._connection(f"{market}-{index}", market, chunk))
        return plans

    def _connection(
        self, name: str, market: Market, instruments: list[Instrument]
    ) -> ConnectionPlan:
        routes: dict[str, _Route] = {}
        books: dict[str, str] = {}
        frames = []
        streams = []
        for instrument in instruments:
            symbol = instrument.symbol
            topics = _topics(symbol, self.book_depth)
            for kind, (channel, topic) in enumerate(zip(_CHANNELS, topics, strict=True)):
                key = f"{channel}:{symbol}"
                ticker = _Ticker() if kind == _TICKER else None
                routes[topic] = _Route(kind, instrument, (key,), ticker)
                streams.append(Stream(key, _STALE_AFTER_S[kind]))
            books[symbol] = topics[_BOOK]
            frames.append(_op("subscribe", topics, req_id=symbol))
        self._routes[name] = routes
        self._book_topics[name] = books
        return ConnectionPlan(
            name=name,
            url=f"{self.ws_url}/{market}",
            subscribe=tuple(frames),
            streams=tuple(streams),
            keepalive=KEEPALIVE,
            max_lifetime_s=None,  # no scheduled cut is documented
        )

    # ------------------------------------------------------------------ frames

    def parse(self, conn: str, raw: str | bytes, recv_ns: int) -> Parsed:
        """Decode one frame of connection `conn`; raises only `FeedDecodeError`."""
        if type(raw) is str:
            parsed = None
            if raw.startswith(_BOOK_PREFIX):
                parsed = self._fast_book(conn, raw, recv_ns)
            elif raw.startswith(_TICKER_PREFIX):
                parsed = self._fast_ticker(conn, raw, recv_ns)
            if parsed is not None:
                return parsed
        message = wire.loads(VENUE, raw)
        if type(message) is not dict:
            raise FeedDecodeError(VENUE, "malformed", "frame is not an object")
        topic = message.get("topic")
        if topic is None:
            return _control(message)
        routes = self._routes.get(conn)
        if routes is None:
            raise FeedDecodeError(VENUE, "unknown_message", f"no planned connection {conn!r}")
        route = routes.get(topic) if type(topic) is str else None
        if route is None:
            raise self._unrouted(topic)
        return _HANDLERS[route.kind](route, message, recv_ns)

    def _fast_ticker(self, conn: str, raw: str, recv_ns: int) -> Parsed | None:
        """`_ticker` of a well-formed frame; None sends it the precise way."""
        frame = wire.fast(_TICKER_DECODER, raw)
        if frame is None:
            return None
        route = self._routes.get(conn, {}).get(frame.topic)
        data = frame.data
        snapshot = frame.type == "snapshot"
        ts = wire.fast_digits_ms_to_ns(frame.ts)
        next_ns = wire.fast_digits_ms_to_ns(data.nextFundingTime)
        optional = (data.markPrice, data.indexPrice, data.openInterest, data.singleOpenInterest)
        if (
            route is None
            or route.ticker is None
            or ts is None
            or (next_ns is None and data.nextFundingTime is not None)
            or (snapshot and data.markPrice is None)
            or ((None in optional or None in (data.fundingRate, next_ns)) and wire.null_text(raw))
        ):
            return None
        both = data.openInterest
        oi = data.singleOpenInterest
        if oi is None and both is not None:
            oi = both / 2.0  # documented as both sides: halve
        fields = (data.markPrice, data.indexPrice, oi, data.fundingRate, next_ns)
        return _ticker_events(route, snapshot, ts, fields, recv_ns)

    def _fast_book(self, conn: str, raw: str, recv_ns: int) -> Parsed | None:
        """`_book` of a well-formed frame of a base-unit market; None sends it the precise way."""
        frame = wire.fast(_BOOK_DECODER, raw)
        if frame is None:
            return None
        route = self._routes.get(conn, {}).get(frame.topic)
        ts = wire.fast_digits_ms_to_ns(frame.ts)
        data = frame.data
        update_id = data.u
        if (
            route is None
            or route.kind != _BOOK
            or route.instrument.size_unit is not _BASE
            or ts is None
            or type(update_id) is not int
            or not 1 <= update_id <= wire.MAX_INT
        ):
            return None
        constructor: type[BookSnapshot] | type[BookUpdate] = (
            BookSnapshot if frame.type == "snapshot" or update_id == 1 else BookUpdate
        )
        try:
            event = constructor(
                venue=VENUE,
                symbol=route.instrument.symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                bids=data.b,
                asks=data.a,
                sequence=update_id,
            )
        except InvalidEventError:  # unsorted or crossed: the precise path names it
            return None
        return new_parsed(events=(event,), streams=route.streams)

    def _unrouted(self, topic: object) -> FeedDecodeError:
        """Why a topic has no route: another channel, or a symbol we never planned."""
        if not isinstance(topic, str) or not topic:
            return FeedDecodeError(VENUE, "bad_type", f"topic={topic!r:.60}")
        channel, _, rest = topic.partition(".")
        symbol = rest.rpartition(".")[2]
        if channel not in _CHANNELS or not symbol or symbol in self._symbols:
            return FeedDecodeError(VENUE, "unknown_message", f"topic {topic[:60]!r}")
        return FeedDecodeError(VENUE, "unknown_symbol", f"topic {topic[:60]!r}")

    # ------------------------------------------------------------------ books, polls

    def resubscribe(self, conn: str, symbol: str) -> tuple[str, ...]:
        """Unsubscribe and resubscribe the book topic: Bybit answers with a snapshot."""
        topic = self._book_topics.get(conn, {}).get(symbol)
        if topic is None:
            return ()
        return (_op("unsubscribe", (topic,)), _op("subscribe", (topic,), req_id=symbol))


# ---------------------------------------------------------------------- plan helpers


def _topics(symbol: str, depth: int) -> tuple[str, str, str, str]:
    """The four topics of one symbol, in `_CHANNELS` order (= route kinds)."""
    return (
        f"tickers.{symbol}",
        f"orderbook.{depth}.{symbol}",
        f"publicTrade.{symbol}",
        f"allLiquidation.{symbol}",
    )


def _chunks(instruments: list[Instrument], depth: int) -> list[list[Instrument]]:
    """Split so the topics of one connection stay under `ARGS_BUDGET` characters."""
    chunks: list[list[Instrument]] = []
    current: list[Instrument] = []
    used = 0
    for instrument in instruments:
        cost = sum(len(topic) + 3 for topic in _topics(instrument.symbol, depth))
        if current and used + cost > ARGS_BUDGET:
            chunks.append(current)
            current, used = [], 0
        current.append(instrument)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def _op(op: str, topics: Sequence[str], req_id: str = "") -> str:
    """A subscribe/unsubscribe frame; Bybit echoes `req_id` in its ack or error."""
    body: dict[str, Any] = {"op": op, "args": list(topics)}
    if req_id:
        body = {"req_id": req_id, **body}
    return orjson.dumps(body).decode()


def _instrument(entry: Mapping[str, Any]) -> Instrument | None:
    """One instruments-info entry, or None when it is not a trading perpetual."""
    kind = _PERPETUALS.get(wire.text(VENUE, entry, "contractType"))
    if kind is None or wire.text(VENUE, entry, "status") != "Trading":
        return None
    contract_type, size_unit = kind
    tick_size = None
    price_filter = entry.get("priceFilter")
    if price_filter is not None:
        tick_size = wire.price(VENUE, wire.obj(VENUE, price_filter, "priceFilter"), "tickSize")
    return Instrument(
        venue=VENUE,
        symbol=wire.text(VENUE, entry, "symbol"),
        asset=wire.text(VENUE, entry, "baseCoin"),
        contract_type=contract_type,
        size_unit=size_unit,
        contract_size=1.0,  # linear: sizes are coins; inverse: 1 USD per contract
        tick_size=tick_size,
    )


# ---------------------------------------------------------------------- frame helpers


def _control(message: dict[str, Any]) -> Parsed:
    """Acks and pongs mean nothing downstream; a refusal is a venue error."""
    success = message.get("success")
    if success is False:
        detail = f"{message.get('op')!r}: {str(message.get('ret_msg'))[:120]}"
        if message.get("req_id"):
            detail += f" (req_id {str(message.get('req_id'))[:40]})"
        raise FeedDecodeError(VENUE, "venue_error", detail)
    if success not in (True, None):
        raise FeedDecodeError(VENUE, "bad_type", f"success={success!r:.40}")
    if message.get("op") in _CONTROL_OPS:
        return NOTHING
    raise FeedDecodeError(VENUE, "unknown_message", f"keys {sorted(message)[:8]}")


def _data(message: dict[str, Any]) -> Any:
    try:
        return message["data"]
    except KeyError:
        raise FeedDecodeError(VENUE, "missing_field", "data") from None


def _number(value: Any, key: str, floor: float, reason: FeedRejectReason) -> float | None:
    """A ticker number present in the frame; "" means not available (pre-market)."""
    if value == "":
        return None
    number = wire.to_float(VENUE, value, key)
    if number < floor or (number == floor and reason == "non_positive_price"):
        raise FeedDecodeError(VENUE, reason, f"{key}={number}")
    return number


def _ticker(route: _Route, message: dict[str, Any], recv_ns: int) -> Parsed:
    """Merge a snapshot or delta into the symbol's ticker; emit what this frame changed.

    The adapter's hot path (up to ten frames a second per symbol): a field absent from a
    delta costs one dict lookup, and events are built without `wire.build`.
    """
    data = _data(message)
    if type(data) is not dict:
        raise FeedDecodeError(VENUE, "malformed", "tickers data is not an object")
    kind = message.get("type")
    snapshot = kind == "snapshot"
    if not snapshot and kind != "delta":
        raise FeedDecodeError(VENUE, "missing_field" if kind is None else "malformed", "type")
    if snapshot and "markPrice" not in data:
        raise FeedDecodeError(VENUE, "missing_field", "markPrice")
    ts = wire.timestamp(VENUE, message, "ts")
    # Decode everything before touching the state, so a rejected frame changes nothing.
    return _ticker_events(route, snapshot, ts, _ticker_fields(data), recv_ns)


def _ticker_events(
    route: _Route, snapshot: bool, ts: int, fields: _TickerFields, recv_ns: int
) -> Parsed:
    """Merge one ticker frame's checked numbers, read by either path; emit what changed."""
    mark, index, oi, rate, next_ns = fields
    state = route.ticker
    assert state is not None  # every ticker route has one (see plan)
    state.merge(snapshot, fields)
    instrument = route.instrument
    symbol = instrument.symbol
    events: list[Event] = []
    try:
        if (mark is not None or index is not None) and state.mark is not None:
            events.append(
                new_mark_price(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event_ns=ts,
                    ts_recv_ns=recv_ns,
                    mark_price=state.mark,
                    index_price=state.index,
                )
            )
        if oi is not None and (instrument.size_unit is _BASE or state.mark is not None):
            events.append(
                new_open_interest(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event_ns=ts,
                    ts_recv_ns=recv_ns,
                    open_interest=instrument.to_base(oi, state.mark or 1.0),
                )
            )
        if (rate is not None or next_ns is not None) and state.rate is not None:
            events.append(
                new_funding(
                    venue=VENUE,
                    symbol=symbol,
                    ts_event_ns=ts,
                    ts_recv_ns=recv_ns,
                    rate=state.rate,
                    next_funding_ns=state.next_funding_ns,
                )
            )
    except InvalidEventError as exc:  # e.g. USD open interest over a tiny mark: infinite
        raise FeedDecodeError(VENUE, exc.reason, str(exc)) from exc
    return new_parsed(events=tuple(events), streams=route.streams)


class _FastTickerData(msgspec.Struct):
    """The ticker numbers the fast path uses (`wire.fast`); absent and null are None.

    An empty string (Bybit's "not available") is no number: such frames go the precise way.
    """

    markPrice: wire.Price | None = None  # noqa: N815 (the venue's keys)
    indexPrice: wire.Price | None = None  # noqa: N815
    openInterest: wire.Size | None = None  # noqa: N815
    singleOpenInterest: wire.Size | None = None  # noqa: N815
    fundingRate: wire.Number | None = None  # noqa: N815
    nextFundingTime: wire.Scalar | None = None  # noqa: N815


class _FastTicker(msgspec.Struct):
    topic: str
    type: Literal["snapshot", "delta"]
    ts: wire.Scalar
    data: _FastTickerData


_TICKER_DECODER: Final = wire.decoder(_FastTicker)
_TICKER_PREFIX: Final = '{"topic":"tickers.'
"""How Bybit starts every ticker push."""


class _FastBookData(msgspec.Struct):
    """The orderbook fields the fast path uses; levels decode straight to floats."""

    u: wire.Scalar
    b: wire.Levels
    a: wire.Levels


class _FastBook(msgspec.Struct):
    topic: str
    type: Literal["snapshot", "delta"]
    ts: wire.Scalar
    data: _FastBookData


_BOOK_DECODER: Final = wire.decoder(_FastBook)
_BOOK_PREFIX: Final = '{"topic":"orderbook.'
"""How Bybit starts every orderbook push."""


def _ticker_fields(data: dict[str, Any]) -> _TickerFields:
    """The ticker numbers this frame carries, checked; one-side OI preferred, else half."""
    get = data.get
    mark = index = oi = rate = None
    next_ns = None
    value = get("markPrice")
    if value is not None:
        mark = _number(value, "markPrice", 0.0, "non_positive_price")
    value = get("indexPrice")
    if value is not None:
        index = _number(value, "indexPrice", 0.0, "non_positive_price")
    value = get("openInterest")
    if value is not None:
        both = _number(value, "openInterest", 0.0, "negative_size")
        oi = None if both is None else both / 2.0  # documented as both sides: halve
    value = get("singleOpenInterest")
    if value is not None:
        single = _number(value, "singleOpenInterest", 0.0, "negative_size")
        oi = single if single is not None else oi  # one side as sent: preferred
    value = get("fundingRate")
    if value is not None:
        rate = _number(value, "fundingRate", -math.inf, "non_finite")
    value = get("nextFundingTime")
    if value is not None and value != "":
        next_ns = wire.ms_to_ns(VENUE, value, "nextFundingTime")
    return mark, index, oi, rate, next_ns


def _book(route: _Route, message: dict[str, Any], recv_ns: int) -> Parsed:
    """A snapshot (or ``u`` = 1, a restart) replaces the book; a delta updates it."""
    data = wire.obj(VENUE, _data(message), "orderbook data")
    kind = message.get("type")
    if kind not in _MESSAGE_TYPES:  # a tuple: `type` may be an unhashable list
        raise FeedDecodeError(VENUE, "missing_field" if kind is None else "malformed", "type")
    ts = wire.timestamp(VENUE, message, "ts")
    update_id = wire.field(VENUE, data, "u")
    if type(update_id) is not int or update_id < 1:
        raise FeedDecodeError(VENUE, "bad_sequence", f"u={update_id!r:.40}")
    instrument = route.instrument
    bids = wire.levels(VENUE, wire.field(VENUE, data, "b"), "b", instrument)
    asks = wire.levels(VENUE, wire.field(VENUE, data, "a"), "a", instrument)
    constructor: type[BookSnapshot] | type[BookUpdate] = (
        BookSnapshot if kind == "snapshot" or update_id == 1 else BookUpdate
    )
    event = wire.build(
        VENUE,
        constructor,
        venue=VENUE,
        symbol=instrument.symbol,
        ts_event_ns=ts,
        ts_recv_ns=recv_ns,
        bids=bids,
        asks=asks,
        sequence=update_id,
    )
    return new_parsed(events=(event,), streams=route.streams)


def _items(message: dict[str, Any], channel: str) -> list[Any]:
    data = _data(message)
    if type(data) is dict:  # the all-liquidation table says "Object"; the example is a list
        return [data]
    if type(data) is not list:
        raise FeedDecodeError(VENUE, "malformed", f"{channel} data is not a list")
    return data


def _side(item: Mapping[str, Any]) -> str:
    """The ``S`` field as a string (anything else would not even be hashable)."""
    value = wire.field(VENUE, item, "S")
    if type(value) is not str:
        raise FeedDecodeError(VENUE, "bad_type", f"S={value!r:.40}")
    return value


def _trades(route: _Route, message: dict[str, Any], recv_ns: int) -> Parsed:
    """Taker trades; block trades (``BT``) are kept: they open positions too."""
    instrument = route.instrument
    events: list[Event] = []
    for raw in _items(message, "publicTrade"):
        item = wire.obj(VENUE, raw, "trade")
        aggressor = _AGGRESSOR.get(_side(item))
        if aggressor is None:
            raise FeedDecodeError(VENUE, "bad_type", f"trade S={item['S']!r:.40}")
        price = wire.price(VENUE, item, "p")
        events.append(
            wire.build(
                VENUE,
                new_trade,
                venue=VENUE,
                symbol=instrument.symbol,
                ts_event_ns=wire.timestamp(VENUE, item, "T"),
                ts_recv_ns=recv_ns,
                price=price,
                quantity=instrument.to_base(wire.size(VENUE, item, "v"), price),
                aggressor=aggressor,
            )
        )
    return new_parsed(events=tuple(events), streams=route.streams)


def _liquidations(route: _Route, message: dict[str, Any], recv_ns: int) -> Parsed:
    """``S=Buy`` is a liquidated long; ``p`` is the bankruptcy price, ``v`` the size."""
    instrument = route.instrument
    events: list[Event] = []
    for raw in _items(message, "allLiquidation"):
        item = wire.obj(VENUE, raw, "liquidation")
        side = _POSITION.get(_side(item))
        if side is None:
            raise FeedDecodeError(VENUE, "bad_type", f"liquidation S={item['S']!r:.40}")
        price = wire.price(VENUE, item, "p")
        events.append(
            wire.build(
                VENUE,
                new_liquidation,
                venue=VENUE,
                symbol=instrument.symbol,
                ts_event_ns=wire.timestamp(VENUE, item, "T"),
                ts_recv_ns=recv_ns,
                side=side,
                price=price,
                quantity=instrument.to_base(wire.size(VENUE, item, "v"), price),
            )
        )
    return new_parsed(events=tuple(events), streams=route.streams)


_HANDLERS: Final = (_ticker, _book, _trades, _liquidations)
"""Indexed by route kind (`_TICKER`, `_BOOK`, `_TRADE`, `_LIQUIDATION`)."""

__all__ = [
    "BOOK_STALE_S",
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "KEEPALIVE",
    "TICKER_STALE_S",
    "BybitAdapter",
]
