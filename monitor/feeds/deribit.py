"""Deribit perpetuals: JSON-RPC 2.0 over one WebSocket, every number a JSON float.

Pure adapter (no sockets, no clock): `DeribitAdapter` builds the subscription frames and
turns one frame into normalised events; `monitor.feeds.supervisor` does the I/O.

What Deribit gives, and how it maps (exchange-feeds.md §5, docs/feeds/deribit.md):

- `ticker.{instrument}.100ms`: mark and index price, open interest, funding. One frame
  becomes a `MarkPrice`, an `OpenInterest` and a `Funding`.
- `trades.{instrument}.100ms`: public trades. Deribit has no liquidation channel; a trade
  caused by a liquidation carries `liquidation` = "M" (the maker was liquidated), "T" (the
  taker) or "MT" (both). Each such trade becomes a `Trade` plus one `Liquidation` per
  liquidated side, with the side of the liquidated *position* (§1.1).
- `book.{instrument}.100ms`: a full snapshot, then `change` deltas chained by
  `prev_change_id` -> `change_id`. Levels are `[action, price, amount]`.
- `raw` intervals need an authenticated session (error 13778), so only `100ms` is used.

Units. `amount` and `open_interest` are USD for inverse instruments (`BTC-PERPETUAL`,
`ETH-PERPETUAL`: `instrument_type` "reversed") and base coin for linear ones
(`BTC_USDC-PERPETUAL`: "linear"). USD face converts to coin at the frame's own price: the
trade price for trades, the level price for book levels, the mark price for open interest.
The venue's `contract_size` (10 USD for BTC-PERPETUAL) is the order increment only: wire
amounts are already USD or coin, never contracts, so `Instrument.contract_size` stays 1.0.

Keep-alive. The subscribe frames start with `public/set_heartbeat` (15 s); Deribit then
sends `heartbeat` notifications and `test_request`s, and closes the connection at once
when a `test_request` is not answered with `public/test` (that answer is in
`Parsed.replies`). The plan also sends its own `public/test` every 15 s; heartbeats,
test requests and answers to our tests feed a watched stream `heartbeat@<conn>`.

Sample frames (documentation examples and ccxt-recorded frames, see
tests/fixtures/deribit/SOURCES.md)::

    ticker   {"jsonrpc":"2.0","method":"subscription","params":{"channel":
              "ticker.BTC-PERPETUAL.100ms","data":{"timestamp":1623060194301,
              "instrument_name":"BTC-PERPETUAL","mark_price":36446.51,"index_price":36441.64,
              "open_interest":502097590,"current_funding":0,"funding_8h":2.11e-05,...}}}
    trades   {"jsonrpc":"2.0","method":"subscription","params":{"channel":
              "trades.BTC-PERPETUAL.100ms","data":[{"trade_seq":30289442,"trade_id":"48079269",
              "timestamp":1590484512188,"tick_direction":2,"price":8950,"mark_price":8948.9,
              "instrument_name":"BTC-PERPETUAL","index_price":8955.88,"direction":"sell",
              "amount":10,"liquidation":"T"}]}}        (liquidation: only on such trades)
    snapshot {"jsonrpc":"2.0","method":"subscription","params":{"channel":
              "book.BTC-PERPETUAL.100ms","data":{"type":"snapshot","timestamp":1554373962454,
              "instrument_name":"BTC-PERPETUAL","change_id":297217,
              "bids":[["new",5042.34,30],["new",5041.94,20]],
              "asks":[["new",5042.64,40],["new",5043.3,40]]}}}
    change   {...,"data":{"type":"change","timestamp":1554373911330,"prev_change_id":297217,
              "instrument_name":"BTC-PERPETUAL","change_id":297218,
              "bids":[["delete",5041.94,0],["delete",5042.34,0]],"asks":[]}}}
    heartbeat {"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}
    ack      {"jsonrpc":"2.0","id":2,"result":["ticker.BTC_USDC-PERPETUAL.raw"],...}
    error    {"jsonrpc":"2.0","id":"cryptofeed","error":{"message":
              "raw_subscriptions_not_available_for_unauthorized","code":13778},...}

Confirmed with the search tool (docs.deribit.com and its AsyncAPI/OpenAPI specification
files, copied in github.com/knowak1999sen/docs `specifications/`): channel names and
intervals, the book procedure (`type` snapshot/change, `change_id`, `prev_change_id`,
actions new/change/delete), the units of `amount` and `open_interest`, the `liquidation`
values M/T/MT and that `direction` is the taker's (public_trade schema), the
`get_instruments` fields (`kind`, `settlement_period` "perpetual", `instrument_type`
"reversed"/"linear", `contract_size`, `base_currency`, `tick_size`) and its own rate limit
(1 request per 10 s, burst 5), `set_heartbeat` (interval >= 10 s) and the `public/test`
reply rule. Heartbeat notification shape `{"method":"heartbeat","params":{"type":...}}`:
from a client library (dovahcrow/deribit-rs), not a verbatim docs example. UNCONFIRMED:
whether `current_funding` is a per-8 h rate, how often the ticker of a quiet instrument
changes, the channel limits of one connection or one subscribe request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import msgspec
import orjson

from monitor.core.events import (
    Aggressor,
    Event,
    InvalidEventError,
    Level,
    Side,
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

VENUE: Final = "deribit"
WS_URL: Final = "wss://www.deribit.com/ws/api/v2"
REST_URL: Final = "https://www.deribit.com"
INSTRUMENTS_PATH: Final = "/api/v2/public/get_instruments"
"""All futures of all currencies in one call (`currency=any&kind=future`); perpetuals are
the entries with `settlement_period` "perpetual". The endpoint allows 1 call per 10 s."""

INTERVAL: Final = "100ms"
HEARTBEAT_INTERVAL_S: Final = 15.0
"""`public/set_heartbeat` interval; Deribit's minimum is 10 s."""
TICKER_STALE_S: Final = 5.0
"""Ticker frames come every 100 ms while anything in the ticker changes, and the mark and
index prices move continuously; 5 s is about 5x a slow (1 s) index refresh."""
BOOK_STALE_S: Final = 15.0
"""Book deltas come only when the book changes; quiet linear books can pause for seconds.
A false alarm costs one resubscribe (a fresh snapshot)."""
HEARTBEAT_STALE_FACTOR: Final = 3.0
"""The heartbeat stream is stale after three silent heartbeat intervals."""
CHANNELS_PER_REQUEST: Final = 100
"""Channels per `public/subscribe` frame (Deribit's own cap is UNCONFIRMED)."""
INSTRUMENTS_PER_CONNECTION: Final = 50
"""Three channels per instrument; more instruments open another connection."""

