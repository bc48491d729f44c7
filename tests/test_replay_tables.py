"""`liqmon replay` on Tardis.dev CSV files and plain tables, alone and merged with frames.

The Tardis files are CONSTRUCTED here (a SIMULATED market in Tardis's documented layout:
open interest building up at 100,000, then a 3 % fall with long liquidations, a thin
25-level book); the tables are the real files of ../shared/data/real.
"""

from __future__ import annotations

import gzip
import math
import time
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from real_data import CAPTURES, REAL_DATA
from test_input_edges import run as run_liqmon
from test_replay import _restore_logging  # noqa: F401 (autouse: `main` sets up logging)
from test_sources_tables import (
    PRINTS_HEADER,
    T0_US,
    TICKER_HEADER,
    book_header,
    book_row,
    write_tardis,
)

from monitor.cli import main
from monitor.config import load_settings
from monitor.replay import Replay, ReplayOptions
from monitor.sources import SourceFile, open_source

LIQ_2024_12 = REAL_DATA / "binance_um_btcusdt_liquidations_2024-12"
HYPERLIQUID = CAPTURES / "hftbacktest" / "hyperliquid_btcusd_20250126.gz"
OKX_BTC_INSTRUMENTS = {  # OKX's instruments answer for BTC-USDT-SWAP (ctVal 0.01 BTC)
    "code": "0",
    "msg": "",
    "data": [
        {
            "instId": "BTC-USDT-SWAP",
            "instType": "SWAP",
            "ctType": "linear",
            "ctVal": "0.01",
            "ctMult": "1",
            "ctValCcy": "BTC",
            "settleCcy": "USDT",
            "state": "live",
            "tickSz": "0.1",
            "uly": "BTC-USDT",
        }
    ],
}


def _price(second: int) -> float:
    """SIMULATED mark: calm around 100,000 for 5 minutes, then 3 % down over 2 minutes."""
    if second < 300:
        return 100_000.0 * (1.0 + 0.002 * math.sin(second / 10.0))
    return 100_000.0 * math.exp(-0.03 * min(1.0, (second - 300) / 120.0))


def cascade_market(
    folder: Path, seconds: int = 600, *, trades_per_s: int = 0, books_per_s: int = 1
) -> list[Path]:
    """CONSTRUCTED Tardis files of a SIMULATED binance-futures BTCUSDT market.

    A ticker row a second, `books_per_s` book snapshots a second, a long liquidation every
    3 s of the fall, and with `trades_per_s` a trades file too (for throughput runs).
    """
    ticker, liquidations, books, trades = [], [], [], []
    for second in range(seconds):
        at = T0_US + second * 1_000_000
        price = _price(second)
        oi = 1_000.0 + 2_000.0 * min(1.0, second / 300)
        ticker.append(
            f"binance-futures,BTCUSDT,{at},{at + 30},,0.0001,,{oi:.3f},{price:.2f},"
            f"{price:.2f},{price:.2f}"
        )
        for k in range(books_per_s):
            offset = 200_000 + k * 1_000_000 // books_per_s
            books.append(book_row("binance-futures", "BTCUSDT", at + offset, mid=price, size=0.5))
        for k in range(trades_per_s):
            side = "buy" if k % 2 else "sell"
            trades.append(
                f"binance-futures,BTCUSDT,{at + 50 + k * 9_000},{at + 60 + k * 9_000},"
                f"{second * trades_per_s + k},{side},{price:.2f},0.01"
            )
        if second > 300 and second % 3 == 0:
            liquidations.append(
                f"binance-futures,BTCUSDT,{at + 100},{at + 130},,sell,{price * 0.999:.2f},2.5"
            )
    files = [
        write_tardis(
            folder / "binance-futures_derivative_ticker_2024-11-30_BTCUSDT.csv.gz",
            TICKER_HEADER,
            ticker,
        ),
        write_tardis(
            folder / "binance-futures_liquidations_2024-11-30_BTCUSDT.csv.gz",
            PRINTS_HEADER,
            liquidations,
        ),
        write_tardis(
            folder / "binance-futures_book_snapshot_25_2024-11-30_BTCUSDT.csv.gz",
            book_header(),
            books,
        ),
    ]
    if trades:
        trades_file = folder / "binance-futures_trades_2024-11-30_BTCUSDT.csv.gz"
        files.append(write_tardis(trades_file, PRINTS_HEADER, trades))
    return files


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    """`liqmon replay ARGS`: exit code, the JSON summary (empty on errors), stderr."""
    return run_liqmon(["replay", *args], capsys)


# ---------------------------------------------------------------------- Tardis


