"""Bins, depth and the cascade fixed point (model-spec §1-3) on the core API."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.bins import (
    BinGrid,
    Direction,
    binned_sum,
    book_increments,
    observed_depth,
    sqrt_law_depth,
)
from monitor.core.cascade import (
    RUNAWAY,
    STANDARD_SCENARIOS,
    UNBOUNDED_BRANCHING_RATIO,
    Scenario,
    branching_ratio,
    estimate_scenarios,
    estimate_side,
    final_move_bins,
    jump_threshold_bins,
)

# Worked example of model-spec §3: δ = 0.5 %, D(k) = 20·k $M, ℓ = [5, 10, 30, 60, 15, 5] $M.
EXAMPLE_GRID = BinGrid(bin_bps=50, max_bins=300)
EXAMPLE_DEPTH = 20e6 * np.arange(1, 301, dtype=np.float64)
EXAMPLE_FUEL = np.zeros(300)
EXAMPLE_FUEL[:6] = np.array([5, 10, 30, 60, 15, 5]) * 1e6


@pytest.mark.parametrize(
    ("withdrawal", "expected_final_pct", "critical_pct"),
    [(1.0, (1.0, 4.5, 5.0), 1.0), (0.3, (11.0, 11.5, 12.0), 0.5)],
)
def test_worked_example_of_the_spec(withdrawal, expected_final_pct, critical_pct):
    scenario = Scenario(withdrawal=withdrawal)
    final = final_move_bins(EXAMPLE_DEPTH, EXAMPLE_FUEL, scenario, np.array([1, 2, 3]))
    assert [EXAMPLE_GRID.pct(int(k)) for k in final] == list(expected_final_pct)
    estimate = estimate_side(
        EXAMPLE_DEPTH, EXAMPLE_FUEL, EXAMPLE_GRID, scenario, jump_threshold_pct=2.0
    )
    assert estimate.critical_bins is not None
    assert EXAMPLE_GRID.pct(estimate.critical_bins) == critical_pct
    assert estimate.critical_sell_usd == pytest.approx(withdrawal * 20e6 * estimate.critical_bins)
    assert not estimate.runaway_at_critical


def test_worked_example_branching_ratios():
    ratio = branching_ratio(EXAMPLE_DEPTH, EXAMPLE_FUEL, Scenario())
    assert ratio[:6] == pytest.approx([0.25, 0.5, 1.5, 3.0, 0.75, 0.25])
    stressed = branching_ratio(EXAMPLE_DEPTH, EXAMPLE_FUEL, Scenario(withdrawal=0.3))
    assert stressed[:6] == pytest.approx([5 / 6, 5 / 3, 5, 10, 2.5, 5 / 6])
    assert (ratio[6:] == 0.0).all()


def test_fuel_where_depth_does_not_grow_has_an_unbounded_branching_ratio():
    depth = np.array([10.0, 10.0, 20.0])
    fuel = np.array([1.0, 1.0, 0.0])
    assert list(branching_ratio(depth, fuel, Scenario())) == [0.1, UNBOUNDED_BRANCHING_RATIO, 0.0]


def test_runaway_when_fuel_outgrows_depth_to_the_edge():
    grid = BinGrid(bin_bps=10, max_bins=50)
    depth = np.full(50, 1e6)
    fuel = np.full(50, 1e6)
    estimate = estimate_side(depth, fuel, grid)
    assert estimate.critical_bins == 1
    assert estimate.runaway_at_critical
    assert (estimate.final_bins == RUNAWAY).all()


def test_no_cascade_within_the_shock_range_is_null():
    grid = BinGrid(bin_bps=10, max_bins=300)
    depth = 1e6 * np.arange(1, 301, dtype=np.float64)
    estimate = estimate_side(depth, np.zeros(300), grid)
    assert estimate.critical_bins is None
    assert estimate.critical_sell_usd is None
    assert not estimate.runaway_at_critical
    assert list(estimate.final_bins) == list(range(1, 201))


@pytest.mark.parametrize(
    ("threshold_pct", "bin_bps", "bins"),
    [(0.5, 10, 5), (2.0, 50, 4), (0.3, 10, 3), (0.35, 10, 4), (0.0, 10, 0), (0.7, 10, 7)],
)
def test_jump_threshold_is_compared_in_whole_bins(threshold_pct, bin_bps, bins):
    assert jump_threshold_bins(threshold_pct, bin_bps) == bins


def test_scenarios_come_back_in_order_and_stress_lowers_the_critical_shock():
    estimates = estimate_scenarios(
        EXAMPLE_DEPTH, EXAMPLE_FUEL, EXAMPLE_GRID, STANDARD_SCENARIOS, jump_threshold_pct=2.0
    )
    assert [e.scenario.withdrawal for e in estimates] == [1.0, 0.29, 0.06]
    critical = [e.critical_bins or 0 for e in estimates]
    assert 0 not in critical
    assert critical == sorted(critical, reverse=True)


# ------------------------------------------------------------------- bins and depth


def test_bin_edges_are_right_closed_and_overdue_levels_fall_in_bin_one():
    grid = BinGrid(bin_bps=10, max_bins=5)
    p0 = 100.0
    prices = np.array([101.0, 100.0, p0 * math.exp(-0.0015), p0 * math.exp(-0.0049), 1.0, -5.0])
    usd = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    fuel = binned_sum(p0, prices, usd, Direction.DOWN, grid)
    # 101 is above the price (overdue long) and 100 sits on it: bin 1. 1.0 is far past
    # K and -5 has no log distance: both dropped.
    assert list(fuel) == [3.0, 4.0, 0.0, 0.0, 8.0]


def test_depth_extrapolates_past_the_deepest_level():
    grid = BinGrid(bin_bps=10, max_bins=10)
    p0 = 100.0
    bids = np.array([p0 * math.exp(-0.0005), p0 * math.exp(-0.0025)])
    sizes = np.array([1.0, 2.0])
    book = book_increments(p0, bids, sizes, Direction.DOWN, grid)
    assert book is not None
    assert book.observed_bins == 3
    depth = observed_depth(book, grid, exponent=1.16)
    total = bids @ sizes
    assert depth[:3] == pytest.approx([bids[0], bids[0], total])
    expected = total * (np.arange(4, 11) / 3.0) ** 1.16
    assert depth[3:] == pytest.approx(expected)


def test_zero_sized_book_is_empty_and_levels_beyond_the_grid_still_count_as_observed():
    grid = BinGrid(bin_bps=10, max_bins=10)
    assert book_increments(100.0, np.array([99.0]), np.array([0.0]), Direction.DOWN, grid) is None
    book = book_increments(100.0, np.array([50.0]), np.array([1.0]), Direction.DOWN, grid)
    assert book is not None
    assert book.observed_bins > grid.max_bins
    assert (observed_depth(book, grid, 1.16) == 0.0).all()


def test_square_root_law_depth():
    grid = BinGrid(bin_bps=10, max_bins=3)
    depth = sqrt_law_depth(1e9, 0.03, grid)
    assert depth == pytest.approx([1e9 * (k * 0.001 / (0.7 * 0.03)) ** 2 for k in (1, 2, 3)])


# ------------------------------------------------------------------- fast == literal


def literal_final_bins(depth, fuel, scenario, shocks):
    """The spec's definition, evaluated for every (k0, k) pair."""
    absorbed = scenario.withdrawal * depth
    cumulative = np.cumsum(fuel)
    result = []
    for k0 in shocks:
        found = RUNAWAY
        for k in range(k0, len(depth) + 1):
            if absorbed[k - 1] >= absorbed[k0 - 1] + scenario.psi * cumulative[k - 1]:
                found = k
                break
        result.append(found)
    return result


