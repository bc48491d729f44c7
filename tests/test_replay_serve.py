"""`liqmon replay --serve/--mqtt`: a replay that drives /metrics and a real mosquitto.

The real Binance BTCUSDT capture (../shared/data/real/ws_captures) is replayed at 100 x
real time (about 3.5 s for its 345 s); /metrics is scraped over real HTTP while it runs,
and its alerts must reach a real broker in the order the replay raised them, with the
retained states and the status topic of the daemon's MQTT sink. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
import pytest
from broker import Collector, Mosquitto
from prometheus_client.parser import text_string_to_metric_families
from real_data import CAPTURES
from test_replay import _restore_logging  # noqa: F401 - autouse: the CLI sets up logging

from monitor.cli import main
from monitor.config import load_settings
from monitor.replay import ReplayOptions
from monitor.replay_serve import ReplayServer, ServeOptions
from monitor.sources import open_source

BTC = CAPTURES / "hftbacktest" / "usdm_btcusdt_20240808.gz"
SPEED = 100.0
RUN_BOUND_S = 60.0
SCRAPES = 600  # x 0.05 s at most: the loop ends with the replay


def cycles_of(text: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families["liqmon_risk_cycles"].samples[0].value


@pytest.mark.asyncio
async def test_served_replay_is_scraped_while_running_and_alerts_reach_the_broker_in_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = load_settings(None, environ={})
    serve = ServeOptions(port=0, linger_s=RUN_BOUND_S, mqtt_url=mosquitto.url, topic_prefix="rp")
    server = ReplayServer(settings, ReplayOptions(speed=SPEED), serve, tmp_path)
    stop = asyncio.Event()
    async with Collector(mosquitto, "rp/#") as sub:
        task = asyncio.create_task(server.run([open_source(BTC)], stop))
        try:
            await asyncio.wait_for(server.started.wait(), 10.0)
            base = f"http://127.0.0.1:{server.http_port}"
            running: list[float] = []  # risk cycles seen by scrapes while the replay ran
            async with aiohttp.ClientSession() as http:
                for _ in range(SCRAPES):
                    done = server.done.is_set()
                    async with http.get(base + "/metrics") as response:
                        assert response.status == 200
                        text = await response.text()
                    if done:
                        break  # lingering: this scrape shows the end
                    running.append(cycles_of(text))
                    await asyncio.sleep(0.05)
            stop.set()  # ends the linger
            result = await asyncio.wait_for(task, RUN_BOUND_S)
        finally:
            stop.set()
            task.cancel()
        assert cycles_of(text) == result.cycles
        assert result.alerts, "the capture raises data_stale alerts (no mark price in it)"
        wanted = len(result.alerts)
        await sub.wait_for(lambda got: len(sub.on("rp/alerts/")) >= wanted, 10.0)
        await sub.wait_for(lambda got: any(m.payload == b"offline" for m in got), 10.0)
    assert any(0 < n < result.cycles for n in running), (running, result.cycles)
    assert running == sorted(running)
    received = [orjson.loads(m.payload)["id"] for m in sub.on("rp/alerts/")]
    assert received == [alert.id for alert in result.alerts]
    states = sub.on("rp/state/binance/BTCUSDT")
    assert states, [m.topic for m in sub.messages]
    last = orjson.loads(states[-1].payload)
    assert last["venue"] == "binance"
    assert last["symbol"] == "BTCUSDT"
    status = [m.payload for m in sub.on("rp/status")]
    assert status[0] == b"online"
    assert status[-1] == b"offline"
    assert result.rejected == {}
    assert dict(server.alert_counts) == {"data_stale": wanted}


def test_cli_serves_and_keeps_the_progress_bar_off_without_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["replay", str(BTC), "--serve", "127.0.0.1:0", "--log-format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = orjson.loads(out.strip().splitlines()[-1])
    assert summary["frames"] == 93_954
    assert summary["rejected"] == {}
    assert "\r" not in err  # the progress line is drawn with carriage returns
    assert "HTTP API on http://127.0.0.1:" in err


def test_cli_refuses_linger_without_serve_and_a_bad_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["replay", str(BTC), "--mqtt", "mqtt://127.0.0.1:1", "--linger", "5"]) == 2
    assert "--linger needs --serve" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", str(BTC), "--serve", "localhost:http"])
    assert exit_info.value.code == 2
    assert "--serve takes [HOST:]PORT" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_a_stop_ends_the_replay_in_its_worker_thread_promptly(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    server = ReplayServer(settings, ReplayOptions(speed=10.0), ServeOptions(port=0), tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(server.run([open_source(BTC)], stop))
    try:
        await asyncio.wait_for(server.started.wait(), 10.0)
        await asyncio.sleep(1.0)  # the whole capture would take about 35 s at speed 10
        stop.set()
        result = await asyncio.wait_for(task, 10.0)
    finally:
        task.cancel()
    assert 0 < result.frames < 93_954
    assert result.end_ns is not None
    assert result.start_ns is not None
    assert result.end_ns - result.start_ns < 100 * 1_000_000_000
