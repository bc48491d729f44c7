"""The Bybit adapter: fixtures to exact events, real recorded frames, fuzzing, fake server.

Fixture provenance is in tests/fixtures/bybit/SOURCES.md. The real frames are read at test
time from the shared capture (never copied into the repository); a missing capture fails.
"""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from fake_venues.bybit import Script
from feed_checks import assert_event_finite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_data import CAPTURES

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
from monitor.feeds.base import (
    ConnectionPlan,
    FeedDecodeError,
    Instrument,
    Keepalive,
    Parsed,
    RestRequest,
    SizeUnit,
    Stream,
)
from monitor.feeds.book import BookStatus, OrderBook
from monitor.feeds.bybit import BOOK_STALE_S, TICKER_STALE_S, BybitAdapter

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bybit"
CAPTURE = CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst"
RECV = 1_700_000_000_123_456_789
MS = 1_000_000  # ns per ms
V = "bybit"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def raw(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def linear_instruments() -> list[Instrument]:
    return BybitAdapter().parse_instruments(fixture("instruments_linear.json"))


def inverse_instrument() -> Instrument:
    return BybitAdapter().parse_instruments(fixture("instruments_inverse.json"))[0]


def planned(*extra: Instrument) -> BybitAdapter:
    adapter = BybitAdapter(book_depth=50)  # the doc examples use orderbook.50
    adapter.plan([*linear_instruments(), *extra])
    return adapter


def dumps(message: Any) -> str:
    """Stdlib JSON: unlike orjson it writes integers beyond 64 bits (and NaN)."""
    return json.dumps(message)


def parse(adapter: BybitAdapter, message: Any, conn: str = "linear-0") -> Parsed:
    data = message if isinstance(message, str | bytes) else dumps(message)
    return adapter.parse(conn, data, RECV)


def reason_of(adapter: BybitAdapter, message: Any, conn: str = "linear-0") -> str:
    with pytest.raises(FeedDecodeError) as caught:
        parse(adapter, message, conn)
    assert caught.value.venue == V
    return caught.value.reason


# ---------------------------------------------------------------------- instruments


def test_instruments_request_asks_for_every_linear_symbol_in_one_page():
    request = BybitAdapter().instruments_request()
    assert request == RestRequest(
        url="https://api.bybit.com/v5/market/instruments-info",
        params={"category": "linear", "limit": "1000"},
    )
    local = BybitAdapter(rest_url="http://127.0.0.1:8080/").inverse_instruments_request()
    assert local.url == "http://127.0.0.1:8080/v5/market/instruments-info"
    assert local.params == {"category": "inverse", "limit": "1000"}


def test_parse_instruments_keeps_trading_perpetuals_only():
    instruments = linear_instruments()

    def linear(symbol: str, asset: str, tick: float) -> Instrument:
        return Instrument(
            venue=V,
            symbol=symbol,
            asset=asset,
            contract_type=ContractType.LINEAR,
            size_unit=SizeUnit.BASE,
            contract_size=1.0,
            tick_size=tick,
        )

    # BTC-26DEC25 (LinearFutures) and BIOUSDT (PreLaunch) are left out.
    assert instruments == [
        linear("BTCUSDT", "BTC", 0.1),
        linear("ETHUSDT", "ETH", 0.01),
        linear("ROSEUSDT", "ROSE", 0.00001),
        linear("BTCPERP", "BTC", 0.1),  # the USDC perpetual aggregates under BTC too
    ]


def test_parse_instruments_inverse_sizes_are_one_usd_contracts():
    assert inverse_instrument() == Instrument(
        venue=V,
        symbol="BTCUSD",
        asset="BTC",
        contract_type=ContractType.INVERSE,
        size_unit=SizeUnit.USD,
        contract_size=1.0,
        tick_size=0.5,
    )


def test_parse_instruments_accepts_raw_json_text():
    assert BybitAdapter().parse_instruments(raw("instruments_linear.json")) == linear_instruments()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.update(retCode=10001, retMsg="params error"), "venue_error"),
        (lambda p: p.pop("result"), "missing_field"),
        (lambda p: p["result"].update(list={"a": 1}), "malformed"),
        (lambda p: p["result"]["list"].append("BTCUSDT"), "malformed"),
        (lambda p: p["result"]["list"][0].pop("symbol"), "missing_field"),
        (lambda p: p["result"]["list"][0].update(baseCoin=""), "bad_type"),
        (lambda p: p["result"]["list"][0].update(contractType=None), "bad_type"),
        (lambda p: p["result"]["list"][0]["priceFilter"].update(tickSize="abc"), "bad_type"),
        (
            lambda p: p["result"]["list"][0]["priceFilter"].update(tickSize="0"),
            "non_positive_price",
        ),
    ],
)
def test_parse_instruments_rejects_bad_payloads(mutate, reason):
    payload = fixture("instruments_linear.json")
    mutate(payload)
    with pytest.raises(FeedDecodeError) as caught:
        BybitAdapter().parse_instruments(payload)
    assert caught.value.reason == reason
    with pytest.raises(FeedDecodeError) as caught:
        BybitAdapter().parse_instruments(b"<html>busy</html>")
    assert caught.value.reason == "malformed"


# ---------------------------------------------------------------------- plan


