import gc
import math
import pickle
import re
from collections.abc import Callable
from functools import partial
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core import events
from monitor.core.events import (
    REJECT_REASONS,
    Aggressor,
    BookSnapshot,
    BookUpdate,
    Event,
    FeedGap,
    Funding,
    InvalidEventError,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Side,
    Trade,
)

HEADER: dict[str, Any] = {
    "venue": "binance",
    "symbol": "BTCUSDT",
    "ts_event_ns": 1_700_000_000_000_000_000,
    "ts_recv_ns": 1_700_000_000_005_000_000,
}

VALID: dict[type[Any], dict[str, Any]] = {
    MarkPrice: {"mark_price": 100_000.0, "index_price": 99_990.0},
    OpenInterest: {"open_interest": 80_000.0},
    Liquidation: {"side": Side.LONG, "price": 95_000.0, "quantity": 0.5},
    BookSnapshot: {
        "bids": ((99_999.0, 1.0), (99_998.0, 0.0), (99_990.0, 2.5)),
        "asks": ((100_001.0, 0.7), (100_010.0, 3.0)),
        "sequence": 42,
    },
    BookUpdate: {
        "bids": ((99_990.0, 0.0), (99_995.0, 1.0)),
        "asks": (),
        "sequence": 43,
        "prev_sequence": 42,
    },
    Trade: {"price": 100_000.5, "quantity": 0.01, "aggressor": Aggressor.SELL},
    Funding: {"rate": -0.0001, "next_funding_ns": 1_700_028_800_000_000_000},
}


def make(cls: type[Any], **overrides: Any) -> Any:
    return cls(**{**HEADER, **VALID[cls], **overrides})


@pytest.mark.parametrize("cls", list(VALID))
def test_each_event_constructs_with_valid_fields(cls: type[Any]) -> None:
    event = make(cls)
    for name, value in {**HEADER, **VALID[cls]}.items():
        assert getattr(event, name) == value


def test_optional_fields_default_to_none() -> None:
    assert make(MarkPrice, index_price=None).index_price is None
    assert BookSnapshot(**HEADER, bids=(), asks=()).sequence is None
    update = BookUpdate(**HEADER, bids=(), asks=())
    assert update.sequence is None
    assert update.prev_sequence is None
    assert Funding(**HEADER, rate=0.0).next_funding_ns is None


def test_enums_are_plain_strings() -> None:
    assert Side("long") is Side.LONG
    assert Side("short") is Side.SHORT
    assert Aggressor("buy") is Aggressor.BUY
    assert f"{Side.LONG}/{Aggressor.SELL}" == "long/sell"


def test_liquidation_notional_is_price_times_quantity() -> None:
    liquidation = make(Liquidation, price=95_000.0, quantity=0.5)
    assert liquidation.notional_usd == pytest.approx(47_500.0)


def test_int_numbers_are_accepted() -> None:
    assert make(MarkPrice, mark_price=100_000).mark_price == 100_000


def test_book_update_levels_need_no_order_and_sequences_may_reset() -> None:
    # OKX may reset seqId to a smaller value; only the book builder can judge continuity.
    update = make(BookUpdate, bids=((1.0, 1.0), (2.0, 0.0)), sequence=5, prev_sequence=900)
    assert update.prev_sequence == 900


def test_one_sided_snapshot_is_valid() -> None:
    assert make(BookSnapshot, asks=()).asks == ()


