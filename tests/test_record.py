"""The recording format: JSON lines, zstd by suffix, size rotation; disk errors and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
from itertools import islice
from pathlib import Path

import aiohttp
import orjson
import pytest
import zstandard
from fake_venues import cascade
from prometheus_client.parser import text_string_to_metric_families
from real_data import CAPTURES, capture_lines
from venue_server import FakeVenue, eventually

from monitor.config import load_settings
from monitor.daemon import Daemon
from monitor.record import Recorder, read_recording, rotated_path
from monitor.sources import merge, open_source


def fill_disk_under(path: Path) -> None:
    """The disk fills up under an open recording: its descriptor now writes to /dev/full.

    The descriptor is found in /proc/self/fd, so the recorder itself is left untouched;
    every later write to that file fails with ENOSPC, as on a full disk.
    """
    target = str(path.resolve())
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone
                if os.readlink(f"/proc/self/fd/{fd}") == target:
                    os.dup2(full, int(fd))
                    return
    finally:
        os.close(full)
    msg = f"{path} is not open"
    raise AssertionError(msg)


def noisy_frame(n: int) -> str:
    """A frame that compresses about 2:1, so zstd emits a block every ~128 KiB of frames."""
    pad = hashlib.sha256(str(n).encode()).hexdigest()
    return f'{{"topic":"tickers.BTCUSDT","n":{n},"pad":"{pad}"}}'


def test_plain_recording_round_trips(tmp_path):
    recorder = Recorder(tmp_path / "tape.jsonl", rotate_bytes=1 << 20)
    recorder.write(1, "okx", "public", '{"arg":{"channel":"mark-price"}}')
    recorder.write(2, "binance", "market", "not json at all")
    recorder.close()
    lines = (tmp_path / "tape.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [
        {"recv_ns": 1, "venue": "okx", "conn": "public", "raw": '{"arg":{"channel":"mark-price"}}'},
        {"recv_ns": 2, "venue": "binance", "conn": "market", "raw": "not json at all"},
    ]


def test_zst_suffix_compresses_and_rotation_splits_files(tmp_path):
    recorder = Recorder(tmp_path / "tape.jsonl.zst", rotate_bytes=20_000)
    for i in range(4_000):
        recorder.write(i, "bybit", "linear", noisy_frame(i))
    recorder.close()
    assert len(recorder.files) > 1
    assert recorder.files[0] == tmp_path / "tape.jsonl.zst"
    assert recorder.files[1] == tmp_path / "tape.0001.jsonl.zst"
    records = [r for path in recorder.files for r in read_recording(path)]
    assert [r["recv_ns"] for r in records] == list(range(4_000))
    # Each file is a complete zstd frame on its own.
    with recorder.files[0].open("rb") as handle:
        assert zstandard.ZstdDecompressor().stream_reader(handle).read()


def test_rotated_names_count_up(tmp_path):
    base = tmp_path / "x.jsonl.zst"
    names = [rotated_path(base, i).name for i in range(3)]
    assert names == ["x.jsonl.zst", "x.0001.jsonl.zst", "x.0002.jsonl.zst"]


def test_zst_files_rotate_at_their_size_on_disk(tmp_path):
    """`--rotate-mb` is the size of the file on disk, also when zstd compresses ~9:1.

    A file can go over by what the compressor emits at once (a block, ~128 KiB of
    frames) and the end of the frame written at rotation.
    """
    rotate = 64 * 1024
    recorder = Recorder(tmp_path / "tape.jsonl.zst", rotate_bytes=rotate)
    lines = capture_lines(CAPTURES / "hftbacktest" / "usdm_btcusdt_20240808.gz")
    for recv_ns, raw in islice(lines, 20_000):
        recorder.write(recv_ns, "binance", "public-0", raw)
    recorder.close()
    assert len(recorder.files) >= 3
    for path in recorder.files[:-1]:
        assert rotate <= path.stat().st_size < 1.5 * rotate, path


def test_a_restart_never_overwrites_and_replay_reads_both_runs(tmp_path):
    """The same path twice (a restarted `liqmon record` or `run --record`): both runs kept."""
    path = tmp_path / "tape.jsonl.zst"
    runs = []
    for run in (1, 2):
        recorder = Recorder(path, rotate_bytes=20_000)
        for i in range(3_000):
            recorder.write(run * 10_000 + i, "bybit", "linear", noisy_frame(i))
        recorder.close()
        assert len(recorder.files) > 1
        runs.append(recorder.files)
    assert runs[0][0] == path
    assert runs[1][0] == rotated_path(path, len(runs[0]))  # the series goes on
    files = sorted(tmp_path.glob("tape*.jsonl.zst"))
    assert sorted(runs[0] + runs[1]) == files
    replayed = [frame.recv_ns for frame, _ in merge(open_source(f) for f in files)]
    assert replayed == [*range(10_000, 13_000), *range(20_000, 23_000)]


def test_an_existing_file_in_the_series_is_skipped_not_truncated(tmp_path):
    path = tmp_path / "tape.jsonl"
    path.write_text("someone else's\n")
    rotated_path(path, 1).write_text("also kept\n")
    recorder = Recorder(path, rotate_bytes=1 << 20)
    recorder.write(1, "okx", "public", "{}")
    recorder.close()
    assert recorder.files == [rotated_path(path, 2)]
    assert path.read_text() == "someone else's\n"
    assert rotated_path(path, 1).read_text() == "also kept\n"


def test_a_fifo_is_written_to_not_skipped(tmp_path):
    # Exclusive create skips existing names; a pipe (or /dev/stdout) is not a file to keep.
    fifo = tmp_path / "tape.jsonl"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    recorder = Recorder(fifo, rotate_bytes=1 << 20)
    recorder.write(1, "okx", "public", "{}")
    recorder.close()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert recorder.files == [fifo]
    assert orjson.loads(received[0]) == {
        "recv_ns": 1,
        "venue": "okx",
        "conn": "public",
        "raw": "{}",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tape.jsonl"]


@pytest.mark.parametrize(
    ("name", "rotate_bytes"),
    [
        ("tape.jsonl", 4_000),  # the buffered bytes fail at the rotation's close
        ("tape.jsonl.zst", 50_000),  # the first compressed block fails in a write
    ],
)
def test_a_full_disk_stops_recording_with_one_error_and_never_raises(
    tmp_path, caplog, name, rotate_bytes
):
    path = tmp_path / name
    stopped: list[bool] = []
    recorder = Recorder(path, rotate_bytes=rotate_bytes, on_error=lambda: stopped.append(True))
    recorder.write(0, "bybit", "linear", noisy_frame(0))
    fill_disk_under(path)
    with caplog.at_level(logging.ERROR, logger="liqmon"):
        for i in range(1, 5_000):  # ~700 KB: past every buffer
            recorder.write(i, "bybit", "linear", noisy_frame(i))
        recorder.close()
    assert stopped == [True]  # on_error once: recording stopped once
    assert recorder.frames < 5_000
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert str(path) in errors[0]
    assert "No space left on device" in errors[0]
    assert recorder.error is not None
    assert str(path) in recorder.error


def test_a_full_disk_at_the_last_flush_is_logged_not_raised(tmp_path, caplog):
    path = tmp_path / "tape.jsonl.zst"
    recorder = Recorder(path, rotate_bytes=1 << 20)
    recorder.write(1, "okx", "public", "{}")  # still in the compressor's buffer
    fill_disk_under(path)
    with caplog.at_level(logging.ERROR, logger="liqmon"):
        recorder.close()
    assert recorder.error is not None
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


async def recording_active(daemon: Daemon) -> float:
    """`liqmon_recording_active` from a real scrape of the daemon's /metrics."""
    await eventually(lambda: daemon.http_port is not None, 10.0, what="the HTTP API")
    url = f"http://127.0.0.1:{daemon.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        if family.name == "liqmon_recording_active":
            return float(family.samples[0].value)
    raise AssertionError("liqmon_recording_active is not exported")


