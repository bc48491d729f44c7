"""Binance USD-M adapter: fixtures, plan, real recorded frames, fuzzing, fake venue script."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fake_venues.binance import SNAPSHOT_ID, Script, depth_ids
from feed_checks import assert_event_finite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_data import CAPTURES, capture_lines

from monitor.core.events import (
    Aggressor,
    BookSnapshot,
    BookUpdate,
    Funding,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Side,
    Trade,
)
from monitor.core.venues import ContractType
from monitor.feeds.base import NOTHING, FeedDecodeError, Instrument, Parsed, RestRequest, SizeUnit
from monitor.feeds.binance import (
    AGG_TRADE_STALE_S,
    DEPTH_STALE_S,
    MARK_STALE_S,
    MAX_LIFETIME_S,
    MAX_STREAMS_PER_CONNECTION,
    SUBSCRIBE_CHUNK,
    BinanceAdapter,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance"
CAPTURE_DIRS = (CAPTURES / "hftbacktest",)
MS = 1_000_000  # ns per ms
RECV = 1_700_000_000_000 * MS


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Any:
    return orjson.loads(raw(name))


def instrument(symbol: str, asset: str, tick: float | None = None) -> Instrument:
    return Instrument(
        venue="binance",
        symbol=symbol,
        asset=asset,
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.BASE,
        contract_size=1.0,
        tick_size=tick,
    )


BTC = instrument("BTCUSDT", "BTC", 0.1)
ETH = instrument("ETHUSDT", "ETH", 0.01)
BLZ = instrument("BLZUSDT", "BLZ", 0.0001)


@pytest.fixture
def adapter() -> BinanceAdapter:
    a = BinanceAdapter()
    a.plan([BTC, ETH])
    return a


def reason_of(call: Any, *args: Any) -> str:
    with pytest.raises(FeedDecodeError) as info:
        call(*args)
    assert info.value.venue == "binance"
    return info.value.reason


def frame(payload: Any) -> bytes:
    return orjson.dumps(payload)


# -- every fixture parses to the exact events ------------------------------------------------


def test_mark_price_gives_mark_index_and_funding(adapter: BinanceAdapter) -> None:
    parsed = adapter.parse("market-0", raw("mark_price.json"), RECV)
    assert parsed == Parsed(
        events=(
            MarkPrice(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1562305380000 * MS,
                ts_recv_ns=RECV,
                mark_price=11794.15,
                index_price=11784.62659091,
            ),
            Funding(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1562305380000 * MS,
                ts_recv_ns=RECV,
                rate=0.00038167,
                next_funding_ns=1562306400000 * MS,
            ),
        ),
        streams=("markPrice:BTCUSDT",),
    )


def test_combined_wrapper_is_unwrapped(adapter: BinanceAdapter) -> None:
    wrapped = adapter.parse("market-0", raw("mark_price_combined.json"), RECV)
    assert wrapped == adapter.parse("market-0", raw("mark_price.json"), RECV)


def test_force_order_is_a_long_liquidation_of_the_filled_quantity(adapter: BinanceAdapter) -> None:
    parsed = adapter.parse("market-0", raw("force_order.json"), RECV)
    # S=SELL: the engine sold, so a LONG position died. z=0.014 BTC filled at ap=9910
    # (base units already): notional 0.014 x 9910 = 138.74 USDT.
    assert parsed == Parsed(
        events=(
            Liquidation(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1568014460893 * MS,
                ts_recv_ns=RECV,
                side=Side.LONG,
                price=9910.0,
                quantity=0.014,
            ),
        ),
        streams=("forceOrder:BTCUSDT",),
    )
    event = parsed.events[0]
    assert isinstance(event, Liquidation)
    assert event.notional_usd == pytest.approx(138.74)


@pytest.mark.parametrize(("order_side", "position"), [("SELL", Side.LONG), ("BUY", Side.SHORT)])
def test_liquidation_side_is_the_position_side(
    adapter: BinanceAdapter, order_side: str, position: Side
) -> None:
    payload = load("force_order.json")
    payload["o"]["S"] = order_side
    (event,) = adapter.parse("market-0", frame(payload), RECV).events
    assert isinstance(event, Liquidation)
    assert event.side is position


def test_liquidation_uses_z_and_ap_not_q_and_p(adapter: BinanceAdapter) -> None:
    payload = load("force_order.json")
    payload["o"].update(
        q="0.050", p="9800", z="0.020", l="0.006", ap="9905.5", X="PARTIALLY_FILLED"
    )
    (event,) = adapter.parse("market-0", frame(payload), RECV).events
    assert isinstance(event, Liquidation)
    assert (event.quantity, event.price) == (0.020, 9905.5)


def test_unfilled_liquidation_order_proves_the_stream_but_is_no_event(
    adapter: BinanceAdapter,
) -> None:
    payload = load("force_order.json")
    payload["o"].update(z="0", l="0", ap="0", X="EXPIRED")
    assert adapter.parse("market-0", frame(payload), RECV) == Parsed(
        streams=("forceOrder:BTCUSDT",)
    )


def test_agg_trade_buyer_maker_means_seller_aggressed(adapter: BinanceAdapter) -> None:
    parsed = adapter.parse("market-0", raw("agg_trade.json"), RECV)
    assert parsed == Parsed(
        events=(
            Trade(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1568014460891 * MS,
                ts_recv_ns=RECV,
                price=0.001,
                quantity=100.0,  # base units: 100 BTC in the doc example
                aggressor=Aggressor.SELL,  # "m": true, the buyer was the maker
            ),
        ),
        streams=("aggTrade:BTCUSDT",),
    )
    payload = load("agg_trade.json")
    payload["m"] = False
    (event,) = adapter.parse("market-0", frame(payload), RECV).events
    assert isinstance(event, Trade)
    assert event.aggressor is Aggressor.BUY


def test_depth_update_maps_update_ids(adapter: BinanceAdapter) -> None:
    parsed = adapter.parse("public-0", raw("depth_update.json"), RECV)
    assert parsed == Parsed(
        events=(
            BookUpdate(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1568014460891 * MS,  # T, the matching-engine time
                ts_recv_ns=RECV,
                bids=((0.0024, 10.0),),
                asks=((0.0026, 100.0),),
                sequence=160,  # u
                prev_sequence=149,  # pu
                first_sequence=157,  # U
            ),
        ),
        streams=("depth:BTCUSDT",),
    )


def test_depth_zero_quantity_is_kept_as_a_delete(adapter: BinanceAdapter) -> None:
    payload = load("depth_update.json")
    payload["b"] = [["0.0024", "0"], ["0.0023", "0.000"]]
    (event,) = adapter.parse("public-0", frame(payload), RECV).events
    assert isinstance(event, BookUpdate)
    assert event.bids == ((0.0024, 0.0), (0.0023, 0.0))


@pytest.mark.parametrize("name", ["agg_trade_doc.json", "depth_update_doc.json"])
def test_doc_examples_with_placeholder_times_are_rejected(
    adapter: BinanceAdapter, name: str
) -> None:
    # The doc examples say "E": 123456789, i.e. 1970-01-02: not a plausible epoch-ms time.
    assert reason_of(adapter.parse, "x", raw(name), RECV) == "bad_timestamp"


def test_book_snapshot_from_rest(adapter: BinanceAdapter) -> None:
    assert adapter.book_snapshot_request("BTCUSDT") == RestRequest(
        url="https://fapi.binance.com/fapi/v1/depth",
        params={"symbol": "BTCUSDT", "limit": "1000"},
        weight=20,
    )
    parsed = adapter.parse_book_snapshot("BTCUSDT", load("depth_snapshot.json"), RECV)
    assert parsed == Parsed(
        events=(
            BookSnapshot(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1589436922959 * MS,
                ts_recv_ns=RECV,
                bids=((4.0, 431.0),),
                asks=((4.000002, 12.0),),
                sequence=1027024,  # lastUpdateId
            ),
        ),
    )
    assert adapter.resubscribe("public-0", "BTCUSDT") == ()


def test_open_interest_poll(adapter: BinanceAdapter) -> None:
    parsed = adapter.parse_poll(load("open_interest.json"), RECV)
    # openInterest is already base units: 10659.509 BTC (no contract size on USD-M).
    assert parsed == Parsed(
        events=(
            OpenInterest(
                venue="binance",
                symbol="BTCUSDT",
                ts_event_ns=1589437530011 * MS,
                ts_recv_ns=RECV,
                open_interest=10659.509,
            ),
        ),
    )


@pytest.mark.parametrize("name", ["subscribe_ack.json", "list_subscriptions.json"])
def test_acks_are_no_events_and_prove_no_stream(adapter: BinanceAdapter, name: str) -> None:
    assert adapter.parse("market-0", raw(name), RECV) == NOTHING


@pytest.mark.parametrize("name", ["error_request_id.json", "error_unknown_property.json"])
def test_error_frames_are_venue_errors(adapter: BinanceAdapter, name: str) -> None:
    assert reason_of(adapter.parse, "market-0", raw(name), RECV) == "venue_error"


def test_nested_error_object_is_a_venue_error(adapter: BinanceAdapter) -> None:
    payload = {"error": {"code": 2, "msg": "Invalid request"}, "id": 7}
    assert reason_of(adapter.parse, "market-0", frame(payload), RECV) == "venue_error"


def test_book_ticker_is_not_a_channel_we_handle(adapter: BinanceAdapter) -> None:
    assert reason_of(adapter.parse, "public-0", raw("book_ticker.json"), RECV) == "unknown_message"


def test_raw_trade_stream_is_parsed_and_non_market_prints_are_skipped(
    adapter: BinanceAdapter,
) -> None:
    # Shape of the `@trade` frames in the recorded captures (written here, not copied).
    payload = {
        "e": "trade",
        "E": 1723161256322,
        "T": 1723161256322,
        "s": "BTCUSDT",
        "t": 1,
        "p": "61800.30",
        "q": "0.006",
        "X": "MARKET",
        "m": False,
    }
    (event,) = adapter.parse("market-0", frame(payload), RECV).events
    assert event == Trade(
        venue="binance",
        symbol="BTCUSDT",
        ts_event_ns=1723161256322 * MS,
        ts_recv_ns=RECV,
        price=61800.3,
        quantity=0.006,
        aggressor=Aggressor.BUY,
    )
    payload["X"] = "INSURANCE_FUND"
    assert adapter.parse("market-0", frame(payload), RECV) == Parsed(streams=("trade:BTCUSDT",))


# -- instruments ---------------------------------------------------------------------------


def test_instruments_from_exchange_info() -> None:
    a = BinanceAdapter()
    assert a.instruments_request() == RestRequest(
        url="https://fapi.binance.com/fapi/v1/exchangeInfo", weight=1
    )
    assert a.parse_instruments(load("exchange_info.json")) == [BTC, ETH, BLZ]


def perp(symbol: str, **changes: Any) -> dict[str, Any]:
    """A minimal labelled test entry (not venue data): what the filter looks at."""
    entry = {
        "symbol": symbol,
        "contractType": "PERPETUAL",
        "status": "TRADING",
        "baseAsset": symbol.removesuffix("USDT"),
        "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"}],
    }
    entry.update(changes)
    return entry


def test_only_trading_crypto_perpetuals_are_instruments() -> None:
    payload = {
        "symbols": [
            perp("SOLUSDT"),
            perp("BTCUSDT_260925", contractType="CURRENT_QUARTER", baseAsset="BTC"),
            perp("XAUUSDT", contractType="TRADIFI_PERPETUAL"),
            perp("LRCUSDT", status="SETTLING"),
            perp("NEWUSDT", status="PENDING_TRADING"),
            perp("1000PEPEUSDT", filters=[]),
            perp("BTCUSDC", baseAsset="BTC"),
        ]
    }
    got = BinanceAdapter().parse_instruments(payload)
    assert [(i.symbol, i.asset, i.tick_size) for i in got] == [
        ("SOLUSDT", "SOL", 0.01),
        ("1000PEPEUSDT", "1000PEPE", None),  # asset is baseAsset: units of 1000 PEPE
        ("BTCUSDC", "BTC", 0.01),
    ]
    assert all(i.contract_type is ContractType.LINEAR for i in got)
    assert all(i.size_unit is SizeUnit.BASE and i.contract_size == 1.0 for i in got)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "malformed"),
        ({"code": -1003, "msg": "Too many requests"}, "venue_error"),
        ({"timezone": "UTC"}, "missing_field"),
        ({"symbols": {"BTCUSDT": {}}}, "malformed"),
        ({"symbols": ["BTCUSDT"]}, "malformed"),
        ({"symbols": [perp("BTCUSDT", baseAsset=None)]}, "bad_type"),
        ({"symbols": [{"contractType": "PERPETUAL", "status": "TRADING"}]}, "missing_field"),
        (
            {"symbols": [perp("BTCUSDT", filters=[{"filterType": "PRICE_FILTER"}])]},
            "missing_field",
        ),
        (
            {
                "symbols": [
                    perp("BTCUSDT", filters=[{"filterType": "PRICE_FILTER", "tickSize": "NaN"}])
                ]
            },
            "non_finite",
        ),
    ],
)
def test_bad_instruments_payloads(payload: Any, reason: str) -> None:
    assert reason_of(BinanceAdapter().parse_instruments, payload) == reason


# -- plan -------------------------------------------------------------------------------------


def subscribed(plan: Any) -> list[str]:
    names: list[str] = []
    for text in plan.subscribe:
        message = orjson.loads(text)
        if message["method"] == "SUBSCRIBE":
            names += message["params"]
    return names


def test_plan_two_symbols() -> None:
    a = BinanceAdapter()
    market, public = a.plan([BTC, ETH])
    assert market.name == "market-0"
    assert market.url == "wss://fstream.binance.com/market/ws"
    assert [orjson.loads(f) for f in market.subscribe] == [
        {"method": "SET_PROPERTY", "params": ["combined", True], "id": 1},
        {
            "method": "SUBSCRIBE",
            "params": [
                "btcusdt@markPrice@1s",
                "btcusdt@forceOrder",
                "btcusdt@aggTrade",
                "ethusdt@markPrice@1s",
                "ethusdt@forceOrder",
                "ethusdt@aggTrade",
            ],
            "id": 2,
        },
    ]
    assert [(s.key, s.stale_after_s) for s in market.streams] == [
        ("markPrice:BTCUSDT", MARK_STALE_S),
        ("forceOrder:BTCUSDT", None),
        ("aggTrade:BTCUSDT", AGG_TRADE_STALE_S),
        ("markPrice:ETHUSDT", MARK_STALE_S),
        ("forceOrder:ETHUSDT", None),
        ("aggTrade:ETHUSDT", AGG_TRADE_STALE_S),
    ]
    assert MARK_STALE_S == 5.0  # 5 x the documented 1000 ms push
    assert public.name == "public-0"
    assert public.url == "wss://fstream.binance.com/public/ws"
    assert subscribed(public) == ["btcusdt@depth@100ms", "ethusdt@depth@100ms"]
    assert [(s.key, s.stale_after_s) for s in public.streams] == [
        ("depth:BTCUSDT", DEPTH_STALE_S),
        ("depth:ETHUSDT", DEPTH_STALE_S),
    ]
    for plan in (market, public):
        assert plan.keepalive is None  # protocol pings only
        assert plan.max_lifetime_s == MAX_LIFETIME_S == 23 * 3600


def test_plan_urls_derive_from_one_base() -> None:
    a = BinanceAdapter(ws_url="ws://127.0.0.1:9001/", rest_url="http://127.0.0.1:9002")
    market, public = a.plan([BTC])
    assert market.url == "ws://127.0.0.1:9001/market/ws"
    assert public.url == "ws://127.0.0.1:9001/public/ws"
    assert a.instruments_request().url == "http://127.0.0.1:9002/fapi/v1/exchangeInfo"
    assert a.book_snapshot_request("BTCUSDT").url == "http://127.0.0.1:9002/fapi/v1/depth"


def test_plan_many_symbols_never_mixes_routes_and_respects_limits() -> None:
    many = [instrument(f"C{n:03d}USDT", f"C{n:03d}") for n in range(450)]
    plans = BinanceAdapter().plan(many)
    market = [p for p in plans if p.name.startswith("market-")]
    public = [p for p in plans if p.name.startswith("public-")]
    assert len(market) == math.ceil(450 / (MAX_STREAMS_PER_CONNECTION // 3))
    assert len(public) == math.ceil(450 / MAX_STREAMS_PER_CONNECTION)
    assert len({p.name for p in plans}) == len(plans)
    for plan in plans:
        names = subscribed(plan)
        assert len(names) == len(plan.streams) <= MAX_STREAMS_PER_CONNECTION
        messages = [orjson.loads(f) for f in plan.subscribe]
        assert all(len(m["params"]) <= SUBSCRIBE_CHUNK for m in messages)
        assert len(plan.subscribe) <= 10  # Binance: 10 incoming messages/s per connection
        assert len({m["id"] for m in messages}) == len(messages)
        if plan in market:
            assert not any("@depth" in n or "@bookTicker" in n for n in names)
        else:
            assert all(n.endswith("@depth@100ms") for n in names)
    for plan in market:  # a liquidation stream always rides with a watched stream
        keys = {s.key: s.stale_after_s for s in plan.streams}
        for key in [k for k, deadline in keys.items() if deadline is None]:
            assert key.startswith("forceOrder:")
            assert keys["markPrice:" + key.split(":", 1)[1]] == MARK_STALE_S
    all_names = [n for p in plans for n in subscribed(p)]
    assert len(all_names) == len(set(all_names)) == 4 * 450


def test_plan_replaces_the_known_symbols() -> None:
    a = BinanceAdapter()
    a.plan([BTC])
    a.plan([ETH])
    assert reason_of(a.parse, "market-0", raw("mark_price.json"), RECV) == "unknown_symbol"


def test_unplanned_adapter_knows_no_symbol() -> None:
    a = BinanceAdapter()
    assert reason_of(a.parse, "market-0", raw("mark_price.json"), RECV) == "unknown_symbol"
    assert reason_of(a.parse_poll, load("open_interest.json"), RECV) == "unknown_symbol"
    assert (
        reason_of(a.parse_book_snapshot, "BTCUSDT", load("depth_snapshot.json"), RECV)
        == "unknown_symbol"
    )


def test_open_interest_polls_fit_the_weight_budget() -> None:
    a = BinanceAdapter(rest_url="http://127.0.0.1:9002")
    assert a.poll_requests([]) == []
    polls = a.poll_requests([BTC, ETH])
    assert polls == [
        (
            RestRequest(
                url="http://127.0.0.1:9002/fapi/v1/openInterest",
                params={"symbol": s},
                weight=1,
            ),
            5.0,
        )
        for s in ("BTCUSDT", "ETHUSDT")
    ]
    # 300 symbols x 1 weight each per 30 s = 600 weight/min: a quarter of 2400/min.
    many = [instrument(f"C{n:03d}USDT", f"C{n:03d}") for n in range(300)]
    intervals = {interval for _, interval in a.poll_requests(many)}
    assert intervals == {30.0}
    # Polled symbols are known to parse_poll even without a plan.
    assert a.parse_poll(load("open_interest.json"), RECV).events


# -- bad input ---------------------------------------------------------------------------------


def mutated(name: str, path: tuple[Any, ...], value: Any) -> bytes:
    payload = load(name)
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return frame(payload)


DELETE = object()

BAD_FRAMES = [
    ("not json", b"{not json", "malformed"),
    ("empty", b"", "malformed"),
    ("invalid utf-8", b'{"e":"\xff"}', "malformed"),
    ("array", b"[1,2]", "malformed"),
    ("string", b'"markPriceUpdate"', "malformed"),
    ("data not object", b'{"stream":"x","data":[1]}', "malformed"),
    ("unknown event", b'{"e":"kline","s":"BTCUSDT"}', "unknown_message"),
    ("e not a string", b'{"e":["markPriceUpdate"],"s":"BTCUSDT"}', "unknown_message"),
    ("no e at all", b'{"s":"BTCUSDT"}', "unknown_message"),
    ("unknown symbol", mutated("mark_price.json", ("s",), "DOGEUSDT"), "unknown_symbol"),
    ("missing mark", mutated("mark_price.json", ("p",), DELETE), "missing_field"),
    ("missing symbol", mutated("mark_price.json", ("s",), DELETE), "missing_field"),
    ("empty symbol", mutated("mark_price.json", ("s",), ""), "bad_type"),
    ("symbol not str", mutated("mark_price.json", ("s",), 1), "bad_type"),
    ("mark NaN", mutated("mark_price.json", ("p",), "NaN"), "non_finite"),
    ("mark inf", mutated("mark_price.json", ("p",), "Infinity"), "non_finite"),
    ("mark overflow", mutated("mark_price.json", ("p",), "1e400"), "non_finite"),
    ("mark text", mutated("mark_price.json", ("p",), "abc"), "bad_type"),
    ("mark null", mutated("mark_price.json", ("p",), None), "bad_type"),
    ("mark bool", mutated("mark_price.json", ("p",), True), "bad_type"),
    ("mark zero", mutated("mark_price.json", ("p",), "0"), "non_positive_price"),
    ("index negative", mutated("mark_price.json", ("i",), "-1"), "non_positive_price"),
    ("funding empty", mutated("mark_price.json", ("r",), ""), "bad_type"),
    ("time string", mutated("mark_price.json", ("E",), "1562305380000"), "bad_timestamp"),
    ("time float", mutated("mark_price.json", ("E",), 1562305380000.5), "bad_timestamp"),
    ("time zero", mutated("mark_price.json", ("E",), 0), "bad_timestamp"),
    ("time in s", mutated("mark_price.json", ("E",), 1562305380), "bad_timestamp"),
    ("time in ns", mutated("mark_price.json", ("E",), 1562305380 * 10**9), "bad_timestamp"),
    ("time bool", mutated("mark_price.json", ("E",), True), "bad_timestamp"),
    ("next funding 0", mutated("mark_price.json", ("T",), 0), "bad_timestamp"),
    ("liq order missing", mutated("force_order.json", ("o",), DELETE), "missing_field"),
    ("liq order not obj", mutated("force_order.json", ("o",), "x"), "malformed"),
    ("liq side lower", mutated("force_order.json", ("o", "S"), "sell"), "bad_type"),
    ("liq qty negative", mutated("force_order.json", ("o", "z"), "-0.014"), "negative_size"),
    ("liq qty NaN", mutated("force_order.json", ("o", "z"), "nan"), "non_finite"),
    ("liq price zero", mutated("force_order.json", ("o", "ap"), "0"), "non_positive_price"),
    ("liq unknown sym", mutated("force_order.json", ("o", "s"), "X"), "unknown_symbol"),
    ("trade m string", mutated("agg_trade.json", ("m",), "true"), "bad_type"),
    ("trade zero qty", mutated("agg_trade.json", ("q",), "0"), "zero_size"),
    ("trade neg qty", mutated("agg_trade.json", ("q",), "-1"), "negative_size"),
    ("depth U string", mutated("depth_update.json", ("U",), "157"), "bad_sequence"),
    ("depth u negative", mutated("depth_update.json", ("u",), -1), "bad_sequence"),
    ("depth pu float", mutated("depth_update.json", ("pu",), 149.0), "bad_sequence"),
    ("depth U > u", mutated("depth_update.json", ("U",), 161), "bad_sequence"),
    ("depth pu missing", mutated("depth_update.json", ("pu",), DELETE), "missing_field"),
    ("depth b not list", mutated("depth_update.json", ("b",), "x"), "malformed"),
    ("depth level short", mutated("depth_update.json", ("b",), [["1.0"]]), "malformed"),
    ("depth level neg", mutated("depth_update.json", ("a",), [["1", "-2"]]), "negative_size"),
    ("depth price zero", mutated("depth_update.json", ("a",), [["0", "2"]]), "non_positive_price"),
    ("depth NaN", mutated("depth_update.json", ("a",), [["NaN", "2"]]), "non_finite"),
    ("depth T missing", mutated("depth_update.json", ("T",), DELETE), "missing_field"),
    (
        "huge integer time",  # orjson reads integers past 64 bits as floats
        raw("agg_trade.json").replace(b'"T": 1568014460891', b'"T": 1' + b"0" * 40),
        "bad_timestamp",
    ),
]


@pytest.mark.parametrize(
    ("raw_frame", "reason"), [b[1:] for b in BAD_FRAMES], ids=[b[0] for b in BAD_FRAMES]
)
def test_bad_frames_are_rejected_with_the_right_reason(
    adapter: BinanceAdapter, raw_frame: bytes, reason: str
) -> None:
    assert reason_of(adapter.parse, "market-0", raw_frame, RECV) == reason


def test_str_frames_work_like_bytes(adapter: BinanceAdapter) -> None:
    text = raw("mark_price.json").decode()
    assert adapter.parse("market-0", text, RECV) == adapter.parse("market-0", text.encode(), RECV)


def test_bad_receive_time_is_a_feed_reject(adapter: BinanceAdapter) -> None:
    assert reason_of(adapter.parse, "market-0", raw("mark_price.json"), -1) == "bad_timestamp"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"bids": [["3.9", "1"], ["4.0", "1"]]}, "unsorted_levels"),
        ({"bids": [["4.1", "1"]]}, "crossed_book"),
        ({"lastUpdateId": "1027024"}, "bad_sequence"),
        ({"T": None}, "bad_timestamp"),
        ({"asks": None}, "malformed"),
        ({"code": -1121, "msg": "Invalid symbol."}, "venue_error"),
    ],
)
def test_bad_snapshots(adapter: BinanceAdapter, change: dict[str, Any], reason: str) -> None:
    payload = load("depth_snapshot.json")
    payload.update(change)
    assert reason_of(adapter.parse_book_snapshot, "BTCUSDT", payload, RECV) == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"code": -1121, "msg": "Invalid symbol."}, "venue_error"),
        ({"openInterest": "-1", "symbol": "BTCUSDT", "time": 1589437530011}, "negative_size"),
        ({"openInterest": "NaN", "symbol": "BTCUSDT", "time": 1589437530011}, "non_finite"),
        ({"openInterest": "1", "symbol": "BTCUSDT"}, "missing_field"),
        ({"openInterest": "1", "symbol": "XUSDT", "time": 1589437530011}, "unknown_symbol"),
        ("10659.509", "malformed"),
    ],
)
def test_bad_open_interest_polls(adapter: BinanceAdapter, payload: Any, reason: str) -> None:
    assert reason_of(adapter.parse_poll, payload, RECV) == reason


# -- real recorded frames (read at test time, never copied) ----------------------------------


def capture_dir() -> Path:
    for candidate in CAPTURE_DIRS:
        if candidate.is_dir():
            return candidate
    pytest.fail(f"recorded captures missing: looked in {[str(c) for c in CAPTURE_DIRS]}")


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("usdm_btcusdt_20240808.gz", "BTCUSDT"), ("usdm_ethusdt_20240808.gz", "ETHUSDT")],
)
def test_real_capture_parses_with_zero_rejects(name: str, symbol: str) -> None:
    adapter = BinanceAdapter()
    adapter.plan(adapter.parse_instruments(load("exchange_info.json")))
    updates: list[BookUpdate] = []
    trades = book_tickers = 0
    snapshot: BookSnapshot | None = None
    for recv_ns, text in capture_lines(capture_dir() / name):
        message = orjson.loads(text)
        if "lastUpdateId" in message:  # the REST snapshot the recorder fetched
            (event,) = adapter.parse_book_snapshot(symbol, message, recv_ns).events
            assert isinstance(event, BookSnapshot)
            snapshot = event
            continue
        data = message["data"]
        if data["e"] == "bookTicker":  # a channel we do not subscribe to: a clean reject
            with pytest.raises(FeedDecodeError) as info:
                adapter.parse("public-0", text, recv_ns)
            assert info.value.reason == "unknown_message"
            book_tickers += 1
            continue
        parsed = adapter.parse("x", text, recv_ns)  # any other exception fails the test
        assert parsed == adapter.parse("x", text.encode(), recv_ns)  # bytes: the precise path
        (event,) = parsed.events
        if data["e"] == "depthUpdate":
            assert isinstance(event, BookUpdate)
            assert parsed.streams == (f"depth:{symbol}",)
            assert (event.first_sequence, event.sequence, event.prev_sequence) == (
                data["U"],
                data["u"],
                data["pu"],
            )
            assert len(event.bids) == len(data["b"])
            assert len(event.asks) == len(data["a"])
            updates.append(event)
        else:
            assert data["e"] == "trade"
            assert isinstance(event, Trade)
            assert event.aggressor is (Aggressor.SELL if data["m"] else Aggressor.BUY)
            assert event.ts_event_ns == data["T"] * MS
            trades += 1
        for e in parsed.events:
            assert_event_finite(e)
    assert len(updates) > 6000
    assert trades > 10_000
    assert book_tickers > 50_000
    # Consecutive diffs chain: pu == the previous u, over the whole capture.
    for previous, current in itertools.pairwise(updates):
        assert current.prev_sequence == previous.sequence
    # Exactly one diff bridges the REST snapshot: U <= lastUpdateId <= u.
    assert snapshot is not None
    assert snapshot.sequence is not None
    bridging = [
        u
        for u in updates
        if u.first_sequence is not None
        and u.sequence is not None
        and u.first_sequence <= snapshot.sequence <= u.sequence
    ]
    assert len(bridging) == 1
    assert snapshot.bids[0][0] < snapshot.asks[0][0]


# -- fuzzing ----------------------------------------------------------------------------------


def sample_real_frames() -> list[str]:
    wanted = {"depthUpdate": 15, "trade": 15, "bookTicker": 3}
    out: list[str] = []
    for _, text in capture_lines(capture_dir() / "usdm_btcusdt_20240808.gz"):
        kind = orjson.loads(text).get("data", {}).get("e")
        if wanted.get(kind, 0) > 0:
            wanted[kind] -= 1
            out.append(text)
        if not any(wanted.values()):
            break
    return out


FIXTURE_FRAMES = [
    raw(n).decode()
    for n in (
        "mark_price.json",
        "mark_price_combined.json",
        "force_order.json",
        "agg_trade.json",
        "depth_update.json",
        "subscribe_ack.json",
        "error_request_id.json",
    )
]
SEEDS = FIXTURE_FRAMES + sample_real_frames()

NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["NaN", "nan", "inf", "-Infinity", "1e400", "-1", "0", "-0.0", "", " ", "²", "1_000", "0x1"]
    ),
    st.text(max_size=8),
    st.lists(st.sampled_from(["1", "0", "-1", "NaN", 1]), max_size=3),
    st.dictionaries(st.sampled_from(["e", "s", "p"]), st.integers(-(2**63), 2**63 - 1), max_size=2),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def apply(payload: Any, path: tuple[Any, ...], action: str, value: Any) -> None:
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "truncate" and isinstance(parent[key], list):
        parent[key] = parent[key][: len(parent[key]) // 2]
    else:
        parent[key] = value


def check_parse(adapter: BinanceAdapter, data: bytes | str) -> None:
    try:
        parsed = adapter.parse("market-0", data, RECV)
    except FeedDecodeError:
        return
    assert isinstance(parsed, Parsed)
    for event in parsed.events:
        assert_event_finite(event)


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    adapter = BinanceAdapter()
    adapter.plan([BTC, ETH])
    check_parse(adapter, data)


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text: str) -> None:
    adapter = BinanceAdapter()
    adapter.plan([BTC, ETH])
    check_parse(adapter, text)


@FUZZ
@given(st.data())
def test_fuzz_mutated_real_frames(data: st.DataObject) -> None:
    adapter = BinanceAdapter()
    adapter.plan([BTC, ETH])
    payload = orjson.loads(data.draw(st.sampled_from(SEEDS)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        candidates = list(paths(payload))
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        action = data.draw(st.sampled_from(["delete", "replace", "truncate"]))
        apply(payload, path, action, data.draw(NASTY))
    check_parse(adapter, orjson.dumps(payload))


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_fuzz_truncated_frames(text: str, data: st.DataObject) -> None:
    adapter = BinanceAdapter()
    adapter.plan([BTC, ETH])
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    check_parse(adapter, text[:cut])


@FUZZ
@given(st.data())
def test_fuzz_rest_payloads(data: st.DataObject) -> None:
    adapter = BinanceAdapter()
    adapter.plan([BTC, ETH])
    name = data.draw(
        st.sampled_from(["depth_snapshot.json", "open_interest.json", "exchange_info.json"])
    )
    payload = load(name)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(list(paths(payload))))
        action = data.draw(st.sampled_from(["delete", "replace", "truncate"]))
        apply(payload, path, action, data.draw(NASTY))
    try:
        if name == "depth_snapshot.json":
            events = adapter.parse_book_snapshot("BTCUSDT", payload, RECV).events
        elif name == "open_interest.json":
            events = adapter.parse_poll(payload, RECV).events
        else:
            for item in adapter.parse_instruments(payload):
                assert item.tick_size is None or math.isfinite(item.tick_size)
            events = ()
    except FeedDecodeError:
        return
    for event in events:
        assert_event_finite(event)


# -- the fake venue script ---------------------------------------------------------------------


def test_script_shape() -> None:
    script = Script(t0_ms=1_700_000_000_000)
    assert script.venue == "binance"
    assert script.greeting == ()
    assert {"BTCUSDT", "ETHUSDT"} <= set(script.symbols)
    assert set(script.rest) >= {"/fapi/v1/exchangeInfo", "/fapi/v1/depth", "/fapi/v1/openInterest"}


def test_script_acks_the_adapters_subscriptions() -> None:
    script = Script(t0_ms=1_700_000_000_000)
    adapter = BinanceAdapter()
    for plan in adapter.plan(adapter.parse_instruments(script.rest["/fapi/v1/exchangeInfo"])):
        for text in plan.subscribe:
            (reply,) = script.replies(text)
            assert orjson.loads(reply) == {"result": None, "id": orjson.loads(text)["id"]}
            assert adapter.parse(plan.name, reply, RECV) == NOTHING
    assert script.combined is True
    assert "btcusdt@depth@100ms" in script.subscribed
    (listing,) = script.replies('{"method":"LIST_SUBSCRIPTIONS","id":9}')
    assert adapter.parse("market-0", listing, RECV) == NOTHING


@pytest.mark.parametrize(
    "text",
    [
        '{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":-1}',
        '{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":"a"}',
        '{"method":"SUBSCRIBEE","params":[],"id":1}',
        '{"method":"SET_PROPERTY","params":["compressed",true],"id":1}',
        '{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}',
    ],
)
def test_script_errors_are_venue_errors(text: str) -> None:
    (reply,) = Script(t0_ms=1_700_000_000_000).replies(text)
    assert reason_of(BinanceAdapter().parse, "market-0", reply, RECV) == "venue_error"


def test_script_ignores_what_binance_would_not_answer() -> None:
    script = Script(t0_ms=1_700_000_000_000)
    assert script.replies("ping") == []
    assert script.replies("[1]") == []
    assert script.replies('{"op":"ping"}') == []


def test_script_data_parses_cleanly_and_the_book_bridges() -> None:
    script = Script(t0_ms=1_700_000_000_000)
    adapter = BinanceAdapter()
    plans = adapter.plan(adapter.parse_instruments(script.rest["/fapi/v1/exchangeInfo"]))
    names = {n for p in plans for n in subscribed(p)}
    recv = script.t0_ms * MS
    for symbol in ("BTCUSDT", "ETHUSDT"):
        (snapshot,) = adapter.parse_book_snapshot(
            symbol, copy.deepcopy(script.rest["/fapi/v1/depth"]), recv
        ).events
        assert isinstance(snapshot, BookSnapshot)
        assert snapshot.sequence == SNAPSHOT_ID
        kinds: set[type] = set()
        sides: set[Side] = set()
        updates: list[BookUpdate] = []
        for step in range(40):
            for text in script.data(symbol, step):
                assert orjson.loads(text)["stream"] in names
                parsed = adapter.parse("x", text, recv)
                assert parsed.streams
                for event in parsed.events:
                    assert event.symbol == symbol
                    assert abs(event.ts_event_ns - recv) < 60_000 * MS
                    assert_event_finite(event)
                    kinds.add(type(event))
                    if isinstance(event, Liquidation):
                        sides.add(event.side)
                    if isinstance(event, BookUpdate):
                        updates.append(event)
        assert kinds == {MarkPrice, Funding, BookUpdate, Trade, Liquidation}
        assert sides == {Side.LONG, Side.SHORT}
        first = updates[0]
        assert first.first_sequence is not None
        assert first.sequence is not None
        assert first.first_sequence <= SNAPSHOT_ID <= first.sequence
        for previous, current in itertools.pairwise(updates):
            assert current.prev_sequence == previous.sequence
        assert [depth_ids(s)[1] for s in range(40)] == [u.sequence for u in updates]


def test_script_rest_answers_parse() -> None:
    script = Script(t0_ms=1_700_000_000_000)
    adapter = BinanceAdapter()
    instruments = adapter.parse_instruments(script.rest["/fapi/v1/exchangeInfo"])
    adapter.plan(instruments)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        (request, _), *_ = [
            p for p in adapter.poll_requests(instruments) if p[0].params["symbol"] == symbol
        ]
        key = f"/fapi/v1/openInterest?symbol={symbol}"
        (event,) = adapter.parse_poll(script.rest[key], script.t0_ms * MS).events
        assert isinstance(event, OpenInterest)
        assert event.symbol == symbol == request.params["symbol"]
        snapshot_request = adapter.book_snapshot_request(symbol)
        query = "&".join(f"{k}={v}" for k, v in snapshot_request.params.items())
        assert f"/fapi/v1/depth?{query}" in script.rest
