"""Independent, deliberately naive reference implementation of model-spec §1–§4.

This module exists only to cross-check the production estimator
(`monitor.core.contract.evaluate`).  It was written from
`shared/reference/model-spec.md` alone, without reading `monitor/core/`, and it favours
readability over speed: plain Python lists, plain loops, no numpy, and every formula spelled
the way the spec spells it.

Conventions (spec §1–§4 plus the team's decisions on the points the spec leaves open):

* δ = bin_bps / 10 000, K = max_bins, K0 = min(max_shock_bins, K).
* Arrays are indexed by bin number; index 0 is "no bins" so that D(0) = L(0) = 0.
* Fuel bin of a long level P: d = ln(p0 / P); short: d = ln(P / p0); j = max(1, ceil(d / δ)).
  Book bin of a bid q: u = ln(p0 / q); ask: u = ln(q / p0); same ceil rule.
* Levels with P ≤ 0 or notional == 0 are dropped; book levels with size 0 or price ≤ 0 are
  ignored; fuel in bins j > K is dropped; book levels in bins j > K still count for k_obs.
* For k > k_obs the depth is D(k_obs) · (k / k_obs)^κ.  A side with no usable book level uses
  the square-root law D(k) = V_d · (k δ / (Y σ_d))² if both V_d and σ_d are given, otherwise
  the side is unavailable (null, with an entry in the top-level "errors").
* A shock or a "within" figure of x % is round(100 · x / bin_bps) bins (Python's round, half
  to even); "within" is capped at K; a shock whose k0 > K is left out.
* Percent outputs are k · bin_bps / 100.
* The input is assumed to be valid (the CLI rejects invalid input before this point).
"""

# The spec's symbols (K, K0, D, L, W) are kept as written there, so that every line can be
# compared with model-spec.md by eye.
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Spec §4 defaults for every optional `params` key.
DEFAULT_PARAMS: dict[str, Any] = {
    "bin_bps": 10,
    "max_bins": 300,
    "max_shock_bins": 200,
    "withdrawal": 1.0,
    "psi": 1.0,
    "jump_threshold_pct": 0.5,
    "depth_exponent": 1.16,
    "daily_volume_usd": None,
    "daily_volatility": None,
}

# Spec §2: Y in the square-root law.
SQRT_LAW_Y = 0.7

# Spec §3: reported branching ratio where Δ_j = 0 and ℓ_j > 0.
UNBOUNDED_BRANCHING = 1e6

# Output keys (spec §4): shocks in percent for final_move_pct/runaway, and the "within x %"
# figures for fuel and depth.
SHOCK_KEYS: tuple[tuple[str, float], ...] = (("1", 1.0), ("2", 2.0), ("3", 3.0), ("5", 5.0))
WITHIN_KEYS: tuple[tuple[str, float], ...] = (
    ("0.5", 0.5),
    ("1", 1.0),
    ("2", 2.0),
    ("5", 5.0),
    ("10", 10.0),
)
BRANCHING_WITHIN_PCT = 2.0

UNAVAILABLE_REASON = (
    "depth unavailable: no book levels and no daily_volume_usd/daily_volatility "
    "for the square-root law"
)


@dataclass
class SideModel:
    """Everything §3 needs for one side, as plain lists indexed by bin 0..K."""

    K: int
    W: float
    psi: float
    ell: list[float]  # ℓ_j, fuel notional in bin j (ell[0] = 0)
    L: list[float]  # L(k) = Σ_{j ≤ k} ℓ_j (L[0] = 0)
    D: list[float]  # D(k), un-withdrawn depth, after extrapolation (D[0] = 0)
    k_obs: int | None  # highest bin holding a book level; None if the sqrt law is used


def merged_params(doc: dict[str, Any]) -> dict[str, Any]:
    """Return the `params` of `doc` with the spec's defaults filled in."""
    params = dict(DEFAULT_PARAMS)
    params.update(doc.get("params") or {})
    return params


def bin_of_distance(d: float, delta: float) -> int:
    """Spec §1/§2: j = max(1, ceil(d / δ))."""
    return max(1, math.ceil(d / delta))