FIRST_SUBSCRIBE_ID: Final = 1
SET_HEARTBEAT_ID: Final = 9000
KEEPALIVE_ID: Final = 9001
TEST_REPLY_ID: Final = 9002
UNSUBSCRIBE_ID: Final = 9003
RESUBSCRIBE_ID: Final = 9004
"""JSON-RPC ids of our requests; an answer to a `public/test` of ours proves the link."""

Handler: TypeAlias = Callable[[Instrument, tuple[str, ...], Any, int], Parsed]
Route: TypeAlias = tuple[Handler, Instrument, tuple[str, ...]]
"""What a channel name resolves to: its handler, instrument and the stream it proves."""


def _frame(request_id: int, method: str, params: Mapping[str, Any]) -> str:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    ).decode()


def _reject(reason: FeedRejectReason, detail: str) -> FeedDecodeError:
    return FeedDecodeError(VENUE, reason, detail)


def heartbeat_key(conn: str) -> str:
    """The watched stream of a connection's keep-alive traffic.

    No colon on purpose: the supervisor reads the symbol of a stream key after the colon,
    and a connection is not a symbol.
    """
    return f"heartbeat@{conn}"


class DeribitAdapter(StreamedOnly):
    """The Deribit venue: inverse BTC/ETH and linear USDC perpetuals."""

    venue = VENUE

    def __init__(
        self,
        *,
        ws_url: str = WS_URL,
        rest_url: str = REST_URL,
        heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
    ) -> None:
        if heartbeat_interval_s < 10.0:
            msg = f"Deribit's heartbeat interval is at least 10 s, got {heartbeat_interval_s}"
            raise ValueError(msg)
        self.ws_url = ws_url
        self.rest_url = rest_url.rstrip("/")
        self.heartbeat_interval_s = float(heartbeat_interval_s)
        self._routes: dict[str, Route] = {}
        self._alive: dict[str, Parsed] = {}
        self._test_request: dict[str, Parsed] = {}
        self._test_reply = _frame(TEST_REPLY_ID, "public/test", {})

    # ------------------------------------------------------------------ metadata

    def instruments_request(self) -> RestRequest:
        """Every Deribit future in one call; `parse_instruments` keeps the perpetuals."""
        return RestRequest(
            url=self.rest_url + INSTRUMENTS_PATH,
            params={"currency": "any", "kind": "future"},
        )

    def parse_instruments(self, payload: Any) -> list[Instrument]:
        """Active perpetuals of a `get_instruments` answer (JSON-RPC envelope or bare list).

        Entries of an instrument type we do not know are skipped, not fatal: one new
        product must not stop the feed of the others.
        """
        if isinstance(payload, dict):
            if "error" in payload:
                raise _venue_error(payload["error"])
            payload = wire.field(VENUE, payload, "result")
        if not isinstance(payload, list):
            raise _reject("malformed", "get_instruments result is not a list")
        out: list[Instrument] = []
        for entry in payload:
            item = wire.obj(VENUE, entry, "instrument")
            if item.get("kind") != "future" or item.get("settlement_period") != "perpetual":
                continue
            if item.get("is_active") is False:
                continue
            symbol = wire.text(VENUE, item, "instrument_name")
            kind = item.get("instrument_type") or item.get("future_type")
            if kind == "reversed":
                contract_type, size_unit = ContractType.INVERSE, SizeUnit.USD
            elif kind == "linear":
                contract_type, size_unit = ContractType.LINEAR, SizeUnit.BASE
            else:
                continue
            tick = item.get("tick_size")
            out.append(
                Instrument(
                    venue=VENUE,
                    symbol=symbol,
                    asset=wire.text(VENUE, item, "base_currency").upper(),
                    contract_type=contract_type,
                    size_unit=size_unit,
                    contract_size=1.0,
                    tick_size=None if tick is None else wire.price(VENUE, item, "tick_size"),
                )
            )
        return out

    # ------------------------------------------------------------------ plan

    def plan(self, instruments: Sequence[Instrument]) -> list[ConnectionPlan]:
        """Ticker, trades and book of each perpetual; 50 instruments per connection."""
        mine = [i for i in instruments if i.venue == VENUE]
        self._routes = {}
        self._alive = {}
        self._test_request = {}
        plans = []
        for n, start in enumerate(range(0, len(mine), INSTRUMENTS_PER_CONNECTION)):
            chunk = mine[start : start + INSTRUMENTS_PER_CONNECTION]
            plans.append(self._connection(f"market-{n}", chunk))
        return plans

    def _connection(self, name: str, instruments: Sequence[Instrument]) -> ConnectionPlan:
        key = heartbeat_key(name)
        self._alive[name] = Parsed(streams=(key,))
        self._test_request[name] = Parsed(streams=(key,), replies=(self._test_reply,))
        channels: list[str] = []
        streams = [Stream(key, HEARTBEAT_STALE_FACTOR * self.heartbeat_interval_s)]
        for instrument in instruments:
            symbol = instrument.symbol
            for prefix, handler, stale in (
                ("ticker", self._ticker, TICKER_STALE_S),
                ("trades", self._trades, None),
                ("book", self._book, BOOK_STALE_S),
            ):
                stream = f"{prefix}:{symbol}"
                channel = f"{prefix}.{symbol}.{INTERVAL}"
                self._routes[channel] = (handler, instrument, (stream,))
                channels.append(channel)
                streams.append(Stream(stream, stale))
        subscribe = [
            _frame(SET_HEARTBEAT_ID, "public/set_heartbeat", {"interval": self._hb_interval})
        ]
        for n, start in enumerate(range(0, len(channels), CHANNELS_PER_REQUEST)):
            batch = channels[start : start + CHANNELS_PER_REQUEST]
            subscribe.append(
                _frame(FIRST_SUBSCRIBE_ID + n, "public/subscribe", {"channels": batch})
            )
        return ConnectionPlan(
            name=name,
            url=self.ws_url,
            subscribe=tuple(subscribe),
            streams=tuple(streams),
            keepalive=Keepalive(_frame(KEEPALIVE_ID, "public/test", {}), self.heartbeat_interval_s),
            max_lifetime_s=None,  # Deribit documents no forced disconnect
        )

    @property
    def _hb_interval(self) -> int | float:
        interval = self.heartbeat_interval_s
        return int(interval) if interval.is_integer() else interval

    # ------------------------------------------------------------------ frames

    def parse(self, conn: str, raw: str | bytes, recv_ns: int) -> Parsed:
        """One frame: a subscription notification, a heartbeat, an answer or an error."""
        if type(raw) is str and raw.find(_TICKER_HINT, 0, 80) >= 0:
            parsed = self._fast_ticker(raw, recv_ns)
            if parsed is not None:
                return parsed
        message = wire.loads(VENUE, raw)
        if type(message) is not dict:
            raise _reject("malformed", "frame is not a JSON object")
        method = message.get("method")
        if method == "subscription":
            params = message.get("params")
            if type(params) is not dict:
                raise _reject("malformed", "params is not an object")
            channel = params.get("channel")
            route = self._routes.get(channel) if type(channel) is str else None
            if route is None:
                raise _unrouted(channel)
            handler, instrument, streams = route
            return handler(instrument, streams, wire.field(VENUE, params, "data"), recv_ns)
        if method == "heartbeat":
            return self._heartbeat(conn, message.get("params"))
        if method is not None:
            raise _reject("unknown_message", f"method {str(method)[:40]!r}")
        if "error" in message:
            raise _venue_error(message["error"])
        if "result" in message:
            if message.get("id") in (KEEPALIVE_ID, TEST_REPLY_ID) and isinstance(
                message["result"], dict
            ):
                return self._alive.get(conn) or Parsed(streams=(heartbeat_key(conn),))
            return NOTHING  # acks prove nothing: only data does
        raise _reject("unknown_message", "neither a notification nor an answer")

    def _heartbeat(self, conn: str, params: Any) -> Parsed:
        kind = wire.obj(VENUE, params, "params").get("type")
        if kind == "test_request":
            known = self._test_request.get(conn)
            if known is not None:
                return known
            return Parsed(streams=(heartbeat_key(conn),), replies=(self._test_reply,))
        if kind == "heartbeat":
            return self._alive.get(conn) or Parsed(streams=(heartbeat_key(conn),))
        raise _reject("unknown_message", f"heartbeat type {str(kind)[:40]!r}")

    def _fast_ticker(self, raw: str, recv_ns: int) -> Parsed | None:
        """`_ticker` of a well-formed notification; None sends it the precise way."""
        frame = wire.fast(_TICKER_DECODER, raw)
        if frame is None:
            return None
        route = self._routes.get(frame.params.channel)
        data = frame.params.data
        ts = wire.fast_digits_ms_to_ns(data.timestamp)
        optional = (data.index_price, data.open_interest, data.current_funding, data.funding_8h)
        if (
            route is None
            or route[0] != self._ticker
            or ts is None
            or (None in optional and wire.null_text(raw))
        ):
            return None
        _, instrument, streams = route
        mark = data.mark_price
        return _ticker_events(
            instrument,
            streams,
            ts,
            recv_ns,
            mark,
            data.index_price,
            None if data.open_interest is None else instrument.to_base(data.open_interest, mark),
            data.funding_8h if data.current_funding is None else data.current_funding,
        )

    def _ticker(
        self, instrument: Instrument, streams: tuple[str, ...], data: Any, recv_ns: int
    ) -> Parsed:
        """Mark/index price, open interest (USD / mark for inverse) and funding."""
        if type(data) is not dict:
            raise _reject("malformed", "ticker data is not an object")
        ts = wire.timestamp(VENUE, data, "timestamp")
        mark = wire.price(VENUE, data, "mark_price")
        get = data.get
        index = None if get("index_price") is None else wire.price(VENUE, data, "index_price")
        open_interest = (
            None
            if get("open_interest") is None
            else instrument.to_base(wire.size(VENUE, data, "open_interest"), mark)
        )
        key = "current_funding" if get("current_funding") is not None else "funding_8h"
        rate = None if get(key) is None else wire.number(VENUE, data, key)
        return _ticker_events(instrument, streams, ts, recv_ns, mark, index, open_interest, rate)

    def _trades(
        self, instrument: Instrument, streams: tuple[str, ...], data: Any, recv_ns: int
    ) -> Parsed:
        """Trades, and a `Liquidation` for each liquidated side of a liquidation trade."""
        if type(data) is not list:
            raise _reject("malformed", "trades data is not a list")
        symbol = instrument.symbol
        events: list[Event] = []
        for entry in data:
            trade = wire.obj(VENUE, entry, "trade")
            price = wire.price(VENUE, trade, "price")
            quantity = instrument.to_base(wire.size(VENUE, trade, "amount"), price)
            ts = wire.timestamp(VENUE, trade, "timestamp")
            direction = trade.get("direction")
            if direction == "sell":
                aggressor, taker, maker = Aggressor.SELL, Side.LONG, Side.SHORT
            elif direction == "buy":
                aggressor, taker, maker = Aggressor.BUY, Side.SHORT, Side.LONG
            elif direction is None:
                raise _reject("missing_field", "direction")
            else:
                raise _reject("bad_type", f"direction={str(direction)[:20]!r}")
            events.append(
                wire.build(
                    VENUE,
                    new_trade,
                    venue=VENUE,
                    symbol=symbol,
                    ts_event_ns=ts,
                    ts_recv_ns=recv_ns,
                    price=price,
                    quantity=quantity,
                    aggressor=aggressor,
                )
            )
            flag = trade.get("liquidation")
            if flag is None:
                continue
            # A seller liquidated as taker was long; the maker across a taker buy was long.
            if flag == "T":
                sides: tuple[Side, ...] = (taker,)
            elif flag == "M":
                sides = (maker,)
            elif flag == "MT":
                sides = (taker, maker)
            else:
                raise _reject("bad_type", f"liquidation={str(flag)[:20]!r}")
            events.extend(
                wire.build(
                    VENUE,
                    new_liquidation,
                    venue=VENUE,
                    symbol=symbol,
                    ts_event_ns=ts,
                    ts_recv_ns=recv_ns,
                    side=side,
                    price=price,
                    quantity=quantity,
                )
                for side in sides
            )
        return new_parsed(events=tuple(events), streams=streams)

    def _book(
        self, instrument: Instrument, streams: tuple[str, ...], data: Any, recv_ns: int
    ) -> Parsed:
        """A snapshot, or a delta chained by `prev_change_id` to the previous `change_id`.

        Deltas also carry `first_sequence = prev_change_id`: with the book builder's
        bridging rule (`first <= S <= sequence`) the delta that chains onto a snapshot S is
        applied and deltas older than a fresh snapshot (in flight during a resubscribe) are
        dropped as stale instead of being taken for a gap.
        """
        if type(data) is not dict:
            raise _reject("malformed", "book data is not an object")
        kind = data.get("type")
        if kind is None:  # the docs: every message but the first has prev_change_id
            kind = "change" if "prev_change_id" in data else "snapshot"
        ts = wire.timestamp(VENUE, data, "timestamp")
        change_id = _sequence(data, "change_id")
        bids = _levels(data, "bids", instrument)
        asks = _levels(data, "asks", instrument)
        if kind == "snapshot":
            event: Event = wire.build(
                VENUE,
                new_book_snapshot,
                venue=VENUE,
                symbol=instrument.symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                bids=tuple(sorted((lv for lv in bids if lv[1] > 0.0), reverse=True)),
                asks=tuple(sorted(lv for lv in asks if lv[1] > 0.0)),
                sequence=change_id,
            )
        elif kind == "change":
            previous = _sequence(data, "prev_change_id")
            event = wire.build(
                VENUE,
                new_book_update,
                venue=VENUE,
                symbol=instrument.symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                bids=tuple(bids),
                asks=tuple(asks),
                sequence=change_id,
                prev_sequence=previous,
                first_sequence=previous,
            )
        else:
            raise _reject("bad_type", f"book type {str(kind)[:20]!r}")
        return new_parsed(events=(event,), streams=streams)

    # ------------------------------------------------------------------ books, polls

    def resubscribe(self, conn: str, symbol: str) -> tuple[str, ...]:
        """Unsubscribe and subscribe the book channel: Deribit resends a full snapshot."""
        channels = {"channels": [f"book.{symbol}.{INTERVAL}"]}
        return (
            _frame(UNSUBSCRIBE_ID, "public/unsubscribe", channels),
            _frame(RESUBSCRIBE_ID, "public/subscribe", channels),
        )


