"""`liqmon demo`: the real daemon against a SIMULATED market, offline, in about a minute.

Not real data. A local venue on 127.0.0.1 speaks the Hyperliquid protocol and plays a
scripted BTC market (monitor/sim/cascade.py): open interest builds up at 70,000, then
price falls into the planted long liquidations and recovers. The daemon that `liqmon run`
starts (same feeds, engine, risk cycles, alert rules, HTTP API and MQTT sink) follows it
with only hyperliquid/BTC enabled, keeps its state in a temporary directory (never the
user's ./state), and the demo prints each alert as it fires. At the end it prints a
summary and exits 0.

- HTTP API on 127.0.0.1:9464 by default (`--port`, 0 for any free port).
- MQTT: the broker (`--mqtt`, default mqtt://127.0.0.1:1883) is probed once at start; when
  nothing answers, the demo runs without MQTT rather than queueing alerts for nobody.
  Topics live under `liqmon-demo/` (`--topic-prefix`), so the simulated retained state
  and status never overwrite those of a real daemon on the same broker.
- Pace: the scripted story takes about 75 s; `--speed` divides that (tests use ~10),
  `--duration` caps the whole run, Ctrl-C (SIGINT) or SIGTERM stops it cleanly.
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
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from monitor.app import install_stop_signals
from monitor.config import DEFAULT_SYMBOLS, ConfigError, Settings, load_settings, topic_prefix
from monitor.core.alerts import Alert, Severity
from monitor.daemon import Daemon
from monitor.logsetup import setup_logging
from monitor.sim import cascade
from monitor.sim.venue_server import FakeVenue
from monitor.sinks.mqtt import parse_broker_url

DEFAULT_PORT = 9464
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_TOPIC_PREFIX = "liqmon-demo"
VENUE = "hyperliquid"
SYMBOL = "BTC"
STORY_S = 75.0
"""How long the scripted story takes at speed 1."""
TICKS_PER_POINT = 4
MIN_TICK_S = 0.005
TRADE_EVERY = 10
"""A trade every this many ticks keeps the trade stream fresh on slow runs."""
PROBE_TIMEOUT_S = 1.0
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
LABEL = "SIMULATED market, not real data"
SEVERITY_ORDER = tuple(Severity)


@dataclass(frozen=True, slots=True)
class Pace:
    """Timings of one demo run, derived from `--speed`."""

    tick_s: float  # between data ticks of the simulated venue
    story_s: float  # the whole scripted path
    risk_interval_s: float
    resolve_hold_s: float
    hold_s: float  # the last state is shown this long after the story ends

    @classmethod
    def of(cls, speed: float) -> Pace:
        """Timings for `speed` (1 = about 75 s of story)."""
        ticks = len(cascade.cascade_path()) * TICKS_PER_POINT
        tick_s = max(MIN_TICK_S, STORY_S / ticks / speed)
        return cls(
            tick_s=tick_s,
            story_s=tick_s * ticks,
            risk_interval_s=min(1.0, max(0.1, 1.0 / speed)),
            resolve_hold_s=max(0.5, 4.0 / speed),
            hold_s=max(1.0, 5.0 / speed),
        )


async def probe_broker(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None when something accepts TCP connections at the broker's address, else why not.

    Raises ConfigError for a URL that is not mqtt://host:port or mqtts://host:port.
    """
    host, port, _ = parse_broker_url(url)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return (os.strerror(exc.errno) if exc.errno else str(exc)) or type(exc).__name__
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def demo_settings(
    venue: FakeVenue,
    state_dir: Path,
    pace: Pace,
    *,
    port: int,
    mqtt_url: str | None,
    topic_prefix: str = DEFAULT_TOPIC_PREFIX,
) -> Settings:
    """The daemon's settings: hyperliquid/BTC at the simulated venue, nothing else.

    Built from scratch: the user's config file and LIQMON_* variables do not apply.
    """
    environ = {
        **{
            f"LIQMON_VENUES__{name.upper()}__ENABLED": "false"
            for name in DEFAULT_SYMBOLS
            if name != VENUE
        },
        f"LIQMON_VENUES__{VENUE.upper()}__SYMBOLS": SYMBOL,
        "LIQMON_RISK__INTERVAL_S": str(pace.risk_interval_s),
        "LIQMON_ALERTS__RESOLVE_HOLD_S": str(pace.resolve_hold_s),
    }
    settings = load_settings(None, environ=environ)
    venues = dict(settings.venues)
    venues[VENUE] = dataclasses.replace(venues[VENUE], ws_url=venue.ws_url, rest_url=venue.rest_url)
    return dataclasses.replace(
        settings,
        venues=venues,
        mqtt=dataclasses.replace(
            settings.mqtt,
            enabled=mqtt_url is not None,
            url=mqtt_url or DEFAULT_MQTT_URL,
            topic_prefix=topic_prefix,
            client_id=f"liqmon-demo-{os.getpid()}",
        ),
        http=dataclasses.replace(settings.http, host="127.0.0.1", port=port),
        state=dataclasses.replace(settings.state, dir=str(state_dir)),
    )


