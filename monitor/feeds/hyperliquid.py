r"""Hyperliquid perpetuals (HyperCore): the pure venue adapter.

One WebSocket (`wss://api.hyperliquid.xyz/ws`) carries, per coin, three subscriptions:
`activeAssetCtx` (mark, oracle price as index, hourly funding, open interest in coin),
`l2Book` (a full top-20 snapshot per block) and `trades`. Instruments come from
`POST /info {"type":"meta"}`. Every perpetual is linear, USDC-margined and sized in coin,
so no size conversion is needed. There is **no public liquidation channel** (only per-wallet
`userFills`, limited to 10 users per IP): this adapter never emits `Liquidation`; the
ledger infers liquidations from open-interest drops and trades.

Wire samples, one per kind (shapes checked against the sources named in
docs/feeds/hyperliquid.md and tests/fixtures/hyperliquid/SOURCES.md)::

    greeting (plain text, not JSON, first frame after the handshake)
        Websocket connection established.
    subscription ack
        {"channel":"subscriptionResponse","data":{"method":"subscribe",
         "subscription":{"type":"trades","coin":"BTC"}}}
    keep-alive: we send {"method":"ping"}, the venue answers
        {"channel":"pong"}
    venue error frame (a reject with reason venue_error)
        {"channel":"error","data":"Invalid subscription {\"type\":\"l2Book\",...}"}
    activeAssetCtx (no exchange timestamp: stamped with our receive time)
        {"channel":"activeAssetCtx","data":{"coin":"ETH","ctx":{"funding":"0.0000125",
         "openInterest":"446072.075","prevDayPx":"3190.0","dayNtlVlm":"1.2e9",
         "premium":"0.0001","oraclePx":"3230.1","markPx":"3227.4","midPx":"3228.25",
         "impactPxs":["3228.2","3228.3"],"dayBaseVlm":"380000.0"}}}
    l2Book (levels[0] bids best first, levels[1] asks best first; every frame a snapshot)
        {"channel":"l2Book","data":{"coin":"BTC","time":1710131872708,"levels":[
         [{"px":"68674.0","sz":"0.97139","n":4}],[{"px":"68675.0","sz":"0.04396","n":1}]]}}
    trades (side = aggressor: "B" taker bought, "A" taker sold)
        {"channel":"trades","data":[{"coin":"BTC","side":"A","px":"68517.0","sz":"0.005",
         "time":1710125266669,"hash":"0xc872...","tid":981894269203506}]}
    allDexsAssetCtxs (optional, not planned: contexts by universe position, per dex)
        {"channel":"allDexsAssetCtxs","data":{"ctxs":[["",[{<ctx of BTC>},{<ctx of ETH>},...]],
         ["xyz",[...]]]}}
    instruments (POST /info {"type":"meta"})
        {"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":50},
         {"name":"LOOM","szDecimals":1,"maxLeverage":3,"onlyIsolated":true,"isDelisted":true}],
         "marginTables":[...]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import msgspec
import orjson

from monitor.core.events import (
    Aggressor,
    Event,
    InvalidEventError,
    Level,
    new_book_snapshot,
    new_funding,
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
    FeedError,
    Instrument,
    Keepalive,
    Parsed,
    RestRequest,
    SizeUnit,
    Stream,
    StreamedOnly,
    new_parsed,
)
from monitor.feeds.wire import field, loads, number, obj, price, size, text, timestamp, to_float

VENUE: Final = "hyperliquid"
WS_URL: Final = "wss://api.hyperliquid.xyz/ws"
REST_URL: Final = "https://api.hyperliquid.xyz"

GREETING: Final = "Websocket connection established."
"""Sent as plain text right after the handshake; the official SDK skips it."""

PING: Final = '{"method":"ping"}'
KEEPALIVE_S: Final = 30.0
"""The venue closes a connection it has sent nothing to for 60 s; the official SDK pings every
50 s. 30 s keeps a full interval of margin for a late timer, at 2 of the 2000 messages per
minute the venue allows per IP."""

CTX_STALE_S: Final = 10.0
"""activeAssetCtx pushes about once a second (UNCONFIRMED in the official docs; stated by a
mirror); the oracle inside it moves every ~3 s. 10 s is ~5x a conservative 2 s cadence."""
BOOK_STALE_S: Final = 5.0
"""l2Book pushes per block, at least 0.5 s apart (docs); 0.3-0.85 s apart in the capture."""
TRADES_STALE_S: Final = 120.0
"""Trades are event-driven, so no cadence exists. A majors' perp is never silent for 2 min;
a false alarm only costs a reconnect, after which the venue resends recent trades that the
watermark below de-duplicates."""

COINS_PER_CONNECTION: Final = 50
MAX_SUBSCRIPTIONS: Final = 1000
"""Per IP, across all connections (rate-limits page)."""

INFO_WEIGHT_META: Final = 20
"""`meta` is one of the 'all other info requests' of weight 20 (budget 1200 per minute)."""

HOUR_NS: Final = 3_600 * 1_000_000_000
"""Funding is settled every hour on the hour, so the next settlement follows from the time."""

_SIDES: Final[Mapping[str, Aggressor]] = {"B": Aggressor.BUY, "A": Aggressor.SELL}


def _frame(method: str, kind: str, coin: str) -> str:
    return orjson.dumps({"method": method, "subscription": {"type": kind, "coin": coin}}).decode()


def unified_asset(name: str) -> str:
    """The cross-venue asset key of a Hyperliquid coin.

    `kPEPE` is a 1000-PEPE contract (price per 1000 PEPE, size in thousands), the same unit
    as Binance's `1000PEPEUSDT`, so it maps to `1000PEPE`, not `PEPE`.
    """
    if len(name) > 1 and name[0] == "k" and name[1].isupper():
        return "1000" + name[1:]
    return name


def _is_greeting(raw: str | bytes) -> bool:
    if isinstance(raw, bytes):
        return raw.strip() == GREETING.encode()
    return raw.strip() == GREETING


class _FastCtx(msgspec.Struct):
    """The fields of an asset context the fast path uses (`wire.fast`)."""

    markPx: wire.Price  # noqa: N815 (the venue's key)
    oraclePx: wire.Price  # noqa: N815
    openInterest: wire.Size  # noqa: N815
    funding: wire.Number


class _FastCtxData(msgspec.Struct):
    coin: str
    ctx: _FastCtx


class _FastCtxFrame(msgspec.Struct):
    """An `activeAssetCtx` frame (perp form; a spot context has no open interest)."""

    channel: Literal["activeAssetCtx"]
    data: _FastCtxData


_CTX_DECODER: Final = wire.decoder(_FastCtxFrame)
_CTX_HINT: Final = '"activeAssetCtx"'
"""In the first 40 characters of every such frame: `{"channel":"activeAssetCtx",...`."""


class _Coin:
    """Per-coin constants precomputed by `plan`, so the hot path allocates no strings."""

    __slots__ = ("book_key", "ctx_key", "resubscribe", "symbol", "trades_key")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.ctx_key = (f"activeAssetCtx:{symbol}",)
        self.book_key = (f"l2Book:{symbol}",)
        self.trades_key = (f"trades:{symbol}",)
        self.resubscribe = (
            _frame("unsubscribe", "l2Book", symbol),
            _frame("subscribe", "l2Book", symbol),
        )


class HyperliquidAdapter(StreamedOnly):
    """Builds Hyperliquid subscriptions and turns frames into normalised events.

    State kept between calls, all of it pure data: the planned instruments (to reject
    unknown coins), the universe order of the last `meta` parsed (for the positional
    `allDexsAssetCtxs` arrays) and, per coin, a trade watermark (the newest trade time and
    the ids seen at that time). The venue resends recent trades on every (re)subscribe;
    the watermark drops those already delivered. Keep one adapter across reconnects.
    """

    venue: str = VENUE

    def __init__(self, *, ws_url: str = WS_URL, rest_url: str = REST_URL) -> None:
        self.ws_url = ws_url
        self.rest_url = rest_url.rstrip("/")
        self._coins: dict[str, _Coin] = {}
        self._universe: tuple[str, ...] = ()
        self._trade_marks: dict[str, tuple[int, frozenset[int]]] = {}
        self._handlers: dict[str, Callable[[Mapping[str, Any], int], Parsed]] = {
            "activeAssetCtx": self._asset_ctx,
            "l2Book": self._l2_book,
            "trades": self._trades,
            "allDexsAssetCtxs": self._all_dexs_asset_ctxs,
            "subscriptionResponse": _nothing,
            "pong": _nothing,
            "error": _venue_error,
        }

    # ------------------------------------------------------------------ instruments

    def instruments_request(self) -> RestRequest:
        """`meta` lists every perpetual of the first perp dex with its size decimals."""
        return RestRequest(
            url=f"{self.rest_url}/info",
            method="POST",
            json_body={"type": "meta"},
            weight=INFO_WEIGHT_META,
        )

    def parse_instruments(self, payload: Any) -> list[Instrument]:
        """Every listed (not delisted) perpetual; also remembers the universe order.

        Accepts the `meta` object or a `metaAndAssetCtxs` pair `[meta, ctxs]`.
        """
        if isinstance(payload, str | bytes):
            payload = loads(VENUE, payload)
        if isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], dict):
            payload = payload[0]
        meta = obj(VENUE, payload, "meta")
        universe = field(VENUE, meta, "universe")
        if not isinstance(universe, list):
            raise FeedDecodeError(VENUE, "malformed", "universe is not a list")
        names: list[str] = []
        instruments: list[Instrument] = []
        for entry in universe:
            asset = obj(VENUE, entry, "universe entry")
            name = text(VENUE, asset, "name")
            names.append(name)
            if asset.get("isDelisted") is True:
                continue
            instruments.append(
                Instrument(
                    venue=VENUE,
                    symbol=name,
                    asset=unified_asset(name),
                    contract_type=ContractType.LINEAR,
                    size_unit=SizeUnit.BASE,
                    contract_size=1.0,
                    tick_size=None,  # 5 significant figures: the tick moves with the price
                )
            )
        self._universe = tuple(names)
        return instruments

    # ------------------------------------------------------------------ connections

    def plan(self, instruments: Sequence[Instrument]) -> list[ConnectionPlan]:
        """Connections of up to 50 coins, three subscriptions per coin, pinged every 30 s.

        No `max_lifetime_s`: the venue has no time limit on connections or subscriptions
        (maintainer, hyperliquid-python-sdk#145); silent stalls are caught per stream.
        """
        symbols = list(dict.fromkeys(i.symbol for i in instruments if i.venue == VENUE))
        if 3 * len(symbols) > MAX_SUBSCRIPTIONS:
            msg = f"{len(symbols)} coins need {3 * len(symbols)} subscriptions (> 1000 per IP)"
            raise FeedError(VENUE, msg)
        self._coins = {symbol: _Coin(symbol) for symbol in symbols}
        plans = []
        for start in range(0, len(symbols), COINS_PER_CONNECTION):
            chunk = symbols[start : start + COINS_PER_CONNECTION]
            subscribe: list[str] = []
            streams: list[Stream] = []
            for symbol in chunk:
                for kind, stale in (
                    ("activeAssetCtx", CTX_STALE_S),
                    ("l2Book", BOOK_STALE_S),
                    ("trades", TRADES_STALE_S),
                ):
                    subscribe.append(_frame("subscribe", kind, symbol))
                    streams.append(Stream(f"{kind}:{symbol}", stale))
            index = start // COINS_PER_CONNECTION
            plans.append(
                ConnectionPlan(
                    name="market" if index == 0 else f"market-{index}",
                    url=self.ws_url,
                    subscribe=tuple(subscribe),
                    streams=tuple(streams),
                    keepalive=Keepalive(PING, KEEPALIVE_S),
                    max_lifetime_s=None,
                )
            )
        return plans

    def resubscribe(self, conn: str, symbol: str) -> tuple[str, ...]:
        """Unsubscribe and subscribe `l2Book`: the venue answers with a fresh snapshot."""
        coin = self._coins.get(symbol)
        return coin.resubscribe if coin is not None else ()

    # ------------------------------------------------------------------ frames

    def parse(self, conn: str, raw: str | bytes, recv_ns: int) -> Parsed:
        """Decode one frame; raises only `FeedDecodeError`."""
        if type(raw) is str and raw.find(_CTX_HINT, 0, 40) >= 0:
            parsed = self._fast_asset_ctx(raw, recv_ns)
            if parsed is not None:
                return parsed
        try:
            message = loads(VENUE, raw)
        except FeedDecodeError:
            if _is_greeting(raw):
                return NOTHING
            raise
        if message.__class__ is not dict:
            raise FeedDecodeError(VENUE, "malformed", "frame is not an object")
        channel = message.get("channel")
        if channel.__class__ is not str:
            raise FeedDecodeError(VENUE, "unknown_message", f"channel={channel!r:.40}")
        handler = self._handlers.get(channel)
        if handler is None:
            raise FeedDecodeError(VENUE, "unknown_message", f"channel={channel[:40]!r}")
        try:
            return handler(message, recv_ns)
        except InvalidEventError as exc:
            raise FeedDecodeError(VENUE, exc.reason, str(exc)) from exc

    def _coin(self, data: Mapping[str, Any]) -> _Coin:
        symbol = text(VENUE, data, "coin")
        coin = self._coins.get(symbol)
        if coin is None:
            raise FeedDecodeError(VENUE, "unknown_symbol", symbol[:40])
        return coin

    def _fast_asset_ctx(self, raw: str, recv_ns: int) -> Parsed | None:
        """`_asset_ctx` of a well-formed frame; None sends it the precise way."""
        frame = wire.fast(_CTX_DECODER, raw)
        if frame is None:
            return None
        coin = self._coins.get(frame.data.coin)
        if coin is None:
            return None
        ctx = frame.data.ctx
        events = _ctx_values(
            coin.symbol, recv_ns, ctx.markPx, ctx.oraclePx, ctx.openInterest, ctx.funding
        )
        return new_parsed(events=events, streams=coin.ctx_key)

    def _asset_ctx(self, message: Mapping[str, Any], recv_ns: int) -> Parsed:
        data = obj(VENUE, field(VENUE, message, "data"), "data")
        coin = self._coin(data)
        ctx = obj(VENUE, field(VENUE, data, "ctx"), "ctx")
        return new_parsed(events=self._ctx_events(coin.symbol, ctx, recv_ns), streams=coin.ctx_key)

    @staticmethod
    def _ctx_events(symbol: str, ctx: Mapping[str, Any], recv_ns: int) -> tuple[Event, ...]:
        """Mark (oracle as index), one-side OI in coin, hourly funding; no venue time."""
        return _ctx_values(
            symbol,
            recv_ns,
            price(VENUE, ctx, "markPx"),
            price(VENUE, ctx, "oraclePx"),
            size(VENUE, ctx, "openInterest"),
            number(VENUE, ctx, "funding"),
        )

    def _l2_book(self, message: Mapping[str, Any], recv_ns: int) -> Parsed:
        data = obj(VENUE, field(VENUE, message, "data"), "data")
        coin = self._coin(data)
        ts = timestamp(VENUE, data, "time")
        levels = field(VENUE, data, "levels")
        if levels.__class__ is not list or len(levels) != 2:
            raise FeedDecodeError(VENUE, "malformed", "levels is not [bids, asks]")
        snapshot = new_book_snapshot(
            venue=VENUE,
            symbol=coin.symbol,
            ts_event_ns=ts,
            ts_recv_ns=recv_ns,
            bids=_levels(levels[0], "bids"),
            asks=_levels(levels[1], "asks"),
            sequence=None,  # no sequence on this venue; each frame replaces the book
        )
        return new_parsed(events=(snapshot,), streams=coin.book_key)

    def _trades(self, message: Mapping[str, Any], recv_ns: int) -> Parsed:
        """Trades past the coin's watermark; the watermark commits only if the frame parses."""
        data = field(VENUE, message, "data")
        if data.__class__ is not list:
            raise FeedDecodeError(VENUE, "malformed", "trades data is not a list")
        if not data:
            return NOTHING  # an empty recent-trades batch names no coin
        events: list[Event] = []
        marks: dict[str, tuple[int, frozenset[int]]] = {}
        streams: tuple[str, ...] = ()
        for item in data:
            trade = obj(VENUE, item, "trade")
            coin = self._coin(trade)
            symbol = coin.symbol
            ts = timestamp(VENUE, trade, "time")
            tid = field(VENUE, trade, "tid")
            if tid.__class__ is not int or tid < 0:
                raise FeedDecodeError(VENUE, "bad_type", f"tid={tid!r:.40}")
            side = _SIDES.get(text(VENUE, trade, "side"))
            if side is None:
                raise FeedDecodeError(VENUE, "bad_type", f"side={trade['side']!r:.20}")
            event = new_trade(
                venue=VENUE,
                symbol=symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                price=price(VENUE, trade, "px"),
                quantity=size(VENUE, trade, "sz"),
                aggressor=side,
            )
            if symbol not in marks:
                marks[symbol] = self._trade_marks.get(symbol, (-1, frozenset()))
                streams += coin.trades_key
            last_ts, last_ids = marks[symbol]
            if ts < last_ts or (ts == last_ts and tid in last_ids):
                continue  # already delivered: the venue replays recent trades on subscribe
            marks[symbol] = (ts, last_ids | {tid}) if ts == last_ts else (ts, frozenset((tid,)))
            events.append(event)
        self._trade_marks.update(marks)
        return new_parsed(events=tuple(events), streams=streams)

    def _all_dexs_asset_ctxs(self, message: Mapping[str, Any], recv_ns: int) -> Parsed:
        """Contexts of the first perp dex ("") by universe position; other dexes skipped.

        Positions are mapped with the universe order of the last `parse_instruments`, so
        this works only on an adapter that parsed the full `meta`. Not subscribed by `plan`
        (one frame per tick for every asset of every dex), so it proves no stream alive.
        """
        data = obj(VENUE, field(VENUE, message, "data"), "data")
        dexes = field(VENUE, data, "ctxs")
        if dexes.__class__ is not list:
            raise FeedDecodeError(VENUE, "malformed", "ctxs is not a list")
        events: list[Event] = []
        for dex in dexes:
            if dex.__class__ is not list or len(dex) != 2 or dex[0].__class__ is not str:
                raise FeedDecodeError(VENUE, "malformed", "ctxs entry is not [dex, [ctx]]")
            if dex[0]:
                continue
            ctxs = dex[1]
            if ctxs.__class__ is not list:
                raise FeedDecodeError(VENUE, "malformed", "dex ctxs is not a list")
            for name, ctx in zip(self._universe, ctxs, strict=False):
                if name in self._coins:
                    events.extend(self._ctx_events(name, obj(VENUE, ctx, "ctx"), recv_ns))
        return new_parsed(events=tuple(events))


def _ctx_values(  # noqa: PLR0917 (positional: the cheapest call)
    symbol: str, recv_ns: int, mark: float, oracle: float, open_interest: float, rate: float
) -> tuple[Event, ...]:
    """The three events of one asset context, read by either path."""
    return (
        new_mark_price(
            venue=VENUE,
            symbol=symbol,
            ts_event_ns=recv_ns,
            ts_recv_ns=recv_ns,
            mark_price=mark,
            index_price=oracle,
        ),
        new_open_interest(
            venue=VENUE,
            symbol=symbol,
            ts_event_ns=recv_ns,
            ts_recv_ns=recv_ns,
            open_interest=open_interest,
        ),
        new_funding(
            venue=VENUE,
            symbol=symbol,
            ts_event_ns=recv_ns,
            ts_recv_ns=recv_ns,
            rate=rate,
            next_funding_ns=(recv_ns // HOUR_NS + 1) * HOUR_NS,
        ),
    )


def _levels(raw: Any, where: str) -> tuple[Level, ...]:
    """`[{"px","sz","n"}, ...]` as (price, size in coin); order is checked by the event."""
    if raw.__class__ is not list:
        raise FeedDecodeError(VENUE, "malformed", f"{where} is not a list")
    out: list[Level] = []
    for level in raw:
        if level.__class__ is not dict:
            raise FeedDecodeError(VENUE, "malformed", f"{where} level is not an object")
        level_price = to_float(VENUE, field(VENUE, level, "px"), f"{where} px")
        level_size = to_float(VENUE, field(VENUE, level, "sz"), f"{where} sz")
        if level_price <= 0.0:
            raise FeedDecodeError(VENUE, "non_positive_price", f"{where} px {level_price}")
        if level_size < 0.0:
            raise FeedDecodeError(VENUE, "negative_size", f"{where} sz {level_size}")
        out.append((level_price, level_size))
    return tuple(out)


def _nothing(message: Mapping[str, Any], recv_ns: int) -> Parsed:
    """Acks and pongs: no data, so they prove no stream alive."""
    return NOTHING


def _venue_error(message: Mapping[str, Any], recv_ns: int) -> Parsed:
    detail = message.get("data")
    raise FeedDecodeError(VENUE, "venue_error", str(detail)[:200])


__all__ = ["GREETING", "REST_URL", "VENUE", "WS_URL", "HyperliquidAdapter", "unified_asset"]
