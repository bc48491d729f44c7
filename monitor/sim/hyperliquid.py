"""The Hyperliquid protocol as a SIMULATED venue speaks it: greeting, acks, pong, frames.

Not real data. The shapes follow Hyperliquid's documentation examples (the same ones kept
as fixtures in tests/fixtures/hyperliquid, see SOURCES.md there); this module builds them
itself so that the installed package can serve them without the test tree:

- the plain-text greeting after the handshake;
- `subscriptionResponse` acks echoing the subscription, `{"channel":"pong"}` for
  `{"method":"ping"}`, nothing for anything else;
- `activeAssetCtx`, `l2Book` and `trades` frames for one coin;
- the REST `/info` answer to `{"type":"meta"}`: the universe (BTC, ETH and the delisted
  LOOM, which a client must skip) with the documented margin tables.

Exchange times are wall-clock milliseconds, so a client's timestamp checks pass.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any

import orjson

GREETING = "Websocket connection established."
"""The venue's first frame after the handshake: plain text, not JSON."""

FUNDING = "0.0000125"
"""Hourly funding rate shown in every simulated asset context."""

_UNIVERSE: tuple[dict[str, Any], ...] = (
    {"name": "BTC", "szDecimals": 5, "maxLeverage": 50},
    {"name": "ETH", "szDecimals": 4, "maxLeverage": 50},
    {"name": "LOOM", "szDecimals": 1, "maxLeverage": 3, "onlyIsolated": True, "isDelisted": True},
)
_MARGIN_TABLES: tuple[Any, ...] = (
    [50, {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 50}]}],
    [
        51,
        {
            "description": "tiered 10x",
            "marginTiers": [
                {"lowerBound": "0.0", "maxLeverage": 10},
                {"lowerBound": "3000000.0", "maxLeverage": 5},
            ],
        },
    ],
)


def now_ms() -> int:
    """Wall-clock time in milliseconds, as the venue stamps its frames."""
    return time.time_ns() // 1_000_000


def meta() -> dict[str, Any]:
    """The `{"type":"meta"}` answer of `/info` (a fresh copy each call)."""
    return copy.deepcopy({"universe": list(_UNIVERSE), "marginTables": list(_MARGIN_TABLES)})


def asset_ctx(coin: str, mark: float, open_interest: float) -> dict[str, Any]:
    """An `activeAssetCtx` frame as a dict: mark, oracle and mid at `mark`."""
    px = f"{mark:.1f}"
    return {
        "channel": "activeAssetCtx",
        "data": {
            "coin": coin,
            "ctx": {
                "funding": FUNDING,
                "openInterest": f"{open_interest:.3f}",
                "prevDayPx": px,
                "dayNtlVlm": "1.2e9",
                "premium": "0.0001",
                "oraclePx": px,
                "markPx": px,
                "midPx": px,
                "impactPxs": [f"{mark - 1.0:.1f}", f"{mark + 1.0:.1f}"],
                "dayBaseVlm": "17000.0",
            },
        },
    }


def book_frame(
    coin: str,
    bids: Sequence[tuple[float, float]],
    asks: Sequence[tuple[float, float]],
    time_ms: int,
    decimals: int = 1,
) -> str:
    """An `l2Book` snapshot from (price, size) levels, best first."""

    def side(levels: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
        return [{"px": f"{px:.{decimals}f}", "sz": f"{sz:.5f}", "n": 1} for px, sz in levels]

    frame = {
        "channel": "l2Book",
        "data": {"coin": coin, "time": time_ms, "levels": [side(bids), side(asks)]},
    }
    return orjson.dumps(frame).decode()


def trade_frame(coin: str, *, buy: bool, px: str, size: str, time_ms: int, tid: int) -> str:
    """A `trades` frame with one trade (`side` "B": the buyer took liquidity)."""
    trade = {
        "coin": coin,
        "side": "B" if buy else "A",
        "px": px,
        "sz": size,
        "time": time_ms,
        "hash": "0x" + f"{tid:064x}"[-64:],
        "tid": tid,
    }
    return orjson.dumps({"channel": "trades", "data": [trade]}).decode()


class Protocol:
    """Hyperliquid's side of a connection: greeting, acks, pongs, the REST meta answer."""

    venue: str = "hyperliquid"
    greeting: tuple[str, ...] = (GREETING,)
    symbols: tuple[str, ...] = ("BTC",)

    def __init__(self) -> None:
        self.rest: dict[str, Any] = {"/info": meta()}

    def replies(self, frame: str) -> list[str]:
        """Acks echo the subscription; pings get a pong; anything else gets nothing."""
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(message, dict):
            return []
        method = message.get("method")
        if method == "ping":
            return ['{"channel":"pong"}']
        subscription = message.get("subscription")
        if method in ("subscribe", "unsubscribe") and isinstance(subscription, dict):
            ack = {
                "channel": "subscriptionResponse",
                "data": {"method": method, "subscription": subscription},
            }
            return [orjson.dumps(ack).decode()]
        return []
