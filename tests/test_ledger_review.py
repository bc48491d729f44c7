"""Ledger edge cases found in review: whole-side liquidations, one-sided legacy, huge trades."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_ledger import assert_same_state

from monitor.core.ledger import (
    ENTRY_BIN,
    ENTRY_BINS,
    LONG,
    SHORT,
    Ledger,
    LedgerState,
    OiObservation,
    Outcome,
)
from monitor.core.venues import (
    DEFAULT_TIER_PRIOR,
    DEFAULT_TIERS,
    ContractType,
    VenueParams,
    venue_params,
)

BYBIT = venue_params("bybit", "BTC")  # complete liquidation feed: undercount 1
ALL_SPECULATIVE = VenueParams(  # no hedged tier: every cohort can be liquidated
    venue="x",
    asset="Y",
    contract_type=ContractType.LINEAR,
    maintenance_rate=0.004,
    tiers=DEFAULT_TIERS,
    tier_prior=DEFAULT_TIER_PRIOR,
    speculative_share=1.0,
)
CENTRE = ENTRY_BINS // 2
LO, HI = CENTRE - 100, CENTRE + 100


def assert_balanced(ledger: Ledger) -> None:
    """Model-spec §5: finite, non-negative, Σ Q(long) = Σ Q(short) = OI, legacy ≤ Q."""
    state = ledger.to_state()
    assert np.isfinite(state.quantity).all()
    assert np.isfinite(state.legacy).all()
    assert (state.quantity >= 0.0).all()
    assert (state.legacy <= state.quantity * (1.0 + 1e-9) + 1e-12).all()
    for total in ledger.side_totals():
        assert math.isclose(total, ledger.open_interest, rel_tol=1e-9, abs_tol=1e-12)
    assert 0.0 <= ledger.coverage <= 1.0


def ledger_of(params, quantity: np.ndarray, legacy: np.ndarray | None = None) -> Ledger:
    """A ledger holding exactly `quantity` (shape (2, tiers, HI − LO)) around a mark of 100."""
    legacy = np.zeros_like(quantity) if legacy is None else legacy
    quantity.setflags(write=False)
    legacy.setflags(write=False)
    state = LedgerState(
        tiers=params.tiers,
        contract_type=params.contract_type.value,
        entry_bin=ENTRY_BIN,
        entry_bins=ENTRY_BINS,
        anchor_log=math.log(100.0),
        lo=LO,
        hi=HI,
        quantity=quantity,
        legacy=legacy,
        open_interest=float(quantity[SHORT].sum()),
        mark_price=100.0,
        anomalies=0,
        pending_anomalies=0,
        gap=False,
    )
    return Ledger.from_state(params, state)


# ------------------------------------------------- liquidations that cover a whole side


def test_liquidating_a_whole_side_with_a_cohort_below_rounding_empties_it():
    # 100x shorts at the mark cross; tier-1 shorts never do, and a tiny tier-1 cohort far
    # above sorts last. With every short reported liquidated, the amount to take from the
    # uncrossed cohorts came out a hair above their running total, the cut landed on the
    # tiny cohort (a share of 0 after rounding) and the update divided by zero half-way.
    quantity = np.zeros((2, len(BYBIT.tiers), HI - LO))
    quantity[SHORT, 8, CENTRE - LO] = 408.11092350664455
    quantity[SHORT, 0, CENTRE - LO] = 1_000.0
    quantity[SHORT, 0, CENTRE + 90 - LO] = 1e-14
    quantity[LONG, 0, CENTRE - LO] = quantity[SHORT].sum()
    ledger = ledger_of(BYBIT, quantity)
    oi = ledger.open_interest
    result = ledger.apply(
        OiObservation(
            open_interest=oi, mark_price=100.0, low=100.0, high=101.2, liquidated_short=2 * oi
        )
    )
    assert result.outcome is Outcome.APPLIED
    assert result.liquidated[SHORT] == pytest.approx(oi)
    assert_balanced(ledger)
    # Every short was liquidated: the shorts left are the ones just re-opened.
    assert result.opened[SHORT] == pytest.approx(oi)


def test_liquidating_a_whole_side_of_only_liquidatable_tiers_empties_it():
    # Without a hedged tier every cohort can cross: nothing may be left to take from.
    rng = np.random.default_rng(3)
    for _ in range(200):
        ledger = Ledger(ALL_SPECULATIVE, 100.0)
        oi = float(10.0 ** rng.uniform(-3, 15))
        ledger.cold_start(oi, 100.0, 95.0, 105.0)
        ledger.apply(
            OiObservation(
                open_interest=oi,
                mark_price=100.0,
                low=50.0,
                high=200.0,
                liquidated_long=oi * float(rng.uniform(1.0, 20.0)),
                liquidated_short=oi * float(rng.uniform(1.0, 20.0)),
            )
        )
        assert_balanced(ledger)


def random_ledger(rng: np.random.Generator, params) -> Ledger:
    """Few cohorts per side, masses from 1e-15 to 1e3, part of each legacy; sides balanced."""
    quantity = np.zeros((2, len(params.tiers), HI - LO))
    for side in (LONG, SHORT):
        count = int(rng.integers(1, 12))
        tiers = rng.integers(0, len(params.tiers), count)
        entries = rng.integers(0, HI - LO, count)
        quantity[side, tiers, entries] += 10.0 ** rng.uniform(-15.0, 3.0, count)
    quantity[LONG] *= quantity[SHORT].sum() / quantity[LONG].sum()
    legacy = quantity * rng.choice([0.0, 0.5, 1.0], size=quantity.shape)
    return ledger_of(params, quantity, legacy)


@pytest.mark.parametrize(
    "params",
    [BYBIT, ALL_SPECULATIVE, venue_params("binance", "BTC"), venue_params("deribit", "BTC")],
    ids=lambda p: p.venue,
)
def test_liquidations_up_to_and_beyond_a_side_never_break_the_ledger(params):
    # Seeded, bounded: 400 random ledgers, each hit by liquidations around its whole side.
    rng = np.random.default_rng(11)
    for _ in range(400):
        ledger = random_ledger(rng, params)
        oi = ledger.open_interest
        low, high = 100.0 * math.exp(-rng.uniform(0, 0.3)), 100.0 * math.exp(rng.uniform(0, 0.3))
        shares = rng.choice([0.0, 0.5, 1.0 - 1e-15, 1.0, 1.0 + 1e-15, 3.0], size=2)
        ledger.apply(
            OiObservation(
                open_interest=oi * float(rng.choice([0.5, 1.0, 1.5])),
                mark_price=float(np.clip(100.0 * math.exp(rng.normal(0, 0.05)), low, high)),
                low=low,
                high=high,
                liquidated_long=oi * float(shares[0]),
                liquidated_short=oi * float(shares[1]),
            )
        )
        assert_balanced(ledger)


def test_an_update_that_fails_half_way_leaves_the_ledger_as_it_was():
    # Nothing in an update raises on a valid observation any more; numpy told to raise on
    # underflow makes the close of subnormal cohorts fail after the first side changed.
    quantity = np.zeros((2, len(BYBIT.tiers), HI - LO))
    quantity[:, 0, CENTRE - LO] = 1_000.0
    quantity[:, 5, CENTRE - 40 - LO] = 1e-310
    ledger = ledger_of(BYBIT, quantity, quantity.copy())
    ledger.note_gap()
    before = ledger.to_state()
    with np.errstate(under="raise"), pytest.raises(FloatingPointError):
        ledger.apply(OiObservation(open_interest=900.0, mark_price=100.0, low=99.0, high=101.0))
    assert_same_state(before, ledger.to_state())
    assert_balanced(ledger)


# ------------------------------------------------------------------- huge trades


def test_trade_volumes_that_overflow_when_summed_still_place_opens_by_volume():
    # Two valid trades of 1e308 in one 5 bp entry bin summed to inf, the weights became
    # NaN and every cohort of both sides turned NaN for good.
    ledger = Ledger(BYBIT, 100.0)
    ledger.cold_start(1_000.0, 100.0, 95.0, 105.0)
    before = ledger.quantities()
    result = ledger.apply(
        OiObservation(
            open_interest=1_100.0,
            mark_price=101.5,
            low=100.0,
            high=101.5,
            trade_prices=np.array([101.50, 101.51, 100.5]),
            trade_quantities=np.array([1e308, 1e308, 1e307]),
        )
    )
    assert result.outcome is Outcome.APPLIED
    assert_balanced(ledger)
    added = (ledger.quantities() - before).sum(axis=1)  # opened, per side and entry bin
    heavy, light = (CENTRE + round(math.log(p / 100.0) / ENTRY_BIN) for p in (101.5, 100.5))
    assert heavy == CENTRE + round(math.log(101.51 / 100.0) / ENTRY_BIN)
    for side in (LONG, SHORT):
        assert added[side, heavy] > 0.0
        assert added[side, heavy] == pytest.approx(20.0 * added[side, light], rel=1e-6)


# ------------------------------------------------------------------- coverage


def test_coverage_is_the_worse_sides_when_liquidations_take_legacy_from_one_side():
    # All mass starts as legacy; a dip liquidates 600 longs and OI stays: the longs
    # re-opened are observed flow, every short is still legacy. Coverage came from the
    # long side alone (0.60), so alerts on short fuel were not marked low-confidence.
    ledger = Ledger(BYBIT, 100.0)
    ledger.cold_start(1_000.0, 100.0, 95.0, 105.0)
    ledger.apply(
        OiObservation(
            open_interest=1_000.0, mark_price=100.0, low=80.0, high=100.0, liquidated_long=600.0
        )
    )
    state = ledger.to_state()
    assert state.legacy[LONG].sum() == pytest.approx(400.0)
    assert state.legacy[SHORT].sum() == pytest.approx(1_000.0)
    assert ledger.legacy == pytest.approx(1_000.0)
    assert ledger.coverage == pytest.approx(0.0)


def test_a_fall_of_open_interest_by_orders_of_magnitude_keeps_the_sides_balanced():
    # Closing pro rata by 1 − amount/total lost the digits the balance needs: from 1e15 to
    # 1e6 each side ended 2.8e-8 off (relative), against the 1e-9 of model-spec §5.
    ledger = Ledger(BYBIT, 100.0)
    ledger.apply(OiObservation(open_interest=1e15, mark_price=100.0, low=100.0, high=100.0))
    ledger.apply(OiObservation(open_interest=1e6, mark_price=102.0, low=100.0, high=102.0))
    assert_balanced(ledger)