@pytest.mark.asyncio
async def test_a_full_recording_disk_does_not_stop_the_live_feeds(tmp_path):
    """`liqmon run --record`: the feeds go on after the recording disk fills up.

    Before, the recorder's OSError was taken for a network failure (reconnect), and the
    closed writer it left behind crashed the venue at every restart, for good.
    """
    out = tmp_path / "tape.jsonl"
    recorder = Recorder(out, rotate_bytes=1 << 20)
    async with FakeVenue(cascade.Script(ticks_per_point=2), tick_s=0.03) as venue:
        environ = {
            **{
                f"LIQMON_VENUES__{name}__ENABLED": "false"
                for name in ("BINANCE", "BYBIT", "OKX", "DERIBIT")
            },
            "LIQMON_VENUES__HYPERLIQUID__SYMBOLS": "BTC",
            "LIQMON_VENUES__HYPERLIQUID__WS_URL": venue.ws_url,
            "LIQMON_VENUES__HYPERLIQUID__REST_URL": venue.rest_url,
            "LIQMON_MQTT__ENABLED": "false",
            "LIQMON_HTTP__PORT": "0",
            "LIQMON_STATE__DIR": str(tmp_path / "state"),
        }
        daemon = Daemon(load_settings(None, environ=environ), recorder=recorder)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="daemon-under-test")
        try:
            await eventually(lambda: recorder.frames > 20, 10.0, what="frames recorded")
            assert await recording_active(daemon) == 1.0
            fill_disk_under(out)
            await eventually(lambda: recorder.error is not None, 10.0, what="the write error")
            assert await recording_active(daemon) == 0.0
            stats = daemon.supervisors["hyperliquid"].stats
            seen = sum(stats.events.values())
            await eventually(
                lambda: sum(stats.events.values()) > seen + 50,
                10.0,
                what="events after the recording stopped",
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 10.0)
            recorder.close()
    assert recorder.error is not None
    assert not daemon.crashes
    assert not stats.reconnects
