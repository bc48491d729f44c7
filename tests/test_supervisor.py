"""The connection supervisor against a real local WebSocket server.

A small "toy" venue (its adapter and its server script live here) exercises the generic
machinery: subscribe, keep-alive, staleness per stream, reconnect and resubscribe, backoff
reset, planned lifetime, book resync, rejects and gap notices. Each venue's own protocol is
tested the same way in test_feed_integration.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import aiohttp
import orjson
import pytest
from venue_server import FakeVenue, eventually

from monitor.clock import SystemClock
from monitor.core.events import BookSnapshot, BookUpdate, FeedGap, FeedItem, MarkPrice
from monitor.core.venues import ContractType
from monitor.feeds import wire
from monitor.feeds.base import (
    ConnectionPlan,
    FeedDecodeError,
    Instrument,
    Keepalive,
    Parsed,
    RestRequest,
    SizeUnit,
    Stream,
)
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import FeedSupervisor

pytestmark = pytest.mark.asyncio

TOY = "toy"
NOW_MS = time.time_ns() // 1_000_000  # the sanity layer rejects far-off timestamps


class ToyAdapter:
    venue = TOY

    def __init__(self, ws_url: str, *, lifetime_s: float | None = None, stale_s: float = 0.3):
        self.ws_url = ws_url
        self.lifetime_s = lifetime_s
        self.stale_s = stale_s

    def instruments_request(self) -> RestRequest | None:
        return None

    def parse_instruments(self, payload: Any) -> list[Instrument]:
        return []

    def plan(self, instruments: Sequence[Instrument]) -> list[ConnectionPlan]:
        symbols = [i.symbol for i in instruments]
        return [
            ConnectionPlan(
                name="main",
                url=self.ws_url + "/ws",
                subscribe=tuple(orjson.dumps({"sub": s}).decode() for s in symbols),
                streams=tuple(Stream(f"mark:{s}", self.stale_s) for s in symbols)
                + tuple(Stream(f"liq:{s}", None) for s in symbols),
                keepalive=Keepalive('{"op":"ping"}', 0.05),
                max_lifetime_s=self.lifetime_s,
            )
        ]

    def parse(self, conn: str, raw: str | bytes, recv_ns: int) -> Parsed:
        message = wire.obj(TOY, wire.loads(TOY, raw), "frame")
        channel = message.get("ch")
        if channel is None:
            return Parsed()
        symbol = wire.text(TOY, message, "s")
        ts = wire.timestamp(TOY, message, "t")
        if channel == "mark":
            event = wire.build(
                TOY,
                MarkPrice,
                venue=TOY,
                symbol=symbol,
                ts_event_ns=ts,
                ts_recv_ns=recv_ns,
                mark_price=wire.price(TOY, message, "p"),
            )
            return Parsed(events=(event,), streams=(f"mark:{symbol}",))
        if channel == "book":
            instrument = INSTRUMENT
            bids = wire.levels(TOY, message.get("b"), "b", instrument)
            asks = wire.levels(TOY, message.get("a"), "a", instrument)
            header = {"venue": TOY, "symbol": symbol, "ts_event_ns": ts, "ts_recv_ns": recv_ns}
            if message.get("snap"):
                snap = wire.build(
                    TOY, BookSnapshot, **header, bids=bids, asks=asks, sequence=message["seq"]
                )
                return Parsed(events=(snap,))
            update = wire.build(
                TOY,
                BookUpdate,
                **header,
                bids=bids,
                asks=asks,
                sequence=message["seq"],
                prev_sequence=message["prev"],
            )
            return Parsed(events=(update,))
        raise FeedDecodeError(TOY, "unknown_message", str(channel))

    def resubscribe(self, conn: str, symbol: str) -> tuple[str, ...]:
        return (orjson.dumps({"resub": symbol}).decode(),)

    def book_snapshot_request(self, symbol: str) -> RestRequest | None:
        return None

    def parse_book_snapshot(self, symbol: str, payload: Any, recv_ns: int) -> Parsed:
        return Parsed()

    def poll_requests(self, instruments: Sequence[Instrument]) -> list[tuple[RestRequest, float]]:
        return []

    def parse_poll(self, payload: Any, recv_ns: int) -> Parsed:
        return Parsed()


INSTRUMENT = Instrument(
    venue=TOY,
    symbol="TOYUSD",
    asset="TOY",
    contract_type=ContractType.LINEAR,
    size_unit=SizeUnit.BASE,
)


class ToyScript:
    venue = TOY
    greeting: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ("TOYUSD",)
    rest: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.book_gap_at: int | None = None

    def replies(self, frame: str) -> list[str]:
        message = orjson.loads(frame)
        if "sub" in message:
            return [orjson.dumps({"ack": message["sub"]}).decode()]
        if "resub" in message:
            return [orjson.dumps({"ack": message["resub"]}).decode()]
        if message.get("op") == "ping":
            return ['{"op":"pong"}']
        return []

    def data(self, symbol: str, step: int) -> list[str]:
        frames = [{"ch": "mark", "s": symbol, "p": str(100 + step % 5), "t": NOW_MS + step}]
        if step == 0:
            frames.append(
                {
                    "ch": "book",
                    "s": symbol,
                    "snap": True,
                    "seq": 0,
                    "t": NOW_MS,
                    "b": [["99", "1"]],
                    "a": [["101", "1"]],
                }
            )
        else:
            prev = step - 1 if step != self.book_gap_at else step - 3
            frames.append(
                {
                    "ch": "book",
                    "s": symbol,
                    "seq": step,
                    "prev": prev,
                    "t": NOW_MS,
                    "b": [[str(99 - step % 3 * 0.5), "2"]],
                    "a": [],
                }
            )
        return [orjson.dumps(f).decode() for f in frames]


def fast_delays() -> Iterator[float]:
    return itertools.repeat(0.01)


class Harness:
    def __init__(
        self, venue: FakeVenue, adapter: ToyAdapter, queue_size: int = 10_000, delays=fast_delays
    ) -> None:
        self.venue = venue
        self.delays = delays
        self.queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=queue_size)
        self.rejects = RejectLog(monotonic=SystemClock().monotonic)
        self.adapter = adapter
        self.supervisor: FeedSupervisor | None = None
        self.task: asyncio.Task[None] | None = None
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Harness:
        self.session = aiohttp.ClientSession()
        self.supervisor = FeedSupervisor(
            self.adapter,
            [INSTRUMENT],
            self.queue,
            clock=SystemClock(),
            http=self.session,
            rejects=self.rejects,
            delays=self.delays,
            ping_interval_s=1.0,
        )
        self.task = asyncio.create_task(self.supervisor.run(), name="supervisor")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        assert self.session is not None
        self.task.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 5)
        finally:
            await self.session.close()

    def drain(self) -> list[FeedItem]:
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items

    @property
    def stats(self):
        assert self.supervisor is not None
        return self.supervisor.stats


async def test_subscribes_streams_and_answers_with_keepalives():
    async with FakeVenue(ToyScript()) as venue, Harness(venue, ToyAdapter(venue.ws_url)) as h:
        await eventually(lambda: h.queue.qsize() >= 5, what="mark prices")
        marks = [e for e in h.drain() if isinstance(e, MarkPrice)]
        assert marks
        assert marks[0].symbol == "TOYUSD"
        first = venue.connections[0]
        assert first.path == "/ws"
        assert first.received[0] == '{"sub":"TOYUSD"}'
        await eventually(lambda: '{"op":"ping"}' in first.received, what="keep-alive ping")
        assert h.supervisor is not None
        book = h.supervisor.books["TOYUSD"]
        await eventually(lambda: book.sequence is not None and book.sequence > 3, what="book")


async def test_server_close_reconnects_resubscribes_and_reports_a_gap():
    async with FakeVenue(ToyScript()) as venue, Harness(venue, ToyAdapter(venue.ws_url)) as h:
        await eventually(lambda: h.queue.qsize() >= 3)
        await venue.close_all()
        await eventually(lambda: len(venue.connections) >= 2, what="reconnect")
        await eventually(lambda: '{"sub":"TOYUSD"}' in venue.connections[1].received)
        await eventually(lambda: h.stats.reconnects.total() >= 1, what="disconnect noticed")
        await eventually(lambda: h.queue.qsize() > 0)
        gaps = [e for e in h.drain() if isinstance(e, FeedGap)]
        assert gaps[0].symbol == "TOYUSD"
        assert gaps[0].reason in {"closed_by_venue", "connection_lost"}
        assert h.stats.reconnects[gaps[0].reason] >= 1


async def test_acknowledged_but_silent_stream_is_stale_and_reconnected():
    async with FakeVenue(ToyScript()) as venue, Harness(venue, ToyAdapter(venue.ws_url)) as h:
        await eventually(lambda: h.queue.qsize() >= 3)
        venue.silent = True  # still acks and answers pings: only the data stops
        await eventually(lambda: h.stats.reconnects["stale"] >= 1, timeout_s=5, what="stale")
        await eventually(lambda: len(venue.connections) >= 2, what="reconnect after stale")
        venue.silent = False
        before = h.stats.messages["main"]
        await eventually(lambda: h.stats.messages["main"] > before + 5, what="data again")


async def test_backoff_resets_only_after_the_first_good_frame():
    delays_seen: list[float] = []

    def counting_delays() -> Iterator[float]:
        for attempt in itertools.count():
            delays_seen.append(attempt)
            yield 0.01

    async with FakeVenue(ToyScript()) as venue:
        venue.refuse = True
        async with Harness(venue, ToyAdapter(venue.ws_url), delays=counting_delays) as h:
            await eventually(lambda: len(venue.connections) >= 4, what="retries")
            # refused connections never deliver a frame: attempts keep counting up
            assert max(delays_seen) >= 2
            venue.refuse = False
            await eventually(lambda: h.stats.events["MarkPrice"] >= 3, what="data after recovery")
            delays_seen.clear()
            await venue.close_all()
            await eventually(lambda: bool(delays_seen), what="next delay")
            assert delays_seen[0] == 0  # a fresh generator: the good frame reset it


async def test_planned_lifetime_reconnects_without_waiting():
    async with FakeVenue(ToyScript()) as venue:
        adapter = ToyAdapter(venue.ws_url, lifetime_s=0.3)
        async with Harness(venue, adapter) as h:
            await eventually(lambda: h.stats.reconnects["planned"] >= 2, timeout_s=5)
            await eventually(lambda: h.stats.connects["main"] >= 3, what="third connection")


async def test_book_gap_triggers_a_resubscription_and_a_rebuilt_book():
    script = ToyScript()
    script.book_gap_at = 4
    async with FakeVenue(script) as venue, Harness(venue, ToyAdapter(venue.ws_url)) as h:
        await eventually(lambda: h.stats.book_resyncs["TOYUSD"] >= 1, what="resync")
        await eventually(
            lambda: any('"resub"' in f for f in venue.connections[0].received), what="resub"
        )
        assert h.rejects.counts[(TOY, "sequence_gap")] >= 1


async def test_malformed_frames_are_counted_and_the_connection_survives():
    async with FakeVenue(ToyScript()) as venue, Harness(venue, ToyAdapter(venue.ws_url)) as h:
        await eventually(lambda: h.queue.qsize() >= 2)
        await venue.flood(
            [
                '{"ch":"mark","s":"TOYUSD","p":"NaN","t":' + str(NOW_MS) + "}",
                "not json",
                '{"ch":"weird","s":"TOYUSD","t":' + str(NOW_MS) + "}",
                '{"ch":"mark","s":"TOYUSD","p":"1e9","t":' + str(NOW_MS) + "}",
            ]
        )
        await eventually(lambda: h.rejects.counts[(TOY, "malformed")] >= 1)
        assert h.rejects.counts[(TOY, "non_finite")] == 1
        assert h.rejects.counts[(TOY, "unknown_message")] == 1
        assert h.rejects.counts[(TOY, "price_jump")] == 1
        assert len(venue.connections) == 1


async def test_a_frame_flood_is_absorbed_through_a_bounded_queue():
    async with FakeVenue(ToyScript(), tick_s=10) as venue:
        adapter = ToyAdapter(venue.ws_url, stale_s=30)
        async with Harness(venue, adapter, queue_size=100) as h:
            await eventually(lambda: len(venue.connections) == 1 and venue._live)
            await eventually(lambda: bool(venue.connections[0].received))
            frames = [
                orjson.dumps({"ch": "mark", "s": "TOYUSD", "p": "100", "t": NOW_MS + i}).decode()
                for i in range(5_000)
            ]
            flood = asyncio.create_task(venue.flood(frames))
            received = 0
            async with asyncio.timeout(20):
                while received < 5_000:
                    await h.queue.get()
                    received += 1
            await flood
            assert h.queue.maxsize == 100
            assert len(venue.connections) == 1