def fuel_distance(p0: float, level_price: float, side: str) -> float:
    """Spec §1: long d = ln(p0 / P), short d = ln(P / p0)."""
    if side == "down":  # long liquidations fuel the down move
        return math.log(p0 / level_price)
    return math.log(level_price / p0)


def book_distance(p0: float, book_price: float, side: str) -> float:
    """Spec §2: bid u = ln(p0 / q), ask u = ln(q / p0)."""
    if side == "down":  # bids absorb the down move
        return math.log(p0 / book_price)
    return math.log(book_price / p0)


def fuel_per_bin(p0: float, levels: list[Any], side: str, delta: float, K: int) -> list[float]:
    """Return ℓ_0..ℓ_K (ℓ_0 = 0); levels beyond K and invalid levels are dropped."""
    ell = [0.0] * (K + 1)
    for level_price, notional in levels:
        if level_price <= 0 or notional == 0:
            continue
        j = bin_of_distance(fuel_distance(p0, level_price, side), delta)
        if j > K:
            continue
        ell[j] = ell[j] + notional
    return ell


def cumulative(values: list[float]) -> list[float]:
    """Return running sums: out[k] = values[0] + ... + values[k]."""
    out = []
    running = 0.0
    for v in values:
        running = running + v
        out.append(running)
    return out


def book_depth(
    p0: float, book: list[Any], side: str, *, delta: float, K: int, kappa: float
) -> tuple[list[float], int] | None:
    """Return (D(0..K), k_obs) from displayed book levels, or None if the book is empty."""
    increments: dict[int, float] = {}
    for book_price, size in book:
        if size == 0 or book_price <= 0:
            continue
        j = bin_of_distance(book_distance(p0, book_price, side), delta)
        increments[j] = increments.get(j, 0.0) + book_price * size
    if not increments:
        return None
    k_obs = max(increments)

    D = [0.0] * (K + 1)
    running = 0.0
    for k in range(1, min(k_obs, K) + 1):
        running = running + increments.get(k, 0.0)
        D[k] = running
    for k in range(k_obs + 1, K + 1):
        # Only reached when k_obs < K, so D[k_obs] is the observed cumulative depth.
        D[k] = D[k_obs] * (k / k_obs) ** kappa
    return D, k_obs


def sqrt_law_depth(volume: float, volatility: float, delta: float, K: int) -> list[float]:
    """Spec §2: D(k) = V_d · (k δ / (Y σ_d))² for k = 0..K."""
    return [volume * (k * delta / (SQRT_LAW_Y * volatility)) ** 2 for k in range(K + 1)]


def side_model(doc: dict[str, Any], side: str) -> SideModel | None:
    """Build the §1–§2 inputs of one side ("down" or "up"); None if depth is unavailable."""
    params = merged_params(doc)
    p0 = doc["price"]
    delta = params["bin_bps"] / 10000
    K = int(params["max_bins"])  # an integral float such as 3.0 is accepted as an integer
    if side == "down":
        levels = doc.get("long_levels") or []
        book = doc.get("bids") or []
    else:
        levels = doc.get("short_levels") or []
        book = doc.get("asks") or []

    observed = book_depth(p0, book, side, delta=delta, K=K, kappa=params["depth_exponent"])
    if observed is not None:
        D, k_obs = observed
    elif params["daily_volume_usd"] is not None and params["daily_volatility"] is not None:
        D = sqrt_law_depth(params["daily_volume_usd"], params["daily_volatility"], delta, K)
        k_obs = None
    else:
        return None

    ell = fuel_per_bin(p0, levels, side, delta, K)
    return SideModel(
        K=K,
        W=params["withdrawal"],
        psi=params["psi"],
        ell=ell,
        L=cumulative(ell),
        D=D,
        k_obs=k_obs,
    )


def absorbs(model: SideModel, k0: int, k: int) -> bool:
    """The §3 stopping condition W·D(k) ≥ W·D(k0) + ψ·L(k), literally."""
    return model.W * model.D[k] >= model.W * model.D[k0] + model.psi * model.L[k]


