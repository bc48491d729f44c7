"""`liqmon demo` end to end, in-process: the SIMULATED venue, the real daemon, real HTTP/MQTT.

The demo runs at speed 10 (the story takes ~8 s instead of ~75 s). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import socket
import tempfile
from pathlib import Path

import aiohttp
import orjson
import pytest
from broker import Collector, Mosquitto, free_port
from prometheus_client.parser import text_string_to_metric_families

from monitor import demo

SPEED = 10.0
RUN_BOUND_S = 60.0
ALERT_LINE = re.compile(
    r"^\d\d:\d\d:\d\d  ALERT (?P<severity>[A-Z_]+) +(?P<market>\S+) +(?P<side>down|up) +"
    r"critical shock (?P<shock>[\d.]+ %|none in range) +(?P<message>.+)$",
    re.MULTILINE,
)


@pytest.fixture
def quiet_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty working directory and an empty temp directory, to check what is left."""
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return cwd, tmp


def down_severities(output: str, market: str = "hyperliquid/BTC") -> list[str]:
    return [
        m["severity"]
        for m in ALERT_LINE.finditer(output)
        if m["market"] == market and m["side"] == "down"
    ]


async def http_url_of(out: io.StringIO, task: asyncio.Task[int]) -> str:
    """The HTTP API address the banner prints (bounded wait)."""
    for _ in range(200):  # 200 x 0.05 s
        found = re.search(r"HTTP API: (http://127\.0\.0\.1:\d+)", out.getvalue())
        if found:
            return found[1]
        assert not task.done(), out.getvalue()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no HTTP API line in: {out.getvalue()}")


@pytest.mark.asyncio
async def test_demo_without_broker_prints_the_cascade_serves_metrics_and_leaves_nothing(
    quiet_dirs: tuple[Path, Path],
) -> None:
    out = io.StringIO()
    closed = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    task = asyncio.create_task(demo.run_demo(port=0, mqtt_url=closed, speed=SPEED, out=out))
    try:
        base = await http_url_of(out, task)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # 100 x 0.1 s: the first risk cycle with the market warm
                async with http.get(base + "/metrics") as response:
                    assert response.status == 200
                    text = await response.text()
                if "liqmon_critical_shock_pct{" in text:
                    break
                await asyncio.sleep(0.1)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        shocks = [s for s in families["liqmon_critical_shock_pct"].samples if s.labels]
        assert any(s.labels.get("venue") == "hyperliquid" for s in shocks), shocks
        code = await asyncio.wait_for(task, RUN_BOUND_S)
    finally:
        task.cancel()
    output = out.getvalue()
    assert code == 0, output
    assert "SIMULATED market, not real data" in output
    assert "no broker at 127.0.0.1:" in output
    assert "running without MQTT" in output
    down = down_severities(output)
    assert "WARNING" in down, output
    assert "CRITICAL" in down, output
    assert "RESOLVED" in down, output
    assert down.index("WARNING") < down.index("CRITICAL") < down.index("RESOLVED")
    phases = re.findall(r"\[SIMULATED\] phase \d/4 (\S+):", output)
    assert phases == ["calm", "build-up", "fall", "recovery"], output
    assert "liqmon demo: done" in output
    assert re.search(r"alerts: .*\d+ warning, \d+ critical", output), output
    cwd, tmp = quiet_dirs
    assert list(cwd.iterdir()) == []  # no ./state, no outbox, nothing
    assert list(tmp.iterdir()) == []  # the temporary state directory is gone too


@pytest.mark.asyncio
async def test_demo_publishes_alerts_to_a_reachable_broker(
    mosquitto: Mosquitto, quiet_dirs: tuple[Path, Path]
) -> None:
    out = io.StringIO()
    async with Collector(mosquitto, "liqmon-demo/#") as collector:
        code = await asyncio.wait_for(
            demo.run_demo(port=0, mqtt_url=mosquitto.url, speed=SPEED, out=out), RUN_BOUND_S
        )
        assert code == 0, out.getvalue()

        def down(_: object) -> list[str]:
            documents = [
                orjson.loads(m.payload) for m in collector.on("liqmon-demo/alerts/hyperliquid/")
            ]
            return [str(d["severity"]) for d in documents if d["side"] == "down"]

        await collector.wait_for(lambda got: "resolved" in down(got), within_s=10.0)
    severities = down(None)
    assert severities.index("warning") < severities.index("critical") < severities.index("resolved")
    assert f"publishing to 127.0.0.1:{mosquitto.port}" in out.getvalue()
    assert collector.on("liqmon-demo/state/hyperliquid/BTC")
    status = [m.payload for m in collector.on("liqmon-demo/status")]
    assert status[0] == b"online"
    assert status[-1] == b"offline"
    assert not collector.on("liqmon/")  # nothing under a real daemon's prefix


@pytest.mark.asyncio
async def test_demo_stops_on_request_and_on_the_duration_cap(
    quiet_dirs: tuple[Path, Path],
) -> None:
    out = io.StringIO()
    code = await asyncio.wait_for(
        demo.run_demo(port=0, mqtt_url=None, speed=SPEED, duration_s=1.0, out=out), RUN_BOUND_S
    )
    assert code == 0
    assert "stopped after --duration 1 s" in out.getvalue()
    assert "MQTT:     off (--no-mqtt)" in out.getvalue()

    out, stop = io.StringIO(), asyncio.Event()
    task = asyncio.create_task(demo.run_demo(port=0, mqtt_url=None, out=out, stop=stop))
    await http_url_of(out, task)
    stop.set()  # what Ctrl-C does through install_stop_signals
    assert await asyncio.wait_for(task, 20.0) == 0
    assert "liqmon demo: stopped" in out.getvalue()
    cwd, tmp = quiet_dirs
    assert list(cwd.iterdir()) == []
    assert list(tmp.iterdir()) == []


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="liqmon demo")
    demo.add_demo_arguments(parser)
    return parser.parse_args(argv)


def test_demo_arguments_defaults_and_validation(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse()
    assert (args.port, args.mqtt, args.no_mqtt, args.speed, args.duration) == (
        9464,
        "mqtt://127.0.0.1:1883",
        False,
        1.0,
        None,
    )
    assert args.topic_prefix == "liqmon-demo"
    assert parse("--port", "0", "--speed", "20", "--duration", "5").port == 0
    for bad in (["--speed", "0"], ["--speed", "nan"], ["--port", "70000"], ["--duration", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            parse(*bad)
        assert exit_info.value.code == 2
    capsys.readouterr()


def test_demo_main_reports_a_bad_mqtt_url_and_a_taken_port(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    quiet_dirs: tuple[Path, Path],
) -> None:
    monkeypatch.setattr(demo, "setup_logging", lambda *a, **k: None)  # keep pytest's logging
    assert demo.demo_main(parse("--mqtt", "http://example.invalid")) == 2
    assert "liqmon demo: mqtt.url must look like" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert demo.demo_main(parse("--port", str(port), "--no-mqtt")) == 1
    err = capsys.readouterr().err
    assert "liqmon demo: cannot start:" in err
    assert "try --port 0" in err
