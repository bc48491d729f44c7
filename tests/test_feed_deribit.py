"""The Deribit adapter against documentation examples and recorded frames.

No real Deribit capture exists in the shared data; the fixtures are Deribit documentation
examples and frames ccxt recorded (tests/fixtures/deribit/SOURCES.md). Every expected
value below is computed from the fixture by hand, with the arithmetic in the test.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from fake_venues.deribit import INSTRUMENTS_PATH, SYMBOLS, Script
from feed_checks import assert_event_finite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    VenueAdapter,
)
from monitor.feeds.book import BookStatus, OrderBook
from monitor.feeds.deribit import DeribitAdapter, heartbeat_key

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "deribit"
RECV_NS = 1_700_000_000_000_000_000
CONN = "market-0"


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def raw(name: str) -> str:
    return (FIXTURES / name).read_text()


def frame(message: Any) -> str:
    return json.dumps(message)  # not orjson: test frames may hold integers beyond 64 bits


INSTRUMENTS = DeribitAdapter().parse_instruments(load("instruments.json"))
BY_SYMBOL = {i.symbol: i for i in INSTRUMENTS}


@pytest.fixture
def adapter() -> DeribitAdapter:
    planned = DeribitAdapter()
    planned.plan(INSTRUMENTS)
    return planned


def parse(adapter: DeribitAdapter, message: Any) -> Parsed:
    text = message if isinstance(message, str) else frame(message)
    return adapter.parse(CONN, text, RECV_NS)


def reason_of(adapter: DeribitAdapter, message: Any) -> str:
    with pytest.raises(FeedDecodeError) as info:
        parse(adapter, message)
    assert info.value.venue == "deribit"
    assert info.value.reason in FEED_REJECT_REASONS
    return info.value.reason


def ns(ms: int) -> int:
    return ms * 1_000_000


# ---------------------------------------------------------------------------- metadata


def test_adapter_satisfies_the_protocol() -> None:
    implementation: VenueAdapter = DeribitAdapter()
    assert implementation.venue == "deribit"


def test_instruments_request_asks_for_all_futures_in_one_call() -> None:
    request = DeribitAdapter().instruments_request()
    assert request == RestRequest(
        url="https://www.deribit.com/api/v2/public/get_instruments",
        params={"currency": "any", "kind": "future"},
    )
    local = DeribitAdapter(rest_url="http://127.0.0.1:8080/").instruments_request()
    assert local.url == "http://127.0.0.1:8080" + INSTRUMENTS_PATH


def test_parse_instruments_keeps_active_perpetuals_with_units() -> None:
    # BTC-29SEP23 (settlement_period "month") is a dated future: dropped.
    assert [i.symbol for i in INSTRUMENTS] == [
        "BTC-PERPETUAL",
        "ETH-PERPETUAL",
        "BTC_USDC-PERPETUAL",
    ]
    assert BY_SYMBOL["BTC-PERPETUAL"] == Instrument(
        venue="deribit",
        symbol="BTC-PERPETUAL",
        asset="BTC",
        contract_type=ContractType.INVERSE,  # instrument_type "reversed"
        size_unit=SizeUnit.USD,  # amounts are USD face, not 10-USD contracts
        contract_size=1.0,
        tick_size=0.5,
    )
    assert BY_SYMBOL["ETH-PERPETUAL"].asset == "ETH"
    assert BY_SYMBOL["BTC_USDC-PERPETUAL"] == Instrument(
        venue="deribit",
        symbol="BTC_USDC-PERPETUAL",
        asset="BTC",  # base_currency: aggregates with BTC-PERPETUAL, BTCUSDT, ...
        contract_type=ContractType.LINEAR,  # instrument_type "linear"
        size_unit=SizeUnit.BASE,  # amounts in BTC
        contract_size=1.0,
        tick_size=1.0,
    )


def test_parse_instruments_accepts_a_bare_list_and_skips_unknown_kinds() -> None:
    entries = load("instruments.json")["result"]
    inactive = dict(entries[1], instrument_name="OLD-PERPETUAL", is_active=False)
    strange = dict(entries[1], instrument_name="NEW-PERPETUAL", instrument_type="quanto")
    legacy = dict(entries[1], instrument_name="LEG-PERPETUAL", base_currency="leg")
    del legacy["instrument_type"]
    legacy["future_type"] = "reversed"  # deprecated field, still understood
    parsed = DeribitAdapter().parse_instruments([*entries, inactive, strange, legacy])
    assert [i.symbol for i in parsed][-1] == "LEG-PERPETUAL"
    assert parsed[-1].asset == "LEG"
    assert "OLD-PERPETUAL" not in {i.symbol for i in parsed}
    assert "NEW-PERPETUAL" not in {i.symbol for i in parsed}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (load("error_invalid_params.json"), "venue_error"),
        ({"jsonrpc": "2.0", "id": 1}, "missing_field"),
        ({"result": {"not": "a list"}}, "malformed"),
        ({"result": ["not an object"]}, "malformed"),
        ({"result": [{"kind": "future", "settlement_period": "perpetual"}]}, "missing_field"),
        (
            {
                "result": [
                    {
                        "kind": "future",
                        "settlement_period": "perpetual",
                        "instrument_name": "X-PERPETUAL",
                        "instrument_type": "reversed",
                        "base_currency": "X",
                        "tick_size": -1,
                    }
                ]
            },
            "non_positive_price",
        ),
        ("nonsense", "malformed"),
    ],
)
def test_parse_instruments_rejects_bad_payloads(payload: Any, reason: str) -> None:
    with pytest.raises(FeedDecodeError) as info:
        DeribitAdapter().parse_instruments(payload)
    assert info.value.reason == reason


# ---------------------------------------------------------------------------- plan

SUBSCRIBE_ALL = (
    '{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":['
    '"ticker.BTC-PERPETUAL.100ms","trades.BTC-PERPETUAL.100ms","book.BTC-PERPETUAL.100ms",'
    '"ticker.ETH-PERPETUAL.100ms","trades.ETH-PERPETUAL.100ms","book.ETH-PERPETUAL.100ms",'
    '"ticker.BTC_USDC-PERPETUAL.100ms","trades.BTC_USDC-PERPETUAL.100ms",'
    '"book.BTC_USDC-PERPETUAL.100ms"]}}'
)


def test_plan_one_connection_with_heartbeat_and_every_stream() -> None:
    plans = DeribitAdapter().plan(INSTRUMENTS)
    assert plans == [
        ConnectionPlan(
            name="market-0",
            url="wss://www.deribit.com/ws/api/v2",
            subscribe=(
                '{"jsonrpc":"2.0","id":9000,"method":"public/set_heartbeat",'
                '"params":{"interval":15}}',
                SUBSCRIBE_ALL,
            ),
            streams=(
                Stream("heartbeat@market-0", 45.0),
                Stream("ticker:BTC-PERPETUAL", 5.0),
                Stream("trades:BTC-PERPETUAL", None),  # liquidations ride here: silence is normal
                Stream("book:BTC-PERPETUAL", 15.0),
                Stream("ticker:ETH-PERPETUAL", 5.0),
                Stream("trades:ETH-PERPETUAL", None),
                Stream("book:ETH-PERPETUAL", 15.0),
                Stream("ticker:BTC_USDC-PERPETUAL", 5.0),
                Stream("trades:BTC_USDC-PERPETUAL", None),
                Stream("book:BTC_USDC-PERPETUAL", 15.0),
            ),
            keepalive=Keepalive(
                '{"jsonrpc":"2.0","id":9001,"method":"public/test","params":{}}', 15.0
            ),
            max_lifetime_s=None,
        )
    ]


def test_plan_uses_the_given_url_and_ignores_other_venues() -> None:
    other = Instrument(
        venue="binance",
        symbol="BTCUSDT",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.BASE,
    )
    plans = DeribitAdapter(ws_url="ws://127.0.0.1:9999", heartbeat_interval_s=30).plan(
        [other, BY_SYMBOL["BTC-PERPETUAL"]]
    )
    assert [p.url for p in plans] == ["ws://127.0.0.1:9999"]
    assert '"interval":30' in plans[0].subscribe[0]
    assert plans[0].keepalive is not None
    assert plans[0].keepalive.interval_s == 30.0
    assert plans[0].streams[0] == Stream("heartbeat@market-0", 90.0)  # 3 intervals
    assert all("BTCUSDT" not in s.key for s in plans[0].streams)
    assert DeribitAdapter().plan([other]) == []


def test_heartbeat_interval_below_the_venue_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10 s"):
        DeribitAdapter(heartbeat_interval_s=5)


def test_plan_splits_connections_and_subscribe_frames() -> None:
    template = BY_SYMBOL["BTC_USDC-PERPETUAL"]
    many = [dataclasses.replace(template, symbol=f"C{n}_USDC-PERPETUAL") for n in range(120)]
    plans = DeribitAdapter().plan(many)
    assert [p.name for p in plans] == ["market-0", "market-1", "market-2"]
    assert [len(p.streams) for p in plans] == [1 + 150, 1 + 150, 1 + 60]
    first = plans[0]
    batches = [orjson.loads(f)["params"]["channels"] for f in first.subscribe[1:]]
    assert [len(b) for b in batches] == [100, 50]  # at most 100 channels a request
    assert [orjson.loads(f)["id"] for f in first.subscribe] == [9000, 1, 2]
    for plan in plans:  # every silent (liquidation) stream shares a watched connection
        assert any(s.stale_after_s is not None for s in plan.streams)
        keys = [s.key for s in plan.streams]
        assert len(keys) == len(set(keys))


def test_plan_streams_are_the_keys_frames_report(adapter: DeribitAdapter) -> None:
    planned = {s.key for p in adapter.plan(INSTRUMENTS) for s in p.streams}
    for name in (
        "ticker_btc_perpetual.json",
        "trades_btc_usdc_perpetual.json",
        "book_snapshot_btc_perpetual.json",
        "heartbeat.json",
    ):
        assert set(parse(adapter, raw(name)).streams) <= planned


# ---------------------------------------------------------------------------- ticker


def test_ticker_inverse_converts_usd_open_interest_at_mark(adapter: DeribitAdapter) -> None:
    parsed = parse(adapter, raw("ticker_btc_perpetual.json"))
    ts = ns(1623060194301)
    header = {"venue": "deribit", "symbol": "BTC-PERPETUAL", "ts_event_ns": ts}
    assert parsed == Parsed(
        events=(
            MarkPrice(**header, ts_recv_ns=RECV_NS, mark_price=36446.51, index_price=36441.64),
            # open_interest 502,097,590 USD / mark 36,446.51 USD per BTC = 13,776.287 BTC
            OpenInterest(**header, ts_recv_ns=RECV_NS, open_interest=502097590 / 36446.51),
            Funding(**header, ts_recv_ns=RECV_NS, rate=0.0),  # current_funding 0
        ),
        streams=("ticker:BTC-PERPETUAL",),
    )
    assert parsed.events[1].open_interest == pytest.approx(13_776.287, abs=1e-3)


def test_ticker_linear_open_interest_is_already_coin(adapter: DeribitAdapter) -> None:
    parsed = parse(adapter, raw("ticker_btc_usdc_perpetual.json"))
    ts = ns(1655393725041)
    header = {"venue": "deribit", "symbol": "BTC_USDC-PERPETUAL", "ts_event_ns": ts}
    assert parsed.events == (
        MarkPrice(**header, ts_recv_ns=RECV_NS, mark_price=21109.555, index_price=21122.3937),
        OpenInterest(**header, ts_recv_ns=RECV_NS, open_interest=164.501),  # BTC, as sent
        Funding(**header, ts_recv_ns=RECV_NS, rate=-0.00010782),
    )
    assert parsed.streams == ("ticker:BTC_USDC-PERPETUAL",)


def test_ticker_optional_fields(adapter: DeribitAdapter) -> None:
    message = load("ticker_btc_perpetual.json")
    data = message["params"]["data"]
    del data["current_funding"]  # falls back to funding_8h
    data["index_price"] = None
    del data["open_interest"]
    events = parse(adapter, message).events
    assert [type(e) for e in events] == [MarkPrice, Funding]
    assert events[0].index_price is None
    assert events[1].rate == 2.11e-05
    del data["funding_8h"]
    assert [type(e) for e in parse(adapter, message).events] == [MarkPrice]


# ---------------------------------------------------------------------------- trades


def test_trade_inverse_amount_is_usd_face(adapter: DeribitAdapter) -> None:
    parsed = parse(adapter, raw("trades_btc_perpetual.json"))
    assert parsed == Parsed(
        events=(
            Trade(
                venue="deribit",
                symbol="BTC-PERPETUAL",
                ts_event_ns=ns(1590484512188),
                ts_recv_ns=RECV_NS,
                price=8950.0,
                quantity=10 / 8950,  # 10 USD at 8,950 USD/BTC = 0.0011173 BTC
                aggressor=Aggressor.SELL,  # direction is the taker's
            ),
        ),
        streams=("trades:BTC-PERPETUAL",),
    )


def test_trade_linear_amount_is_coin(adapter: DeribitAdapter) -> None:
    (trade,) = parse(adapter, raw("trades_btc_usdc_perpetual.json")).events
    assert trade == Trade(
        venue="deribit",
        symbol="BTC_USDC-PERPETUAL",
        ts_event_ns=ns(1655397355998),
        ts_recv_ns=RECV_NS,
        price=21026.0,
        quantity=0.049,  # BTC, as sent
        aggressor=Aggressor.BUY,
    )


def test_taker_liquidated_selling_was_long(adapter: DeribitAdapter) -> None:
    # liquidation "T", direction "sell": the taker sold to close -> a long died.
    trade, liquidation = parse(adapter, raw("trades_liquidation_taker.json")).events
    assert isinstance(trade, Trade)
    assert liquidation == Liquidation(
        venue="deribit",
        symbol="BTC-PERPETUAL",
        ts_event_ns=ns(1590484512188),
        ts_recv_ns=RECV_NS,
        side=Side.LONG,
        price=8950.0,
        quantity=10 / 8950,
    )


def test_maker_liquidated_against_a_taker_buy_was_long(adapter: DeribitAdapter) -> None:
    # liquidation "M", direction "buy": the maker sold into the taker's buy -> a long died.
    trade, liquidation = parse(adapter, raw("trades_liquidation_maker.json")).events
    assert trade == Trade(
        venue="deribit",
        symbol="ETH-PERPETUAL",
        ts_event_ns=ns(1590479408216),
        ts_recv_ns=RECV_NS,
        price=203.6,
        quantity=10 / 203.6,  # 10 USD at 203.6 USD/ETH = 0.049116 ETH
        aggressor=Aggressor.BUY,
    )
    assert isinstance(liquidation, Liquidation)
    assert liquidation.side is Side.LONG
    assert liquidation.quantity == 10 / 203.6
    assert liquidation.notional_usd == pytest.approx(10.0)  # the USD face, back again


def test_both_sides_liquidated_gives_a_long_and_a_short(adapter: DeribitAdapter) -> None:
    # liquidation "MT", direction "sell": the taker (seller) was long, the maker short.
    trade, taker, maker = parse(adapter, raw("trades_liquidation_both.json")).events
    assert isinstance(trade, Trade)
    assert (taker.side, maker.side) == (Side.LONG, Side.SHORT)
    assert taker.quantity == maker.quantity == 100 / 8767.08  # 0.011406 BTC each


@pytest.mark.parametrize(
    ("direction", "flag", "sides"),
    [
        ("sell", "T", [Side.LONG]),
        ("buy", "T", [Side.SHORT]),
        ("buy", "M", [Side.LONG]),
        ("sell", "M", [Side.SHORT]),
        ("sell", "MT", [Side.LONG, Side.SHORT]),
        ("buy", "MT", [Side.SHORT, Side.LONG]),
        ("buy", None, []),
    ],
)
def test_liquidation_side_is_the_liquidated_position_side(
    adapter: DeribitAdapter, direction: str, flag: str | None, sides: list[Side]
) -> None:
    message = load("trades_btc_usdc_perpetual.json")
    trade = message["params"]["data"][0]
    trade["direction"] = direction
    if flag is not None:
        trade["liquidation"] = flag
    events = parse(adapter, message).events
    assert events[0].aggressor == Aggressor(direction)
    assert [e.side for e in events[1:]] == sides
    assert all(e.quantity == 0.049 and e.price == 21026.0 for e in events[1:])


def test_a_batch_of_trades_and_an_empty_batch(adapter: DeribitAdapter) -> None:
    message = load("trades_btc_perpetual.json")
    first = message["params"]["data"][0]
    message["params"]["data"] = [first, dict(first, price=8951, liquidation="T")]
    assert [type(e) for e in parse(adapter, message).events] == [Trade, Trade, Liquidation]
    message["params"]["data"] = []
    assert parse(adapter, message) == Parsed(streams=("trades:BTC-PERPETUAL",))


# ---------------------------------------------------------------------------- book


def test_book_snapshot_inverse_levels_convert_at_their_price(adapter: DeribitAdapter) -> None:
    parsed = parse(adapter, raw("book_snapshot_btc_perpetual.json"))
    assert parsed == Parsed(
        events=(
            BookSnapshot(
                venue="deribit",
                symbol="BTC-PERPETUAL",
                ts_event_ns=ns(1554373962454),
                ts_recv_ns=RECV_NS,
                # 30 USD at 5,042.34 = 0.00594962 BTC, and so on
                bids=((5042.34, 30 / 5042.34), (5041.94, 20 / 5041.94)),
                asks=((5042.64, 40 / 5042.64), (5043.3, 40 / 5043.3)),
                sequence=297217,  # change_id
            ),
        ),
        streams=("book:BTC-PERPETUAL",),
    )


def test_book_change_deletes_are_zero_and_chain_by_prev_change_id(
    adapter: DeribitAdapter,
) -> None:
    (update,) = parse(adapter, raw("book_change_btc_perpetual.json")).events
    assert update == BookUpdate(
        venue="deribit",
        symbol="BTC-PERPETUAL",
        ts_event_ns=ns(1554373911330),
        ts_recv_ns=RECV_NS,
        bids=((5041.94, 0.0), (5042.34, 0.0)),
        asks=(),
        sequence=297218,
        prev_sequence=297217,
        first_sequence=297217,  # = prev_change_id, see test_book_builder_*
    )


def test_book_linear_levels_are_coin(adapter: DeribitAdapter) -> None:
    (snapshot,) = parse(adapter, raw("book_snapshot_btc_usdc_perpetual.json")).events
    assert snapshot.bids == ((20987.0, 0.487), (20986.0, 0.238))
    assert snapshot.asks == ((20999.0, 0.092), (21000.0, 1.238))
    assert snapshot.sequence == 1550694837
    (update,) = parse(adapter, raw("book_change_btc_usdc_perpetual.json")).events
    assert update.bids == ((20977.0, 0.109), (20975.0, 0.0))
    assert (update.prev_sequence, update.sequence) == (1550724481, 1550724483)


def test_book_snapshot_is_sorted_and_drops_empty_levels(adapter: DeribitAdapter) -> None:
    message = load("book_snapshot_btc_usdc_perpetual.json")
    data = message["params"]["data"]
    data["bids"] = [["new", 20986, 0.238], ["new", 20987, 0.487], ["new", 20980, 0]]
    (snapshot,) = parse(adapter, message).events
    assert snapshot.bids == ((20987.0, 0.487), (20986.0, 0.238))


def test_book_type_inferred_from_prev_change_id_when_absent(adapter: DeribitAdapter) -> None:
    snapshot = load("book_snapshot_btc_perpetual.json")
    del snapshot["params"]["data"]["type"]
    change = load("book_change_btc_perpetual.json")
    del change["params"]["data"]["type"]
    assert isinstance(parse(adapter, snapshot).events[0], BookSnapshot)
    assert isinstance(parse(adapter, change).events[0], BookUpdate)


def test_book_builder_follows_the_deribit_chain(adapter: DeribitAdapter) -> None:
    book = OrderBook()
    (snapshot,) = parse(adapter, raw("book_snapshot_btc_perpetual.json")).events
    assert book.apply_snapshot(snapshot) is BookStatus.APPLIED
    (update,) = parse(adapter, raw("book_change_btc_perpetual.json")).events
    assert book.apply_update(update) is BookStatus.APPLIED
    assert book.levels == (0, 2)  # both bids deleted
    message = load("book_change_btc_perpetual.json")
    message["params"]["data"].update(prev_change_id=297218, change_id=297219)
    assert book.apply_update(parse(adapter, message).events[0]) is BookStatus.APPLIED
    message["params"]["data"].update(prev_change_id=297225, change_id=297226)  # lost frames
    assert book.apply_update(parse(adapter, message).events[0]) is BookStatus.GAP


def test_book_builder_drops_deltas_older_than_a_fresh_snapshot(adapter: DeribitAdapter) -> None:
    # After a resubscribe, deltas of the old subscription may still arrive: with
    # first_sequence = prev_change_id they are stale, not a gap.
    book = OrderBook()
    (snapshot,) = parse(adapter, raw("book_snapshot_btc_perpetual.json")).events  # 297217
    book.apply_snapshot(snapshot)
    old = load("book_change_btc_perpetual.json")
    old["params"]["data"].update(prev_change_id=297200, change_id=297201)
    assert book.apply_update(parse(adapter, old).events[0]) is BookStatus.STALE
    (update,) = parse(adapter, raw("book_change_btc_perpetual.json")).events  # 297217->297218
    assert book.apply_update(update) is BookStatus.APPLIED
    assert book.synced


def test_resubscribe_asks_for_a_fresh_book_snapshot(adapter: DeribitAdapter) -> None:
    assert adapter.resubscribe(CONN, "ETH-PERPETUAL") == (
        '{"jsonrpc":"2.0","id":9003,"method":"public/unsubscribe",'
        '"params":{"channels":["book.ETH-PERPETUAL.100ms"]}}',
        '{"jsonrpc":"2.0","id":9004,"method":"public/subscribe",'
        '"params":{"channels":["book.ETH-PERPETUAL.100ms"]}}',
    )
    assert adapter.book_snapshot_request("ETH-PERPETUAL") is None
    assert adapter.parse_book_snapshot("ETH-PERPETUAL", {}, RECV_NS) == Parsed()
    assert adapter.poll_requests(INSTRUMENTS) == []
    assert adapter.parse_poll({}, RECV_NS) == Parsed()


# ---------------------------------------------------------------------------- protocol

TEST_REPLY = '{"jsonrpc":"2.0","id":9002,"method":"public/test","params":{}}'


def test_test_request_is_answered_with_public_test(adapter: DeribitAdapter) -> None:
    parsed = parse(adapter, raw("heartbeat_test_request.json"))
    assert parsed == Parsed(streams=("heartbeat@market-0",), replies=(TEST_REPLY,))
    assert parse(adapter, raw("heartbeat.json")) == Parsed(streams=("heartbeat@market-0",))
    # Works for a connection the adapter did not plan (a replay, a renamed connection).
    other = adapter.parse("elsewhere", raw("heartbeat_test_request.json"), RECV_NS)
    assert other == Parsed(streams=(heartbeat_key("elsewhere"),), replies=(TEST_REPLY,))


def test_acks_prove_nothing_but_answers_to_our_tests_do(adapter: DeribitAdapter) -> None:
    for name in ("subscribe_ack.json", "set_heartbeat_ack.json", "test_answer.json"):
        assert parse(adapter, raw(name)) == Parsed()
    answer = load("test_answer.json")
    answer["id"] = 9001  # the keep-alive's own id (the docs example uses 8212)
    assert parse(adapter, answer) == Parsed(streams=("heartbeat@market-0",))
    answer["id"] = 9002  # our answer to a test_request, answered in turn
    assert parse(adapter, answer).streams == ("heartbeat@market-0",)
    ack = load("subscribe_ack.json")
    ack["id"] = 9001  # a list result under the keep-alive id is still just an ack
    assert parse(adapter, ack) == Parsed()


@pytest.mark.parametrize("name", ["error_raw_unauthorized.json", "error_invalid_params.json"])
def test_error_frames_are_venue_errors(adapter: DeribitAdapter, name: str) -> None:
    with pytest.raises(FeedDecodeError) as info:
        parse(adapter, raw(name))
    assert info.value.reason == "venue_error"
    assert str(load(name)["error"]["code"]) in info.value.detail


def test_bytes_frames_are_accepted(adapter: DeribitAdapter) -> None:
    text = raw("ticker_btc_perpetual.json")
    assert adapter.parse(CONN, text.encode(), RECV_NS) == parse(adapter, text)


# ---------------------------------------------------------------------------- rejects


def ticker_with(**changes: Any) -> dict[str, Any]:
    message = load("ticker_btc_perpetual.json")
    for key, value in changes.items():
        if value is DELETE:
            del message["params"]["data"][key]
        else:
            message["params"]["data"][key] = value
    return message


def trade_with(**changes: Any) -> dict[str, Any]:
    message = load("trades_btc_perpetual.json")
    trade = message["params"]["data"][0]
    for key, value in changes.items():
        if value is DELETE:
            del trade[key]
        else:
            trade[key] = value
    return message


def book_with(name: str = "book_change_btc_perpetual.json", **changes: Any) -> dict[str, Any]:
    message = load(name)
    data = message["params"]["data"]
    for key, value in changes.items():
        if value is DELETE:
            del data[key]
        else:
            data[key] = value
    return message


DELETE = object()
TICKER_CHANNEL = "ticker.BTC-PERPETUAL.100ms"

BAD_FRAMES: list[tuple[str, Any, str]] = [
    ("not json", "{not json", "malformed"),
    ("truncated", raw("ticker_btc_perpetual.json")[:-7], "malformed"),
    ("NaN literal", '{"jsonrpc":"2.0","method":"subscription","params":NaN}', "malformed"),
    ("array", "[1, 2]", "malformed"),
    ("string", '"hello"', "malformed"),
    ("params not object", {"method": "subscription", "params": [1]}, "malformed"),
    ("no channel", {"method": "subscription", "params": {"data": {}}}, "malformed"),
    ("channel not str", {"method": "subscription", "params": {"channel": 5}}, "malformed"),
    ("no data", {"method": "subscription", "params": {"channel": TICKER_CHANNEL}}, "missing_field"),
    (
        "ticker data list",
        {"method": "subscription", "params": {"channel": TICKER_CHANNEL, "data": []}},
        "malformed",
    ),
    (
        "trades data object",
        {"method": "subscription", "params": {"channel": "trades.BTC-PERPETUAL.100ms", "data": {}}},
        "malformed",
    ),
    (
        "unknown channel",
        {"method": "subscription", "params": {"channel": "chart.trades.BTC-PERPETUAL.1"}},
        "unknown_message",
    ),
    (
        "unknown instrument",
        {"method": "subscription", "params": {"channel": "ticker.SOL_USDC-PERPETUAL.100ms"}},
        "unknown_symbol",
    ),
    (
        "raw channel never subscribed",
        {"method": "subscription", "params": {"channel": "ticker.BTC-PERPETUAL.raw"}},
        "unknown_symbol",
    ),
    (
        "unknown method",
        {"jsonrpc": "2.0", "method": "announcements", "params": {}},
        "unknown_message",
    ),
    ("nothing", {"jsonrpc": "2.0"}, "unknown_message"),
    ("heartbeat params", {"method": "heartbeat", "params": "x"}, "malformed"),
    ("heartbeat type", {"method": "heartbeat", "params": {"type": "ping"}}, "unknown_message"),
    ("error", load("error_raw_unauthorized.json"), "venue_error"),
    ("error string", {"jsonrpc": "2.0", "id": 1, "error": "boom"}, "venue_error"),
    ("mark missing", ticker_with(mark_price=DELETE), "missing_field"),
    ("timestamp missing", ticker_with(timestamp=DELETE), "missing_field"),
    ("mark text", ticker_with(mark_price="abc"), "bad_type"),
    ("mark bool", ticker_with(mark_price=True), "bad_type"),
    ("mark null", ticker_with(mark_price=None), "bad_type"),
    ("mark NaN string", ticker_with(mark_price="NaN"), "non_finite"),
    ("mark inf string", ticker_with(mark_price="-Infinity"), "non_finite"),
    ("mark zero", ticker_with(mark_price=0), "non_positive_price"),
    ("mark negative", ticker_with(mark_price=-36446.51), "non_positive_price"),
    ("index negative", ticker_with(index_price=-1), "non_positive_price"),
    ("index text", ticker_with(index_price="x"), "bad_type"),
    ("oi negative", ticker_with(open_interest=-5), "negative_size"),
    ("oi NaN", ticker_with(open_interest="nan"), "non_finite"),
    ("funding text", ticker_with(current_funding="high"), "bad_type"),
    ("timestamp 1970", ticker_with(timestamp=5), "bad_timestamp"),
    ("timestamp far future", ticker_with(timestamp=10**20), "bad_timestamp"),
    ("timestamp text", ticker_with(timestamp="soon"), "bad_timestamp"),
    ("timestamp bool", ticker_with(timestamp=True), "bad_timestamp"),
    ("trade price zero", trade_with(price=0), "non_positive_price"),
    ("trade amount negative", trade_with(amount=-10), "negative_size"),
    ("trade amount zero", trade_with(amount=0), "zero_size"),
    ("trade amount missing", trade_with(amount=DELETE), "missing_field"),
    ("trade direction missing", trade_with(direction=DELETE), "missing_field"),
    ("trade direction odd", trade_with(direction="up"), "bad_type"),
    ("trade liquidation odd", trade_with(liquidation="X"), "bad_type"),
    (
        "trade not object",
        {
            "method": "subscription",
            "params": {"channel": "trades.BTC-PERPETUAL.100ms", "data": [7]},
        },
        "malformed",
    ),
    ("trade huge amount", trade_with(amount=1e308, price=1e-300), "non_finite"),
    ("book action odd", book_with(bids=[["move", 5041.94, 1]]), "bad_type"),
    ("book level short", book_with(bids=[["new", 5041.94]]), "malformed"),
    ("book level object", book_with(bids=[{"price": 1}]), "malformed"),
    ("book side not list", book_with(asks="none"), "malformed"),
    ("book side missing", book_with(asks=DELETE), "missing_field"),
    ("book price zero", book_with(bids=[["new", 0, 1]]), "non_positive_price"),
    ("book price text", book_with(bids=[["new", "x", 1]]), "bad_type"),
    ("book amount negative", book_with(bids=[["change", 5041.94, -1]]), "negative_size"),
    ("book amount NaN", book_with(bids=[["change", 5041.94, "NaN"]]), "non_finite"),
    ("book change_id negative", book_with(change_id=-1), "bad_sequence"),
    ("book change_id float", book_with(change_id=297218.5), "bad_sequence"),
    ("book change_id text", book_with(change_id="297218"), "bad_sequence"),
    ("book change_id huge", book_with(change_id=2**70), "bad_sequence"),
    ("book prev missing", book_with(prev_change_id=DELETE), "missing_field"),
    ("book type odd", book_with(type="partial"), "bad_type"),
    (
        "snapshot crossed",
        book_with("book_snapshot_btc_perpetual.json", bids=[["new", 5050, 1]]),
        "crossed_book",
    ),
    (
        "snapshot duplicate price",
        book_with("book_snapshot_btc_perpetual.json", bids=[["new", 5000, 1], ["new", 5000, 2]]),
        "unsorted_levels",
    ),
]


@pytest.mark.parametrize(
    ("message", "reason"), [(m, r) for _, m, r in BAD_FRAMES], ids=[n for n, _, _ in BAD_FRAMES]
)
def test_bad_frames_are_rejected_with_their_reason(
    adapter: DeribitAdapter, message: Any, reason: str
) -> None:
    assert reason_of(adapter, message) == reason


def test_a_bad_receive_time_is_a_bad_timestamp(adapter: DeribitAdapter) -> None:
    with pytest.raises(FeedDecodeError) as info:
        adapter.parse(CONN, raw("ticker_btc_perpetual.json"), -1)
    assert info.value.reason == "bad_timestamp"


def test_frames_before_plan_are_unknown_symbols() -> None:
    with pytest.raises(FeedDecodeError) as info:
        DeribitAdapter().parse(CONN, raw("ticker_btc_perpetual.json"), RECV_NS)
    assert info.value.reason == "unknown_symbol"


# ---------------------------------------------------------------------------- fuzz

FRAME_FILES = sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "instruments.json")
NASTY = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["", "NaN", "nan", "Infinity", "-inf", "1e999", "abc", "0", "-1", "new"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 0.0, -0.0, 1e308, -1e308, 5e-324, 2**63, 2**64]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(max_size=8),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a decoded frame."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated_frames(draw: st.DrawFn) -> str:
    message = copy.deepcopy(load(draw(st.sampled_from(FRAME_FILES))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = paths(message)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = message
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "truncate"]))
        if action == "delete":
            del parent[last]
        elif action == "truncate" and isinstance(parent[last], list):
            parent[last] = parent[last][: draw(st.integers(0, max(0, len(parent[last]) - 1)))]
        else:
            parent[last] = draw(NASTY)
    return json.dumps(message)


def assert_finite(parsed: Parsed) -> None:
    for event in parsed.events:
        assert_event_finite(event)
        assert event.venue == "deribit"
        assert event.symbol in BY_SYMBOL


def parse_fuzzed(text: str | bytes) -> None:
    adapter = DeribitAdapter()
    adapter.plan(INSTRUMENTS)
    reason: str | None = None
    try:
        parsed = adapter.parse(CONN, text, RECV_NS)
    except FeedDecodeError as error:
        reason = error.reason
    if reason is not None:
        assert reason in FEED_REJECT_REASONS
        return
    assert isinstance(parsed, Parsed)
    assert_finite(parsed)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    parse_fuzzed(data)


@settings(max_examples=400)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str) -> None:
    parse_fuzzed(text)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames())
def test_fuzz_mutated_real_frames(text: str) -> None:
    parse_fuzzed(text)


@settings(max_examples=300)
@given(st.sampled_from(FRAME_FILES), st.integers(min_value=0, max_value=2000))
def test_fuzz_truncated_frames(name: str, cut: int) -> None:
    text = raw(name)
    parse_fuzzed(text[: cut % max(1, len(text))])


@settings(max_examples=300)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
)
def test_fuzz_parse_instruments_raises_only_decode_errors(payload: Any) -> None:
    with contextlib.suppress(FeedDecodeError):
        instruments = DeribitAdapter().parse_instruments(payload)
        assert all(isinstance(i, Instrument) for i in instruments)


# ---------------------------------------------------------------------------- fake venue


def test_fake_venue_answers_like_deribit() -> None:
    script = Script(now_ms=lambda: 1_700_000_000_000)
    adapter = DeribitAdapter()
    plan = adapter.plan(adapter.parse_instruments(script.rest[INSTRUMENTS_PATH]))[0]
    set_heartbeat, subscribe = (script.replies(f) for f in plan.subscribe)
    assert orjson.loads(set_heartbeat[0])["result"] == "ok"
    ack = orjson.loads(subscribe[0])
    assert ack["id"] == 1
    assert ack["result"] == orjson.loads(plan.subscribe[1])["params"]["channels"]
    assert plan.keepalive is not None
    (pong,) = script.replies(plan.keepalive.frame)
    assert adapter.parse(plan.name, pong, RECV_NS).streams == (heartbeat_key(plan.name),)
    for reply in (*set_heartbeat, *subscribe):  # acks parse to nothing
        assert adapter.parse(plan.name, reply, RECV_NS) == Parsed()
    assert script.replies("not json") == []
    assert script.replies('{"jsonrpc":"2.0","id":7,"method":"private/buy"}') == []
    assert set(script.symbols) == set(SYMBOLS)
    assert script.venue == "deribit"
    assert script.greeting == ()


def test_fake_venue_data_parses_into_every_event_kind() -> None:
    now = 1_700_000_000_000
    script = Script(now_ms=lambda: now)
    adapter = DeribitAdapter()
    plan = adapter.plan(adapter.parse_instruments(script.rest[INSTRUMENTS_PATH]))[0]
    for frame_ in plan.subscribe:
        script.replies(frame_)
    kinds: set[type] = set()
    replies: list[str] = []
    books = {symbol: OrderBook() for symbol in script.symbols}
    marks: dict[str, list[float]] = {symbol: [] for symbol in script.symbols}
    for step in range(120):
        for symbol in script.symbols:
            for text in script.data(symbol, step):
                parsed = adapter.parse(plan.name, text, now * 1_000_000)
                assert_finite(parsed)
                replies += parsed.replies
                for event in parsed.events:
                    kinds.add(type(event))
                    assert event.ts_event_ns == now * 1_000_000
                    if isinstance(event, MarkPrice):
                        marks[event.symbol].append(event.mark_price)
                    if isinstance(event, BookSnapshot):
                        books[event.symbol].apply_snapshot(event)
                    if isinstance(event, BookUpdate):
                        status = books[event.symbol].apply_update(event)
                        assert status is BookStatus.APPLIED, (symbol, step, status)
    assert kinds == {MarkPrice, OpenInterest, Funding, Trade, Liquidation, BookSnapshot, BookUpdate}
    assert replies
    assert set(replies) == {TEST_REPLY}
    assert all(len(set(prices)) > 1 for prices in marks.values())  # prices move with the step
    assert all(book.synced for book in books.values())


def test_fake_venue_resends_a_snapshot_after_resubscribe() -> None:
    script = Script(now_ms=lambda: 1_700_000_000_000, snapshot_every=1_000)
    adapter = DeribitAdapter()
    adapter.plan(adapter.parse_instruments(script.rest[INSTRUMENTS_PATH]))

    def book_type(step: int) -> str:
        book = orjson.loads(script.data("ETH-PERPETUAL", step)[-1])
        return str(book["params"]["data"]["type"])

    assert book_type(1) == "change"
    for reply_frame in adapter.resubscribe("market-0", "ETH-PERPETUAL"):
        assert script.replies(reply_frame)
    assert book_type(2) == "snapshot"
    assert book_type(3) == "change"
