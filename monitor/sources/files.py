"""Format detection and the readers of each recording layout (see `monitor.sources`)."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec
import orjson
import zstandard

from monitor.errors import InputError

Format = Literal["liqmon", "raw", "cryptofeed", "cryptofeed-text"]

CHUNK = 1 << 20
"""Compressed bytes read at a time (~8 MiB of text for a gzip'd capture)."""
HEAD_CHUNK = 1 << 14
"""Compressed bytes read at a time while only the first line is wanted (format detection):
a whole `CHUNK` would decompress megabytes to look at one line."""
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

CRYPTOFEED_VENUES = {
    "BINANCE_FUTURES": "binance",
    "BYBIT": "bybit",
    "OKX": "okx",
    "DERIBIT": "deribit",
    "HYPERLIQUID": "hyperliquid",
}
"""cryptofeed exchange names of the venues liqmon speaks (USD-M futures for Binance)."""

RAW_SIGNATURES = (
    (b'"stream":', "binance"),
    (b'"lastUpdateId":', "binance"),
    (b'"channel":', "hyperliquid"),
    (b'"topic":', "bybit"),
    (b'"arg":', "okx"),
    (b'"jsonrpc":', "deribit"),
)
"""How the first frames of a raw capture tell its venue (searched in the frame's head)."""

_RAW_LINE = re.compile(rb"^\d{1,20} [{\[]")
_TEXT_LINE = re.compile(rb"^(wss?://\S+ <-?> \d+(\.\d+)?|\d+(\.\d+)?: )")
_BINANCE_STREAM = re.compile(rb'"stream":"([a-z0-9_]+)@')
HEAD = 200
"""Bytes of a raw frame searched for its venue's signature."""


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One recorded frame: receive time (ns), venue, connection, raw text.

    A msgspec struct: built in ~35 ns where a NamedTuple takes ~170, once per frame.
    """

    recv_ns: int
    venue: str
    conn: str
    raw: str


class SourceError(InputError):
    """A file that is not a recording liqmon can read, or is damaged; names file and line."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class SourceFile:
    """One recording file. Iterating yields its frames in file order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise SourceError(self.path, None, f"cannot read: {exc.strerror}") from exc
        self._handle: BinaryIO | None = None
        self.format: Format = self._detect()
        self.foreign = self.format != "liqmon"
        """Recorded by another program, which may have subscribed to more than liqmon does."""
        self.rejected: Counter[tuple[str, str]] = Counter()
        """(venue, reason) of rows the reader dropped itself: none for frame recordings."""

    def position(self) -> int:
        """Bytes of the file read so far (for progress)."""
        handle = self._handle
        if handle is None or handle.closed:
            return self.size
        return handle.tell()

    def __iter__(self) -> Iterator[Frame]:
        reader: Callable[[Iterator[tuple[int, bytes]]], Iterator[Frame]] = {
            "liqmon": self._liqmon,
            "raw": self._raw,
            "cryptofeed": self._cryptofeed,
            "cryptofeed-text": self._cryptofeed_text,
        }[self.format]
        return reader(self._lines())

    # ------------------------------------------------------------------ bytes and lines

    def _lines(self, chunk_size: int = CHUNK) -> Iterator[tuple[int, bytes]]:
        """(line number, line without its newline) of non-empty lines.

        The last line of a file that does not end with a newline is yielded as it is;
        readers check that it is complete.
        """
        number = 0
        try:
            with self.path.open("rb") as handle:
                self._handle = handle
                rest = b""
                for chunk in decompressed(handle, chunk_size):
                    parts = (rest + chunk).split(b"\n")
                    rest = parts.pop()
                    for line in parts:
                        number += 1
                        if line.strip():
                            yield number, line
                if rest.strip():
                    number += 1
                    yield number, rest
        except Truncated as exc:
            msg = f"truncated: the compressed stream ends inside a frame ({exc})"
            raise SourceError(self.path, number + 1, msg) from None
        except OSError as exc:
            raise SourceError(self.path, number + 1, f"cannot read: {exc}") from exc
        except zstandard.ZstdError as exc:
            raise SourceError(self.path, number + 1, f"damaged zstd data: {exc}") from exc
        except zlib.error as exc:
            raise SourceError(self.path, number + 1, f"damaged gzip data: {exc}") from exc

    def _detect(self) -> Format:
        for _, line in self._lines(HEAD_CHUNK):
            if _RAW_LINE.match(line):
                return "raw"
            if _TEXT_LINE.match(line):
                return "cryptofeed-text"
            if line.startswith(b"{"):
                try:
                    document = orjson.loads(line)
                except orjson.JSONDecodeError:
                    break
                if not isinstance(document, dict):
                    break
                if document.get("t") == "header":
                    return "cryptofeed"
                if {"recv_ns", "venue", "conn", "raw"} <= document.keys():
                    return "liqmon"
            break
        else:
            raise SourceError(self.path, None, "empty file: no frames")
        msg = (
            "unknown format: expected a liqmon recording (JSON lines with recv_ns, venue, conn, "
            "raw), a raw capture (`<recv_ns> <json>` lines), a cryptofeed capture, a Tardis.dev "
            "CSV file or a table (CSV with a header, Parquet, Feather, freqtrade JSON)"
        )
        raise SourceError(self.path, 1, msg)

    def _json(self, number: int, line: bytes, what: str) -> dict[str, Any]:
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SourceError(self.path, number, f"not {what} (truncated?): {exc}") from None
        if not isinstance(document, dict):
            raise SourceError(self.path, number, f"not {what}")
        return document

    # ------------------------------------------------------------------ layouts

    def _liqmon(self, lines: Iterator[tuple[int, bytes]]) -> Iterator[Frame]:
        for number, line in lines:
            record = self._json(number, line, "a liqmon recording line")
            recv_ns, venue = record.get("recv_ns"), record.get("venue")
            conn, raw = record.get("conn"), record.get("raw")
            if (
                type(recv_ns) is not int
                or not isinstance(venue, str)
                or not isinstance(conn, str)
                or not isinstance(raw, str)
            ):
                msg = "a liqmon recording line needs recv_ns (int), venue, conn and raw (text)"
                raise SourceError(self.path, number, msg)
            yield Frame(recv_ns, venue, conn, raw)

    def _raw(self, lines: Iterator[tuple[int, bytes]]) -> Iterator[Frame]:
        venue: str | None = None
        symbol: str | None = None
        waiting: list[tuple[int, int, str]] = []  # snapshots seen before any stream name
        last = 0
        for number, line in lines:
            last = number
            stamp, _, body = line.partition(b" ")
            if not stamp.isdigit() or not body.startswith((b"{", b"[")):
                raise SourceError(self.path, number, "not a `<recv_ns> <json>` line")
            if not body.rstrip().endswith((b"}", b"]")):
                raise SourceError(self.path, number, "truncated: the JSON frame is incomplete")
            if venue is None:
                head = body[:HEAD]
                venue = next((v for sig, v in RAW_SIGNATURES if sig in head), None)
                if venue is None:
                    msg = "cannot tell the venue of this raw capture from its first frame"
                    raise SourceError(self.path, number, msg)
            recv_ns, raw = int(stamp), body.decode("utf-8", "replace").rstrip("\r")
            if body.startswith(b'{"lastUpdateId":'):
                if symbol is None:
                    waiting.append((number, recv_ns, raw))
                    continue
                yield Frame(recv_ns, venue, f"snapshot:{symbol}", raw)
                continue
            if symbol is None and (found := _BINANCE_STREAM.search(body, 0, HEAD)):
                symbol = found.group(1).decode().upper()
                for _, at, snapshot in waiting:
                    yield Frame(at, venue, f"snapshot:{symbol}", snapshot)
                waiting.clear()
            yield Frame(recv_ns, venue, "", raw)
        if waiting:
            msg = "a book snapshot whose symbol no stream name of the file tells"
            raise SourceError(self.path, waiting[0][0], msg)
        if venue is None:
            raise SourceError(self.path, last or None, "no frames")

    def _cryptofeed(self, lines: Iterator[tuple[int, bytes]]) -> Iterator[Frame]:
        venue: str | None = None
        addresses: dict[str, str] = {}
        for number, line in lines:
            record = self._json(number, line, "a cryptofeed record")
            kind = record.get("t")
            if kind == "header":
                exchange = record.get("exchange")
                venue = CRYPTOFEED_VENUES.get(str(exchange))
                if venue is None:
                    msg = f"cryptofeed exchange {exchange!r} is not a venue liqmon speaks"
                    raise SourceError(self.path, number, msg)
                continue
            if venue is None:
                raise SourceError(self.path, number, "a cryptofeed record before the header")
            conn, ts = record.get("conn"), record.get("ts")
            if not isinstance(conn, str) or not isinstance(ts, int | float):
                raise SourceError(self.path, number, "a cryptofeed record needs conn and ts")
            if kind == "connect":
                addresses[conn] = str(record.get("addr", ""))
                continue
            if kind not in ("recv", "http"):
                continue
            data = record.get("data")
            if not isinstance(data, str):
                raise SourceError(self.path, number, f"a {kind} record needs data (text)")
            recv_ns = round(ts * 1e9)
            if kind == "http":
                yield Frame(recv_ns, venue, f"rest:{record.get('url', '')}", data)
            else:
                yield Frame(recv_ns, venue, addresses.get(conn, ""), data)

    def _cryptofeed_text(self, lines: Iterator[tuple[int, bytes]]) -> Iterator[Frame]:
        exchange = self.path.name.partition(".")[0].upper()
        venue = CRYPTOFEED_VENUES.get(exchange)
        if venue is None:
            msg = f"cryptofeed exchange {exchange!r} (the file name) is not a venue liqmon speaks"
            raise SourceError(self.path, None, msg)
        address = ""
        for number, line in lines:
            text = line.decode("utf-8", "replace").rstrip("\r")
            if text.startswith(("ws://", "wss://")):
                url, arrow, _ = text.partition(" ")
                if text[len(url) + 1 :].startswith("<-> "):
                    address = url  # a (re)connect
                elif not text[len(url) + 1 :].startswith("<- "):
                    raise SourceError(self.path, number, f"unknown line kind {arrow!r}")
                continue
            stamp, sep, body = text.partition(": ")
            if not sep or not body.startswith(("{", "[")):
                raise SourceError(self.path, number, "not a `<ts>: <json>` line")
            if not body.endswith(("}", "]")):
                raise SourceError(self.path, number, "truncated: the JSON frame is incomplete")
            yield Frame(_seconds_to_ns(self.path, number, stamp), venue, address, body)


def decompressed(handle: BinaryIO, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The content of a plain, gzip or zstd file (told by magic bytes), in chunks.

    `chunk_size` bytes of the file are read at a time. A compressed stream cut short
    raises `Truncated`.
    """
    head = handle.read(4)
    handle.seek(0)
    if head.startswith(GZIP_MAGIC):
        yield from _decompress(handle, lambda: zlib.decompressobj(wbits=31), chunk_size)
    elif head == ZSTD_MAGIC:
        yield from _decompress(
            handle, lambda: zstandard.ZstdDecompressor().decompressobj(), chunk_size
        )
    else:
        while chunk := handle.read(chunk_size):
            yield chunk


class Truncated(Exception):  # noqa: N818 - internal signal, turned into SourceError
    """A compressed stream ended before its end marker."""


def _decompress(handle: BinaryIO, new: Callable[[], Any], chunk_size: int) -> Iterator[bytes]:
    """Every frame/member of a gzip or zstd file; raises `Truncated` when one is cut."""
    decoder = new()
    started = False  # the current decoder has been fed
    while chunk := handle.read(chunk_size):
        while chunk:
            started = True
            out = decoder.decompress(chunk)
            if out:
                yield out
            if not decoder.eof:
                break
            chunk = decoder.unused_data  # another frame (zstd) or member (gzip) follows
            decoder, started = new(), False
    if started and not decoder.eof:
        raise Truncated("no end-of-stream marker")


def _seconds_to_ns(path: Path, number: int, stamp: str) -> int:
    """`1652459225.5037491` → ns, exactly (no float rounding)."""
    seconds, _, fraction = stamp.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise SourceError(path, number, f"bad timestamp {stamp[:30]!r}")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9] or "0")
