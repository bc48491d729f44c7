"""The recording format: JSON lines, zstd by suffix, size rotation."""

from __future__ import annotations

import hashlib
from itertools import islice

import orjson
import zstandard
from real_data import CAPTURES, capture_lines

from monitor.record import Recorder, read_recording, rotated_path
from monitor.sources import merge, open_source


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
