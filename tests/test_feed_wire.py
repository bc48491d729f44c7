"""The shared field readers of monitor/feeds/wire.py: fast path and precise path agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from feed_checks import assert_event_finite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core.venues import ContractType
from monitor.feeds import wire
from monitor.feeds.base import FeedDecodeError, Instrument, Parsed, SizeUnit, VenueAdapter
from monitor.feeds.binance import BinanceAdapter
from monitor.feeds.bybit import BybitAdapter
from monitor.feeds.deribit import DeribitAdapter
from monitor.feeds.hyperliquid import HyperliquidAdapter
from monitor.feeds.okx import OkxAdapter

V = "test"
LINEAR = Instrument(
    venue=V, symbol="X", asset="X", contract_type=ContractType.LINEAR, size_unit=SizeUnit.BASE
)
OKX_LIKE = Instrument(
    venue=V,
    symbol="X",
    asset="X",
    contract_type=ContractType.LINEAR,
    size_unit=SizeUnit.CONTRACTS,
    contract_size=0.01,
)


def reason_of(call: Any) -> str | None:
    try:
        call()
    except FeedDecodeError as error:
        return error.reason
    return None


@pytest.mark.parametrize(
    ("value", "number", "price", "size"),
    [
        ("1.5", 1.5, 1.5, 1.5),
        (2.5, 2.5, 2.5, 2.5),
        (3, 3.0, 3.0, 3.0),
        ("0", 0.0, "non_positive_price", 0.0),
        ("-1", -1.0, "non_positive_price", "negative_size"),
        ("nan", "non_finite", "non_finite", "non_finite"),
        ("inf", "non_finite", "non_finite", "non_finite"),
        ("1e400", "non_finite", "non_finite", "non_finite"),
        (10**400, "non_finite", "non_finite", "non_finite"),
        (True, "bad_type", "bad_type", "bad_type"),
        (False, "bad_type", "bad_type", "bad_type"),
        ("abc", "bad_type", "bad_type", "bad_type"),
        (None, "bad_type", "bad_type", "bad_type"),
        ([1.0], "bad_type", "bad_type", "bad_type"),
    ],
)
def test_number_readers(value: Any, number: Any, price: Any, size: Any) -> None:
    message = {"k": value}
    for reader, expected in ((wire.number, number), (wire.price, price), (wire.size, size)):
        if isinstance(expected, str):
            assert reason_of(lambda r=reader: r(V, message, "k")) == expected
        else:
            result = reader(V, message, "k")
            assert result == expected
            assert type(result) is float
    assert reason_of(lambda: wire.number(V, {}, "k")) == "missing_field"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000_000, 1_700_000_000_000_000_000),
        ("1700000000000", 1_700_000_000_000_000_000),
        (1_700_000_000_000.0, 1_700_000_000_000_000_000),
        (True, "bad_timestamp"),
        (-1, "bad_timestamp"),
        (1, "bad_timestamp"),
        ("²", "bad_timestamp"),
        ("1" * 5000, "bad_timestamp"),  # int() refuses over 4,300 digits: no ValueError
        (float("nan"), "bad_timestamp"),
    ],
)
def test_timestamp_reader(value: Any, expected: Any) -> None:
    if isinstance(expected, str):
        assert reason_of(lambda: wire.timestamp(V, {"t": value}, "t")) == expected
    else:
        assert wire.timestamp(V, {"t": value}, "t") == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-_ .e\u0663", min_size=12, max_size=14))
def test_fast_digit_timestamps_accept_only_what_the_precise_reader_accepts(text: str) -> None:
    assert 10**12 <= wire.EARLIEST_MS <= wire.LATEST_MS < 10**13  # what the fast reader assumes
    fast = wire.fast_digits_ms_to_ns(text)
    if fast is not None:
        assert fast == wire.timestamp(V, {"t": text}, "t")


def test_text_reader() -> None:
    assert wire.text(V, {"s": "BTC"}, "s") == "BTC"
    assert reason_of(lambda: wire.text(V, {"s": ""}, "s")) == "bad_type"
    assert reason_of(lambda: wire.text(V, {"s": 1}, "s")) == "bad_type"
    assert reason_of(lambda: wire.text(V, {}, "s")) == "missing_field"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([["100.5", "2"], [99.5, "0"]], ((100.5, 2.0), (99.5, 0.0))),
        ([[100, 2, 7]], ((100.0, 2.0),)),  # ints, and extra elements, are fine
        ([("100", "1")], ((100.0, 1.0),)),
        ([], ()),
        ([["100", True]], "bad_type"),
        ([[True, "1"]], "bad_type"),
        ([["nan", "1"]], "non_finite"),
        ([["100", "inf"]], "non_finite"),
        ([["0", "1"]], "non_positive_price"),
        ([["100", "-1"]], "negative_size"),
        ([["100"]], "malformed"),
        ([["100", "1"], "x"], "malformed"),
        ({"100": "1"}, "malformed"),
    ],
)
def test_levels_reader(raw: Any, expected: Any) -> None:
    if isinstance(expected, str):
        assert reason_of(lambda: wire.levels(V, raw, "bids", LINEAR)) == expected
    else:
        assert wire.levels(V, raw, "bids", LINEAR) == expected


def test_levels_convert_contracts_to_base() -> None:
    assert wire.levels(V, [["100", "300"]], "bids", OKX_LIKE) == ((100.0, 3.0),)
    assert wire.levels(V, [[100, 300]], "bids", OKX_LIKE) == ((100.0, 3.0),)


# -- msgspec fast paths: same events and same reject reasons as the precise path -------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECV = 1_700_000_000_000 * 1_000_000


def _instrument(venue: str, symbol: str) -> Instrument:
    return Instrument(
        venue=venue,
        symbol=symbol,
        asset=symbol[:3],
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.BASE,
    )


def _binance() -> VenueAdapter:
    adapter = BinanceAdapter()
    adapter.plan([_instrument("binance", "BTCUSDT")])
    return adapter


def _okx() -> VenueAdapter:
    adapter = OkxAdapter()
    linear = Instrument(
        venue="okx",
        symbol="BTC-USDT-SWAP",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.CONTRACTS,
        contract_size=0.01,
    )
    inverse = Instrument(
        venue="okx",
        symbol="BTC-USD-SWAP",
        asset="BTC",
        contract_type=ContractType.INVERSE,
        size_unit=SizeUnit.USD,
        contract_size=100.0,
    )
    adapter.plan([linear, inverse])
    return adapter


def _deribit() -> VenueAdapter:
    adapter = DeribitAdapter()
    inverse = Instrument(
        venue="deribit",
        symbol="BTC-PERPETUAL",
        asset="BTC",
        contract_type=ContractType.INVERSE,
        size_unit=SizeUnit.USD,
    )
    adapter.plan([inverse, _instrument("deribit", "BTC_USDC-PERPETUAL")])
    return adapter


def _bybit() -> VenueAdapter:
    adapter = BybitAdapter()
    adapter.plan([_instrument("bybit", "BTCUSDT"), _instrument("bybit", "ETHUSDT")])
    return adapter


def _bybit_books() -> VenueAdapter:
    adapter = BybitAdapter(book_depth=50)  # the depth of the documentation's examples
    adapter.plan([_instrument("bybit", "BTCUSDT")])
    return adapter


def _hyperliquid() -> VenueAdapter:
    adapter = HyperliquidAdapter()
    adapter.plan([_instrument("hyperliquid", "ETH")])
    return adapter


# (adapter factory, conn, fixture of a frame its fast path takes)
FAST = {
    "binance mark price": (_binance, "market-0", "binance/mark_price_combined.json"),
    "binance depth update": (_binance, "public-0", "binance/depth_update.json"),
    "binance agg trade": (_binance, "market-0", "binance/agg_trade.json"),
    "hyperliquid asset ctx": (_hyperliquid, "market", "hyperliquid/active_asset_ctx.json"),
    "bybit ticker snapshot": (_bybit, "linear-0", "bybit/tickers_snapshot_single_oi.json"),
    "bybit ticker delta": (_bybit, "linear-0", "bybit/tickers_delta_oi.json"),
    "bybit orderbook snapshot": (_bybit_books, "linear-0", "bybit/orderbook_snapshot.json"),
    "bybit orderbook delta": (_bybit_books, "linear-0", "bybit/orderbook_delta.json"),
    "deribit inverse ticker": (_deribit, "deribit-0", "deribit/ticker_btc_perpetual.json"),
    "deribit linear ticker": (_deribit, "deribit-0", "deribit/ticker_btc_usdc_perpetual.json"),
    "okx mark price": (_okx, "public-0", "okx/mark_price_swap.json"),
    "okx open interest": (_okx, "public-0", "okx/open_interest.json"),
    "okx funding": (_okx, "public-0", "okx/funding_rate.json"),
}

FAST_METHOD = {
    "binance": "_fast_mark_price",
    "hyperliquid": "_fast_asset_ctx",
    "okx": "_fast",
    "deribit": "_fast_ticker",
    "bybit": "_fast_ticker",
}
"""The fast path of each venue's entries; `OTHER_FAST_METHOD` names the exceptions."""

