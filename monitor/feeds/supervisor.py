"""Connection supervision: one task per venue connection, for weeks on end.

For each `ConnectionPlan` of an adapter the supervisor connects, subscribes, reads frames,
answers keep-alives, watches every stream's staleness on its own deadline, keeps order
books in sync (REST snapshot or resubscribe on a gap or a crossed book), and reconnects
with capped, jittered backoff that is reset only after the first good frame. Every
disconnect is reported downstream as a `FeedGap`, so the ledger never mistakes an
open-interest jump across an outage for new positions; polled open interest (Binance) is
held back until the connection carrying the symbol's marks delivers again, so the whole
outage is that one gap and not polls booked as new positions against a frozen mark.

What one frame means (parse, count or reject, sanity, order books, resync decisions, the
events it yields) is decided by `FramePipeline`, synchronously and without I/O; the
supervisor only carries its decisions out (send replies and resubscriptions, fetch REST
snapshots, put events on the queue). `liqmon replay` drives the same `FramePipeline` from
recorded frames, so live and replay share that code rather than copies of it.

Errors are split in one place (`_retry_reason`): network trouble, venue closes, stale
streams and REST failures are retried forever; anything else is a bug and propagates, so
the TaskGroup above stops and the process exits for its supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from monitor.backoff import DelayFactory, full_jitter
from monitor.clock import Clock
from monitor.core.events import BookSnapshot, BookUpdate, FeedGap, FeedItem, OpenInterest
from monitor.feeds.base import (
    ConnectionPlan,
    FeedDecodeError,
    FeedError,
    FeedRejectReason,
    Instrument,
    Parsed,
    RestRequest,
    StaleFeedError,
    Stream,
    VenueAdapter,
)
from monitor.feeds.book import BookStatus, OrderBook
from monitor.feeds.rejects import RejectLog
from monitor.feeds.rest import RestError, fetch_json
from monitor.feeds.sanity import Sanitizer

log = logging.getLogger("liqmon.feeds")

RawSink = Callable[[int, str, str, str], None]
"""Receives (recv_ns, venue, conn, raw text) for every frame, before parsing."""

PING_INTERVAL_S = 20.0
OPEN_TIMEOUT_S = 10.0
MAX_FRAME_BYTES = 1 << 24
BOOK_BUFFER = 5_000
"""Deltas kept while a book waits for its snapshot (Binance bridging)."""
SNAPSHOT_WEIGHT_PER_MIN = 1_700.0
"""REST weight a venue's book snapshots may spend within any 60 s.

Only Binance fetches snapshots (weight 20 each). Its IP budget is 2400 a minute, counted in
fixed minutes whose boundaries we do not know; its OI polls take up to 600, and 100 stay
for exchangeInfo and retries. A limit on every sliding 60 s holds for any fixed minute, and
still lets a reconnect of the book connection rebuild up to 85 books at once; the rest wait
until earlier fetches are a minute old (a token bucket within the same budget either
fetched few at once or refilled slowly: 80 books took up to 145 s after a reconnect).
"""
BOOK_CHANNELS = frozenset({"depth", "books", "orderbook", "book", "l2Book"})
"""The stream-key channels of order books (Binance, OKX, Bybit, Deribit, Hyperliquid).

