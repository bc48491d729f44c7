"""`liqmon replay`: recorded frames through the live code on a simulated clock.

Per venue the frames go through the venue's adapter and the same `FramePipeline` the live
`FeedSupervisor` uses (parse, rejects, sanity, order books, resync decisions), then into
one `Engine` (ledgers, risk cycles, the `AlertPolicy`). There is no wall clock anywhere in
the computation: the simulated time is the receive time of the frame being replayed (never
going back), risk cycles run every `risk.interval_s` of simulated time and at once when
the engine asks for a re-check (`RiskSchedule`, the daemon's rule). The same input gives
byte-identical alert output.

What differs from a live run, because a recording cannot answer:

- **Instruments** come from the recorded `instruments` answer of each venue (or, in a
  foreign capture, a recorded REST answer to the venue's instruments URL). Without one,
  Binance, Bybit and Hyperliquid get a minimal instrument per configured symbol: linear,
  sizes in base units (true of their linear perpetuals on the wire), asset = the symbol
  without its quote currency (`BTCUSDT` → `BTC`), no tick size. OKX and Deribit sizes are
  contracts or USD whose value only the instruments answer gives: replay refuses them
  (`ReplayError`, exit code 2) rather than guess. `--instruments VENUE=FILE` supplies a
  saved instruments answer instead (it wins over a recorded one).
- **Book resyncs**: what the pipeline would send to resubscribe is dropped (counted in
  `unsent_frames`); the book waits for the venue's next snapshot frame in the recording. A
  REST snapshot the pipeline wants is taken from the next recorded `snapshot:<symbol>`
  answer; recorded snapshot answers it did not ask for are skipped.
- **Foreign captures** (raw and cryptofeed files) were recorded by programs that subscribed
  to more than liqmon does: their frames of channels liqmon does not handle
  (`unknown_message`) or of instruments it does not follow (`unknown_symbol`), and frames of
  connections liqmon never opens (spot), are counted as `skipped`, not rejected. In
  liqmon's own recordings every reject counts as one.
- Disconnects are not in the recordings, so no `FeedGap` is replayed.

**Records** (Tardis.dev CSV files and plain tables, `monitor.sources.tables`) are already
normalised: they skip the adapters and go to the engine as events, their sizes converted with
the market's instrument (the same instruments as above). A record of a symbol the
configuration does not follow is skipped (`unknown_symbol`), one the core refuses is
rejected under its event reason. A book record (Tardis `book_snapshot_25`, a book table)
becomes the market's book for risk cycles while no synced book of frames exists for it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import orjson
import polars as pl

from monitor.config import ConfigError, Settings, check_symbols
from monitor.core.alerts import Alert
from monitor.core.events import (
    BookSnapshot,
    FeedGap,
    FeedItem,
    Funding,
    InvalidEventError,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Trade,
)
from monitor.core.risk import SHOCKS_PCT, WITHIN_PCT
from monitor.core.venues import ContractType
from monitor.engine import SCENARIO_NAMES, SIDES, Engine, RiskSchedule, RiskSnapshot
from monitor.errors import MonitorError
from monitor.feeds.base import ConnectionPlan, FeedDecodeError, Instrument, SizeUnit, VenueAdapter
from monitor.feeds.book import DepthView, synced_view
from monitor.feeds.registry import VENUES, make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import FramePipeline
from monitor.sinks.payload import alert_document, encode, heatmap_document, iso_time
from monitor.sources import (
    Frame,
    Record,
    Source,
    TableOptions,
    book_event,
    merge,
    open_source,
    record_event,
)
from monitor.sources.tables import EARLIEST_NS, LATEST_NS, epoch_ns

log = logging.getLogger("liqmon.replay")

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE_SIZED = ("binance", "bybit", "hyperliquid")
"""Venues whose linear perpetuals carry sizes in base units on the wire."""
QUOTES = ("USDT", "USDC", "USD", "PERP")
FOREIGN_SKIPS = ("unknown_message", "unknown_symbol")
PROGRESS_EVERY_S = 0.5
FLUSH_ROWS = 200_000
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
IDLE_CYCLES_NS = 3_600 * NS
"""Risk cycles run at least this long past the last input, then wait for the next one.

