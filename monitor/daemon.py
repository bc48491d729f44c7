"""`liqmon run`: feeds → bounded queue → single-writer engine → risk cycles → sinks.

Task layout (one TaskGroup, every task named):

- `venue:<name>`: loads the venue's instruments and runs its `FeedSupervisor`. A bug that
  escapes a supervisor restarts that venue after a backoff (counted in
  `liqmon_feed_crashes_total`, and a `FeedGap` per instrument as for a disconnect); the
  other venues keep running. An unknown symbol is a configuration error and stops the
  daemon at start-up.
- `engine`: the only task that touches ledgers; drains the feed queue in batches.
- `risk`: a full cycle every `risk.interval_s`; in between, a re-check of the markets
  whose mark moved more than `risk.recheck_move_pct` (at most one per 100 ms), both by
  the engine's `RiskSchedule`, the rule the replay follows too. The full cycle runs in
  steps of whole assets of about `CYCLE_STEP_S` each with a pause of `CYCLE_PAUSE_S`
  after each, so feeds, HTTP and a due re-check run in between instead of waiting for
  all of it.
- `state`: writes the ledger snapshot every `state.snapshot_interval_s` (off the loop).
- `mqtt`, `webhook`: deliver alerts from their on-disk outboxes.
- the HTTP API (aiohttp runner, not a task of ours).

Shutdown (SIGINT/SIGTERM): feeds stop first, the queue is drained into the engine, the
ledgers are saved, the sinks publish their last state and `offline`, the HTTP server closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

from monitor.app import install_stop_signals, load_instruments
from monitor.backoff import full_jitter
from monitor.clock import Clock, SystemClock
from monitor.config import ConfigError, Settings, VenueSettings
from monitor.core.alerts import Alert, Severity
from monitor.core.events import FeedGap, FeedItem
from monitor.core.ledger import LedgerState
from monitor.core.venues import VenueParams
from monitor.engine import SIDES, Engine, FullCycle, RiskSchedule, RiskSnapshot, params_for
from monitor.feeds.base import Instrument
from monitor.feeds.book import DepthView, synced_view
from monitor.feeds.registry import make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import FeedSupervisor, RawSink
from monitor.http_api import build_app
from monitor.metrics import FeedSource, SinkStatus, build_registry
from monitor.persist import load_ledgers, save_ledgers
from monitor.record import Recorder
from monitor.sinks.mqtt import MqttSink
from monitor.sinks.outbox import Outbox
from monitor.sinks.payload import market_document
from monitor.sinks.webhook import WebhookSink

log = logging.getLogger("liqmon")

ENGINE_BATCH = 1_000
"""Events the engine takes per wake-up before yielding to the loop."""
SHUTDOWN_STEP_S = 3.0
"""Each shutdown step (drain, save, sinks) gets at most this long: 10 s in all."""
CYCLE_STEP_S = 0.010
"""Time budget of one step of a full risk cycle; its assets are sized from the last step.

An asset is never split: one asset over many venues may take longer.
"""
CYCLE_PAUSE_S = 0.005
"""The loop's own time after each step of a full cycle (and after a re-check during one).