def test_plan_one_linear_connection_with_four_topics_per_symbol():
    adapter = BybitAdapter()
    btc, eth = linear_instruments()[:2]
    (plan,) = adapter.plan([btc, eth])
    streams = []
    for symbol in ("BTCUSDT", "ETHUSDT"):
        streams += [
            Stream(f"tickers:{symbol}", TICKER_STALE_S),
            Stream(f"orderbook:{symbol}", BOOK_STALE_S),
            Stream(f"publicTrade:{symbol}", None),  # event-driven: silence is normal
            Stream(f"allLiquidation:{symbol}", None),  # shares the connection with tickers
        ]
    assert plan == ConnectionPlan(
        name="linear-0",
        url="wss://stream.bybit.com/v5/public/linear",
        subscribe=(
            '{"req_id":"BTCUSDT","op":"subscribe","args":["tickers.BTCUSDT",'
            '"orderbook.200.BTCUSDT","publicTrade.BTCUSDT","allLiquidation.BTCUSDT"]}',
            '{"req_id":"ETHUSDT","op":"subscribe","args":["tickers.ETHUSDT",'
            '"orderbook.200.ETHUSDT","publicTrade.ETHUSDT","allLiquidation.ETHUSDT"]}',
        ),
        streams=tuple(streams),
        keepalive=Keepalive('{"op":"ping"}', 20.0),
        max_lifetime_s=None,
    )
    assert TICKER_STALE_S == 5.0
    assert BOOK_STALE_S == 5.0


def test_plan_puts_inverse_perpetuals_on_the_inverse_route():
    adapter = BybitAdapter(ws_url="ws://127.0.0.1:9000/v5/public/")
    plans = adapter.plan([linear_instruments()[0], inverse_instrument()])
    assert [(p.name, p.url) for p in plans] == [
        ("linear-0", "ws://127.0.0.1:9000/v5/public/linear"),
        ("inverse-0", "ws://127.0.0.1:9000/v5/public/inverse"),
    ]
    assert plans[1].streams[0].key == "tickers:BTCUSD"


def test_plan_splits_connections_under_the_args_limit_on_the_real_instrument_list():
    instruments = BybitAdapter().parse_instruments(capture_instruments_payload())
    adapter = BybitAdapter()
    plans = adapter.plan(instruments)
    assert len(plans) > 1
    seen = []
    for plan in plans:
        args = [t for frame in plan.subscribe for t in orjson.loads(frame)["args"]]
        assert len(orjson.dumps(args)) < 21_000  # the venue's per-connection args limit
        seen += [t.partition(".")[2] for t in args if t.startswith("tickers.")]
        assert plan.keepalive == Keepalive('{"op":"ping"}', 20.0)
    assert sorted(seen) == sorted(i.symbol for i in instruments)
    assert len({p.name for p in plans}) == len(plans)


def test_plan_refuses_another_venues_instrument_and_bad_depth():
    other = Instrument(
        venue="okx",
        symbol="BTC-USDT-SWAP",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.CONTRACTS,
        contract_size=0.01,
    )
    with pytest.raises(ValueError, match="okx instrument"):
        BybitAdapter().plan([other])
    with pytest.raises(ValueError, match="book_depth"):
        BybitAdapter(book_depth=1)
    assert BybitAdapter().plan([]) == []


# ---------------------------------------------------------------------- tickers


def header(symbol: str, ts_ms: int) -> dict[str, Any]:
    return {"venue": V, "symbol": symbol, "ts_event_ns": ts_ms * MS, "ts_recv_ns": RECV}


def test_ticker_snapshot_gives_mark_index_half_the_two_sided_oi_and_funding():
    parsed = parse(planned(), fixture("tickers_snapshot.json"))
    h = header("BTCUSDT", 1673272861686)
    assert parsed == Parsed(
        events=(
            MarkPrice(**h, mark_price=17217.33, index_price=17227.36),
            # No singleOpenInterest in this (2023) doc example: openInterest is both
            # sides, so one side is 68744.761 / 2 = 34372.3805 BTC.
            OpenInterest(**h, open_interest=34372.3805),
            Funding(**h, rate=-0.000212, next_funding_ns=1673280000000 * MS),
        ),
        streams=("tickers:BTCUSDT",),
    )


def test_ticker_snapshot_prefers_the_single_side_open_interest():
    parsed = parse(planned(), fixture("tickers_snapshot_single_oi.json"))
    (oi,) = [e for e in parsed.events if isinstance(e, OpenInterest)]
    # singleOpenInterest 415045.33 ETH is used as sent, not 830090.65 / 2 = 415045.325.
    assert oi == OpenInterest(**header("ETHUSDT", 1673272861700), open_interest=415045.33)


def test_ticker_snapshot_2025_ignores_empty_pre_market_fields():
    parsed = parse(planned(), fixture("tickers_snapshot_2025.json"))
    h = header("BTCUSDT", 1760325052630)
    assert parsed.events == (
        MarkPrice(**h, mark_price=66666.60, index_price=115418.19),
        OpenInterest(**h, open_interest=492373.72 / 2),  # 246186.86 BTC, one side
        Funding(**h, rate=-0.005, next_funding_ns=1760342400000 * MS),
    )


def test_ticker_deltas_merge_into_complete_events():
    adapter = planned()
    parse(adapter, fixture("tickers_snapshot.json"))
    # markPrice only: the index comes from the snapshot.
    mark = parse(adapter, fixture("tickers_delta_mark.json"))
    assert mark == Parsed(
        events=(
            MarkPrice(
                **header("BTCUSDT", 1673272861786), mark_price=17218.00, index_price=17227.36
            ),
        ),
        streams=("tickers:BTCUSDT",),
    )
    # openInterest (both sides) and fundingRate only: 68750.000 / 2 = 34375 BTC; the next
    # funding time comes from the snapshot.
    oi = parse(adapter, fixture("tickers_delta_oi.json"))
    h = header("BTCUSDT", 1673272861886)
    assert oi.events == (
        OpenInterest(**h, open_interest=34375.0),
        Funding(**h, rate=-0.0002, next_funding_ns=1673280000000 * MS),
    )