Every other per-symbol stream carries a ledger input (mark, open interest, liquidations,
trades); a connection of books only (Binance's public route) loses none when it drops.
"""
_BOOK_EVENTS = (BookSnapshot, BookUpdate)  # a tuple: isinstance of `A | B` is ~25 ns dearer


class _PlannedReconnect(Exception):  # noqa: N818 - control flow, not an error
    """The connection reached its planned lifetime."""


class _ClosedByVenue(Exception):  # noqa: N818 - control flow, not an error
    """The venue closed the connection cleanly; the session's other tasks must stop."""


@dataclass
class FeedStats:
    """Counters and gauges a metrics layer exports; mutated only by the supervisor."""

    messages: Counter[str] = field(default_factory=Counter)  # per conn
    events: Counter[str] = field(default_factory=Counter)  # per event type
    reconnects: Counter[str] = field(default_factory=Counter)  # per reason
    book_resyncs: Counter[str] = field(default_factory=Counter)  # per symbol
    last_seen: dict[str, float] = field(default_factory=dict)  # stream key -> monotonic s
    connected: dict[str, bool] = field(default_factory=dict)  # conn -> up
    connects: Counter[str] = field(default_factory=Counter)  # per conn: successful opens


class _WeightWindow:
    """REST weight spent in the last 60 s, kept under a limit; requests wait in turn."""

    def __init__(self, per_min: float, monotonic: Callable[[], float]) -> None:
        self._limit = per_min
        self._monotonic = monotonic
        self._spent: deque[tuple[float, int]] = deque()  # (when, weight), oldest first
        self._used = 0
        self._lock = asyncio.Lock()

    async def spend(self, weight: int) -> None:
        """Wait until `weight` fits into the last 60 s, then take it."""
        async with self._lock:
            while True:
                now = self._monotonic()
                while self._spent and self._spent[0][0] <= now - 60.0:
                    self._used -= self._spent.popleft()[1]
                if not self._spent or self._used + weight <= self._limit:
                    break
                await asyncio.sleep(self._spent[0][0] + 60.0 - now)
            self._spent.append((now, weight))
            self._used += weight


class _Backoff:
    """A delay generator that is replaced, not rewound, once a connection proves good."""

    def __init__(self, factory: DelayFactory) -> None:
        self._factory = factory
        self._delays: Iterator[float] = factory()

    def reset(self) -> None:
        self._delays = self._factory()

    def next_delay(self) -> float:
        return next(self._delays)


@dataclass(slots=True)
class FrameResult:
    """What the supervisor must do about one accepted frame, in this order."""

    replies: tuple[str, ...]  # answers the venue expects (keep-alives), sent first
    alive: bool  # the frame proved at least one stream alive
    sends: list[str] = field(default_factory=list)  # resubscriptions that rebuild a book
    snapshots: list[str] = field(default_factory=list)  # symbols whose REST snapshot to fetch
    events: list[FeedItem] = field(default_factory=list)  # plausible non-book events, in order


class SnapshotOutcome(Enum):
    """What applying a REST book snapshot did."""

    SYNCED = "synced"  # the book is live; buffered deltas applied
    NOT_BRIDGED = "not_bridged"  # the buffered deltas do not follow it: fetch another
    REJECTED = "rejected"  # the answer did not parse (counted): fetch another


class FramePipeline:
    """The synchronous, I/O-free processing of one venue's frames, live or replayed.

    Per frame: count it, parse it (a `FeedDecodeError` is counted by reason and the frame
    dropped), note which streams it proves alive, run the sanity layer on every event, keep
    the order books (buffer deltas until a snapshot, detect gaps, duplicates and crossed
    books) and decide how a broken book is rebuilt: by a REST snapshot where the venue's
    procedure has one (`FrameResult.snapshots`), else by resubscribing
    (`FrameResult.sends`). Time comes in as values: receive times with each frame and
    `monotonic` for the stream liveness stamps, so a replay runs it on a simulated clock.
    """

    def __init__(
        self,
        adapter: VenueAdapter,
        rejects: RejectLog,
        *,
        monotonic: Callable[[], float],
    ) -> None:
        self.adapter = adapter
        self.venue = adapter.venue
        self._rejects = rejects
        self._monotonic = monotonic
        self._sanitizer = Sanitizer()
        self.stats = FeedStats()
        self.books: dict[str, OrderBook] = {}
        self.snapshot_wanted: set[str] = set()
        self._pending: dict[str, deque[BookUpdate]] = {}
        self._book_conn: dict[str, str] = {}  # symbol -> connection that feeds its book

    def frame(self, conn: str, raw: str | bytes, recv_ns: int) -> FrameResult | None:
        """Process one received frame; None when the adapter rejected it (counted)."""
        self.stats.messages[conn] += 1
        try:
            parsed = self.adapter.parse(conn, raw, recv_ns)
        except FeedDecodeError as error:
            self._rejects.reject(error)
            return None
        result = FrameResult(parsed.replies, self.mark_alive(parsed))
        for symbol in parsed.resync:
            self._resync(conn, symbol, result)
        for event in parsed.events:
            if not self.plausible(event):
                continue
            if isinstance(event, _BOOK_EVENTS):
                self._book(conn, event, result)
            else:
                result.events.append(event)
        return result

    def poll(self, payload: object, recv_ns: int) -> list[FeedItem] | None:
        """Process one REST poll answer; None when it did not parse (counted)."""
        try:
            parsed = self.adapter.parse_poll(payload, recv_ns)
        except FeedDecodeError as error:
            self._rejects.reject(error)
            return None
        self.mark_alive(parsed)
        return [event for event in parsed.events if self.plausible(event)]

    def rest_snapshot(self, symbol: str, payload: object, recv_ns: int) -> SnapshotOutcome:
        """Apply a REST book snapshot, then the deltas buffered while it was on its way."""
        try:
            parsed = self.adapter.parse_book_snapshot(symbol, payload, recv_ns)
        except FeedDecodeError as error:
            self._rejects.reject(error)
            return SnapshotOutcome.REJECTED
        book = self.books.setdefault(symbol, OrderBook())
        for event in parsed.events:
            if isinstance(event, BookSnapshot):
                book.apply_snapshot(event)
        if book.synced and self._replay_pending(symbol, book):
            self.snapshot_wanted.discard(symbol)
            return SnapshotOutcome.SYNCED
        # The snapshot did not bridge the buffered deltas: start over with a new one.
        self.stats.book_resyncs[symbol] += 1
        book.reset()
        return SnapshotOutcome.NOT_BRIDGED

    def connection_lost(self, conn: str) -> None:
        """`conn` is gone: the books it fed are out of date now, not when it reconnects.

        Kept until a reconnect (which may not come for minutes), a book would still read as
        synced, and fresh, while nothing updates it.
        """
        for symbol, fed_by in list(self._book_conn.items()):
            if fed_by == conn:
                self.reset_book(symbol)

    def plausible(self, event: FeedItem) -> bool:
        """Run the sanity layer; count the event, or reject it with the reason."""
        reason = self._sanitizer.check(event)
        if reason is not None:
            self._rejects.reject(FeedDecodeError(self.venue, reason, repr(event)[:120]))
            return False
        self.stats.events[type(event).__name__] += 1
        return True

    def mark_alive(self, parsed: Parsed) -> bool:
        """Note the streams this frame proves alive; True if there were any."""
        now = self._monotonic()
        for key in parsed.streams:
            self.stats.last_seen[key] = now
        return bool(parsed.streams)

    def reset_book(self, symbol: str) -> None:
        """Forget a book: the next message for it must be a snapshot."""
        self.books.setdefault(symbol, OrderBook()).reset()
        self._pending[symbol] = deque(maxlen=BOOK_BUFFER)
        self.snapshot_wanted.discard(symbol)

    def _book(self, conn: str, event: BookSnapshot | BookUpdate, result: FrameResult) -> None:
        book = self.books.setdefault(event.symbol, OrderBook())
        self._book_conn[event.symbol] = conn
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event)
            self.snapshot_wanted.discard(event.symbol)
            if not self._replay_pending(event.symbol, book):
                self._resync(conn, event.symbol, result)
            return
        status = book.apply_update(event)
        if status is BookStatus.NO_SNAPSHOT:
            # Only a REST snapshot is bridged by the deltas around it (Binance). A snapshot
            # on the stream follows the deltas that matter; those before it (in flight while
            # OKX processed our unsubscribe) would not chain onto it: dropped.
            if self.adapter.book_snapshot_request(event.symbol) is not None:
                self._pending.setdefault(event.symbol, deque(maxlen=BOOK_BUFFER)).append(event)
                self._want_snapshot(event.symbol, result)
        elif status in (BookStatus.GAP, BookStatus.CROSSED):
            self._reject_book(status, event.symbol)
            self._resync(conn, event.symbol, result)
        elif status is BookStatus.DUPLICATE:
            self._rejects.reject(
                FeedDecodeError(self.venue, "duplicate_sequence", f"book {event.symbol}")
            )

    def _replay_pending(self, symbol: str, book: OrderBook) -> bool:
        """Apply deltas buffered while waiting for a snapshot; False if they do not fit."""
        pending = self._pending.get(symbol)
        while pending:
            status = book.apply_update(pending.popleft())
            if status in (BookStatus.GAP, BookStatus.CROSSED):
                self._reject_book(status, symbol)
                pending.clear()
                return False
        return True

    def _reject_book(self, status: BookStatus, symbol: str) -> None:
        """Count a delta that broke the book, by what broke it."""
        reason: FeedRejectReason = "sequence_gap" if status is BookStatus.GAP else "crossed_book"
        self._rejects.reject(FeedDecodeError(self.venue, reason, f"book {symbol}"))

    def _resync(self, conn: str, symbol: str, result: FrameResult) -> None:
        self.stats.book_resyncs[symbol] += 1
        self.reset_book(symbol)
        if self.adapter.book_snapshot_request(symbol) is not None:
            self._want_snapshot(symbol, result)
            return
        result.sends.extend(self.adapter.resubscribe(conn, symbol))

    def _want_snapshot(self, symbol: str, result: FrameResult) -> None:
        if symbol in self.snapshot_wanted:
            return
        self.snapshot_wanted.add(symbol)
        result.snapshots.append(symbol)


