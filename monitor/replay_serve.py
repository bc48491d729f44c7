"""`liqmon replay --serve/--mqtt`: a replay that drives /metrics, the HTTP API and MQTT.

So that a replay can drive the Grafana panels and MQTT consumers as a live daemon would,
the synchronous `Replay` runs in a worker thread while the asyncio loop runs the daemon's
HTTP API (`build_app`, `build_registry`, `serve_http`) and its MQTT sink (`MqttSink` with
an on-disk outbox). The two threads share only what is safe to share:

- alerts: `ReplayOptions.on_alert` (worker thread) hands each one to the loop with
  `call_soon_threadsafe`, in order; the loop counts it and puts it in the outbox;
- the risk picture: `replay.engine.snapshot`, an immutable `RiskSnapshot` replaced whole
  after each cycle; scrapes read it, and every `STATE_EVERY_S` the loop publishes the
  retained states of the markets recomputed since the last look (the daemon's rule,
  `publish_states`); at `--speed max` intermediate states are skipped, the latest counts;
- counters (rejects, refused OI): copied whole (`dict(...)` of a dict is atomic).

What differs from the daemon: there are no feed supervisors (no `liqmon_feed_*` series
but `rejected`), no queue (`liqmon_queue_depth` 0), no risk-cycle timing; the outbox lives
in a temporary directory (alerts not delivered when the replay ends are reported and
dropped, never mixed into a daemon's outbox); topics default to `liqmon-replay/`, so a
replay never overwrites a live daemon's retained state. At the end the loop waits (at most
`DRAIN_TIMEOUT_S`) for the outbox to drain, then keeps serving `--linger` seconds so
Prometheus can scrape the last state, then says `offline` and stops. SIGINT or SIGTERM
stops the replay early (the outputs hold what was replayed so far).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from monitor.app import install_stop_signals
from monitor.config import ConfigError, Settings, topic_prefix
from monitor.core.alerts import Alert
from monitor.core.bins import BinGrid
from monitor.daemon import mqtt_status, publish_states, serve_http
from monitor.engine import RiskSnapshot
from monitor.http_api import build_app
from monitor.metrics import FeedSource, SinkStatus, build_registry
from monitor.replay import Replay, ReplayOptions, ReplayResult, replay_main
from monitor.sinks.mqtt import MqttSink
from monitor.sinks.outbox import Outbox
from monitor.sources import Source, TableOptions, open_source

log = logging.getLogger("liqmon.replay")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_TOPIC_PREFIX = "liqmon-replay"
STATE_EVERY_S = 0.25
"""How often retained states follow the replay's latest snapshot."""
DRAIN_TIMEOUT_S = 10.0
"""After the replay, how long to wait for the broker to take the alerts and last states."""
DRAIN_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where to serve and publish while replaying."""

    port: int | None = None  # None: no HTTP API
    host: str = DEFAULT_HOST
    linger_s: float = 0.0  # keep serving this long after the replay ends
    mqtt_url: str | None = None  # None: no MQTT
    topic_prefix: str = DEFAULT_TOPIC_PREFIX


class ReplayServer:
    """One replay in a worker thread; HTTP API and MQTT sink on the loop.

    It is also the metrics collector's source (`monitor.metrics.DaemonSource`).
    """

    def __init__(
        self, settings: Settings, options: ReplayOptions, serve: ServeOptions, outbox_dir: Path
    ) -> None:
        self.settings = dataclasses.replace(
            settings,
            mqtt=dataclasses.replace(
                settings.mqtt,
                enabled=serve.mqtt_url is not None,
                url=serve.mqtt_url or settings.mqtt.url,
                topic_prefix=serve.topic_prefix,
                client_id=f"liqmon-replay-{os.getpid()}",
            ),
        )
        self.serve = serve
        self.outbox_dir = outbox_dir
        self.alert_counts: Counter[str] = Counter()
        self.mqtt: MqttSink | None = None
        self.http_port: int | None = None
        self.started = asyncio.Event()  # HTTP up, sink running (tests wait on it)
        self.done = asyncio.Event()  # replayed and drained; lingering from now on
        self.registry, _ = build_registry(self)
        self._listener = options.on_alert
        self._stop_replay = threading.Event()
        self.replay = Replay(
            self.settings,
            dataclasses.replace(options, on_alert=self._from_worker, stop=self._stop_replay),
        )
        self._empty = RiskSnapshot.empty(BinGrid())
        self._published = self._empty  # the snapshot whose states went to MQTT last
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ metric sources

    def risk_snapshot(self) -> RiskSnapshot:
        """The replay's latest risk snapshot (immutable)."""
        engine = self.replay.engine
        return self._empty if engine is None else engine.snapshot

    def feed_sources(self) -> Iterable[FeedSource]:
        """None: a replay has no feed supervisors."""
        return ()

    def sink_status(self) -> Iterable[SinkStatus]:
        """The MQTT sink, when publishing."""
        return () if self.mqtt is None else (mqtt_status(self.mqtt),)

    def rejected(self) -> Mapping[tuple[str, str], int]:
        """Rejected frames so far, by (venue, reason)."""
        return dict(self.replay.result.rejected)

    def refused(self) -> Mapping[tuple[str, str], int]:
        """Open-interest observations the ledgers refused so far."""
        engine = self.replay.engine
        return {} if engine is None else dict(engine.refused)

    def alerts_sent(self) -> Mapping[str, int]:
        """Alerts raised so far by severity."""
        return self.alert_counts

    def queue_depth(self) -> tuple[int, int]:
        """A replay has no feed queue."""
        return 0, 0

    def venue_crashes(self) -> Mapping[str, int]:
        """A replay has no feed tasks to restart."""
        return {}

    def recording_active(self) -> bool | None:
        """A replay records nothing."""
        return None

    # ------------------------------------------------------------------ running

    async def run(self, sources: Sequence[Source], stop: asyncio.Event) -> ReplayResult:
        """Serve, replay `sources` in a worker thread, drain, linger; until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        outbox: Outbox | None = None
        runner = None
        sink: asyncio.Task[None] | None = None
        try:
            if self.serve.mqtt_url is not None:
                mqtt = self.settings.mqtt
                outbox = Outbox(self.outbox_dir / "outbox-mqtt.sqlite3", mqtt.outbox_max)
                self.mqtt = MqttSink(mqtt, outbox)
                sink = asyncio.create_task(self.mqtt.run(), name="mqtt")
            if self.serve.port is not None:
                app = build_app(
                    self.risk_snapshot,
                    self.registry,
                    low_coverage=self.settings.alerts.low_coverage,
                )
                runner, self.http_port = await serve_http(app, self.serve.host, self.serve.port)
            self.started.set()
            result = await self._replay(sources, stop)
            await self._drain()
            self.done.set()
            if runner is not None and self.serve.linger_s > 0 and not stop.is_set():
                log.info("replay done; serving %g s more (--linger)", self.serve.linger_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.serve.linger_s)
            return result
        finally:
            self._stop_replay.set()  # an error on the loop side ends the worker too
            if sink is not None:
                sink.cancel()  # the sink says `offline` (bounded) before it ends
                with contextlib.suppress(asyncio.CancelledError):
                    await sink
            if runner is not None:
                await runner.cleanup()
            if outbox is not None:
                outbox.close()

    async def _replay(self, sources: Sequence[Source], stop: asyncio.Event) -> ReplayResult:
        worker = asyncio.ensure_future(asyncio.to_thread(self.replay.run, sources))
        states = asyncio.create_task(self._follow_states(), name="replay:states")
        stopping = asyncio.create_task(stop.wait(), name="replay:stop")
        try:
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not worker.done():
                log.info("stopping the replay")
                self._stop_replay.set()
            return await worker
        finally:
            for task in (states, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _from_worker(self, alert: Alert) -> None:
        """ReplayOptions.on_alert: runs in the worker thread; the loop does the rest."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._publish_alert, alert)

    def _publish_alert(self, alert: Alert) -> None:
        self.alert_counts[alert.severity.value] += 1
        if self.mqtt is not None:
            self.mqtt.publish_alert(alert)
        if self._listener is not None:
            self._listener(alert)

    def _publish_states(self) -> None:
        """Queue the retained states of the markets recomputed since the last call."""
        snapshot = self.risk_snapshot()
        if self.mqtt is None or snapshot is self._published:
            return
        publish_states(self.mqtt, self._published, snapshot, self.settings.alerts.low_coverage)
        self._published = snapshot

    async def _follow_states(self) -> None:
        while True:
            self._publish_states()
            await asyncio.sleep(STATE_EVERY_S)

    async def _drain(self) -> None:
        """Wait (bounded) until the broker has the alerts and the last states."""
        mqtt = self.mqtt
        if mqtt is None:
            return
        self._publish_states()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_TIMEOUT_S
        while len(mqtt.outbox) or mqtt.pending_states:
            if loop.time() >= deadline:
                log.warning(
                    "mqtt %s: %d alert(s) and %d state(s) not delivered within %g s after the "
                    "replay; dropped",
                    mqtt.where,
                    len(mqtt.outbox),
                    mqtt.pending_states,
                    DRAIN_TIMEOUT_S,
                )
                return
            await asyncio.sleep(DRAIN_POLL_S)


