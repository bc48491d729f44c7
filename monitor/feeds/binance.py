"""Binance USD-M futures adapter: pure URLs, subscribe frames and frame decoding.

Why it looks the way it does (details and sources in docs/feeds/binance.md):

- Since 2026-04-23 Binance serves USD-M streams on routed paths only: `/public` for the
  high-frequency book (`@depth`, `@bookTicker`) and `/market` for everything else
  (`@markPrice`, `@aggTrade`, `@forceOrder`). A legacy or wrongly routed connection still
  acknowledges SUBSCRIBE and then stays silent, so the two routes get separate
  connections and every data stream has its own staleness deadline.
- We connect in "ws" mode (`/market/ws`), switch the connection to combined payloads with
  `SET_PROPERTY ["combined", true]` (every event then names its stream, which makes
  recordings and the fake venue unambiguous) and subscribe with `SUBSCRIBE` frames.
  `parse` accepts both wrapped and raw payloads.
- Open interest has no stream on USD-M: it is polled from `/fapi/v1/openInterest`.
- The diff book needs a REST snapshot (`/fapi/v1/depth?limit=1000`) bridged by the
  update ids `U`/`u`/`pu`, mapped to `first_sequence`/`sequence`/`prev_sequence`.
- Keep-alive is the protocol-level ping/pong (the server pings every 3 min; the
  websockets library answers), so there is no application keep-alive; connections are cut
  at 24 h, so we rotate them after 23 h.

One sample payload per channel (documentation examples, developers.binance.com, USD-M):

    markPrice   {"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000",
                 "i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}
    forceOrder  {"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT",
                 "f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014",
                 "z":"0.014","T":1568014460893}}
    aggTrade    {"e":"aggTrade","E":123456789,"s":"BTCUSDT","a":5933014,"p":"0.001","q":"100",
                 "f":100,"l":105,"T":123456785,"m":true}
    depth       {"e":"depthUpdate","E":123456789,"T":123456788,"s":"BTCUSDT","U":157,"u":160,
                 "pu":149,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}
    REST depth  {"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,
                 "bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}
    REST OI     {"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}
    ack         {"result":null,"id":1}
    error       {"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}
    combined    {"stream":"btcusdt@markPrice@1s","data":{...one of the events above...}}

(The aggTrade and depth examples carry placeholder times such as 123456789 that are not
plausible epoch milliseconds; this adapter rejects them as `bad_timestamp`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
import orjson

from monitor.core.events import (
    Aggressor,
    InvalidEventError,
    Side,
    Trade,
    new_book_snapshot,
    new_book_update,
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
    Instrument,
    Parsed,
    RestRequest,
    SizeUnit,
    Stream,
    new_parsed,
)

VENUE: Final = "binance"

DEFAULT_WS_URL: Final = "wss://fstream.binance.com"
"""Root of the routed WebSocket endpoints; `/public` and `/market` are derived from it."""
DEFAULT_REST_URL: Final = "https://fapi.binance.com"

PUBLIC_PATH: Final = "/public/ws"  # @depth, @bookTicker
MARKET_PATH: Final = "/market/ws"  # @markPrice, @aggTrade, @forceOrder

CHANNEL_MARK: Final = "markPrice"
CHANNEL_LIQUIDATION: Final = "forceOrder"
CHANNEL_AGG_TRADE: Final = "aggTrade"
CHANNEL_TRADE: Final = "trade"  # parsed for recorded captures; never subscribed
CHANNEL_DEPTH: Final = "depth"

MARK_STALE_S: Final = 5.0
"""`@markPrice@1s` pushes every 1000 ms whatever happens: 5 missed pushes mean a dead stream."""
DEPTH_STALE_S: Final = 10.0
"""`@depth@100ms` pushes only when the book changed ("if existing"), so 5 x 100 ms would
fire on a quiet book; a listed perpetual whose book is unchanged for 10 s is implausible."""
AGG_TRADE_STALE_S: Final = 60.0
"""`@aggTrade` pushes only when trades print; long-tail symbols can be quiet for a while.
The connection itself is watched by `@markPrice@1s`; this catches a silently dropped
subscription (binance/binance-public-data#472)."""

MAX_LIFETIME_S: Final = 23 * 3600.0
"""Binance cuts every connection at 24 h; rotate an hour early, on our terms."""
MAX_STREAMS_PER_CONNECTION: Final = 200
"""Binance allows 1024; we stay at 200 (as nautilus_trader does) so one connection's
SUBSCRIBE burst stays small and a reconnect re-subscribes few streams."""
SUBSCRIBE_CHUNK: Final = 50
"""Stream names per SUBSCRIBE frame: 200 streams take 4 frames, under the 10 incoming
messages per second a connection may send (5 with SET_PROPERTY)."""

DEPTH_SNAPSHOT_LIMIT: Final = 1000
DEPTH_SNAPSHOT_WEIGHT: Final = 20  # Order Book page: limit 1000 costs 20
OI_WEIGHT: Final = 1
OI_WEIGHT_BUDGET_PER_MIN: Final = 600.0
"""A quarter of the 2400/min IP budget goes to OI polls; the rest is for book snapshots
(20 each) and exchangeInfo."""
OI_MIN_INTERVAL_S: Final = 5.0

_MARKET_CHANNELS: Final = (CHANNEL_MARK, CHANNEL_LIQUIDATION, CHANNEL_AGG_TRADE)
_NO_STREAMS: Final[tuple[str, ...]] = ()
_BASE: Final = SizeUnit.BASE  # constants: an enum lookup is ~0.08 µs in Python 3.11
_BUY: Final = Aggressor.BUY
_SELL: Final = Aggressor.SELL


@dataclass(frozen=True, slots=True)
class _Symbol:
    """Per-symbol metadata and the stream-key tuples, built once so `parse` allocates none."""

    instrument: Instrument
    mark: tuple[str, ...]
    liquidation: tuple[str, ...]
    agg_trade: tuple[str, ...]
    trade: tuple[str, ...]
    depth: tuple[str, ...]


class _MarkData(msgspec.Struct):
    """The fields of `markPriceUpdate` the fast path uses (`wire.fast`)."""

    e: Literal["markPriceUpdate"]
    E: wire.Scalar
    s: str
    p: wire.Price
    i: wire.Price
    r: wire.Number
    T: wire.Scalar


class _MarkFrame(msgspec.Struct):
    """A combined-stream mark-price frame (what our connections receive)."""

    data: _MarkData


_MARK_DECODER: Final = wire.decoder(_MarkFrame)


class _DepthData(msgspec.Struct):
    """The fields of `depthUpdate` the fast path uses; levels decode straight to floats."""

    e: Literal["depthUpdate"]
    T: wire.Scalar
    s: str
    U: wire.Scalar
    u: wire.Scalar
    pu: wire.Scalar
    b: wire.Levels
    a: wire.Levels


class _DepthFrame(msgspec.Struct):
    """A combined-stream depth frame (what our connections receive)."""

    data: _DepthData


_DEPTH_DECODER: Final = wire.decoder(_DepthFrame)


class _TradeData(msgspec.Struct):
    """The fields of `trade` and `aggTrade` the fast path uses."""

    e: Literal["trade", "aggTrade"]
    T: wire.Scalar
    s: str
    p: wire.Price
    q: wire.Size
    m: wire.Scalar | bool  # kept as sent: the precise path takes a JSON boolean only
    X: str | None = None  # `trade` only: MARKET, or an insurance-fund / ADL print (None,
    # also from the string "null", sends a `trade` the precise way; `aggTrade` ignores it)


class _TradeFrame(msgspec.Struct):
    """A combined-stream trade frame."""

    data: _TradeData


_TRADE_DECODER: Final = wire.decoder(_TradeFrame)
_EVENT_KEY: Final = '"e":"'
"""Where a frame names its event type: in the first 80 characters, since Binance puts `e`
first in `data` (after the stream name) or in the frame itself. Which fast path to try is
told from the name that follows; a frame that does not fit it goes the precise way."""


def stream_key(channel: str, symbol: str) -> str:
    """The watchdog key of one (channel, symbol) stream, e.g. `markPrice:BTCUSDT`."""
    return f"{channel}:{symbol}"


def _symbol_entry(instrument: Instrument) -> _Symbol:
    s = instrument.symbol
    return _Symbol(
        instrument=instrument,
        mark=(stream_key(CHANNEL_MARK, s),),
        liquidation=(stream_key(CHANNEL_LIQUIDATION, s),),
        agg_trade=(stream_key(CHANNEL_AGG_TRADE, s),),
        trade=(stream_key(CHANNEL_TRADE, s),),
        depth=(stream_key(CHANNEL_DEPTH, s),),
    )


def _ms(message: Mapping[str, Any], key: str) -> int:
    """An epoch-ms field as int ns; Binance sends JSON integers, anything else is bad."""
    value = wire.field(VENUE, message, key)
    if type(value) is not int:
        raise FeedDecodeError(VENUE, "bad_timestamp", f"{key}={value!r:.40}")
    return wire.ms_to_ns(VENUE, value, key)


def _sequence(message: Mapping[str, Any], key: str) -> int:
    """A book update id: a non-negative JSON integer."""
    value = wire.field(VENUE, message, key)
    if type(value) is not int or value < 0:
        raise FeedDecodeError(VENUE, "bad_sequence", f"{key}={value!r:.40}")
    return value


def _venue_error(message: Mapping[str, Any]) -> FeedDecodeError:
    """Binance error frames: `{"code":..,"msg":..}`, sometimes nested under `error`."""
    body = message.get("error")
    if not isinstance(body, dict):
        body = message
    return FeedDecodeError(
        VENUE, "venue_error", f"code={body.get('code')!r:.20} msg={body.get('msg')!r:.120}"
    )


def _is_error(message: Mapping[str, Any]) -> bool:
    return "error" in message or ("code" in message and "msg" in message)


def _frames(method: str, params: Sequence[Any], first_id: int) -> list[str]:
    """JSON control frames, `SUBSCRIBE_CHUNK` params each, with consecutive ids."""
    return [
        orjson.dumps(
            {
                "method": method,
                "params": list(params[i : i + SUBSCRIBE_CHUNK]),
                "id": first_id + n,
            }
        ).decode()
        for n, i in enumerate(range(0, len(params), SUBSCRIBE_CHUNK))
    ]


def _chunks(items: Sequence[Instrument], size: int) -> Iterable[Sequence[Instrument]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class BinanceAdapter:
    """The pure Binance USD-M surface the supervisor drives (`VenueAdapter`).

    It keeps only the instruments it was planned with (for the `unknown_symbol` check and
    the precomputed stream keys); no I/O, no clock.
    """

    venue = VENUE

    def __init__(self, *, ws_url: str = DEFAULT_WS_URL, rest_url: str = DEFAULT_REST_URL) -> None:
        self.ws_url = ws_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/")
        self.market_url = self.ws_url + MARKET_PATH
        self.public_url = self.ws_url + PUBLIC_PATH
        self._symbols: dict[str, _Symbol] = {}
        self._handlers: dict[str, Callable[[Mapping[str, Any], int], Parsed]] = {
            "markPriceUpdate": self._mark_price,
            "forceOrder": self._force_order,
            "aggTrade": self._agg_trade,
            "trade": self._trade,
            "depthUpdate": self._depth_update,
        }

    # -- metadata -------------------------------------------------------------------------

    def instruments_request(self) -> RestRequest:
        """`GET /fapi/v1/exchangeInfo` (weight 1): every symbol with its contract type."""
        return RestRequest(url=self.rest_url + "/fapi/v1/exchangeInfo", weight=1)

    def parse_instruments(self, payload: Any) -> list[Instrument]:
        """Every `PERPETUAL` contract in status `TRADING`.

        Delivery contracts, `TRADIFI_PERPETUAL` (equity/commodity perps with trading
        sessions) and settling or delisted symbols are left out. Sizes are base units and
        the unified asset is `baseAsset` (note `1000PEPEUSDT` has base `1000PEPE`).
        """
        body = wire.obj(VENUE, payload, "exchangeInfo")
        if _is_error(body):
            raise _venue_error(body)
        entries = wire.field(VENUE, body, "symbols")
        if not isinstance(entries, list):
            raise FeedDecodeError(VENUE, "malformed", "symbols is not a list")
        out: list[Instrument] = []
        for raw in entries:
            entry = wire.obj(VENUE, raw, "symbols[]")
            if entry.get("contractType") != "PERPETUAL" or entry.get("status") != "TRADING":
                continue
            out.append(
                Instrument(
                    venue=VENUE,
                    symbol=wire.text(VENUE, entry, "symbol"),
                    asset=wire.text(VENUE, entry, "baseAsset"),
                    contract_type=ContractType.LINEAR,
                    size_unit=SizeUnit.BASE,
                    contract_size=1.0,
                    tick_size=_tick_size(entry),
                )
            )
        return out

    # -- connections ----------------------------------------------------------------------

    def plan(self, instruments: Sequence[Instrument]) -> list[ConnectionPlan]:
        """Market connections (mark+funding, liquidations, trades) and public ones (book).

        The two routes are never mixed. A symbol's three market streams share one
        connection, so its liquidation stream (no deadline) always rides with its
        watched mark-price stream.
        """
        self._remember(instruments, replace=True)
        ordered = list({i.symbol: i for i in instruments}.values())
        plans: list[ConnectionPlan] = []
        per_market = MAX_STREAMS_PER_CONNECTION // len(_MARKET_CHANNELS)
        for n, chunk in enumerate(_chunks(ordered, per_market)):
            names: list[str] = []
            streams: list[Stream] = []
            for instrument in chunk:
                low = instrument.symbol.lower()
                names += [f"{low}@markPrice@1s", f"{low}@forceOrder", f"{low}@aggTrade"]
                streams += [
                    Stream(stream_key(CHANNEL_MARK, instrument.symbol), MARK_STALE_S),
                    Stream(stream_key(CHANNEL_LIQUIDATION, instrument.symbol), None),
                    Stream(stream_key(CHANNEL_AGG_TRADE, instrument.symbol), AGG_TRADE_STALE_S),
                ]
            plans.append(self._connection(f"market-{n}", self.market_url, names, streams))
        for n, chunk in enumerate(_chunks(ordered, MAX_STREAMS_PER_CONNECTION)):
            names = [f"{i.symbol.lower()}@depth@100ms" for i in chunk]
            streams = [Stream(stream_key(CHANNEL_DEPTH, i.symbol), DEPTH_STALE_S) for i in chunk]
            plans.append(self._connection(f"public-{n}", self.public_url, names, streams))
        return plans

    @staticmethod
    def _connection(
        name: str, url: str, names: Sequence[str], streams: Sequence[Stream]
    ) -> ConnectionPlan:
        combined = _frames("SET_PROPERTY", ["combined", True], 1)[0]
        return ConnectionPlan(
            name=name,
            url=url,
            subscribe=(combined, *_frames("SUBSCRIBE", names, 2)),
            streams=tuple(streams),
            keepalive=None,  # protocol ping/pong only; the websockets library answers
            max_lifetime_s=MAX_LIFETIME_S,
        )

    def resubscribe(self, conn: str, symbol: str) -> tuple[str, ...]:
        """Nothing: a Binance book is rebuilt from a REST snapshot, not by resubscribing."""
        return ()

    def book_snapshot_request(self, symbol: str) -> RestRequest:
        """`GET /fapi/v1/depth?symbol=..&limit=1000` (weight 20) for the diff-book bridge."""
        return RestRequest(
            url=self.rest_url + "/fapi/v1/depth",
            params={"symbol": symbol, "limit": str(DEPTH_SNAPSHOT_LIMIT)},
            weight=DEPTH_SNAPSHOT_WEIGHT,
        )

    def parse_book_snapshot(self, symbol: str, payload: Any, recv_ns: int) -> Parsed:
        """The REST snapshot as a `BookSnapshot` whose `sequence` is `lastUpdateId`."""
        try:
            entry = self._known(symbol)
            body = wire.obj(VENUE, payload, "depth snapshot")
            if _is_error(body):
                raise _venue_error(body)
            instrument = entry.instrument
            snapshot = new_book_snapshot(
                venue=VENUE,
                symbol=symbol,
                ts_event_ns=_ms(body, "T"),
                ts_recv_ns=recv_ns,
                bids=wire.levels(VENUE, wire.field(VENUE, body, "bids"), "bids", instrument),
                asks=wire.levels(VENUE, wire.field(VENUE, body, "asks"), "asks", instrument),
                sequence=_sequence(body, "lastUpdateId"),
            )
        except InvalidEventError as exc:
            raise FeedDecodeError(VENUE, exc.reason, str(exc)) from exc
        return new_parsed(events=(snapshot,))

    def poll_requests(self, instruments: Sequence[Instrument]) -> list[tuple[RestRequest, float]]:
        """One `/fapi/v1/openInterest` poll per symbol (weight 1 each).

        The interval spreads `OI_WEIGHT_BUDGET_PER_MIN` over the symbols: every 5 s up to
        50 symbols, then slower (300 symbols: every 30 s).
        """
        self._remember(instruments, replace=False)
        symbols = list(dict.fromkeys(i.symbol for i in instruments))
        if not symbols:
            return []
        interval = max(
            OI_MIN_INTERVAL_S, len(symbols) * OI_WEIGHT * 60.0 / OI_WEIGHT_BUDGET_PER_MIN
        )
        url = self.rest_url + "/fapi/v1/openInterest"
        return [
            (RestRequest(url=url, params={"symbol": s}, weight=OI_WEIGHT), interval)
            for s in symbols
        ]

    def parse_poll(self, payload: Any, recv_ns: int) -> Parsed:
        """An open-interest poll answer as `OpenInterest` (base units, one side per Binance)."""
        try:
            body = wire.obj(VENUE, payload, "openInterest")
            if _is_error(body):
                raise _venue_error(body)
            entry = self._symbol_of(body, "symbol")
            event = new_open_interest(
                venue=VENUE,
                symbol=entry.instrument.symbol,
                ts_event_ns=_ms(body, "time"),
                ts_recv_ns=recv_ns,
                open_interest=wire.size(VENUE, body, "openInterest"),
            )
        except InvalidEventError as exc:
            raise FeedDecodeError(VENUE, exc.reason, str(exc)) from exc
        return new_parsed(events=(event,))

    # -- the hot path ---------------------------------------------------------------------

    def parse(self, conn: str, raw: str | bytes, recv_ns: int) -> Parsed:
        """Decode one frame; raises only `FeedDecodeError`.

        `conn` is not consulted: the event type decides, and both combined (`stream` +
        `data`) and raw payloads are accepted. Acks return `Parsed()`; only data proves a
        stream alive.
        """
        if type(raw) is str:
            parsed = None
            at = raw.find(_EVENT_KEY, 0, 80) + len(_EVENT_KEY)
            if raw.startswith("depthUpdate", at):
                parsed = self._fast_depth_update(raw, recv_ns)
            elif raw.startswith(("trade", "aggTrade"), at):
                parsed = self._fast_trade(raw, recv_ns)
            elif raw.startswith("markPriceUpdate", at):
                parsed = self._fast_mark_price(raw, recv_ns)
            if parsed is not None:
                return parsed
        message = wire.loads(VENUE, raw)
        if type(message) is not dict:
            raise FeedDecodeError(VENUE, "malformed", "frame is not a JSON object")
        data = message.get("data")
        if data is not None:
            if type(data) is not dict:
                raise FeedDecodeError(VENUE, "malformed", "data is not an object")
            message = data
        kind = message.get("e")
        handler = self._handlers.get(kind) if type(kind) is str else None
        if handler is None:
            return self._control(message, kind)
        try:
            return handler(message, recv_ns)
        except InvalidEventError as exc:
            raise FeedDecodeError(VENUE, exc.reason, str(exc)) from exc

    @staticmethod
    def _control(message: Mapping[str, Any], kind: Any) -> Parsed:
        if "id" in message and "result" in message:
            return NOTHING  # SUBSCRIBE / SET_PROPERTY ack, LIST_SUBSCRIPTIONS answer
        if _is_error(message):
            raise _venue_error(message)
        raise FeedDecodeError(VENUE, "unknown_message", f"e={kind!r:.40}")

    def _fast_mark_price(self, raw: str, recv_ns: int) -> Parsed | None:
        """`_mark_price` of a well-formed combined frame; None sends it the precise way."""
        frame = wire.fast(_MARK_DECODER, raw)
        if frame is None:
            return None
        m = frame.data
        entry = self._symbols.get(m.s)
        ts = wire.fast_ms_to_ns(m.E)
        next_funding = wire.fast_ms_to_ns(m.T)
        if entry is None or ts is None or next_funding is None:
            return None
        return _mark_events(entry, ts, recv_ns, m.p, m.i, m.r, next_funding)

    def _fast_depth_update(self, raw: str, recv_ns: int) -> Parsed | None:
        """`_depth_update` of a well-formed combined frame; None sends it the precise way."""
        frame = wire.fast(_DEPTH_DECODER, raw)
        if frame is None:
            return None
        m = frame.data
        entry = self._symbols.get(m.s)
        ts = wire.fast_ms_to_ns(m.T)
        first, last, prev = m.U, m.u, m.pu
        if (
            entry is None
            or ts is None
            or entry.instrument.size_unit is not _BASE
            or not (type(first) is int and type(last) is int and type(prev) is int)
            or not 0 <= first <= last <= wire.MAX_INT
            or not 0 <= prev <= wire.MAX_INT
        ):
            return None
        update = new_book_update(
            venue=VENUE,
            symbol=entry.instrument.symbol,
            ts_event_ns=ts,
            ts_recv_ns=recv_ns,
            bids=m.b,
            asks=m.a,
            sequence=last,
            prev_sequence=prev,
            first_sequence=first,
        )
        return new_parsed(events=(update,), streams=entry.depth)

    def _fast_trade(self, raw: str, recv_ns: int) -> Parsed | None:
        """`_agg_trade` or `_trade` of a well-formed combined frame; None: the precise way."""
        frame = wire.fast(_TRADE_DECODER, raw)
        if frame is None:
            return None
        m = frame.data
        entry = self._symbols.get(m.s)
        ts = wire.fast_ms_to_ns(m.T)
        maker_is_buyer = m.m
        aggregated = m.e == "aggTrade"
        if (
            entry is None
            or ts is None
            or type(maker_is_buyer) is not bool
            or not (aggregated or m.X == "MARKET")
        ):
            return None
        try:
            trade = new_trade(
                venue=VENUE,
                symbol=entry.instrument.symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                price=m.p,
                quantity=m.q,
                aggressor=_SELL if maker_is_buyer else _BUY,
            )
        except InvalidEventError:  # a zero quantity: the precise path names it
            return None
        return new_parsed(events=(trade,), streams=entry.agg_trade if aggregated else entry.trade)

    def _mark_price(self, m: Mapping[str, Any], recv_ns: int) -> Parsed:
        return _mark_events(
            self._symbol_of(m, "s"),
            _ms(m, "E"),
            recv_ns,
            wire.price(VENUE, m, "p"),
            wire.price(VENUE, m, "i"),
            wire.number(VENUE, m, "r"),
            _ms(m, "T"),
        )

    def _force_order(self, m: Mapping[str, Any], recv_ns: int) -> Parsed:
        order = wire.obj(VENUE, wire.field(VENUE, m, "o"), "o")
        entry = self._symbol_of(order, "s")
        side = _POSITION_SIDE.get(wire.text(VENUE, order, "S"))
        if side is None:
            raise FeedDecodeError(VENUE, "bad_type", f"S={order.get('S')!r:.20}")
        # `z` (filled accumulated) at `ap` (average fill price) is what actually traded;
        # `q`/`p` are the order's size and limit. Nothing filled yet: nothing liquidated.
        quantity = wire.size(VENUE, order, "z")
        ts = _ms(order, "T")
        if quantity == 0.0:
            return new_parsed(streams=entry.liquidation)
        event = new_liquidation(
            venue=VENUE,
            symbol=entry.instrument.symbol,
            ts_event_ns=ts,
            ts_recv_ns=recv_ns,
            side=side,
            price=wire.price(VENUE, order, "ap"),
            quantity=quantity,
        )
        return new_parsed(events=(event,), streams=entry.liquidation)

    def _agg_trade(self, m: Mapping[str, Any], recv_ns: int) -> Parsed:
        entry = self._symbol_of(m, "s")
        return new_parsed(events=(self._taker_trade(entry, m, recv_ns),), streams=entry.agg_trade)

    def _trade(self, m: Mapping[str, Any], recv_ns: int) -> Parsed:
        """Raw `@trade` (in recorded captures); insurance-fund and ADL prints are not taker flow."""
        entry = self._symbol_of(m, "s")
        if wire.text(VENUE, m, "X") != "MARKET":
            return new_parsed(streams=entry.trade)
        return new_parsed(events=(self._taker_trade(entry, m, recv_ns),), streams=entry.trade)

    @staticmethod
    def _taker_trade(entry: _Symbol, m: Mapping[str, Any], recv_ns: int) -> Trade:
        maker_is_buyer = wire.field(VENUE, m, "m")
        if type(maker_is_buyer) is not bool:
            raise FeedDecodeError(VENUE, "bad_type", f"m={maker_is_buyer!r:.20}")
        return new_trade(
            venue=VENUE,
            symbol=entry.instrument.symbol,
            ts_event_ns=_ms(m, "T"),
            ts_recv_ns=recv_ns,
            price=wire.price(VENUE, m, "p"),
            quantity=wire.size(VENUE, m, "q"),
            # The buyer was the maker, so the seller took liquidity.
            aggressor=Aggressor.SELL if maker_is_buyer else Aggressor.BUY,
        )

    def _depth_update(self, m: Mapping[str, Any], recv_ns: int) -> Parsed:
        entry = self._symbol_of(m, "s")
        instrument = entry.instrument
        first = _sequence(m, "U")
        last = _sequence(m, "u")
        if first > last:
            raise FeedDecodeError(VENUE, "bad_sequence", f"U={first} > u={last}")
        update = new_book_update(
            venue=VENUE,
            symbol=instrument.symbol,
            ts_event_ns=_ms(m, "T"),
            ts_recv_ns=recv_ns,
            bids=wire.levels(VENUE, wire.field(VENUE, m, "b"), "b", instrument),
            asks=wire.levels(VENUE, wire.field(VENUE, m, "a"), "a", instrument),
            sequence=last,
            prev_sequence=_sequence(m, "pu"),
            first_sequence=first,
        )
        return new_parsed(events=(update,), streams=entry.depth)

    # -- instruments kept for parsing -----------------------------------------------------

    def _remember(self, instruments: Sequence[Instrument], *, replace: bool) -> None:
        entries = {i.symbol: _symbol_entry(i) for i in instruments}
        if replace:
            self._symbols = entries
        else:
            self._symbols.update(entries)

    def _symbol_of(self, message: Mapping[str, Any], key: str) -> _Symbol:
        return self._known(wire.text(VENUE, message, key))

    def _known(self, symbol: str) -> _Symbol:
        entry = self._symbols.get(symbol)
        if entry is None:
            raise FeedDecodeError(VENUE, "unknown_symbol", f"{symbol!r:.40}")
        return entry


def _mark_events(  # noqa: PLR0917 (positional: the cheapest call)
    entry: _Symbol,
    ts: int,
    recv_ns: int,
    mark: float,
    index: float,
    rate: float,
    next_funding: int,
) -> Parsed:
    """Mark price and funding of one `markPriceUpdate`, read by either path."""
    symbol = entry.instrument.symbol
    return new_parsed(
        events=(
            new_mark_price(
                venue=VENUE,
                symbol=symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                mark_price=mark,
                index_price=index,
            ),
            new_funding(
                venue=VENUE,
                symbol=symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                rate=rate,
                next_funding_ns=next_funding,
            ),
        ),
        streams=entry.mark,
    )


_POSITION_SIDE: Final = {"SELL": Side.LONG, "BUY": Side.SHORT}
"""forceOrder `S` is the liquidation *order's* side: selling closes a long."""


def _tick_size(entry: Mapping[str, Any]) -> float | None:
    filters = entry.get("filters")
    if not isinstance(filters, list):
        return None
    for item in filters:
        if isinstance(item, dict) and item.get("filterType") == "PRICE_FILTER":
            return wire.price(VENUE, item, "tickSize")
    return None


__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "BinanceAdapter",
    "stream_key",
]