class FeedSupervisor:
    """Runs every connection and REST poll of one venue and feeds a bounded queue."""

    def __init__(
        self,
        adapter: VenueAdapter,
        instruments: Sequence[Instrument],
        out: asyncio.Queue[FeedItem] | None,
        *,
        clock: Clock,
        http: aiohttp.ClientSession,
        rejects: RejectLog,
        delays: DelayFactory = full_jitter,
        raw_sink: RawSink | None = None,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        self.adapter = adapter
        self.venue = adapter.venue
        self.instruments = list(instruments)
        self.plans = adapter.plan(self.instruments)
        self.polls = adapter.poll_requests(self.instruments)
        self._out = out
        self._clock = clock
        self._http = http
        self._rejects = rejects
        self._delays = delays
        self._raw_sink = raw_sink
        self._ping_interval_s = ping_interval_s
        self.pipeline = FramePipeline(adapter, rejects, monotonic=clock.monotonic)
        self.stats = self.pipeline.stats
        self.books = self.pipeline.books
        self._ledger_conns: dict[str, list[str]] = {}  # symbol -> connections of its inputs
        for plan in self.plans:
            for symbol in self._plan_symbols(plan):
                self._ledger_conns.setdefault(symbol, []).append(plan.name)
        self._heartbeats: dict[str, tuple[str, float]] = {}  # set from the plans in `run`
        self._unproven = {plan.name for plan in self.plans}  # no good frame since (re)opening
        self._snapshot_budget = _WeightWindow(SNAPSHOT_WEIGHT_PER_MIN, clock.monotonic)

    async def run(self) -> None:
        """Run until cancelled; a bug in any task stops all of them."""
        self._heartbeats = self._heartbeat_streams()
        async with asyncio.TaskGroup() as tg:
            for plan in self.plans:
                tg.create_task(self._connection(plan), name=f"feed:{self.venue}:{plan.name}")
            for request, interval in self.polls:
                tg.create_task(
                    self._poll(request, interval), name=f"poll:{self.venue}:{request.url}"
                )

    # ------------------------------------------------------------------ connections

    async def _connection(self, plan: ConnectionPlan) -> None:
        backoff = _Backoff(self._delays)
        while True:
            reason = await self._connect_once(plan, backoff)
            self.stats.connected[plan.name] = False
            self._unproven.add(plan.name)
            self.pipeline.connection_lost(plan.name)
            self.stats.reconnects[reason] += 1
            await self._report_gap(plan, reason)
            delay = 0.0 if reason == "planned" else backoff.next_delay()
            log.info(
                "%s/%s disconnected (%s), retry in %.1fs", self.venue, plan.name, reason, delay
            )
            await asyncio.sleep(delay)

    async def _connect_once(self, plan: ConnectionPlan, backoff: _Backoff) -> str:
        """One connection's life; returns why it ended (the reconnect reason label)."""
        reason = "closed"
        try:
            async with connect(
                plan.url,
                open_timeout=OPEN_TIMEOUT_S,
                ping_interval=self._ping_interval_s,
                ping_timeout=self._ping_interval_s,
                max_size=MAX_FRAME_BYTES,
                close_timeout=2.0,
            ) as ws:
                self.stats.connected[plan.name] = True
                self.stats.connects[plan.name] += 1
                for frame in plan.subscribe:
                    await ws.send(frame)
                await self._session(plan, ws, backoff)
        except* StaleFeedError as group:
            log.warning("%s/%s: %s", self.venue, plan.name, group.exceptions[0])
            reason = "stale"
        except* _PlannedReconnect:
            reason = "planned"
        except* _ClosedByVenue:
            reason = "closed_by_venue"
        except* (ConnectionClosed, OSError, TimeoutError, InvalidHandshake, RestError) as group:
            log.warning("%s/%s: %r", self.venue, plan.name, group.exceptions[0])
            reason = _retry_reason(group.exceptions[0])
        return reason

    async def _session(self, plan: ConnectionPlan, ws: ClientConnection, backoff: _Backoff) -> None:
        started = self._clock.monotonic()
        watched = {s.key: s.stale_after_s for s in plan.streams if s.stale_after_s is not None}
        for key in watched:
            self.stats.last_seen[key] = started
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(plan, ws, tg, backoff), name=f"recv:{plan.name}")
            if watched:
                tg.create_task(self._watch(plan.name, watched), name=f"watch:{plan.name}")
            if plan.keepalive is not None:
                keepalive = plan.keepalive
                tg.create_task(
                    self._keepalive(ws, keepalive.frame, keepalive.interval_s),
                    name=f"keepalive:{plan.name}",
                )
            if plan.max_lifetime_s is not None:
                tg.create_task(self._lifetime(plan.max_lifetime_s), name=f"lifetime:{plan.name}")

    async def _receive(
        self,
        plan: ConnectionPlan,
        ws: ClientConnection,
        tg: asyncio.TaskGroup,
        backoff: _Backoff,
    ) -> None:
        fresh = True
        pipeline = self.pipeline
        async for message in ws:
            recv_ns = self._clock.time_ns()
            raw = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if self._raw_sink is not None:
                self._raw_sink(recv_ns, self.venue, plan.name, raw)
            result = pipeline.frame(plan.name, raw, recv_ns)
            if result is None:
                continue
            for reply in result.replies:
                await ws.send(reply)
            if result.alive and fresh:
                backoff.reset()  # first good frame: the connection works, forget past failures
                self._unproven.discard(plan.name)
                fresh = False
            for frame in result.sends:
                await ws.send(frame)
            for symbol in result.snapshots:
                tg.create_task(self._fetch_snapshot(symbol), name=f"snapshot:{self.venue}:{symbol}")
            if self._out is not None:
                for event in result.events:
                    await self._out.put(event)
        raise _ClosedByVenue

    async def _watch(self, conn: str, watched: dict[str, float]) -> None:
        """Fail the connection when any watched stream is silent past its deadline."""
        period = max(0.05, min(watched.values()) / 4.0)
        while True:
            await asyncio.sleep(period)
            now = self._clock.monotonic()
            for key, deadline in watched.items():
                silent = now - self.stats.last_seen.get(key, now)
                if silent > deadline:
                    msg = f"stream {key} on {conn} silent for {silent:.1f}s (deadline {deadline}s)"
                    raise StaleFeedError(self.venue, msg)

    @staticmethod
    async def _keepalive(ws: ClientConnection, frame: str, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await ws.send(frame)

    @staticmethod
    async def _lifetime(seconds: float) -> None:
        await asyncio.sleep(seconds)
        raise _PlannedReconnect

    async def _report_gap(self, plan: ConnectionPlan, reason: str) -> None:
        if self._out is None:
            return
        now = self._clock.time_ns()
        for symbol in self._plan_symbols(plan):
            gap = FeedGap(
                venue=self.venue, symbol=symbol, ts_event_ns=now, ts_recv_ns=now, reason=reason
            )
            await self._out.put(gap)

    def _plan_symbols(self, plan: ConnectionPlan) -> list[str]:
        """The planned instruments whose ledger inputs a connection carries."""
        return sorted({symbol for symbol, _ in self._ledger_streams(plan)})

    def _ledger_streams(self, plan: ConnectionPlan) -> Iterator[tuple[str, Stream]]:
        """(symbol, stream) of a connection's streams that carry a planned symbol's ledger input.

        Stream keys are `channel:symbol`; book channels do not count, so a drop of a
        connection of books only sends no gap and the next OI change is still tracked.
        Matching against the instruments, not trusting the key's shape, keeps a stream that
        is not per symbol (a heartbeat) from being mistaken for one.
        """
        wanted = {instrument.symbol for instrument in self.instruments}
        for stream in plan.streams:
            channel, _, symbol = stream.key.partition(":")
            if channel not in BOOK_CHANNELS and symbol in wanted:
                yield symbol, stream

    # ------------------------------------------------------------------ books

    async def _fetch_snapshot(self, symbol: str) -> None:
        """Fetch a REST book snapshot, retrying with backoff while this session lives.

        Every fetch waits for its weight in the venue's snapshot budget: a (re)connect of a
        connection of 200 books would otherwise spend 4,000 weight at once (Binance: 429,
        then a 418 ban on repeats).
        """
        request = self.adapter.book_snapshot_request(symbol)
        if request is None:
            return
        backoff = _Backoff(self._delays)
        while symbol in self.pipeline.snapshot_wanted:
            await self._snapshot_budget.spend(request.weight)
            try:
                payload = await fetch_json(self._http, self.venue, request)
            except RestError as exc:
                log.warning("%s book snapshot %s: %s", self.venue, symbol, exc)
                await asyncio.sleep(max(exc.retry_after_s, backoff.next_delay()))
                continue
            recv_ns = self._clock.time_ns()
            self._record_rest(recv_ns, f"snapshot:{symbol}", payload)
            if self.pipeline.rest_snapshot(symbol, payload, recv_ns) is SnapshotOutcome.SYNCED:
                return
            await asyncio.sleep(backoff.next_delay())

    # ------------------------------------------------------------------ REST polls

    def _record_rest(self, recv_ns: int, conn: str, payload: object) -> None:
        """REST answers are part of the tape: replay needs the polls and snapshots too."""
        if self._raw_sink is not None:
            self._raw_sink(recv_ns, self.venue, conn, orjson.dumps(payload).decode())

    async def _poll(self, request: RestRequest, interval_s: float) -> None:
        """Poll a REST endpoint on a fixed cadence; errors back off, never stop the loop."""
        backoff = _Backoff(self._delays)
        while True:
            try:
                payload = await fetch_json(self._http, self.venue, request)
            except RestError as exc:
                log.warning("%s poll failed: %s", self.venue, exc)
                await asyncio.sleep(max(exc.retry_after_s, backoff.next_delay()))
                continue
            recv_ns = self._clock.time_ns()
            self._record_rest(recv_ns, "poll", payload)
            events = self.pipeline.poll(payload, recv_ns)
            if events is not None:
                backoff.reset()
                if self._out is not None:
                    for event in events:
                        if not (isinstance(event, OpenInterest) and self._held(event.symbol)):
                            await self._out.put(event)
            await asyncio.sleep(interval_s)

    def _held(self, symbol: str) -> bool:
        """Whether the symbol's ledger inputs are not flowing: OI polled now is held back.

        True while a connection of its inputs has not delivered since opening, or while its
        most frequent input stream (Binance: the mark, every second) has been silent for
        half its staleness deadline: a silent connection is declared lost only at the full
        deadline, and a poll in between would already be booked. Open interest seen then has
        no marks or liquidations to go with it: the ledger would book it as new positions at
        a frozen mark. Held back, the next one after the gap carries the whole outage's
        change and is booked as mass of unknown origin.
        """
        if any(conn in self._unproven for conn in self._ledger_conns.get(symbol, ())):
            return True
        heartbeat = self._heartbeats.get(symbol)
        if heartbeat is None:
            return False
        key, silent_s = heartbeat
        last = self.stats.last_seen.get(key)
        return last is None or self._clock.monotonic() - last > silent_s

    def _heartbeat_streams(self) -> dict[str, tuple[str, float]]:
        """Per symbol: its watched ledger-input stream of shortest deadline, and half of it."""
        beats: dict[str, tuple[str, float]] = {}
        for plan in self.plans:
            for symbol, stream in self._ledger_streams(plan):
                if not stream.stale_after_s:
                    continue
                silent_s = stream.stale_after_s / 2.0
                if symbol not in beats or silent_s < beats[symbol][1]:
                    beats[symbol] = (stream.key, silent_s)
        return beats


def _retry_reason(exc: BaseException) -> str:
    """The reconnect reason label of a retryable failure."""
    if isinstance(exc, ConnectionClosed):
        return "closed_by_venue" if exc.rcvd is not None else "connection_lost"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, InvalidHandshake):
        return "handshake"
    if isinstance(exc, FeedError):
        return "rest"
    return "network"
