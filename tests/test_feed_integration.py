"""Each venue adapter driven by the real supervisor against a local server of its protocol.

The fake venue (tests/venue_server.py + tests/fake_venues/<venue>.py) answers the
adapter's own subscription frames and keep-alives as the venue documents, serves the
instruments (and Binance's REST book snapshot and OI poll) over real HTTP, and pushes
recorded frames (Binance's only to the connection subscribed to their stream, as Binance
routes them). What the tests observe: events of every kind arrive, books get built, a
server close, a silent stream or a refused connection lead to a reconnect that
resubscribes exactly as the first connection did, and the ledger's gap notices follow the
connections that carry its inputs. Deadlines are scaled down so each test takes seconds;
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import orjson
import pytest
from fake_venues import binance as fake_binance
from venue_server import FakeVenue, eventually

from monitor.app import load_instruments
from monitor.clock import SystemClock
from monitor.core.events import FeedGap, FeedItem, MarkPrice, OpenInterest
from monitor.core.venues import ContractType
from monitor.feeds import binance
from monitor.feeds.base import ConnectionPlan, Instrument, SizeUnit
from monitor.feeds.book import OrderBook, synced_view
from monitor.feeds.registry import VENUES, make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import (
    SNAPSHOT_WEIGHT_PER_MIN,
    FeedSupervisor,
)

pytestmark = pytest.mark.asyncio

BTC = "BTCUSDT"
STALE_S = 0.5
KEEPALIVE_S = 0.1


def delays_of(seconds: float) -> Callable[[], Iterator[float]]:
    return lambda: itertools.repeat(seconds)


def binance_routing(frame: str, received: list[str]) -> bool:
    """Binance sends a data frame only on the connection that subscribed to its stream."""
    stream = orjson.loads(frame)["stream"]
    return any(stream in sent for sent in received)


def speed_up(plan: ConnectionPlan) -> ConnectionPlan:
    """Same plan, with deadlines and keep-alives a test can wait for."""
    streams = tuple(
        replace(s, stale_after_s=STALE_S if s.stale_after_s is not None else None)
        for s in plan.streams
    )
    keepalive = plan.keepalive and replace(plan.keepalive, interval_s=KEEPALIVE_S)
    return replace(plan, streams=streams, keepalive=keepalive)


@dataclass
class Running:
    venue: FakeVenue
    script: Any
    supervisor: FeedSupervisor
    queue: asyncio.Queue[FeedItem]
    rejects: RejectLog
    seen: list[FeedItem] = field(default_factory=list)

    def items(self) -> list[FeedItem]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    def collect(self) -> list[FeedItem]:
        """Everything queued so far, kept."""
        self.seen += self.items()
        return self.seen


@contextlib.asynccontextmanager
async def running(name: str, reconnect_delay_s: float = 0.02) -> AsyncIterator[Running]:
    script = importlib.import_module(f"fake_venues.{name}").Script()
    if name == "binance":
        script.wants = binance_routing
    async with FakeVenue(script) as venue, aiohttp.ClientSession() as http:
        adapter = make_adapter(name, ws_url=venue.ws_url, rest_url=venue.rest_url)
        instruments = await load_instruments(adapter, http, list(script.symbols))
        queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=100_000)
        rejects = RejectLog(monotonic=SystemClock().monotonic)
        supervisor = FeedSupervisor(
            adapter,
            instruments,
            queue,
            clock=SystemClock(),
            http=http,
            rejects=rejects,
            delays=delays_of(reconnect_delay_s),
            ping_interval_s=5.0,
        )
        supervisor.plans = [speed_up(plan) for plan in supervisor.plans]
        supervisor.polls = [(request, 0.1) for request, _ in supervisor.polls]
        task = asyncio.create_task(supervisor.run(), name=f"test:{name}")
        try:
            yield Running(venue, script, supervisor, queue, rejects)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("name", sorted(VENUES))
async def test_events_of_every_kind_arrive_and_books_are_built(name):
    async with running(name) as run:
        symbols = [i.symbol for i in run.supervisor.instruments]
        seen: list[FeedItem] = []

        def collected(kind: type) -> set[str]:
            seen.extend(run.items())
            return {e.symbol for e in seen if isinstance(e, kind)}

        await eventually(lambda: collected(MarkPrice) >= set(symbols), what="marks")
        await eventually(lambda: collected(OpenInterest) >= set(symbols), what="open interest")
        for symbol in symbols:
            book = run.supervisor.books.get(symbol)
            await eventually(
                lambda b=book: b is not None and b.synced and min(b.levels) > 0, what="book"
            )
        marks = [e for e in seen if isinstance(e, MarkPrice)]
        assert all(m.venue == name for m in marks)
        assert not [key for key in run.rejects.counts if key[0] == name], run.rejects.counts


@pytest.mark.parametrize("name", sorted(VENUES))
async def test_server_close_leads_to_reconnect_with_the_same_subscriptions(name):
    async with running(name) as run:
        await eventually(lambda: run.supervisor.stats.events["MarkPrice"] >= 2, what="data")
        subscriptions = {f for plan in run.supervisor.plans for f in plan.subscribe}
        count = len(run.venue.connections)
        await run.venue.close_all()
        await eventually(lambda: len(run.venue.connections) >= 2 * count, what="reconnect")

        def resent() -> set[str]:
            return {f for c in run.venue.connections[count:] for f in c.received}

        await eventually(lambda: subscriptions <= resent(), what="every subscription resent")
        symbols = {i.symbol for i in run.supervisor.instruments}
        gaps: set[str] = set()

        def gapped() -> set[str]:
            gaps.update(e.symbol for e in run.items() if isinstance(e, FeedGap))
            return gaps

        await eventually(lambda: gapped() == symbols, what="a gap for every symbol")
        marks = run.supervisor.stats.events["MarkPrice"]
        await eventually(lambda: run.supervisor.stats.events["MarkPrice"] > marks + 2)


@pytest.mark.parametrize("name", sorted(VENUES))
async def test_acknowledged_then_silent_streams_are_detected_as_stale(name):
    async with running(name) as run:
        await eventually(lambda: run.supervisor.stats.events["MarkPrice"] >= 2, what="data")
        run.venue.silent = True
        await eventually(lambda: run.supervisor.stats.reconnects["stale"] >= 1, what="stale")
        run.venue.silent = False
        marks = run.supervisor.stats.events["MarkPrice"]
        await eventually(lambda: run.supervisor.stats.events["MarkPrice"] > marks + 2)


@pytest.mark.parametrize("name", sorted(VENUES))
async def test_keepalive_frames_reach_the_venue(name):
    async with running(name) as run:
        plans = [p for p in run.supervisor.plans if p.keepalive is not None]
        if not plans:
            pytest.skip(f"{name} defines no application keep-alive (protocol pings only)")
        frame = plans[0].keepalive.frame
        await eventually(
            lambda: any(frame in c.received for c in run.venue.connections), what="keep-alive"
        )


async def test_reconnecting_one_binance_route_leaves_the_other_routes_books_alone():
    async with running("binance") as run:
        symbol = run.supervisor.instruments[0].symbol
        await eventually(lambda: run.supervisor.books.get(symbol) is not None)
        book = run.supervisor.books[symbol]
        await eventually(lambda: book.synced and min(book.levels) > 0, what="book")
        snapshots = sum("/depth" in hit for hit in run.venue.rest_hits)
        count = len(run.venue.connections)
        await run.venue.close_all(path_contains="/market")  # marks and liquidations only
        await eventually(lambda: len(run.venue.connections) > count, what="market reconnect")
        marks = run.supervisor.stats.events["MarkPrice"]
        await eventually(lambda: run.supervisor.stats.events["MarkPrice"] > marks + 2)
        assert book.synced
        assert sum("/depth" in hit for hit in run.venue.rest_hits) == snapshots


async def test_a_drop_of_the_binance_book_connection_reports_no_gap():
    """The public route carries only books: no ledger input is lost, the ledger gets no gap."""
    async with running("binance") as run:
        stats = run.supervisor.stats
        book = await synced_book(run, BTC)
        await run.venue.close_all(path_contains="/public")
        await eventually(lambda: stats.connects["public-0"] >= 2, what="public reconnect")
        await eventually(lambda: book.synced, what="book rebuilt")
        assert stats.connects["market-0"] == 1
        assert not [item for item in run.collect() if isinstance(item, FeedGap)]

        await run.venue.close_all(path_contains="/market")  # marks, liquidations, trades
        await eventually(lambda: stats.connects["market-0"] >= 2, what="market reconnect")
        gaps = {item.symbol for item in run.collect() if isinstance(item, FeedGap)}
        assert gaps == set(run.script.symbols)


async def test_binance_open_interest_polled_while_the_market_route_is_down_is_held_back():
    """The OI poll keeps answering through a market-route outage: none of it reaches the
    ledger before marks flow again, so the OI change across the outage follows one gap."""
    oi_path = f"/fapi/v1/openInterest?symbol={BTC}"
    async with running("binance", reconnect_delay_s=1.0) as run:
        stats = run.supervisor.stats
        await eventually(
            lambda: {type(i) for i in run.collect()} >= {MarkPrice, OpenInterest}, what="data"
        )
        await run.venue.close_all(path_contains="/market")
        await eventually(lambda: not stats.connected["market-0"], what="market down")
        polls = run.venue.rest_hits.count(oi_path)
        risen = dict(run.script.rest[oi_path])
        risen["openInterest"] = f"{fake_binance.OI_BASE * 1.10:.3f}"
        run.script.rest[oi_path] = risen  # +10 % while nothing else is seen
        await eventually(lambda: run.venue.rest_hits.count(oi_path) >= polls + 5, what="polls")
        assert not stats.connected["market-0"]
        await eventually(lambda: stats.connects["market-0"] >= 2, what="market reconnect")
        gap = next(n for n, i in enumerate(run.collect()) if isinstance(i, FeedGap))

        def after_gap() -> list[FeedItem]:
            return [i for i in run.collect()[gap:] if i.symbol == BTC]

        await eventually(
            lambda: {type(i) for i in after_gap()} >= {MarkPrice, OpenInterest}, what="data"
        )
        later = after_gap()
        outage = list(itertools.takewhile(lambda i: not isinstance(i, MarkPrice), later))
        assert not [i for i in outage if isinstance(i, OpenInterest)]
        first_oi = next(i for i in later if isinstance(i, OpenInterest))
        assert first_oi.open_interest == pytest.approx(fake_binance.OI_BASE * 1.10)


async def test_binance_open_interest_polled_while_the_marks_are_silent_is_held_back():
    """A market connection that goes silent (not closed) is declared lost only at the mark
    deadline (5 s, the venue's own here). OI polled once the marks have been silent for half
    of it must not reach the ledger either (a poll in the first half cannot be told from one
    between two pushes)."""
    script: Any = fake_binance.Script()
    script.wants = binance_routing
    oi_path = f"/fapi/v1/openInterest?symbol={BTC}"
    async with FakeVenue(script) as venue, aiohttp.ClientSession() as http:
        adapter = make_adapter("binance", ws_url=venue.ws_url, rest_url=venue.rest_url)
        queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=100_000)
        supervisor = FeedSupervisor(
            adapter,
            await load_instruments(adapter, http, list(script.symbols)),
            queue,
            clock=SystemClock(),
            http=http,
            rejects=RejectLog(monotonic=SystemClock().monotonic),
            delays=delays_of(1.0),
        )
        supervisor.polls = [(request, 0.25) for request, _ in supervisor.polls]
        items: list[FeedItem] = []

        def collect() -> list[FeedItem]:
            while not queue.empty():
                items.append(queue.get_nowait())
            return items

        task = asyncio.create_task(supervisor.run(), name="test:binance-silent")
        try:
            await eventually(
                lambda: sum(isinstance(i, OpenInterest) for i in collect()) >= 2, what="data"
            )
            venue.silent = True  # the market WebSocket stays open and delivers nothing
            await asyncio.sleep(binance.MARK_STALE_S / 2 + 0.5)
            assert not any(isinstance(i, FeedGap) for i in collect())
            risen = dict(script.rest[oi_path])
            risen["openInterest"] = f"{fake_binance.OI_BASE * 1.10:.3f}"
            script.rest[oi_path] = risen  # the REST poll keeps answering: OI +10 %
            await eventually(
                lambda: any(isinstance(i, FeedGap) for i in collect()), what="the stale gap"
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
    btc = [i for i in items if i.symbol == BTC]
    gap = next(n for n, i in enumerate(btc) if isinstance(i, FeedGap))
    before = [i for i in btc[:gap] if isinstance(i, OpenInterest)]
    assert before
    assert all(i.open_interest == pytest.approx(fake_binance.OI_BASE) for i in before)


async def test_a_binance_book_is_dropped_while_its_connection_is_down():
    """A lost book connection leaves no frozen book behind that would still read as synced."""
    async with running("binance", reconnect_delay_s=1.0) as run:
        stats = run.supervisor.stats
        await synced_book(run, BTC)
        await run.venue.close_all(path_contains="/public")
        await eventually(lambda: not stats.connected["public-0"], what="public down")
        assert synced_view(run.supervisor.books, BTC) is None
        assert stats.connects["public-0"] == 1  # still waiting to reconnect
        await eventually(lambda: stats.connects["public-0"] >= 2, what="public reconnect")
        await synced_book(run, BTC)


async def test_binance_book_snapshots_are_paced_by_their_weight():
    """A public connection of 100 symbols wants 100 snapshots of weight 20 at once; Binance
    allows 2400 weight a minute per IP (OI polls take 600 of it): what fits into the
    snapshots' budget of any 60 s goes at once, the rest waits for that minute to pass."""

    class ManySymbols(fake_binance.Script):
        symbols = tuple(f"S{n}USDT" for n in range(100))

    script = ManySymbols()
    async with FakeVenue(script, tick_s=0.05) as venue, aiohttp.ClientSession() as http:
        adapter = make_adapter("binance", ws_url=venue.ws_url, rest_url=venue.rest_url)
        instruments = [
            Instrument(
                venue="binance",
                symbol=symbol,
                asset=symbol.removesuffix("USDT"),
                contract_type=ContractType.LINEAR,
                size_unit=SizeUnit.BASE,
            )
            for symbol in script.symbols
        ]
        supervisor = FeedSupervisor(
            adapter,
            instruments,
            None,
            clock=SystemClock(),
            http=http,
            rejects=RejectLog(monotonic=SystemClock().monotonic),
            delays=delays_of(0.02),
        )
        task = asyncio.create_task(supervisor.run(), name="test:binance-many")
        try:
            await eventually(lambda: any(b.synced for b in supervisor.books.values()))
            await asyncio.sleep(1.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
    weight = 20 * sum(hit.startswith("/fapi/v1/depth") for hit in venue.rest_hits)
    assert weight == SNAPSHOT_WEIGHT_PER_MIN  # 85 at once, 15 after a minute (not waited for)


async def synced_book(run: Running, symbol: str) -> OrderBook:
    await eventually(lambda: symbol in run.supervisor.books, what="a book")
    book = run.supervisor.books[symbol]
    await eventually(lambda: book.synced and min(book.levels) > 0, what="book synced")
    return book