def test_ticker_delta_before_any_snapshot_emits_what_it_can():
    adapter = planned()
    mark = parse(adapter, fixture("tickers_delta_mark.json"))
    assert mark.events == (
        MarkPrice(**header("BTCUSDT", 1673272861786), mark_price=17218.00, index_price=None),
    )
    oi = parse(adapter, fixture("tickers_delta_oi.json"))
    h = header("BTCUSDT", 1673272861886)
    assert oi.events == (
        OpenInterest(**h, open_interest=34375.0),
        Funding(**h, rate=-0.0002, next_funding_ns=None),
    )


NKN = Instrument(
    venue=V,
    symbol="NKNUSDT",
    asset="NKN",
    contract_type=ContractType.LINEAR,
    size_unit=SizeUnit.BASE,
)


def test_ticker_delta_without_price_fields_only_proves_the_stream_alive():
    adapter = planned(NKN)
    snapshot = parse(adapter, fixture("tickers_nkn_snapshot.json"))
    h = header("NKNUSDT", 1709202837189)
    assert snapshot.events == (
        MarkPrice(**h, mark_price=0.13946, index_price=0.13909),
        OpenInterest(**h, open_interest=6337995.0),  # 12675990 / 2 NKN
        Funding(**h, rate=0.00137968, next_funding_ns=1709222400000 * MS),
    )
    assert parse(adapter, fixture("tickers_nkn_delta.json")) == Parsed(streams=("tickers:NKNUSDT",))


def test_a_new_snapshot_resets_the_merged_ticker():
    adapter = planned()
    parse(adapter, fixture("tickers_snapshot.json"))
    snapshot = fixture("tickers_snapshot.json")
    del snapshot["data"]["indexPrice"]
    parse(adapter, snapshot)
    (mark,) = parse(adapter, fixture("tickers_delta_mark.json")).events
    assert mark.index_price is None  # the old index did not survive the new snapshot


def test_a_rejected_ticker_delta_leaves_the_merged_state_untouched():
    adapter = planned()
    parse(adapter, fixture("tickers_snapshot.json"))
    bad = fixture("tickers_delta_mark.json")
    bad["data"].update(markPrice="17300.00", indexPrice="NaN")
    assert reason_of(adapter, bad) == "non_finite"
    delta = fixture("tickers_delta_oi.json")
    delta["data"] = {"indexPrice": "17230.00"}
    (mark,) = parse(adapter, delta).events
    assert mark.mark_price == 17217.33  # not 17300 from the rejected frame


def test_inverse_ticker_open_interest_is_usd_divided_by_the_mark():
    adapter = planned(inverse_instrument())
    early = {
        "topic": "tickers.BTCUSD",
        "type": "delta",
        "cs": 0,
        "ts": 1673272861600,
        "data": {"openInterest": "400000000"},
    }
    # USD open interest cannot become BTC before a mark price is known: nothing emitted.
    assert parse(adapter, early, conn="inverse-0") == Parsed(streams=("tickers:BTCUSD",))
    snapshot = {
        "topic": "tickers.BTCUSD",
        "type": "snapshot",
        "cs": 1,
        "ts": 1673272861686,
        "data": {
            "symbol": "BTCUSD",
            "markPrice": "20000.00",
            "indexPrice": "20001.00",
            "openInterest": "400000000",
            "fundingRate": "0.0001",
            "nextFundingTime": "1673280000000",
        },
    }
    events = parse(adapter, snapshot, conn="inverse-0").events
    (oi,) = [e for e in events if isinstance(e, OpenInterest)]
    assert oi.open_interest == 10_000.0  # 400,000,000 USD both sides / 2 / 20,000 USD per BTC
    delta = {
        "topic": "tickers.BTCUSD",
        "type": "delta",
        "cs": 2,
        "ts": 1673272861786,
        "data": {"singleOpenInterest": "210000000"},
    }
    (oi,) = parse(adapter, delta, conn="inverse-0").events
    assert oi.open_interest == 10_500.0  # 210,000,000 USD / 20,000


# ---------------------------------------------------------------------- order book


def test_book_snapshot():
    parsed = parse(planned(), fixture("orderbook_snapshot.json"))
    assert parsed == Parsed(
        events=(
            BookSnapshot(
                **header("BTCUSDT", 1672304484978),
                bids=((16493.5, 0.006), (16493.0, 0.1)),
                asks=((16611.0, 0.029), (16612.0, 0.213)),
                sequence=18521288,
            ),
        ),
        streams=("orderbook:BTCUSDT",),
    )


def test_book_delta_carries_u_as_an_increasing_sequence():
    (update,) = parse(planned(), fixture("orderbook_delta.json")).events
    assert update == BookUpdate(
        **header("BTCUSDT", 1687940967466),
        bids=(
            (30247.2, 30.028),
            (30245.4, 0.224),
            (30242.1, 1.593),
            (30240.3, 1.305),
            (30240.0, 0.0),
        ),  # size 0 deletes the level
        asks=(
            (30248.7, 0.0),
            (30249.3, 0.892),
            (30249.5, 1.778),
            (30249.6, 0.0),
            (30251.9, 2.947),
            (30252.2, 0.659),
            (30252.5, 4.591),
        ),
        sequence=177400507,
        prev_sequence=None,
        first_sequence=None,
    )


