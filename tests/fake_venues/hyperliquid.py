"""How a fake Hyperliquid behaves, for the generic local server in tests/venue_server.py.

Built from tests/fixtures/hyperliquid (documentation examples): the plain-text greeting,
`subscriptionResponse` acks echoing the subscription, `{"channel":"pong"}` for
`{"method":"ping"}`, and per tick an `activeAssetCtx` frame, every other tick an `l2Book`
snapshot and every third tick a trade. Hyperliquid has no public liquidation channel, so
the fake never sends one. Exchange times are wall-clock milliseconds so the sanity layer's
timestamp checks pass; prices drift with `step` and stay within 0.5 % of the base.

`rest["/info"]` answers `{"type":"meta"}` with the documented example trimmed to the coins
this fake streams (BTC, ETH) plus the delisted LOOM, which the adapter must skip.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import orjson

from monitor.sim.hyperliquid import Protocol

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hyperliquid"

_BASE = {"BTC": (68674.0, 1.0, 1), "ETH": (3227.4, 0.1, 2)}
"""symbol -> (base mark price from the fixtures, price tick, decimals)."""


def _load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rest() -> dict[str, Any]:
    meta = _load("meta.json")
    meta["universe"] = [
        asset for asset in meta["universe"] if asset["name"] in _BASE or asset.get("isDelisted")
    ]
    return {"/info": meta}


class Script(Protocol):
    """The package's protocol side (acks, pongs), with the documented fixtures' frames."""

    greeting: tuple[str, ...] = ((FIXTURES / "greeting.txt").read_text(encoding="utf-8"),)
    symbols: tuple[str, ...] = ("BTC", "ETH")

    def __init__(self) -> None:
        super().__init__()
        self.rest = _rest()
        self._ctx = _load("active_asset_ctx.json")
        self._book = _load("l2_book.json")
        self._trades = _load("trades.json")

    def data(self, symbol: str, step: int) -> list[str]:
        base, tick, decimals = _BASE[symbol]
        mark = base * (1.0 + 0.0005 * ((step % 20) - 10))
        now = _now_ms()
        frames = [self._ctx_frame(symbol, mark, decimals, step)]
        if step % 2 == 0:
            frames.append(self._book_frame(symbol, mark, tick, decimals, now))
        if step % 3 == 0:
            frames.append(self._trade_frame(symbol, mark, decimals, step, now))
        return frames

    def _ctx_frame(self, symbol: str, mark: float, decimals: int, step: int) -> str:
        frame = copy.deepcopy(self._ctx)
        ctx = frame["data"]["ctx"]
        frame["data"]["coin"] = symbol
        ctx["markPx"] = f"{mark:.{decimals}f}"
        ctx["oraclePx"] = f"{mark * 1.0001:.{decimals}f}"
        ctx["midPx"] = f"{mark:.{decimals}f}"
        ctx["openInterest"] = f"{1000.0 + step:.3f}"
        return orjson.dumps(frame).decode()

    def _book_frame(self, symbol: str, mark: float, tick: float, decimals: int, now: int) -> str:
        frame = copy.deepcopy(self._book)
        best_bid = (mark // tick) * tick
        level = frame["data"]["levels"][0][0]
        bids = [
            {**level, "px": f"{best_bid - i * tick:.{decimals}f}", "sz": f"{0.5 + i:.5f}"}
            for i in range(5)
        ]
        asks = [
            {**level, "px": f"{best_bid + (i + 1) * tick:.{decimals}f}", "sz": f"{0.4 + i:.5f}"}
            for i in range(5)
        ]
        frame["data"].update(coin=symbol, time=now, levels=[bids, asks])
        return orjson.dumps(frame).decode()

    def _trade_frame(self, symbol: str, mark: float, decimals: int, step: int, now: int) -> str:
        frame = copy.deepcopy(self._trades)
        trade = frame["data"][0]
        trade.update(
            coin=symbol,
            side="B" if step % 2 else "A",
            px=f"{mark:.{decimals}f}",
            time=now,
            tid=now * 10 + (step % 10),
        )
        return orjson.dumps(frame).decode()
