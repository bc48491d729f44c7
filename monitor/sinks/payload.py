"""The JSON documents liqmon publishes, encoded once so every sink sends the same bytes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from monitor.core.alerts import Alert
from monitor.core.bins import BinGrid
from monitor.engine import SCENARIO_NAMES, SIDES, MarketSnapshot

NS = 1_000_000_000


def iso_time(ts_ns: int) -> str:
    """UTC ISO-8601 with milliseconds, e.g. ``2026-11-22T10:00:00.123Z``."""
    seconds, rest = divmod(ts_ns, NS)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest // 1_000_000:03d}Z"


def alert_document(alert: Alert) -> dict[str, Any]:
    """The alert object of the MQTT topic and the webhook body."""
    return {"time": iso_time(alert.ts_ns), **alert.as_json()}


def encode(document: object) -> bytes:
    """Compact JSON; NaN never gets here (the core rejects it), orjson would write null."""
    return orjson.dumps(document)


def market_document(
    market: MarketSnapshot, ts_ns: int, level: Mapping[str, str], low_coverage: float
) -> dict[str, Any]:
    """One market's risk summary: the MQTT retained state and an `/api/v1/risk` entry.

    `level` maps side ("down", "up") to the alert state of that side; below
    `low_coverage` the figures are marked low-confidence (as alerts are).
    """
    sides: dict[str, Any] = {}
    for side in SIDES:
        side_risk = None if market.risk is None else getattr(market.risk, side)
        if side_risk is None:
            sides[side] = None
            continue
        sides[side] = {
            "alert_state": level.get(side, "none"),
            "scenarios": {
                SCENARIO_NAMES[report.scenario]: {
                    "withdrawal": report.scenario.withdrawal,
                    **report.as_json(),
                }
                for report in side_risk.reports
            },
            "clusters": [{"price": c.price, "usd": c.usd} for c in side_risk.clusters],
        }
    return {
        "time": iso_time(ts_ns),
        "ts_ns": ts_ns,
        "venue": market.venue,
        "symbol": market.symbol,
        "asset": market.asset,
        "price": market.price,
        "open_interest": market.open_interest,
        "open_interest_usd": market.open_interest_usd,
        "coverage": market.coverage,
        "low_confidence": market.coverage < low_coverage,
        "warm": market.warm,
        "stale": market.stale,
        "feed_age_s": dict(market.ages_s),
        "liquidated_usd": dict(market.liquidated_usd),
        "down": sides["down"],
        "up": sides["up"],
    }


def heatmap_document(market: MarketSnapshot, ts_ns: int, grid: BinGrid) -> dict[str, Any]:
    """Fuel per absolute price bin and side (non-empty bins only), for a heatmap image.

    Bin j (1-based) of a side holds the levels at log distance ((j-1)·δ, j·δ] from the
    price (model-spec §1), so its price range is [p·e^(-jδ), p·e^(-(j-1)δ)] below the
    price for longs ("down") and [p·e^((j-1)δ), p·e^(jδ)] above it for shorts ("up").
    """
    sides: dict[str, list[dict[str, float]]] = {}
    price = market.price
    for side, fuel in (("down", market.long_fuel), ("up", market.short_fuel)):
        bins: list[dict[str, float]] = []
        if fuel is not None and price is not None:
            sign = -1.0 if side == "down" else 1.0
            for index in np.flatnonzero(fuel):
                near = price * math.exp(sign * int(index) * grid.delta)
                far = price * math.exp(sign * (int(index) + 1) * grid.delta)
                bins.append(
                    {
                        "price_low": min(near, far),
                        "price_high": max(near, far),
                        "usd": float(fuel[index]),
                    }
                )
        sides[side] = bins
    return {
        "time": iso_time(ts_ns),
        "ts_ns": ts_ns,
        "venue": market.venue,
        "symbol": market.symbol,
        "price": price,
        "bin_bps": grid.bin_bps,
        "max_bins": grid.max_bins,
        "down": sides["down"],
        "up": sides["up"],
    }
