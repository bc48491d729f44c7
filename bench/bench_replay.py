"""Benchmark `liqmon replay`: throughput at --speed max, and peak RSS of a one-day replay.

Usage: python bench/bench_replay.py [--repeat N] [--hours H] [--skip-day] [--keep-day]
                                    [--breakdown]

Throughput: each input is replayed `--repeat` times in this process (`Replay.run`, as
`liqmon replay --speed max` runs it: reading and decompressing the file, the adapters, the
books, the engine, risk cycles every `risk.interval_s` of simulated time, the alert rules),
default configuration; the run of median wall-clock rate is printed. "frames/s" counts
every frame read, per wall-clock second (the target's measure); "handled/s" leaves out
the frames liqmon skips (channels it does not subscribe to, such as the captures'
`bookTicker`); "frames/CPU-s" is the median over the runs of frames per second of this
process's CPU time, which a shared machine's load does not stretch. The load average
is printed before and after.

`--breakdown`: one more (untimed) replay per input with process CPU time counted apart in
opening each venue (`Replay._open_venue`: the recorded instruments answer, plans) and in
the risk cycles (`Engine.cycle`), to show what of a short input's time does not grow with
its frames.

Peak RSS: there is no one-day real capture, so a one-day SIMULATED recording is built from
the real Binance BTCUSDT capture (345 s): its depth and trade frames (the skipped
`bookTicker` frames left out) repeated back to back, with receive times, event times,
depth update ids and trade ids shifted so that each copy continues the previous one (the
book bridges, no gap). `liqmon replay FILE` runs on it as a subprocess; its peak RSS is
that process's VmHWM (/proc/self/status) at exit. The file (about 3.6 GB for 24 h) is
written to a temporary directory and deleted afterwards unless `--keep-day`.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from monitor.config import Settings, load_settings
from monitor.engine import Engine
from monitor.replay import Replay, ReplayOptions, ReplayResult
from monitor.sources import open_source

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # real-data paths live there

from real_data import CAPTURES  # noqa: E402

BTC = CAPTURES / "hftbacktest" / "usdm_btcusdt_20240808.gz"
ETH = CAPTURES / "hftbacktest" / "usdm_ethusdt_20240808.gz"
BYBIT = CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst"
DAY_S = 86_400
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Input:
    """One throughput leg: a label and the files replayed together."""

    label: str
    files: tuple[Path, ...]


def raw_capture_inputs() -> list[Input]:
    """The real raw captures (`<recv_ns> <json>` and cryptofeed)."""
    return [
        Input("binance BTCUSDT raw capture (real)", (BTC,)),
        Input("binance ETHUSDT raw capture (real)", (ETH,)),
        Input("bybit cryptofeed jsonl.zst capture (real)", (BYBIT,)),
    ]


_TARDIS_DIR = tempfile.TemporaryDirectory(prefix="liqmon-bench-tardis-")


def tardis_inputs() -> list[Input]:
    """CONSTRUCTED Tardis.dev CSV files (gzip) of a SIMULATED BTCUSDT market, 10 minutes:
    a derivative_ticker row, 100 trades and 10 book_snapshot_25 rows a second, and the
    long liquidations of a 3 % fall (`cascade_market` of tests/test_replay_tables.py)."""
    from test_replay_tables import cascade_market  # noqa: PLC0415 (tests/ is on the path)

    files = cascade_market(Path(_TARDIS_DIR.name), 600, trades_per_s=100, books_per_s=10)
    return [Input("Tardis CSV set, 4 files (CONSTRUCTED, SIMULATED market)", tuple(files))]


INPUT_LEGS: list[Callable[[], list[Input]]] = [raw_capture_inputs, tardis_inputs]
"""Throughput legs: each function returns its inputs."""


# ---------------------------------------------------------------------- throughput


def replay_once(settings: Settings, files: tuple[Path, ...]) -> tuple[ReplayResult, float]:
    """One replay at --speed max, no outputs; with the process CPU seconds of `run`."""
    sources = [open_source(path) for path in files]
    replay = Replay(settings, ReplayOptions())
    started = time.process_time()
    result = replay.run(sources)
    return result, time.process_time() - started


def throughput(settings: Settings, leg: Input, repeat: int) -> dict[str, float]:
    """Median frames/s (all and handled, wall clock; all, CPU time) over `repeat` runs."""
    runs = []
    cpu_rates = []
    for _ in range(repeat):
        result, cpu_s = replay_once(settings, leg.files)
        skipped = sum(result.skipped.values())
        runs.append((result.frames_per_s, (result.frames - skipped) / result.wall_s, result))
        cpu_rates.append(result.frames / cpu_s)
    runs.sort(key=lambda run: run[0])
    rate, handled_rate, result = runs[len(runs) // 2]
    return {
        "frames": result.frames,
        "handled": result.frames - sum(result.skipped.values()),
        "cycles": result.cycles,
        "wall_s": result.wall_s,
        "frames_per_s": rate,
        "handled_per_s": handled_rate,
        "frames_per_cpu_s": statistics.median(cpu_rates),
        "spread": (runs[-1][0] - runs[0][0]) / statistics.median(r[0] for r in runs),
    }


class _CpuClock:
    """Process CPU seconds spent inside the wrapped functions."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started

        return timed


