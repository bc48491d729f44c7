"""Recording readers: format detection, every layout, and clear errors for bad files."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import orjson
import pytest
import zstandard
from real_data import CAPTURES

from monitor.record import Recorder, read_recording
from monitor.sources import Frame, SourceError, merge, open_source

HFT = CAPTURES / "hftbacktest"
BYBIT = CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst"
OKX = CAPTURES / "cryptofeed" / "OKX.ws.1.0"


def frames_of(path: Path) -> list[Frame]:
    return list(open_source(path))


def recording(tmp_path: Path, name: str) -> Path:
    recorder = Recorder(tmp_path / name, rotate_bytes=1 << 30)
    recorder.write(1_000, "hyperliquid", "instruments", '{"universe":[]}')
    recorder.write(2_000, "hyperliquid", "market", '{"channel":"pong"}')
    recorder.write(3_000, "binance", "snapshot:BTCUSDT", '{"lastUpdateId":1}')
    recorder.close()
    return tmp_path / name


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.zst"])
def test_liqmon_recordings_read_back_like_read_recording(tmp_path: Path, name: str) -> None:
    path = recording(tmp_path, name)
    source = open_source(path)
    assert source.format == "liqmon"
    assert not source.foreign
    expected = [Frame(r["recv_ns"], r["venue"], r["conn"], r["raw"]) for r in read_recording(path)]
    assert list(source) == expected
    assert len(expected) == 3


def test_raw_binance_capture_tells_venue_and_names_the_rest_snapshot() -> None:
    path = HFT / "usdm_btcusdt_20240808.gz"
    assert path.exists(), f"real data missing: {path}"
    source = open_source(path)
    assert source.format == "raw"
    assert source.foreign
    frames = list(source)
    assert len(frames) == 93_954  # every line of the capture (README: 93,954 messages)
    assert {f.venue for f in frames} == {"binance"}
    snapshots = [f for f in frames if f.conn.startswith("snapshot:")]
    assert [f.conn for f in snapshots] == ["snapshot:BTCUSDT"]
    assert orjson.loads(snapshots[0].raw)["lastUpdateId"] == 5123107852948
    assert {f.conn for f in frames} == {"", "snapshot:BTCUSDT"}
    assert frames[0].recv_ns == 1723161255030314667
    assert all(a.recv_ns <= b.recv_ns for a, b in itertools.pairwise(frames))


def test_raw_hyperliquid_capture() -> None:
    frames = frames_of(HFT / "hyperliquid_btcusd_20250126.gz")
    assert len(frames) == 55
    assert {f.venue for f in frames} == {"hyperliquid"}


def test_cryptofeed_capture_gives_addresses_and_rest_answers() -> None:
    source = open_source(BYBIT)
    assert source.format == "cryptofeed"
    frames = list(source)
    conns = {f.conn for f in frames}
    assert "wss://stream.bybit.com/v5/public/linear" in conns
    assert "wss://stream.bybit.com/v5/public/spot" in conns
    rest = [f for f in frames if f.conn.startswith("rest:")]
    assert len(rest) == 2
    assert "category=linear" in rest[0].conn
    assert orjson.loads(rest[0].raw)["retCode"] == 0
    assert {f.venue for f in frames} == {"bybit"}
    assert len(frames) == 3_256 - 1 - 24 - 2  # header, sends and connects carry no frame


def test_cryptofeed_text_capture() -> None:
    source = open_source(OKX)
    assert source.format == "cryptofeed-text"
    frames = list(source)
    assert {f.venue for f in frames} == {"okx"}
    assert {f.conn for f in frames} == {"wss://ws.okx.com:8443/ws/v5/public"}
    assert frames[0].recv_ns == 1652459225_503749100  # exact, from the decimal text
    assert all(f.raw.startswith("{") for f in frames)


def test_merge_orders_files_by_receive_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text('10 {"channel":"x"}\n30 {"channel":"x"}\n')
    b.write_text('20 {"channel":"y"}\n40 {"channel":"y"}\n')
    merged = [frame.recv_ns for frame, _ in merge([open_source(a), open_source(b)])]
    assert merged == [10, 20, 30, 40]


# ---------------------------------------------------------------------- bad files


def error_of(path: Path) -> SourceError:
    with pytest.raises(SourceError) as info:
        list(open_source(path))
    assert str(path) in str(info.value)
    return info.value


def test_unknown_format_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("prices went up\n1 2\n")
    error = error_of(path)
    assert error.line == 1
    assert "unknown format" in str(error)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    assert "empty" in str(error_of(path))


def test_liqmon_line_without_a_field(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = orjson.dumps({"recv_ns": 1, "venue": "okx", "conn": "public-0", "raw": "{}"})
    bad = orjson.dumps({"recv_ns": "1", "venue": "okx", "conn": "public-0", "raw": "{}"})
    path.write_bytes(good + b"\n" + good + b"\n" + bad + b"\n")
    error = error_of(path)
    assert error.line == 3
    assert "recv_ns" in str(error)


def test_liqmon_recording_cut_mid_line(tmp_path: Path) -> None:
    path = recording(tmp_path, "cut.jsonl")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    error = error_of(path)
    assert error.line == 3
    assert "truncated" in str(error)


@pytest.mark.parametrize("suffix", ["gz", "zst"])
def test_truncated_compressed_file(tmp_path: Path, suffix: str) -> None:
    lines = b"".join(b'%d {"stream":"btcusdt@trade","data":{}}\n' % i for i in range(20_000))
    data = gzip.compress(lines) if suffix == "gz" else zstandard.compress(lines)
    path = tmp_path / f"capture.{suffix}"
    path.write_bytes(data[: len(data) // 2])
    error = error_of(path)
    assert "truncated" in str(error)
    assert error.line is not None


def test_raw_capture_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "capture.txt"
    path.write_text('1 {"channel":"l2Book"}\nnot a frame\n')
    error = error_of(path)
    assert error.line == 2


def test_raw_capture_cut_inside_the_last_frame(tmp_path: Path) -> None:
    path = tmp_path / "capture.txt"
    path.write_text('1 {"channel":"l2Book"}\n2 {"channel":"l2B')
    error = error_of(path)
    assert error.line == 2
    assert "truncated" in str(error)


def test_cryptofeed_capture_of_a_venue_liqmon_does_not_speak(tmp_path: Path) -> None:
    path = tmp_path / "KRAKEN.jsonl"
    path.write_text('{"t":"header","exchange":"KRAKEN"}\n')
    assert "KRAKEN" in str(error_of(path))
