"""Relative log-distance bins (model-spec §1) and absorbing depth (model-spec §2).

Everything the cascade estimator consumes is a per-bin USD array indexed by log distance
from a reference price: index 0 holds bin 1, index K-1 holds bin K. Bin j covers
distances in ((j-1)·δ, j·δ]; everything at or below δ, overdue levels included, is bin 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_BIN_BPS = 10.0
DEFAULT_MAX_BINS = 300
DEFAULT_DEPTH_EXPONENT = 1.16
SQRT_LAW_Y = 0.7


class Direction(StrEnum):
    """Which way price moves: down consumes long fuel and bids, up short fuel and asks."""

    DOWN = "down"
    UP = "up"


@dataclass(frozen=True, slots=True)
class BinGrid:
    """Bin width and count; δ = bin_bps / 10 000 in natural-log distance."""

    bin_bps: float = DEFAULT_BIN_BPS
    max_bins: int = DEFAULT_MAX_BINS

    def __post_init__(self) -> None:
        if not (np.isfinite(self.bin_bps) and self.bin_bps > 0):
            msg = f"bin_bps must be a positive finite number, got {self.bin_bps!r}"
            raise ValueError(msg)
        if self.max_bins < 1:
            msg = f"max_bins must be >= 1, got {self.max_bins!r}"
            raise ValueError(msg)

    @property
    def delta(self) -> float:
        """Bin width in natural-log distance."""
        return self.bin_bps / 10_000.0

    def pct(self, bins: int) -> float:
        """Log-distance percent of a whole number of bins (k·δ·100, computed without drift)."""
        return bins * self.bin_bps / 100.0

    def bins_within_pct(self, pct: float) -> int:
        """Bins covered by "within x %": round(100·x / bin_bps), capped at K."""
        return min(self.max_bins, round(100.0 * pct / self.bin_bps))


def log_distance(reference_price: float, prices: FloatArray, direction: Direction) -> FloatArray:
    """Log distance of levels in the direction of the move: ln(p0/P) down, ln(P/p0) up."""
    if direction is Direction.DOWN:
        return np.log(reference_price / prices)
    return np.log(prices / reference_price)


def bin_index(distances: FloatArray, delta: float, max_bins: int) -> IntArray:
    """Bin j = max(1, ceil(d / δ)) for each distance; K + 1 stands for "beyond K".

    Clipping before the integer cast keeps infinite distances (an overflowed price ratio)
    from wrapping around to negative indices.
    """
    return np.clip(np.ceil(distances / delta), 1.0, max_bins + 1.0).astype(np.int64)


def binned_sum(
    reference_price: float,
    prices: FloatArray,
    usd: FloatArray,
    direction: Direction,
    grid: BinGrid,
) -> FloatArray:
    """Sum USD amounts into bins 1..K; levels with P <= 0, USD <= 0 or j > K are dropped."""
    keep = (prices > 0.0) & (usd > 0.0)
    if not keep.all():
        prices, usd = prices[keep], usd[keep]
    bins = bin_index(log_distance(reference_price, prices, direction), grid.delta, grid.max_bins)
    inside = bins <= grid.max_bins
    summed = np.bincount(bins[inside] - 1, weights=usd[inside], minlength=grid.max_bins)
    return summed.astype(np.float64, copy=False)


@dataclass(frozen=True, slots=True)
class BookIncrements:
    """Depth increments Δ_j (USD) of one book side, and the highest bin holding a level."""

    increments: FloatArray
    observed_bins: int


def book_increments(
    reference_price: float,
    prices: FloatArray,
    sizes: FloatArray,
    direction: Direction,
    grid: BinGrid,
) -> BookIncrements | None:
    """Bin one side of a book (bids for DOWN, asks for UP); None when the side is empty.

    Levels with size 0 (or a non-positive price) are ignored. A level beyond K still
    counts for k_obs (as K + 1), so depth inside the grid is then fully observed.
    """
    keep = (sizes > 0.0) & (prices > 0.0)
    if not keep.any():
        return None
    prices, sizes = prices[keep], sizes[keep]
    bins = bin_index(log_distance(reference_price, prices, direction), grid.delta, grid.max_bins)
    inside = bins <= grid.max_bins
    increments = np.bincount(
        bins[inside] - 1, weights=prices[inside] * sizes[inside], minlength=grid.max_bins
    )
    return BookIncrements(
        increments=increments.astype(np.float64, copy=False), observed_bins=int(bins.max())
    )


def observed_depth(book: BookIncrements, grid: BinGrid, exponent: float) -> FloatArray:
    """Cumulative depth D(1..K); past k_obs, D(k) = D(k_obs)·(k/k_obs)^κ."""
    depth = np.cumsum(book.increments)
    k_obs = book.observed_bins
    if k_obs < grid.max_bins:
        k = np.arange(k_obs + 1, grid.max_bins + 1, dtype=np.float64)
        depth[k_obs:] = depth[k_obs - 1] * (k / k_obs) ** exponent
    return depth


def sqrt_law_depth(
    daily_volume_usd: float, daily_volatility: float, grid: BinGrid, y: float = SQRT_LAW_Y
) -> FloatArray:
    """Square-root-law depth for a side with no book: D(k) = V_d·(kδ / (Y·σ_d))²."""
    k = np.arange(1, grid.max_bins + 1, dtype=np.float64)
    return daily_volume_usd * (k * grid.delta / (y * daily_volatility)) ** 2
