"""Tardis.dev CSV files and plain tables: detection, every kind, column mapping, bad files.

The Tardis files here are CONSTRUCTED in the tests (made-up numbers in the documented
layout); the plain tables are the real files of ../shared/data/real, plus small constructed
ones for the layouts no real file has (Parquet, a CSV of klines).
"""

from __future__ import annotations

import gzip
import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import orjson
import polars as pl
import pytest
from real_data import REAL_DATA

from monitor.core.events import InvalidEventError, Liquidation, OpenInterest
from monitor.core.venues import ContractType
from monitor.feeds.base import Instrument, SizeUnit
from monitor.replay import minimal_instrument
from monitor.sources import (
    Frame,
    Record,
    SourceError,
    SourceFile,
    TableOptions,
    TableSource,
    book_event,
    merge,
    open_source,
    record_event,
    tables,
)

LIQ_2024_12 = REAL_DATA / "binance_um_btcusdt_liquidations_2024-12"
T0_US = 1_733_000_000_000_000  # 2024-11-30T20:53:20Z, in µs
TICKER_HEADER = (
    "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,"
    "predicted_funding_rate,open_interest,last_price,index_price,mark_price"
)
PRINTS_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"


def book_header(depth: int = 25) -> str:
    levels = ",".join(
        f"{side}[{i}].{field}"
        for i in range(depth)
        for side in ("asks", "bids")
        for field in ("price", "amount")
    )
    return f"exchange,symbol,timestamp,local_timestamp,{levels}"


def book_row(
    exchange: str, symbol: str, at_us: int, *, mid: float, size: float, depth: int = 25
) -> str:
    """A CONSTRUCTED book_snapshot row: levels 0.01 % apart around `mid`."""
    cells = []
    for i in range(depth):
        step = mid * 1e-4 * (i + 1)
        cells += [f"{mid + step:.2f}", f"{size}", f"{mid - step:.2f}", f"{size}"]
    return f"{exchange},{symbol},{at_us - 500},{at_us}," + ",".join(cells)


def write_tardis(path: Path, header: str, rows: Sequence[str], *, compress: bool = True) -> Path:
    """A Tardis-layout CSV (gzip'd like Tardis ships it unless `compress` is False)."""
    data = (header + "\n" + "".join(row + "\n" for row in rows)).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def records(path: Path, options: TableOptions | None = None) -> list[Record]:
    source = open_source(path, options)
    assert isinstance(source, TableSource)
    return list(source)


# ---------------------------------------------------------------------- Tardis


