"""Events into the ledger (FlowTracker) and ledger plus book into risk (assess)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.core.bins import BinGrid, Direction
from monitor.core.cascade import STANDARD_SCENARIOS
from monitor.core.events import (
    Aggressor,
    FeedGap,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Side,
    Trade,
)
from monitor.core.flow import FlowTracker, FlowUpdate
from monitor.core.ledger import Ledger, Outcome
from monitor.core.risk import MarketInput, assess, top_clusters
from monitor.core.venues import venue_params

T0 = 1_760_000_000_000_000_000
HEADER = {"venue": "bybit", "symbol": "BTCUSDT"}


def at(i: int) -> dict[str, object]:
    return {**HEADER, "ts_event_ns": T0 + i, "ts_recv_ns": T0 + i}


def test_flow_collects_an_interval_and_feeds_the_ledger():
    tracker = FlowTracker(venue_params("bybit", "BTC"))
    assert tracker.observe(OpenInterest(**at(0), open_interest=1_000.0)) is None  # no mark yet
    tracker.observe(MarkPrice(**at(1), mark_price=100_000.0))
    first = tracker.observe(OpenInterest(**at(2), open_interest=1_000.0))
    assert first is not None
    assert first.result is None  # cold start
    assert tracker.ledger is not None
    assert tracker.ledger.coverage == 0.0
    tracker.observe(MarkPrice(**at(3), mark_price=99_000.0))
    tracker.observe(Trade(**at(4), price=99_100.0, quantity=2.0, aggressor=Aggressor.SELL))
    tracker.observe(Liquidation(**at(5), side=Side.LONG, price=99_000.0, quantity=3.0))
    tracker.observe(MarkPrice(**at(6), mark_price=99_500.0))
    update = tracker.observe(OpenInterest(**at(7), open_interest=1_050.0))
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.APPLIED
    assert update.result.liquidated[0] == pytest.approx(3.0)
    assert tracker.ledger.side_totals() == pytest.approx((1_050.0, 1_050.0))
    assert tracker.ledger.coverage > 0.0


def test_a_gap_makes_the_next_oi_change_legacy():
    tracker = FlowTracker(venue_params("bybit", "BTC"))
    tracker.observe(MarkPrice(**at(1), mark_price=100_000.0))
    tracker.observe(OpenInterest(**at(2), open_interest=1_000.0))
    tracker.observe(FeedGap(**at(3), reason="stale"))
    update = tracker.observe(OpenInterest(**at(4), open_interest=1_100.0))
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.REBASELINED


def test_a_restart_is_a_gap_the_oi_change_across_it_is_legacy():
    params = venue_params("bybit", "BTC")
    before = FlowTracker(params)
    before.observe(MarkPrice(**at(1), mark_price=100_000.0))
    before.observe(OpenInterest(**at(2), open_interest=1_000.0))
    before.observe(MarkPrice(**at(3), mark_price=100_500.0))
    before.observe(OpenInterest(**at(4), open_interest=1_100.0))  # observed opens
    assert before.ledger is not None
    state = before.ledger.to_state()  # what the snapshot holds at shutdown

    after = FlowTracker.restore(Ledger.from_state(params, state))
    assert after.ledger is not None
    assert after.params is params
    legacy = after.ledger.legacy
    # No fresh mark yet: open interest cannot be placed and is ignored.
    assert after.observe(OpenInterest(**at(10), open_interest=1_300.0)) is None
    after.observe(MarkPrice(**at(11), mark_price=100_400.0))
    update = after.observe(OpenInterest(**at(12), open_interest=1_300.0))
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.REBASELINED
    assert after.ledger.legacy == pytest.approx(legacy + 200.0)  # unknown origin, not new
    assert after.ledger.side_totals() == pytest.approx((1_300.0, 1_300.0))
    # The gap covers the downtime only: the next change is observed flow again.
    after.observe(MarkPrice(**at(13), mark_price=100_600.0))
    update = after.observe(OpenInterest(**at(14), open_interest=1_350.0))
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.APPLIED
    assert after.ledger.legacy == pytest.approx(legacy + 200.0)


def test_without_restore_the_same_change_would_have_been_new_positions():
    params = venue_params("bybit", "BTC")
    tracker = FlowTracker(params)
    tracker.observe(MarkPrice(**at(1), mark_price=100_000.0))
    tracker.observe(OpenInterest(**at(2), open_interest=1_000.0))
    tracker.observe(MarkPrice(**at(3), mark_price=100_400.0))
    update = tracker.observe(OpenInterest(**at(4), open_interest=1_150.0))
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.APPLIED
    assert update.result.opened == pytest.approx((150.0, 150.0))


def dip_then_recovery(tracker: FlowTracker, *, anomalous_reading: bool) -> FlowUpdate | None:
    """Cold start at 100, a dip to 91 through the 10x-25x long LPs with 50 longs
    liquidated, optionally an OI reading skipped as an anomaly, then OI 950 at 100."""
    tracker.observe(MarkPrice(**at(1), mark_price=100.0))
    tracker.observe(OpenInterest(**at(2), open_interest=1_000.0))
    for i, price in enumerate((97.0, 93.0, 91.0, 95.0, 100.0)):
        tracker.observe(MarkPrice(**at(3 + i), mark_price=price))
    tracker.observe(Liquidation(**at(8), side=Side.LONG, price=92.0, quantity=50.0))
    tracker.observe(Trade(**at(9), price=92.0, quantity=5.0, aggressor=Aggressor.SELL))
    if anomalous_reading:
        skipped = tracker.observe(OpenInterest(**at(10), open_interest=1_300.0))  # +30 %
        assert skipped is not None
        assert skipped.result is not None
        assert skipped.result.outcome is Outcome.ANOMALY
    return tracker.observe(OpenInterest(**at(11), open_interest=950.0))


def test_an_oi_reading_skipped_as_an_anomaly_leaves_its_interval_to_the_next():
    # The skipped reading threw away the dip's low, the liquidations and the trades:
    # the next applied one crossed 38 instead of 272 longs and kept 12x the long fuel.
    params = venue_params("bybit", "BTC")
    plain, skipping = FlowTracker(params), FlowTracker(params)
    expected = dip_then_recovery(plain, anomalous_reading=False)
    update = dip_then_recovery(skipping, anomalous_reading=True)
    assert expected is not None
    assert expected.result is not None
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.APPLIED
    assert update.result.crossed == pytest.approx(expected.result.crossed)
    assert update.result.liquidated == pytest.approx(expected.result.liquidated)
    assert update.result.liquidated[0] == pytest.approx(50.0)
    assert plain.ledger is not None
    assert skipping.ledger is not None
    assert np.allclose(skipping.ledger.quantities(), plain.ledger.quantities(), rtol=1e-12)


def test_a_refused_oi_reading_does_not_pass_what_made_it_invalid_on():
    # Two finite trades at one price sum to inf: that interval can never be applied, and
    # carrying it over would refuse every later reading too.
    tracker = FlowTracker(venue_params("bybit", "BTC"))
    tracker.observe(MarkPrice(**at(1), mark_price=100.0))
    tracker.observe(OpenInterest(**at(2), open_interest=1_000.0))
    for i in range(2):
        tracker.observe(Trade(**at(3 + i), price=100.0, quantity=1e308, aggressor=Aggressor.BUY))
    refused = tracker.observe(OpenInterest(**at(5), open_interest=1_010.0))
    assert refused == FlowUpdate(result=None, refused="non_finite")
    update = tracker.observe(OpenInterest(**at(6), open_interest=1_020.0))
    assert update is not None
    assert update.result is not None
    assert update.result.outcome is Outcome.APPLIED
    assert tracker.ledger is not None
    assert tracker.ledger.side_totals() == pytest.approx((1_020.0, 1_020.0))


def linear_book(price: float, per_bin_usd: float, bins: int, delta: float, below: bool):
    sign = -1.0 if below else 1.0
    prices = np.array([price * math.exp(sign * (j - 0.5) * delta) for j in range(1, bins + 1)])
    return prices, per_bin_usd / prices


def test_assess_reproduces_the_worked_example_and_stress_lowers_the_shock():
    grid = BinGrid(bin_bps=50, max_bins=300)
    fuel = np.zeros(300)
    fuel[:6] = np.array([5, 10, 30, 60, 15, 5]) * 1e6
    bids = linear_book(100_000.0, 20e6, 300, grid.delta, below=True)
    market = MarketInput(
        price=100_000.0, long_fuel=fuel, short_fuel=np.zeros(300), bids=bids, asks=None
    )
    risk = assess("binance", "BTCUSDT", [market], grid, jump_threshold_pct=2.0)
    assert risk.up is None  # no asks: depth unavailable
    assert risk.down is not None
    shocks = [r.critical_shock_pct or 0.0 for r in risk.down.reports]
    assert shocks[0] == 1.0
    assert [r.scenario for r in risk.down.reports] == list(STANDARD_SCENARIOS)
    assert shocks[2] <= shocks[1] <= shocks[0]
    assert risk.down.clusters[0].usd == 60e6
    assert risk.down.clusters[0].price == pytest.approx(100_000.0 * math.exp(-3.5 * 0.005))


def test_assets_aggregate_fuel_and_depth_across_venues():
    grid = BinGrid(bin_bps=10, max_bins=300)
    fuel = np.zeros(300)
    fuel[20] = 5e7
    bids_one = linear_book(100_000.0, 1e6, 300, grid.delta, below=True)
    bids_two = linear_book(100_100.0, 1e6, 300, grid.delta, below=True)
    one = MarketInput(100_000.0, fuel, np.zeros(300), bids_one, None, open_interest_usd=1e9)
    two = MarketInput(100_100.0, fuel, np.zeros(300), bids_two, None, open_interest_usd=3e9)
    single = assess("bybit", "BTC", [one], grid)
    both = assess("all", "BTC", [one, two], grid)
    assert both.price == pytest.approx(100_075.0)
    assert both.down is not None
    assert single.down is not None
    assert both.down.reports[0].fuel_usd_within_pct["5"] == 2 * 5e7
    assert both.down.reports[0].depth_usd_within_pct["1"] == pytest.approx(
        2 * single.down.reports[0].depth_usd_within_pct["1"]
    )


def test_top_clusters_are_the_largest_bins():
    grid = BinGrid(bin_bps=10, max_bins=10)
    fuel = np.array([1.0, 0, 5.0, 0, 3.0, 0, 0, 0, 0, 9.0])
    clusters = top_clusters(100.0, fuel, grid, Direction.UP)
    assert [c.usd for c in clusters] == [9.0, 5.0, 3.0]
    assert clusters[0].price == pytest.approx(100.0 * math.exp(9.5 * 0.001))
