"""The `liqmon estimate` JSON contract (model-spec §4): validate a document, evaluate it.

Pure: takes the parsed JSON value, returns the output object. Every way the input can be
wrong raises `InputError` with a one-line message that names the offending key, so the
CLI can print it and exit 2 without having printed anything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.core.bins import (
    DEFAULT_BIN_BPS,
    DEFAULT_DEPTH_EXPONENT,
    DEFAULT_MAX_BINS,
    BinGrid,
    Direction,
    FloatArray,
    binned_sum,
    book_increments,
    observed_depth,
    sqrt_law_depth,
)
from monitor.core.cascade import DEFAULT_JUMP_THRESHOLD_PCT, DEFAULT_MAX_SHOCK_BINS, Scenario
from monitor.core.risk import SHOCKS_PCT, WITHIN_PCT, side_report
from monitor.errors import InputError

MAX_BINS_LIMIT = 100_000
"""Bins per side we accept: far past any useful range, and bounded so memory stays small."""

TOP_LEVEL_KEYS = ("price", "long_levels", "short_levels", "bids", "asks", "params")
PARAM_DOCS: Mapping[str, str] = {
    "bin_bps": "bin width in basis points of log distance (default 10)",
    "max_bins": "bins per side K, an integer in 1..100000 (default 300, i.e. 30 %)",
    "max_shock_bins": "largest initial shock K0 in bins, an integer >= 1 (default 200)",
    "withdrawal": "depth withdrawal W in (0, 1]: share of displayed depth that stays (default 1)",
    "psi": "share ψ in (0, 1] of liquidated notional that hits the book (default 1)",
    "jump_threshold_pct": "endogenous jump in % that makes a shock critical, >= 0 (default 0.5)",
    "depth_exponent": "κ > 0 for extrapolating depth beyond the deepest level (default 1.16)",
    "daily_volume_usd": "24 h traded USD >= 0 for the square-root law, or null (default null)",
    "daily_volatility": "daily volatility > 0 (a fraction) for the square-root law, or null",
}


@dataclass(frozen=True, slots=True)
class EstimateParams:
    """Validated `params` of an estimate document."""

    grid: BinGrid
    max_shock_bins: int
    scenario: Scenario
    jump_threshold_pct: float
    depth_exponent: float
    daily_volume_usd: float | None
    daily_volatility: float | None


@dataclass(frozen=True, slots=True)
class EstimateInput:
    """A validated estimate document, levels as float64 arrays."""

    price: float
    long_levels: FloatArray
    short_levels: FloatArray
    bids: FloatArray
    asks: FloatArray
    params: EstimateParams


def _number(value: object, where: str) -> float:
    """A finite JSON number; bools are not numbers even though Python thinks so."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{where} must be a number, got {type(value).__name__}"
        raise InputError(msg)
    try:
        number = float(value)
    except OverflowError as exc:  # JSON integers have no size limit; floats do
        msg = f"{where} is too large for a double"
        raise InputError(msg) from exc
    if not math.isfinite(number):
        msg = f"{where} must be finite, got {value!r}"
        raise InputError(msg)
    return number


def _integer(value: object, where: str) -> int:
    number = _number(value, where)
    if not number.is_integer():
        msg = f"{where} must be an integer, got {value!r}"
        raise InputError(msg)
    return int(number)


def _levels(document: Mapping[str, object], key: str, size_name: str) -> FloatArray:
    raw = document.get(key, [])
    if not isinstance(raw, list):
        msg = f"{key} must be a list of [price, {size_name}] pairs"
        raise InputError(msg)
    levels = np.empty((len(raw), 2), dtype=np.float64)
    for i, level in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(level, list) or len(level) != 2:
            msg = f"{where} must be a [price, {size_name}] pair"
            raise InputError(msg)
        levels[i, 0] = _number(level[0], f"{where} price")
        levels[i, 1] = _number(level[1], f"{where} {size_name}")
        if levels[i, 1] < 0.0:
            msg = f"{where} {size_name} must not be negative, got {level[1]!r}"
            raise InputError(msg)
    return levels


_LARGEST_REPORTED_PCT = max(float(x) for x in (*SHOCKS_PCT, *WITHIN_PCT))
"""The farthest distance the report gives (`risk.SHOCKS_PCT`, `risk.WITHIN_PCT`)."""


