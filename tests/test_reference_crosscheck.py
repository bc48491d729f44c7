"""Cross-check of the production estimator against the independent reference model.

Part 1 pins the reference itself to the hand-checkable numbers of model-spec §3/§4 and to a
few hand-computed cases of §1–§2.  Part 2 compares `monitor.core.contract.evaluate` with the
reference on random valid inputs, and checks the spec's monotonicity/symmetry properties on
the production function.

Inputs whose answer hinges on a floating-point tie (a level within 1e-6 bins of a bin edge,
or a cascade inequality that holds or fails by less than 1e-9 relative) are discarded with
`assume`: two correct implementations may legitimately disagree there.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from reference_model import (  # tests/ is on sys.path (pytest rootdir-relative import)
    book_distance,
    final_move_bins,
    fuel_distance,
    jump_threshold_bins,
    merged_params,
    reference_estimate,
    side_model,
)

REL_TOL = 1e-9
ABS_TOL = 1e-6


def production_evaluate(doc: dict[str, Any]) -> dict[str, Any]:
    """Call the production core (imported lazily so the reference tests run on their own)."""
    from monitor.core.contract import evaluate  # noqa: PLC0415

    out = evaluate(copy.deepcopy(doc))
    # The output must be strict JSON (no NaN/inf, only JSON types); compare what a user sees.
    seen: dict[str, Any] = json.loads(json.dumps(out, allow_nan=False))
    return seen


# --------------------------------------------------------------------------------------
# Worked example of spec §3 (δ = 0.5 %, D(k) = 20·k $M, ℓ = [5, 10, 30, 60, 15, 5] $M)
# --------------------------------------------------------------------------------------

EXAMPLE_PRICE = 100_000.0
EXAMPLE_BIN_BPS = 50
EXAMPLE_BINS = 40  # D(k) is given by a book level in every bin 1..K: no extrapolation
EXAMPLE_FUEL_MUSD = [5.0, 10.0, 30.0, 60.0, 15.0, 5.0]
EXAMPLE_DEPTH_PER_BIN_USD = 20e6


def _mid_bin_price(p0: float, j: int, delta: float, direction: int) -> float:
    """A price in the middle of bin j below (direction −1) or above (+1) p0."""
    return p0 * math.exp(direction * (j - 0.5) * delta)


def worked_example_doc(withdrawal: float = 1.0, **params: Any) -> dict[str, Any]:
    """The §3 worked example on both sides (mirrored), as an `estimate` input."""
    delta = EXAMPLE_BIN_BPS / 10000
    bids = []
    asks = []
    for j in range(1, EXAMPLE_BINS + 1):
        bid = _mid_bin_price(EXAMPLE_PRICE, j, delta, -1)
        ask = _mid_bin_price(EXAMPLE_PRICE, j, delta, +1)
        bids.append([bid, EXAMPLE_DEPTH_PER_BIN_USD / bid])
        asks.append([ask, EXAMPLE_DEPTH_PER_BIN_USD / ask])
    long_levels = [
        [_mid_bin_price(EXAMPLE_PRICE, j, delta, -1), musd * 1e6]
        for j, musd in enumerate(EXAMPLE_FUEL_MUSD, start=1)
    ]
    short_levels = [
        [_mid_bin_price(EXAMPLE_PRICE, j, delta, +1), musd * 1e6]
        for j, musd in enumerate(EXAMPLE_FUEL_MUSD, start=1)
    ]
    all_params = {
        "bin_bps": EXAMPLE_BIN_BPS,
        "max_bins": EXAMPLE_BINS,
        "max_shock_bins": 200,
        "withdrawal": withdrawal,
        "psi": 1.0,
        "jump_threshold_pct": 2.0,
        "depth_exponent": 1.16,
        "daily_volume_usd": None,
        "daily_volatility": None,
    }
    all_params.update(params)
    return {
        "price": EXAMPLE_PRICE,
        "long_levels": long_levels,
        "short_levels": short_levels,
        "bids": bids,
        "asks": asks,
        "params": all_params,
    }


# The §4 output quoted in the spec (down side of the worked example, bin_bps 50, J_thr 2 %).
SPEC_SECTION_4_DOWN = {
    "critical_shock_pct": 1.0,
    "critical_sell_usd": 4.0e7,
    "runaway_at_critical": False,
    "final_move_pct": {"1": 4.5, "2": 5.5, "3": 6.5, "5": 8.5},
    "runaway": {"1": False, "2": False, "3": False, "5": False},
    "fuel_usd_within_pct": {"0.5": 5.0e6, "1": 1.5e7, "2": 1.05e8, "5": 1.25e8, "10": 1.25e8},
    "depth_usd_within_pct": {"0.5": 2.0e7, "1": 4.0e7, "2": 8.0e7, "5": 2.0e8, "10": 4.0e8},
    "max_branching_ratio_within_2pct": 3.0,
}

# The literal §4 input.
SPEC_SECTION_4_INPUT = {
    "price": 100000.0,
    "long_levels": [[97500.0, 2.5e7], [96000.0, 8.0e7]],
    "short_levels": [[103000.0, 4.0e7]],
    "bids": [[99990.0, 1.2], [99950.0, 3.4]],
    "asks": [[100010.0, 0.9]],
    "params": {
        "bin_bps": 10,
        "max_bins": 300,
        "max_shock_bins": 200,
        "withdrawal": 1.0,
        "psi": 1.0,
        "jump_threshold_pct": 0.5,
        "depth_exponent": 1.16,
        "daily_volume_usd": None,
        "daily_volatility": None,
    },
}


def assert_matches(got: Any, want: Any, path: str = "$") -> None:
    """Same structure, same booleans and nulls, floats within rel 1e-9 / abs 1e-6."""
    if want is None:
        assert got is None, f"{path}: expected null, got {got!r}"
    elif isinstance(want, bool):
        assert isinstance(got, bool), f"{path}: expected a boolean, got {got!r}"
        assert got == want, f"{path}: expected {want!r}, got {got!r}"
    elif isinstance(want, int | float):
        assert isinstance(got, int | float), f"{path}: expected a number, got {got!r}"
        assert not isinstance(got, bool), f"{path}: expected a number, got {got!r}"
        assert math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL), (
            f"{path}: expected {want!r}, got {got!r}"
        )
    elif isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: expected an object, got {got!r}"
        assert set(got) == set(want), f"{path}: keys {sorted(got)} != expected {sorted(want)}"
        for key, value in want.items():
            if path == "$" and key == "errors":
                # The reason text is free-form; which sides are in error is not.
                for side in value:
                    assert isinstance(got[key][side], str), f"$.errors.{side}: {got[key]!r}"
                    assert got[key][side], f"$.errors.{side} is empty"
            else:
                assert_matches(got[key], value, f"{path}.{key}")
    else:  # pragma: no cover - the output has no other JSON types
        raise AssertionError(f"{path}: unexpected type in expected value {want!r}")


# --------------------------------------------------------------------------------------
# Part 1: the reference against the spec's own numbers and hand-computed cases
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("withdrawal", "x0_pct", "x_star_pct"),
    [
        (1.0, 0.5, 1.0),
        (1.0, 1.0, 4.5),
        (1.0, 1.5, 5.0),
        (0.3, 0.5, 11.0),
        (0.3, 1.0, 11.5),
        (0.3, 1.5, 12.0),
    ],
)
@pytest.mark.parametrize("side", ["down", "up"])
def test_reference_worked_example_table(
    withdrawal: float, x0_pct: float, x_star_pct: float, side: str
) -> None:
    doc = worked_example_doc(withdrawal)
    model = side_model(doc, side)
    assert model is not None
    assert model.k_obs == EXAMPLE_BINS  # the book covers every bin: D(k) = 20·k $M exactly
    for k in range(EXAMPLE_BINS + 1):
        assert model.D[k] == pytest.approx(20e6 * k, rel=1e-12)
    assert model.L[:8] == pytest.approx([0.0, 5e6, 15e6, 45e6, 105e6, 120e6, 125e6, 125e6])
    k0 = round(x0_pct * 100 / EXAMPLE_BIN_BPS)
    k_star = final_move_bins(model, k0)
    assert k_star is not None
    assert k_star * EXAMPLE_BIN_BPS / 100 == x_star_pct


@pytest.mark.parametrize(("withdrawal", "x_c_pct"), [(1.0, 1.0), (0.3, 0.5)])
def test_reference_worked_example_critical_shock(withdrawal: float, x_c_pct: float) -> None:
    out = reference_estimate(worked_example_doc(withdrawal))
    for side in ("down", "up"):
        assert out[side]["critical_shock_pct"] == x_c_pct
        assert out[side]["runaway_at_critical"] is False
        # V_c = W·D(k_c), D(k) = 20·k $M.
        k_c = round(x_c_pct * 100 / EXAMPLE_BIN_BPS)
        assert out[side]["critical_sell_usd"] == pytest.approx(withdrawal * 20e6 * k_c)


def test_reference_worked_example_hand_check() -> None:
    """Spec: for W = 1, x0 = 1 %: V0 = 40; k = 8: 160 ≥ 40 + 125 fails; k = 9 holds."""
    model = side_model(worked_example_doc(1.0), "down")
    assert model is not None
    k0 = 2
    assert model.W * model.D[k0] == pytest.approx(40e6)
    assert not model.W * model.D[8] >= model.W * model.D[k0] + model.psi * model.L[8]
    assert model.W * model.D[9] >= model.W * model.D[k0] + model.psi * model.L[9]
    assert final_move_bins(model, k0) == 9


def test_reference_spec_section_4_output() -> None:
    out = reference_estimate(worked_example_doc(1.0))
    assert set(out) == {"down", "up"}
    assert_matches(out["down"], SPEC_SECTION_4_DOWN, "$.down")
    assert_matches(out["up"], SPEC_SECTION_4_DOWN, "$.up")  # mirrored input, mirrored output


def test_reference_spec_section_4_input_shape() -> None:
    out = reference_estimate(SPEC_SECTION_4_INPUT)
    assert set(out) == {"down", "up"}
    for side in ("down", "up"):
        assert set(out[side]) == set(SPEC_SECTION_4_DOWN)
        assert set(out[side]["final_move_pct"]) == {"1", "2", "3", "5"}
        assert set(out[side]["fuel_usd_within_pct"]) == {"0.5", "1", "2", "5", "10"}
    # Bids: 99990 → bin 1 (u = 1.0e-4), 99950 → bin 1 (u = 5.0e-4): D(1) = Σ q·s, k_obs = 1,
    # and "within 0.5 %" is the extrapolated D(5).
    assert out["down"]["depth_usd_within_pct"]["0.5"] == pytest.approx(
        (99990.0 * 1.2 + 99950.0 * 3.4) * 5**1.16
    )
    # Longs: 97500 → d = 0.02532 → bin 26 (within 5 %); 96000 → d = 0.04082 → bin 41.
    assert out["down"]["fuel_usd_within_pct"]["2"] == 0.0
    assert out["down"]["fuel_usd_within_pct"]["5"] == pytest.approx(1.05e8)


def _simple_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "price": 100.0,
        "long_levels": [],
        "short_levels": [],
        "bids": [],
        "asks": [],
        "params": {"bin_bps": 10, "max_bins": 10},
    }
    params = overrides.pop("params", {})
    doc.update(overrides)
    doc["params"].update(params)
    return doc


def _in_bin(j: int, bin_bps: float = 10, p0: float = 100.0, direction: int = -1) -> float:
    return _mid_bin_price(p0, j, bin_bps / 10000, direction)


def test_reference_null_sides_and_errors() -> None:
    both = reference_estimate(_simple_doc())
    assert both["down"] is None
    assert both["up"] is None
    assert set(both["errors"]) == {"down", "up"}

    only_down = reference_estimate(_simple_doc(asks=[[_in_bin(1, direction=+1), 5.0]]))
    assert only_down["down"] is None
    assert only_down["up"] is not None
    assert set(only_down["errors"]) == {"down"}

    # Zero-size and non-positive-price book levels count as an empty side.
    zero = reference_estimate(
        _simple_doc(
            bids=[[_in_bin(1), 0.0], [0.0, 3.0], [-5.0, 1.0]],
            asks=[[_in_bin(1, direction=+1), 5.0]],
        )
    )
    assert zero["down"] is None
    assert set(zero["errors"]) == {"down"}

    valid = reference_estimate(
        _simple_doc(bids=[[_in_bin(1), 5.0]], asks=[[_in_bin(1, direction=+1), 5.0]])
    )
    assert "errors" not in valid

    # Only one of volume/volatility is not enough for the square-root law.
    half = reference_estimate(_simple_doc(params={"daily_volume_usd": 1e9}))
    assert half["down"] is None


def test_reference_square_root_law() -> None:
    out = reference_estimate(
        _simple_doc(params={"daily_volume_usd": 1e9, "daily_volatility": 0.02, "max_bins": 300})
    )
    assert "errors" not in out
    for side in ("down", "up"):
        depth = out[side]["depth_usd_within_pct"]
        for key, k in (("0.5", 5), ("1", 10), ("10", 100)):
            assert depth[key] == pytest.approx(1e9 * (k * 0.001 / (0.7 * 0.02)) ** 2)


def test_reference_extrapolation_and_k_obs() -> None:
    # One bid of 1e6 USD in bin 2: D(1) = 0, D(2) = 1e6, D(k) = 1e6·(k/2)^1.16 beyond.
    bid = _in_bin(2)
    doc = _simple_doc(bids=[[bid, 1e6 / bid]], params={"max_bins": 20})
    model = side_model(doc, "down")
    assert model is not None
    assert model.k_obs == 2
    assert model.D[1] == 0.0
    assert model.D[2] == pytest.approx(1e6)
    assert model.D[5] == pytest.approx(1e6 * 2.5**1.16)
    out = reference_estimate(doc)
    assert out["down"]["depth_usd_within_pct"]["0.5"] == pytest.approx(1e6 * 2.5**1.16)
    assert out["down"]["depth_usd_within_pct"]["2"] == pytest.approx(1e6 * 10**1.16)  # K = 20

    # A book level beyond K still defines k_obs: no extrapolation inside 1..K.
    far = _in_bin(8)
    doc = _simple_doc(bids=[[bid, 1e6 / bid], [far, 1e6 / far]], params={"max_bins": 5})
    model = side_model(doc, "down")
    assert model is not None
    assert model.k_obs == 8
    assert model.D[3:] == pytest.approx([1e6, 1e6, 1e6])


def test_reference_fuel_binning_and_drops() -> None:
    levels = [
        [_in_bin(1), 1.0],
        [101.0, 2.0],  # overdue long (P > p0): bin 1
        [_in_bin(3), 4.0],
        [_in_bin(11), 8.0],  # beyond K = 10: dropped
        [_in_bin(2), 0.0],  # zero notional: dropped
        [0.0, 16.0],  # non-positive price: dropped
        [-3.0, 32.0],
    ]
    bid = _in_bin(1)
    model = side_model(_simple_doc(long_levels=levels, bids=[[bid, 1.0]]), "down")
    assert model is not None
    assert model.ell == [0.0, 3.0, 0.0, 4.0] + [0.0] * 7
    assert model.L[-1] == 7.0


def test_reference_branching_ratio() -> None:
    # Depth only in bin 3 (3000 USD), fuel 500 in bin 1 and 600 in bin 3, ψ = 0.5, W = 0.5.
    bid = _in_bin(3)
    doc = _simple_doc(
        long_levels=[[_in_bin(1), 500.0], [_in_bin(3), 600.0]],
        bids=[[bid, 3000.0 / bid]],
        params={"psi": 0.5, "withdrawal": 0.5},
    )
    out = reference_estimate(doc)
    assert out["down"]["max_branching_ratio_within_2pct"] == 1e6  # Δ_1 = 0, ℓ_1 > 0
    doc["long_levels"] = [[_in_bin(3), 600.0]]
    out = reference_estimate(doc)
    assert out["down"]["max_branching_ratio_within_2pct"] == pytest.approx(0.5 * 600 / 1500)


def test_reference_runaway() -> None:
    bid = _in_bin(1)
    doc = _simple_doc(long_levels=[[_in_bin(1), 1e12]], bids=[[bid, 1.0]])
    out = reference_estimate(doc)["down"]
    assert out["final_move_pct"] == {"1": 1.0}  # K = 10 bins of 10 bp; "2" etc. have k0 > K
    assert out["runaway"] == {"1": True}
    assert out["critical_shock_pct"] == 0.1
    assert out["runaway_at_critical"] is True
    assert out["critical_sell_usd"] == pytest.approx(bid)


def test_reference_rounding_of_keys() -> None:
    # bin_bps 40: 0.5 % → round(1.25) = 1, 1 % → round(2.5) = 2, 3 % → round(7.5) = 8,
    # 5 % → round(12.5) = 12 (half to even); bin_bps 400: 1 % → round(0.25) = 0 → k* = 0.
    bid40 = _in_bin(1, bin_bps=40)
    out = reference_estimate(
        _simple_doc(bids=[[bid40, 1.0]], params={"bin_bps": 40, "max_bins": 300})
    )["down"]
    assert out["final_move_pct"] == {"1": 0.8, "2": 2.0, "3": 3.2, "5": 4.8}
    bid400 = _in_bin(1, bin_bps=400)
    out = reference_estimate(
        _simple_doc(long_levels=[[bid400, 1e9]], bids=[[bid400, 1.0]], params={"bin_bps": 400})
    )["down"]
    assert out["final_move_pct"]["1"] == 0.0
    assert out["runaway"]["1"] is False
    assert out["fuel_usd_within_pct"]["0.5"] == 0.0
    assert out["depth_usd_within_pct"]["1"] == 0.0
    # 2 % is round(0.5) = 0 bins at bin_bps 400: the branching range is empty.
    assert out["max_branching_ratio_within_2pct"] == 0.0


def test_reference_within_capped_and_shocks_left_out() -> None:
    bid = _in_bin(1)
    out = reference_estimate(_simple_doc(bids=[[bid, 1.0]], params={"max_bins": 15}))["down"]
    assert set(out["final_move_pct"]) == {"1"}
    assert set(out["runaway"]) == {"1"}
    # "within 2 %" is bins 1..min(15, 20): the extrapolated D(15).
    assert out["depth_usd_within_pct"]["2"] == pytest.approx(bid * 15**1.16)


@pytest.mark.parametrize(
    ("pct", "bin_bps", "bins"),
    [(0.5, 10, 5), (0.3, 10, 3), (0.25, 10, 3), (0.0, 10, 0), (2.0, 50, 4), (0.7, 10, 7)],
)
def test_reference_jump_threshold_in_whole_bins(pct: float, bin_bps: int, bins: int) -> None:
    assert jump_threshold_bins(pct, bin_bps) == bins


# --------------------------------------------------------------------------------------
# Part 2: production against the reference
# --------------------------------------------------------------------------------------


def test_production_spec_section_4_output() -> None:
    out = production_evaluate(worked_example_doc(1.0))
    assert_matches(out["down"], SPEC_SECTION_4_DOWN, "$.down")
    assert_matches(out, reference_estimate(worked_example_doc(1.0)))


@pytest.mark.parametrize("withdrawal", [1.0, 0.3])
def test_production_worked_example(withdrawal: float) -> None:
    doc = worked_example_doc(withdrawal)
    assert_matches(production_evaluate(doc), reference_estimate(doc))


def test_production_spec_section_4_input() -> None:
    assert_matches(
        production_evaluate(SPEC_SECTION_4_INPUT), reference_estimate(SPEC_SECTION_4_INPUT)
    )


# ---- random valid inputs --------------------------------------------------------------


def _is_fragile(doc: dict[str, Any]) -> bool:
    """True when a float tie decides the answer (bin edge or §3 inequality near equality)."""
    params = merged_params(doc)
    delta = params["bin_bps"] / 10000
    p0 = doc["price"]
    for side, levels_key, book_key in (
        ("down", "long_levels", "bids"),
        ("up", "short_levels", "asks"),
    ):
        for price, amount in doc[levels_key]:
            if price > 0 and amount != 0:
                ratio = fuel_distance(p0, price, side) / delta
                if ratio > 0.5 and abs(ratio - round(ratio)) < 1e-6:
                    return True
        for price, amount in doc[book_key]:
            if price > 0 and amount != 0:
                ratio = book_distance(p0, price, side) / delta
                if ratio > 0.5 and abs(ratio - round(ratio)) < 1e-6:
                    return True
        model = side_model(doc, side)
        if model is None:
            continue
        for k0 in range(model.K + 1):
            for k in range(k0, model.K + 1):
                lhs = model.W * model.D[k]
                rhs = model.W * model.D[k0] + model.psi * model.L[k]
                if model.L[k] > 0 and abs(lhs - rhs) <= 1e-9 * max(lhs, rhs):
                    return True
                if lhs >= rhs:
                    break
    return False


POSITIVE_PRICE = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def _level(
    draw: st.DrawFn, p0: float, delta: float, k_max: int, *, direction: int, usd: Any
) -> list[float]:
    """One [price, amount] pair; `direction` −1 for longs/bids, +1 for shorts/asks."""
    kind = draw(st.sampled_from(["mid", "mid", "mid", "mid", "overdue", "raw", "bad"]))
    if kind == "mid":  # strictly inside bin j
        j = draw(st.integers(1, k_max))
        frac = draw(st.floats(0.05, 0.95))
        price = p0 * math.exp(direction * (j - 1 + frac) * delta)
    elif kind == "overdue":  # on the wrong side of p0: bin 1
        price = p0 * math.exp(-direction * draw(st.floats(0.0, 5.0)) * delta)
    elif kind == "raw":
        price = p0 * draw(st.floats(0.5, 1.5))
    else:  # non-positive price: dropped / ignored
        price = draw(st.sampled_from([0.0, -1.0, -p0]))
    amount = draw(st.one_of(st.just(0.0), usd))
    return [price, amount]


@st.composite
def estimate_docs(
    draw: st.DrawFn, bin_bps_choices: tuple[float, ...] = (1, 5, 10, 25, 50)
) -> dict[str, Any]:
    """A random *valid* `estimate` input."""
    price = draw(POSITIVE_PRICE)
    if price >= 1 and draw(st.booleans()):
        price = int(price)  # JSON integers are numbers too
    bin_bps = draw(st.sampled_from(bin_bps_choices))
    max_bins = draw(st.one_of(st.integers(5, 50), st.integers(1, 300)))
    delta = bin_bps / 10000
    k_max = max_bins + 5  # some levels beyond K

    fuel_usd = st.floats(1e3, 1e8)
    depth_usd = st.floats(1e3, 1e8)

    def fuel(direction: int) -> list[list[float]]:
        return draw(
            st.lists(_level(price, delta, k_max, direction=direction, usd=fuel_usd), max_size=40)
        )

    def book(direction: int) -> list[list[float]]:
        levels = draw(
            st.lists(_level(price, delta, k_max, direction=direction, usd=depth_usd), max_size=60)
        )
        # The amount was drawn in USD; a book level's size is in base units.
        return [[q, usd / q] if q > 0 else [q, usd] for q, usd in levels]

    candidates: dict[str, Any] = {
        "bin_bps": bin_bps,
        "max_bins": max_bins,
        "max_shock_bins": draw(st.integers(1, 400)),
        "withdrawal": draw(st.one_of(st.just(1.0), st.floats(1e-3, 1.0))),
        "psi": draw(st.one_of(st.just(1.0), st.floats(1e-3, 1.0))),
        "jump_threshold_pct": draw(
            st.one_of(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0]), st.floats(0.0, 10.0))
        ),
        "depth_exponent": draw(st.one_of(st.just(1.16), st.floats(0.5, 2.0))),
        "daily_volume_usd": draw(
            st.one_of(st.none(), st.floats(1e6, 1e11), st.sampled_from([5e9, 0.0]))
        ),
        "daily_volatility": draw(st.one_of(st.none(), st.floats(1e-3, 0.2), st.just(0.03))),
    }
    # Every params key is optional; bin_bps and max_bins are always given to keep K small.
    params = {
        key: value
        for key, value in candidates.items()
        if key in ("bin_bps", "max_bins") or draw(st.integers(0, 3)) > 0
    }
    bids = book(-1)
    asks = book(+1)
    # Empty books more often than chance, to exercise the square-root law and null sides.
    if draw(st.integers(0, 4)) == 0:
        bids = []
    if draw(st.integers(0, 4)) == 0:
        asks = []
    if draw(st.integers(0, 9)) == 0:
        params["max_bins"] = float(max_bins)  # an integral float is an integer too
    return {
        "price": price,
        "long_levels": fuel(-1),
        "short_levels": fuel(+1),
        "bids": bids,
        "asks": asks,
        "params": params,
    }


CROSSCHECK_SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _record_coverage(doc: dict[str, Any], want: dict[str, Any]) -> None:
    """Label the example for `--hypothesis-show-statistics`."""
    for side in ("down", "up"):
        model = side_model(doc, side)
        out = want[side]
        if model is None:
            event(f"{side}: unavailable")
            continue
        event(f"{side}: {'square-root law' if model.k_obs is None else 'book'}")
        event(f"{side}: critical {'null' if out['critical_shock_pct'] is None else 'found'}")
        if out["runaway_at_critical"]:
            event(f"{side}: runaway at critical")
        if any(out["runaway"].values()):
            event(f"{side}: runaway at a shock key")


@CROSSCHECK_SETTINGS
@given(estimate_docs())
def test_production_matches_reference(doc: dict[str, Any]) -> None:
    assume(not _is_fragile(doc))
    want = reference_estimate(doc)
    _record_coverage(doc, want)
    assert_matches(production_evaluate(doc), want)


@PROPERTY_SETTINGS
@given(estimate_docs(bin_bps_choices=(2.5, 3, 7, 7.5, 20, 30, 40, 75, 100, 200, 250, 400)))
def test_production_matches_reference_odd_bin_widths(doc: dict[str, Any]) -> None:
    """Half-to-even rounding of shock/within keys, and k0 = 0 for very wide bins."""
    assume(not _is_fragile(doc))
    assert_matches(production_evaluate(doc), reference_estimate(doc))


# ---- properties of the production function ----------------------------------------------

SHOCK_ORDER = ("1", "2", "3", "5")


def _critical(side_out: dict[str, Any] | None) -> float:
    """Critical shock with "no cascade" as +∞."""
    assert side_out is not None
    value = side_out["critical_shock_pct"]
    return math.inf if value is None else value


@PROPERTY_SETTINGS
@given(estimate_docs())
def test_production_final_move_non_decreasing_in_shock(doc: dict[str, Any]) -> None:
    out = production_evaluate(doc)
    bin_bps = merged_params(doc)["bin_bps"]
    for side in ("down", "up"):
        if out[side] is None:
            continue
        moves = out[side]["final_move_pct"]
        present = tuple(key for key in SHOCK_ORDER if key in moves)
        assert present == SHOCK_ORDER[: len(present)]
        for key in present:  # k*(k0) ≥ k0
            assert moves[key] >= round(100 * float(key) / bin_bps) * bin_bps / 100 - 1e-9
        for lower, higher in itertools.pairwise(present):
            assert moves[lower] <= moves[higher] + 1e-9
            assert out[side]["runaway"][lower] <= out[side]["runaway"][higher]


@PROPERTY_SETTINGS
@given(estimate_docs(), st.data())
def test_production_more_fuel_never_raises_critical_shock(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    params = merged_params(doc)
    delta = params["bin_bps"] / 10000
    j = data.draw(st.integers(1, params["max_bins"]), label="bin")
    notional = data.draw(st.floats(1e3, 1e9), label="notional")
    frac = data.draw(st.floats(0.05, 0.95), label="frac")
    more = copy.deepcopy(doc)
    more["long_levels"].append([doc["price"] * math.exp(-(j - 1 + frac) * delta), notional])
    more["short_levels"].append([doc["price"] * math.exp((j - 1 + frac) * delta), notional])
    assume(not _is_fragile(doc) and not _is_fragile(more))
    before = production_evaluate(doc)
    after = production_evaluate(more)
    for side in ("down", "up"):
        if before[side] is None:
            assert after[side] is None
            continue
        assert _critical(after[side]) <= _critical(before[side])
        for key, move in before[side]["final_move_pct"].items():
            assert after[side]["final_move_pct"][key] >= move - 1e-9


@PROPERTY_SETTINGS
@given(estimate_docs(), st.data())
def test_production_more_depth_never_lowers_critical_shock(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    """Depth added in a bin ≤ k_obs (beyond k_obs it would replace the extrapolation)."""
    params = merged_params(doc)
    delta = params["bin_bps"] / 10000
    more = copy.deepcopy(doc)
    changed = []
    for side, book_key, direction in (("down", "bids", -1), ("up", "asks", +1)):
        model = side_model(doc, side)
        if model is None or model.k_obs is None:
            continue
        j = data.draw(st.integers(1, model.k_obs), label=f"{side} bin")
        usd = data.draw(st.floats(1e3, 1e8), label=f"{side} usd")
        frac = data.draw(st.floats(0.05, 0.95), label=f"{side} frac")
        q = doc["price"] * math.exp(direction * (j - 1 + frac) * delta)
        more[book_key].append([q, usd / q])
        changed.append(side)
    assume(changed)
    assume(not _is_fragile(doc) and not _is_fragile(more))
    before = production_evaluate(doc)
    after = production_evaluate(more)
    for side in changed:
        assert _critical(after[side]) >= _critical(before[side])
        for key, move in before[side]["final_move_pct"].items():
            assert after[side]["final_move_pct"][key] <= move + 1e-9


@PROPERTY_SETTINGS
@given(estimate_docs(), st.data())
def test_production_invariant_to_level_order(doc: dict[str, Any], data: st.DataObject) -> None:
    assume(not _is_fragile(doc))
    shuffled = copy.deepcopy(doc)
    for key in ("long_levels", "short_levels", "bids", "asks"):
        shuffled[key] = data.draw(st.permutations(doc[key]), label=key)
    assert_matches(production_evaluate(shuffled), production_evaluate(doc))
