"""Already-normalised inputs: Tardis.dev CSV files and plain tables, as time-ordered records.

These are not venue frames, so no adapter parses them: each row becomes a `Record` (receive
time, venue, symbol, one kind of market data) that the replay turns into the core's events
with `record_event`, converting sizes with the market's `Instrument`.

**Tardis.dev CSV** (docs.tardis.dev, "Downloadable CSV files" → "Data Types", read
2026-11): comma separated, LF, times in microseconds since the epoch (UTC); every file starts
with `exchange,symbol,timestamp,local_timestamp` (`timestamp` the exchange's time, or the
local one when the exchange gives none; `local_timestamp` the arrival time, which is our
receive time). Files are shipped gzip'd (`<exchange>_<data_type>_<date>_<symbol>.csv.gz`).
The data types read here:

- `derivative_ticker`: `funding_timestamp, funding_rate, predicted_funding_rate,
  open_interest, last_price, index_price, mark_price` (empty when unknown) → a mark price
  (with the index), an open interest and a funding rate per row, each when present;
- `trades`: `id, side, price, amount`; `side` is the taker's side (`buy`/`sell`;
  `unknown` rows are rejected as `unknown_side`);
- `liquidations`: the same columns; `side` is the side of the liquidation *order*: a `sell`
  liquidation closes a long, so it becomes a liquidation of a LONG position, `buy` a SHORT;
- `book_snapshot_25` (and `book_snapshot_5`): `asks[0].price, asks[0].amount,
  bids[0].price, bids[0].amount, ...`, best first, empty past the book's end → a book.

`trades` and `liquidations` have the same columns, so the file name (Tardis's own naming)
tells them apart. Amounts and open interest are "as provided by the exchange": base units
on binance-futures, bybit (linear) and hyperliquid; contracts on okex-swap and USD on
Deribit's inverse perpetuals, so those go through the instrument's contract size
(`--instruments VENUE=FILE`, as for frame recordings). Bybit's `openInterest` counts both
sides (see `monitor.feeds.bybit`): halved. UNCONFIRMED (the docs say only "as provided by
exchange"): that Tardis passes Bybit's two-sided figure and OKX's contracts through unchanged.
Exchange ids map to venues by `TARDIS_VENUES`; any other exchange keeps its id and is
skipped by the replay as an unknown venue, under `tardis/<id>` when the id is a liqmon venue's
name (Tardis's `binance` is Binance spot, not liqmon's USD-M).
Symbols are the exchanges' own spelling, as in liqmon's configuration.

**Plain tables** (`TableSource`): CSV with a header, Parquet, Feather (Arrow IPC) or the
freqtrade JSON layout (`[[open_time_ms, open, high, low, close, volume], ...]`). Column
names are matched case- and punctuation-insensitively against `DEFAULT_COLUMNS` (the first
alias present wins); `TableOptions.columns` maps a role to another header. What the
columns hold decides the kind:

- **klines** (open, high, low, close): each bar becomes a path of four marks, the open at
  the bar's open time, then low and high (high then low in a falling bar) at one and two
  thirds of the bar, the close at its end (1 ns before the next bar opens), so the ledger
  sees the bar's whole range. The bar length is the smallest gap between open times. Files
  whose name says `funding_rate` (freqtrade) give the funding rate in `open` instead.
  Last-price bars (freqtrade `-futures`, spot) stand in for the mark as they are;
- **open interest** (open_interest): base units, one side;
- **liquidation tape** (side, price, quantity): `side` BUY/SELL is the order's side
  (Binance: SELL = a long died), LONG/SHORT the position's;
- **book** (price, quantity and a side or type column of Bid/Ask): one full book per
  distinct time.

Times, read cell by cell: epoch numbers (s, ms, µs or ns by each number's magnitude,
`epoch_ns`), datetimes, or text (ISO 8601); a time without an offset (naive text or datetime)
is UTC, or `TableOptions.utc_offset` hours east of it. A time before 2009, past 2262 or cut off
from the median row by a gap of over a year (`plausible_times`; a Tardis file block by block)
is a bad timestamp. Venue:
`TableOptions.venue`, else the first venue name in the file's path
(`binance_um_.../x.csv` → binance). Symbol: `TableOptions.symbol`, else a symbol column,
else the freqtrade file name (`BTC_USDT_USDT-1h-mark` → BTCUSDT; on Hyperliquid BTC), else
a `<coin>usdt` / `<coin>usdc` part of the path.

A row with an unreadable number, time or side, or an empty symbol cell, is dropped and
counted in `rejected` by (venue, reason), logged once per reason with its line. A file
without the columns its kind needs, cut short, or unreadable raises `SourceError` naming the
file (and line).
"""

from __future__ import annotations

import io
import logging
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import orjson
import polars as pl
import zstandard

from monitor.core.events import (
    Aggressor,
    BookSnapshot,
    Event,
    Level,
    Side,
    new_book_snapshot,
    new_funding,
    new_liquidation,
    new_mark_price,
    new_open_interest,
    new_trade,
)
from monitor.feeds.base import Instrument, SizeUnit
from monitor.sources.files import SourceError, Truncated, decompressed

