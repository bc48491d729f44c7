"""Composition root: build feeds from settings, run them, stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

import aiohttp
import orjson

from monitor.backoff import full_jitter
from monitor.clock import SystemClock
from monitor.config import Settings, check_symbols
from monitor.core.events import FeedItem
from monitor.feeds.base import FeedError, Instrument, VenueAdapter
from monitor.feeds.registry import make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.rest import fetch_json
from monitor.feeds.supervisor import FeedSupervisor, RawSink
from monitor.record import Recorder

log = logging.getLogger("liqmon")

STARTUP_ATTEMPTS = 5


async def load_instruments(
    adapter: VenueAdapter,
    http: aiohttp.ClientSession,
    wanted: Sequence[str],
    raw_sink: RawSink | None = None,
) -> list[Instrument]:
    """Fetch the venue's perpetuals (retrying a few times) and keep the configured ones.

    An unknown symbol is a configuration error, reported with the closest listed names.
    """
    request = adapter.instruments_request()
    payload = None
    if request is not None:
        delays = full_jitter(initial=0.5, cap=5.0)
        for attempt in range(STARTUP_ATTEMPTS):
            try:
                payload = await fetch_json(http, adapter.venue, request)
                break
            except FeedError as exc:
                if attempt == STARTUP_ATTEMPTS - 1:
                    raise
                log.warning("%s instruments: %s; retrying", adapter.venue, exc)
                await asyncio.sleep(next(delays))
        if raw_sink is not None:
            raw = orjson.dumps(payload).decode()
            raw_sink(SystemClock().time_ns(), adapter.venue, "instruments", raw)
    listed = adapter.parse_instruments(payload)
    check_symbols(adapter.venue, wanted, [i.symbol for i in listed])
    by_symbol = {i.symbol: i for i in listed}
    return [by_symbol[symbol] for symbol in wanted]


async def build_supervisors(
    settings: Settings,
    http: aiohttp.ClientSession,
    out: asyncio.Queue[FeedItem] | None,
    rejects: RejectLog,
    raw_sink: RawSink | None = None,
) -> list[FeedSupervisor]:
    """One supervisor per enabled venue, with instruments fetched and symbols checked."""
    clock = SystemClock()
    supervisors = []
    for venue, venue_settings in settings.enabled_venues().items():
        adapter = make_adapter(venue, venue_settings.ws_url, venue_settings.rest_url)
        instruments = await load_instruments(adapter, http, venue_settings.symbols, raw_sink)
        supervisors.append(
            FeedSupervisor(
                adapter,
                instruments,
                out,
                clock=clock,
                http=http,
                rejects=rejects,
                raw_sink=raw_sink,
                ping_interval_s=settings.feeds.ping_interval_s,
            )
        )
    return supervisors


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM request a graceful stop instead of raising in random places."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def record(settings: Settings, path: str, rotate_mb: float, duration_s: float | None) -> int:
    """Record every enabled venue's raw frames until a signal or `duration_s`."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    recorder = Recorder(path, rotate_bytes=int(rotate_mb * 1024 * 1024), on_error=stop.set)
    rejects = RejectLog(monotonic=SystemClock().monotonic)
    try:
        async with aiohttp.ClientSession() as http:
            supervisors = await build_supervisors(settings, http, None, rejects, recorder.write)
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(s.run(), name=f"venue:{s.venue}") for s in supervisors]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), duration_s)
                for task in tasks:
                    task.cancel()
    finally:
        recorder.close()
    log.info("recorded %d frames into %s", recorder.frames, ", ".join(map(str, recorder.files)))
    return 0 if recorder.error is None else 1  # a write error stopped the recording early
