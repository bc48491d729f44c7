"""OKX v5 adapter: fixtures, units, side mapping, plan, bad input, a real 2022 capture, fuzz.

Fixtures are OKX documentation examples (tests/fixtures/okx/SOURCES.md says which and
where); the capture is read in place from shared data and never copied into the repo.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from fake_venues.okx import INSTRUMENTS_PATH, Script
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
    FEED_REJECT_REASONS,
    ConnectionPlan,
    FeedDecodeError,
    Instrument,
    Keepalive,
    Parsed,
    RestRequest,
    SizeUnit,
    Stream,
)
from monitor.feeds.okx import REST_URL, STALE_AFTER_S, WS_URL, OkxAdapter

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "okx"
CAPTURE = CAPTURES / "cryptofeed" / "OKX.ws.1.0"
RECV = 1_800_000_000_000_000_000  # an arbitrary receive time (2027), ns
MS = 1_000_000  # ns per ms


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def raw(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def inst(
    symbol: str,
    contract_size: float,
    unit: SizeUnit = SizeUnit.CONTRACTS,
    kind: ContractType = ContractType.LINEAR,
) -> Instrument:
    return Instrument(
        venue="okx",
        symbol=symbol,
        asset=symbol.split("-", maxsplit=1)[0],
        contract_type=kind,
        size_unit=unit,
        contract_size=contract_size,
    )


BTC_USDT = inst("BTC-USDT-SWAP", 0.01)  # ctVal 0.01 BTC (instruments.json)
ETH_USDT = inst("ETH-USDT-SWAP", 0.1)
BTC_USD = inst("BTC-USD-SWAP", 100.0, SizeUnit.USD, ContractType.INVERSE)  # ctVal 100 USD
UNI_USD = inst("UNI-USD-SWAP", 10.0, SizeUnit.USD, ContractType.INVERSE)  # see SOURCES.md
# The doc examples for mark-price, trades and books use non-swap ids; they are planned here
# with the units their docs state: LTC-USD-190628 is an inverse future (ctVal 10 USD, the
# old docs' value), BTC-USDT is spot (sizes in BTC, "quantity in base currency for Spot").
LTC_FUTURE = inst("LTC-USD-190628", 10.0, SizeUnit.USD, ContractType.INVERSE)
BTC_SPOT = inst("BTC-USDT", 1.0, SizeUnit.BASE)
# The IOST liquidation doc example: the test's own ctVal of 10 (not OKX's published value).
IOST = inst("IOST-USDT-SWAP", 10.0)


@pytest.fixture
def okx() -> OkxAdapter:
    adapter = OkxAdapter()
    adapter.plan([BTC_USDT, ETH_USDT, BTC_USD, UNI_USD, LTC_FUTURE, BTC_SPOT, IOST])
    return adapter


def parse(adapter: OkxAdapter, frame: str | bytes | Any) -> Parsed:
    if not isinstance(frame, str | bytes):
        frame = orjson.dumps(frame)
    return adapter.parse("public-0", frame, RECV)


def reason_of(adapter: OkxAdapter, frame: Any) -> str:
    with pytest.raises(FeedDecodeError) as info:
        parse(adapter, frame)
    return info.value.reason


# ---------------------------------------------------------------------- instruments


def test_instruments_request_points_at_the_public_swap_listing():
    assert OkxAdapter().instruments_request() == RestRequest(
        url="https://openapi.okx.com/api/v5/public/instruments", params={"instType": "SWAP"}
    )
    local = OkxAdapter(rest_url="http://127.0.0.1:9/", ws_url="ws://127.0.0.1:8")
    request = local.instruments_request()
    assert request is not None
    assert request.url == "http://127.0.0.1:9/api/v5/public/instruments"
    assert (WS_URL, REST_URL) == ("wss://ws.okx.com:8443/ws/v5/public", "https://openapi.okx.com")


def test_instruments_fixture_parses_to_linear_and_inverse_swaps():
    instruments = OkxAdapter().parse_instruments(load("instruments.json"))
    assert instruments == [
        Instrument(
            venue="okx",
            symbol="BTC-USDT-SWAP",
            asset="BTC",
            contract_type=ContractType.LINEAR,
            size_unit=SizeUnit.CONTRACTS,
            contract_size=0.01,  # ctVal "0.01" × ctMult "1"
            tick_size=0.1,
        ),
        Instrument(
            venue="okx",
            symbol="BTC-USD-SWAP",
            asset="BTC",
            contract_type=ContractType.INVERSE,
            size_unit=SizeUnit.USD,
            contract_size=100.0,  # USD per contract
            tick_size=0.1,
        ),
        Instrument(
            venue="okx",
            symbol="ETH-USDT-SWAP",
            asset="ETH",
            contract_type=ContractType.LINEAR,
            size_unit=SizeUnit.CONTRACTS,
            contract_size=0.1,
            tick_size=0.01,
        ),
        Instrument(
            venue="okx",
            symbol="DOGE-USDT-SWAP",
            asset="DOGE",
            contract_type=ContractType.LINEAR,
            size_unit=SizeUnit.CONTRACTS,
            contract_size=1000.0,
            tick_size=0.00001,
        ),
    ]


def test_self_contradictory_old_doc_example_is_dropped():
    # LTC-USD-SWAP says ctType "linear" but ctValCcy "USD": no unit can be trusted.
    assert OkxAdapter().parse_instruments(load("instruments_old_doc_example.json")) == []


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ({}, True),
        ({"instType": "SPOT"}, False),
        ({"state": "preopen"}, False),
        ({"state": "test"}, False),
        ({"ctVal": ""}, False),
        ({"ctVal": "0"}, False),
        ({"ctVal": "NaN"}, False),
        ({"ctVal": None}, False),
        ({"ctMult": "2"}, True),
        ({"ctType": "quanto"}, False),
        ({"ctValCcy": "ETH"}, False),
        ({"instId": 7}, False),
        ({"tickSz": "-1"}, False),
        ({"tickSz": ""}, True),
    ],
)
def test_each_instrument_entry_is_checked_on_its_own(change, kept):
    payload = load("instruments.json")
    payload["data"][0].update(change)
    symbols = [i.symbol for i in OkxAdapter().parse_instruments(payload)]
    assert ("BTC-USDT-SWAP" in symbols) is kept
    assert "ETH-USDT-SWAP" in symbols  # one bad entry never costs the others


def test_contract_multiplier_scales_the_contract_size():
    payload = load("instruments.json")
    payload["data"][0]["ctMult"] = "2"
    assert OkxAdapter().parse_instruments(payload)[0].contract_size == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "malformed"),
        ({"code": "50011", "msg": "Too Many Requests", "data": []}, "venue_error"),
        ({"code": "0", "msg": ""}, "missing_field"),
        ({"code": "0", "msg": "", "data": {}}, "malformed"),
    ],
)
def test_a_bad_instruments_envelope_raises(payload, reason):
    with pytest.raises(FeedDecodeError) as info:
        OkxAdapter().parse_instruments(payload)
    assert info.value.reason == reason


# ---------------------------------------------------------------------- plan


def test_plan_subscribes_five_channels_per_swap_and_liquidations_once():
    adapter = OkxAdapter(ws_url="ws://127.0.0.1:1234")
    plans = adapter.plan([BTC_USDT, ETH_USDT])
    keys = [
        f"{channel}:{symbol}"
        for symbol in ("BTC-USDT-SWAP", "ETH-USDT-SWAP")
        for channel in ("mark-price", "open-interest", "funding-rate", "trades", "books")
    ]
    subscribe = {
        "op": "subscribe",
        "args": [{"channel": key.split(":")[0], "instId": key.split(":")[1]} for key in keys]
        + [{"channel": "liquidation-orders", "instType": "SWAP"}],
    }
    assert plans == [
        ConnectionPlan(
            name="public-0",
            url="ws://127.0.0.1:1234",
            subscribe=(orjson.dumps(subscribe).decode(),),
            streams=(
                *(Stream(key, STALE_AFTER_S[key.split(":")[0]]) for key in keys),
                Stream("liquidation-orders:BTC-USDT-SWAP", None),
                Stream("liquidation-orders:ETH-USDT-SWAP", None),
            ),
            keepalive=Keepalive("ping", 20.0),
            max_lifetime_s=None,
        )
    ]


def test_staleness_deadlines_are_five_documented_intervals():
    assert STALE_AFTER_S["mark-price"] == 5 * 10.0  # pushed at least every 10 s
    assert STALE_AFTER_S["open-interest"] == 5 * 3.0  # every 3 s (on change)
    assert STALE_AFTER_S["funding-rate"] == 5 * 90.0  # every 30 to 90 s
    assert STALE_AFTER_S["books"] == 2 * 60.0  # keep-alive delta after ~60 s idle
    assert STALE_AFTER_S["trades"] == 60.0
    assert STALE_AFTER_S["liquidation-orders"] is None


def test_plan_splits_many_swaps_and_ignores_other_venues():
    many = [inst(f"C{n}-USDT-SWAP", 1.0) for n in range(45)]
    foreign = dataclasses.replace(BTC_USDT, venue="binance")
    plans = OkxAdapter().plan([*many, many[0], foreign])
    assert [p.name for p in plans] == ["public-0", "public-1", "public-2"]
    assert [len(p.streams) for p in plans] == [20 * 5 + 45, 20 * 5, 5 * 5]
    for number, p in enumerate(plans):
        args = orjson.loads(p.subscribe[0])["args"]
        has_liquidations = {"channel": "liquidation-orders", "instType": "SWAP"} in args
        assert has_liquidations is (number == 0)
        assert len(p.subscribe[0]) < 64 * 1024  # OKX's request size limit
        assert all(s.stale_after_s is not None for s in p.streams if "liquidation" not in s.key)
    assert OkxAdapter().plan([]) == []


def test_resubscribe_requests_a_fresh_book_snapshot(okx):
    arg = [{"channel": "books", "instId": "BTC-USDT-SWAP"}]
    assert okx.resubscribe("public-0", "BTC-USDT-SWAP") == (
        orjson.dumps({"op": "unsubscribe", "args": arg}).decode(),
        orjson.dumps({"op": "subscribe", "args": arg}).decode(),
    )
    assert okx.resubscribe("public-0", "XRP-USDT-SWAP") == ()


def test_no_rest_snapshot_and_no_polls(okx):
    assert okx.book_snapshot_request("BTC-USDT-SWAP") is None
    assert okx.parse_book_snapshot("BTC-USDT-SWAP", {}, RECV) == Parsed()
    assert okx.poll_requests([BTC_USDT]) == []
    assert okx.parse_poll({}, RECV) == Parsed()


# ---------------------------------------------------------------------- control frames


@pytest.mark.parametrize("frame", ["subscribe_ack.json", "unsubscribe_ack.json"])
def test_acks_carry_nothing_and_prove_nothing(okx, frame):
    assert parse(okx, raw(frame)) == Parsed()


@pytest.mark.parametrize("pong", ["pong", b"pong"])
def test_pong_is_silent(okx, pong):
    assert okx.parse("public-0", pong, RECV) == Parsed()


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ("error.json", "error 60012: Invalid request"),
        ("notice.json", "notice 64008: The connection will soon be closed"),
    ],
)
def test_error_and_notice_frames_are_venue_errors(okx, frame, detail):
    with pytest.raises(FeedDecodeError) as info:
        parse(okx, raw(frame))
    assert info.value.reason == "venue_error"
    assert info.value.detail.startswith(detail)


# ---------------------------------------------------------------------- data fixtures


def test_mark_price_doc_example(okx):
    assert parse(okx, raw("mark_price.json")) == Parsed(
        events=(
            MarkPrice(
                venue="okx",
                symbol="LTC-USD-190628",
                ts_event_ns=1597026383085 * MS,
                ts_recv_ns=RECV,
                mark_price=0.1,
            ),
        ),
        streams=("mark-price:LTC-USD-190628",),
    )


def test_mark_price_swap(okx):
    parsed = parse(okx, raw("mark_price_swap.json"))
    assert parsed.streams == ("mark-price:BTC-USDT-SWAP",)
    assert parsed.events == (
        MarkPrice(
            venue="okx",
            symbol="BTC-USDT-SWAP",
            ts_event_ns=1597026383085 * MS,
            ts_recv_ns=RECV,
            mark_price=0.1,
        ),
    )


def test_open_interest_doc_example_in_coins(okx):
    parsed = parse(okx, raw("open_interest.json"))
    assert parsed.streams == ("open-interest:BTC-USDT-SWAP",)
    (event,) = parsed.events
    assert isinstance(event, OpenInterest)
    assert event.ts_event_ns == 1743041250440 * MS
    # oi 2216113.01000000309 contracts × ctVal 0.01 BTC = 22161.1301000000309 BTC = oiCcy
    assert event.open_interest == pytest.approx(2216113.01000000309 * 0.01, rel=1e-15)
    assert event.open_interest == pytest.approx(22161.1301000000309, rel=1e-12)


def test_one_hundred_contracts_of_btc_usdt_swap_are_one_btc(okx):
    frame = load("open_interest.json")
    frame["data"][0]["oi"] = "100"
    (event,) = parse(okx, frame).events
    assert isinstance(event, OpenInterest)
    assert event.open_interest == pytest.approx(1.0)  # 100 contracts × 0.01 BTC


def test_inverse_open_interest_uses_the_coin_figure(okx):
    # Test-local frame: the doc example re-labelled as BTC-USD-SWAP. USD face cannot be
    # turned into coins without a price, so OKX's own oiCcy is taken.
    frame = load("open_interest.json")
    frame["arg"]["instId"] = frame["data"][0]["instId"] = "BTC-USD-SWAP"
    (event,) = parse(okx, frame).events
    assert isinstance(event, OpenInterest)
    assert event.open_interest == pytest.approx(22161.1301000000309)
    del frame["data"][0]["oiCcy"]
    assert reason_of(okx, frame) == "missing_field"


def test_funding_rate_doc_example(okx):
    assert parse(okx, raw("funding_rate.json")) == Parsed(
        events=(
            Funding(
                venue="okx",
                symbol="BTC-USD-SWAP",
                ts_event_ns=1700724675402 * MS,
                ts_recv_ns=RECV,
                rate=0.0001875391284828,
                next_funding_ns=1700726400000 * MS,  # fundingTime: the coming settlement
            ),
        ),
        streams=("funding-rate:BTC-USD-SWAP",),
    )


def test_trades_doc_example_spot_sizes_are_coins(okx):
    assert parse(okx, raw("trades.json")) == Parsed(
        events=(
            Trade(
                venue="okx",
                symbol="BTC-USDT",
                ts_event_ns=1630048897897 * MS,
                ts_recv_ns=RECV,
                price=42219.9,
                quantity=0.12060306,
                aggressor=Aggressor.BUY,
            ),
        ),
        streams=("trades:BTC-USDT",),
    )


def test_swap_trade_sizes_are_contracts(okx):
    (event,) = parse(okx, raw("trades_swap.json")).events
    assert isinstance(event, Trade)
    assert event.quantity == pytest.approx(0.12)  # 12 contracts × 0.01 BTC
    assert event.aggressor is Aggressor.SELL


def test_inverse_trade_sizes_are_usd_face(okx):
    frame = load("trades_swap.json")
    frame["arg"]["instId"] = "BTC-USD-SWAP"
    frame["data"][0].update(px="50000", sz="10")
    (event,) = parse(okx, frame).events
    assert isinstance(event, Trade)
    assert event.quantity == pytest.approx(10 * 100 / 50000)  # 0.02 BTC


def test_books_snapshot_doc_example(okx):
    parsed = parse(okx, raw("books_snapshot.json"))
    assert parsed.streams == ("books:BTC-USDT",)
    assert parsed.events == (
        BookSnapshot(
            venue="okx",
            symbol="BTC-USDT",
            ts_event_ns=1597026383085 * MS,
            ts_recv_ns=RECV,
            bids=(
                (8476.97, 256.0),
                (8475.55, 101.0),
                (8475.54, 100.0),
                (8475.3, 1.0),
                (8447.32, 6.0),
                (8447.02, 246.0),
                (8446.83, 24.0),
                (8446.0, 95.0),
            ),
            asks=(
                (8476.98, 415.0),
                (8477.0, 7.0),
                (8477.34, 85.0),
                (8477.56, 1.0),
                (8505.84, 8.0),
                (8506.37, 85.0),
                (8506.49, 2.0),
                (8506.96, 100.0),
            ),
            sequence=123456,  # prevSeqId -1 marks a snapshot and is not kept
        ),
    )


def test_books_update_doc_example_chains_on_prev_seq_id(okx):
    (event,) = parse(okx, raw("books_update.json")).events
    assert isinstance(event, BookUpdate)
    assert (event.sequence, event.prev_sequence, event.first_sequence) == (123457, 123456, None)
    assert event.bids[0] == (8476.97, 256.0)
    assert len(event.asks) == 8


def test_book_levels_of_a_swap_are_converted(okx):
    frame = load("books_update.json")
    frame["arg"]["instId"] = "BTC-USDT-SWAP"
    (event,) = parse(okx, frame).events
    assert isinstance(event, BookUpdate)
    assert event.asks[0] == pytest.approx((8476.98, 4.15))  # 415 contracts × 0.01 BTC
    frame["arg"]["instId"] = "BTC-USD-SWAP"
    (event,) = parse(okx, frame).events
    assert isinstance(event, BookUpdate)
    assert event.asks[0] == pytest.approx((8476.98, 415 * 100 / 8476.98))  # USD face ÷ price


def test_books_keepalive_proves_the_stream_but_changes_nothing(okx):
    assert parse(okx, raw("books_keepalive.json")) == Parsed(streams=("books:BTC-USDT",))


def test_books_sequence_reset_is_passed_on_for_the_builder(okx):
    (event,) = parse(okx, raw("books_seq_reset.json")).events
    assert isinstance(event, BookUpdate)
    # seqId below prevSeqId: the reset the docs describe; prevSeqId still chains.
    assert (event.sequence, event.prev_sequence) == (3, 123457)
    assert event.asks == ((8477.0, 0.0),)
    assert parse(okx, raw("books_seq_reset.json")).resync == ()


def test_liquidation_doc_example_short_position(okx):
    assert parse(okx, raw("liquidation_orders.json")) == Parsed(
        events=(
            Liquidation(
                venue="okx",
                symbol="IOST-USDT-SWAP",
                ts_event_ns=1692266434010 * MS,
                ts_recv_ns=RECV,
                side=Side.SHORT,  # side buy, posSide short: a short was closed by force
                price=0.007831,
                quantity=130.0,  # 13 contracts × the test's ctVal 10
            ),
        ),
        streams=("liquidation-orders:IOST-USDT-SWAP",),
    )


def test_liquidation_recorded_btc_long(okx):
    (event,) = parse(okx, raw("liquidation_orders_btc.json")).events
    assert isinstance(event, Liquidation)
    assert event.side is Side.LONG  # side sell, posSide long
    assert event.price == 57102.9
    assert event.quantity == pytest.approx(100.0)  # 10000 contracts × 0.01 BTC
    assert event.notional_usd == pytest.approx(5_710_290.0)


def test_inverse_liquidation_is_usd_face_over_bankruptcy_price(okx):
    frame = load("liquidation_orders_btc.json")
    frame["data"][0].update(instId="BTC-USD-SWAP", instFamily="BTC-USD", uly="BTC-USD")
    frame["data"][0]["details"][0].update(bkPx="50000", sz="10")
    (event,) = parse(okx, frame).events
    assert isinstance(event, Liquidation)
    assert event.quantity == pytest.approx(10 * 100 / 50000)  # 0.02 BTC
    assert event.notional_usd == pytest.approx(1000.0)  # the USD face


@pytest.mark.parametrize(
    ("side", "pos_side", "expected"),
    [
        ("sell", "long", Side.LONG),
        ("sell", "net", Side.LONG),
        ("sell", "", Side.LONG),
        ("sell", None, Side.LONG),
        ("buy", "short", Side.SHORT),
        ("buy", "net", Side.SHORT),
        ("buy", None, Side.SHORT),
        ("sell", "short", "bad_type"),
        ("buy", "long", "bad_type"),
        ("buy", "both", "bad_type"),
        ("Sell", "long", "bad_type"),
        (None, "long", "missing_field"),
    ],
)
def test_liquidated_position_side(okx, side, pos_side, expected):
    frame = load("liquidation_orders_btc.json")
    detail = frame["data"][0]["details"][0]
    for key, value in (("side", side), ("posSide", pos_side)):
        if value is None:
            del detail[key]
        else:
            detail[key] = value
    if isinstance(expected, Side):
        (event,) = parse(okx, frame).events
        assert isinstance(event, Liquidation)
        assert event.side is expected
    else:
        assert reason_of(okx, frame) == expected


def test_liquidations_of_unplanned_swaps_are_skipped_not_rejected(okx):
    frame = load("liquidation_orders_btc.json")
    frame["data"][0]["instId"] = "XRP-USDT-SWAP"
    assert parse(okx, frame) == Parsed()
    other = copy.deepcopy(frame["data"][0])
    frame["data"].append(load("liquidation_orders_btc.json")["data"][0])
    frame["data"].append(other)
    parsed = parse(okx, frame)
    assert [e.symbol for e in parsed.events] == ["BTC-USDT-SWAP"]
    assert parsed.streams == ("liquidation-orders:BTC-USDT-SWAP",)


def test_liquidations_in_one_frame_come_out_oldest_first(okx):
    frame = load("liquidation_orders_btc.json")
    details = frame["data"][0]["details"]
    later = dict(details[0], ts="1723038122700", sz="1")
    earlier = dict(details[0], ts="1723038122000", sz="2")
    details[:] = [later, details[0], earlier]
    frame["data"].append(load("liquidation_orders.json")["data"][0])
    parsed = parse(okx, frame)
    times = [e.ts_event_ns for e in parsed.events]
    assert times == sorted(times)
    assert parsed.streams == (
        "liquidation-orders:BTC-USDT-SWAP",
        "liquidation-orders:IOST-USDT-SWAP",
    )


def test_no_okx_frame_asks_for_a_reply_or_a_resync(okx):
    for name in sorted(FIXTURES.glob("*.json")):
        try:
            parsed = parse(okx, name.read_text(encoding="utf-8"))
        except FeedDecodeError:
            continue
        assert parsed.replies == ()
        assert parsed.resync == ()


# ---------------------------------------------------------------------- bad input


def mutated(name: str, path: tuple[Any, ...], value: Any) -> Any:
    frame = load(name)
    target = frame
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return frame


DELETE = object()
MARK_ROW = ("data", 0)
BAD_INPUTS = [
    ("not json", "malformed"),
    ("[1, 2]", "malformed"),
    ('"text"', "malformed"),
    ("{", "malformed"),
    (b"\xff\xfe", "malformed"),
    (mutated("mark_price_swap.json", ("arg",), [1]), "malformed"),
    (mutated("mark_price_swap.json", ("arg",), DELETE), "missing_field"),
    (mutated("mark_price_swap.json", ("data",), {}), "malformed"),
    (mutated("mark_price_swap.json", ("data",), []), "malformed"),
    (mutated("mark_price_swap.json", ("data",), None), "malformed"),
    (mutated("mark_price_swap.json", ("data", 0), "row"), "malformed"),
    (mutated("books_update.json", ("data", 0, "asks", 0), "8476.98"), "malformed"),
    (mutated("books_update.json", ("data", 0, "bids"), {}), "malformed"),
    (mutated("mark_price_swap.json", ("arg", "channel"), "tickers"), "unknown_message"),
    (mutated("mark_price_swap.json", ("arg", "channel"), ["mark-price"]), "unknown_message"),
    ({"event": "login", "code": "0"}, "unknown_message"),
    ({"event": ["subscribe"]}, "unknown_message"),
    ({}, "unknown_message"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), DELETE), "missing_field"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "ts"), DELETE), "missing_field"),
    (mutated("mark_price_swap.json", ("arg", "instId"), DELETE), "missing_field"),
    (mutated("books_update.json", ("action",), DELETE), "missing_field"),
    (mutated("books_update.json", ("data", 0, "prevSeqId"), DELETE), "missing_field"),
    (mutated("books_update.json", ("data", 0, "bids"), DELETE), "missing_field"),
    (mutated("trades_swap.json", ("data", 0, "side"), DELETE), "missing_field"),
    (mutated("liquidation_orders_btc.json", ("data", 0, "details"), DELETE), "missing_field"),
    (mutated("liquidation_orders_btc.json", ("data", 0, "instId"), DELETE), "missing_field"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), "abc"), "bad_type"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), True), "bad_type"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), None), "bad_type"),
    (mutated("mark_price_swap.json", ("arg", "instId"), 5), "bad_type"),
    (mutated("books_update.json", ("action",), "partial"), "bad_type"),
    (mutated("books_update.json", ("data", 0, "seqId"), "123457"), "bad_type"),
    (mutated("trades_swap.json", ("data", 0, "side"), "short"), "bad_type"),
    (mutated("liquidation_orders_btc.json", ("data", 0, "details"), {}), "malformed"),
    (mutated("mark_price_swap.json", ("arg", "instId"), ""), "bad_identifier"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), "NaN"), "non_finite"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), "inf"), "non_finite"),
    (mutated("funding_rate.json", ("data", 0, "fundingRate"), "-Infinity"), "non_finite"),
    (mutated("books_update.json", ("data", 0, "asks", 0, 1), "nan"), "non_finite"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "markPx"), "0"), "non_positive_price"),
    (mutated("trades_swap.json", ("data", 0, "px"), "-42219.9"), "non_positive_price"),
    (mutated("books_update.json", ("data", 0, "bids", 0, 0), "0"), "non_positive_price"),
    (
        mutated("liquidation_orders_btc.json", ("data", 0, "details", 0, "bkPx"), "0"),
        "non_positive_price",
    ),
    (mutated("trades_swap.json", ("data", 0, "sz"), "-1"), "negative_size"),
    (mutated("open_interest.json", ("data", 0, "oi"), "-5"), "negative_size"),
    (mutated("books_update.json", ("data", 0, "bids", 0, 1), "-256"), "negative_size"),
    (mutated("trades_swap.json", ("data", 0, "sz"), "0"), "zero_size"),
    (mutated("liquidation_orders_btc.json", ("data", 0, "details", 0, "sz"), "0"), "zero_size"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "ts"), "abc"), "bad_timestamp"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "ts"), "1597026383"), "bad_timestamp"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "ts"), "-1597026383085"), "bad_timestamp"),
    (mutated("mark_price_swap.json", (*MARK_ROW, "ts"), 10**18), "bad_timestamp"),
    (mutated("funding_rate.json", ("data", 0, "fundingTime"), ""), "bad_timestamp"),
    (mutated("mark_price_swap.json", ("arg", "instId"), "XRP-USDT-SWAP"), "unknown_symbol"),
    (raw("error.json"), "venue_error"),
    (raw("notice.json"), "venue_error"),
    (mutated("books_update.json", ("data", 0, "prevSeqId"), -5), "bad_sequence"),
    (
        mutated("books_snapshot.json", ("data", 0, "bids"), [["1", "1"], ["2", "1"]]),
        "unsorted_levels",
    ),
    (mutated("books_snapshot.json", ("data", 0, "bids", 0, 0), "9000"), "crossed_book"),
]


@pytest.mark.parametrize(("frame", "reason"), BAD_INPUTS)
def test_every_bad_input_class_has_its_reason(okx, frame, reason):
    assert reason in FEED_REJECT_REASONS
    assert reason_of(okx, frame) == reason


def test_every_parser_reason_is_exercised():
    parser_reasons = set(FEED_REJECT_REASONS) - {
        "price_jump",
        "stale_timestamp",
        "sequence_gap",
        "duplicate_sequence",
    }
    assert parser_reasons == {reason for _, reason in BAD_INPUTS}


def test_nothing_is_known_before_plan():
    assert reason_of(OkxAdapter(), raw("mark_price_swap.json")) == "unknown_symbol"


# ---------------------------------------------------------------------- real 2022 capture


def capture_frames() -> list[tuple[int, str]]:
    """Received frames of the cryptofeed OKX capture: `<ts>: <json>` lines."""
    assert CAPTURE.exists(), f"{CAPTURE} is missing: the real-data test cannot run"
    frames = []
    for line in CAPTURE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith(("wss://", "ws://")):
            continue  # connect (`<->`) and sent (`<-`) lines carry the URL first
        stamp, _, body = line.partition(": ")
        seconds, _, fraction = stamp.partition(".")
        frames.append((int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9]), body))
    return frames


def uni(body: str, channel: str) -> bool:
    """A data frame (not an ack) of the UNI-USD-SWAP inverse perpetual."""
    return f'"channel":"{channel}","instId":"UNI-USD-SWAP"' in body and '"data":' in body


def okx_checksum(bids: dict[float, list[str]], asks: dict[float, list[str]]) -> int:
    """OKX's (pre-2026) CRC32 over the top 25 levels, bid and ask interleaved."""
    best_bids = [bids[p] for p in sorted(bids, reverse=True)[:25]]
    best_asks = [asks[p] for p in sorted(asks)[:25]]
    parts: list[str] = []
    for i in range(max(len(best_bids), len(best_asks))):
        for side in (best_bids, best_asks):
            if i < len(side):
                parts += side[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 2**32 if crc >= 2**31 else crc


def apply_ours(book: dict[float, float], levels: tuple[tuple[float, float], ...]) -> None:
    for price, size in levels:
        if size > 0:
            book[price] = size
        else:
            book.pop(price, None)


def apply_venue(book: dict[float, list[str]], levels: list[list[str]]) -> None:
    for level in levels:
        if float(level[1]) > 0:
            book[float(level[0])] = level
        else:
            book.pop(float(level[0]), None)


def check_trade(parsed: Parsed, body: str) -> None:
    (trade,) = parsed.events
    assert isinstance(trade, Trade)
    row = orjson.loads(body)["data"][0]
    # 100 contracts × 10 USD ÷ 5.123 USD per UNI
    assert trade.quantity == pytest.approx(float(row["sz"]) * 10 / float(row["px"]))


def test_capture_uni_usd_swap_books_and_trades_parse_and_chain():
    adapter = OkxAdapter()
    adapter.plan([UNI_USD])
    frames = [(t, b) for t, b in capture_frames() if uni(b, "books") or uni(b, "trades")]
    assert sum(1 for _, b in frames if uni(b, "books")) == 93  # 1 snapshot + 92 updates
    assert len(frames) == 94  # and one trade, all from 2022-05-13

    ours: dict[str, dict[float, float]] = {"bids": {}, "asks": {}}
    venue: dict[str, dict[float, list[str]]] = {"bids": {}, "asks": {}}
    for recv_ns, body in frames:
        parsed = adapter.parse("public-0", body, recv_ns)  # zero rejects: never raises
        if uni(body, "trades"):
            check_trade(parsed, body)
            continue
        (event,) = parsed.events
        assert parsed.streams == ("books:UNI-USD-SWAP",)
        # 2022 frames predate seqId: no sequence, and the old checksum is simply ignored.
        assert event.sequence is None
        message = orjson.loads(body)
        row = message["data"][0]
        assert isinstance(event, BookSnapshot) is (message["action"] == "snapshot")
        if isinstance(event, BookSnapshot):
            for side in ("bids", "asks"):
                ours[side].clear()
                venue[side].clear()
        apply_ours(ours["bids"], event.bids)
        apply_ours(ours["asks"], event.asks)
        apply_venue(venue["bids"], row["bids"])
        apply_venue(venue["asks"], row["asks"])
        # The venue's own checksum proves the delta chain is complete...
        assert okx_checksum(venue["bids"], venue["asks"]) == row["checksum"]
        # ...and the book built from our events is that book, in coins.
        for side, levels in venue.items():
            assert ours[side].keys() == levels.keys()
            for price, level in levels.items():
                assert ours[side][price] == pytest.approx(float(level[1]) * 10 / price)


def test_capture_confirms_uni_usd_swap_face_value_of_ten_usd():
    (body,) = [b for _, b in capture_frames() if uni(b, "tickers")]
    row = orjson.loads(body)["data"][0]
    # vol24h counts contracts, volCcy24h coins: contracts × ctVal / coins = average price.
    implied = float(row["vol24h"]) * 10 / float(row["volCcy24h"])
    assert float(row["low24h"]) < implied < float(row["high24h"])
    with_hundred = float(row["vol24h"]) * 100 / float(row["volCcy24h"])  # BTC's face value
    assert not float(row["low24h"]) < with_hundred < float(row["high24h"])


def test_every_capture_frame_parses_or_is_rejected_cleanly():
    adapter = OkxAdapter()
    adapter.plan([UNI_USD])
    outcomes: dict[str, int] = {}
    for recv_ns, body in capture_frames():
        try:
            parsed = adapter.parse("public-0", body, recv_ns)
            outcome = "events" if parsed.events else "silent"
        except FeedDecodeError as error:
            outcome = error.reason
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Spot and dated-future frames are not planned; `tickers` is not a channel we use.
    assert set(outcomes) == {"events", "silent", "unknown_symbol", "unknown_message"}
    assert outcomes["silent"] == 18  # the subscription acks


# ---------------------------------------------------------------------- fake venue


def test_fake_venue_answers_like_okx():
    script = Script(now_ms=lambda: 1_786_540_471_000)
    assert script.venue == "okx"
    assert script.greeting == ()
    assert {"BTC-USDT-SWAP", "ETH-USDT-SWAP"} <= set(script.symbols)
    assert script.replies("ping") == ["pong"]
    assert script.replies("garbage") == []
    adapter = OkxAdapter()
    (plan,) = adapter.plan(adapter.parse_instruments(script.rest[INSTRUMENTS_PATH]))
    replies = script.replies(plan.subscribe[0])
    acks = [orjson.loads(r) for r in replies if '"event"' in r]
    assert len(acks) == len(orjson.loads(plan.subscribe[0])["args"])
    assert all(a["event"] == "subscribe" and a["connId"] == "a4d3ae55" for a in acks)
    snapshots = [r for r in replies if '"action":"snapshot"' in r]
    assert len(snapshots) == len(script.symbols)
    for reply in replies:
        assert adapter.parse("public-0", reply, RECV).replies == ()
    assert script.replies(plan.subscribe[0].replace('"books"', '"books-l2-tbt"'))
    with pytest.raises(FeedDecodeError) as info:
        adapter.parse(
            "public-0",
            script.replies(
                '{"id":"7","op":"subscribe","args":[{"channel":"liquidation-orders","instId":"X"}]}'
            )[0],
            RECV,
        )
    assert info.value.reason == "venue_error"
    assert "60018" in info.value.detail


def test_fake_venue_instruments_skip_the_contradictory_entry():
    instruments = OkxAdapter().parse_instruments(Script.rest[INSTRUMENTS_PATH])
    assert sorted(i.symbol for i in instruments) == sorted(Script.symbols)


class ChainCheck:
    """The book builder's rules for chained deltas, kept minimal and local to this test."""

    def __init__(self) -> None:
        self.last: int | None = None

    def apply(self, event: BookSnapshot | BookUpdate) -> None:
        if isinstance(event, BookSnapshot):
            self.last = event.sequence
            return
        assert self.last is not None, "delta before snapshot"
        assert event.prev_sequence == self.last, "gap"
        self.last = event.sequence


def test_fake_venue_data_parses_without_rejects_and_books_chain():
    now = 1_786_540_471_000
    script = Script(now_ms=lambda: now)
    adapter = OkxAdapter()
    # The listed linear swaps plus the inverse one `data` can also serve.
    served = adapter.parse_instruments(load("instruments.json"))[:3]
    assert [i.symbol for i in served] == ["BTC-USDT-SWAP", "BTC-USD-SWAP", "ETH-USDT-SWAP"]
    adapter.plan(served)
    kinds: dict[str, set[str]] = {}
    for symbol in (i.symbol for i in served):
        chain = ChainCheck()
        for step in range(61):
            for frame in script.data(symbol, step):
                parsed = adapter.parse("public-0", frame, now * MS)
                assert parsed.streams, frame
                for event in parsed.events:
                    assert event.symbol == symbol
                    kinds.setdefault(symbol, set()).add(type(event).__name__)
                    if isinstance(event, BookSnapshot | BookUpdate):
                        chain.apply(event)
        # A resubscribe after step 60 is answered with a snapshot that the next delta extends.
        (unsub, sub) = adapter.resubscribe("public-0", symbol)
        assert [orjson.loads(r)["event"] for r in script.replies(unsub)] == ["unsubscribe"]
        ack, snapshot = script.replies(sub)
        assert adapter.parse("public-0", ack, now * MS) == Parsed()
        (event,) = adapter.parse("public-0", snapshot, now * MS).events
        assert isinstance(event, BookSnapshot)
        chain.apply(event)
        for frame in script.data(symbol, 61):
            for event in adapter.parse("public-0", frame, now * MS).events:
                if isinstance(event, BookUpdate):
                    chain.apply(event)
    everything = {"MarkPrice", "OpenInterest", "BookSnapshot", "BookUpdate", "Trade"}
    everything |= {"Funding", "Liquidation"}
    assert all(found == everything for found in kinds.values())
    assert set(kinds) == {i.symbol for i in served}


# ---------------------------------------------------------------------- fuzz

FUZZ_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def fuzz_adapter() -> OkxAdapter:
    adapter = OkxAdapter()
    adapter.plan([BTC_USDT, ETH_USDT, BTC_USD, UNI_USD, LTC_FUTURE, BTC_SPOT, IOST])
    return adapter


FUZZ_OKX = fuzz_adapter()


def assert_finite(parsed: Parsed) -> None:
    for event in parsed.events:
        assert_event_finite(event)


def seed_frames() -> list[Any]:
    frames = [load(p.name) for p in sorted(FIXTURES.glob("*.json")) if "instruments" not in p.name]
    script = Script(now_ms=lambda: 1_786_540_471_000)
    frames += [orjson.loads(f) for s in (0, 4, 29, 30) for f in script.data("BTC-USD-SWAP", s)]
    uni_frames = [b for _, b in capture_frames() if uni(b, "books") or uni(b, "trades")]
    frames += [orjson.loads(b) for b in uni_frames[:3]]
    return frames


SEEDS = seed_frames()


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(
        ["", "NaN", "nan", "inf", "-inf", "-1", "0", "1e309", "-0", "abc", "1" * 40, "pong"]
    ),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def check(frame: str | bytes) -> None:
    try:
        parsed = FUZZ_OKX.parse("public-0", frame, RECV)
    except FeedDecodeError:
        return
    assert_finite(parsed)


@FUZZ_SETTINGS
@given(st.one_of(st.text(), st.binary()))
def test_arbitrary_text_and_bytes_only_ever_raise_feed_decode_error(frame):
    check(frame)


@FUZZ_SETTINGS
@given(st.data())
def test_mutated_real_frames_only_ever_raise_feed_decode_error(data):
    frame = copy.deepcopy(data.draw(st.sampled_from(SEEDS)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        candidates = paths(frame)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent = frame
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["delete", "replace", "truncate"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "truncate" and isinstance(parent[path[-1]], list):
            parent[path[-1]] = parent[path[-1]][: data.draw(st.integers(0, 2))]
        else:
            parent[path[-1]] = data.draw(NASTY)
    check(json.dumps(frame))


@FUZZ_SETTINGS
@given(st.sampled_from(SEEDS), st.integers(min_value=0, max_value=400))
def test_truncated_real_frames_only_ever_raise_feed_decode_error(frame, cut):
    text = json.dumps(frame)
    check(text[: cut % (len(text) + 1)])
    check(text.encode()[: cut % (len(text) + 1)])