Also at least until every market is stale (marks and books after `risk.stale_after_s`, open
interest after twice that) plus one cycle to say so: while stale, no alert can change, and
later cycles would repeat the last one. Replays of daily candles or of files with wide gaps
would otherwise spend their time on them (0.4 ms a cycle for one market: 7 s per idle day),
and a stray timestamp decades away would hang.
"""


class ReplayError(MonitorError):
    """A recording that cannot be replayed as asked (exit code 2)."""


# ---------------------------------------------------------------------- outputs


EVENT_COLUMNS: dict[str, Any] = {
    "ts_recv_ns": pl.Int64,
    "ts_event_ns": pl.Int64,
    "venue": pl.String,
    "symbol": pl.String,
    "type": pl.String,  # mark_price, open_interest, liquidation, trade, funding, feed_gap
    "price": pl.Float64,  # mark (mark_price), trade or liquidation price
    "index_price": pl.Float64,
    "open_interest": pl.Float64,  # base units, one side
    "side": pl.String,  # liquidation: the position's side, long / short
    "aggressor": pl.String,  # trade: buy / sell
    "quantity": pl.Float64,  # base units
    "notional_usd": pl.Float64,  # liquidation
    "rate": pl.Float64,  # funding rate per interval (fraction)
    "next_funding_ns": pl.Int64,
    "reason": pl.String,  # feed_gap
}
"""`--events-out`: one row per normalised non-book event, in replay order."""


def _risk_columns() -> dict[str, Any]:
    columns: dict[str, Any] = {
        "ts_ns": pl.Int64,
        "venue": pl.String,  # a venue, or "all" for the per-asset aggregate
        "symbol": pl.String,
        "side": pl.String,  # down (longs liquidated by a fall) / up
        "price": pl.Float64,
        "open_interest": pl.Float64,
        "coverage": pl.Float64,
        "warm": pl.Boolean,
        "stale": pl.Boolean,
        "alert_level": pl.String,
    }
    for within in WITHIN_PCT:
        columns[f"fuel_usd_within_{_label(within)}pct"] = pl.Float64
    for scenario in SCENARIO_NAMES.values():
        columns[f"critical_shock_pct_{scenario}"] = pl.Float64
        columns[f"critical_sell_usd_{scenario}"] = pl.Float64
        for shock in SHOCKS_PCT:
            columns[f"final_move_pct_at_{_label(shock)}pct_{scenario}"] = pl.Float64
        for within in WITHIN_PCT:
            columns[f"depth_usd_within_{_label(within)}pct_{scenario}"] = pl.Float64
    return columns


def _label(percent: str) -> str:
    return percent.replace(".", "_")


RISK_COLUMNS = _risk_columns()
"""`--risk-out`: one row per risk cycle, market (venue or "all") and side."""


class _Table:
    """Rows gathered column by column, compacted into DataFrames every `FLUSH_ROWS`."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self._columns: dict[str, list[Any]] = {name: [] for name in schema}
        self._frames: list[pl.DataFrame] = []
        self.rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        for name, values in self._columns.items():
            values.append(row.get(name))
        self.rows += 1
        if self.rows % FLUSH_ROWS == 0:
            self._flush()

    def _flush(self) -> None:
        self._frames.append(pl.DataFrame(self._columns, schema=self.schema))
        self._columns = {name: [] for name in self.schema}

    def write(self, path: Path) -> None:
        self._flush()
        frame = pl.concat(self._frames, how="vertical")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)