def test_book_u_equal_1_is_a_restart_snapshot_even_in_a_delta():
    parsed = parse(planned(), fixture("orderbook_restart.json"))
    assert parsed.events == (
        BookSnapshot(
            **header("BTCUSDT", 1687940968000),
            bids=((30247.2, 30.028), (30245.4, 0.224)),
            asks=((30249.3, 0.892), (30249.5, 1.778)),
            sequence=1,
        ),
    )
    assert parsed.resync == ()  # the frame is the new book: nothing to ask for
    book = OrderBook()
    book.apply_snapshot(parse(planned(), fixture("orderbook_snapshot.json")).events[0])
    assert book.apply_snapshot(parsed.events[0]) is BookStatus.APPLIED
    assert book.sequence == 1


def test_inverse_book_sizes_convert_at_each_levels_price():
    adapter = planned(inverse_instrument())
    frame = {
        "topic": "orderbook.50.BTCUSD",
        "type": "snapshot",
        "ts": 1672304484978,
        "data": {
            "s": "BTCUSD",
            "b": [["20000.0", "10000"]],
            "a": [["25000.0", "5000"]],
            "u": 7,
            "seq": 9,
        },
    }
    (snapshot,) = parse(adapter, frame, conn="inverse-0").events
    # 10,000 USD / 20,000 = 0.5 BTC; 5,000 USD / 25,000 = 0.2 BTC.
    assert snapshot.bids == ((20000.0, 0.5),)
    assert snapshot.asks == ((25000.0, 0.2),)


# ---------------------------------------------------------------------- trades, liquidations


def test_public_trade():
    parsed = parse(planned(), fixture("public_trade.json"))
    assert parsed == Parsed(
        events=(
            Trade(
                **header("BTCUSDT", 1672304486865),
                price=16578.5,
                quantity=0.001,
                aggressor=Aggressor.BUY,
            ),
        ),
        streams=("publicTrade:BTCUSDT",),
    )


def test_all_liquidation_doc_example_sell_is_a_short():
    parsed = parse(planned(), fixture("all_liquidation.json"))
    (liquidation,) = parsed.events
    assert liquidation == Liquidation(
        **header("ROSEUSDT", 1739502302929), side=Side.SHORT, price=0.04499, quantity=20000.0
    )
    assert liquidation.notional_usd == pytest.approx(899.8)  # 20,000 ROSE x 0.04499
    assert parsed.streams == ("allLiquidation:ROSEUSDT",)


def test_all_liquidation_buy_means_a_long_was_liquidated():
    events = parse(planned(), fixture("all_liquidation_batch.json")).events
    assert events == (
        Liquidation(
            **header("BTCUSDT", 1739502302929), side=Side.LONG, price=95500.0, quantity=0.25
        ),
        Liquidation(
            **header("BTCUSDT", 1739502303001), side=Side.SHORT, price=96800.5, quantity=1.5
        ),
    )


def test_inverse_liquidation_and_trade_sizes_are_usd_over_price():
    adapter = planned(inverse_instrument())
    liq = {
        "topic": "allLiquidation.BTCUSD",
        "type": "snapshot",
        "ts": 1739502303204,
        "data": [{"T": 1739502302929, "s": "BTCUSD", "S": "Buy", "v": "50000", "p": "25000.0"}],
    }
    (event,) = parse(adapter, liq, conn="inverse-0").events
    assert (event.side, event.quantity) == (Side.LONG, 2.0)  # 50,000 USD / 25,000
    trade = {
        "topic": "publicTrade.BTCUSD",
        "type": "snapshot",
        "ts": 1672304486868,
        "data": [
            {
                "T": 1672304486865,
                "s": "BTCUSD",
                "S": "Sell",
                "v": "100",
                "p": "20000.0",
                "BT": False,
            }
        ],
    }
    (event,) = parse(adapter, trade, conn="inverse-0").events
    assert (event.aggressor, event.quantity) == (Aggressor.SELL, 0.005)  # 100 / 20,000


def test_a_liquidation_object_instead_of_a_list_is_accepted():
    frame = fixture("all_liquidation.json")
    frame["data"] = frame["data"][0]  # the doc's field table calls data an "Object"
    assert len(parse(planned(), frame).events) == 1


# ---------------------------------------------------------------------- control frames


def test_acks_and_pongs_mean_nothing_and_prove_no_stream():
    adapter = planned()
    assert parse(adapter, raw("subscribe_ack.json")) == Parsed()
    assert parse(adapter, raw("pong.json")) == Parsed()
    assert parse(adapter, {"op": "pong", "args": ["1675418560633"], "conn_id": "x"}) == Parsed()
    unsubscribed = {**fixture("subscribe_ack.json"), "op": "unsubscribe"}
    assert parse(adapter, unsubscribed) == Parsed()


def test_a_refused_subscription_is_a_venue_error():
    with pytest.raises(FeedDecodeError) as caught:
        parse(planned(), raw("subscribe_error.json"))
    assert caught.value.reason == "venue_error"
    assert "handler not found,topic:liquidation.BTCUSDT" in caught.value.detail


def test_no_bybit_frame_needs_a_reply():
    adapter = planned(NKN)
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name.startswith(("instruments", "subscribe_error")):
            continue
        assert parse(adapter, path.read_text()).replies == (), path.name