log = logging.getLogger("liqmon.sources")

Kind = Literal["mark", "open_interest", "liquidation", "trade", "funding", "book"]
TableFormat = Literal["tardis", "csv", "parquet", "feather", "freqtrade"]

NS_PER_US = 1_000
EARLIEST_NS = 1_230_768_000 * 1_000_000_000
"""2009-01-01T00:00:00Z: no crypto market data is older, so an earlier time is a bad cell."""
LATEST_NS = 2**63 - 1
"""The last time an int64 of nanoseconds holds (2262-04-11)."""
_NS_PER = {"ns": 1, "us": 1_000, "ms": 1_000_000}
"""Nanoseconds per tick of each polars Datetime time unit."""
EPOCH_UNITS = ((10**11, 1_000_000_000), (10**14, 1_000_000), (10**17, 1_000))
"""(magnitude below which, ns per unit) of epoch numbers: s, ms, µs; anything larger is ns."""
MAX_TIME_GAP_NS = 366 * 86_400 * 1_000_000_000
"""A gap in a file's times longer than this cuts the rows beyond it off as implausible."""
UTF8_BOM = b"\xef\xbb\xbf"
TARDIS_BLOCK = 8 << 20
"""Bytes of CSV text parsed at once from a Tardis file."""
TARDIS_HEADER = b"exchange,symbol,timestamp,local_timestamp,"
TARDIS_VENUES = {
    "binance-futures": "binance",
    "bybit": "bybit",
    "okex-swap": "okx",
    "deribit": "deribit",
    "hyperliquid": "hyperliquid",
}
"""Tardis exchange ids of the venues liqmon speaks (USD-M futures for Binance)."""
TARDIS_FOREIGN_PREFIX = "tardis/"
"""Before an unmapped Tardis id that is a liqmon venue's name (Tardis's `binance` is spot)."""
TARDIS_OI_FACTOR = {"bybit": 0.5}
"""Open interest as Tardis passes it on, to one side (Bybit's figure counts both)."""
VENUE_NAMES = ("binance", "bybit", "okx", "deribit", "hyperliquid")

DEFAULT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "time": (
        "timestamp",
        "time",
        "date",
        "datetime",
        "opentime",
        "tradetimeist",
        "eventtimeist",
        "tradetime",
        "eventtime",
        "ts",
        "t",
    ),
    "symbol": ("symbol", "coin", "instrument", "s"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "open_interest": ("openinterest", "oi", "sumopeninterest"),
    "side": ("side", "type"),
    "price": ("averageprice", "avgprice", "price", "px", "p"),
    "quantity": ("filledquantity", "quantity", "qty", "amount", "size", "sz", "q"),
}
"""Table roles and the headers recognised for each (lower case, letters and digits only)."""

_FREQTRADE_NAME = re.compile(r"^([A-Z0-9]+)_([A-Z0-9]+)(?:_[A-Z0-9]+)?-\w+?-([a-z_]+)")
_PATH_SYMBOL = re.compile(r"(?:^|[_\-.])([a-z0-9]{2,}?(?:usdt|usdc))(?:$|[_\-.])")
_TARDIS_BOOK = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")
POSITION_SIDES = {"long": Side.LONG, "short": Side.SHORT}
AGGRESSORS = {"buy": Aggressor.BUY, "sell": Aggressor.SELL}
_SIDES = {
    # order sides: the liquidated position is the other one
    "sell": "long",
    "buy": "short",
    # position sides
    "long": "long",
    "short": "short",
}


