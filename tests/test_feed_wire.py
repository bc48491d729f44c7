"""The shared field readers of monitor/feeds/wire.py: fast path and precise path agree."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.core.venues import ContractType
from monitor.feeds import wire
from monitor.feeds.base import FeedDecodeError, Instrument, SizeUnit

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
        (float("nan"), "bad_timestamp"),
    ],
)
def test_timestamp_reader(value: Any, expected: Any) -> None:
    if isinstance(expected, str):
        assert reason_of(lambda: wire.timestamp(V, {"t": value}, "t")) == expected
    else:
        assert wire.timestamp(V, {"t": value}, "t") == expected


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
