"""Benchmark `liqmon run` as a real process: alert latency, memory with 200 symbols, CPU.

Usage: python bench/bench_daemon.py [--crossings N] [--symbols 200] [--rate 10000] [--seconds S]

Everything is real and local (127.0.0.1 only): the daemon is a `python -m monitor run`
subprocess configured by LIQMON_* variables (as tests/test_daemon_restart.py does), the
venue is the test suite's WebSocket + REST server (tests/venue_server.py) playing a
SIMULATED Hyperliquid market (bench/daemon_venue.py), the broker is a `mosquitto` process
and the subscriber a real aiomqtt client (tests/broker.py).

1. Latency: one coin (BTC), open interest built up to 3,200 BTC at 70,000 as in the
   cascade test market. The bench then alternates a safe state (mark 70,420, 6 BTC per book
   level) and a dangerous one (mark 70,000, 0.5 BTC per level). Both moves are 0.6 %, past
   `risk.recheck_move_pct` (0.5 %), so each triggers the daemon's immediate re-check; the
   danger state takes the down side's critical shock to ~0.8 % (critical: <= 1 %), the safe
   one back to ~3.8 % (resolved; hold and cooldown are 0). Measured: from the moment the
   server hands the first frame of the dangerous state to its WebSocket to the moment the
   subscriber receives `critical`/`down` on liqmon/alerts/hyperliquid/BTC (both clocks are
   `time.time_ns` on this machine). States change at least 0.2 s apart, so the re-check
   never waits for the 100 ms gap between cycles. Meanwhile GET /healthz every 50 ms: its
   answer time is how long the daemon's event loop keeps an HTTP reader waiting.
2. RSS: VmRSS of the daemon following `--symbols` coins once /readyz says every ledger is
   warm and every book synced (and after the CPU phase, with VmHWM, the peak).
3. CPU: utime+stime of the daemon (/proc/<pid>/stat) per wall second while the server
   pushes about `--rate` frames/s in all across the daemon's connections; the achieved rate
   is counted at the server and by the daemon (`liqmon_feed_messages_total`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, SupportsIndex

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the local venue server and broker fixtures

from broker import Collector, Mosquitto, Received, free_port  # noqa: E402
from daemon_venue import Script, State, coin_names  # noqa: E402
from fake_venues.cascade import cascade_path  # noqa: E402
from venue_server import FakeVenue  # noqa: E402

OTHER_VENUES = ("binance", "bybit", "okx", "deribit")
BASE = 70_000.0
SAFE = State(mark=BASE * 1.006, open_interest=3_200.0, book_size=6.0)
DANGER = State(mark=BASE, open_interest=3_200.0, book_size=0.5)
ALERT_TOPIC = "liqmon/alerts/hyperliquid/BTC"
STATE_TOPIC = "liqmon/state/hyperliquid/BTC"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


class TimedMessages(list[Received]):
    """The collector's message list, stamping each arrival with `time.time_ns`."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[int] = []

    def append(self, item: Received, /) -> None:
        self.times.append(time.time_ns())
        super().append(item)

    def __delitem__(self, key: SupportsIndex | slice, /) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------- the daemon process


def daemon_environment(
    state_dir: Path, venue: FakeVenue, broker: Mosquitto, coins: Sequence[str], **extra: str
) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")},
        **{f"LIQMON_VENUES__{name.upper()}__ENABLED": "false" for name in OTHER_VENUES},
        "LIQMON_VENUES__HYPERLIQUID__SYMBOLS": ",".join(coins),
        "LIQMON_VENUES__HYPERLIQUID__WS_URL": venue.ws_url,
        "LIQMON_VENUES__HYPERLIQUID__REST_URL": venue.rest_url,
        "LIQMON_MQTT__URL": broker.url,
        "LIQMON_MQTT__CLIENT_ID": f"liqmon-bench-{os.getpid()}",
        "LIQMON_STATE__DIR": str(state_dir),
        **{f"LIQMON_{key}": value for key, value in extra.items()},
    }