@pytest.mark.parametrize(
    ("message", "conn", "reason"),
    [
        (
            {"topic": "kline.1.BTCUSDT", "type": "snapshot", "ts": 1, "data": []},
            "linear-0",
            "unknown_message",
        ),
        (
            {"topic": "tickers.XYZUSDT", "type": "snapshot", "ts": 1, "data": {}},
            "linear-0",
            "unknown_symbol",
        ),
        (
            {"topic": "orderbook.1000.BTCUSDT", "type": "snapshot", "ts": 1, "data": {}},
            "linear-0",
            "unknown_message",
        ),  # a depth we never subscribed
        (
            {"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": 1, "data": {}},
            "inverse-0",
            "unknown_message",
        ),  # a connection that was never planned
        ({"topic": ["tickers.BTCUSDT"], "data": {}}, "linear-0", "bad_type"),
        ({"topic": "", "data": {}}, "linear-0", "bad_type"),
        ({"success": True, "op": "auth"}, "linear-0", "unknown_message"),
        ({"hello": "world"}, "linear-0", "unknown_message"),
        ({"success": "yes", "op": "subscribe"}, "linear-0", "bad_type"),
    ],
)
def test_unknown_frames(message, conn, reason):
    assert reason_of(planned(), message, conn) == reason


# ---------------------------------------------------------------------- bad input classes


def mutated(name: str, change) -> dict[str, Any]:
    message = fixture(name)
    change(message)
    return message


def set_in(path: tuple[Any, ...], value: Any):
    def change(message: dict[str, Any]) -> None:
        target: Any = message
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def delete(path: tuple[Any, ...]):
    def change(message: dict[str, Any]) -> None:
        target: Any = message
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD_INPUTS = [
    # (fixture, change, reason)
    ("tickers_snapshot.json", delete(("data", "markPrice")), "missing_field"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), "NaN"), "non_finite"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), "Infinity"), "non_finite"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), "1e400"), "non_finite"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), "abc"), "bad_type"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), True), "bad_type"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), [1]), "bad_type"),
    ("tickers_snapshot.json", set_in(("data", "markPrice"), "0"), "non_positive_price"),
    ("tickers_snapshot.json", set_in(("data", "indexPrice"), "-1"), "non_positive_price"),
    ("tickers_snapshot.json", set_in(("data", "openInterest"), "-5"), "negative_size"),
    ("tickers_snapshot.json", set_in(("data", "fundingRate"), "nan"), "non_finite"),
    ("tickers_snapshot.json", set_in(("data", "nextFundingTime"), "soon"), "bad_timestamp"),
    ("tickers_snapshot.json", set_in(("data", "nextFundingTime"), "12"), "bad_timestamp"),
    ("tickers_snapshot.json", set_in(("ts",), "1673272861686x"), "bad_timestamp"),
    ("tickers_snapshot.json", set_in(("ts",), 10**30), "bad_timestamp"),
    ("tickers_snapshot.json", set_in(("ts",), None), "bad_timestamp"),
    ("tickers_snapshot.json", delete(("ts",)), "missing_field"),
    ("tickers_snapshot.json", delete(("type",)), "missing_field"),
    ("tickers_snapshot.json", set_in(("type",), "partial"), "malformed"),
    ("tickers_snapshot.json", set_in(("type",), ["delta"]), "malformed"),
    ("tickers_snapshot.json", delete(("data",)), "missing_field"),
    ("tickers_snapshot.json", set_in(("data",), [{"markPrice": "1"}]), "malformed"),
    ("orderbook_delta.json", delete(("data", "u")), "missing_field"),
    ("orderbook_delta.json", set_in(("data", "u"), "177400507"), "bad_sequence"),
    ("orderbook_delta.json", set_in(("data", "u"), 0), "bad_sequence"),
    ("orderbook_delta.json", set_in(("data", "u"), True), "bad_sequence"),
    ("orderbook_delta.json", set_in(("data", "u"), 1.5), "bad_sequence"),
    ("orderbook_delta.json", delete(("data", "b")), "missing_field"),
    ("orderbook_delta.json", set_in(("data", "a"), "none"), "malformed"),
    ("orderbook_delta.json", set_in(("data", "b", 0), ["30247.20"]), "malformed"),
    ("orderbook_delta.json", set_in(("data", "b", 0), "30247.20"), "malformed"),
    ("orderbook_delta.json", set_in(("data", "b", 0, 0), "NaN"), "non_finite"),
    ("orderbook_delta.json", set_in(("data", "b", 0, 0), "0"), "non_positive_price"),
    ("orderbook_delta.json", set_in(("data", "b", 0, 1), "-0.5"), "negative_size"),
    ("orderbook_delta.json", set_in(("data", "b", 0, 1), None), "bad_type"),
    ("orderbook_delta.json", set_in(("data",), None), "malformed"),
    ("orderbook_delta.json", set_in(("type",), None), "missing_field"),
    ("orderbook_snapshot.json", set_in(("data", "b", 1, 0), "16500.00"), "unsorted_levels"),
    ("orderbook_snapshot.json", set_in(("data", "a", 0, 0), "16493.50"), "crossed_book"),
    ("public_trade.json", set_in(("data", 0, "S"), "Hold"), "bad_type"),
    ("public_trade.json", set_in(("data", 0, "S"), ["Buy"]), "bad_type"),
    ("public_trade.json", delete(("data", 0, "S")), "missing_field"),
    ("public_trade.json", set_in(("data", 0, "v"), "0"), "zero_size"),
    ("public_trade.json", set_in(("data", 0, "v"), "-0.001"), "negative_size"),
    ("public_trade.json", set_in(("data", 0, "p"), "-16578.50"), "non_positive_price"),
    ("public_trade.json", set_in(("data", 0, "T"), "yesterday"), "bad_timestamp"),
    ("public_trade.json", set_in(("data", 0, "T"), -1), "bad_timestamp"),
    ("public_trade.json", set_in(("data", 0), "trade"), "malformed"),
    ("public_trade.json", set_in(("data",), "trades"), "malformed"),
    ("all_liquidation.json", set_in(("data", 0, "S"), None), "bad_type"),
    ("all_liquidation.json", set_in(("data", 0, "v"), "0"), "zero_size"),
    ("all_liquidation.json", set_in(("data", 0, "v"), "1e999"), "non_finite"),
    ("all_liquidation.json", delete(("data", 0, "p")), "missing_field"),
    ("all_liquidation.json", delete(("data", 0, "T")), "missing_field"),
]