def _event_row(item: FeedItem) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ts_recv_ns": item.ts_recv_ns,
        "ts_event_ns": item.ts_event_ns,
        "venue": item.venue,
        "symbol": item.symbol,
    }
    if isinstance(item, MarkPrice):
        row.update(type="mark_price", price=item.mark_price, index_price=item.index_price)
    elif isinstance(item, OpenInterest):
        row.update(type="open_interest", open_interest=item.open_interest)
    elif isinstance(item, Liquidation):
        row.update(
            type="liquidation",
            price=item.price,
            quantity=item.quantity,
            side=item.side.value,
            notional_usd=item.notional_usd,
        )
    elif isinstance(item, Trade):
        row.update(
            type="trade", price=item.price, quantity=item.quantity, aggressor=item.aggressor.value
        )
    elif isinstance(item, Funding):
        row.update(type="funding", rate=item.rate, next_funding_ns=item.next_funding_ns)
    elif isinstance(item, FeedGap):
        row.update(type="feed_gap", reason=item.reason)
    else:
        row.update(type=type(item).__name__)
    return row


def _risk_rows(snapshot: RiskSnapshot) -> Iterable[dict[str, Any]]:
    for (venue, symbol), market in snapshot.markets.items():
        for side in SIDES:
            row: dict[str, Any] = {
                "ts_ns": snapshot.ts_ns,
                "venue": venue,
                "symbol": symbol,
                "side": side,
                "price": market.price,
                "open_interest": market.open_interest,
                "coverage": market.coverage,
                "warm": market.warm,
                "stale": market.stale,
                "alert_level": snapshot.alert_levels.get((venue, symbol, side), "none"),
            }
            side_risk = None if market.risk is None else getattr(market.risk, side)
            if side_risk is not None:
                displayed = side_risk.reports[0]
                for within in WITHIN_PCT:
                    row[f"fuel_usd_within_{_label(within)}pct"] = displayed.fuel_usd_within_pct[
                        within
                    ]
                for report in side_risk.reports:
                    name = SCENARIO_NAMES.get(report.scenario)
                    if name is None:
                        continue
                    row[f"critical_shock_pct_{name}"] = report.critical_shock_pct
                    row[f"critical_sell_usd_{name}"] = report.critical_sell_usd
                    for shock in SHOCKS_PCT:
                        row[f"final_move_pct_at_{_label(shock)}pct_{name}"] = (
                            report.final_move_pct.get(shock)
                        )
                    for within in WITHIN_PCT:
                        row[f"depth_usd_within_{_label(within)}pct_{name}"] = (
                            report.depth_usd_within_pct.get(within)
                        )
            yield row


# ---------------------------------------------------------------------- venues


class _ReplayRejects(RejectLog):
    """The live reject counter; a foreign capture's frames liqmon never subscribes to skip.

    Those (see the module docstring) are counted as skipped instead of rejected.
    """

    def __init__(self, monotonic: Callable[[], float], skipped: Counter[tuple[str, str]]) -> None:
        super().__init__(monotonic)
        self.foreign = False
        self._skipped = skipped

    def reject(self, error: FeedDecodeError) -> None:
        if self.foreign and error.reason in FOREIGN_SKIPS:
            self._skipped[(error.venue, error.reason)] += 1
            return
        super().reject(error)


@dataclass
class _RecordBook:
    """The latest book record of a market, checked and turned into arrays when first used.

    Book records come several a second and risk cycles every few seconds: most are replaced
    unseen, so only the ones a cycle uses pay for the checks (a bad one is rejected then).
    """

    record: Record
    instrument: Instrument
    view: DepthView | None = None
    error: str | None = None


def _depth_view(event: BookSnapshot) -> DepthView:
    """The sorted arrays of a book snapshot event."""
    return DepthView(
        bid_prices=np.array([p for p, _ in event.bids], dtype=np.float64),
        bid_sizes=np.array([q for _, q in event.bids], dtype=np.float64),
        ask_prices=np.array([p for p, _ in event.asks], dtype=np.float64),
        ask_sizes=np.array([q for _, q in event.asks], dtype=np.float64),
    )