def _params(raw: object) -> EstimateParams:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        msg = "params must be an object"
        raise InputError(msg)
    unknown = sorted(set(raw) - set(PARAM_DOCS))
    if unknown:
        msg = f"unknown params key(s): {', '.join(unknown)}"
        raise InputError(msg)

    def number(key: str, default: float) -> float:
        return _number(raw.get(key, default), f"params.{key}")

    def optional(key: str) -> float | None:
        value = raw.get(key)
        return None if value is None else _number(value, f"params.{key}")

    bin_bps = number("bin_bps", DEFAULT_BIN_BPS)
    max_bins = _integer(raw.get("max_bins", DEFAULT_MAX_BINS), "params.max_bins")
    max_shock = _integer(raw.get("max_shock_bins", DEFAULT_MAX_SHOCK_BINS), "params.max_shock_bins")
    withdrawal = number("withdrawal", 1.0)
    psi = number("psi", 1.0)
    jump = number("jump_threshold_pct", DEFAULT_JUMP_THRESHOLD_PCT)
    exponent = number("depth_exponent", DEFAULT_DEPTH_EXPONENT)
    volume = optional("daily_volume_usd")
    volatility = optional("daily_volatility")

    checks = (
        (bin_bps > 0.0, "params.bin_bps must be > 0"),
        # The report's distances in bins, round(100·x / bin_bps), must be finite numbers.
        (
            bin_bps <= 0.0 or math.isfinite(100.0 * _LARGEST_REPORTED_PCT / bin_bps),
            "params.bin_bps is too small",
        ),
        (1 <= max_bins <= MAX_BINS_LIMIT, f"params.max_bins must be in 1..{MAX_BINS_LIMIT}"),
        (max_shock >= 1, "params.max_shock_bins must be >= 1"),
        (0.0 < withdrawal <= 1.0, "params.withdrawal must be in (0, 1]"),
        (0.0 < psi <= 1.0, "params.psi must be in (0, 1]"),
        (jump >= 0.0, "params.jump_threshold_pct must be >= 0"),
        (exponent > 0.0, "params.depth_exponent must be > 0"),
        (volume is None or volume >= 0.0, "params.daily_volume_usd must be >= 0"),
        (volatility is None or volatility > 0.0, "params.daily_volatility must be > 0"),
    )
    for ok, message in checks:
        if not ok:
            raise InputError(message)
    return EstimateParams(
        grid=BinGrid(bin_bps=bin_bps, max_bins=max_bins),
        max_shock_bins=max_shock,
        scenario=Scenario(withdrawal=withdrawal, psi=psi),
        jump_threshold_pct=jump,
        depth_exponent=exponent,
        daily_volume_usd=volume,
        daily_volatility=volatility,
    )


def parse_input(document: object) -> EstimateInput:
    """Validate a parsed JSON value against the §4 input contract."""
    if not isinstance(document, dict):
        msg = "input must be a JSON object"
        raise InputError(msg)
    unknown = sorted(set(document) - set(TOP_LEVEL_KEYS))
    if unknown:
        msg = f"unknown key(s): {', '.join(unknown)}"
        raise InputError(msg)
    if document.get("price") is None:
        msg = "price is required"
        raise InputError(msg)
    price = _number(document["price"], "price")
    if price <= 0.0:
        msg = f"price must be > 0, got {document['price']!r}"
        raise InputError(msg)
    return EstimateInput(
        price=price,
        long_levels=_levels(document, "long_levels", "usd_notional"),
        short_levels=_levels(document, "short_levels", "usd_notional"),
        bids=_levels(document, "bids", "base_size"),
        asks=_levels(document, "asks", "base_size"),
        params=_params(document.get("params")),
    )


def side_depth(
    price: float, book: FloatArray, direction: Direction, params: EstimateParams
) -> FloatArray | None:
    """Cumulative depth D(1..K) as displayed, or None when it is unavailable (§2)."""
    increments = book_increments(price, book[:, 0], book[:, 1], direction, params.grid)
    if increments is not None:
        return observed_depth(increments, params.grid, params.depth_exponent)
    if params.daily_volume_usd is None or params.daily_volatility is None:
        return None
    return sqrt_law_depth(params.daily_volume_usd, params.daily_volatility, params.grid)


def evaluate(document: object) -> dict[str, Any]:
    """Evaluate one estimate document; raises InputError on malformed input.

    Finite inputs can still overflow (a price of 1e300 times a size of 1e300): such a
    document is out of domain, reported like any other bad input rather than printed
    with infinities in it.
    """
    data = parse_input(document)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        output = _evaluate(data)
    if not _all_finite(output):
        msg = "numbers too large: the estimate overflows double precision"
        raise InputError(msg)
    return output


def _all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    return True


def _evaluate(data: EstimateInput) -> dict[str, Any]:
    grid = data.params.grid
    output: dict[str, Any] = {}
    errors: dict[str, str] = {}
    sides = (
        (Direction.DOWN, data.long_levels, data.bids, "bids"),
        (Direction.UP, data.short_levels, data.asks, "asks"),
    )
    for direction, levels, book, book_name in sides:
        depth = side_depth(data.price, book, direction, data.params)
        if depth is None:
            output[direction.value] = None
            errors[direction.value] = (
                f"no {book_name} and no daily_volume_usd/daily_volatility: depth unavailable"
            )
            continue
        fuel = binned_sum(data.price, levels[:, 0], levels[:, 1], direction, grid)
        report = side_report(
            depth,
            fuel,
            grid,
            data.params.scenario,
            max_shock_bins=data.params.max_shock_bins,
            jump_threshold_pct=data.params.jump_threshold_pct,
        )
        output[direction.value] = report.as_json()
    if errors:
        output["errors"] = errors
    return output
