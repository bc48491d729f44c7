"""`liqmon record` as a user runs it: the installed command against five local venues."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from venue_server import FakeVenue

from monitor.feeds.registry import VENUES
from monitor.record import read_recording

pytestmark = pytest.mark.asyncio


def liqmon() -> list[str]:
    found = shutil.which("liqmon")
    return [found] if found else [sys.executable, "-m", "monitor"]


@contextlib.asynccontextmanager
async def five_venues(tmp_path: Path) -> AsyncIterator[Path]:
    """Start a fake server per venue and write a config that points liqmon at them."""
    async with contextlib.AsyncExitStack() as stack:
        lines = []
        for name in sorted(VENUES):
            script = importlib.import_module(f"fake_venues.{name}").Script()
            venue = await stack.enter_async_context(FakeVenue(script, tick_s=0.05))
            symbols = ", ".join(f'"{s}"' for s in script.symbols)
            lines += [
                f"[venues.{name}]",
                f"symbols = [{symbols}]",
                f'ws_url = "{venue.ws_url}"',
                f'rest_url = "{venue.rest_url}"',
            ]
        config = tmp_path / "liqmon.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield config


async def run(*args: str, stop_after: float | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *liqmon(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    if stop_after is not None:
        await asyncio.sleep(stop_after)
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_record_writes_every_venue_rotating_compressed_files(tmp_path):
    out = tmp_path / "tape" / "rec.jsonl.zst"
    async with five_venues(tmp_path) as config:
        code, stderr = await run(
            "record",
            "--config",
            str(config),
            "--out",
            str(out),
            "--rotate-mb",
            "0.01",
            "--duration",
            "3",
            "--log-format",
            "json",
        )
    assert code == 0, stderr
    files = sorted(out.parent.glob("rec*.jsonl.zst"))
    assert len(files) > 1, "rotation at 10 KiB of zstd output should have produced several files"
    records = [r for f in files for r in read_recording(f)]
    assert {r["venue"] for r in records} == set(VENUES)
    assert all(set(r) == {"recv_ns", "venue", "conn", "raw"} for r in records)
    assert all(isinstance(r["recv_ns"], int) and isinstance(r["raw"], str) for r in records)
    conns = {(r["venue"], r["conn"]) for r in records}
    assert {v for v, c in conns if c == "instruments"} == set(VENUES)
    assert ("binance", "poll") in conns  # Binance OI comes from REST polls: on tape too


async def test_sigterm_stops_recording_cleanly(tmp_path):
    out = tmp_path / "rec.jsonl"
    async with five_venues(tmp_path) as config:
        code, stderr = await run(
            "record", "--config", str(config), "--out", str(out), stop_after=2.0
        )
    assert code == 0, stderr
    records = read_recording(out)
    assert len(records) > 10
    assert "Traceback" not in stderr


async def test_unknown_symbol_is_a_clear_start_up_error(tmp_path):
    async with five_venues(tmp_path) as config:
        text = config.read_text().replace('"BTC-USDT-SWAP"', '"BTC-USDT-SWP"')
        config.write_text(text)
        out = str(tmp_path / "never.jsonl")
        code, stderr = await run("record", "--config", str(config), "--out", out, "--duration", "5")
    assert code == 2
    assert "BTC-USDT-SWP is not a perpetual listed by okx" in stderr
    assert "did you mean BTC-USDT-SWAP" in stderr
