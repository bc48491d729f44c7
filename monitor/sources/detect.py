"""`open_source`: one entry point for every input file, its format told by its content."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import repeat
from pathlib import Path
from typing import Protocol

from monitor.sources.files import (
    HEAD_CHUNK,
    Frame,
    SourceError,
    SourceFile,
    Truncated,
    decompressed,
)
from monitor.sources.tables import Record, TableOptions, TableSource, table_format

HEAD_BYTES = 4096


class Source(Protocol):
    """What the replay reads: items with a receive time, in receive-time order."""

    path: Path
    size: int
    foreign: bool
    rejected: Counter[tuple[str, str]]

    def position(self) -> int:
        """Bytes of the file read so far (for progress)."""
        ...

    def __iter__(self) -> Iterator[Frame | Record]:
        """Frames (recordings) or records (Tardis files, plain tables)."""
        ...


def _head(path: Path) -> bytes:
    """The first decompressed bytes of a file (enough to tell its layout)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(8)
            if raw.startswith((b"PAR1", b"ARROW1", b"FEA1")):
                return raw
            handle.seek(0)
            head = b""
            for chunk in decompressed(handle, HEAD_CHUNK):
                head += chunk
                if len(head) >= HEAD_BYTES:
                    break
            return head
    except Truncated:
        return head
    except OSError as exc:
        raise SourceError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # zlib / zstd errors
        raise SourceError(path, None, f"damaged compressed data: {exc}") from exc


def open_source(path: str | Path, tables: TableOptions | None = None) -> SourceFile | TableSource:
    """An input file, its format detected from its content; `SourceError` if liqmon reads none.

    Recordings of frames (liqmon, raw, cryptofeed) give a `SourceFile`; Tardis CSV files and
    plain tables (CSV, Parquet, Feather, freqtrade JSON) a `TableSource`, read with `tables`.
    """
    file = Path(path)
    fmt = table_format(_head(file)) if file.is_file() else None
    if fmt is not None:
        return TableSource(file, fmt, tables)
    return SourceFile(file)


def merge(sources: Iterable[Source]) -> Iterator[tuple[Frame | Record, Source]]:
    """Items of several files in receive-time order (ties keep the files' order)."""
    streams = [zip(source, repeat(source)) for source in sources]
    return heapq.merge(*streams, key=lambda pair: pair[0].recv_ns)