class _FastTickerData(msgspec.Struct):
    """The ticker fields the fast path uses (`wire.fast`); absent and null are None."""

    timestamp: wire.Scalar
    mark_price: wire.Price
    index_price: wire.Price | None = None
    open_interest: wire.Size | None = None
    current_funding: wire.Number | None = None
    funding_8h: wire.Number | None = None


class _FastTickerParams(msgspec.Struct):
    channel: str
    data: _FastTickerData


class _FastTicker(msgspec.Struct):
    method: Literal["subscription"]
    params: _FastTickerParams


_TICKER_DECODER: Final = wire.decoder(_FastTicker)
_TICKER_HINT: Final = '"channel":"ticker.'
"""Within the first 80 characters of every ticker notification."""


def _ticker_events(  # noqa: PLR0917 (positional: the cheapest call)
    instrument: Instrument,
    streams: tuple[str, ...],
    ts: int,
    recv_ns: int,
    mark: float,
    index: float | None,
    open_interest: float | None,
    rate: float | None,
) -> Parsed:
    """Mark, open interest and funding of one ticker, read by either path."""
    symbol = instrument.symbol
    try:  # what wire.build does, once for the three events of the hot path
        mark_event = new_mark_price(
            venue=VENUE,
            symbol=symbol,
            ts_event_ns=ts,
            ts_recv_ns=recv_ns,
            mark_price=mark,
            index_price=index,
        )
        oi_event = (
            None
            if open_interest is None
            else new_open_interest(
                venue=VENUE,
                symbol=symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                open_interest=open_interest,
            )
        )
        funding_event = (
            None
            if rate is None
            else new_funding(
                venue=VENUE, symbol=symbol, ts_event_ns=ts, ts_recv_ns=recv_ns, rate=rate
            )
        )
    except InvalidEventError as exc:
        raise _reject(exc.reason, str(exc)) from exc
    events: tuple[Event, ...]
    if oi_event is not None and funding_event is not None:
        events = (mark_event, oi_event, funding_event)  # the usual ticker
    else:
        events = tuple(e for e in (mark_event, oi_event, funding_event) if e is not None)
    return new_parsed(events=events, streams=streams)


