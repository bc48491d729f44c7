"""Recorded frames from files, whatever wrote them: `(recv_ns, venue, conn, raw)` per frame.

Three layouts are recognised from their content (never from the file name alone), each
plain, gzip or zstd (by magic bytes):

- **liqmon** (`liqmon record`): JSON lines `{"recv_ns", "venue", "conn", "raw"}`; `conn` is
  the plan's connection name, or `instruments`, `poll`, `snapshot:<symbol>` for REST answers.
- **raw** (`<recv_ns> <json>` lines, e.g. hftbacktest): one venue per file, told by the
  first frame's shape (Binance combined-stream wrapper `{"stream": ...}`, Hyperliquid
  `{"channel": ...}`, Bybit `{"topic": ...}`, OKX `{"arg": ...}`, Deribit `{"jsonrpc": ...}`).
  `conn` is `""` (the replay gives the frame to the venue's first connection). A Binance
  REST depth snapshot line (`{"lastUpdateId": ...}`) becomes `snapshot:<SYMBOL>`, the symbol
  taken from the stream names of the file.
- **cryptofeed** (`*.jsonl[.zst]`, format 2): a header line `{"t": "header", "exchange": ...}`
  names the venue; `recv` records are frames, `conn` is the WebSocket address of their
  connection (`wss://host/path`, from its `connect` record); `http` records are REST
  answers with `conn` = `rest:<url>`. `send` and `connect` records carry no frame.
- **cryptofeed text** (`*.ws.*`, e.g. `OKX.ws.1.0`): `<url> <-> <ts>` opens a connection,
  `<url> <- <ts>: <json>` is a frame we sent (skipped), `<ts>: <json>` a received frame;
  the venue is the file name's first dotted part (`OKX`).

Already-normalised inputs, Tardis.dev CSV files and plain tables (klines, open interest,
liquidation tapes, books in CSV, Parquet, Feather or freqtrade JSON), are read by
`monitor.sources.tables` into `Record`s instead of frames (see there for the formats and the
column mapping). `open_source(path, tables)` tells every format from the content and
returns a `SourceFile` or a `TableSource`; `merge` interleaves any of them by receive time.

A file that is none of these, a line that does not fit its layout, or a truncated file
raises `SourceError` naming the file and the line.
"""

from __future__ import annotations

from monitor.sources.detect import Source, merge, open_source
from monitor.sources.files import Frame, SourceError, SourceFile
from monitor.sources.tables import Record, TableOptions, TableSource, book_event, record_event

__all__ = [
    "Frame",
    "Record",
    "Source",
    "SourceError",
    "SourceFile",
    "TableOptions",
    "TableSource",
    "book_event",
    "merge",
    "open_source",
    "record_event",
]
