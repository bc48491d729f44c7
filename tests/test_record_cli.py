"""`liqmon record` as a user runs it: the installed command against five local venues."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import resource
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from venue_server import FakeVenue, eventually

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


def file_size_limit(limit: int) -> Callable[[], None]:
    """A child whose writes past `limit` bytes of a file fail (EFBIG), like a disk filling up.

    Python ignores SIGXFSZ, so the write raises OSError instead of killing the process.
    """
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def run(
    *args: str,
    stop: tuple[Path, float] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run liqmon; `stop`: SIGTERM it this many seconds after that recording file appears.

    `liqmon record` installs its signal handlers before it creates the file: a fixed delay
    from the start raced with the interpreter's start-up on a busy machine (exit -15).
    """
    process = await asyncio.create_subprocess_exec(
        *liqmon(),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    if stop is not None:
        path, seconds = stop
        await eventually(path.exists, timeout_s=30.0, what=f"{path} created")
        await asyncio.sleep(seconds)
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
            "record", "--config", str(config), "--out", str(out), stop=(out, 2.0)
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


async def test_a_full_disk_ends_record_with_one_error_line(tmp_path):
    out = tmp_path / "rec.jsonl"
    async with five_venues(tmp_path) as config:
        code, stderr = await run(
            "record",
            *("--config", str(config), "--out", str(out), "--duration", "10"),
            *("--log-format", "json"),
            preexec_fn=file_size_limit(20_000),
        )
    assert code == 1
    assert "Traceback" not in stderr
    errors = [e for e in map(orjson.loads, stderr.splitlines()) if e["level"] == "error"]
    assert len(errors) == 1
    assert str(out) in errors[0]["message"]
    assert "File too large" in errors[0]["message"]


async def test_an_output_that_cannot_be_created_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    async with five_venues(tmp_path) as config:
        code, stderr = await run(
            "record",
            "--config",
            str(config),
            "--out",
            str(blocker / "rec.jsonl"),
            "--duration",
            "5",
        )
    assert code == 1
    assert "Traceback" not in stderr
    assert "liqmon record: cannot start:" in stderr