def test_tardis_derivative_ticker_gives_mark_oi_and_funding(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "binance-futures_derivative_ticker_2024-12-01_BTCUSDT.csv.gz",
        TICKER_HEADER,
        [
            f"binance-futures,BTCUSDT,{T0_US},{T0_US + 40},{T0_US + 3_600_000_000},0.0001,"
            ",81000.5,96000,95990.1,96001.2",
            # no open interest in this row (Tardis leaves unknown cells empty)
            f"binance-futures,BTCUSDT,{T0_US + 1000},{T0_US + 1040},,,,,96001,,96002.0",
            f"bybit,BTCUSDT,{T0_US + 2000},{T0_US + 2040},,,,50000,,,96003.0",
            f"bybit,BTCUSDT,{T0_US + 3000},{T0_US + 3040},,,,5e4x,,,96004.0",  # not a number
        ],
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    assert source.format == "tardis"
    got = list(source)
    assert [(r.venue, r.kind) for r in got] == [
        ("binance", "mark"),
        ("binance", "open_interest"),
        ("binance", "funding"),
        ("binance", "mark"),
        ("bybit", "mark"),
        ("bybit", "open_interest"),
    ]
    mark, oi, funding = got[:3]
    assert mark.recv_ns == (T0_US + 40) * 1000
    assert mark.ts_ns == T0_US * 1000
    assert (mark.price, mark.extra) == (96001.2, 95990.1)
    assert oi.size == 81000.5
    assert funding.price == 0.0001
    assert funding.stamp == (T0_US + 3_600_000_000) * 1000
    assert got[5].size == 25000.0  # Bybit's openInterest counts both sides: halved
    assert dict(source.rejected) == {("bybit", "bad_type"): 1}


def test_tardis_liquidation_side_is_the_order_side(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "binance-futures_liquidations_2024-12-01_BTCUSDT.csv.gz",
        PRINTS_HEADER,
        [
            f"binance-futures,BTCUSDT,{T0_US},{T0_US + 10},,sell,95000,0.5",
            f"binance-futures,BTCUSDT,{T0_US + 5},{T0_US + 15},,buy,97000,0.25",
        ],
    )
    got = records(path)
    assert [(r.kind, r.side) for r in got] == [("liquidation", "long"), ("liquidation", "short")]
    event = record_event(got[0], minimal_instrument("binance", "BTCUSDT"))
    assert isinstance(event, Liquidation)
    assert event.side.value == "long"  # a sell liquidation order closes a long
    assert event.notional_usd == 47_500.0


def test_tardis_trades_and_unknown_sides(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "bybit_trades_2024-12-01_BTCUSDT.csv.gz",
        PRINTS_HEADER,
        [
            f"bybit,BTCUSDT,{T0_US},{T0_US + 10},a1,buy,95000,0.5",
            f"bybit,BTCUSDT,{T0_US + 1},{T0_US + 11},a2,unknown,95000,0.5",
            f"bybit,BTCUSDT,{T0_US + 2},{T0_US + 12},a3,sell,not-a-price,0.5",
            f"bybit,BTCUSDT,{T0_US + 3},{T0_US + 13},a4,sell,94999.5,1.5",
        ],
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    got = list(source)
    assert [(r.kind, r.side, r.size) for r in got] == [
        ("trade", "buy", 0.5),
        ("trade", "sell", 1.5),
    ]
    assert dict(source.rejected) == {("bybit", "unknown_side"): 1, ("bybit", "bad_type"): 1}


def test_tardis_book_snapshot_25_with_a_short_side(tmp_path: Path) -> None:
    full = book_row("binance-futures", "BTCUSDT", T0_US, mid=100_000.0, size=0.5)
    cells = full.split(",")
    cells[4 + 4 * 20 :] = [""] * (len(cells) - 4 - 4 * 20)  # only 20 levels on both sides
    path = write_tardis(
        tmp_path / "binance-futures_book_snapshot_25_2024-12-01_BTCUSDT.csv.gz",
        book_header(),
        [full, ",".join(cells)],
    )
    got = records(path)
    assert [r.kind for r in got] == ["book", "book"]
    assert len(got[0].bids) == len(got[0].asks) == 25
    assert len(got[1].bids) == len(got[1].asks) == 20
    book = book_event(got[0], minimal_instrument("binance", "BTCUSDT"))
    assert book.bids[0][0] < book.asks[0][0]


def test_okx_contracts_become_base_units_through_the_instrument(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "okex-swap_derivative_ticker_2024-12-01_BTC-USDT-SWAP.csv.gz",
        TICKER_HEADER,
        [f"okex-swap,BTC-USDT-SWAP,{T0_US},{T0_US + 40},,,,2500000,,,96000"],
    )
    oi = next(r for r in records(path) if r.kind == "open_interest")
    okx = Instrument(
        venue="okx",
        symbol="BTC-USDT-SWAP",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.CONTRACTS,
        contract_size=0.01,
    )
    event = record_event(oi, okx)
    assert isinstance(event, OpenInterest)
    assert event.open_interest == pytest.approx(25_000.0)


def test_record_with_a_bad_value_raises_the_event_reason() -> None:
    record = Record(1, "binance", "BTCUSDT", "mark", 1, -5.0)
    with pytest.raises(InvalidEventError) as info:
        record_event(record, minimal_instrument("binance", "BTCUSDT"))
    assert info.value.reason == "non_positive_price"


def test_trades_or_liquidations_need_the_name_to_tell(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "prints.csv.gz",
        PRINTS_HEADER,
        [f"bybit,BTCUSDT,{T0_US},{T0_US},a,buy,1,1"],
    )
    with pytest.raises(SourceError) as info:
        records(path)
    assert info.value.line == 1
    assert "file name must say which" in str(info.value)


def test_tardis_type_liqmon_does_not_read(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "deribit_quotes.csv.gz",
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount",
        [f"deribit,BTC-PERPETUAL,{T0_US},{T0_US},1,2,1,1"],
    )
    with pytest.raises(SourceError, match="data type liqmon does not read"):
        records(path)


def test_tardis_files_are_streamed_in_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Blocks of a few hundred bytes give the same records as one block, bad rows keep
    their file line, and a cut names the line where the stream ended."""
    rows = [
        f"binance-futures,BTCUSDT,{T0_US + i},{T0_US + i},,,,{80000 + i},,,96000"
        for i in range(400)
    ]
    rows[300] = rows[300].replace(",96000", ",96k")  # file line 302
    path = write_tardis(tmp_path / "binance-futures_derivative_ticker.csv.gz", TICKER_HEADER, rows)
    whole = records(path)
    monkeypatch.setattr(tables, "TARDIS_BLOCK", 300)
    source = open_source(path)
    assert isinstance(source, TableSource)
    assert list(source) == whole
    assert len(whole) == 2 * 399
    assert dict(source.rejected) == {("binance", "bad_type"): 1}
    assert "binance-futures_derivative_ticker.csv.gz, line 302: dropped (bad_type)" in caplog.text
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError) as info:
        records(path)
    assert info.value.line is not None
    assert 2 < info.value.line < 402


def test_truncated_tardis_gzip_names_file_and_line(tmp_path: Path) -> None:
    rows = [
        f"binance-futures,BTCUSDT,{T0_US + i},{T0_US + i},,,,{80000 + i},,,96000"
        for i in range(3000)
    ]
    path = write_tardis(tmp_path / "binance-futures_derivative_ticker.csv.gz", TICKER_HEADER, rows)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError) as info:
        records(path)
    assert info.value.line is not None
    assert info.value.line > 1
    assert "truncated" in str(info.value)
    assert str(path) in str(info.value)


def test_tardis_csv_cut_inside_its_last_row(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "binance-futures_liquidations.csv",
        PRINTS_HEADER,
        [f"binance-futures,BTCUSDT,{T0_US},{T0_US},,sell,95000,0.5"],
        compress=False,
    )
    path.write_bytes(path.read_bytes() + b"binance-futures,BTCUSDT,17330")
    with pytest.raises(SourceError) as info:
        records(path)
    assert info.value.line == 3
    assert "truncated" in str(info.value)


# ---------------------------------------------------------------------- plain tables, real


def test_real_binance_liquidation_tape() -> None:
    """1,844 forceOrder rows; the 573 rows another writer appended do not fit and are dropped."""
    source = open_source(LIQ_2024_12 / "liquidation_orders.csv")
    assert isinstance(source, TableSource)
    assert source.format == "csv"
    got = list(source)
    assert len(got) == 1_844
    assert {(r.venue, r.symbol, r.kind) for r in got} == {("binance", "BTCUSDT", "liquidation")}
    assert dict(source.rejected) == {("binance", "bad_timestamp"): 573}
    first = got[0]
    # BTCUSDT,SELL,...,0.013 (Quantity),94434.91 (Price),94809.6 (Average Price),...,
    # 0.013 (Filled Quantity),2024-12-04 22:16:25.587+05:30 (Event),...584+05:30 (Trade)
    assert (first.side, first.price, first.size) == ("long", 94809.6, 0.013)
    assert first.recv_ns == 1_733_330_785_584_000_000  # 2024-12-04T16:46:25.584Z
    assert all(a.recv_ns <= b.recv_ns for a, b in itertools.pairwise(got))
    # 2024-12-04 20:00-21:00 UTC: ~$5.0 M of short liquidations (README of the data)
    hour = [r for r in got if 1_733_342_400e9 <= r.recv_ns < 1_733_346_000e9 and r.side == "short"]
    assert 4.5e6 < sum(r.price * r.size for r in hour) < 5.5e6


def test_real_open_interest_with_an_offset_and_a_symbol_from_the_path() -> None:
    got = records(LIQ_2024_12 / "open_interest_history.csv", TableOptions(utc_offset=5.5))
    assert len(got) == 294
    assert {(r.venue, r.symbol, r.kind) for r in got} == {("binance", "BTCUSDT", "open_interest")}
    assert got[0].size == 92711.732
    assert got[0].recv_ns == 1_734_118_784_000_000_000  # 2024-12-14 01:09:44 IST


def test_real_full_book_table() -> None:
    (book,) = records(LIQ_2024_12 / "current_order_book.csv")
    assert book.kind == "book"
    assert len(book.bids) + len(book.asks) == 31_215
    assert book.bids[0][0] == 101181.1
    assert book.bids[0][0] < book.asks[0][0]
    assert all(a[0] > b[0] for a, b in zip(book.bids, book.bids[1:], strict=False))
    event = book_event(book, minimal_instrument("binance", "BTCUSDT"))
    assert len(event.bids) == len(book.bids)


@pytest.mark.parametrize(
    ("relative", "venue", "symbol", "kind"),
    [
        ("binance_um_5m_2025-09_2025-10/BTC_USDT_USDT-8h-mark.json", "binance", "BTCUSDT", "mark"),
        (
            "binance_um_5m_2025-09_2025-10/ETH_USDT_USDT-8h-funding_rate.json",
            "binance",
            "ETHUSDT",
            "funding",
        ),
        (
            "binance_um_15m_2024-2026/BTC_USDT_USDT-15m-futures.feather",
            "binance",
            "BTCUSDT",
            "mark",
        ),
        ("hyperliquid/freqtrade_ohlcv/ETH_USDC_USDC-8h-mark.feather", "hyperliquid", "ETH", "mark"),
    ],
)
def test_real_freqtrade_files(relative: str, venue: str, symbol: str, kind: str) -> None:
    source = open_source(REAL_DATA / relative)
    assert isinstance(source, TableSource)
    got = list(source)
    assert {(r.venue, r.symbol, r.kind) for r in got} == {(venue, symbol, kind)}
    assert not source.rejected
    assert all(a.recv_ns <= b.recv_ns for a, b in itertools.pairwise(got))


def test_real_kline_path_reaches_the_cascade_low() -> None:
    """2025-10-10: the 8 h mark candle from 16:00 has low 101,877.69 (README of the data)."""
    got = records(REAL_DATA / "binance_um_5m_2025-09_2025-10/BTC_USDT_USDT-8h-mark.json")
    bar_open = 1_760_112_000 * 10**9  # 2025-10-10T16:00Z
    bar = [r for r in got if bar_open <= r.recv_ns < bar_open + 8 * 3600 * 10**9]
    assert len(bar) == 4
    assert min(r.price for r in bar) == pytest.approx(101_877.69, abs=0.01)
    assert bar[-1].recv_ns == bar_open + 8 * 3600 * 10**9 - 1  # the close ends the bar


def test_real_hyperliquid_liquidations_are_refused_clearly() -> None:
    """No side and no price: which positions died cannot be told."""
    with pytest.raises(SourceError) as info:
        records(REAL_DATA / "hyperliquid/official_liquidations_2023.csv")
    assert "cannot tell the table's kind" in str(info.value)


# ---------------------------------------------------------------------- plain tables, constructed


def test_kline_path_order_and_bar_length(tmp_path: Path) -> None:
    """CONSTRUCTED 1-minute klines: a rising bar goes open-low-high-close, a falling one
    open-high-low-close."""
    path = tmp_path / "klines.csv"
    path.write_text(
        "open_time,open,high,low,close,volume\n"
        "1700000000000,100,110,95,105,1\n"
        "1700000060000,105,106,90,92,1\n"
    )
    got = records(path, TableOptions(venue="bybit", symbol="BTCUSDT"))
    assert [r.price for r in got] == [100, 95, 110, 105, 105, 106, 90, 92]
    t0 = 1_700_000_000 * 10**9
    assert [r.recv_ns - t0 for r in got[:4]] == [0, 20 * 10**9, 40 * 10**9, 60 * 10**9 - 1]


def test_column_mapping_and_parquet(tmp_path: Path) -> None:
    """CONSTRUCTED Parquet OI series with its own column names, mapped by options."""
    path = tmp_path / "oi.parquet"
    pl.DataFrame(
        {"when": [1_700_000_000, 1_700_000_005], "contracts_open": [10.0, 12.5], "x": [1, 2]}
    ).write_parquet(path)
    with pytest.raises(SourceError, match="no time column"):
        records(path, TableOptions(venue="binance", symbol="BTCUSDT"))
    options = TableOptions(
        venue="binance",
        symbol="BTCUSDT",
        columns={"time": "when", "open_interest": "contracts_open"},
    )
    got = records(path, options)
    assert [(r.kind, r.recv_ns, r.size) for r in got] == [
        ("open_interest", 1_700_000_000 * 10**9, 10.0),
        ("open_interest", 1_700_000_005 * 10**9, 12.5),
    ]
    with pytest.raises(SourceError, match="mapped to time"):
        records(path, TableOptions(venue="binance", symbol="BTCUSDT", columns={"time": "nope"}))


def test_feather_written_by_polars(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_USDT-1m-mark.feather"
    pl.DataFrame(
        {
            "date": pl.Series([1_700_000_000_000, 1_700_000_060_000]).cast(
                pl.Datetime("ms", "UTC")
            ),
            "open": [1.0, 2.0],
            "high": [2.0, 3.0],
            "low": [0.5, 1.5],
            "close": [1.5, 2.5],
        }
    ).write_ipc(path)
    got = records(path, TableOptions(venue="okx"))
    assert {r.symbol for r in got} == {"BTC-USDT-SWAP"}
    assert got[0].recv_ns == 1_700_000_000 * 10**9


def test_a_table_without_venue_or_symbol_asks_for_them(tmp_path: Path) -> None:
    path = tmp_path / "oi.csv"
    path.write_text("time,open_interest\n1700000000,5\n")
    with pytest.raises(SourceError, match="--venue"):
        records(path)
    with pytest.raises(SourceError, match="--symbol"):
        records(path, TableOptions(venue="binance"))
    assert len(records(path, TableOptions(venue="binance", symbol="BTCUSDT"))) == 1


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_parquet_and_feather(tmp_path: Path, cut: float) -> None:
    frame = pl.DataFrame({"time": list(range(1000)), "open_interest": [1.0] * 1000})
    for path in (tmp_path / "a.parquet", tmp_path / "b.feather"):
        if path.suffix == ".parquet":
            frame.write_parquet(path)
        else:
            frame.write_ipc(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(SourceError) as info:
            records(path, TableOptions(venue="binance", symbol="BTCUSDT"))
        assert "damaged or truncated" in str(info.value) or "unknown format" in str(info.value)


def test_truncated_and_malformed_freqtrade_json(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_USDT-5m-futures.json"
    rows = [[1_700_000_000_000 + 300_000 * i, 1.0, 2.0, 0.5, 1.5, 0.0] for i in range(10)]
    data = orjson.dumps(rows)
    path.write_bytes(data[:-7])
    with pytest.raises(SourceError, match="truncated"):
        records(path, TableOptions(venue="binance"))
    path.write_bytes(orjson.dumps([*rows, [1, "x", 2, 3, 4, 5]]))
    with pytest.raises(SourceError, match="candle 10"):
        records(path, TableOptions(venue="binance"))


def test_rows_with_unreadable_values_are_counted_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bybit_liq.csv"
    path.write_text(
        "time,symbol,side,price,quantity\n"
        "2024-01-01T00:00:00Z,BTCUSDT,Sell,40000,0.1\n"
        "yesterday,BTCUSDT,Sell,40000,0.1\n"
        "2024-01-01T00:00:02Z,BTCUSDT,Sideways,40000,0.1\n"
        "2024-01-01T00:00:03Z,BTCUSDT,LONG,NaN?,0.1\n"
        "2024-01-01T00:00:04Z,ETHUSDT,short,2000,3\n"
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    got = list(source)
    assert [(r.symbol, r.side) for r in got] == [("BTCUSDT", "long"), ("ETHUSDT", "short")]
    assert dict(source.rejected) == {
        ("bybit", "bad_timestamp"): 1,
        ("bybit", "unknown_side"): 1,
        ("bybit", "bad_type"): 1,
    }
    logged = caplog.text
    assert "bybit_liq.csv, line 3: dropped (bad_timestamp)" in logged
    assert "bybit_liq.csv, line 4: dropped (unknown_side)" in logged  # its file line
    assert "bybit_liq.csv, line 5: dropped (bad_type)" in logged


# ---------------------------------------------------------------------- merging


def test_records_and_frames_merge_by_receive_time(tmp_path: Path) -> None:
    capture = REAL_DATA / "ws_captures/hftbacktest/hyperliquid_btcusd_20250126.gz"
    recording = open_source(capture)
    assert isinstance(recording, SourceFile)
    frames = list(recording)
    first_us = frames[0].recv_ns // 1000
    path = write_tardis(
        tmp_path / "hyperliquid_derivative_ticker_2025-01-26_BTC.csv.gz",
        TICKER_HEADER,
        [
            f"hyperliquid,BTC,{first_us + k * 1_000_000},{first_us + k * 1_000_000 + 7},"
            f",,,{9000 + k},,,105000"
            for k in range(20)
        ],
    )
    merged: list[Frame | Record] = [item for item, _ in merge([recording, open_source(path)])]
    assert len(merged) == len(frames) + 40
    times = [item.recv_ns for item in merged]
    assert times == sorted(times)
    assert {type(item) for item in merged} == {Frame, Record}
    assert not math.isnan(next(i for i in merged if isinstance(i, Record)).price)
