"""The numbers of a backtest, as pure functions over polars frames (no I/O, no clock).

Inputs, one frame each (times are integer ns on the replay's simulated clock):

- the liquidation **tape**: `ts_ns, venue, symbol, side, usd`; `side` is the side of the
  *move* that liquidates (`down` = longs liquidated, `up` = shorts), as alerts name it;
- the **alerts**: `ts_ns, venue, symbol, side, severity` (only `warning` and `critical`
  announce risk; the other severities are ignored);
- the heatmap **snapshots**: `ts_ns, venue, symbol, price`, one row per snapshot of a
  venue market, and their **bins**: `ts_ns, venue, symbol, side, price_low, price_high,
  usd`, one row per non-empty fuel bin (the `/api/v1/heatmap` bins, exploded);
- the **marks**: `ts_ns, venue, symbol, price`.

Definitions (the report repeats them with the parameter values used):

- windows: time is cut into windows of `window_ns` aligned on multiples of it (UTC); each
  window of a market and side holds the liquidated USD whose time falls into it (0 if none);
- **burst**: a run of consecutive windows whose USD is above the threshold
  max(`multiple` × median of the `trailing_windows` windows before it, `min_usd`); windows
  before the first one of the period are not known, so early medians use fewer windows
  (the first window's threshold is `min_usd`). A burst's **onset** is the time of its
  first liquidation, its **end** the end of its last window;
- a burst is **caught** when a warning or critical alert of the same market and side fired
  in [onset − `lookback_ns`, onset]; its **lead time** is onset minus the earliest such
  alert; otherwise it is **missed**;
- an alert is a **false alarm** when no burst of its market and side has its onset in
  [alert, alert + `lookback_ns`] or is in progress at the alert (onset ≤ alert < end);
  false alarms per day = false alarms / length of the period in days;
- **realisation ratio** (per venue market and side): between consecutive heatmap
  snapshots k and k+1 the mark runs from its low to its high (marks in (t_k, t_k+1] and
  the price of snapshot k+1). The fuel *crossed* is the snapshot-k fuel between the
  snapshot's price and that low (side `down`) or high (side `up`), a bin counted by the
  share of its log-price width that was crossed. The ratio is the liquidated USD of the
  tape in the intervals that crossed fuel, divided by the fuel crossed in them. It is the
  share of the modelled fuel that showed up as liquidations (1 = the ledger's levels were
  all there and all liquidated; a sampled feed such as Binance's makes it a lower bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

NS = 1_000_000_000
DAY_NS = 86_400 * NS
MARKET = ("venue", "symbol")
KEYS = ("venue", "symbol", "side")
RISK_SEVERITIES = ("warning", "critical")
SIDE_OF_POSITION = {"long": "down", "short": "up"}
"""A liquidated long is the fuel of a move down; a short of a move up."""

TAPE_SCHEMA = pl.Schema(
    {
        "ts_ns": pl.Int64,
        "venue": pl.String,
        "symbol": pl.String,
        "side": pl.String,
        "usd": pl.Float64,
    }
)
ALERT_SCHEMA = pl.Schema(
    {
        "ts_ns": pl.Int64,
        "venue": pl.String,
        "symbol": pl.String,
        "side": pl.String,
        "severity": pl.String,
    }
)
BIN_SCHEMA = pl.Schema(
    {
        "ts_ns": pl.Int64,
        "venue": pl.String,
        "symbol": pl.String,
        "side": pl.String,
        "price_low": pl.Float64,
        "price_high": pl.Float64,
        "usd": pl.Float64,
    }
)
PRICE_SCHEMA = pl.Schema(
    {
        "ts_ns": pl.Int64,
        "venue": pl.String,
        "symbol": pl.String,
        "price": pl.Float64,
    }
)


@dataclass(frozen=True, slots=True)
class BurstParams:
    """What counts as a burst and how far alerts and bursts are matched."""

    window_ns: int = 300 * NS
    multiple: float = 5.0
    trailing_windows: int = 288  # 24 h of 5-min windows
    min_usd: float = 100_000.0
    lookback_ns: int = 3_600 * NS

    def __post_init__(self) -> None:
        if self.window_ns <= 0 or self.lookback_ns < 0 or self.trailing_windows < 1:
            msg = "window > 0, lookback >= 0 and at least one trailing window are needed"
            raise ValueError(msg)
        if not (math.isfinite(self.multiple) and self.multiple > 0):
            msg = f"the burst multiple must be a finite number > 0, not {self.multiple!r}"
            raise ValueError(msg)
        if not (math.isfinite(self.min_usd) and self.min_usd >= 0):
            msg = f"the burst floor must be a finite USD amount >= 0, not {self.min_usd!r}"
            raise ValueError(msg)


# ---------------------------------------------------------------------- bursts


def liquidation_windows(
    tape: pl.DataFrame, params: BurstParams, start_ns: int, end_ns: int
) -> pl.DataFrame:
    """Liquidated USD per window, with the trailing median, threshold and burst flag.

    Every window of [start_ns, end_ns] is present for each market and side of the tape;
    `first_ns` is the time of the window's first liquidation (null in an empty window).
    """
    window = params.window_ns
    first, last = start_ns // window, end_ns // window
    sums = (
        tape.filter(pl.col("ts_ns").is_between(start_ns, end_ns))
        .with_columns((pl.col("ts_ns") // window).alias("window"))
        .group_by([*KEYS, "window"])
        .agg(pl.col("usd").sum(), pl.col("ts_ns").min().alias("first_ns"))
    )
    grid = (
        tape.select(KEYS)
        .unique()
        .join(pl.DataFrame({"window": pl.int_range(first, last + 1, eager=True)}), how="cross")
    )
    return (
        grid.join(sums, on=[*KEYS, "window"], how="left")
        .with_columns(pl.col("usd").fill_null(0.0))
        .sort([*KEYS, "window"])
        .with_columns(
            pl.col("usd")
            .shift(1)
            .rolling_median(window_size=params.trailing_windows, min_samples=1)
            .over(KEYS)
            .alias("trailing_median")
        )
        .with_columns(
            pl.max_horizontal(
                pl.col("trailing_median").fill_null(0.0) * params.multiple,
                pl.lit(params.min_usd),
            ).alias("threshold"),
            (pl.col("window") * window).alias("start_ns"),
        )
        .with_columns((pl.col("usd") > pl.col("threshold")).alias("burst"))
    )


def find_bursts(windows: pl.DataFrame, params: BurstParams) -> pl.DataFrame:
    """Runs of burst windows: `venue, symbol, side, onset_ns, end_ns, usd, windows, peak_usd`."""
    runs = (
        windows.with_columns(
            (pl.col("burst") != pl.col("burst").shift(1).fill_null(value=False))
            .cum_sum()
            .over(KEYS)
            .alias("run")
        )
        .filter(pl.col("burst"))
        .group_by([*KEYS, "run"])
        .agg(
            pl.col("first_ns").min().alias("onset_ns"),
            (pl.col("start_ns").max() + params.window_ns).alias("end_ns"),
            pl.col("usd").sum(),
            pl.len().alias("windows"),
            pl.col("usd").max().alias("peak_usd"),
        )
    )
    return runs.select(*KEYS, "onset_ns", "end_ns", "usd", "windows", "peak_usd").sort(
        [*KEYS, "onset_ns"]
    )


# ---------------------------------------------------------------------- alerts


def risk_alerts(alerts: pl.DataFrame) -> pl.DataFrame:
    """Only the alerts that announce risk (warning, critical), in time order."""
    return alerts.filter(pl.col("severity").is_in(RISK_SEVERITIES)).sort(["ts_ns", *KEYS])


def match_bursts(bursts: pl.DataFrame, alerts: pl.DataFrame, lookback_ns: int) -> pl.DataFrame:
    """Each burst with its first alert in the lookback: `first_alert_ns`, `lead_ns`, `lead_s`."""
    before = (
        bursts.join(risk_alerts(alerts), on=KEYS, how="inner")
        .filter(pl.col("ts_ns").is_between(pl.col("onset_ns") - lookback_ns, pl.col("onset_ns")))
        .sort("ts_ns")
        .group_by([*KEYS, "onset_ns"])
        .agg(
            pl.col("ts_ns").first().alias("first_alert_ns"),
            pl.col("severity").first().alias("first_severity"),
            pl.len().alias("alerts_before"),
        )
    )
    return (
        bursts.join(before, on=[*KEYS, "onset_ns"], how="left")
        .with_columns(
            pl.col("first_alert_ns").is_not_null().alias("caught"),
            (pl.col("onset_ns") - pl.col("first_alert_ns")).alias("lead_ns"),
            ((pl.col("onset_ns") - pl.col("first_alert_ns")) / NS).alias("lead_s"),
            pl.col("alerts_before").fill_null(0),
        )
        .sort([*KEYS, "onset_ns"])
    )


def classify_alerts(alerts: pl.DataFrame, bursts: pl.DataFrame, lookback_ns: int) -> pl.DataFrame:
    """The risk alerts with `false_alarm`: no burst followed within the lookback or was on."""
    chosen = risk_alerts(alerts).with_row_index("alert")
    followed = (
        chosen.join(bursts.select(*KEYS, "onset_ns", "end_ns"), on=KEYS, how="inner")
        .filter(
            pl.col("onset_ns").is_between(pl.col("ts_ns"), pl.col("ts_ns") + lookback_ns)
            | ((pl.col("onset_ns") <= pl.col("ts_ns")) & (pl.col("ts_ns") < pl.col("end_ns")))
        )
        .select("alert")
        .unique()
        .with_columns(pl.lit(value=False).alias("false_alarm"))
    )
    return (
        chosen.join(followed, on="alert", how="left")
        .with_columns(pl.col("false_alarm").fill_null(value=True))
        .drop("alert")
    )


# ---------------------------------------------------------------------- realisation


def realisation(
    snapshots: pl.DataFrame, bins: pl.DataFrame, marks: pl.DataFrame, tape: pl.DataFrame
) -> pl.DataFrame:
    """Per venue market and side: fuel crossed between snapshots and what was liquidated.

    Columns `venue, symbol, side, intervals, crossing_intervals, fuel_crossed_usd,
    liquidated_usd` (in the crossing intervals), `liquidated_elsewhere_usd` (in intervals
    that crossed no fuel) and `ratio` (null when no fuel was crossed).
    """
    rows: list[dict[str, Any]] = []
    ordered = snapshots.unique().sort([*MARKET, "ts_ns"])
    for (venue, symbol), times in ordered.group_by(MARKET, maintain_order=True):
        market = (pl.col("venue") == venue) & (pl.col("symbol") == symbol)
        ts = times["ts_ns"].to_numpy()
        prices = times["price"].to_numpy()
        low, high = _price_range(ts, prices, marks.filter(market))
        fuel_bins = bins.filter(market)
        for side in ("down", "up"):
            crossed = _crossed_fuel(ts, low if side == "down" else high, fuel_bins, side)
            liquidated = _liquidated(ts, tape.filter(market & (pl.col("side") == side)))
            crossing = crossed > 0
            fuel = float(crossed.sum())
            rows.append(
                {
                    "venue": venue,
                    "symbol": symbol,
                    "side": side,
                    "intervals": len(crossed),
                    "crossing_intervals": int(crossing.sum()),
                    "fuel_crossed_usd": fuel,
                    "liquidated_usd": float(liquidated[crossing].sum()),
                    "liquidated_elsewhere_usd": float(liquidated[~crossing].sum()),
                    "ratio": float(liquidated[crossing].sum()) / fuel if fuel > 0 else None,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "venue": pl.String,
            "symbol": pl.String,
            "side": pl.String,
            "intervals": pl.Int64,
            "crossing_intervals": pl.Int64,
            "fuel_crossed_usd": pl.Float64,
            "liquidated_usd": pl.Float64,
            "liquidated_elsewhere_usd": pl.Float64,
            "ratio": pl.Float64,
        },
    )


def _interval_of(ts: np.ndarray[Any, Any], times: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Interval k = (ts[k], ts[k+1]] of each time; -1 or len(ts)-1 fall outside."""
    return np.searchsorted(ts, times, side="left") - 1


