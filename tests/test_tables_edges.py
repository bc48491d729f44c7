"""Edge cases of the Tardis and table readers found in review; each test failed before its fix.

Every file here is CONSTRUCTED by its test in tmp_path: made-up rows of a SIMULATED market in
the layouts liqmon reads (Tardis CSV, plain CSV, Parquet, freqtrade JSON). None is real data.
"""

from __future__ import annotations

import gzip
import math
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from test_sources_tables import PRINTS_HEADER, T0_US, TICKER_HEADER, records, write_tardis

from monitor.config import load_settings
from monitor.replay import Replay, ReplayOptions
from monitor.sources import TableOptions, TableSource, open_source
from monitor.sources.tables import epoch_ns, plausible_times

T0_S = T0_US // 1_000_000  # 2024-11-30T20:53:20Z
T0_NS = T0_S * 10**9
BTC = TableOptions(venue="binance", symbol="BTCUSDT")


def liquidation_tape(path: Path, times: list[str]) -> Path:
    """A CONSTRUCTED liquidation tape, one SELL of 1 BTC at 95,000 per time cell."""
    path.write_text("time,side,price,quantity\n" + "".join(f"{t},SELL,95000,1\n" for t in times))
    return path


def test_a_symbol_column_beats_the_symbol_in_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "binance_um_btcusdt_2024-12"
    folder.mkdir()
    path = folder / "liquidation_orders.csv"
    path.write_text(
        "time,symbol,side,price,quantity\n"
        f"{T0_S},ETHUSDT,SELL,3600,10\n"
        f"{T0_S + 1},BTCUSDT,SELL,95000,1\n"
    )
    assert [r.symbol for r in records(path)] == ["ETHUSDT", "BTCUSDT"]
    assert {r.symbol for r in records(path, TableOptions(symbol="SOLUSDT"))} == {"SOLUSDT"}


def test_epoch_ns_tells_each_numbers_unit_and_refuses_implausible_ones() -> None:
    for value in (T0_S, T0_S * 1_000, T0_S * 10**6, T0_NS, float(T0_S)):
        assert epoch_ns(value) == T0_NS
    assert epoch_ns(T0_S + 0.5) == T0_NS + 500_000_000
    assert epoch_ns(T0_S * 1_000 + 1) == T0_NS + 1_000_000  # integers scaled exactly
    for bad in (0, 5, -T0_S, 1_200_000_000, 10**10, 2**64, 1e30, math.nan, -math.inf):
        assert epoch_ns(bad) is None, bad


def test_one_time_in_another_unit_does_not_move_the_others(tmp_path: Path) -> None:
    path = liquidation_tape(
        tmp_path / "binance_btcusdt_liquidations.csv",
        [str(T0_S), str(T0_S + 60), str((T0_S + 120) * 1_000)],  # the last one in ms
    )
    assert [r.recv_ns for r in records(path)] == [T0_NS, T0_NS + 60 * 10**9, T0_NS + 120 * 10**9]