def test_tardis_market_alerts_and_two_replays_are_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(p) for p in cascade_market(tmp_path)]
    outputs = []
    for run in ("a", "b"):
        alerts = tmp_path / run / "alerts.jsonl"
        code, summary, _ = run_cli(
            [*files, "--alerts-out", str(alerts), "--risk-out", str(tmp_path / run / "risk.pq")],
            capsys,
        )
        assert code == 0
        assert summary["rejected"] == {}
        assert summary["events"] == {
            "MarkPrice": 600,
            "OpenInterest": 600,
            "Funding": 600,
            "BookSnapshot": 600,
            "Liquidation": 99,
        }
        outputs.append((alerts.read_bytes(), (tmp_path / run / "risk.pq").read_bytes()))
    assert outputs[0][0] == outputs[1][0]
    documents = [orjson.loads(line) for line in outputs[0][0].splitlines()]
    severities = {(d["venue"], d["side"], d["severity"]) for d in documents}
    assert ("binance", "down", "critical") in severities
    risk = pl.read_parquet(tmp_path / "a" / "risk.pq")
    warm = risk.filter((pl.col("venue") == "binance") & pl.col("warm") & ~pl.col("stale"))
    assert warm.height > 0
    assert warm["depth_usd_within_1pct_displayed"].min() > 0  # type: ignore[operator]


def test_tardis_merged_with_a_raw_capture_in_time_order(tmp_path: Path) -> None:
    """The real Hyperliquid capture and a CONSTRUCTED Tardis ticker for the same seconds."""
    capture = open_source(HYPERLIQUID)
    assert isinstance(capture, SourceFile)
    first_us = next(iter(capture)).recv_ns // 1000
    ticker = write_tardis(
        tmp_path / "hyperliquid_derivative_ticker_2025-01-26_BTC.csv.gz",
        TICKER_HEADER,
        [
            f"hyperliquid,BTC,{first_us + k * 1_000_000},{first_us + k * 1_000_000 + 7},,0.00001,,"
            f"{9_000 + k},,,{105_000 + k}"
            for k in range(25)
        ],
    )
    events = tmp_path / "events.parquet"
    settings = load_settings(None, environ={})
    runner = Replay(settings, ReplayOptions(events_out=events))
    result = runner.run([capture, open_source(ticker)])
    assert not result.rejected
    assert result.events["Trade"] > 0
    assert result.events["OpenInterest"] == 25
    table = pl.read_parquet(events)
    assert table["ts_recv_ns"].is_sorted()
    assert set(table["type"].unique()) >= {"trade", "mark_price", "open_interest", "funding"}
    assert runner.engine is not None
    market = runner.engine.snapshot.markets[("hyperliquid", "BTC")]
    assert market.warm
    assert market.open_interest == 9_024


def test_okx_tardis_needs_its_contract_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ticker = write_tardis(
        tmp_path / "okex-swap_derivative_ticker_2024-11-30_BTC-USDT-SWAP.csv.gz",
        TICKER_HEADER,
        [f"okex-swap,BTC-USDT-SWAP,{T0_US},{T0_US + 20},,,,2500000,,,96000.5"],
    )
    monkeypatch.setenv("LIQMON_VENUES__OKX__SYMBOLS", "BTC-USDT-SWAP")
    code, _, err = run_cli([str(ticker)], capsys)
    assert code == 2
    assert "okx: the recording has no instruments answer" in err
    instruments = tmp_path / "okx.json"
    instruments.write_bytes(orjson.dumps(OKX_BTC_INSTRUMENTS))
    events = tmp_path / "events.parquet"
    code, _, _ = run_cli(
        [str(ticker), "--instruments", f"okx={instruments}", "--events-out", str(events)], capsys
    )
    assert code == 0
    oi = pl.read_parquet(events).filter(pl.col("type") == "open_interest")
    assert oi["open_interest"].to_list() == [pytest.approx(25_000.0)]  # contracts x 0.01 BTC


def test_unknown_exchanges_and_symbols_are_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tardis(
        tmp_path / "mixed_liquidations_2024-11-30.csv.gz",
        PRINTS_HEADER,
        [
            f"ftx,BTC-PERP,{T0_US},{T0_US + 1},,sell,90000,1",
            f"binance-futures,DOGEUSDT,{T0_US + 2},{T0_US + 3},,buy,0.1,1000",
            f"binance-futures,BTCUSDT,{T0_US + 4},{T0_US + 5},,buy,90000,0.1",
            f"binance-futures,BTCUSDT,{T0_US + 6},{T0_US + 7},,buy,90000,0",  # zero size
        ],
    )
    code, summary, _ = run_cli([str(path)], capsys)
    assert code == 0
    assert summary["skipped"] == {"ftx:unknown_venue": 1, "binance:unknown_symbol": 1}
    assert summary["rejected"] == {"binance:zero_size": 1}
    assert summary["events"] == {"Liquidation": 1}


