"""PNG figures of a backtest, drawn headless with matplotlib's Agg backend.

Three per market: the fuel heatmap (time × price, CoinGlass style: fuel intensity, the
price over it, alerts and burst onsets marked), the critical shock of each side over
time with the alert thresholds, and the liquidation windows with the burst threshold.
Only drawing happens here; every number comes from `monitor.backtest.metrics`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display, no GUI toolkit: files only

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

SIDE_LABEL = {"down": "down (longs liquidated)", "up": "up (shorts liquidated)"}
SEVERITY_COLOUR = {"warning": "#ffa726", "critical": "#ff1744"}
SIDE_MARKER = {"down": "v", "up": "^"}
MAX_ROWS = 400
"""Price rows of the heatmap image at most (finer than that is not visible)."""
PRICE_MARGIN = 0.05
"""The heatmap shows the price range widened by 5 % (log) on both sides."""
DPI = 100
COLOUR_PERCENTILE = 99.0
"""The colour scale tops out at this percentile of the non-empty cells (brighter cells
saturate), so one huge cell next to the price does not leave the rest of the map black."""


def _times(ns: pl.Series | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)


def _mark_alerts(axes: Any, alerts: pl.DataFrame, y: str) -> None:
    """Alert markers: ▼ for the down side, ▲ for up, coloured by severity."""
    for (side, severity), group in alerts.group_by(["side", "severity"]):
        axes.scatter(
            _times(group["ts_ns"]),
            group[y].to_numpy(),
            marker=SIDE_MARKER[str(side)],
            color=SEVERITY_COLOUR.get(str(severity), "white"),
            edgecolors="black",
            linewidths=0.5,
            s=40,
            zorder=5,
            label=f"{severity} alert, {side}",
        )


def _raster(
    bins: pl.DataFrame, ts: np.ndarray[Any, Any], low: float, high: float, rows: int
) -> np.ndarray[Any, Any]:
    """USD per (price row, snapshot column); a bin is split over the rows it overlaps.

    Rows are equal steps of log price from `low` to `high`; each bin's USD goes to the rows
    in proportion to the share of its log-price width inside them (none is drawn twice).
    """
    grid = np.zeros((rows, len(ts)))
    scale = rows / (high - low)
    start = (np.log(bins["price_low"].to_numpy()) - low) * scale
    stop = (np.log(bins["price_high"].to_numpy()) - low) * scale
    column = np.searchsorted(ts, bins["ts_ns"].to_numpy())
    usd = bins["usd"].to_numpy()
    width = np.maximum(stop - start, 1e-12)
    span = int(np.ceil(width.max())) + 1 if len(width) else 0
    for offset in range(span):
        row = np.floor(start).astype(np.int64) + offset
        share = np.clip(np.minimum(stop, row + 1) - np.maximum(start, row), 0.0, None) / width
        inside = (row >= 0) & (row < rows) & (share > 0)
        np.add.at(grid, (row[inside], column[inside]), usd[inside] * share[inside])
    return grid


def heatmap_figure(
    path: Path,
    title: str,
    *,
    snapshots: pl.DataFrame,
    bins: pl.DataFrame,
    prices: pl.DataFrame,
    alerts: pl.DataFrame,
    bursts: pl.DataFrame,
) -> None:
    """Fuel per (snapshot time, price row), the price line, alerts and burst onsets.

    `snapshots` (`ts_ns, price`) and `bins` (`ts_ns, side, price_low, price_high, usd`)
    are one market's heatmap snapshots; `prices` (`ts_ns, price`) draws the line; alerts
    (`ts_ns, side, severity, price`) and bursts (`onset_ns, side`) are marked. Both sides'
    fuel is drawn: longs below the price, shorts above it.
    """
    figure, axes = plt.subplots(figsize=(12, 6), layout="constrained")
    axes.set_facecolor("#0b0b2b")
    ts = np.sort(snapshots["ts_ns"].unique().to_numpy())
    path_prices = prices["price"].drop_nulls().to_numpy()
    if len(ts) and len(path_prices):
        low = math.log(float(path_prices.min())) - PRICE_MARGIN
        high = math.log(float(path_prices.max())) + PRICE_MARGIN
        widths = np.log(bins["price_high"].to_numpy() / bins["price_low"].to_numpy())
        delta = float(np.median(widths)) if len(widths) else high - low
        rows = int(np.clip(math.ceil((high - low) / delta), 1, MAX_ROWS))
        edges_y = np.exp(np.linspace(low, high, rows + 1))
        grid = _raster(bins, ts, low, high, rows)
        step = int(np.median(np.diff(ts))) if len(ts) > 1 else 60 * 10**9
        edges_x = _times(np.append(ts, ts[-1] + step))
        if grid.max() > 0:
            top = float(np.percentile(grid[grid > 0], COLOUR_PERCENTILE))
            mesh = axes.pcolormesh(
                edges_x, edges_y, grid, cmap="viridis", norm=PowerNorm(0.5, vmin=0.0, vmax=top)
            )
            figure.colorbar(mesh, ax=axes, label="modelled liquidation fuel per cell (USD)")
        axes.set_ylim(edges_y[0], edges_y[-1])
        first = int(np.min(prices["ts_ns"].to_numpy(), initial=ts[0]))
        axes.set_xlim(_times(np.array([first - step // 2]))[0], edges_x[-1])
    axes.plot(
        _times(prices["ts_ns"]), prices["price"].to_numpy(), color="#ff5252", lw=1.2, label="price"
    )
    _mark_alerts(axes, alerts, "price")
    for onset in bursts["onset_ns"].to_list():
        axes.axvline(_times(np.array([onset]))[0], color="white", lw=0.8, ls="--")
    axes.set_title(title)
    axes.set_ylabel("price")
    axes.set_xlabel("time (UTC); dashed: liquidation burst onsets")
    if alerts.height:
        axes.legend(loc="upper left", fontsize="small")
    _save(figure, path)


def shock_figure(
    path: Path,
    title: str,
    *,
    risk: pl.DataFrame,
    alerts: pl.DataFrame,
    bursts: pl.DataFrame,
    thresholds: tuple[float, float],
) -> None:
    """Critical shock per side and scenario over time, with the warning/critical lines.

    `risk` holds one market's `--risk-out` rows; a missing value (no cascade within the
    shock range) leaves a gap. Bursts are shaded on their side's panel.
    """
    warning, critical = thresholds
    figure, panels = plt.subplots(2, 1, figsize=(12, 6), sharex=True, layout="constrained")
    for axes, side in zip(panels, ("down", "up"), strict=True):
        rows = risk.filter(pl.col("side") == side).sort("ts_ns")
        times = _times(rows["ts_ns"])
        if rows["critical_shock_pct_displayed"].null_count() == rows.height:
            axes.text(
                0.5,
                0.5,
                "no critical shock in this period (no cascade within range, no book, or stale)",
                transform=axes.transAxes,
                ha="center",
            )
        for scenario, style in (
            ("displayed", "-"),
            ("stressed_median", "--"),
            ("stressed_p90", ":"),
        ):
            values = rows[f"critical_shock_pct_{scenario}"].to_numpy()
            axes.plot(times, values, ls=style, lw=1.0, label=scenario)
        axes.axhline(warning, color=SEVERITY_COLOUR["warning"], lw=0.8, label="warning")
        axes.axhline(critical, color=SEVERITY_COLOUR["critical"], lw=0.8, label="critical")
        for onset, end in bursts.filter(pl.col("side") == side).select("onset_ns", "end_ns").rows():
            axes.axvspan(*_times(np.array([onset, end])), color="grey", alpha=0.3)
        chosen = alerts.filter(pl.col("side") == side).with_columns(
            pl.col("critical_shock_pct").fill_null(0.0)
        )
        _mark_alerts(axes, chosen, "critical_shock_pct")
        axes.set_ylabel(f"critical shock % ({side})")
        axes.set_ylim(bottom=0.0)
        axes.set_title(SIDE_LABEL[side], fontsize="medium", loc="left")
    if risk.height:
        panels[0].set_xlim(*_times(np.array([risk["ts_ns"].min(), risk["ts_ns"].max()])))
    panels[0].legend(loc="upper left", fontsize="small", ncol=5)
    panels[1].set_xlabel("time (UTC); shaded: liquidation bursts")
    figure.suptitle(title)
    _save(figure, path)


def liquidation_figure(path: Path, title: str, windows: pl.DataFrame) -> None:
    """Liquidated USD per window and side, the burst threshold, burst windows highlighted."""
    figure, panels = plt.subplots(2, 1, figsize=(12, 5), sharex=True, layout="constrained")
    for axes, side in zip(panels, ("down", "up"), strict=True):
        rows = windows.filter(pl.col("side") == side).sort("start_ns")
        if rows.height:
            starts = rows["start_ns"].to_numpy()
            width = (starts[1] - starts[0]) if len(starts) > 1 else 60 * 10**9
            times = _times(starts)
            colours = np.where(rows["burst"].to_numpy(), "#ff1744", "#5c6bc0")
            axes.bar(
                times,
                rows["usd"].to_numpy(),
                width=np.timedelta64(int(width), "ns"),
                align="edge",
                color=colours,
            )
            threshold = rows["threshold"].to_numpy()
            axes.step(
                _times(np.append(starts, starts[-1] + width)),
                np.append(threshold, threshold[-1]),
                where="post",
                color="black",
                lw=0.8,
            )
        axes.set_ylabel("USD per window")
        axes.set_title(SIDE_LABEL[side], fontsize="medium", loc="left")
    panels[1].set_xlabel("time (UTC); red: burst windows; line: burst threshold")
    figure.suptitle(title)
    _save(figure, path)
