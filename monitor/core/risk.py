"""Risk figures of one side and of one market, as plain immutable values (pure).

`side_report` is the single place that turns fuel and depth into the published figures
(critical shock, final moves, fuel and depth within distances, branching ratio, the
largest fuel clusters). `liqmon estimate` prints it as JSON (model-spec §4); the daemon
publishes the same values as metrics, alerts and API answers, per venue and aggregated
per asset across venues, under several depth-withdrawal scenarios.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.core.bins import (
    DEFAULT_DEPTH_EXPONENT,
    BinGrid,
    Direction,
    FloatArray,
    book_increments,
    observed_depth,
)
from monitor.core.cascade import (
    DEFAULT_JUMP_THRESHOLD_PCT,
    DEFAULT_MAX_SHOCK_BINS,
    RUNAWAY,
    STANDARD_SCENARIOS,
    Scenario,
    estimate_side,
    final_move_bins,
)

SHOCKS_PCT = ("1", "2", "3", "5")
WITHIN_PCT = ("0.5", "1", "2", "5", "10")
BRANCHING_WITHIN_PCT = 2.0
TOP_CLUSTERS = 3
CLUSTER_WITHIN_PCT = 5.0
"""Clusters are sought within this distance: fuel further away does not drive an alert at
the 1-2 % thresholds (a cold-start tail 20 % below is large but irrelevant)."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """A bin of fuel: the price at the middle of the bin and its USD."""

    price: float
    usd: float


@dataclass(frozen=True, slots=True)
class SideReport:
    """Everything published about one side under one scenario (percent = log percent)."""

    scenario: Scenario
    critical_shock_pct: float | None
    critical_sell_usd: float | None
    runaway_at_critical: bool
    final_move_pct: Mapping[str, float]
    runaway: Mapping[str, bool]
    fuel_usd_within_pct: Mapping[str, float]
    depth_usd_within_pct: Mapping[str, float]
    max_branching_ratio_within_2pct: float

    def as_json(self) -> dict[str, Any]:
        """The model-spec §4 object of one side."""
        return {
            "critical_shock_pct": self.critical_shock_pct,
            "critical_sell_usd": self.critical_sell_usd,
            "runaway_at_critical": self.runaway_at_critical,
            "final_move_pct": dict(self.final_move_pct),
            "runaway": dict(self.runaway),
            "fuel_usd_within_pct": dict(self.fuel_usd_within_pct),
            "depth_usd_within_pct": dict(self.depth_usd_within_pct),
            "max_branching_ratio_within_2pct": self.max_branching_ratio_within_2pct,
        }


def side_report(
    depth: FloatArray,
    fuel: FloatArray,
    grid: BinGrid,
    scenario: Scenario,
    *,
    max_shock_bins: int = DEFAULT_MAX_SHOCK_BINS,
    jump_threshold_pct: float = DEFAULT_JUMP_THRESHOLD_PCT,
) -> SideReport:
    """The published figures of one side (model-spec §3-4)."""
    estimate = estimate_side(
        depth,
        fuel,
        grid,
        scenario,
        max_shock_bins=max_shock_bins,
        jump_threshold_pct=jump_threshold_pct,
    )
    shock_bins = {key: round(100.0 * float(key) / grid.bin_bps) for key in SHOCKS_PCT}
    shocks = {key: k0 for key, k0 in shock_bins.items() if k0 <= grid.max_bins}
    finals = final_move_bins(depth, fuel, scenario, np.array(list(shocks.values()), np.int64))
    runaway_pct = grid.pct(grid.max_bins)
    cum_fuel = np.concatenate(([0.0], np.cumsum(fuel)))
    effective_depth = np.concatenate(([0.0], scenario.withdrawal * depth))
    within = {key: grid.bins_within_pct(float(key)) for key in WITHIN_PCT}
    branching_bins = grid.bins_within_pct(BRANCHING_WITHIN_PCT)
    critical = estimate.critical_bins
    return SideReport(
        scenario=scenario,
        critical_shock_pct=None if critical is None else grid.pct(critical),
        critical_sell_usd=estimate.critical_sell_usd,
        runaway_at_critical=estimate.runaway_at_critical,
        final_move_pct={
            key: runaway_pct if k == RUNAWAY else grid.pct(int(k))
            for key, k in zip(shocks, finals, strict=True)
        },
        runaway={key: bool(k == RUNAWAY) for key, k in zip(shocks, finals, strict=True)},
        fuel_usd_within_pct={key: float(cum_fuel[k]) for key, k in within.items()},
        depth_usd_within_pct={key: float(effective_depth[k]) for key, k in within.items()},
        max_branching_ratio_within_2pct=(
            float(estimate.branching_ratio[:branching_bins].max()) if branching_bins > 0 else 0.0
        ),
    )


def top_clusters(
    reference_price: float, fuel: FloatArray, grid: BinGrid, direction: Direction
) -> tuple[Cluster, ...]:
    """The bins holding the most fuel within `CLUSTER_WITHIN_PCT`, largest first.

    Each is priced at the middle of its bin.
    """
    fuel = fuel[: grid.bins_within_pct(CLUSTER_WITHIN_PCT)]
    count = min(TOP_CLUSTERS, int(np.count_nonzero(fuel)))
    if count == 0:
        return ()
    order = np.argsort(fuel, kind="stable")[::-1][:count]
    sign = -1.0 if direction is Direction.DOWN else 1.0
    return tuple(
        Cluster(
            price=reference_price * math.exp(sign * (int(j) + 0.5) * grid.delta),
            usd=float(fuel[j]),
        )
        for j in order
    )


@dataclass(frozen=True, slots=True)
class SideRisk:
    """One side of a market: a report per scenario (same order as requested), clusters."""

    direction: Direction
    reports: tuple[SideReport, ...]
    clusters: tuple[Cluster, ...]


@dataclass(frozen=True, slots=True)
class MarketRisk:
    """Risk of one market (a venue's symbol, or an asset across venues) at one instant.

    A side is None when its depth is unavailable (no book); `coverage` is the share of
    open interest whose origin the ledger has observed.
    """

    venue: str
    symbol: str
    price: float
    coverage: float
    down: SideRisk | None
    up: SideRisk | None


@dataclass(frozen=True, slots=True)
class MarketInput:
    """What one venue contributes: its mark, fuel per relative bin, book, coverage."""

    price: float
    long_fuel: FloatArray
    short_fuel: FloatArray
    bids: tuple[FloatArray, FloatArray] | None  # prices, base sizes
    asks: tuple[FloatArray, FloatArray] | None
    open_interest_usd: float = 0.0
    coverage: float = 1.0


def book_depth(
    price: float,
    side: tuple[FloatArray, FloatArray] | None,
    direction: Direction,
    grid: BinGrid,
    exponent: float = DEFAULT_DEPTH_EXPONENT,
) -> FloatArray | None:
    """Cumulative displayed depth D(1..K) of one book side, None without levels."""
    if side is None:
        return None
    increments = book_increments(price, side[0], side[1], direction, grid)
    return None if increments is None else observed_depth(increments, grid, exponent)


def assess(
    venue: str,
    symbol: str,
    inputs: Sequence[MarketInput],
    grid: BinGrid,
    scenarios: Sequence[Scenario] = STANDARD_SCENARIOS,
    *,
    max_shock_bins: int = DEFAULT_MAX_SHOCK_BINS,
    jump_threshold_pct: float = DEFAULT_JUMP_THRESHOLD_PCT,
) -> MarketRisk:
    """Risk of a market from one venue's input, or of an asset from several venues'.

    Across venues fuel and depth add up bin by bin, each venue's bins measured from its
    own mark (research §4.6); the reported price is the OI-weighted mark, and coverage
    the OI-weighted coverage. A side is available when any venue has a book on it.
    """
    weights = np.array([max(i.open_interest_usd, 0.0) for i in inputs])
    if weights.sum() <= 0.0:
        weights = np.ones(len(inputs))
    price = float(np.average([i.price for i in inputs], weights=weights))
    coverage = float(np.average([i.coverage for i in inputs], weights=weights))
    sides: dict[Direction, SideRisk | None] = {}
    for direction in (Direction.DOWN, Direction.UP):
        fuel = np.zeros(grid.max_bins)
        depth: FloatArray | None = None
        for item in inputs:
            fuel += item.long_fuel if direction is Direction.DOWN else item.short_fuel
            book = item.bids if direction is Direction.DOWN else item.asks
            venue_depth = book_depth(item.price, book, direction, grid)
            if venue_depth is not None:
                depth = venue_depth if depth is None else depth + venue_depth
        if depth is None:
            sides[direction] = None
            continue
        reports = tuple(
            side_report(
                depth,
                fuel,
                grid,
                scenario,
                max_shock_bins=max_shock_bins,
                jump_threshold_pct=jump_threshold_pct,
            )
            for scenario in scenarios
        )
        sides[direction] = SideRisk(direction, reports, top_clusters(price, fuel, grid, direction))
    return MarketRisk(
        venue=venue,
        symbol=symbol,
        price=price,
        coverage=coverage,
        down=sides[Direction.DOWN],
        up=sides[Direction.UP],
    )
