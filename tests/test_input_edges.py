"""Edges of what `liqmon replay` and `liqmon backtest` are given: bad option values, a price
of zero in a USD-sized table, a shard configuration, a heatmap period below one risk cycle,
files of different kinds merged, a long gap in the input.

The files written here are CONSTRUCTED in the test (a SIMULATED market); the one real file
is the Bybit capture read from ../shared/data/real.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from real_data import CAPTURES
from test_backtest import simulated_recording
from test_replay import _restore_logging  # noqa: F401 (autouse: `main` sets up logging)

from monitor.cli import main
from monitor.config import load_settings
from monitor.replay import ReplayOptions
from monitor.replay_serve import ReplayServer, ServeOptions
from monitor.sources import merge, open_source

REPO = Path(__file__).resolve().parent.parent
DERIBIT_INSTRUMENTS = REPO / "tests" / "fixtures" / "deribit" / "instruments.json"
BYBIT_CAPTURE = CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst"  # real


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    """`liqmon ARGV`: exit code, the JSON summary on stdout (empty on errors), stderr."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def test_a_zero_price_in_a_usd_sized_tardis_file_is_rejected_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deribit sizes are USD: converting them divides by the price, which must be > 0."""
    path = tmp_path / "deribit_liquidations_2024-12-01_BTC-PERPETUAL.csv"
    path.write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "deribit,BTC-PERPETUAL,1733000000000000,1733000000000000,1,sell,95000,100\n"
        "deribit,BTC-PERPETUAL,1733000001000000,1733000001000000,2,sell,0,100\n"
    )
    code, summary, _ = run(
        ["replay", str(path), "--instruments", f"deribit={DERIBIT_INSTRUMENTS}"], capsys
    )
    assert code == 0
    assert summary["events"] == {"Liquidation": 1}
    assert summary["rejected"] == {"deribit:non_positive_price": 1}