@pytest.mark.parametrize(("name", "change", "reason"), BAD_INPUTS)
def test_bad_input_yields_the_right_reason(name, change, reason):
    assert reason_of(planned(), mutated(name, change)) == reason


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "malformed"),
        (b"\xff\xfe", "malformed"),
        ("not json", "malformed"),
        ('{"topic": "tickers.BTCUSDT",', "malformed"),  # truncated
        ("[1, 2]", "malformed"),
        ("null", "malformed"),
        ('"pong"', "malformed"),
        (
            '{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"markPrice":NaN}}',
            "malformed",
        ),  # a bare NaN is not JSON
    ],
)
def test_frames_that_are_not_json_objects(frame, reason):
    assert reason_of(planned(), frame) == reason


# ---------------------------------------------------------------------- REST-free procedure


def test_resubscribe_unsubscribes_and_subscribes_the_book_topic():
    adapter = planned()
    assert adapter.resubscribe("linear-0", "ETHUSDT") == (
        '{"op":"unsubscribe","args":["orderbook.50.ETHUSDT"]}',
        '{"req_id":"ETHUSDT","op":"subscribe","args":["orderbook.50.ETHUSDT"]}',
    )
    assert adapter.resubscribe("linear-0", "XYZUSDT") == ()
    assert adapter.resubscribe("linear-9", "ETHUSDT") == ()


def test_no_rest_snapshot_and_no_polls():
    adapter = planned()
    assert adapter.book_snapshot_request("BTCUSDT") is None
    assert adapter.parse_book_snapshot("BTCUSDT", {"anything": 1}, RECV) == Parsed()
    assert adapter.poll_requests(linear_instruments()) == []
    assert adapter.parse_poll({"anything": 1}, RECV) == Parsed()


# ---------------------------------------------------------------------- real recorded frames


def capture_records() -> list[dict[str, Any]]:
    """All records of the cryptofeed Bybit capture; fails (never skips) if it is missing."""
    with CAPTURE.open("rb") as handle:
        text = io.TextIOWrapper(
            zstandard.ZstdDecompressor().stream_reader(handle), encoding="utf-8"
        ).read()
    lines = text.splitlines()
    assert json.loads(lines[0])["t"] == "header"
    return [json.loads(line) for line in lines[1:]]


def capture_instruments_payload() -> Any:
    for record in capture_records():
        if record["t"] == "http" and "category=linear" in record["url"]:
            return json.loads(record["data"])
    raise AssertionError("no linear instruments response in the capture")


def linear_frames() -> list[tuple[int, str]]:
    """(recv_ns, raw) of every frame received on the linear connection(s)."""
    records = capture_records()
    linear = {
        r["conn"]
        for r in records
        if r["t"] == "connect" and r["addr"].endswith("/v5/public/linear")
    }
    assert linear, "the capture has no linear connection"
    return [
        (int(r["ts"] * 1e9), r["data"]) for r in records if r["t"] == "recv" and r["conn"] in linear
    ]


def capture_adapter() -> BybitAdapter:
    """Planned like the capture: its four linear symbols, book depth 200, one connection."""
    records = capture_records()
    linear = {r["conn"] for r in records if r["t"] == "connect" and r["addr"].endswith("linear")}
    subscribed = {
        topic.rpartition(".")[2]
        for r in records
        if r["t"] == "send" and r["conn"] in linear
        for topic in json.loads(r["data"])["args"]
    }
    instruments = BybitAdapter().parse_instruments(capture_instruments_payload())
    adapter = BybitAdapter()
    plans = adapter.plan([i for i in instruments if i.symbol in subscribed])
    assert [p.name for p in plans] == ["linear-0"]
    assert len(plans[0].subscribe) == len(subscribed) == 4
    return adapter


def test_real_instruments_response():
    payload = capture_instruments_payload()
    instruments = BybitAdapter().parse_instruments(payload)
    listed = payload["result"]["list"]
    perpetuals = [
        e["symbol"]
        for e in listed
        if e["contractType"] == "LinearPerpetual" and e["status"] == "Trading"
    ]
    assert [i.symbol for i in instruments] == perpetuals
    assert len(instruments) > 500
    by_symbol = {i.symbol: i for i in instruments}
    assert by_symbol["BTCUSDT"].asset == "BTC"
    assert by_symbol["BTCPERP"].asset == "BTC"
    assert by_symbol["ETHUSDT"].tick_size == 0.01
    assert all(i.size_unit is SizeUnit.BASE for i in instruments)