@dataclass
class _Venue:
    adapter: VenueAdapter
    plans: list[ConnectionPlan]
    pipeline: FramePipeline
    instruments: dict[str, Instrument]  # symbol -> instrument followed
    conns: dict[str, str | None] = field(default_factory=dict)  # recorded conn -> plan name


def minimal_instrument(venue: str, symbol: str) -> Instrument:
    """An instrument built from a symbol alone (no instruments answer was recorded)."""
    if venue not in BASE_SIZED:
        msg = (
            f"{venue}: the recording has no instruments answer, and {venue} sizes are "
            "contracts or USD whose value only that answer gives; pass a saved answer with "
            f"--instruments {venue}=FILE, or record with `liqmon record`"
        )
        raise ReplayError(msg)
    asset = symbol
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            asset = symbol[: -len(quote)]
            break
    if venue == "hyperliquid" and len(asset) > 1 and asset[0] == "k" and asset[1].isupper():
        asset = "1000" + asset[1:]
    return Instrument(
        venue=venue,
        symbol=symbol,
        asset=asset,
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.BASE,
    )


def _is_instruments_answer(adapter: VenueAdapter, conn: str) -> bool:
    """A recorded REST answer to the venue's instruments request."""
    if conn == "instruments":
        return True
    request = adapter.instruments_request()
    if request is None or not conn.startswith("rest:"):
        return False
    recorded, wanted = urlsplit(conn[5:]), urlsplit(request.url)
    query = dict(parse_qsl(recorded.query))
    return recorded.path == wanted.path and all(
        query.get(k) == v for k, v in request.params.items()
    )


# ---------------------------------------------------------------------- the replay


@dataclass
class ReplayOptions:
    """What to write and how fast to go."""

    speed: float | None = None  # None: as fast as possible; N: N × real time
    alerts_out: Path | None = None
    events_out: Path | None = None
    risk_out: Path | None = None
    snapshot_at: Sequence[int] = ()
    snapshot_out: Path | None = None
    progress: bool = False
    instruments: Mapping[str, Path] = field(default_factory=dict)  # venue -> saved answer
    on_alert: Callable[[Alert], None] | None = None
    stop: threading.Event | None = None  # set by another thread: end the replay early


@dataclass
class ReplayResult:
    """What a replay did, for the summary line and tests."""

    frames: int = 0
    wall_s: float = 0.0
    start_ns: int | None = None
    end_ns: int | None = None
    cycles: int = 0
    alerts: list[Alert] = field(default_factory=list)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    unsent_frames: int = 0
    events: Counter[str] = field(default_factory=Counter)
    idle_cycles_skipped: int = 0

    @property
    def frames_per_s(self) -> float:
        """Replay throughput."""
        return self.frames / self.wall_s if self.wall_s > 0 else math.inf

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "frames_per_s": round(self.frames_per_s) if self.wall_s > 0 else None,
            "start": None if self.start_ns is None else iso_time(self.start_ns),
            "end": None if self.end_ns is None else iso_time(self.end_ns),
            "risk_cycles": self.cycles,
            "idle_cycles_skipped": self.idle_cycles_skipped,
            "alerts": dict(Counter(a.severity.value for a in self.alerts)),
            "events": dict(self.events),
            "rejected": {f"{v}:{r}": n for (v, r), n in sorted(self.rejected.items())},
            "skipped": {f"{v}:{r}": n for (v, r), n in sorted(self.skipped.items())},
            "unsent_frames": self.unsent_frames,
        }


