"""`liqmon record`'s writer: raw frames as received, one JSON object per line.

Line format (read back by replay): `{"recv_ns": int, "venue": str, "conn": str, "raw": str}`.
A path ending in `.zst` is zstd-compressed. Files rotate when their size on disk reaches
the rotation size (for `.zst` the compressed size; a file may go over it by what the
compressor emits at once, one block of ~128 KiB of frames compressed). The files are a
series: the path given, then a counter before the suffixes (`x.jsonl.zst`,
`x.0001.jsonl.zst`, ...). A file that exists is never overwritten: a restart with the same
path goes on with the next free name. Every line carries its receive time, which is what
replay orders by, so the order files are named or listed in does not matter.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson
import zstandard

log = logging.getLogger("liqmon.record")

ZSTD_LEVEL = 3


def rotated_path(path: Path, index: int) -> Path:
    """The `index`-th file of a rotating recording (0 is `path` itself)."""
    if index == 0:
        return path
    name = path.name
    stem, dot, suffixes = name.partition(".")
    return path.with_name(f"{stem}.{index:04d}{dot}{suffixes}")


class Recorder:
    """Append frames to a rotating, optionally compressed JSON-lines file.

    Recording is a side output of the live feeds, so a disk error (full, gone) never
    reaches the caller: it is logged once, kept in `error`, `on_error` is called, and
    recording stops for good. It does not resume by itself: a recording with a hole would
    replay as if the lost frames never happened.
    """

    def __init__(
        self,
        path: str | Path,
        rotate_bytes: int,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes
        self.on_error = on_error
        self.files: list[Path] = []
        self.frames = 0
        self.error: str | None = None
        """Why recording stopped (the file and the OS error), or None."""
        self._index = 0
        self._written = 0
        self._raw: BinaryIO | None = None
        self._stream: BinaryIO | None = None
        self._open()

    def _open(self) -> None:
        """Create the next file of the series that does not exist yet (never truncate one).

        A path that exists and is no regular file (a FIFO, /dev/stdout) is written to as it
        is, as any program would: there is nothing to truncate.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            target = rotated_path(self.path, self._index)
            try:
                self._raw = target.open("xb")
                break
            except FileExistsError:
                if not target.is_file():
                    self._raw = target.open("wb")
                    break
                self._index += 1
        if target.suffix == ".zst":
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            # write() then returns the compressed bytes it passed on to the file.
            self._stream = compressor.stream_writer(
                self._raw, closefd=False, write_return_read=False
            )
        else:
            self._stream = self._raw
        self._written = 0
        self.files.append(target)

    def write(self, recv_ns: int, venue: str, conn: str, raw: str) -> None:
        """Record one frame (the supervisor's raw sink); a disk error stops recording."""
        if self._stream is None:
            if self.error is not None:
                return
            msg = "recorder is closed"
            raise RuntimeError(msg)
        line = orjson.dumps({"recv_ns": recv_ns, "venue": venue, "conn": conn, "raw": raw})
        try:
            self._written += self._stream.write(line + b"\n")
            self.frames += 1
            if self._written >= self.rotate_bytes:
                self._close_current()
                self._index += 1
                self._open()
        except OSError as exc:
            self._stop(exc)

    def _stop(self, exc: OSError) -> None:
        """Give up recording after a disk error (see the class docstring)."""
        self.error = f"cannot write {exc.filename or self.files[-1]}: {exc.strerror or exc}"
        log.error("recording stopped: %s", self.error)
        with contextlib.suppress(OSError):  # the same error again, already reported
            self._close_current()
        if self.on_error is not None:
            self.on_error()

    def _close_current(self) -> None:
        stream, raw = self._stream, self._raw
        try:
            if stream is not None and stream is not raw:
                stream.close()
        finally:
            # Even when flushing fails: no closed or broken writer stays in use.
            self._stream = self._raw = None
            if raw is not None:
                raw.close()

    def close(self) -> None:
        """Flush and close; the file is complete and readable afterwards (unless `error`)."""
        try:
            self._close_current()
        except OSError as exc:
            self._stop(exc)


def read_recording(path: str | Path) -> list[dict[str, object]]:
    """Read one recording file back (small files and tests; replay streams instead)."""
    data = Path(path).read_bytes()
    if str(path).endswith(".zst"):
        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return [orjson.loads(line) for line in data.splitlines() if line]