def test_times_far_from_the_rest_are_bad_timestamps_and_the_replay_stays_short(
    tmp_path: Path,
) -> None:
    far = [str(4_102_444_800), str(1_100_000_000), "2099-06-01T00:00:00Z", "2262-01-01"]
    path = liquidation_tape(
        tmp_path / "binance_btcusdt_liquidations.csv",
        [far[0], str(T0_S), far[1], str(T0_S + 60), far[2], str(T0_S + 120), far[3]],
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    got = list(source)
    assert [r.recv_ns for r in got] == [T0_NS, T0_NS + 60 * 10**9, T0_NS + 120 * 10**9]
    assert dict(source.rejected) == {("binance", "bad_timestamp"): 4}
    # so the replay's clock spans two minutes, not decades of 5-second risk cycles
    result = Replay(load_settings(None, environ={}), ReplayOptions()).run([open_source(path)])
    assert result.cycles == 24
    assert result.events == {"Liquidation": 3}


def test_plausible_times_keeps_the_run_around_the_median_in_any_order() -> None:
    year = 366 * 86_400 * 10**9
    times = pl.Series("t", [T0_NS + 3 * year, T0_NS, None, T0_NS + year // 2, T0_NS + year])
    assert plausible_times(times).to_list() == [None, T0_NS, None, T0_NS + year // 2, T0_NS + year]
    assert plausible_times(pl.Series("t", [5, None], pl.Int64)).to_list() == [None, None]


def test_one_unreadable_time_cell_drops_only_its_row(tmp_path: Path) -> None:
    path = liquidation_tape(
        tmp_path / "binance_btcusdt_liq_na.csv",
        [str(T0_S), str(T0_S + 60), "n/a", str(T0_S + 120)],
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    assert len(list(source)) == 3
    assert dict(source.rejected) == {("binance", "bad_timestamp"): 1}


def test_text_times_with_and_without_an_offset_in_one_column(tmp_path: Path) -> None:
    path = tmp_path / "oi.csv"
    path.write_text(
        "time,open_interest\n"
        "2024-12-01T10:00:00Z,1\n"
        "2024-12-01 10:05:00,2\n"  # IST by --utc-offset: 04:35 UTC
        f"{T0_S},3\n"
    )
    got = records(path, TableOptions(venue="binance", symbol="BTCUSDT", utc_offset=5.5))
    at = {r.size: r.recv_ns for r in got}
    assert at == {
        1.0: int(datetime(2024, 12, 1, 10, tzinfo=UTC).timestamp()) * 10**9,
        2.0: int(datetime(2024, 12, 1, 4, 35, tzinfo=UTC).timestamp()) * 10**9,
        3.0: T0_NS,
    }


def test_utc_offset_applies_to_naive_datetimes_as_to_naive_text(tmp_path: Path) -> None:
    ist = TableOptions(venue="binance", symbol="BTCUSDT", utc_offset=5.5)
    ten = pl.Series(["2024-12-01 10:00:00"]).str.to_datetime()  # naive: no time zone
    utc_0430 = int(datetime(2024, 12, 1, 4, 30, tzinfo=UTC).timestamp()) * 10**9
    text = tmp_path / "oi.csv"
    text.write_text("time,open_interest\n2024-12-01 10:00:00,5\n")
    naive = tmp_path / "oi_naive.parquet"
    pl.DataFrame({"time": ten, "open_interest": [5.0]}).write_parquet(naive)
    aware = tmp_path / "oi_utc.parquet"
    pl.DataFrame({"time": ten.dt.replace_time_zone("UTC"), "open_interest": [5.0]}).write_parquet(
        aware
    )
    assert [r.recv_ns for r in records(text, ist)] == [utc_0430]
    assert [r.recv_ns for r in records(naive, ist)] == [utc_0430]
    assert [r.recv_ns for r in records(aware, ist)] == [utc_0430 + 19_800 * 10**9]  # says UTC


def test_tardis_times_that_overflow_or_are_negative_are_bad_timestamps(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "binance-futures_trades_2024-12-01_BTCUSDT.csv.gz",
        PRINTS_HEADER,
        [
            f"binance-futures,BTCUSDT,{T0_US},{T0_US},1,sell,95000,1",
            "binance-futures,BTCUSDT,99999999999999999,99999999999999999,2,sell,95000,1",
            f"binance-futures,BTCUSDT,{T0_US + 1},-5,3,sell,95000,1",
            "binance-futures,BTCUSDT,9223372036854775,9223372036854775,4,sell,95000,1",
            f"binance-futures,BTCUSDT,{T0_US + 2},{T0_US + 2},5,buy,95000,1",
        ],
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    assert [r.recv_ns for r in source] == [T0_NS, T0_NS + 2_000]
    assert dict(source.rejected) == {("binance", "bad_timestamp"): 3}


def test_tardis_funding_time_past_int64_is_left_unknown(tmp_path: Path) -> None:
    path = write_tardis(
        tmp_path / "binance-futures_derivative_ticker_2024-12-01_BTCUSDT.csv.gz",
        TICKER_HEADER,
        [f"binance-futures,BTCUSDT,{T0_US},{T0_US},99999999999999999,0.0001,,,,,96000"],
    )
    funding = [r for r in records(path) if r.kind == "funding"]
    assert [(r.price, r.stamp) for r in funding] == [(0.0001, None)]


def test_tardis_binance_spot_is_not_liqmons_binance(tmp_path: Path) -> None:
    """Tardis's `binance` is the spot market; liqmon's binance is USD-M (`binance-futures`)."""
    spot = write_tardis(
        tmp_path / "binance_trades_2024-12-01_BTCUSDT.csv.gz",
        PRINTS_HEADER,
        [f"binance,BTCUSDT,{T0_US + k},{T0_US + k},{k},sell,95000,1" for k in range(3)],
    )
    futures = write_tardis(
        tmp_path / "binance-futures_trades_2024-12-01_BTCUSDT.csv.gz",
        PRINTS_HEADER,
        [f"binance-futures,BTCUSDT,{T0_US},{T0_US},1,buy,95010,2"],
    )
    assert {r.venue for r in records(spot)} == {"tardis/binance"}
    replay = Replay(load_settings(None, environ={}), ReplayOptions())
    result = replay.run([open_source(spot), open_source(futures)])
    assert dict(result.skipped) == {("tardis/binance", "unknown_venue"): 3}
    assert result.events == {"Trade": 1}


def test_freqtrade_times_as_floats_or_past_int64_are_rows_not_crashes(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT_USDT-1h-mark.json"
    path.write_text(
        "[[1733000000000.0,1,2,0.5,1.5,10],"
        "[1733003600000,1,2,0.5,1.5,10],"
        "[173300000000000000000,1,2,0.5,1.5,10],"
        "[18446744073709551615,1,2,0.5,1.5,10]]"
    )
    source = open_source(path, TableOptions(venue="binance"))
    assert isinstance(source, TableSource)
    got = list(source)
    assert len(got) == 8  # two bars of four marks
    assert got[0].recv_ns == 1_733_000_000 * 10**9
    assert dict(source.rejected) == {("binance", "bad_timestamp"): 2}


def test_files_with_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    plain = tmp_path / "binance_btcusdt_oi.csv"
    plain.write_bytes(bom + f"time,open_interest\n{T0_S},100\n".encode())
    assert [(r.kind, r.size) for r in records(plain)] == [("open_interest", 100.0)]
    tardis = tmp_path / "binance-futures_liquidations_2024-12-01_BTCUSDT.csv.gz"
    rows = f"{PRINTS_HEADER}\nbinance-futures,BTCUSDT,{T0_US},{T0_US},1,sell,95000,1\n"
    tardis.write_bytes(gzip.compress(bom + rows.encode(), mtime=0))
    assert [(r.venue, r.side) for r in records(tardis)] == [("binance", "long")]
    candles = tmp_path / "BTC_USDT_USDT-1h-mark.json"
    candles.write_bytes(bom + b"[[1733000000000,1,2,0.5,1.5,10]]")
    assert len(records(candles, TableOptions(venue="binance"))) == 4


def test_an_empty_symbol_cell_is_a_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "bybit_liquidations.csv"
    path.write_text(
        "time,symbol,side,price,quantity\n"
        f"{T0_S},BTCUSDT,Sell,95000,1\n"
        f"{T0_S + 1},,Sell,95000,1\n"
        f'{T0_S + 2},"  ",Sell,95000,1\n'
        f"soon,BTCUSDT,Sell,95000,1\n"
    )
    source = open_source(path)
    assert isinstance(source, TableSource)
    assert [r.symbol for r in source] == ["BTCUSDT"]
    assert dict(source.rejected) == {("bybit", "missing_field"): 2, ("bybit", "bad_timestamp"): 1}


def test_other_unmapped_tardis_ids_keep_their_name(tmp_path: Path) -> None:
    """Only an id that is a liqmon venue's name needs the `tardis/` mark to stay apart."""
    rows = [
        f"{exchange},BTCUSDT,{T0_US},{T0_US},1,sell,95000,1"
        for exchange in ("bybit-spot", "binance-delivery")
    ]
    path = write_tardis(tmp_path / "mixed_trades_2024-12-01.csv.gz", PRINTS_HEADER, rows)
    assert [r.venue for r in records(path)] == ["bybit-spot", "binance-delivery"]


def test_a_date_column_reads_as_each_days_midnight(tmp_path: Path) -> None:
    """Daily series (Coinalyze-style OI) often come with a Date column, not a datetime."""
    days = pl.Series([date(2024, 12, 1), date(2024, 12, 2)])
    path = tmp_path / "oi_daily.parquet"
    pl.DataFrame({"time": days, "open_interest": [5.0, 6.0]}).write_parquet(path)
    midnight = int(datetime(2024, 12, 1, tzinfo=UTC).timestamp()) * 10**9
    assert [r.recv_ns for r in records(path, BTC)] == [midnight, midnight + 86_400 * 10**9]


def test_a_placeholder_date_past_int64_ns_is_a_bad_row_not_a_crash(tmp_path: Path) -> None:
    """9999-12-31 (a common "no date") is past 2262: polars refused the whole column."""
    days = [date(2024, 12, 1), date(9999, 12, 31)]
    midnight = int(datetime(2024, 12, 1, tzinfo=UTC).timestamp()) * 10**9
    for name, column in {
        "date": pl.Series(days),
        "naive": pl.Series([datetime(d.year, d.month, d.day) for d in days]),  # noqa: DTZ001
        "utc": pl.Series([datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]),
    }.items():
        path = tmp_path / f"oi_{name}.parquet"
        pl.DataFrame({"time": column, "open_interest": [5.0, 6.0]}).write_parquet(path)
        source = open_source(path, BTC)
        assert [r.recv_ns for r in source] == [midnight], name
        assert dict(source.rejected) == {("binance", "bad_timestamp"): 1}, name


def test_whole_float_epochs_are_exact() -> None:
    assert epoch_ns(1733011200001.0) == epoch_ns(1733011200001) == 1_733_011_200_001_000_000