async def serve_replay(
    settings: Settings,
    sources: Sequence[Source],
    options: ReplayOptions,
    serve: ServeOptions,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
) -> ReplayResult:
    """Run one served replay; the outbox lives in a temporary directory."""
    stop = stop or asyncio.Event()
    if handle_signals:
        install_stop_signals(stop)
    with tempfile.TemporaryDirectory(prefix="liqmon-replay-") as outbox_dir:
        server = ReplayServer(settings, options, serve, Path(outbox_dir))
        return await server.run(sources, stop)


# ---------------------------------------------------------------------- command line


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]") if sep else DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not host or not 0 <= port <= 65535:
        msg = f"--serve takes [HOST:]PORT (PORT 0-65535, 0: any free port), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return host, port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        msg = f"must be a number of seconds >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """`liqmon replay` options to serve the HTTP API and publish to MQTT while replaying."""
    parser.add_argument(
        "--serve",
        type=_host_port,
        metavar="[HOST:]PORT",
        help=f"serve /metrics and the HTTP API while replaying (host default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--linger",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="with --serve: keep serving S seconds after the end (default 0)",
    )
    parser.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish alerts and retained states to this broker, as `liqmon run` does",
    )
    parser.add_argument(
        "--topic-prefix",
        default=DEFAULT_TOPIC_PREFIX,
        type=topic_prefix,
        metavar="PREFIX",
        help=f"with --mqtt: topic prefix (default {DEFAULT_TOPIC_PREFIX}, apart from a daemon's)",
    )


def replay_serve_main(
    settings: Settings,
    files: Sequence[Path],
    options: ReplayOptions,
    tables: TableOptions,
    args: argparse.Namespace,
) -> int:
    """`liqmon replay`: served and published when asked, else the plain replay."""
    if args.serve is None and args.mqtt is None:
        return replay_main(settings, files, options, tables)
    if args.linger and args.serve is None:
        msg = "--linger needs --serve [HOST:]PORT"
        raise ConfigError(msg)
    host, port = args.serve or (DEFAULT_HOST, None)
    serve = ServeOptions(
        port=port,
        host=host,
        linger_s=args.linger,
        mqtt_url=args.mqtt,
        topic_prefix=args.topic_prefix,
    )
    sources = [open_source(path, tables) for path in files]
    try:
        result = asyncio.run(serve_replay(settings, sources, options, serve, handle_signals=True))
    except OSError as exc:  # the port is taken, an output cannot be written
        print(f"liqmon replay: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(result.summary()).decode() + "\n")
    return 0