@pytest.mark.parametrize("command", ["replay", "backtest"])
@pytest.mark.parametrize("offset", ["nan", "inf", "1e12", "-14.5"])
def test_utc_offsets_no_time_zone_has_are_refused(
    command: str, offset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "binance_btcusdt_oi.csv"
    path.write_text("time,open_interest\n1733000000,10\n")
    out = ["--out", str(tmp_path / "report")] if command == "backtest" else []
    code, _, err = run([command, str(path), *out, "--utc-offset", offset], capsys)
    assert code == 2
    assert "--utc-offset takes hours within ±14" in err


@pytest.mark.parametrize("prefix", ["", "/", "desk/#", "a+b"])
def test_topic_prefixes_that_break_mqtt_are_refused_at_start(
    prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty prefix fell back to the live daemon's `liqmon`; a wildcard made the broker
    refuse the last will, and the sink retried forever."""
    monkeypatch.setenv("LIQMON_MQTT__TOPIC_PREFIX", prefix)
    code, _, err = run(["check-config"], capsys)
    assert code == 2
    assert "mqtt.topic_prefix" in err
    monkeypatch.delenv("LIQMON_MQTT__TOPIC_PREFIX")
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "x.jsonl", "--mqtt", "mqtt://127.0.0.1:1", "--topic-prefix", prefix])
    assert exit_.value.code == 2
    assert "--topic-prefix" in capsys.readouterr().err


def test_a_replay_follows_every_market_whatever_the_shard_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replay started in a pod (shard environment set) still replays the whole input."""
    recording = tmp_path / "simulated-bybit.jsonl"
    simulated_recording(recording)
    code, whole, _ = run(["replay", str(recording)], capsys)
    assert code == 0
    monkeypatch.setenv("LIQMON_SHARD__COUNT", "7")
    for index in range(7):  # BTC lives on exactly one of them; every one replays it
        monkeypatch.setenv("LIQMON_SHARD__INDEX", str(index))
        code, sharded, _ = run(["replay", str(recording)], capsys)
        assert code == 0
        assert sharded["events"] == whole["events"]
        assert sharded["skipped"] == whole["skipped"] == {}


def test_a_heatmap_period_below_one_risk_cycle_counts_each_heatmap_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Snapshot times within one cycle used to repeat its heatmap and count its fuel twice."""
    recording = tmp_path / "simulated-bybit.jsonl"
    simulated_recording(recording)
    results = {}
    for every in ("1s", "5s"):  # risk.interval_s is 5 s
        out = tmp_path / every
        argv = ["backtest", str(recording), "--out", str(out), "--window", "30s",
                "--trailing", "5m", "--min-burst-usd", "200000", "--lookback", "5m",
                "--heatmap-every", every, "--keep-data"]  # fmt: skip
        code, _, _ = run(argv, capsys)
        assert code == 0
        heatmaps = json.loads((out / "data" / "heatmaps.json").read_text())
        keys = [(h["ts_ns"], h["venue"], h["symbol"]) for h in heatmaps]
        assert len(keys) == len(set(keys))
        results[every] = json.loads((out / "backtest.json").read_text())["realisation"]
    assert results["1s"] == results["5s"]
    assert any(row["fuel_crossed_usd"] > 0 for row in results["5s"])


def test_merged_items_keep_their_own_file(tmp_path: Path) -> None:
    """Each item of a merge comes with the source it was read from (a liqmon recording is
    judged strictly, a foreign capture is not): once every item carried the last file's."""
    recording = tmp_path / "simulated-bybit.jsonl"
    simulated_recording(recording)
    sources = [open_source(recording), open_source(BYBIT_CAPTURE)]
    assert [source.foreign for source in sources] == [False, True]
    counts = Counter(source.path for _, source in merge(sources))
    assert counts == {
        recording: sum(1 for _ in open_source(recording)),
        BYBIT_CAPTURE: sum(1 for _ in open_source(BYBIT_CAPTURE)),
    }


@pytest.mark.asyncio
async def test_a_stop_ends_a_paced_replay_waiting_out_a_gap(tmp_path: Path) -> None:
    """At --speed 1 a one-hour gap is a one-hour wait in the worker thread; a stop (SIGINT,
    SIGTERM) must end it at once, not when the next frame is due."""
    path = tmp_path / "binance_btcusdt_oi.csv"
    path.write_text("time,open_interest\n1733000000,10\n1733003600,11\n")
    settings = load_settings(None, environ={})
    server = ReplayServer(settings, ReplayOptions(speed=1.0), ServeOptions(port=0), tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run([open_source(path)], stop))
    try:
        await asyncio.wait_for(server.started.wait(), 10.0)
        await asyncio.sleep(0.5)  # the worker is waiting for the second row now
        stop.set()
        result = await asyncio.wait_for(task, 5.0)
    finally:
        task.cancel()
    assert result.frames == 1


def test_a_stretch_without_input_runs_an_hour_of_cycles_then_waits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Thirty days between two rows: an hour of 5 s cycles (the markets go stale and alert
    once), then nothing until the next row, instead of 518,400 cycles that repeat the last."""
    path = tmp_path / "binance_btcusdt_oi.csv"
    path.write_text("time,open_interest\n1733000000,10\n1735592000,11\n")
    code, summary, _ = run(["replay", str(path)], capsys)
    assert code == 0
    gap_cycles = (1735592000 - 1733000000) // 5
    assert summary["risk_cycles"] + summary["idle_cycles_skipped"] == gap_cycles
    assert summary["risk_cycles"] <= 3_600 // 5 + 1
    assert set(summary["alerts"]) == {"data_stale"}  # raised within the first minute


def test_cycles_run_until_every_market_is_stale_when_that_takes_longer_than_an_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a 2 h staleness deadline, open interest turns stale after 4 h: the cycles go on
    that long (and one more), so the data_stale alerts fire when they would live."""
    monkeypatch.setenv("LIQMON_RISK__STALE_AFTER_S", "7200")
    path = tmp_path / "binance_btcusdt_oi.csv"
    path.write_text("time,open_interest\n1733000000,10\n1735592000,11\n")
    code, summary, _ = run(["replay", str(path)], capsys)
    assert code == 0
    assert summary["risk_cycles"] >= (2 * 7_200 + 5) // 5
    assert summary["idle_cycles_skipped"] > 0


def test_a_signal_ends_a_plain_paced_replay_and_keeps_what_was_replayed(tmp_path: Path) -> None:
    """`liqmon replay --speed 1` as a real process, waiting out a one-hour gap: SIGTERM ends
    it at once, with the summary and the outputs of what was replayed."""
    path = tmp_path / "binance_btcusdt_oi.csv"
    path.write_text("time,open_interest\n1733000000,10\n1733003600,11\n")
    risk = tmp_path / "risk.parquet"
    argv = ["replay", str(path), "--speed", "1", "--risk-out", str(risk), "--log-format", "json"]
    with subprocess.Popen(
        [sys.executable, "-m", "monitor", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for _ in range(20):  # the log says the file is open: the handlers come right after
            if "read as open_interest" in process.stderr.readline():
                break
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert json.loads(out)["frames"] == 1
    assert risk.exists()