Not `asyncio.sleep(0)`: a frame goes through several tasks (socket, reader, engine task,
re-check, MQTT sink), one hop per loop pass, and with a bare yield each hop waited for a
whole step (bench_daemon, 200 symbols, steps of 25 ms: `critical` p99 340-380 ms). A
pause lets such a chain finish; it stretches a cycle's wall time by half, not its CPU.
"""


class Daemon:
    """The running daemon; also the metrics collector's and the HTTP API's data source."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        alert_listeners: Sequence[Callable[[Alert], None]] = (),
        raw_sink: RawSink | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.settings = settings
        self.recorder = recorder  # `--record`: its frames and REST answers (replayable)
        self.raw_sink = raw_sink or (None if recorder is None else recorder.write)
        self.alert_listeners = tuple(alert_listeners)  # e.g. `liqmon demo` prints alerts
        self.clock = clock or SystemClock()
        self.queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=settings.feeds.queue_size)
        self.rejects = RejectLog(monotonic=self.clock.monotonic)
        self.engine = Engine(settings.risk, settings.alerts, started_ns=self.clock.time_ns())
        self.supervisors: dict[str, FeedSupervisor] = {}
        self.crashes: Counter[str] = Counter()
        self.alert_counts: Counter[str] = Counter()
        self.state_dir = Path(settings.state.dir)
        self.mqtt: MqttSink | None = None
        self.webhook: WebhookSink | None = None
        self.registry, self.cycle_seconds = build_registry(self)
        self.http_port: int | None = None
        self.started = asyncio.Event()  # HTTP up, tasks running (tests wait on it)
        self.cycle_step_s = CYCLE_STEP_S
        self.cycle_pause_s = CYCLE_PAUSE_S
        self._recheck = asyncio.Event()
        self._asset_s = 0.0  # measured cost of one asset in the last step of a full cycle

    # ------------------------------------------------------------------ metric sources

    def risk_snapshot(self) -> RiskSnapshot:
        """The latest risk snapshot (immutable)."""
        return self.engine.snapshot

    def feed_sources(self) -> Iterable[FeedSource]:
        """Running venue supervisors."""
        return list(self.supervisors.values())

    def sink_status(self) -> Iterable[SinkStatus]:
        """Configured alert sinks."""
        status = []
        if self.mqtt is not None:
            status.append(mqtt_status(self.mqtt))
        if self.webhook is not None:
            outbox = self.webhook.outbox
            status.append(
                SinkStatus(
                    "webhook",
                    self.webhook.healthy,
                    len(outbox),
                    outbox.dropped,
                    {"alert": self.webhook.delivered},
                    self.webhook.rejected,
                )
            )
        return status

    def rejected(self) -> Mapping[tuple[str, str], int]:
        """Rejected frames by (venue, reason)."""
        return self.rejects.counts

    def refused(self) -> Mapping[tuple[str, str], int]:
        """Open-interest observations the ledger refused."""
        return self.engine.refused

    def alerts_sent(self) -> Mapping[str, int]:
        """Alerts raised by severity."""
        return self.alert_counts

    def queue_depth(self) -> tuple[int, int]:
        """Items in the feed queue and its capacity."""
        return self.queue.qsize(), self.queue.maxsize

    def venue_crashes(self) -> Mapping[str, int]:
        """Venue feed restarts after an unexpected error."""
        return self.crashes

    def recording_active(self) -> bool | None:
        """Whether `--record` still writes; None when the daemon does not record."""
        return None if self.recorder is None else self.recorder.error is None

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        outboxes = self._open_sinks()
        runner = await self._start_http()
        try:
            async with aiohttp.ClientSession() as http:
                if self.webhook is None and self.settings.webhook.url:
                    self.webhook = WebhookSink(self.settings.webhook, outboxes["webhook"], http)
                await self._run_tasks(stop, http)
        finally:
            await runner.cleanup()
            for outbox in outboxes.values():
                outbox.close()

    async def _run_tasks(self, stop: asyncio.Event, http: aiohttp.ClientSession) -> None:
        async with asyncio.TaskGroup() as tg:
            feeds = [
                tg.create_task(self._venue(name, venue, http), name=f"venue:{name}")
                for name, venue in self.settings.enabled_venues().items()
            ]
            engine = tg.create_task(self._consume(), name="engine")
            risk = tg.create_task(self._risk_loop(), name="risk")
            state = tg.create_task(self._state_loop(), name="state")
            sinks = [
                tg.create_task(sink.run(), name=name)
                for name, sink in (("mqtt", self.mqtt), ("webhook", self.webhook))
                if sink is not None
            ]
            self.started.set()
            await stop.wait()
            log.info("stopping")
            await _cancel(feeds)
            await self._drain(engine)
            await _cancel([risk, state])
            await asyncio.wait_for(self._save(), SHUTDOWN_STEP_S)
            await _cancel(sinks)

    async def _drain(self, engine: asyncio.Task[None]) -> None:
        """Stop the engine task, then fold in what the stopped feeds had queued."""
        engine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await engine
        while not self.queue.empty():
            self.engine.ingest(self.queue.get_nowait())

    async def _start_http(self) -> web.AppRunner:
        app = build_app(
            self.risk_snapshot,
            self.registry,
            low_coverage=self.settings.alerts.low_coverage,
            waiting=lambda: set(self.settings.enabled_venues()) - set(self.supervisors),
        )
        runner, self.http_port = await serve_http(
            app, self.settings.http.host, self.settings.http.port
        )
        return runner

    def _open_sinks(self) -> dict[str, Outbox]:
        outboxes: dict[str, Outbox] = {}
        mqtt = self.settings.mqtt
        if mqtt.enabled:
            outboxes["mqtt"] = Outbox(self.state_dir / "outbox-mqtt.sqlite3", mqtt.outbox_max)
            shard = self.settings.shard
            instance = f"shard-{shard.index}" if shard.count > 1 else ""
            self.mqtt = MqttSink(mqtt, outboxes["mqtt"], instance=instance)
        webhook = self.settings.webhook
        if webhook.url:
            path = self.state_dir / "outbox-webhook.sqlite3"
            outboxes["webhook"] = Outbox(path, webhook.outbox_max)
        return outboxes

    # ------------------------------------------------------------------ feeds

    async def _venue(self, name: str, venue: VenueSettings, http: aiohttp.ClientSession) -> None:
        """Run one venue forever; an unexpected error restarts it after a backoff."""
        delays = full_jitter(initial=1.0, cap=60.0)
        while True:
            try:
                adapter = make_adapter(name, venue.ws_url, venue.rest_url)
                instruments = await load_instruments(adapter, http, venue.symbols, self.raw_sink)
                supervisor = FeedSupervisor(
                    adapter,
                    instruments,
                    self.queue,
                    clock=self.clock,
                    http=http,
                    rejects=self.rejects,
                    raw_sink=self.raw_sink,
                    ping_interval_s=self.settings.feeds.ping_interval_s,
                )
                if not any(venue_name == name for venue_name, _ in self.engine.markets):
                    self._restore(name, instruments)
                self.engine.register(instruments)
                self.supervisors[name] = supervisor
                await supervisor.run()
            except ConfigError:
                raise
            except Exception:
                self.crashes[name] += 1
                delay = next(delays)
                log.exception("venue %s failed; restarting it in %.1fs", name, delay)
                await self._report_crash_gap(name)
                await asyncio.sleep(delay)

    async def _report_crash_gap(self, name: str) -> None:
        """A `FeedGap` for every instrument of a crashed venue.

        Its supervisor's tasks were cancelled, not disconnected, so they reported no gap;
        without one the ledger would book an OI change across the restart as new positions.
        """
        supervisor = self.supervisors.get(name)
        if supervisor is None:
            return  # it crashed before it ran: there was no feed to lose
        now = self.clock.time_ns()
        for instrument in supervisor.instruments:
            gap = FeedGap(
                venue=supervisor.venue,
                symbol=instrument.symbol,
                ts_event_ns=now,
                ts_recv_ns=now,
                reason="crash",
            )
            await self.queue.put(gap)

    async def _consume(self) -> None:
        engine, queue = self.engine, self.queue
        while True:
            engine.ingest(await queue.get())
            for _ in range(ENGINE_BATCH):
                try:
                    engine.ingest(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            if engine.recheck_wanted:
                self._recheck.set()

    # ------------------------------------------------------------------ risk

    async def _risk_loop(self) -> None:
        """Full cycles in steps on the schedule's cadence, re-checks between the steps.

        While a full cycle runs, every step or re-check is followed by a pause of
        `cycle_pause_s`: the readers read, the engine task folds in what they queued, and
        a re-check it asks for runs before the next step.
        """
        schedule = RiskSchedule.start(self.settings.risk, time.monotonic_ns())
        run: FullCycle | None = None
        spent_s = 0.0  # time the current full cycle's steps took
        while True:
            if run is None:
                wait_s = max(0.0, (schedule.due() - time.monotonic_ns()) / 1e9)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._recheck.wait(), wait_s)
            else:
                await asyncio.sleep(self.cycle_pause_s)
            now = time.monotonic_ns()
            if self._recheck.is_set():
                self._recheck.clear()
                schedule.recheck(now)
            if schedule.recheck_due(now):
                if not self.engine.recheck_wanted:
                    schedule.drop_recheck()  # a step computed the moved markets meanwhile
                else:
                    self.run_cycle(moved_only=True)
                    schedule.ran(now, full=False)
                    continue
            if run is None and schedule.full_due(now):
                schedule.full_started(now)
                run, spent_s = self.engine.full_cycle(), 0.0
            if run is not None:
                spent_s += self.run_cycle_step(run)
                if run.done:
                    self.cycle_seconds.observe(spent_s)
                    run = None

    def book_view(self, market: tuple[str, str]) -> DepthView | None:
        """A market's synced book as sorted arrays (None while it has none or resyncs)."""
        supervisor = self.supervisors.get(market[0])
        return None if supervisor is None else synced_view(supervisor.books, market[1])

    def run_cycle(self, *, moved_only: bool = False) -> list[Alert]:
        """One whole risk cycle (or re-check of moved markets): compute, publish, time it."""
        started = time.perf_counter()
        previous = self.engine.snapshot
        snapshot, alerts = self.engine.cycle(
            self.clock.time_ns(), self.book_view, moved_only=moved_only
        )
        self._publish(previous, snapshot, alerts)
        self.cycle_seconds.observe(time.perf_counter() - started)
        return alerts

    def run_cycle_step(self, run: FullCycle) -> float:
        """One step of a full cycle, sized to `cycle_step_s`: compute, publish; its seconds.

        As many assets as the last step's cost per asset says fit the budget (one at
        least, and one at the first step of the daemon's first cycle).
        """
        started = time.perf_counter()
        assets = 1
        if self._asset_s > 0.0:
            assets = max(1, int(self.cycle_step_s / self._asset_s))
        assets = min(assets, len(run.assets))
        previous = self.engine.snapshot
        snapshot, alerts = self.engine.cycle_step(
            run, self.clock.time_ns(), self.book_view, assets=assets
        )
        self._publish(previous, snapshot, alerts)
        elapsed = time.perf_counter() - started
        if assets:
            self._asset_s = elapsed / assets
        return elapsed

    def _publish(self, previous: RiskSnapshot, snapshot: RiskSnapshot, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._publish_alert(alert)
        if self.mqtt is not None:
            publish_states(self.mqtt, previous, snapshot, self.settings.alerts.low_coverage)

    def _publish_alert(self, alert: Alert) -> None:
        self.alert_counts[alert.severity.value] += 1
        quiet = alert.severity in (Severity.RESOLVED, Severity.DATA_RESTORED)
        log.log(logging.INFO if quiet else logging.WARNING, "alert %s: %s", alert.id, alert.message)
        for sink in (self.mqtt, self.webhook):
            if sink is not None:
                sink.publish_alert(alert)
        for listener in self.alert_listeners:
            listener(alert)

    # ------------------------------------------------------------------ state

    def snapshot_path(self, venue: str) -> Path:
        """Where a venue's ledgers are saved.

        One file per venue: a damaged file or a changed venue config never costs the
        other venues their warm state.
        """
        return self.state_dir / f"ledgers-{venue}.snapshot"

    def _restore(self, venue: str, instruments: Iterable[Instrument]) -> None:
        assets = {i.symbol: i.asset for i in instruments}

        def params(venue: str, symbol: str) -> VenueParams:
            return params_for(venue, assets[symbol])  # KeyError: symbol no longer followed

        path = self.snapshot_path(venue)
        restored = load_ledgers(path, params, self.clock.time_ns(), self.settings.state.max_age_s)
        self.engine.restore(restored.ledgers)  # load_ledgers logged what it found

    async def _save(self) -> None:
        """Write every venue's ledgers (copied on the loop, written off it); errors logged."""
        by_venue: dict[str, dict[tuple[str, str], LedgerState]] = defaultdict(dict)
        for key, ledger in self.engine.ledgers().items():
            by_venue[key[0]][key] = ledger.to_state()
        now = self.clock.time_ns()
        for venue, states in by_venue.items():
            path = self.snapshot_path(venue)
            try:
                await asyncio.to_thread(save_ledgers, path, states, now)
            except (OSError, ValueError) as exc:
                log.error("cannot save the ledger snapshot to %s: %s", path, exc)

    async def _state_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.state.snapshot_interval_s)
            await self._save()