def test_real_linear_frames_parse_with_zero_rejects():
    adapter = capture_adapter()
    books: dict[str, OrderBook] = {}
    kinds: Counter[str] = Counter()
    seen_index: set[str] = set()
    for recv_ns, frame in linear_frames():
        message = json.loads(frame)
        topic = message.get("topic", "")
        channel = topic.partition(".")[0]
        if channel == "kline":  # subscribed by cryptofeed, not by us
            assert reason_of(adapter, frame) == "unknown_message"
            continue
        parsed = adapter.parse("linear-0", frame, recv_ns)  # raises on any reject
        kinds[channel or "control"] += 1
        if not topic:
            assert parsed == Parsed()
            continue
        symbol = topic.rpartition(".")[2]
        assert parsed.streams == (f"{channel}:{symbol}",)
        for event in parsed.events:
            assert_event_finite(event)
            assert event.symbol == symbol
            assert event.ts_recv_ns == recv_ns
            assert event.ts_event_ns > 0
        data = message["data"]
        if channel == "tickers":
            check_ticker(message, parsed, seen_index)
        elif channel == "orderbook":
            book = books.setdefault(symbol, OrderBook())
            (event,) = parsed.events
            if isinstance(event, BookSnapshot):
                status = book.apply_snapshot(event)
            else:
                status = book.apply_update(event)
                assert event.sequence == data["u"]
            assert status is BookStatus.APPLIED, (symbol, data["u"])
        elif channel == "publicTrade":
            assert len(parsed.events) == len(data)
            for event, item in zip(parsed.events, data, strict=True):
                assert isinstance(event, Trade)
                assert event.quantity == float(item["v"])
                assert event.aggressor == (Aggressor.BUY if item["S"] == "Buy" else Aggressor.SELL)
    assert kinds["tickers"] > 700
    assert kinds["orderbook"] > 1500
    assert kinds["publicTrade"] > 100
    assert kinds["control"] > 10
    assert len(books) == 4
    assert all(book.synced and not book.crossed() for book in books.values())


def check_ticker(message: dict[str, Any], parsed: Parsed, seen_index: set[str]) -> None:
    """Every frame that changes a price, OI or funding yields a complete event."""
    data = message["data"]
    symbol = data["symbol"]
    by_type = {type(e): e for e in parsed.events}
    if message["type"] == "snapshot":
        seen_index.add(symbol)
    if "markPrice" in data or "indexPrice" in data:
        mark = by_type[MarkPrice]
        assert mark.index_price is not None  # the delta merged with the snapshot
        if "markPrice" in data:
            assert mark.mark_price == float(data["markPrice"])
    else:
        assert MarkPrice not in by_type
    if "openInterest" in data:
        # The real frames carry both fields together; single = both / 2 to the qty step.
        single = float(data["singleOpenInterest"])
        assert by_type[OpenInterest].open_interest == single
        assert single == pytest.approx(float(data["openInterest"]) / 2.0, abs=0.5)
    else:
        assert OpenInterest not in by_type
    if "fundingRate" in data:
        assert by_type[Funding].rate == float(data["fundingRate"])
        assert by_type[Funding].next_funding_ns is not None


# ---------------------------------------------------------------------- fuzzing