# (class, overrides, expected reason)
INVALID: list[tuple[type[Any], dict[str, Any], str]] = [
    # header
    (MarkPrice, {"venue": ""}, "bad_identifier"),
    (Trade, {"symbol": ""}, "bad_identifier"),
    (Trade, {"venue": None}, "bad_type"),
    (MarkPrice, {"ts_event_ns": -1}, "bad_timestamp"),
    (MarkPrice, {"ts_recv_ns": 1.7e18}, "bad_timestamp"),
    (MarkPrice, {"ts_event_ns": True}, "bad_timestamp"),
    (OpenInterest, {"ts_recv_ns": False}, "bad_timestamp"),
    (Funding, {"ts_event_ns": "1700000000000"}, "bad_timestamp"),
    # prices
    (MarkPrice, {"mark_price": math.nan}, "non_finite"),
    (MarkPrice, {"mark_price": math.inf}, "non_finite"),
    (MarkPrice, {"mark_price": 0.0}, "non_positive_price"),
    (MarkPrice, {"mark_price": -1.0}, "non_positive_price"),
    (MarkPrice, {"index_price": -math.inf}, "non_finite"),
    (MarkPrice, {"index_price": 0.0}, "non_positive_price"),
    (MarkPrice, {"mark_price": "100000"}, "bad_type"),
    (MarkPrice, {"mark_price": True}, "bad_type"),
    (Liquidation, {"price": 0.0}, "non_positive_price"),
    (Trade, {"price": math.nan}, "non_finite"),
    # sizes
    (OpenInterest, {"open_interest": -0.1}, "negative_size"),
    (OpenInterest, {"open_interest": math.nan}, "non_finite"),
    (Liquidation, {"quantity": 0.0}, "zero_size"),
    (Liquidation, {"quantity": -1.0}, "negative_size"),
    (Liquidation, {"quantity": math.inf}, "non_finite"),
    (Trade, {"quantity": 0.0}, "zero_size"),
    (Trade, {"quantity": -0.5}, "negative_size"),
    # enums
    (Liquidation, {"side": "long"}, "bad_type"),
    (Trade, {"aggressor": "buy"}, "bad_type"),
    # funding
    (Funding, {"rate": math.nan}, "non_finite"),
    (Funding, {"next_funding_ns": -5}, "bad_timestamp"),
    (Funding, {"next_funding_ns": True}, "bad_timestamp"),
    # book levels
    (BookSnapshot, {"bids": ((100.0, -1.0),)}, "negative_size"),
    (BookSnapshot, {"asks": ((math.nan, 1.0),)}, "non_finite"),
    (BookSnapshot, {"asks": ((200_000.0, math.inf),)}, "non_finite"),
    (BookSnapshot, {"bids": ((0.0, 1.0),)}, "non_positive_price"),
    (BookSnapshot, {"bids": ((99_990.0, 1.0), (99_999.0, 1.0))}, "unsorted_levels"),
    (BookSnapshot, {"bids": ((99_990.0, 1.0), (99_990.0, 2.0))}, "unsorted_levels"),
    (BookSnapshot, {"asks": ((100_010.0, 1.0), (100_001.0, 1.0))}, "unsorted_levels"),
    (BookSnapshot, {"bids": ((100_001.0, 1.0),)}, "crossed_book"),
    (BookSnapshot, {"bids": ((100_001.0, 1.0),), "asks": ((100_001.0, 1.0),)}, "crossed_book"),
    (BookSnapshot, {"bids": [(99_999.0, 1.0)]}, "bad_type"),
    (BookSnapshot, {"asks": ((100_001.0,),)}, "bad_type"),
    (BookSnapshot, {"asks": ([100_001.0, 1.0],)}, "bad_type"),
    (BookSnapshot, {"sequence": -1}, "bad_sequence"),
    (BookSnapshot, {"sequence": True}, "bad_sequence"),
    (BookUpdate, {"bids": ((100.0, -0.1),)}, "negative_size"),
    (BookUpdate, {"asks": ((-1.0, 1.0),)}, "non_positive_price"),
    (BookUpdate, {"asks": ((math.inf, 1.0),)}, "non_finite"),
    (BookUpdate, {"prev_sequence": -1}, "bad_sequence"),
    (BookUpdate, {"sequence": 1.0}, "bad_sequence"),
]