class Replay:
    """One replay run: sources → pipelines → engine → alerts and outputs."""

    def __init__(self, settings: Settings, options: ReplayOptions | None = None) -> None:
        self.settings = settings
        self.options = options or ReplayOptions()
        self.result = ReplayResult()
        self.now_ns = 0
        self.rejects = _ReplayRejects(self._monotonic, self.result.skipped)
        self.result.rejected = self.rejects.counts
        self.engine: Engine | None = None
        self.schedule: RiskSchedule | None = None
        risk = settings.risk
        self._idle_ns = max(IDLE_CYCLES_NS, round((2 * risk.stale_after_s + risk.interval_s) * NS))
        self._venues: dict[str, _Venue | None] = {}
        self._record_books: dict[tuple[str, str], _RecordBook] = {}  # the latest book record
        self._instruments: dict[str, object] = {}  # venue -> recorded instruments payload
        self._events = _Table(EVENT_COLUMNS) if self.options.events_out else None
        self._risk = _Table(RISK_COLUMNS) if self.options.risk_out else None
        self._snapshot_at = sorted(self.options.snapshot_at)
        self._heatmaps: list[dict[str, Any]] = []
        self._alerts_file: IO[bytes] | None = None

    def _monotonic(self) -> float:
        return self.now_ns / NS

    # ------------------------------------------------------------------ running

    def run(self, sources: Sequence[Source]) -> ReplayResult:
        """Replay every frame and record of `sources` in receive-time order; write the outputs.

        `sources` come from `monitor.sources.open_source` (any mix of formats).
        """
        started = time.perf_counter()
        progress = _Progress(sources) if self.options.progress else None
        with contextlib.ExitStack() as stack:
            if self.options.alerts_out is not None:
                self.options.alerts_out.parent.mkdir(parents=True, exist_ok=True)
                self._alerts_file = stack.enter_context(self.options.alerts_out.open("wb"))
            stop = self.options.stop
            for frame, source in merge(sources):
                if stop is not None and stop.is_set():
                    break  # the outputs hold what was replayed so far
                self.rejects.foreign = source.foreign
                self._frame(frame)
                if progress is not None:
                    progress.tick(self.result.frames, self.now_ns)
            if self.engine is not None:
                self._cycles_until(self.now_ns)
            self._take_snapshots(None)
        for source in sources:
            self.result.rejected.update(source.rejected)
        if progress is not None:
            progress.done()
        self.result.wall_s = time.perf_counter() - started
        self._write_outputs()
        return self.result

    def _frame(self, frame: Frame | Record) -> None:
        recv_ns = frame.recv_ns
        result = self.result
        if result.start_ns is None:
            self._start(recv_ns)
        if recv_ns > self.now_ns:
            if self.options.speed is not None and not self._pace(recv_ns):
                return  # stopped while waiting for this frame's time: not replayed
            self._cycles_until(recv_ns)
            self.now_ns = recv_ns
        result.frames += 1
        result.end_ns = self.now_ns
        venue = frame.venue
        state = self._venues.get(venue)  # only venues of VENUES are opened
        if state is None:
            if venue not in VENUES:
                result.skipped[(venue, "unknown_venue")] += 1
                return
            if venue in self._venues:  # disabled in the configuration
                result.skipped[(venue, "venue_not_enabled")] += 1
                return
            if isinstance(frame, Frame) and self._instruments_answer(frame):
                return
            state = self._venues[venue] = self._open_venue(venue)
            if state is None:
                result.skipped[(venue, "venue_not_enabled")] += 1
                return
        if isinstance(frame, Record):
            self._record(state, frame)
        else:
            self._dispatch(state, frame)

    def _start(self, recv_ns: int) -> None:
        self.now_ns = recv_ns
        self.result.start_ns = recv_ns
        self._wall_start = time.perf_counter()
        risk = self.settings.risk
        self.engine = Engine(risk, self.settings.alerts, started_ns=recv_ns)
        self.schedule = RiskSchedule.start(risk, recv_ns)

    def _pace(self, recv_ns: int) -> bool:
        """`--speed N`: wait until the wall clock catches up with N × simulated time.

        On the stop event when there is one, so a stop ends a long wait at once; False then.
        """
        speed, stop = self.options.speed, self.options.stop
        if speed is None or self.result.start_ns is None:
            return True
        target = (recv_ns - self.result.start_ns) / NS / speed
        ahead = target - (time.perf_counter() - self._wall_start)
        if ahead <= 0:
            return True
        if stop is None:
            time.sleep(ahead)
            return True
        return not stop.wait(ahead)

    def _instruments_answer(self, frame: Frame) -> bool:
        """Keep a venue's recorded instruments answer until its first frame; True if it was."""
        adapter = make_adapter(frame.venue)
        if not _is_instruments_answer(adapter, frame.conn):
            return False
        self._instruments[frame.venue] = frame.raw
        return True

    def _open_venue(self, venue: str) -> _Venue | None:
        venue_settings = self.settings.enabled_venues().get(venue)
        if venue_settings is None:
            return None
        adapter = make_adapter(venue, venue_settings.ws_url, venue_settings.rest_url)
        wanted = list(venue_settings.symbols)
        given = self.options.instruments.get(venue)
        raw = self._instruments.pop(venue, None) if given is None else _read_text(given)
        if raw is None:
            log.warning("%s: no instruments answer recorded; minimal instruments", venue)
            instruments = [minimal_instrument(venue, symbol) for symbol in wanted]
        else:
            try:
                listed = adapter.parse_instruments(orjson.loads(str(raw)))
            except (orjson.JSONDecodeError, FeedDecodeError) as exc:
                msg = f"{venue}: the recorded instruments answer is unusable: {exc}"
                raise ReplayError(msg) from exc
            check_symbols(venue, wanted, [i.symbol for i in listed])
            by_symbol = {i.symbol: i for i in listed}
            instruments = [by_symbol[symbol] for symbol in wanted]
        plans = adapter.plan(instruments)
        assert self.engine is not None
        self.engine.register(instruments)
        pipeline = FramePipeline(adapter, self.rejects, monotonic=self._monotonic)
        return _Venue(adapter, plans, pipeline, {i.symbol: i for i in instruments})

    def _dispatch(self, state: _Venue, frame: Frame) -> None:
        conn = frame.conn
        plan = state.conns[conn] if conn in state.conns else self._plan_conn(state, conn)
        if plan is None:
            self._not_planned(state, frame)
            return
        result = state.pipeline.frame(plan, frame.raw, frame.recv_ns)
        if result is None:
            return
        self.result.unsent_frames += len(result.sends)
        if result.events:
            self._ingest(result.events)

    def _not_planned(self, state: _Venue, frame: Frame) -> None:
        """A frame of no planned connection: a recorded REST answer, or skipped."""
        conn = frame.conn
        pipeline = state.pipeline
        if conn == "poll":
            events = pipeline.poll(_payload(frame), frame.recv_ns)
            if events:
                self._ingest(events)
            return
        if conn.startswith("snapshot:"):
            symbol = conn.partition(":")[2]
            if symbol in pipeline.snapshot_wanted:
                pipeline.rest_snapshot(symbol, _payload(frame), frame.recv_ns)
            else:
                self.result.skipped[(frame.venue, "unrequested_snapshot")] += 1
            return
        if conn == "instruments" or conn.startswith("rest:"):
            self.result.skipped[(frame.venue, "rest_answer")] += 1
            return
        self.result.skipped[(frame.venue, "unplanned_connection")] += 1

    def _record(self, state: _Venue, record: Record) -> None:
        """A normalised record: straight to the engine (a book: kept for `book_view`)."""
        instrument = state.instruments.get(record.symbol)
        if instrument is None:
            self.result.skipped[(record.venue, "unknown_symbol")] += 1
            return
        if record.kind == "book":
            self._record_books[(record.venue, record.symbol)] = _RecordBook(record, instrument)
            self.result.events["BookSnapshot"] += 1
            return
        try:
            event = record_event(record, instrument)
        except InvalidEventError as exc:
            self.result.rejected[(record.venue, exc.reason)] += 1
            return
        self._ingest((event,))

    def _plan_conn(self, state: _Venue, conn: str) -> str | None:
        """The plan's connection a recorded `conn` stands for, kept in `state.conns`.

        liqmon recordings name it; foreign captures give the WebSocket address (matched by
        path) or nothing (the venue's first connection). None: liqmon never opens it, or
        it is a REST answer (`poll`, `snapshot:<symbol>`, `instruments`, `rest:<url>`).
        """
        names = [plan.name for plan in state.plans]
        resolved: str | None = None
        if conn in names:
            resolved = conn
        elif not conn:
            resolved = names[0] if names else None
        elif conn.startswith(("ws://", "wss://")):
            path = urlsplit(conn).path.rstrip("/")
            resolved = next(
                (p.name for p in state.plans if urlsplit(p.url).path.rstrip("/") == path), None
            )
        state.conns[conn] = resolved
        return resolved

    def _ingest(self, events: Iterable[FeedItem]) -> None:
        engine, table = self.engine, self._events
        assert engine is not None
        counts = self.result.events
        for event in events:
            engine.ingest(event)
            counts[type(event).__name__] += 1
            if table is not None:
                table.add(_event_row(event))
        if engine.recheck_wanted and self.schedule is not None:
            self.schedule.recheck(self.now_ns)

    # ------------------------------------------------------------------ risk cycles

    def _cycles_until(self, now_ns: int) -> None:
        schedule, engine = self.schedule, self.engine
        assert schedule is not None
        assert engine is not None
        idle_until = self.now_ns + self._idle_ns  # self.now_ns: the latest input so far
        while (due := schedule.due()) <= now_ns:
            if due > idle_until:
                self._skip_idle(schedule, now_ns)
                idle_until = now_ns
                continue
            self._take_snapshots(due)
            full = schedule.full_due(due)
            snapshot, alerts = engine.cycle(due, self.book_view, moved_only=not full)
            schedule.ran(due, full=full)
            self.result.cycles += 1
            for alert in alerts:
                self._alert(alert)
            if self._risk is not None:
                for row in _risk_rows(snapshot):
                    self._risk.add(row)

    def _skip_idle(self, schedule: RiskSchedule, now_ns: int) -> None:
        """Leave out the cycles of a long stretch without input, up to the last before it ends."""
        skipped = schedule.skip_until(now_ns)
        if skipped and not self.result.idle_cycles_skipped:
            log.info(
                "no input from %s to %s: risk cycles past the first %g h of a stretch without "
                "input are left out (every market is stale by then; counted in the summary)",
                iso_time(self.now_ns),
                iso_time(now_ns),
                self._idle_ns / NS / 3_600,
            )
        self.result.idle_cycles_skipped += skipped

    def book_view(self, market: tuple[str, str]) -> DepthView | None:
        """A market's synced book as sorted arrays (None while it has none or resyncs).

        Without a book built from frames, the latest book record of the market while it is
        younger than `risk.stale_after_s` (an old snapshot must let the market turn stale).
        """
        state = self._venues.get(market[0])
        view = None if state is None else synced_view(state.pipeline.books, market[1])
        if view is not None or market not in self._record_books:
            return view
        latest = self._record_books[market]
        if self.now_ns - latest.record.recv_ns > self.settings.risk.stale_after_s * NS:
            return None
        if latest.view is None and latest.error is None:
            try:
                latest.view = _depth_view(book_event(latest.record, latest.instrument))
            except InvalidEventError as exc:
                latest.error = exc.reason
                self.result.rejected[(latest.record.venue, exc.reason)] += 1
        return latest.view

    def books(self) -> dict[tuple[str, str], DepthView | None]:
        """Every book the replay keeps, as `book_view` gives it."""
        markets = {
            (venue, symbol)
            for venue, state in self._venues.items()
            if state is not None
            for symbol in state.pipeline.books
        }
        markets |= set(self._record_books)
        return {market: self.book_view(market) for market in sorted(markets)}

    def _alert(self, alert: Alert) -> None:
        self.result.alerts.append(alert)
        if self._alerts_file is not None:
            self._alerts_file.write(encode(alert_document(alert)) + b"\n")
        if self.options.on_alert is not None:
            self.options.on_alert(alert)

    def _take_snapshots(self, next_cycle_ns: int | None) -> None:
        """Heatmaps as the HTTP API would have served them at each `--snapshot-at` time.

        That is the latest cycle at or before the time, taken before a later one replaces it.
        """
        engine = self.engine
        while self._snapshot_at and (next_cycle_ns is None or self._snapshot_at[0] < next_cycle_ns):
            self._snapshot_at.pop(0)
            if engine is None:
                continue
            snapshot = engine.snapshot
            for market in snapshot.markets.values():
                if market.price is not None:
                    self._heatmaps.append(heatmap_document(market, snapshot.ts_ns, snapshot.grid))

    def _write_outputs(self) -> None:
        options = self.options
        if self._events is not None and options.events_out is not None:
            self._events.write(options.events_out)
        if self._risk is not None and options.risk_out is not None:
            self._risk.write(options.risk_out)
        if options.snapshot_out is not None:
            options.snapshot_out.parent.mkdir(parents=True, exist_ok=True)
            options.snapshot_out.write_bytes(
                orjson.dumps(self._heatmaps, option=orjson.OPT_INDENT_2) + b"\n"
            )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the instruments file {path}: {exc}"
        raise ReplayError(msg) from exc