def start_daemon(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m monitor run --log-format json`, its output appended to `log`."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--log-format", "json"],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )


@contextlib.asynccontextmanager
async def daemon(environment: dict[str, str], log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A daemon for the duration of the block; SIGTERM (then SIGKILL) on the way out."""
    process = start_daemon(environment, log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 15.0)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 5.0)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs (/proc/stat), for the machine's load."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / MiB
    return values


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as response:
        return response.status, await response.read()


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """Frames received (all connections) and the risk-cycle histogram's sum and count,
    with `at`: when the answer arrived (a busy daemon may take seconds to answer)."""
    _, body = await get(http, f"{base}/metrics")
    values = {"at": time.monotonic(), "frames": 0.0, "reconnects": 0.0}
    values.update(cycle_sum=0.0, cycle_count=0.0)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "liqmon_feed_messages_total":
                values["frames"] += sample.value
            elif sample.name == "liqmon_feed_reconnects_total":
                values["reconnects"] += sample.value
            elif sample.name == "liqmon_risk_cycle_duration_seconds_sum":
                values["cycle_sum"] = sample.value
            elif sample.name == "liqmon_risk_cycle_duration_seconds_count":
                values["cycle_count"] = sample.value
    return values


async def until(
    condition: Callable[[], Any], timeout_s: float, what: str, process: subprocess.Popen[bytes]
) -> None:
    """Wait (bounded) for `condition()` (may be a coroutine function); fail if the daemon died."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            msg = f"the daemon exited with {process.returncode} while waiting for {what}"
            raise RuntimeError(msg)
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout_s:.0f}s waiting for {what}"
            raise RuntimeError(msg)
        await asyncio.sleep(0.05)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------------- 1. latency


def alerts_since(
    messages: TimedMessages, start: int, severity: str
) -> Iterable[tuple[int, dict[str, Any]]]:
    for index in range(start, len(messages)):
        message = messages[index]
        if message.topic != ALERT_TOPIC:
            continue
        document = orjson.loads(message.payload)
        if document["side"] == "down" and document["severity"] == severity:
            yield messages.times[index], document


async def latency(
    workdir: Path, broker: Mosquitto, crossings: int, symbols: int
) -> dict[str, list[float]]:
    """Milliseconds from the crossing frame's send to the alert's arrival, per crossing.

    With `symbols` > 1 the daemon also follows that many quiet coins (books every tick,
    ctx and trades every 4th, about 2,000 frames/s in all), whose risk every cycle computes.
    """
    warm = cascade_path()[:24]  # open interest builds from 200 to 3,200 BTC at 70,000
    coins = coin_names(symbols)
    initial = {
        coin: State(1_000.0 + 10.0 * index, 1_000.0, 6.0) for index, coin in enumerate(coins)
    }
    initial["BTC"] = State(BASE, warm[0][1], SAFE.book_size)
    quiet = symbols > 1
    script = Script(coins, initial, ctx_every=4 if quiet else 1, trade_every=4 if quiet else 50)
    tick_s = max(0.02, symbols * 1.5 / 2_000.0)
    messages = TimedMessages()
    collector = Collector(broker, ALERT_TOPIC, STATE_TOPIC, client_id="bench-latency")
    collector.messages = messages
    out: dict[str, list[float]] = {"critical": [], "resolved": [], "healthz": []}
    port = free_port()
    async with FakeVenue(script, tick_s=tick_s) as venue, collector:
        environment = daemon_environment(
            workdir / "state-latency",
            venue,
            broker,
            coins,
            HTTP__PORT=str(port),
            RISK__INTERVAL_S="2",  # only the first cycle: re-checks come every 0.2-0.5 s
            ALERTS__COOLDOWN_S="0",
            ALERTS__RESOLVE_HOLD_S="0",
        )
        async with daemon(environment, workdir / "daemon-latency.log") as process:
            await until(
                lambda: any(c.sent for c in venue.connections), 20.0, "subscription", process
            )
            for mark, open_interest in warm:
                version = script.set_state("BTC", State(mark, open_interest, SAFE.book_size))

                def sent(version: int = version) -> bool:
                    return ("BTC", version) in script.sent_ns

                await until(sent, 5.0, "the warm-up frames", process)
                await asyncio.sleep(0.05)
            script.set_state("BTC", SAFE)
            start = len(messages)

            def cycled(start: int = start) -> bool:  # a cycle after the build-up
                return any(m.topic == STATE_TOPIC for m in messages[start:])

            await until(cycled, 30.0, "a risk cycle after warm-up", process)
            async with aiohttp.ClientSession() as http:
                poller = asyncio.create_task(
                    poll_healthz(http, f"http://127.0.0.1:{port}/healthz", out["healthz"])
                )
                try:
                    for _ in range(crossings):
                        for state, severity in ((DANGER, "critical"), (SAFE, "resolved")):
                            await asyncio.sleep(0.2)
                            start = len(messages)
                            version = script.set_state("BTC", state)

                            def arrived(start: int = start, severity: str = severity) -> bool:
                                return any(True for _ in alerts_since(messages, start, severity))

                            await until(arrived, 5.0, f"a {severity} alert", process)
                            received, _ = next(iter(alerts_since(messages, start, severity)))
                            sent_at = script.sent_ns[("BTC", version)]
                            out[severity].append((received - sent_at) / 1e6)
                finally:
                    poller.cancel()
                    await asyncio.wait([poller], timeout=5.0)
    return out


async def poll_healthz(http: aiohttp.ClientSession, url: str, out: list[float]) -> None:
    """GET /healthz every 50 ms until cancelled; each answer's time (ms) into `out`.

    /healthz does no work: its answer time is how long the daemon's event loop keeps an
    HTTP reader waiting (behind a risk-cycle step, a batch of feed events, ...).
    """
    while True:
        started = time.perf_counter()
        status, _ = await get(http, url)
        if status == 200:
            out.append((time.perf_counter() - started) * 1e3)
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- 2 + 3. RSS, CPU


async def load(
    workdir: Path, broker: Mosquitto, symbols: int, rates: Sequence[float], seconds: float
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """RSS once warm, then CPU and frame rates at each offered rate in turn."""
    coins = coin_names(symbols)
    initial = {
        # Marks of 1,000 and up: the book's 5 bp steps stay distinct at one decimal.
        coin: State(BASE if coin == "BTC" else 1_000.0 + 10.0 * index, 1_000.0, 6.0)
        for index, coin in enumerate(coins)
    }
    # Per coin and tick: a book of 20 levels a side (as the real venue sends); every 4th
    # tick a ctx frame (mark, OI, funding: one ledger update each) and a trade.
    script = Script(coins, initial, ctx_every=4, trade_every=4, book_levels=20)
    frames_per_tick = symbols * 1.5
    warm: dict[str, float] = {}
    steps: list[dict[str, float]] = []
    async with FakeVenue(script, tick_s=frames_per_tick / 2_000.0) as venue:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        environment = daemon_environment(
            workdir / "state-load", venue, broker, coins, HTTP__PORT=str(port)
        )
        timeout = aiohttp.ClientTimeout(total=120.0)
        async with (
            daemon(environment, workdir / "daemon-load.log") as process,
            aiohttp.ClientSession(timeout=timeout) as http,
        ):

            async def ready() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    status, _ = await get(http, f"{base}/readyz")
                    return status == 200
                return False

            started = time.monotonic()
            await until(ready, 90.0, f"/readyz with {symbols} symbols", process)
            warm["warm_s"] = time.monotonic() - started
            await asyncio.sleep(2.0)
            warm.update(memory_mib(process.pid))

            def server_sent() -> int:
                return sum(c.sent for c in venue.connections)

            async def steer(rate: float, seconds: float) -> None:
                """Adjust the venue's tick every 0.5 s towards `rate` frames/s sent."""
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    sent, at = server_sent(), time.monotonic()
                    await asyncio.sleep(0.5)
                    achieved = (server_sent() - sent) / (time.monotonic() - at)
                    venue.tick_s = max(0.0005, min(1.0, venue.tick_s * achieved / rate))

            for rate in rates:
                await steer(rate, 5.0)  # ramp up
                before = await scrape(http, base)
                sent0, cpu0, own0 = server_sent(), cpu_seconds(process.pid), time.process_time()
                busy0, total0 = machine_busy()
                t0 = time.monotonic()
                await steer(rate, seconds)
                wall = time.monotonic() - t0
                busy1, total1 = machine_busy()
                step = {
                    "offered": rate,
                    "machine_busy": (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1),
                    "cpu_per_s": (cpu_seconds(process.pid) - cpu0) / wall,
                    "bench_cpu_per_s": (time.process_time() - own0) / wall,
                    "server_rate": (server_sent() - sent0) / wall,
                    "tick_ms": venue.tick_s * 1e3,
                }
                after = await scrape(http, base)
                step["daemon_rate"] = (after["frames"] - before["frames"]) / (
                    after["at"] - before["at"]
                )
                step["reconnects"] = after["reconnects"] - before["reconnects"]
                cycles = after["cycle_count"] - before["cycle_count"]
                step["cycles"] = cycles
                step["cycle_s"] = (
                    (after["cycle_sum"] - before["cycle_sum"]) / cycles if cycles else 0
                )
                step.update(memory_mib(process.pid))
                steps.append(step)
                venue.tick_s = frames_per_tick / 2_000.0  # calm down before the next step
                await asyncio.sleep(3.0)
            warm["reconnects"] = (await scrape(http, base))["reconnects"]
    return warm, steps


# ---------------------------------------------------------------------- main


def log_problems(log: Path) -> list[tuple[str, int]]:
    """Warning and error lines of a JSON daemon log, numbers blanked, counted."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            entry = {"level": "raw", "message": line}
        if entry.get("level") in ("info", "debug"):
            continue
        text = re.sub(r"^alert [0-9a-f]+", "alert ID", str(entry.get("message", "")))
        text = re.sub(r"\d+(\.\d+)?", "N", text)[:150]
        key = f"{entry.get('level')}: {text}"
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def report(
    lat: dict[str, list[float]],
    warm: dict[str, float],
    steps: list[dict[str, float]],
    args: argparse.Namespace,
) -> None:
    print(f"liqmon daemon benchmark: CPython {platform.python_version()}, {platform.machine()}")
    print(
        f"{os.cpu_count()} CPUs, crossings={args.crossings} "
        f"(daemon following {args.latency_symbols} coin(s)), symbols={args.symbols}"
    )
    print()
    print("| end-to-end alert latency (ms) | n | p50 | p90 | p99 | max | target |")
    print("|---|---|---|---|---|---|---|")
    for severity, values in lat.items():
        if not values:
            continue
        target = "p99 <= 50" if severity == "critical" else "-"
        what = (
            "GET `/healthz` every 50 ms" if severity == "healthz" else f"frame -> MQTT `{severity}`"
        )
        print(
            f"| {what} | {len(values)} | {statistics.median(values):.1f} "
            f"| {percentile(values, 90):.1f} | {percentile(values, 99):.1f} "
            f"| {max(values):.1f} | {target} |"
        )
    print()
    if not warm:
        return
    print(f"| daemon, {args.symbols} symbols | value | target |")
    print("|---|---|---|")
    print(
        f"| time from start to /readyz (ledgers warm, books synced) | {warm['warm_s']:.1f} s | - |"
    )
    print(f"| VmRSS once warm | {warm['VmRSS']:.0f} MiB | <= 300 MiB |")
    print(
        "| reconnects over the whole run (`liqmon_feed_reconnects_total`) "
        f"| {warm['reconnects']:.0f} | 0 |"
    )
    print()
    print(
        "| offered frames/s | sent by the server | received by the daemon | daemon CPU s/s "
        "| CPU s/s per 1,000 frames/s | mean risk cycle (n) | reconnects | VmRSS / VmHWM MiB "
        "| bench CPU s/s | all CPUs busy |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for step in steps:
        received = step["daemon_rate"]
        per_1k = step["cpu_per_s"] / (received / 1_000.0) if received else float("nan")
        print(
            f"| {step['offered']:,.0f} | {step['server_rate']:,.0f} | {received:,.0f} "
            f"| {step['cpu_per_s']:.2f} | {per_1k:.3f} "
            f"| {step['cycle_s']:.2f} s ({step['cycles']:.0f}) | {step['reconnects']:.0f} "
            f"| {step['VmRSS']:.0f} / {step['VmHWM']:.0f} | {step['bench_cpu_per_s']:.2f} "
            f"| {step['machine_busy']:.2f} of {os.cpu_count()} |"
        )


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="liqmon-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker")
        broker.start()
        try:
            lat = (
                await latency(workdir, broker, args.crossings, args.latency_symbols)
                if args.crossings
                else {}
            )
            rates = [args.rate / 4.0, args.rate]
            warm, steps = (
                await load(workdir, broker, args.symbols, rates, args.seconds)
                if args.symbols
                else ({}, [])
            )
        except BaseException:
            dump_logs(workdir, summary=False)
            raise
        finally:
            broker.stop()
        report(lat, warm, steps, args)
        if args.logs:
            dump_logs(workdir, summary=True)


def dump_logs(workdir: Path, *, summary: bool) -> None:
    """The daemons' logs on stderr: their tails, or their warnings counted by message."""
    for log in sorted(workdir.glob("daemon-*.log")):
        if summary:
            print(f"\n{log.name}: warnings and errors, by message", file=sys.stderr)
            for line, count in log_problems(log):
                print(f"{count:6d}  {line}", file=sys.stderr)
        else:
            print(f"--- {log.name} (tail)", file=sys.stderr)
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossings", type=int, default=60, help="0 skips the latency phase")
    parser.add_argument(
        "--latency-symbols", type=int, default=1, help="coins followed in the latency phase"
    )
    parser.add_argument("--symbols", type=int, default=200, help="0 skips the RSS/CPU phase")
    parser.add_argument("--rate", type=float, default=10_000.0, help="frames/s in all")
    parser.add_argument("--seconds", type=float, default=30.0, help="per CPU step")
    parser.add_argument(
        "--logs", action="store_true", help="summarise the daemons' warnings (stderr)"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