class Printer:
    """The demo's own output: banner, a line per alert and per phase, the summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.alerts: Counter[str] = Counter()

    def line(self, text: str = "") -> None:
        """Print one line now."""
        print(text, file=self.out, flush=True)

    def stamped(self, text: str, ts_s: float | None = None) -> None:
        """A line with the local wall-clock time in front."""
        clock = time.strftime("%H:%M:%S", time.localtime(time.time() if ts_s is None else ts_s))
        self.line(f"{clock}  {text}")

    def alert(self, alert: Alert) -> None:
        """Alert listener of the daemon: called in the risk cycle as each alert fires."""
        self.alerts[alert.severity.value] += 1
        shock = (
            "none in range"
            if alert.critical_shock_pct is None
            else f"{alert.critical_shock_pct:.2f} %"
        )
        market = f"{alert.venue}/{alert.symbol}"
        self.stamped(
            f"ALERT {alert.severity.value.upper():<13} {market:<15} {alert.side:<4} "
            f"critical shock {shock:<13} {alert.message}",
            alert.ts_ns / 1e9,
        )

    def phase(self, phase: cascade.Phase, point: tuple[float, float]) -> None:
        """The simulated market entered a new act of its story."""
        mark, open_interest = point
        number = cascade.PHASES.index(phase) + 1
        self.stamped(
            f"[SIMULATED] phase {number}/{len(cascade.PHASES)} {phase.name}: {phase.text} "
            f"(mark {mark:,.0f}, open interest {open_interest:,.0f} {SYMBOL})"
        )

    def banner(self, http_url: str, mqtt: str, pace: Pace, speed: float) -> None:
        """What runs, where to look, how long it takes."""
        self.line(f"liqmon demo: {LABEL}")
        self.line(
            f"  A local venue on 127.0.0.1 speaks the {VENUE} protocol and plays a scripted "
            f"{SYMBOL} market:"
        )
        self.line(
            "  open interest builds up at 70,000, then price falls into the planted long "
            "liquidations and recovers."
        )
        self.line(
            "  The real daemon (the code `liqmon run` starts) follows it; state lives in a "
            "temporary directory."
        )
        self.line(f"  HTTP API: {http_url}  (/metrics, /api/v1/risk, /api/v1/heatmap, /readyz)")
        self.line(f"  MQTT:     {mqtt}")
        self.line(
            f"  Story: about {pace.story_s:.0f} s at speed {speed:g}, then the last state is "
            f"held {pace.hold_s:.0f} s; Ctrl-C stops it."
        )
        self.line()

    def summary(self, reason: str, http_url: str, mqtt: str) -> None:
        """Alerts by severity and where to look."""
        counts = ", ".join(
            f"{self.alerts[s.value]} {s.value}" for s in SEVERITY_ORDER if self.alerts[s.value]
        )
        self.line()
        self.line(f"liqmon demo: {reason} ({LABEL})")
        where = f" (each for {VENUE}/{SYMBOL} and for all/{SYMBOL}, the cross-venue aggregate)"
        self.line(f"  alerts: {counts}{where}" if counts else "  alerts: none")
        self.line("  While it runs, look at:")
        self.line(f"    {http_url}/metrics   (Prometheus: liqmon_critical_shock_pct, ...)")
        self.line(f"    {http_url}/api/v1/risk   (the latest risk snapshot as JSON)")
        self.line(f"    MQTT: {mqtt}")
        self.line("  For live markets: liqmon run (see the README).")


def _mqtt_description(url: str, problem: str | None, prefix: str, wanted: bool) -> str:
    if not wanted:
        return "off (--no-mqtt)"
    host, port, _ = parse_broker_url(url)
    if problem is not None:
        return f"no broker at {host}:{port} ({problem}): running without MQTT"
    return (
        f"publishing to {host}:{port}, topics {prefix}/alerts/#, {prefix}/state/#, {prefix}/status"
    )


async def run_demo(
    *,
    port: int = DEFAULT_PORT,
    mqtt_url: str | None = DEFAULT_MQTT_URL,
    topic_prefix: str = DEFAULT_TOPIC_PREFIX,
    speed: float = 1.0,
    duration_s: float | None = None,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
) -> int:
    """Run the demo; 0 when the story played out or was stopped, 1 when it never did.

    `mqtt_url=None` runs without MQTT. `stop` ends the run early when set; with
    `handle_signals`, SIGINT and SIGTERM set it. Raises ConfigError for a malformed MQTT
    URL and OSError when the HTTP port cannot be bound.
    """
    printer = Printer(out or sys.stdout)
    stop = stop or asyncio.Event()
    if handle_signals:
        install_stop_signals(stop)
    pace = Pace.of(speed)
    problem = None if mqtt_url is None else await probe_broker(mqtt_url)
    mqtt = _mqtt_description(
        mqtt_url or DEFAULT_MQTT_URL, problem, topic_prefix, mqtt_url is not None
    )
    script = cascade.Script(ticks_per_point=TICKS_PER_POINT, trade_every=TRADE_EVERY)
    script.on_phase = printer.phase
    with tempfile.TemporaryDirectory(prefix="liqmon-demo-") as state_dir:
        async with FakeVenue(script, tick_s=pace.tick_s) as venue:
            settings = demo_settings(
                venue,
                Path(state_dir),
                pace,
                port=port,
                mqtt_url=mqtt_url if problem is None else None,
                topic_prefix=topic_prefix,
            )
            daemon = Daemon(settings, alert_listeners=[printer.alert])
            daemon_stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(daemon_stop), name="demo-daemon")
            try:
                await _started(daemon, task)
                http_url = f"http://127.0.0.1:{daemon.http_port}"
                printer.banner(http_url, mqtt, pace, speed)
                reason, code = await _play(
                    script, pace, printer, daemon=task, stop=stop, duration_s=duration_s
                )
            finally:
                daemon_stop.set()
                if not task.done():
                    await asyncio.wait_for(task, STOP_TIMEOUT_S)
            task.result()  # an error of the daemon's shutdown, if any
    printer.summary(reason, http_url, mqtt)
    return code


async def _started(daemon: Daemon, task: asyncio.Task[None]) -> None:
    """Wait (bounded) until the daemon runs; its start-up error, if any, is raised here."""
    started = asyncio.create_task(daemon.started.wait())
    try:
        await asyncio.wait(
            {task, started}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        started.cancel()
    if task.done():
        task.result()  # raises what stopped it
        msg = "the daemon stopped during start-up"
        raise RuntimeError(msg)
    if not daemon.started.is_set():
        msg = f"the daemon did not start within {START_TIMEOUT_S:g} s"
        raise RuntimeError(msg)


async def _play(
    script: cascade.Script,
    pace: Pace,
    printer: Printer,
    *,
    daemon: asyncio.Task[None],
    stop: asyncio.Event,
    duration_s: float | None,
) -> tuple[str, int]:
    """Follow the story until it ends (plus the hold), a stop, or the duration cap."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    cap = None if duration_s is None else started + duration_s
    give_up = started + 2.0 * pace.story_s + 30.0  # a story that never plays out
    poll_s = min(0.1, pace.tick_s)
    ended: float | None = None
    while True:
        now = loop.time()
        if stop.is_set():
            return "stopped", 0
        if daemon.done():
            daemon.result()  # raises what stopped it
            return "the daemon stopped", 1
        if cap is not None and now >= cap:
            return f"stopped after --duration {duration_s:g} s", 0
        if ended is None and script.finished:
            ended = now
            printer.stamped(
                f"[SIMULATED] the story is over; holding the last state for {pace.hold_s:.0f} s"
            )
        if ended is not None and now - ended >= pace.hold_s:
            return "done", 0
        if ended is None and now > give_up:
            printer.stamped("the simulated market did not play out in time")
            return "gave up", 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)