def mqtt_status(mqtt: MqttSink) -> SinkStatus:
    """The MQTT sink's figures for the metrics collector."""
    outbox = mqtt.outbox
    return SinkStatus("mqtt", mqtt.connected, len(outbox), outbox.dropped, mqtt.published)


def publish_states(
    mqtt: MqttSink, previous: RiskSnapshot, snapshot: RiskSnapshot, low_coverage: float
) -> None:
    """Queue the retained state of every market `snapshot` recomputed since `previous`."""
    for (venue, symbol), market in snapshot.markets.items():
        if previous.markets.get((venue, symbol)) is market:
            continue  # not recomputed since: its state is already out
        levels = {s: snapshot.alert_levels.get((venue, symbol, s), "none") for s in SIDES}
        document = market_document(market, snapshot.ts_ns, levels, low_coverage)
        mqtt.publish_state(venue, symbol, document)


async def serve_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start the HTTP API; the runner (to clean up) and the bound port (`port` 0: any)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    sockets = getattr(server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    log.info("HTTP API on http://%s:%s", host, bound)
    return runner, bound


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and give them one shutdown step to finish."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=SHUTDOWN_STEP_S)


async def run(settings: Settings, record_path: str | None = None) -> int:
    """`liqmon run`: until SIGINT/SIGTERM; with `record_path`, also record every frame."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    rotate = int(settings.record.rotate_mb * 1024 * 1024)
    recorder = None if record_path is None else Recorder(record_path, rotate_bytes=rotate)
    try:
        await Daemon(settings, recorder=recorder).run(stop)
    finally:
        if recorder is not None:
            recorder.close()
    return 0
