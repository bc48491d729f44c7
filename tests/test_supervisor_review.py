"""The supervisor's gap notices and book lifecycle across outages (review findings).

Binance is driven against its local protocol server with Binance's routing (a frame goes
only to the connection that subscribed to its stream), so a drop of the market route
(marks, liquidations, trades) and of the public route (books) can be told apart while the
REST open-interest poll keeps answering. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import aiohttp
import orjson
import pytest
from fake_venues import binance as fake_binance
from venue_server import FakeVenue, eventually

from monitor.app import load_instruments
from monitor.clock import SystemClock
from monitor.core.events import FeedGap, FeedItem
from monitor.feeds.registry import make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import FeedSupervisor

pytestmark = pytest.mark.asyncio

SYMBOL = "BTCUSDT"
OI_PATH = f"/fapi/v1/openInterest?symbol={SYMBOL}"


class RoutedScript(fake_binance.Script):
    """Binance as it routes: each data frame only to the connection subscribed to it."""

    def wants(self, frame: str, received: list[str]) -> bool:
        stream = orjson.loads(frame)["stream"]
        return any(stream in sent for sent in received)


def delays_of(seconds: float) -> Callable[[], Iterator[float]]:
    return lambda: itertools.repeat(seconds)


@dataclass
class Running:
    venue: FakeVenue
    script: RoutedScript
    supervisor: FeedSupervisor
    queue: asyncio.Queue[FeedItem]
    seen: list[FeedItem]

    def collect(self) -> list[FeedItem]:
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return self.seen


@contextlib.asynccontextmanager
async def binance(reconnect_delay_s: float = 0.02) -> AsyncIterator[Running]:
    script = RoutedScript()
    async with FakeVenue(script, tick_s=0.02) as venue, aiohttp.ClientSession() as http:
        adapter = make_adapter("binance", ws_url=venue.ws_url, rest_url=venue.rest_url)
        instruments = await load_instruments(adapter, http, list(script.symbols))
        queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=100_000)
        supervisor = FeedSupervisor(
            adapter,
            instruments,
            queue,
            clock=SystemClock(),
            http=http,
            rejects=RejectLog(monotonic=SystemClock().monotonic),
            delays=delays_of(reconnect_delay_s),
        )
        supervisor.polls = [(request, 0.05) for request, _ in supervisor.polls]
        task = asyncio.create_task(supervisor.run(), name="test:binance")
        try:
            yield Running(venue, script, supervisor, queue, [])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)


async def test_a_drop_of_the_book_only_connection_reports_no_gap():
    """The public route carries only books: no ledger input is lost, the ledger gets no gap."""
    async with binance() as run:
        stats = run.supervisor.stats
        book = await _synced_book(run)
        await run.venue.close_all(path_contains="/public")
        await eventually(lambda: stats.connects["public-0"] >= 2, what="public reconnect")
        await eventually(lambda: book.synced, what="book rebuilt")
        assert stats.connects["market-0"] == 1
        assert not [item for item in run.collect() if isinstance(item, FeedGap)]

        await run.venue.close_all(path_contains="/market")  # marks, liquidations, trades
        await eventually(lambda: stats.connects["market-0"] >= 2, what="market reconnect")
        gaps = {item.symbol for item in run.collect() if isinstance(item, FeedGap)}
        assert gaps == set(run.script.symbols)


async def _synced_book(run: Running):
    await eventually(lambda: SYMBOL in run.supervisor.books, what="a book")
    book = run.supervisor.books[SYMBOL]
    await eventually(lambda: book.synced and min(book.levels) > 0, what="book synced")
    return book