def _price_range(
    ts: np.ndarray[Any, Any], prices: np.ndarray[Any, Any], marks: pl.DataFrame
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Low and high of the mark over each interval, the next snapshot's price included."""
    low = prices[1:].astype(np.float64)
    high = low.copy()
    index = _interval_of(ts, marks["ts_ns"].to_numpy())
    inside = (index >= 0) & (index < len(ts) - 1)
    values = marks["price"].to_numpy()[inside]
    np.minimum.at(low, index[inside], values)
    np.maximum.at(high, index[inside], values)
    return low, high


def _crossed_fuel(
    ts: np.ndarray[Any, Any], reach: np.ndarray[Any, Any], bins: pl.DataFrame, side: str
) -> np.ndarray[Any, Any]:
    """USD of snapshot k's `side` fuel between its price and `reach[k]`, per interval."""
    crossed = np.zeros(max(len(ts) - 1, 0))
    chosen = bins.filter(pl.col("side") == side)
    index = np.searchsorted(ts, chosen["ts_ns"].to_numpy())  # the snapshot of each bin
    keep = index < len(ts) - 1
    index = index[keep]
    lo = np.log(chosen["price_low"].to_numpy()[keep])
    hi = np.log(chosen["price_high"].to_numpy()[keep])
    target = np.log(reach[index])
    reached = hi - target if side == "down" else target - lo
    share = np.clip(reached / (hi - lo), 0.0, 1.0)
    np.add.at(crossed, index, share * chosen["usd"].to_numpy()[keep])
    return crossed


def _liquidated(ts: np.ndarray[Any, Any], tape: pl.DataFrame) -> np.ndarray[Any, Any]:
    """Liquidated USD of the tape per interval (ts[k], ts[k+1]]."""
    total = np.zeros(max(len(ts) - 1, 0))
    index = _interval_of(ts, tape["ts_ns"].to_numpy())
    inside = (index >= 0) & (index < len(ts) - 1)
    np.add.at(total, index[inside], tape["usd"].to_numpy()[inside])
    return total


# ---------------------------------------------------------------------- everything


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every number of a report, as frames."""

    start_ns: int
    end_ns: int
    params: BurstParams
    windows: pl.DataFrame
    bursts: pl.DataFrame  # match_bursts
    alerts: pl.DataFrame  # classify_alerts
    realisation: pl.DataFrame
    summary: pl.DataFrame  # one row per market and side

    @property
    def days(self) -> float:
        """Length of the period in days."""
        return max(self.end_ns - self.start_ns, 1) / DAY_NS


def evaluate(
    tape: pl.DataFrame,
    alerts: pl.DataFrame,
    *,
    snapshots: pl.DataFrame,
    bins: pl.DataFrame,
    marks: pl.DataFrame,
    params: BurstParams,
    start_ns: int,
    end_ns: int,
) -> Evaluation:
    """Bursts, lead times, misses, false alarms and realisation ratios of one period."""
    windows = liquidation_windows(tape, params, start_ns, end_ns)
    bursts = match_bursts(find_bursts(windows, params), alerts, params.lookback_ns)
    classified = classify_alerts(alerts, bursts, params.lookback_ns)
    ratios = realisation(snapshots, bins, marks, tape)
    days = max(end_ns - start_ns, 1) / DAY_NS
    markets = pl.concat(
        [frame.select(KEYS) for frame in (tape, classified, ratios)], how="vertical"
    ).unique()
    per_burst = bursts.group_by(KEYS).agg(
        pl.len().alias("bursts"),
        pl.col("caught").sum().alias("caught"),
        pl.col("lead_s").median().alias("median_lead_s"),
        pl.col("usd").sum().alias("burst_usd"),
    )
    per_alert = classified.group_by(KEYS).agg(
        pl.len().alias("alerts"), pl.col("false_alarm").sum().alias("false_alarms")
    )
    liquidated = tape.filter(pl.col("ts_ns").is_between(start_ns, end_ns)).group_by(KEYS)
    summary = (
        markets.join(
            liquidated.agg(pl.col("usd").sum().alias("liquidated_usd")), on=KEYS, how="left"
        )
        .join(per_burst, on=KEYS, how="left")
        .join(per_alert, on=KEYS, how="left")
        .join(ratios.select(*KEYS, "fuel_crossed_usd", "ratio"), on=KEYS, how="left")
        .with_columns(
            pl.col("liquidated_usd", "burst_usd").fill_null(0.0),
            pl.col("bursts", "caught", "alerts", "false_alarms").fill_null(0).cast(pl.Int64),
        )
        .with_columns(
            (pl.col("bursts") - pl.col("caught")).alias("missed"),
            (pl.col("false_alarms") / days).alias("false_alarms_per_day"),
        )
        .sort(KEYS)
    )
    return Evaluation(
        start_ns=start_ns,
        end_ns=end_ns,
        params=params,
        windows=windows,
        bursts=bursts,
        alerts=classified,
        realisation=ratios,
        summary=summary,
    )
