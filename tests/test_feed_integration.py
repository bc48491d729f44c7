"""Each venue adapter driven by the real supervisor against a local server of its protocol.

The fake venue (tests/venue_server.py + tests/fake_venues/<venue>.py) answers the
adapter's own subscription frames and keep-alives as the venue documents, serves the
instruments (and Binance's REST book snapshot and OI poll) over real HTTP, and pushes
recorded frames. What the tests observe: events of every kind arrive, books get built,
and a server close, a silent stream or a refused connection lead to a reconnect that
resubscribes exactly as the first connection did. Deadlines are scaled down so each test
takes seconds; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import aiohttp
import pytest
from venue_server import FakeVenue, eventually

from monitor.app import load_instruments
from monitor.clock import SystemClock
from monitor.core.events import FeedGap, FeedItem, MarkPrice, OpenInterest
from monitor.feeds.base import ConnectionPlan
from monitor.feeds.registry import VENUES, make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import FeedSupervisor

pytestmark = pytest.mark.asyncio

STALE_S = 0.5
KEEPALIVE_S = 0.1


def fast_delays() -> Iterator[float]:
    return itertools.repeat(0.02)


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
    supervisor: FeedSupervisor
    queue: asyncio.Queue[FeedItem]
    rejects: RejectLog

    def items(self) -> list[FeedItem]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


@contextlib.asynccontextmanager
async def running(name: str) -> AsyncIterator[Running]:
    script = importlib.import_module(f"fake_venues.{name}").Script()
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
            delays=fast_delays,
            ping_interval_s=5.0,
        )
        supervisor.plans = [speed_up(plan) for plan in supervisor.plans]
        supervisor.polls = [(request, 0.1) for request, _ in supervisor.polls]
        task = asyncio.create_task(supervisor.run(), name=f"test:{name}")
        try:
            yield Running(venue, supervisor, queue, rejects)
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