FUZZ_FIXTURES = [
    "tickers_snapshot.json",
    "tickers_snapshot_2025.json",
    "tickers_snapshot_single_oi.json",
    "tickers_delta_mark.json",
    "tickers_delta_oi.json",
    "orderbook_snapshot.json",
    "orderbook_delta.json",
    "orderbook_restart.json",
    "public_trade.json",
    "all_liquidation.json",
    "all_liquidation_batch.json",
    "subscribe_ack.json",
    "pong.json",
]
REPLACEMENTS = st.sampled_from(
    [
        "abc",
        None,
        "NaN",
        "nan",
        "-1",
        -1,
        0,
        "0",
        "",
        1e308,
        -1e308,
        "1e400",
        "-inf",
        2**70,
        10**30,
        True,
        False,
        [],
        {},
        ["1", "2"],
        "1673272861686",
        1.5,
        "BTCUSDT",
    ]
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict key or list item inside `value`."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found += paths(item, (*prefix, index))
    return found


def mutate(message: Any, path: tuple[Any, ...], action: str, replacement: Any) -> None:
    parent = message
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "truncate" and isinstance(parent[last], list | str):
        parent[last] = parent[last][: len(parent[last]) // 2]
    else:
        parent[last] = copy.deepcopy(replacement)  # never share a list into itself


def assert_only_decode_errors(adapter: BybitAdapter, frame: str | bytes) -> None:
    try:
        parsed = adapter.parse("linear-0", frame, RECV)
    except FeedDecodeError:
        return
    for event in parsed.events:
        assert_event_finite(event)


_REAL_SAMPLE: list[list[dict[str, Any]]] = []


def real_sample() -> list[dict[str, Any]]:
    """Up to five real frames of each (channel, type), read once per session."""
    if _REAL_SAMPLE:
        return _REAL_SAMPLE[0]
    frames = [json.loads(f) for _, f in linear_frames()]
    picked: dict[str, list[dict[str, Any]]] = {}
    for message in frames:
        key = f"{message.get('topic', 'control').partition('.')[0]}:{message.get('type')}"
        if key.startswith("kline"):
            continue
        picked.setdefault(key, []).append(message)
    _REAL_SAMPLE.append([m for group in picked.values() for m in group[:5]])
    return _REAL_SAMPLE[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(frame):
    assert_only_decode_errors(planned(), frame)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(frame):
    assert_only_decode_errors(planned(), frame)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    topic=st.sampled_from(
        [
            "tickers.BTCUSDT",
            "orderbook.50.BTCUSDT",
            "publicTrade.ETHUSDT",
            "allLiquidation.ROSEUSDT",
            None,
        ]
    ),
    kind=st.sampled_from(["snapshot", "delta", None, 3]),
    ts=st.one_of(st.integers(), st.text(max_size=14), st.none()),
    data=JSON,
    extra=st.dictionaries(st.sampled_from(["success", "op", "ret_msg", "u"]), JSON, max_size=3),
)
def test_fuzz_structured_frames(topic, kind, ts, data, extra):
    message = {**extra, "topic": topic, "type": kind, "ts": ts, "data": data}
    assert_only_decode_errors(planned(), dumps(message))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FUZZ_FIXTURES),
    picks=st.lists(
        st.tuples(
            st.integers(min_value=0),
            st.sampled_from(["delete", "replace", "truncate"]),
            REPLACEMENTS,
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_fuzz_mutated_fixture_frames(name, picks):
    adapter = planned()
    parse(adapter, fixture("tickers_snapshot.json"))  # deltas then merge into state
    message = fixture(name)
    for index, action, replacement in picks:
        found = paths(message)
        if not found:
            break
        mutate(message, found[index % len(found)], action, replacement)
    assert_only_decode_errors(adapter, dumps(message))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pick=st.integers(min_value=0),
    picks=st.lists(
        st.tuples(
            st.integers(min_value=0),
            st.sampled_from(["delete", "replace", "truncate"]),
            REPLACEMENTS,
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_fuzz_mutated_real_frames(pick, picks):
    adapter = capture_adapter_cached()
    sample = real_sample()
    message = copy.deepcopy(sample[pick % len(sample)])
    for index, action, replacement in picks:
        found = paths(message)
        if not found:
            break
        mutate(message, found[index % len(found)], action, replacement)
    assert_only_decode_errors(adapter, dumps(message))


_CAPTURE_ADAPTER: list[BybitAdapter] = []


def capture_adapter_cached() -> BybitAdapter:
    if not _CAPTURE_ADAPTER:
        _CAPTURE_ADAPTER.append(capture_adapter())
    return _CAPTURE_ADAPTER[0]


# ---------------------------------------------------------------------- fake venue script

NOW_MS = 1_786_310_817_583


def script_and_adapter() -> tuple[Script, BybitAdapter, ConnectionPlan]:
    script = Script(clock_ms=lambda: NOW_MS)
    adapter = BybitAdapter(ws_url="ws://127.0.0.1:1", rest_url="http://127.0.0.1:2")
    instruments = adapter.parse_instruments(script.rest["/v5/market/instruments-info"])
    (plan,) = adapter.plan(instruments)
    return script, adapter, plan


def test_script_shape():
    script = Script()
    assert script.venue == "bybit"
    assert script.greeting == ()
    assert set(script.symbols) >= {"BTCUSDT", "ETHUSDT"}
    request = BybitAdapter().instruments_request()
    assert request.url.endswith("/v5/market/instruments-info")
    symbols = [
        i.symbol
        for i in BybitAdapter().parse_instruments(script.rest["/v5/market/instruments-info"])
    ]
    assert symbols == list(script.symbols)


def test_script_answers_subscriptions_and_pings_like_bybit():
    script, adapter, plan = script_and_adapter()
    for frame in plan.subscribe:
        (ack,) = script.replies(frame)
        assert json.loads(ack) == {
            "success": True,
            "ret_msg": "",
            "conn_id": json.loads(ack)["conn_id"],
            "req_id": json.loads(frame)["req_id"],
            "op": "subscribe",
        }
        assert adapter.parse(plan.name, ack, RECV) == Parsed()
    assert plan.keepalive is not None
    (pong,) = script.replies(plan.keepalive.frame)
    assert json.loads(pong)["ret_msg"] == "pong"
    assert adapter.parse(plan.name, pong, RECV) == Parsed()
    (refusal,) = script.replies('{"op":"subscribe","args":["liquidation.BTCUSDT"]}')
    assert reason_of(adapter, refusal, plan.name) == "venue_error"
    assert script.replies("garbage") == []
    assert script.replies('{"op":"auth","args":[]}') == []


def test_script_data_parses_into_every_event_kind_and_a_consistent_book():
    script, adapter, plan = script_and_adapter()
    for frame in plan.subscribe:
        script.replies(frame)
    kinds: Counter[str] = Counter()
    books = {s: OrderBook() for s in script.symbols}
    for step in range(30):
        if step == 15:  # the supervisor resyncs a book: a fresh snapshot must follow
            for frame in adapter.resubscribe(plan.name, "ETHUSDT"):
                assert script.replies(frame)
        for symbol in script.symbols:
            for frame in script.data(symbol, step):
                parsed = adapter.parse(plan.name, frame, NOW_MS * MS)
                assert parsed.streams
                for event in parsed.events:
                    assert_event_finite(event)
                    assert event.ts_event_ns == pytest.approx(NOW_MS * MS, abs=1_000 * MS)
                    kinds[type(event).__name__] += 1
                    if isinstance(event, BookSnapshot):
                        assert books[symbol].apply_snapshot(event) is BookStatus.APPLIED
                    elif isinstance(event, BookUpdate):
                        assert books[symbol].apply_update(event) is BookStatus.APPLIED
    assert kinds["BookSnapshot"] == 3  # one per symbol at start, one after the resync
    assert kinds["BookUpdate"] == 2 * 30 - 3
    for kind in ("MarkPrice", "OpenInterest", "Trade", "Liquidation", "Funding"):
        assert kinds[kind] > 0, kind
    assert all(book.synced and not book.crossed() for book in books.values())