# Small integers and repeated values produce exact ties: flat depth, empty fuel bins,
# and equalities W·D(k) = W·D(k0) + ψ·L(k) that a tolerance-based search would get wrong.
increments = st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.0, 0.1, 0.7]), min_size=1, max_size=40)


@settings(max_examples=400, deadline=None)
@given(
    depth_steps=increments,
    fuel_values=st.lists(st.sampled_from([0.0, 0.0, 0.0, 1.0, 0.5, 2.0, 0.3]), max_size=40),
    withdrawal=st.sampled_from([1.0, 0.5, 0.29, 0.06, 0.3]),
    psi=st.sampled_from([1.0, 0.5, 0.7]),
)
def test_fast_fixed_point_equals_the_literal_definition(depth_steps, fuel_values, withdrawal, psi):
    k_max = len(depth_steps)
    depth = np.cumsum(np.asarray(depth_steps, dtype=np.float64))
    fuel = np.zeros(k_max)
    fuel[: min(k_max, len(fuel_values))] = fuel_values[:k_max]
    scenario = Scenario(withdrawal=withdrawal, psi=psi)
    shocks = np.arange(1, k_max + 1)
    fast = final_move_bins(depth, fuel, scenario, shocks)
    assert list(fast) == literal_final_bins(depth, fuel, scenario, shocks)


@settings(max_examples=200, deadline=None)
@given(
    depth_steps=st.lists(st.floats(0.0, 1e8), min_size=2, max_size=60),
    fuel_values=st.lists(st.floats(0.0, 1e8), min_size=2, max_size=60),
)
def test_final_move_never_decreases_with_the_shock(depth_steps, fuel_values):
    k_max = min(len(depth_steps), len(fuel_values))
    depth = np.cumsum(depth_steps[:k_max])
    fuel = np.asarray(fuel_values[:k_max])
    final = final_move_bins(depth, fuel, Scenario(), np.arange(1, k_max + 1))
    as_number = np.where(final == RUNAWAY, k_max + 1, final)
    assert (np.diff(as_number) >= 0).all()
    assert (as_number >= np.arange(1, k_max + 1)).all()
