"""The cascade fixed point (model-spec §3) for one side, vectorised over shocks and scenarios.

A shock of k0 bins is the move an outside seller causes with no liquidations; it sells
V0 = W·D(k0). Liquidations inside the move add ψ·L(k) of forced flow, so the move stops at

    k*(k0) = min { k : k0 <= k <= K  and  W·D(k) >= W·D(k0) + ψ·L(k) }

or runs away when no such k exists. Both sides of the inequality grow with k; we evaluate
the inequality for the whole shock grid at once instead of iterating, so there is no
tolerance, and every decision is the spec's inequality evaluated exactly as written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitor.core.bins import BinGrid, FloatArray, IntArray

DEFAULT_MAX_SHOCK_BINS = 200
DEFAULT_JUMP_THRESHOLD_PCT = 0.5
UNBOUNDED_BRANCHING_RATIO = 1e6
STRESSED_WITHDRAWALS = (0.29, 0.06)
"""Median and p90 measured thinning of bid depth during liquidation events (research §3.2)."""

UNREACHABLE_JUMP_BINS = 1 << 62
RUNAWAY = -1
"""Sentinel in k* arrays: no k <= K satisfies the fixed point."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """Depth withdrawal W and book-hitting share ψ, both in (0, 1]."""

    withdrawal: float = 1.0
    psi: float = 1.0

    def __post_init__(self) -> None:
        for name in ("withdrawal", "psi"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                msg = f"{name} must be in (0, 1], got {value!r}"
                raise ValueError(msg)


AS_DISPLAYED = Scenario()
"""The book as displayed: no withdrawal, every liquidated dollar hits the book."""

STANDARD_SCENARIOS = (AS_DISPLAYED, *(Scenario(withdrawal=w) for w in STRESSED_WITHDRAWALS))
"""The three scenarios liqmon publishes side by side."""


def jump_threshold_bins(jump_threshold_pct: float, bin_bps: float) -> int:
    """Whole bins a jump must reach: ceil(J_thr_bps / bin_bps − 1e-9).

    A threshold too large to represent can never be reached by a finite jump; it is
    capped rather than overflowing (a runaway still qualifies).
    """
    bins = 100.0 * jump_threshold_pct / bin_bps - 1e-9
    if not bins < UNREACHABLE_JUMP_BINS:
        return UNREACHABLE_JUMP_BINS
    return max(0, math.ceil(bins))


@dataclass(frozen=True, slots=True)
class SideEstimate:
    """Cascade figures of one side under one scenario; bin counts, -1 for runaway.

    `final_bins[i]` is k* for a shock of i + 1 bins (i < K0).
    """

    scenario: Scenario
    final_bins: IntArray
    critical_bins: int | None
    critical_sell_usd: float | None
    branching_ratio: FloatArray

    @property
    def runaway_at_critical(self) -> bool:
        """Whether the move started by the critical shock never stops inside the grid."""
        if self.critical_bins is None:
            return False
        return bool(self.final_bins[self.critical_bins - 1] == RUNAWAY)


def _largest_valid_shock(absorbed: FloatArray, forced: FloatArray) -> IntArray:
    """m(k) = how many k0 satisfy W·D(k0) + ψ·L(k) <= W·D(k), for every k.

    W·D is non-decreasing and float addition is monotone, so for fixed k the valid k0
    form a prefix 1..m(k). A binary search on W·D(k) − ψ·L(k) finds m(k) up to rounding;
    the boundary is then corrected with the exact inequality of the spec, a whole run
    of equal depths at a time, so the result equals the literal evaluation bit for bit.
    """
    m = np.searchsorted(absorbed, absorbed - forced, side="right")
    size = absorbed.shape[0]
    while True:
        last = np.maximum(m - 1, 0)
        too_far = (m > 0) & (absorbed[last] + forced > absorbed)
        nxt = np.minimum(m, size - 1)
        too_short = (m < size) & (absorbed[nxt] + forced <= absorbed)
        if not (too_far.any() or too_short.any()):
            return m
        m = np.where(too_far, np.searchsorted(absorbed, absorbed[last], side="left"), m)
        m = np.where(too_short, np.searchsorted(absorbed, absorbed[nxt], side="right"), m)


def final_move_bins(
    depth: FloatArray, fuel: FloatArray, scenario: Scenario, shock_bins: IntArray
) -> IntArray:
    """k*(k0) for each requested k0 in 0..K; RUNAWAY where the move never stops.

    k*(k0) is the first k >= k0 whose valid shocks include k0, i.e. m(k) >= k0. Capping
    m(k) at k and taking a running maximum turns that into one sorted search, so the
    whole shock grid costs O(K log K) instead of a K0 × K comparison table.
    k0 = 0 is an empty shock and stays at 0 (D(0) = L(0) = 0 satisfies the inequality).
    """
    k_max = depth.shape[0]
    absorbed = scenario.withdrawal * depth
    forced = scenario.psi * np.cumsum(fuel)
    valid = np.minimum(_largest_valid_shock(absorbed, forced), np.arange(1, k_max + 1))
    reach = np.maximum.accumulate(valid)
    start = np.asarray(shock_bins, dtype=np.int64)
    first = np.searchsorted(reach, start, side="left") + 1
    result = np.where(first > k_max, RUNAWAY, first)
    result[start == 0] = 0
    return result.astype(np.int64)


def branching_ratio(depth: FloatArray, fuel: FloatArray, scenario: Scenario) -> FloatArray:
    """R_j = ψ·ℓ_j / (W·Δ_j); 0 without fuel, 1e6 where fuel meets no depth increment."""
    increments = np.diff(depth, prepend=0.0)
    ratio = np.zeros_like(fuel)
    has_fuel = fuel > 0.0
    has_depth = increments > 0.0
    both = has_fuel & has_depth
    ratio[both] = scenario.psi * fuel[both] / (scenario.withdrawal * increments[both])
    ratio[has_fuel & ~has_depth] = UNBOUNDED_BRANCHING_RATIO
    return ratio


def estimate_side(
    depth: FloatArray,
    fuel: FloatArray,
    grid: BinGrid,
    scenario: Scenario = AS_DISPLAYED,
    *,
    max_shock_bins: int = DEFAULT_MAX_SHOCK_BINS,
    jump_threshold_pct: float = DEFAULT_JUMP_THRESHOLD_PCT,
) -> SideEstimate:
    """Run the fixed point for shocks 1..K0 and derive the critical shock and sell size.

    `depth` is cumulative D(1..K) as displayed (before W); `fuel` is ℓ_1..ℓ_K in USD.
    """
    shocks = np.arange(1, min(max_shock_bins, grid.max_bins) + 1, dtype=np.int64)
    final = final_move_bins(depth, fuel, scenario, shocks)
    needed = jump_threshold_bins(jump_threshold_pct, grid.bin_bps)
    qualifies = (final == RUNAWAY) | (final - shocks >= needed)
    critical: int | None = None
    critical_sell: float | None = None
    if qualifies.any():
        critical = int(shocks[np.argmax(qualifies)])
        critical_sell = float(scenario.withdrawal * depth[critical - 1])
    return SideEstimate(
        scenario=scenario,
        final_bins=final,
        critical_bins=critical,
        critical_sell_usd=critical_sell,
        branching_ratio=branching_ratio(depth, fuel, scenario),
    )


def estimate_scenarios(
    depth: FloatArray,
    fuel: FloatArray,
    grid: BinGrid,
    scenarios: Sequence[Scenario] = STANDARD_SCENARIOS,
    *,
    max_shock_bins: int = DEFAULT_MAX_SHOCK_BINS,
    jump_threshold_pct: float = DEFAULT_JUMP_THRESHOLD_PCT,
) -> tuple[SideEstimate, ...]:
    """Evaluate several (W, ψ) scenarios on the same fuel and depth, in the given order."""
    return tuple(
        estimate_side(
            depth,
            fuel,
            grid,
            scenario,
            max_shock_bins=max_shock_bins,
            jump_threshold_pct=jump_threshold_pct,
        )
        for scenario in scenarios
    )