def _unrouted(channel: Any) -> FeedDecodeError:
    """A channel we did not subscribe: an unknown instrument or an unknown channel."""
    if type(channel) is not str or not channel:
        return _reject("malformed", "channel is not a non-empty string")
    if channel.partition(".")[0] in ("ticker", "trades", "book"):
        return _reject("unknown_symbol", channel[:80])
    return _reject("unknown_message", f"channel {channel[:80]!r}")


def _venue_error(error: Any) -> FeedDecodeError:
    if isinstance(error, dict):
        detail = f"{error.get('code')!s:.12} {error.get('message')!s:.80}"
    else:
        detail = f"{error!s:.80}"
    return _reject("venue_error", detail)


def _sequence(data: Mapping[str, Any], key: str) -> int:
    value = wire.field(VENUE, data, key)
    if type(value) is not int or value < 0:
        raise _reject("bad_sequence", f"{key}={value!r:.40}")
    return value


def _levels(data: Mapping[str, Any], key: str, instrument: Instrument) -> list[Level]:
    """`[action, price, amount]` levels as (price, base size); `delete` means size 0."""
    raw = wire.field(VENUE, data, key)
    if type(raw) is not list:
        raise _reject("malformed", f"{key} is not a list")
    out: list[Level] = []
    for level in raw:
        if type(level) is not list or len(level) < 3:
            raise _reject("malformed", f"{key} level {level!r:.60}")
        action = level[0]
        price = wire.to_float(VENUE, level[1], f"{key} price")
        amount = wire.to_float(VENUE, level[2], f"{key} amount")
        if price <= 0.0:
            raise _reject("non_positive_price", f"{key} price {price}")
        if amount < 0.0:
            raise _reject("negative_size", f"{key} amount {amount}")
        if action == "delete":
            out.append((price, 0.0))
        elif action in ("new", "change"):
            out.append((price, instrument.to_base(amount, price)))
        else:
            raise _reject("bad_type", f"{key} action {str(action)[:20]!r}")
    return out


__all__ = ["VENUE", "DeribitAdapter", "heartbeat_key"]
