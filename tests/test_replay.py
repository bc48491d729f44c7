"""`liqmon replay`: the live pipeline on recorded frames, on a simulated clock.

- a live daemon run against the SIMULATED cascade venue (tests/fake_venues/cascade.py) is
  recorded by its own supervisor; replaying the recording gives the live alert severities,
  and two replays give byte-identical alert files;
- every raw capture in ../shared/data/real/ws_captures replays with zero rejected frames;
- the outputs are readable with polars and have the documented columns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import polars as pl
import pytest
from fake_venues import cascade
from real_data import CAPTURES
from test_daemon import daemon_settings
from venue_server import FakeVenue

from monitor import daemon
from monitor.config import ConfigError, Settings, load_settings
from monitor.core.alerts import Alert
from monitor.engine import RiskSchedule
from monitor.record import Recorder
from monitor.replay import (
    EVENT_COLUMNS,
    RISK_COLUMNS,
    Replay,
    ReplayOptions,
    ReplayResult,
    parse_time,
)
from monitor.sources import open_source

HFT = CAPTURES / "hftbacktest"
BYBIT = CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst"
OKX = CAPTURES / "cryptofeed" / "OKX.ws.1.0"
OKX_UNI_INSTRUMENTS = {  # OKX's instruments answer for the capture's inverse swap
    "code": "0",
    "msg": "",
    "data": [
        {
            "instId": "UNI-USD-SWAP",
            "instType": "SWAP",
            "ctType": "inverse",
            "ctVal": "10",
            "ctMult": "1",
            "ctValCcy": "USD",
            "settleCcy": "UNI",
            "state": "live",
            "tickSz": "0.001",
            "uly": "UNI-USD",
        }
    ],
}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`liqmon replay` (main) configures the root logger: put pytest's handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def replay(
    settings: Settings, paths: Sequence[Path], **options: object
) -> tuple[Replay, ReplayResult]:
    runner = Replay(settings, ReplayOptions(**options))
    return runner, runner.run([open_source(p) for p in paths])


# ---------------------------------------------------------------------- the schedule


def test_risk_schedule_keeps_its_cadence_and_rechecks_no_sooner_than_the_gap() -> None:
    schedule = RiskSchedule(
        interval_ns=5_000, min_gap_ns=100, last_recheck_ns=0, next_full_ns=5_000
    )
    assert schedule.due() == 5_000
    schedule.recheck(30)  # a big mark move 30 ns after the cycle: wait for the gap
    assert schedule.due() == 100
    schedule.recheck(60)  # the first request stands
    assert schedule.due() == 100
    assert not schedule.full_due(100)
    schedule.ran(100, full=False)
    assert schedule.due() == 5_000  # a re-check does not move the full cycles
    schedule.recheck(3_000)
    assert schedule.due() == 3_000
    schedule.ran(3_000, full=False)
    assert schedule.full_due(5_000)
    schedule.ran(5_000, full=True)
    assert schedule.due() == 10_000
    schedule.recheck(5_010)  # right after a full cycle: at once (the gap is between re-checks)
    assert schedule.due() == 5_010


def test_parse_time() -> None:
    assert parse_time("2024-08-08T23:57:00Z") == 1_723_161_420 * 10**9
    assert parse_time("2024-08-08T23:57:00.250+00:00") == 1_723_161_420_250_000_000
    assert parse_time("1723161420") == 1_723_161_420 * 10**9
    assert parse_time("1723161420250") == 1_723_161_420_250_000_000
    assert parse_time("1723161420250000") == 1_723_161_420_250_000_000  # µs, as in tables
    assert parse_time("1723161420250000000") == 1_723_161_420_250_000_000
    for text in ("12", "1990-01-01", "²"):  # 1970 and 1990: no market data; not a digit
        with pytest.raises(ConfigError, match="not a time"):
            parse_time(text)


# ---------------------------------------------------------------------- live vs replay


def severities(alerts: Sequence[Alert]) -> dict[tuple[str, str, str], list[str]]:
    out: defaultdict[tuple[str, str, str], list[str]] = defaultdict(list)
    for alert in alerts:
        out[(alert.venue, alert.symbol, alert.side)].append(alert.severity.value)
    return dict(out)


async def record_live_run(
    tmp_path: Path,
) -> tuple[Path, Settings, list[Alert]]:
    """Run the real daemon against the cascade venue; its supervisor records every frame."""
    path = tmp_path / "live.jsonl.zst"
    recorder = Recorder(path, rotate_bytes=1 << 30)
    live: list[Alert] = []
    resolved = asyncio.Event()

    def listen(alert: Alert) -> None:
        live.append(alert)
        if alert.severity.value == "resolved" and alert.venue == "all" and alert.side == "down":
            resolved.set()

    async with FakeVenue(cascade.Script(ticks_per_point=4), tick_s=0.03) as venue:
        settings = daemon_settings(tmp_path, venue, None)
        running = daemon.Daemon(settings, alert_listeners=[listen], raw_sink=recorder.write)
        stop = asyncio.Event()
        task = asyncio.create_task(running.run(stop))
        try:
            await asyncio.wait_for(resolved.wait(), 40.0)
            await asyncio.sleep(0.5)  # frames after the last live cycle: the market holds
        finally:
            stop.set()
            await asyncio.wait_for(task, 10.0)
            recorder.close()
    return path, settings, live


@pytest.mark.asyncio
async def test_replay_of_a_recorded_live_run_gives_the_live_alerts_deterministically(
    tmp_path: Path,
) -> None:
    path, settings, live = await record_live_run(tmp_path)
    live_severities = severities(live)
    down = live_severities[("hyperliquid", "BTC", "down")]
    assert down.index("warning") < down.index("critical") < down.index("resolved")

    first, second = tmp_path / "a1.jsonl", tmp_path / "a2.jsonl"
    _, result = replay(settings, [path], alerts_out=first)
    replay(settings, [path], alerts_out=second)
    assert first.read_bytes() == second.read_bytes()  # same input, byte-identical output
    assert first.read_bytes()
    # The recording ends with its last frame; live cycles after it have no replay twin.
    recorded = [alert for alert in live if alert.ts_ns <= (result.end_ns or 0)]
    assert severities(result.alerts) == severities(recorded)
    assert severities(recorded)[("hyperliquid", "BTC", "down")][-1] == "resolved"
    assert not result.rejected
    assert not result.skipped  # a liqmon recording: nothing foreign to skip
    documents = [orjson.loads(line) for line in first.read_bytes().splitlines()]
    assert [d["id"] for d in documents] == [a.id for a in result.alerts]
    assert result.cycles > 50  # every 0.1 s of simulated time


# ---------------------------------------------------------------------- real captures


def default_settings(**environ: str) -> Settings:
    return load_settings(None, environ=environ)


def test_every_real_capture_is_covered_here() -> None:
    assert CAPTURES.is_dir(), f"real data missing: {CAPTURES}"
    found = {p.relative_to(CAPTURES).as_posix() for p in CAPTURES.rglob("*") if p.is_file()}
    assert found == {
        "hftbacktest/usdm_btcusdt_20240808.gz",
        "hftbacktest/usdm_ethusdt_20240808.gz",
        "hftbacktest/hyperliquid_btcusd_20250126.gz",
        "cryptofeed/BYBIT.jsonl.zst",
        "cryptofeed/OKX.ws.1.0",
        # one pretty-printed message with no receive time: not a capture to replay
        "nautilus_trader/hyperliquid_ws_all_dexs_asset_ctxs.json",
    }


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("usdm_btcusdt_20240808.gz", "BTCUSDT"), ("usdm_ethusdt_20240808.gz", "ETHUSDT")],
)
def test_binance_raw_capture_replays_with_zero_rejects_and_a_bridged_book(
    name: str, symbol: str
) -> None:
    runner, result = replay(default_settings(), [HFT / name])
    assert sum(result.rejected.values()) == 0, result.rejected
    # bookTicker is a stream liqmon never subscribes to: skipped, not rejected.
    assert set(result.skipped) == {("binance", "unknown_message")}
    assert result.events["Trade"] > 10_000
    book = runner.books()[("binance", symbol)]
    assert book is not None  # the recorded REST snapshot bridged the buffered diffs
    assert book.bid_prices[0] < book.ask_prices[0]
    assert result.frames_per_s > 5_000
    print(f"{name}: {result.frames} frames, {result.frames_per_s:,.0f} frames/s")


def test_hyperliquid_raw_capture_replays_with_zero_rejects() -> None:
    runner, result = replay(default_settings(), [HFT / "hyperliquid_btcusd_20250126.gz"])
    assert not result.rejected
    assert not result.skipped
    assert result.events["Trade"] > 0
    assert runner.books()[("hyperliquid", "BTC")] is not None


def test_bybit_cryptofeed_capture_replays_with_zero_rejects() -> None:
    runner, result = replay(default_settings(), [BYBIT])
    assert not result.rejected
    # klines (not a liqmon channel), SOL/DOGE (not followed), the spot connection, the spot
    # instruments answer: what cryptofeed subscribed to beyond liqmon.
    assert set(result.skipped) == {
        ("bybit", "unknown_message"),
        ("bybit", "unknown_symbol"),
        ("bybit", "unplanned_connection"),
        ("bybit", "rest_answer"),
    }
    assert result.events["MarkPrice"] > 50
    assert result.events["OpenInterest"] > 5
    books = runner.books()
    assert books[("bybit", "BTCUSDT")] is not None
    assert books[("bybit", "ETHUSDT")] is not None


def test_okx_cryptofeed_text_capture_replays_with_zero_rejects(tmp_path: Path) -> None:
    instruments = tmp_path / "okx-instruments.json"
    instruments.write_bytes(orjson.dumps(OKX_UNI_INSTRUMENTS))
    settings = default_settings(LIQMON_VENUES__OKX__SYMBOLS="UNI-USD-SWAP")
    runner, result = replay(settings, [OKX], instruments={"okx": instruments})
    assert not result.rejected
    assert set(result.skipped) <= {("okx", "unknown_message"), ("okx", "unknown_symbol")}
    assert result.events["Trade"] == 1
    assert runner.books()[("okx", "UNI-USD-SWAP")] is not None


def test_okx_capture_without_instruments_is_refused_clearly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from monitor.cli import main  # noqa: PLC0415

    code = main(["replay", str(OKX)])
    assert code == 2
    assert "okx: the recording has no instruments answer" in capsys.readouterr().err


# ---------------------------------------------------------------------- outputs


def test_outputs_are_readable_with_polars_and_documented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main  # noqa: PLC0415

    out = tmp_path / "out"
    code = main(
        [
            "replay",
            str(BYBIT),
            "--alerts-out",
            str(out / "alerts.jsonl"),
            "--events-out",
            str(out / "events.parquet"),
            "--risk-out",
            str(out / "risk.parquet"),
            "--snapshot-at",
            "2026-08-09T21:27:30Z",
            "--snapshot-out",
            str(out / "heatmap.json"),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 3_229
    assert summary["rejected"] == {}

    events = pl.read_parquet(out / "events.parquet")
    assert events.columns == list(EVENT_COLUMNS)
    assert set(events["type"].unique()) == {"mark_price", "open_interest", "funding", "trade"}
    assert events["ts_recv_ns"].is_sorted()
    assert events.filter(pl.col("type") == "mark_price")["price"].min() > 1_000  # type: ignore[operator]

    risk = pl.read_parquet(out / "risk.parquet")
    assert risk.columns == list(RISK_COLUMNS)
    assert set(risk["venue"].unique()) == {"bybit", "all"}
    assert set(risk["side"].unique()) == {"down", "up"}
    assert risk.height == summary["risk_cycles"] * 4 * 2  # 2 markets + 2 assets, 2 sides
    warm = risk.filter(pl.col("warm") & ~pl.col("stale"))
    assert warm["critical_shock_pct_displayed"].null_count() < warm.height
    assert warm["fuel_usd_within_1pct"].min() >= 0.0  # type: ignore[operator]

    heatmaps = json.loads((out / "heatmap.json").read_text())
    assert {(h["venue"], h["symbol"]) for h in heatmaps} == {
        ("bybit", "BTCUSDT"),
        ("bybit", "ETHUSDT"),
        ("all", "BTC"),
        ("all", "ETH"),
    }
    at = parse_time("2026-08-09T21:27:30Z")
    for heatmap in heatmaps:
        assert set(heatmap) == {
            "time",
            "ts_ns",
            "venue",
            "symbol",
            "price",
            "bin_bps",
            "max_bins",
            "down",
            "up",
        }
        assert at - 5 * 10**9 < heatmap["ts_ns"] <= at  # the latest cycle before the time
        assert all(b["price_high"] <= heatmap["price"] * 1.000001 for b in heatmap["down"])

    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert alerts
    assert all({"id", "time", "severity", "venue", "symbol", "side"} <= a.keys() for a in alerts)


def test_speed_paces_the_replay_on_the_wall_clock() -> None:
    path = HFT / "hyperliquid_btcusd_20250126.gz"  # 25.4 s of frames
    started = time.perf_counter()
    replay(default_settings(), [path], speed=100.0)
    elapsed = time.perf_counter() - started
    assert 0.25 < elapsed < 5.0


def test_cli_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"recv_ns": 1, "venue": "binance", "conn": "x", "raw": "{}"}\n{"recv_ns": 2,\n'
    )
    from monitor.cli import main  # noqa: PLC0415

    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"liqmon replay: {path}, line 2" in err
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
