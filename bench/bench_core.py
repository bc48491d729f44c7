"""Benchmark the pure core: estimate, ledger update, fuel aggregation, ledger memory.

Usage: python bench/bench_core.py [--repeat N]

Prints medians and 90th percentiles over N timed calls after a warm-up. The figures go to
docs/benchmarks.md with the command and the machine they came from; nothing here is a
pass/fail test.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from monitor.core.bins import BinGrid
from monitor.core.cascade import STANDARD_SCENARIOS, estimate_scenarios, estimate_side
from monitor.core.ledger import Ledger, OiObservation
from monitor.core.venues import venue_params

GRID = BinGrid(bin_bps=10, max_bins=300)
MAX_SHOCK_BINS = 200
PRICE = 100_000.0
TARGET_COHORTS = 10_000


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and p90 of one call, in microseconds."""
    for _ in range(max(10, repeat // 10)):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1_000.0)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def side_inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A realistic side: depth growing like k^1.16, lumpy fuel with a few clusters."""
    k = np.arange(1, GRID.max_bins + 1, dtype=np.float64)
    depth = 3e6 * k**1.16
    fuel = rng.gamma(0.3, 2e6, GRID.max_bins)
    fuel[[15, 40, 90]] += (4e7, 8e7, 1.5e8)
    return depth, fuel


def busy_ledger() -> Ledger:
    """A BTC ledger with about TARGET_COHORTS live cohorts over a ±14 % range."""
    ledger = Ledger(venue_params("binance", "BTC"), PRICE)
    ledger.cold_start(80_000.0, PRICE, PRICE * 0.87, PRICE * 1.15)
    return ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    depth, fuel = side_inputs(rng)

    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, call: Callable[[], object], target: str) -> None:
        median, p90 = timed(call, args.repeat)
        rows.append((name, f"{median:,.1f}", f"{p90:,.1f}", target))

    add(
        "estimate, one side, one scenario (K=300, K0=200)",
        lambda: estimate_side(depth, fuel, GRID, max_shock_bins=MAX_SHOCK_BINS),
        "<= 100",
    )
    add(
        "estimate, one side, 3 scenarios (W = 1, 0.29, 0.06)",
        lambda: estimate_scenarios(depth, fuel, GRID, STANDARD_SCENARIOS),
        "-",
    )

    ledger = busy_ledger()
    live = ledger.live_cohorts
    observations = []
    price, oi = PRICE, ledger.open_interest
    for step in range(64):
        move = 0.002 * math.sin(step / 3.0)
        new_price = price * math.exp(move)
        oi *= 1.0 + 0.004 * math.cos(step / 5.0)
        observations.append(
            OiObservation(
                open_interest=oi,
                mark_price=new_price,
                low=min(price, new_price) * 0.9995,
                high=max(price, new_price) * 1.0005,
                liquidated_long=0.5 if move < 0 else 0.0,
                liquidated_short=0.5 if move > 0 else 0.0,
            )
        )
        price = new_price
    cycle = iter(observations * (args.repeat // len(observations) + 64))

    add(
        f"ledger update, {live:,} live cohorts",
        lambda: ledger.apply(next(cycle)),
        "<= 200",
    )
    add(
        f"fuel aggregation, both sides, no smearing ({ledger.live_cohorts:,} cohorts)",
        lambda: ledger.fuel(price, GRID),
        "-",
    )
    add(
        "fuel aggregation, both sides, Gaussian smearing",
        lambda: ledger.fuel(price, GRID, smear=True),
        "<= 300",
    )

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    probe = busy_ledger()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    allocated = sum(stat.size_diff for stat in after.compare_to(before, "filename"))

    print(f"liqmon core benchmark: {platform.python_implementation()} {platform.python_version()}")
    print(f"numpy {np.__version__}, {platform.machine()}, repeat={args.repeat}\n")
    print(f"| {'operation':<62} | median µs | p90 µs | target µs |")
    print(f"|{'-' * 64}|-----------|--------|-----------|")
    for name, median, p90, target in rows:
        print(f"| {name:<62} | {median:>9} | {p90:>6} | {target:>9} |")
    print(
        f"\nmemory per (venue, symbol) ledger: arrays {probe.nbytes / 2**20:.3f} MiB, "
        f"allocated while building {allocated / 2**20:.3f} MiB (target <= 1 MiB)"
    )


if __name__ == "__main__":
    main()