@pytest.mark.parametrize(
    ("cls", "overrides", "reason"),
    INVALID,
    ids=[f"{c.__name__}-{r}-{i}" for i, (c, _, r) in enumerate(INVALID)],
)
def test_invalid_fields_raise_with_reason(
    cls: type[Any], overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        make(cls, **overrides)
    assert info.value.reason == reason
    assert str(info.value).startswith(f"{reason}: ")
    assert isinstance(info.value, ValueError)


def test_every_reject_reason_is_exercised_and_documented() -> None:
    assert {reason for _, _, reason in INVALID} == set(REJECT_REASONS)
    documented = set(re.findall(r"^- ``(\w+)``:", events.__doc__ or "", flags=re.MULTILINE))
    assert documented == set(REJECT_REASONS)


@pytest.mark.parametrize("cls", list(VALID))
def test_events_are_immutable(cls: type[Any]) -> None:
    event = make(cls)
    with pytest.raises(AttributeError):
        event.venue = "bybit"
    assert not hasattr(event, "__dict__")  # slotted: no stray attributes either


@pytest.mark.parametrize("cls", list(VALID))
def test_events_are_hashable_and_compare_by_value(cls: type[Any]) -> None:
    first, second = make(cls), make(cls)
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1


def test_event_alias_covers_every_event_class() -> None:
    assert set(get_args(Event)) == set(VALID)


HEAD = ("venue", "symbol", "ts_event_ns", "ts_recv_ns")
FIELD_ORDER: dict[type[Any], tuple[str, ...]] = {
    MarkPrice: (*HEAD, "mark_price", "index_price"),
    OpenInterest: (*HEAD, "open_interest"),
    Liquidation: (*HEAD, "side", "price", "quantity"),
    BookSnapshot: (*HEAD, "bids", "asks", "sequence"),
    BookUpdate: (*HEAD, "bids", "asks", "sequence", "prev_sequence", "first_sequence"),
    Trade: (*HEAD, "price", "quantity", "aggressor"),
    Funding: (*HEAD, "rate", "next_funding_ns"),
    FeedGap: (*HEAD, "reason"),
}


@pytest.mark.parametrize("cls", list(FIELD_ORDER))
def test_fields_keep_their_order_and_are_keyword_only(cls: type[Any]) -> None:
    assert tuple(f.name for f in msgspec.structs.fields(cls)) == FIELD_ORDER[cls]
    assert cls.__match_args__ == ()  # keyword-only, as the dataclass events were
    values = [getattr(make(cls), name) for name in FIELD_ORDER[cls]] if cls in VALID else []
    with pytest.raises(TypeError):
        cls(*values)


@pytest.mark.parametrize("cls", list(VALID))
def test_events_pickle_repr_and_match(cls: type[Any]) -> None:
    event = make(cls)
    copy = pickle.loads(pickle.dumps(event))  # noqa: S301 (our own bytes)
    assert copy == event
    assert type(copy) is cls
    shown = ", ".join(f"{name}={getattr(event, name)!r}" for name in FIELD_ORDER[cls])
    assert repr(event) == f"{cls.__name__}({shown})"
    match event:
        case MarkPrice(venue="binance", mark_price=price) | Trade(venue="binance", price=price):
            assert price == getattr(event, FIELD_ORDER[cls][4])
        case BookSnapshot(bids=bids) | BookUpdate(bids=bids):
            assert bids == VALID[cls]["bids"]
        case _:
            assert cls in {OpenInterest, Liquidation, Funding}
    assert not gc.is_tracked(event)  # gc=False: scalars and tuples only, no cycles


def test_replace_and_unpickling_validate_too() -> None:
    event = make(MarkPrice)
    with pytest.raises(InvalidEventError) as info:
        msgspec.structs.replace(event, mark_price=math.nan)
    assert info.value.reason == "non_finite"
    assert msgspec.structs.replace(event, mark_price=2.0).mark_price == 2.0
    rebuild, (cls, state) = event.__reduce__()
    with pytest.raises(InvalidEventError) as info:
        rebuild(cls, {**state, "venue": ""})
    assert info.value.reason == "bad_identifier"


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)


def build(factory: Callable[[], Any]) -> Any:
    """The event, or the rejection reason if construction refused it."""
    try:
        return factory()
    except InvalidEventError as error:
        return error.reason


@given(price=finite_or_not, quantity=finite_or_not)
def test_constructed_trade_and_liquidation_are_always_sane(price: float, quantity: float) -> None:
    for result in (
        build(lambda: Trade(**HEADER, price=price, quantity=quantity, aggressor=Aggressor.BUY)),
        build(lambda: Liquidation(**HEADER, price=price, quantity=quantity, side=Side.SHORT)),
    ):
        if isinstance(result, str):
            assert result in REJECT_REASONS
            continue
        assert math.isfinite(result.price)
        assert result.price > 0
        assert math.isfinite(result.quantity)
        assert result.quantity > 0