OTHER_FAST_METHOD = {
    "binance depth update": "_fast_depth_update",
    "binance agg trade": "_fast_trade",
    "bybit orderbook snapshot": "_fast_book",
    "bybit orderbook delta": "_fast_book",
}

COMBINED = {"binance depth update": "btcusdt@depth@100ms", "binance agg trade": "btcusdt@aggTrade"}
"""Fixtures of a bare Binance event, wrapped in the combined-stream frame our connections get."""


def _payload(name: str) -> Any:
    """The decoded fixture of a FAST entry, as the connection receives it."""
    payload = orjson.loads((FIXTURES / FAST[name][2]).read_bytes())
    if name in COMBINED:
        payload = {"stream": COMBINED[name], "data": payload}
    return payload


NASTY_VALUES = st.sampled_from(
    [
        "nan", "NaN", "inf", "-Infinity", "1e999", "-1", "0", "-0.0", "", " 1.5", "+2", "1_0",
        "1.5e3", "0x10", "12.5", "1562305380000", "1562305380000.5", 1.5, 0, -0.0, -2, 1e308,
        2**63, 1562305380000, 1562305380000.0, None, True, [], {}, "BTCUSDT", "ETH", "x",
        "markPriceUpdate", "activeAssetCtx", "mark-price", "open-interest", "funding-rate",
        "books", "BTC-USD-SWAP", "subscription", "ticker.BTC-PERPETUAL.100ms",
        "book.BTC-PERPETUAL.100ms", "snapshot", "delta", "tickers.ETHUSDT", "tickers.SOLUSDT",
        "1700726400000", "00001700726400000", "²", "1" * 5000,
    ]
)  # fmt: skip


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key or index path into the frame."""
    out = [path] if path else []
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            out += _paths(item, (*path, key))
    return out


def _outcome(adapter: VenueAdapter, conn: str, raw: str | bytes) -> object:
    try:
        return adapter.parse(conn, raw, RECV)
    except FeedDecodeError as error:
        return error.reason


@pytest.mark.parametrize("name", FAST)
def test_fast_path_takes_the_documented_frame(name: str) -> None:
    make, conn, _ = FAST[name]
    text = orjson.dumps(_payload(name)).decode()
    adapter = make()
    fast = getattr(adapter, OTHER_FAST_METHOD.get(name, FAST_METHOD[adapter.venue]))
    args = (conn, text, RECV) if adapter.venue == "bybit" else (text, RECV)
    assert fast(*args) is not None  # the str frame does take the fast path
    parsed = make().parse(conn, text, RECV)
    assert parsed.events
    assert parsed == make().parse(conn, text.encode(), RECV)  # bytes: the precise path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FAST)), st.data())
def test_fast_path_agrees_with_the_precise_path_on_mutated_frames(
    name: str, data: st.DataObject
) -> None:
    """A str frame may take the fast path, bytes never do: both must give the same answer."""
    make, conn, _ = FAST[name]
    payload = _payload(name)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(payload)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(NASTY_VALUES)
    try:
        text = orjson.dumps(payload).decode()
    except orjson.JSONEncodeError:  # 2**63 and the like: not JSON orjson can write
        return
    fast = _outcome(make(), conn, text)  # fresh adapters: Bybit merges ticker state
    precise = _outcome(make(), conn, text.encode())
    assert fast == precise
    if isinstance(fast, Parsed):
        for event in fast.events:
            assert_event_finite(event)


@pytest.mark.parametrize("depth", [1_000, 3_000])
@pytest.mark.parametrize("name", FAST)
def test_deep_nesting_in_an_unread_field_gets_the_precise_paths_answer(
    name: str, depth: int
) -> None:
    """msgspec raises RecursionError past ~994 levels, even in a field it skips; orjson takes
    1,000 and refuses 3,000. Either way the str frame must get what the bytes frame gets."""
    make, conn, _ = FAST[name]
    text = orjson.dumps(_payload(name)).decode()
    text = '{"x":' + "[" * depth + "]" * depth + "," + text[1:]
    assert _outcome(make(), conn, text) == _outcome(make(), conn, text.encode())


@pytest.mark.parametrize("name", FAST)
def test_a_lone_surrogate_in_a_str_frame_is_a_decode_error(name: str) -> None:
    """A str frame can hold what UTF-8 cannot encode; msgspec raised UnicodeEncodeError."""
    make, conn, _ = FAST[name]
    text = '{"x":"\ud800",' + orjson.dumps(_payload(name)).decode()[1:]
    assert isinstance(_outcome(make(), conn, text), str)  # a reject reason, nothing raised


@pytest.mark.parametrize("name", FAST)
def test_the_string_null_gets_the_precise_paths_answer(name: str) -> None:
    """msgspec's lax mode reads "null" as an absent optional field; the precise path rejects
    the wrong type. Every field of the frame in turn holds the string."""
    make, conn, _ = FAST[name]
    payload = _payload(name)
    for path in _paths(payload):
        mutated = orjson.loads(orjson.dumps(payload))
        parent = mutated
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = "null"
        text = orjson.dumps(mutated).decode()
        assert _outcome(make(), conn, text) == _outcome(make(), conn, text.encode()), path