def breakdown(settings: Settings, leg: Input) -> dict[str, float]:
    """CPU seconds of one replay: in all, opening venues, risk cycles (see the docstring)."""
    opening, cycles = _CpuClock(), _CpuClock()
    open_venue, cycle = Replay._open_venue, Engine.cycle
    Replay._open_venue = opening.wrap(open_venue)  # type: ignore[method-assign]
    Engine.cycle = cycles.wrap(cycle)  # type: ignore[method-assign]
    try:
        result, total = replay_once(settings, leg.files)
    finally:
        Replay._open_venue = open_venue  # type: ignore[method-assign]
        Engine.cycle = cycle  # type: ignore[method-assign]
    rest = total - opening.seconds - cycles.seconds
    return {
        "frames": result.frames,
        "total_ms": 1e3 * total,
        "open_ms": 1e3 * opening.seconds,
        "cycles_ms": 1e3 * cycles.seconds,
        "rest_ms": 1e3 * rest,
        "frames_per_cpu_s": result.frames / total,
        "rest_frames_per_cpu_s": result.frames / rest,
    }


# ---------------------------------------------------------------------- the simulated day


def _capture(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The capture's depth and trade frames, decoded."""
    frames = []
    with gzip.open(path, "rb") as lines:
        for line in lines:
            recv, _, raw = line.partition(b" ")
            if b"@bookTicker" in raw[:40]:
                continue
            frames.append((int(recv), orjson.loads(raw)))
    return frames


def _shifted(frames: list[tuple[int, dict[str, Any]]], hours: float) -> Iterator[bytes]:
    """Copies of `frames` back to back until `hours` of receive time are covered.

    Each copy keeps the capture's REST book snapshot (`lastUpdateId`, shifted too): where
    a copy starts, the price jumps back (~0.2 %), the book crosses and is rebuilt from it.
    """
    first_recv, last_recv = frames[0][0], frames[-1][0]
    span_ns = last_recv - first_recv + 100_000_000  # 0.1 s between copies
    depth = [f["data"] for _, f in frames if "u" in f.get("data", ())]
    trades = [f["data"] for _, f in frames if "t" in f.get("data", ())]
    id_step = int(depth[-1]["u"]) - int(depth[0]["pu"])  # copy k+1's first pu = copy k's last u
    trade_step = int(trades[-1]["t"]) - int(trades[0]["t"]) + 1
    copies = max(1, round(hours * 3_600 * NS / span_ns))
    for copy in range(copies):
        shift_ns, shift_ms = copy * span_ns, copy * span_ns // 1_000_000
        for recv, frame in frames:
            if "data" not in frame:  # the REST snapshot
                snapshot = {**frame, "E": frame["E"] + shift_ms, "T": frame["T"] + shift_ms}
                snapshot["lastUpdateId"] += copy * id_step
                yield b"%d %s\n" % (recv + shift_ns, orjson.dumps(snapshot))
                continue
            data = dict(frame["data"])
            data["E"] += shift_ms
            data["T"] += shift_ms
            if "u" in data:
                for key in ("U", "u", "pu"):
                    data[key] += copy * id_step
            else:
                data["t"] += copy * trade_step
            shifted = orjson.dumps({"stream": frame["stream"], "data": data})
            yield b"%d %s\n" % (recv + shift_ns, shifted)


def write_day(path: Path, hours: float) -> tuple[int, float]:
    """Write the SIMULATED recording; (frames, simulated hours)."""
    frames = _capture(BTC)
    count = 0
    first = last = 0
    with path.open("wb") as out:
        for line in _shifted(frames, hours):
            out.write(line)
            count += 1
            recv = int(line.partition(b" ")[0])
            first = first or recv
            last = recv
    return count, (last - first) / NS / 3_600


CHILD = (
    "import atexit, sys\n"
    "from monitor.cli import main\n"
    "def hwm():\n"
    "    with open('/proc/self/status') as status:\n"
    "        sys.stderr.write(next(l for l in status if l.startswith('VmHWM')))\n"
    "atexit.register(hwm)\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
"""`liqmon` that prints its own peak RSS at exit. (The kernel's ru_maxrss of a child is no
good here: it keeps the high-water mark of the forked copy of this process before exec.)"""


def day_rss(path: Path) -> dict[str, float]:
    """`liqmon replay FILE` as a child process: its summary and peak RSS (MiB, VmHWM)."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-c", CHILD, "replay", str(path), "--log-format", "json"],
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - started
    summary = orjson.loads(done.stdout.strip().splitlines()[-1])
    hwm = next(line for line in done.stderr.decode().splitlines() if line.startswith("VmHWM"))
    return {
        "frames": summary["frames"],
        "frames_per_s": summary["frames_per_s"],
        "cycles": summary["risk_cycles"],
        "rejected": sum(summary["rejected"].values()),
        "process_wall_s": wall,
        "peak_rss_mib": int(hwm.split()[1]) / 1024,  # VmHWM is in kB
    }


# ---------------------------------------------------------------------- main


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " / ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    """Run the legs and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per input")
    parser.add_argument("--hours", type=float, default=24.0, help="length of the simulated day")
    parser.add_argument("--skip-day", action="store_true", help="throughput only")
    parser.add_argument("--keep-day", type=Path, help="write the simulated day here and keep it")
    parser.add_argument(
        "--breakdown", action="store_true", help="CPU time of venue opening and risk cycles"
    )
    args = parser.parse_args()
    settings = load_settings(None, environ={})
    print(f"liqmon replay benchmark: CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"load average before: {_load()}")
    print()
    print(
        "| input | frames | handled | risk cycles | frames/s | handled/s | frames/CPU-s "
        "| spread | target |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    legs = [leg for leg_inputs in INPUT_LEGS for leg in leg_inputs()]
    for leg in legs:
        r = throughput(settings, leg, args.repeat)
        print(
            f"| {leg.label} | {r['frames']:,} | {r['handled']:,} | {r['cycles']:,} "
            f"| {r['frames_per_s']:,.0f} | {r['handled_per_s']:,.0f} "
            f"| {r['frames_per_cpu_s']:,.0f} | {100 * r['spread']:.0f} % | >= 50,000 |"
        )
    print()
    print(f"load average after: {_load()}")
    if args.breakdown:
        print()
        print(
            "| input | CPU ms | opening venues ms | risk cycles ms | rest ms "
            "| frames/CPU-s | frames/CPU-s of the rest |"
        )
        print("|---|---|---|---|---|---|---|")
        for leg in legs:
            b = breakdown(settings, leg)
            print(
                f"| {leg.label} | {b['total_ms']:.1f} | {b['open_ms']:.1f} "
                f"| {b['cycles_ms']:.1f} | {b['rest_ms']:.1f} | {b['frames_per_cpu_s']:,.0f} "
                f"| {b['rest_frames_per_cpu_s']:,.0f} |"
            )
    if args.skip_day:
        return
    with tempfile.TemporaryDirectory(prefix="liqmon-bench-day-") as tmp:
        path = args.keep_day or Path(tmp) / "day.raw"
        started = time.perf_counter()
        frames, hours = write_day(path, args.hours)
        size_mib = path.stat().st_size / 2**20
        built_s = time.perf_counter() - started
        print()
        print(
            f"SIMULATED day: {frames:,} frames over {hours:.2f} h of receive time, "
            f"{size_mib:,.0f} MiB, built in {built_s:.0f} s from the real BTCUSDT capture"
        )
        d = day_rss(path)
        print()
        print("| one-day replay (SIMULATED, one symbol) | value | target |")
        print("|---|---|---|")
        print(f"| frames replayed | {d['frames']:,} | - |")
        print(f"| risk cycles | {d['cycles']:,} | - |")
        print(f"| rejected frames | {d['rejected']:,} | 0 |")
        print(f"| replay frames/s (its summary) | {d['frames_per_s']:,} | - |")
        print(f"| process wall time | {d['process_wall_s']:.0f} s | - |")
        print(
            f"| peak RSS (VmHWM of the replay process) | {d['peak_rss_mib']:.0f} MiB | <= 500 MiB |"
        )


if __name__ == "__main__":
    main()