@given(
    bids=st.lists(st.tuples(finite_or_not, finite_or_not), max_size=5),
    asks=st.lists(st.tuples(finite_or_not, finite_or_not), max_size=5),
)
def test_constructed_book_levels_are_always_sane(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]]
) -> None:
    for cls in (BookSnapshot, BookUpdate):
        result = build(partial(cls, **HEADER, bids=tuple(bids), asks=tuple(asks)))
        if isinstance(result, str):
            assert result in REJECT_REASONS
            continue
        for price, size in (*result.bids, *result.asks):
            assert math.isfinite(price)
            assert price > 0
            assert math.isfinite(size)
            assert size >= 0


@given(value=finite_or_not)
def test_constructed_open_interest_is_never_negative_or_non_finite(value: float) -> None:
    result = build(lambda: OpenInterest(**HEADER, open_interest=value))
    if isinstance(result, str):
        assert result in {"non_finite", "negative_size"}
    else:
        assert math.isfinite(result.open_interest)
        assert result.open_interest >= 0


# The `new_<event>` factories run the same checks as keyword construction (events.py).
FACTORIES: dict[type[Any], Callable[..., Any]] = {
    MarkPrice: events.new_mark_price,
    OpenInterest: events.new_open_interest,
    Liquidation: events.new_liquidation,
    BookSnapshot: events.new_book_snapshot,
    BookUpdate: events.new_book_update,
    Trade: events.new_trade,
    Funding: events.new_funding,
}


@pytest.mark.parametrize("cls", list(VALID))
def test_factory_builds_the_same_event(cls: type[Any]) -> None:
    fields = {**HEADER, **VALID[cls]}
    event = FACTORIES[cls](**fields)
    assert type(event) is cls
    assert event == cls(**fields)
    with pytest.raises(AttributeError):
        event.venue = "bybit"


@pytest.mark.parametrize(
    ("cls", "overrides", "reason"),
    INVALID,
    ids=[f"{c.__name__}-{r}-{i}" for i, (c, _, r) in enumerate(INVALID)],
)
def test_factory_rejects_what_the_constructor_rejects(
    cls: type[Any], overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        FACTORIES[cls](**{**HEADER, **VALID[cls], **overrides})
    assert info.value.reason == reason


class OddFloat(float):
    """A float subclass: it skips the `type(x) is float` fast path."""


class OddInt(int):
    """An int subclass: it skips the `type(x) is int` fast path."""


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"mark_price": OddFloat("nan")}, "non_finite"),
        ({"mark_price": OddFloat("inf")}, "non_finite"),
        ({"mark_price": OddFloat(-1.0)}, "non_positive_price"),
        ({"index_price": OddFloat(0.0)}, "non_positive_price"),
        ({"index_price": False}, "bad_type"),
        ({"mark_price": 1}, None),  # an int price is valid, as it always was
        ({"mark_price": True}, "bad_type"),
        ({"ts_event_ns": OddInt(-1)}, "bad_timestamp"),
        ({"ts_event_ns": OddInt(5)}, None),
        ({"venue": type("Name", (str,), {})("")}, "bad_identifier"),
    ],
)
def test_values_off_the_fast_path_get_the_precise_checks(
    overrides: dict[str, Any], reason: str | None
) -> None:
    fields = {**HEADER, **VALID[MarkPrice], **overrides}
    for construct in (MarkPrice, events.new_mark_price):
        result = build(partial(construct, **fields))
        if reason is None:
            assert isinstance(result, MarkPrice)
        else:
            assert result == reason


def test_float_subclass_values_are_kept_when_valid() -> None:
    price = OddFloat(100.0)
    assert make(MarkPrice, mark_price=price).mark_price == 100.0
    assert make(OpenInterest, open_interest=OddFloat(0.0)).open_interest == 0.0
    assert make(Funding, rate=OddFloat(-0.5)).rate == -0.5


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        (((100.0, True),), "bad_type"),
        (((True, 1.0),), "bad_type"),
        (((OddFloat("nan"), 1.0),), "non_finite"),
        (((100.0, OddFloat(-1.0)),), "negative_size"),
        (((100, 1),), None),  # ints are valid, just not on the fast path
        (((OddFloat(100.0), 1.0),), None),
    ],
)
def test_book_levels_off_the_fast_path(levels: Any, reason: str | None) -> None:
    for construct in (BookUpdate, events.new_book_update):
        result = build(partial(construct, **HEADER, bids=levels, asks=()))
        if reason is None:
            assert isinstance(result, BookUpdate)
        else:
            assert result == reason