# ---------------------------------------------------------------------- command line


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < float("inf"):
        msg = f"must be a positive number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        msg = f"must be a port number 0-65535 (0: any free port), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `liqmon demo`."""
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"HTTP API port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument(
        "--mqtt",
        metavar="URL",
        default=DEFAULT_MQTT_URL,
        help=f"MQTT broker to publish to when reachable (default {DEFAULT_MQTT_URL})",
    )
    parser.add_argument("--no-mqtt", action="store_true", help="do not publish to MQTT")
    parser.add_argument(
        "--topic-prefix",
        default=DEFAULT_TOPIC_PREFIX,
        type=topic_prefix,
        help=f"MQTT topic prefix (default {DEFAULT_TOPIC_PREFIX}, apart from a real daemon's)",
    )
    parser.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        metavar="FACTOR",
        help=f"play the story this many times faster (default 1: about {STORY_S:.0f} s)",
    )
    parser.add_argument(
        "--duration", type=_positive, metavar="S", help="stop after this many seconds"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the daemon's log on stderr (default: errors)"
    )


def demo_main(args: argparse.Namespace) -> int:
    """`liqmon demo`: run the demo from parsed arguments; the exit code."""
    setup_logging("auto", level=logging.INFO if args.verbose else logging.ERROR)
    try:
        return asyncio.run(
            run_demo(
                port=args.port,
                mqtt_url=None if args.no_mqtt else args.mqtt,
                topic_prefix=args.topic_prefix,
                speed=args.speed,
                duration_s=args.duration,
                handle_signals=True,
            )
        )
    except ConfigError as exc:
        print(f"liqmon demo: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        hint = " (is liqmon already running? try --port 0)" if args.port else ""
        print(f"liqmon demo: cannot start: {exc}{hint}", file=sys.stderr)
        return 1