def _payload(frame: Frame) -> object:
    try:
        return orjson.loads(frame.raw)
    except orjson.JSONDecodeError:
        return frame.raw  # the adapter rejects it as malformed, counted like a live one


# ---------------------------------------------------------------------- progress, times


class _Progress:
    """One line on stderr: position in the input, rate, simulated time, ETA."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self._sources = sources
        self._total = sum(s.size for s in sources) or 1
        self._started = time.perf_counter()
        self._last = 0.0

    def tick(self, frames: int, now_ns: int) -> None:
        wall = time.perf_counter()
        if wall - self._last < PROGRESS_EVERY_S:
            return
        self._last = wall
        done = min(1.0, sum(s.position() for s in self._sources) / self._total)
        elapsed = wall - self._started
        eta = elapsed * (1.0 - done) / done if done > 0 else math.inf
        line = (
            f"\r{100.0 * done:5.1f} %  {frames:,} frames  {frames / max(elapsed, 1e-9):,.0f}/s"
            f"  at {iso_time(now_ns)}  ETA {eta:,.0f} s "
        )
        sys.stderr.write(line)
        sys.stderr.flush()

    @staticmethod
    def done() -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def parse_time(text: str) -> int:
    """`--snapshot-at`: ISO 8601 (UTC unless it says otherwise) or epoch s, ms, µs or ns.

    An epoch number is read by the tables' rule (`epoch_ns`), so a time means the same here
    as in a file.
    """
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit():  # not "²", which isdigit() takes
        ns = epoch_ns(int(stripped))
    else:
        try:
            moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError as exc:
            msg = f"not a time: {text!r} (ISO 8601 like 2024-08-08T23:57:00Z, or epoch seconds)"
            raise ConfigError(msg) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1_000
        ns = ns if EARLIEST_NS <= ns <= LATEST_NS else None
    if ns is None:
        msg = f"not a time market data can have: {text!r}"
        raise ConfigError(msg)
    return ns


def replay_main(
    settings: Settings,
    files: Sequence[Path],
    options: ReplayOptions,
    tables: TableOptions | None = None,
) -> int:
    """`liqmon replay`: open the files (format detected), replay, print the summary.

    SIGINT and SIGTERM end the replay where it is (at once, also during a `--speed` wait);
    the outputs and the summary then hold what was replayed.
    """
    sources = [open_source(path, tables) for path in files]
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        result = Replay(settings, replace(options, stop=stop)).run(sources)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.is_set():
        log.warning("stopped by a signal: the outputs hold what was replayed so far")
    sys.stdout.write(orjson.dumps(result.summary()).decode() + "\n")
    return 0
