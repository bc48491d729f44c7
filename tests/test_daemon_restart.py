"""`liqmon run` as a real process: SIGKILL mid-run, restart, nothing lost; SIGTERM stops it.

The broker is down while the first daemon raises alerts against the SIMULATED cascade
market (tests/fake_venues/cascade.py), so they wait in the on-disk outbox. The daemon is
then killed with SIGKILL: no shutdown code runs. The broker comes back, a second daemon
starts on the same state directory, restores the ledger snapshot and delivers what the
outbox still held. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from broker import Collector, Mosquitto
from fake_venues import cascade
from venue_server import FakeVenue, eventually

from monitor.record import read_recording

pytestmark = pytest.mark.asyncio

OTHER_VENUES = ("binance", "bybit", "okx", "deribit")


def daemon_environment(tmp_path: Path, venue: FakeVenue, broker: Mosquitto) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")},
        **{f"LIQMON_VENUES__{name.upper()}__ENABLED": "false" for name in OTHER_VENUES},
        "LIQMON_VENUES__HYPERLIQUID__SYMBOLS": "BTC",
        "LIQMON_VENUES__HYPERLIQUID__WS_URL": venue.ws_url,
        "LIQMON_VENUES__HYPERLIQUID__REST_URL": venue.rest_url,
        "LIQMON_MQTT__URL": broker.url,
        "LIQMON_MQTT__CLIENT_ID": "liqmon-restart-test",
        "LIQMON_HTTP__PORT": "0",
        "LIQMON_STATE__DIR": str(tmp_path / "state"),
        "LIQMON_STATE__SNAPSHOT_INTERVAL_S": "0.3",
        "LIQMON_RISK__INTERVAL_S": "0.1",
    }


def start_daemon(environment: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--log-format", "json", *extra],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )


def outbox_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=5.0) as db:
        try:
            rows = db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []
    return [orjson.loads(row[0])["id"] for row in rows]


async def test_sigkill_then_restart_restores_ledger_and_flushes_outbox(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    mosquitto.stop()  # alerts must wait in the outbox
    state = tmp_path / "state"
    log = tmp_path / "daemon.log"
    script = cascade.Script(ticks_per_point=2)
    async with FakeVenue(script, tick_s=0.03) as venue:
        environment = daemon_environment(tmp_path, venue, mosquitto)
        first = start_daemon(environment, log)
        try:
            await eventually(
                lambda: (
                    len(outbox_ids(state / "outbox-mqtt.sqlite3")) >= 2
                    and (state / "ledgers-hyperliquid.snapshot").exists()
                ),
                timeout_s=30.0,
                what="alerts in the outbox and a ledger snapshot",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(5.0)
        waiting = outbox_ids(state / "outbox-mqtt.sqlite3")
        assert waiting

        script.hold = script.point(0)  # the market stops moving: no new alert kinds needed
        mosquitto.start()
        async with Collector(mosquitto, "liqmon/alerts/#") as collector:
            second = start_daemon(environment, log, "--record", str(tmp_path / "rec.jsonl"))
            try:
                await collector.wait_for(
                    lambda got: set(waiting) <= {orjson.loads(m.payload)["id"] for m in got},
                    within_s=30.0,
                )
                delivered = [orjson.loads(m.payload)["id"] for m in collector.messages]
                order = [i for i in delivered if i in waiting]
                assert list(dict.fromkeys(order)) == waiting  # in the order they were raised
            finally:
                second.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(second.wait, 10.0)  # a clean stop within 10 s
        assert code == 0
    recorded = read_recording(tmp_path / "rec.jsonl")  # --record: a replayable tape
    assert {r["conn"] for r in recorded} >= {"instruments", "market"}
    assert all(r["venue"] == "hyperliquid" for r in recorded)
    lines = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    restored = [e["message"] for e in lines if e["logger"] == "liqmon.state"]
    assert len(restored) == 2, restored  # first start: missing; second: restored
    assert "ledgers-hyperliquid.snapshot" in restored[1]
    assert "restored" in restored[1]
    assert not [e for e in lines if e["level"] in ("error", "critical")]