def test_truncated_tardis_file_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ticker = cascade_market(tmp_path, seconds=2_000)[0]
    data = ticker.read_bytes()
    ticker.write_bytes(data[: len(data) * 2 // 3])
    code, _, err = run_cli([str(ticker)], capsys)
    assert code == 2
    assert f"liqmon replay: {ticker}, line " in err
    assert "truncated" in err


def test_a_crossed_book_record_is_rejected_when_a_cycle_uses_it(tmp_path: Path) -> None:
    """Risk cycles at 5, 10, 15 s: the book of second 14 is the one the 15 s cycle uses."""
    ticker, _, books = cascade_market(tmp_path, seconds=20)
    header, *rows = gzip.decompress(books.read_bytes()).decode().splitlines()
    cells = rows[14].split(",")
    cells[4], cells[6] = cells[6], cells[4]  # best ask and best bid swapped: crossed
    rows[14] = ",".join(cells)
    write_tardis(books, header, rows)
    settings = load_settings(None, environ={})
    runner = Replay(settings, ReplayOptions())
    result = runner.run([open_source(ticker), open_source(books)])
    assert result.events["BookSnapshot"] == 20
    assert dict(result.rejected) == {("binance", "crossed_book"): 1}
    assert runner.books()[("binance", "BTCUSDT")] is not None  # the later books are fine


# ---------------------------------------------------------------------- real tables


def test_real_liquidation_tape_and_oi_series(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """December 2024: the forceOrder tape (with offsets) and the OI polls (IST, no offset)."""
    monkeypatch.setenv("LIQMON_RISK__INTERVAL_S", "600")  # sparse days: 10-minute cycles
    code, summary, _ = run_cli(
        [
            str(LIQ_2024_12 / "liquidation_orders.csv"),
            str(LIQ_2024_12 / "open_interest_history.csv"),
            "--utc-offset",
            "5.5",
        ],
        capsys,
    )
    assert code == 0
    assert summary["events"] == {"Liquidation": 1_844, "OpenInterest": 294}
    assert summary["rejected"] == {"binance:bad_timestamp": 573}  # the appended other layout
    assert summary["start"] == "2024-12-04T16:46:25.584Z"
    assert summary["end"] == "2024-12-23T14:39:05.000Z"


def test_real_book_table_is_the_markets_book(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    runner = Replay(settings, ReplayOptions())
    result = runner.run([open_source(LIQ_2024_12 / "current_order_book.csv")])
    assert result.events == {"BookSnapshot": 1}
    book = runner.books()[("binance", "BTCUSDT")]
    assert book is not None
    assert book.bid_prices.size + book.ask_prices.size == 31_215


def test_real_mark_klines_and_funding(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIQMON_RISK__INTERVAL_S", "3600")
    folder = REAL_DATA / "binance_um_5m_2025-09_2025-10"
    code, summary, _ = run_cli(
        [
            str(folder / "BTC_USDT_USDT-8h-mark.json"),
            str(folder / "BTC_USDT_USDT-8h-funding_rate.json"),
        ],
        capsys,
    )
    assert code == 0
    assert summary["events"] == {"MarkPrice": 4 * 115, "Funding": 115}
    assert summary["rejected"] == {}


def test_column_options_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CONSTRUCTED OI table with its own header, mapped with --column."""
    path = tmp_path / "series.csv"
    path.write_text("when,contracts\n1700000000,10\n1700000005,12\n")
    args = [str(path), "--venue", "bybit", "--symbol", "BTCUSDT"]
    code, _, err = run_cli([*args, "--column", "time=when"], capsys)
    assert code == 2
    assert "cannot tell the table's kind" in err
    code, _, err = run_cli([*args, "--column", "bad=when"], capsys)
    assert code == 2
    assert "--column wants ROLE=NAME" in err
    code, summary, _ = run_cli(
        [*args, "--column", "time=when", "--column", "open_interest=contracts"], capsys
    )
    assert code == 0
    assert summary["events"] == {"OpenInterest": 2}


# ---------------------------------------------------------------------- throughput helper


def tardis_rows_per_s(folder: Path, seconds: int = 600) -> float:
    """Records per second of `Replay.run` at --speed max on a dense CONSTRUCTED Tardis market
    (100 trades and 10 books a second); a helper for manual runs, not timed in the tests."""
    files = cascade_market(folder, seconds, trades_per_s=100, books_per_s=10)
    settings = load_settings(None, environ={})
    sources = [open_source(p) for p in files]
    started = time.perf_counter()
    result = Replay(settings, ReplayOptions()).run(sources)
    return result.frames / (time.perf_counter() - started)


@pytest.mark.parametrize("command", ["replay", "backtest"])
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--instruments", "okx"], "--instruments takes VENUE=FILE"),
        (["--instruments", "=file.json"], "--instruments takes VENUE=FILE"),
        (["--column", "close"], "--column wants ROLE=NAME"),
        (["--column", "volume=v"], "--column wants ROLE=NAME"),
    ],
)
def test_replay_and_backtest_refuse_the_same_malformed_input_options(
    command: str,
    option: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both commands share their input options: a malformed one exits 2 with one message."""
    path = tmp_path / "series.csv"
    path.write_text("time,open_interest\n1700000000,10\n")
    out = ["--out", str(tmp_path / "report")] if command == "backtest" else []
    code = main([command, str(path), "--venue", "bybit", *out, *option])
    assert code == 2
    assert message in capsys.readouterr().err