def final_move_bins(model: SideModel, k0: int) -> int | None:
    """Spec §3: k*(k0) = min{k : k0 ≤ k ≤ K and W·D(k) ≥ W·D(k0) + ψ·L(k)}; None = runaway."""
    for k in range(k0, model.K + 1):
        if absorbs(model, k0, k):
            return k
    return None


def jump_threshold_bins(jump_threshold_pct: float, bin_bps: float) -> int:
    """Spec §3: the jump qualifies when k* − k0 ≥ ceil(J_thr_bps / bin_bps − 1e-9)."""
    j_thr_bps = 100 * jump_threshold_pct
    return math.ceil(j_thr_bps / bin_bps - 1e-9)


def pct_bins(x_pct: float, bin_bps: float) -> int:
    """Spec §4: x % is round(100 · x / bin_bps) bins (Python round: half to even)."""
    return round(100 * x_pct / bin_bps)


def bins_to_pct(k: int, bin_bps: float) -> float:
    """Spec §1/§4: bin k is reported as k · bin_bps / 100 percent."""
    return k * bin_bps / 100


def branching_ratio(model: SideModel, j: int) -> float:
    """Spec §3: R_j = ψ·ℓ_j / (W·Δ_j), Δ_j = D(j) − D(j−1) after extrapolation."""
    if model.ell[j] == 0:
        return 0.0
    delta_j = model.D[j] - model.D[j - 1]
    if delta_j == 0:
        return UNBOUNDED_BRANCHING
    return model.psi * model.ell[j] / (model.W * delta_j)


def side_result(model: SideModel, params: dict[str, Any]) -> dict[str, Any]:
    """Return the §4 output object of one available side."""
    bin_bps = params["bin_bps"]
    K = model.K
    K0 = min(int(params["max_shock_bins"]), K)
    threshold = jump_threshold_bins(params["jump_threshold_pct"], bin_bps)

    # Critical shock: the smallest k0 in 1..K0 whose jump reaches the threshold.
    k_c = None
    runaway_at_critical = False
    for k0 in range(1, K0 + 1):
        k_star = final_move_bins(model, k0)
        if k_star is None or k_star - k0 >= threshold:
            k_c = k0
            runaway_at_critical = k_star is None
            break

    final_move_pct: dict[str, float] = {}
    runaway: dict[str, bool] = {}
    for key, x in SHOCK_KEYS:
        k0 = pct_bins(x, bin_bps)
        if k0 > K:
            continue
        k_star = final_move_bins(model, k0)
        if k_star is None:
            final_move_pct[key] = bins_to_pct(K, bin_bps)
            runaway[key] = True
        else:
            final_move_pct[key] = bins_to_pct(k_star, bin_bps)
            runaway[key] = False

    fuel_within: dict[str, float] = {}
    depth_within: dict[str, float] = {}
    for key, x in WITHIN_KEYS:
        k = min(K, pct_bins(x, bin_bps))
        fuel_within[key] = model.L[k]
        depth_within[key] = model.W * model.D[k]

    max_branching = 0.0
    for j in range(1, min(K, pct_bins(BRANCHING_WITHIN_PCT, bin_bps)) + 1):
        max_branching = max(max_branching, branching_ratio(model, j))

    return {
        "critical_shock_pct": None if k_c is None else bins_to_pct(k_c, bin_bps),
        "critical_sell_usd": None if k_c is None else model.W * model.D[k_c],
        "runaway_at_critical": runaway_at_critical,
        "final_move_pct": final_move_pct,
        "runaway": runaway,
        "fuel_usd_within_pct": fuel_within,
        "depth_usd_within_pct": depth_within,
        "max_branching_ratio_within_2pct": max_branching,
    }


def reference_estimate(doc: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one (valid, parsed) `estimate` input object and return the §4 output object."""
    params = merged_params(doc)
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for side in ("down", "up"):
        model = side_model(doc, side)
        if model is None:
            out[side] = None
            errors[side] = UNAVAILABLE_REASON
        else:
            out[side] = side_result(model, params)
    if errors:
        out["errors"] = errors
    return out