def epoch_ns(value: int | float) -> int | None:
    """Nanoseconds of an epoch number in s, ms, µs or ns, the unit told by its own magnitude.

    None when it is no time market data can have: not finite, before `EARLIEST_NS`, or past
    `LATEST_NS`. Every unit's plausible values lie inside its own band of `EPOCH_UNITS`, so
    the unit is decided per value and one odd row never changes how another reads.
    Whole numbers, also as floats, are scaled exactly; a fraction is scaled as a float.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():  # 1733011200001.0 ms: exact, like the integer
            value = int(value)
    ns_per_unit = next((ns for below, ns in EPOCH_UNITS if abs(value) < below), 1)
    ns = value * ns_per_unit if isinstance(value, int) else round(value * ns_per_unit)
    return ns if EARLIEST_NS <= ns <= LATEST_NS else None


def plausible_times(ns: pl.Series) -> pl.Series:
    """`ns` (epoch ns, nulls allowed) with the implausible times nulled.

    Implausible: before `EARLIEST_NS`, or cut off from the median row by a gap of more than
    `MAX_TIME_GAP_NS` between neighbouring times. A mistyped year or a unit slip in a few rows
    thus cannot stretch a replay across decades, whatever the rows' order; the rule needs no
    wall clock (the answer depends on the file alone) and holds while most rows are sound.
    """
    ordered = ns.filter(ns >= EARLIEST_NS).sort()
    if ordered.is_empty():
        return ns.clear(len(ns))
    middle = (len(ordered) - 1) // 2
    breaks = (ordered.diff() > MAX_TIME_GAP_NS).arg_true()
    first = breaks.filter(breaks <= middle).max()
    end = breaks.filter(breaks > middle).min()
    lowest = ordered[first if isinstance(first, int) else 0]
    highest = ordered[(end if isinstance(end, int) else len(ordered)) - 1]
    kept = pl.select(pl.when(ns.is_between(lowest, highest)).then(ns).alias(ns.name))
    return kept.to_series()


def _tardis_ns(column: str) -> pl.Expr:
    """A Tardis µs column in ns; null when unreadable or outside the times an int64 ns holds.

    The range is checked before multiplying: the product would wrap around silently.
    """
    us = pl.col(column).cast(pl.Int64, strict=False)
    sane = us.is_between(EARLIEST_NS // NS_PER_US, LATEST_NS // NS_PER_US)
    return pl.when(sane).then(us * NS_PER_US)


@dataclass(frozen=True)
class TableOptions:
    """How plain tables are read (Tardis files need none of it).

    `columns` maps a role of `DEFAULT_COLUMNS` to a header of the file; `utc_offset` is the
    offset in hours of times written without one (e.g. 5.5 for IST).
    """

    venue: str | None = None
    symbol: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    utc_offset: float = 0.0


class Record(NamedTuple):
    """One normalised observation; sizes still in the exchange's units.

    `price` is the mark (mark), trade or liquidation price, or the funding rate (funding);
    `size` the open interest or quantity; `side` long/short (liquidation) or buy/sell
    (trade); `extra` the index price (mark) or the mark (open interest, for USD sizes);
    `stamp` the next funding time; `bids`/`asks` the levels of a book.
    """

    recv_ns: int
    venue: str
    symbol: str
    kind: Kind
    ts_ns: int
    price: float = math.nan
    size: float = math.nan
    side: str = ""
    extra: float | None = None
    stamp: int | None = None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()


def record_event(record: Record, instrument: Instrument) -> Event:
    """The core's event of `record` (sizes in base units); `InvalidEventError` if invalid.

    Trades come first: they are most of a Tardis set's rows.
    """
    kind, venue, symbol = record.kind, record.venue, record.symbol
    ts_event, ts_recv = record.ts_ns, record.recv_ns
    if kind == "trade":
        return new_trade(
            venue=venue,
            symbol=symbol,
            ts_event_ns=ts_event,
            ts_recv_ns=ts_recv,
            price=record.price,
            quantity=instrument.to_base(record.size, record.price),
            aggressor=AGGRESSORS[record.side],
        )
    if kind == "mark":
        return new_mark_price(
            venue=venue,
            symbol=symbol,
            ts_event_ns=ts_event,
            ts_recv_ns=ts_recv,
            mark_price=record.price,
            index_price=record.extra,
        )
    if kind == "open_interest":
        mark = math.nan if record.extra is None else record.extra
        return new_open_interest(
            venue=venue,
            symbol=symbol,
            ts_event_ns=ts_event,
            ts_recv_ns=ts_recv,
            open_interest=instrument.to_base(record.size, mark),
        )
    if kind == "liquidation":
        return new_liquidation(
            venue=venue,
            symbol=symbol,
            ts_event_ns=ts_event,
            ts_recv_ns=ts_recv,
            side=POSITION_SIDES[record.side],
            price=record.price,
            quantity=instrument.to_base(record.size, record.price),
        )
    if kind == "funding":
        return new_funding(
            venue=venue,
            symbol=symbol,
            ts_event_ns=ts_event,
            ts_recv_ns=ts_recv,
            rate=record.price,
            next_funding_ns=record.stamp,
        )
    return book_event(record, instrument)


def book_event(record: Record, instrument: Instrument) -> BookSnapshot:
    """A book record as a snapshot event (checked: sorted, not crossed)."""
    bids, asks = record.bids, record.asks
    if instrument.size_unit is not SizeUnit.BASE:
        bids = tuple((price, instrument.to_base(size, price)) for price, size in bids)
        asks = tuple((price, instrument.to_base(size, price)) for price, size in asks)
    return new_book_snapshot(
        venue=record.venue,
        symbol=record.symbol,
        ts_event_ns=record.ts_ns,
        ts_recv_ns=record.recv_ns,
        bids=bids,
        asks=asks,
    )


# ---------------------------------------------------------------------- detection


def table_format(head: bytes) -> TableFormat | None:
    """The table layout of a file from its first (decompressed) bytes; None: not a table.

    Text may start with a UTF-8 byte order mark (Excel's "CSV UTF-8" writes one).
    """
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"ARROW1", b"FEA1")):
        return "feather"
    text = head.removeprefix(UTF8_BOM).lstrip()
    if text.startswith(TARDIS_HEADER):
        return "tardis"
    if text.startswith(b"[") and re.match(rb"\[\s*\[\s*-?\d", text):
        return "freqtrade"
    first = text.split(b"\n", 1)[0]
    if b"," in first and re.match(rb'^"?[A-Za-z_]', first) and not text.startswith(b"{"):
        return "csv"
    return None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class TableSource:
    """A Tardis CSV file or a plain table. Iterating yields its records in time order."""

    foreign = True  # normalised by another program: not subject to liqmon's frame rules

    def __init__(self, path: Path, fmt: TableFormat, options: TableOptions | None = None) -> None:
        self.path = path
        self.format: TableFormat = fmt
        self.options = options or TableOptions()
        self.size = path.stat().st_size
        self.rejected: Counter[tuple[str, str]] = Counter()
        """(venue, reason) of rows dropped while reading."""
        self._read = 0  # bytes of the file read so far
        self._venue = ""  # plain tables: the venue told by options or path

    def position(self) -> int:
        """Bytes of the file read so far (for progress)."""
        return self._read

    def __iter__(self) -> Iterator[Record]:
        """Records in receive-time order.

        A Tardis file is streamed in blocks of rows, each block sorted (that Tardis writes rows
        in `local_timestamp` order is assumed, not confirmed); a table is read whole.
        """
        if self.format == "tardis":
            return self._tardis()
        records = self._table()
        records.sort(key=lambda r: r.recv_ns)
        self._read = self.size
        return iter(records)

    # ------------------------------------------------------------------ reading

    def _bytes(self) -> bytes:
        parts: list[bytes] = []
        try:
            with self.path.open("rb") as handle:
                parts.extend(decompressed(handle))
        except Truncated:
            data = b"".join(parts)
            msg = "truncated: the compressed stream ends early"
            raise SourceError(self.path, data.count(b"\n") + 1, msg) from None
        except OSError as exc:
            raise SourceError(self.path, None, f"cannot read: {exc}") from exc
        except Exception as exc:  # zlib / zstd errors: damaged data
            raise SourceError(self.path, None, f"damaged compressed data: {exc}") from exc
        return b"".join(parts).removeprefix(UTF8_BOM)

    def _csv(self, data: bytes, first_line: int = 1) -> pl.DataFrame:
        """Every column as text; a last line cut short is an error naming it.

        `first_line` is the file line of the data's first line (its header).
        """
        if data and not data.endswith(b"\n"):
            header = data.split(b"\n", 1)[0]
            last = data.rsplit(b"\n", 1)[-1]
            if last.count(b",") < header.count(b","):
                line = first_line + data.count(b"\n")
                raise SourceError(self.path, line, "truncated: the last row is incomplete")
        try:
            return pl.read_csv(io.BytesIO(data), infer_schema=False, raise_if_empty=True)
        except (pl.exceptions.PolarsError, ValueError) as exc:
            raise SourceError(self.path, None, f"not a readable CSV table: {exc}") from None

    def _reject(self, venue: str, reason: str, line: int, detail: str) -> None:
        key = (venue, reason)
        if key not in self.rejected:
            where = "line" if self.format in ("csv", "tardis") else "row"
            log.warning("%s, %s %d: dropped (%s): %s", self.path, where, line, reason, detail)
        self.rejected[key] += 1

    # ------------------------------------------------------------------ Tardis

    def _tardis(self) -> Iterator[Record]:
        """The file in blocks of about `TARDIS_BLOCK` bytes of whole lines.

        Each block is parsed by polars under the file's header, so memory stays bounded
        whatever the size of the file; times are checked for plausibility block by block.
        """
        header = b""
        pending = b""
        line = 1  # file line of the first line of `pending`
        reader: Callable[[pl.DataFrame], list[Record]] | None = None
        try:
            with self.path.open("rb") as handle:
                for chunk in decompressed(handle):
                    self._read = handle.tell()
                    pending += chunk
                    if not header:
                        if b"\n" not in pending:
                            continue
                        header, _, pending = pending.removeprefix(UTF8_BOM).partition(b"\n")
                        header += b"\n"
                        line += 1
                    if len(pending) < TARDIS_BLOCK:
                        continue
                    cut = pending.rfind(b"\n") + 1
                    if cut == 0:
                        continue
                    block, pending = pending[:cut], pending[cut:]
                    reader = reader or self._tardis_reader(header)
                    yield from self._tardis_block(reader, header + block, line)
                    line += block.count(b"\n")
        except Truncated:
            line += pending.count(b"\n")
            raise SourceError(
                self.path, line, "truncated: the compressed stream ends early"
            ) from None
        except OSError as exc:
            raise SourceError(self.path, line, f"cannot read: {exc}") from exc
        except (zlib.error, zstandard.ZstdError) as exc:
            raise SourceError(self.path, line, f"damaged compressed data: {exc}") from exc
        if not header:
            header, pending = pending.removeprefix(UTF8_BOM), b""
        reader = reader or self._tardis_reader(header)
        if pending.strip():
            yield from self._tardis_block(reader, header + pending, line)
        self._read = self.size

    def _tardis_reader(self, header: bytes) -> Callable[[pl.DataFrame], list[Record]]:
        """The reader of the file's data type, told by its header (and name)."""
        columns = header.decode("utf-8", "replace").strip().split(",")
        name = self.path.name.lower()
        if {"mark_price", "open_interest", "funding_rate"} <= set(columns):
            reader = self._tardis_ticker
        elif any(_TARDIS_BOOK.match(c) for c in columns):
            reader = self._tardis_book
        elif {"side", "price", "amount"} <= set(columns):
            if "liquidation" in name:
                reader = self._tardis_liquidations
            elif "trade" in name:
                reader = self._tardis_trades
            else:
                msg = (
                    "a Tardis trades or liquidations file (same columns): the file name must "
                    "say which, as Tardis names them (<exchange>_liquidations_<date>_<symbol>)"
                )
                raise SourceError(self.path, 1, msg)
        else:
            msg = (
                "a Tardis CSV of a data type liqmon does not read (derivative_ticker, trades, "
                "liquidations and book_snapshot_25 are read)"
            )
            raise SourceError(self.path, 1, msg)
        log.info("%s: read as Tardis %s", self.path, reader.__name__.removeprefix("_tardis_"))
        return reader

    def _tardis_block(
        self, reader: Callable[[pl.DataFrame], list[Record]], data: bytes, line: int
    ) -> list[Record]:
        """Records of one block (header + whole lines from file line `line`), sorted."""
        frame = self._csv(data, line - 1).with_row_index("_line", offset=line)
        exchange = pl.col("exchange")
        unmapped = (
            pl.when(exchange.is_in(VENUE_NAMES))
            .then(pl.lit(TARDIS_FOREIGN_PREFIX) + exchange)
            .otherwise(exchange)
        )
        frame = frame.with_columns(
            exchange.replace_strict(TARDIS_VENUES, default=unmapped),
            _tardis_ns("timestamp").alias("ts"),
            _tardis_ns("local_timestamp").alias("recv"),
        )
        frame = frame.with_columns(
            plausible_times(frame.get_column("ts")), plausible_times(frame.get_column("recv"))
        )
        frame = self._drop_bad(frame, ["ts", "recv"], "bad_timestamp", venue_column="exchange")
        records = reader(frame)
        records.sort(key=lambda r: r.recv_ns)
        return records

    def _drop_bad(
        self,
        frame: pl.DataFrame,
        columns: Sequence[str],
        reason: str,
        *,
        venue_column: str | None = None,
    ) -> pl.DataFrame:
        """Rows where any of `columns` is null are rejected, named by their `_line`."""
        bad = pl.any_horizontal(pl.col(c).is_null() for c in columns)
        dropped = frame.filter(bad)
        for row in dropped.iter_rows(named=True):
            venue = str(row[venue_column]) if venue_column else self._venue
            self._reject(venue, reason, int(row["_line"]), f"unreadable {', '.join(columns)}")
        return frame.filter(~bad)

    def _numbers(
        self, frame: pl.DataFrame, names: Sequence[str], venue_column: str | None = None
    ) -> pl.DataFrame:
        """`names` as floats; a row with a cell that is not empty and not a number is dropped.

        Empty cells stay null: Tardis leaves what it does not know empty.
        """
        cast = frame.with_columns(pl.col(n).cast(pl.Float64, strict=False) for n in names)
        unreadable = pl.any_horizontal(
            frame.get_column(n).is_not_null() & cast.get_column(n).is_null() for n in names
        )
        checked = cast.with_columns(pl.when(unreadable).then(None).otherwise(True).alias("_ok"))
        return self._drop_bad(checked, ["_ok"], "bad_type", venue_column=venue_column)

    def _tardis_ticker(self, frame: pl.DataFrame) -> list[Record]:
        numbers = ["funding_rate", "open_interest", "index_price", "mark_price"]
        frame = self._numbers(frame, numbers, "exchange").with_columns(
            _tardis_ns("funding_timestamp").alias("next")
        )
        records: list[Record] = []
        add = records.append
        rows = frame.select(["exchange", "symbol", "ts", "recv", *numbers, "next"]).iter_rows()
        for venue, symbol, ts, recv, rate, oi, index, mark, nxt in rows:
            if mark is not None:
                add(Record(recv, venue, symbol, "mark", ts, mark, extra=index))
            if oi is not None:
                oi_factor = TARDIS_OI_FACTOR.get(venue, 1.0)
                add(
                    Record(
                        recv, venue, symbol, "open_interest", ts, size=oi * oi_factor, extra=mark
                    )
                )
            if rate is not None:
                add(Record(recv, venue, symbol, "funding", ts, rate, stamp=nxt))
        return records

    def _tardis_prints(self, frame: pl.DataFrame, kind: Kind) -> list[Record]:
        frame = self._numbers(frame, ["price", "amount"], "exchange")
        frame = self._drop_bad(frame, ["price", "amount"], "bad_type", venue_column="exchange")
        sides = _SIDES if kind == "liquidation" else {"buy": "buy", "sell": "sell"}
        frame = frame.with_columns(
            pl.col("side").str.to_lowercase().replace_strict(sides, default=None).alias("pos")
        )
        frame = self._drop_bad(frame, ["pos"], "unknown_side", venue_column="exchange")
        rows = frame.select(["exchange", "symbol", "ts", "recv", "price", "amount", "pos"])
        return [
            Record(recv, venue, symbol, kind, ts, price, amount, pos)
            for venue, symbol, ts, recv, price, amount, pos in rows.iter_rows()
        ]

    def _tardis_trades(self, frame: pl.DataFrame) -> list[Record]:
        return self._tardis_prints(frame, "trade")

    def _tardis_liquidations(self, frame: pl.DataFrame) -> list[Record]:
        return self._tardis_prints(frame, "liquidation")

    def _tardis_book(self, frame: pl.DataFrame) -> list[Record]:
        depth = 1 + max(int(m.group(2)) for c in frame.columns if (m := _TARDIS_BOOK.match(c)))
        level_columns = [
            f"{side}[{i}].{field_}"
            for i in range(depth)
            for side in ("asks", "bids")
            for field_ in ("price", "amount")
        ]
        missing = [c for c in level_columns if c not in frame.columns]
        if missing:
            raise SourceError(self.path, 1, f"book snapshot without column {missing[0]}")
        frame = self._numbers(frame, level_columns, "exchange")
        records: list[Record] = []
        for row in frame.select(["exchange", "symbol", "ts", "recv", *level_columns]).iter_rows():
            venue, symbol, ts, recv = row[:4]
            values = row[4:]
            asks: list[Level] = []
            bids: list[Level] = []
            for i in range(depth):
                ask_price, ask_size, bid_price, bid_size = values[4 * i : 4 * i + 4]
                if ask_price is not None and ask_size is not None:
                    asks.append((ask_price, ask_size))
                if bid_price is not None and bid_size is not None:
                    bids.append((bid_price, bid_size))
            records.append(
                Record(recv, venue, symbol, "book", ts, bids=tuple(bids), asks=tuple(asks))
            )
        return records

    # ------------------------------------------------------------------ plain tables

    def _read_table(self) -> pl.DataFrame:
        try:
            if self.format == "parquet":
                return pl.read_parquet(self.path)
            if self.format == "feather":
                return pl.read_ipc(self.path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            what = "Parquet" if self.format == "parquet" else "Feather (Arrow IPC)"
            msg = f"damaged or truncated {what} file: {exc}"
            raise SourceError(self.path, None, msg) from None
        data = self._bytes()
        if self.format == "freqtrade":
            return self._freqtrade(data)
        return self._csv(data)

    def _freqtrade(self, data: bytes) -> pl.DataFrame:
        try:
            rows = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            line = data[: exc.pos].count(b"\n") + 1
            raise SourceError(self.path, line, f"not JSON (truncated?): {exc}") from None
        if not isinstance(rows, list):
            raise SourceError(self.path, 1, "a freqtrade file is a JSON array of candles")
        for number, row in enumerate(rows):
            if (
                not isinstance(row, list)
                or len(row) < 5
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
            ):
                msg = f"candle {number} is not [open_time_ms, open, high, low, close, volume]"
                raise SourceError(self.path, 1, msg)
        names = ["date", "open", "high", "low", "close", "volume"]
        # floats throughout: exact for every millisecond time, and a time written as a float
        # or too large for an int64 becomes a bad row, not an error
        return pl.DataFrame(
            [
                pl.Series(n, [row[i] if i < len(row) else None for row in rows], pl.Float64)
                for i, n in enumerate(names)
            ]
        )

    def _roles(self, frame: pl.DataFrame) -> dict[str, str]:
        """Role → column of the file: the options' mapping first, then the default aliases."""
        by_key = {_key(c): c for c in frame.columns}
        roles: dict[str, str] = {}
        for role, column in self.options.columns.items():
            if column not in frame.columns:
                msg = f"column {column!r} (mapped to {role}) is not in the file: {frame.columns}"
                raise SourceError(self.path, 1, msg)
            roles[role] = column
        for role, aliases in DEFAULT_COLUMNS.items():
            if role in roles:
                continue
            found = next((by_key[a] for a in aliases if a in by_key), None)
            if found is not None and found not in roles.values():
                roles[role] = found
        if "time" not in roles:
            msg = f"no time column (one of {', '.join(DEFAULT_COLUMNS['time'])}; or map one)"
            raise SourceError(self.path, 1, msg)
        return roles

    def _table_kind(self, frame: pl.DataFrame, roles: Mapping[str, str]) -> Kind:
        if {"open", "high", "low", "close"} <= roles.keys():
            return "funding" if "funding_rate" in self.path.name else "mark"
        if "open_interest" in roles:
            return "open_interest"
        if {"side", "price", "quantity"} <= roles.keys():
            sides = frame.get_column(roles["side"]).cast(pl.String).str.to_lowercase()
            return "book" if sides.is_in(["bid", "ask"]).any() else "liquidation"
        msg = (
            "cannot tell the table's kind from its columns "
            f"{frame.columns}: klines need open/high/low/close, open interest an "
            "open_interest column, a liquidation tape side/price/quantity, a book "
            "price/quantity and a Bid/Ask side (map columns with --column ROLE=NAME)"
        )
        raise SourceError(self.path, 1, msg)

    def _times(self, column: pl.Series) -> pl.Series:
        """Epoch ns of a time column of any supported type, read row by row.

        Null where a cell is unreadable or implausible (`plausible_times`): that row alone is
        dropped.
        """
        dtype = column.dtype
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            ns = self._datetimes(column)
        elif dtype == pl.String:
            ns = self._text_times(column.str.strip_chars())
        elif dtype.is_numeric():
            values = column.to_list() if dtype.is_integer() else column.cast(pl.Float64).to_list()
            ns = pl.Series([None if v is None else epoch_ns(v) for v in values], dtype=pl.Int64)
        else:
            raise SourceError(self.path, None, f"time column of type {dtype}")
        return plausible_times(ns)

    def _datetimes(self, column: pl.Series) -> pl.Series:
        """Epoch ns of a Date (the day's midnight) or Datetime column, in range or null.

        Read in the column's own unit and scaled in Python integers: a placeholder such as
        9999-12-31 is past int64 nanoseconds, and polars would refuse the whole column.
        Without a time zone (a Date has none) a time is `TableOptions.utc_offset` east of UTC.
        """
        dtype = column.dtype
        if isinstance(dtype, pl.Datetime):
            unit = dtype.time_unit
            ticks, ns_per_tick = column.dt.epoch(unit), _NS_PER[unit]
            naive = dtype.time_zone is None
        else:
            ticks, ns_per_tick, naive = column.dt.epoch("d"), 86_400 * 1_000_000_000, True
        shift = self._utc_offset_ns() if naive else 0
        values = (None if t is None else t * ns_per_tick - shift for t in ticks.to_list())
        return pl.Series(
            [v if v is not None and EARLIEST_NS <= v <= LATEST_NS else None for v in values],
            dtype=pl.Int64,
        )

    def _text_times(self, text: pl.Series) -> pl.Series:
        """Epoch ns of time cells written as epoch numbers or dates, each cell on its own.

        A date with an offset (`Z`, `+05:30`) is read as written, one without is
        `TableOptions.utc_offset` hours east of UTC; epoch numbers go through `epoch_ns`.
        """
        whole = text.cast(pl.Int64, strict=False).to_list()
        number = text.cast(pl.Float64, strict=False)
        epochs = pl.Series(
            [
                None if f is None else epoch_ns(f if i is None else i)
                for i, f in zip(whole, number.to_list(), strict=True)
            ],
            dtype=pl.Int64,
        )
        date = pl.col("text").is_not_null() & pl.col("number").is_null()
        zoned = pl.col("text").str.contains(r"(Z|[+-]\d\d:?\d\d)$")

        def parsed(rows: pl.Expr) -> pl.Expr:
            # apart, so that the format polars infers from a group's first cell fits the group
            as_date = (
                pl.when(rows)
                .then(pl.col("text"))
                .str.to_datetime(strict=False, time_zone="UTC", time_unit="ns")
            )
            return as_date.dt.epoch("ns")

        columns = pl.DataFrame({"text": text, "number": number, "epoch": epochs})
        times = columns.select(
            pl.coalesce(
                "epoch",
                parsed(date & zoned),
                parsed(date & ~zoned) - self._utc_offset_ns(),
            )
        )
        return times.to_series()

    def _utc_offset_ns(self) -> int:
        """`TableOptions.utc_offset` in ns (whole seconds), for times written without one."""
        return round(self.options.utc_offset * 3600) * 1_000_000_000

    def _table_venue(self) -> str:
        venue = self.options.venue
        if venue:
            return venue
        for part in (self.path.name, *(p.name for p in self.path.parents)):
            lowered = part.lower()
            found = next((v for v in VENUE_NAMES if v in lowered), None)
            if found is not None:
                return found
        msg = "cannot tell the venue of this table: pass --venue (or name it in the path)"
        raise SourceError(self.path, None, msg)

    def _table_symbol(self, venue: str, roles: Mapping[str, str]) -> str | None:
        """`--symbol`, else None if a symbol column gives it per row, else one from the path.

        README's order: an explicit symbol beats the file's own column, which beats a guess
        from the name. None too when the path tells none.
        """
        if self.options.symbol:
            return self.options.symbol
        if "symbol" in roles:
            return None
        match = _FREQTRADE_NAME.match(self.path.name)
        if match is not None:
            base, quote = match.group(1), match.group(2)
            if venue == "hyperliquid":
                return base
            return f"{base}-{quote}-SWAP" if venue == "okx" else base + quote
        for part in (self.path.name, *(p.name for p in self.path.parents)):
            found = _PATH_SYMBOL.search(part.lower())
            if found is not None:
                return found.group(1).upper()
        return None

    def _table(self) -> list[Record]:
        frame = self._read_table()
        self._venue = venue = self._table_venue()
        roles = self._roles(frame)
        kind = self._table_kind(frame, roles)
        frame = frame.with_row_index("_line", offset=2 if self.format == "csv" else 1)
        symbol = self._table_symbol(venue, roles)
        if symbol is None and "symbol" not in roles:
            msg = "cannot tell the symbol of this table: pass --symbol (or a symbol column)"
            raise SourceError(self.path, None, msg)
        log.info(
            "%s: read as %s of %s %s (columns %s)",
            self.path,
            "klines" if kind == "mark" else kind,
            venue,
            symbol or f"per row from {roles['symbol']!r}",
            ", ".join(f"{role}={column}" for role, column in sorted(roles.items())),
        )
        time = self._times(frame.get_column(roles["time"])).alias("ts")
        if symbol is not None:
            symbols = pl.lit(symbol, dtype=pl.String)
        else:
            cell = pl.col(roles["symbol"]).cast(pl.String).str.strip_chars()
            symbols = pl.when(cell.str.len_bytes() > 0).then(cell)  # empty: a missing field
        frame = frame.with_columns(time, symbols.alias("sym"))
        frame = self._drop_bad(frame, ["ts"], "bad_timestamp")
        frame = self._drop_bad(frame, ["sym"], "missing_field")
        if kind in ("mark", "funding"):
            return self._klines(frame, roles, venue, kind)
        if kind == "open_interest":
            frame = self._numbers(frame.rename({roles["open_interest"]: "oi"}), ["oi"])
            frame = self._drop_bad(frame, ["oi"], "bad_type")
            rows = frame.select(["sym", "ts", "oi"]).iter_rows()
            return [Record(ts, venue, sym, "open_interest", ts, size=oi) for sym, ts, oi in rows]
        frame = frame.select(
            "_line",
            "sym",
            "ts",
            pl.col(roles["price"]).cast(pl.Float64, strict=False).alias("price"),
            pl.col(roles["quantity"]).cast(pl.Float64, strict=False).alias("qty"),
            pl.col(roles["side"]).cast(pl.String).str.strip_chars().str.to_lowercase().alias("raw"),
        )
        frame = self._drop_bad(frame, ["price", "qty"], "bad_type")
        if kind == "book":
            return self._books(frame, venue)
        frame = frame.with_columns(pl.col("raw").replace_strict(_SIDES, default=None).alias("pos"))
        frame = self._drop_bad(frame, ["pos"], "unknown_side")
        rows = frame.select(["sym", "ts", "price", "qty", "pos"]).iter_rows()
        return [
            Record(ts, venue, sym, "liquidation", ts, price, qty, pos)
            for sym, ts, price, qty, pos in rows
        ]

    def _klines(
        self, frame: pl.DataFrame, roles: Mapping[str, str], venue: str, kind: Kind
    ) -> list[Record]:
        names = ["open", "high", "low", "close"]
        frame = frame.select(
            "_line",
            "sym",
            "ts",
            *(pl.col(roles[n]).cast(pl.Float64, strict=False).alias(n) for n in names),
        )
        if kind == "funding":
            frame = self._drop_bad(frame, ["open"], "bad_type")
            rows = frame.select(["sym", "ts", "open"]).iter_rows()
            return [Record(ts, venue, sym, "funding", ts, rate) for sym, ts, rate in rows]
        frame = self._drop_bad(frame, names, "bad_type").sort("ts", maintain_order=True)
        steps = frame.get_column("ts").diff()
        positive = steps.filter(steps > 0)
        bar = int(positive.min()) if positive.len() else 0  # type: ignore[arg-type]
        third = bar // 3
        records: list[Record] = []
        add = records.append
        for sym, ts, open_, high, low, close in frame.select(["sym", "ts", *names]).iter_rows():
            first, second = (low, high) if close >= open_ else (high, low)
            end = ts + max(bar - 1, 0)
            for at, price in ((ts, open_), (ts + third, first), (ts + 2 * third, second)):
                add(Record(at, venue, sym, "mark", at, price))
            add(Record(end, venue, sym, "mark", end, close))
        return records

    def _books(self, frame: pl.DataFrame, venue: str) -> list[Record]:
        records: list[Record] = []
        for (sym, ts), group in frame.group_by(["sym", "ts"], maintain_order=True):
            bids = group.filter(pl.col("raw") == "bid").sort("price", descending=True)
            asks = group.filter(pl.col("raw") == "ask").sort("price")
            records.append(
                Record(
                    int(ts),
                    venue,
                    str(sym),
                    "book",
                    int(ts),
                    bids=tuple(zip(bids["price"].to_list(), bids["qty"].to_list(), strict=True)),
                    asks=tuple(zip(asks["price"].to_list(), asks["qty"].to_list(), strict=True)),
                )
            )
        return records
