"""A SIMULATED market on the Hyperliquid protocol: open interest builds up, price falls.

Not real data. The scripted path (tuned against the engine, see tests/test_daemon.py):

1. BTC at 70,000 with 200 BTC open interest;
2. open interest builds up to 3,200 BTC at 70,000: new longs whose liquidation levels
   sit 0.5-5 % below (a planted cluster);
3. price falls 0.1 % per point to ~67,900, into that cluster: the critical shock of the
   down side shrinks through the warning (2 %) and critical (1 %) thresholds;
4. price recovers to 72,000: the down side resolves.

The book is 40 levels a side, 5 bp apart, `book_size` BTC each, re-centred on the mark.
The path advances one point every `ticks_per_point` data ticks and then holds its end.
"""

from __future__ import annotations

import copy
import time

import orjson

from fake_venues import hyperliquid

BASE_PRICE = 70_000.0
BOOK_LEVELS = 40
BOOK_STEP = 0.0005


def cascade_path() -> list[tuple[float, float]]:
    """(mark, open interest) per point of the scripted market."""
    path = [(BASE_PRICE, 200.0)] * 4
    path += [(BASE_PRICE, 200.0 + 150.0 * (i + 1)) for i in range(20)]
    path += [(BASE_PRICE * (1.0 - 0.001 * (i + 1)), 3_200.0) for i in range(30)]
    path += [(72_000.0, 3_200.0)] * 10
    return path


class Script(hyperliquid.Script):
    """Hyperliquid's protocol (acks, pings, REST meta) with a scripted BTC market."""

    symbols: tuple[str, ...] = ("BTC",)

    def __init__(self, *, ticks_per_point: int = 3, book_size: float = 6.0) -> None:
        super().__init__()
        self.path = cascade_path()
        self.ticks_per_point = ticks_per_point
        self.book_size = book_size
        self.hold: int | None = None  # freeze the path at this point (tests)

    def point(self, step: int) -> int:
        """Index of the path point shown at data tick `step`."""
        index = min(step // self.ticks_per_point, len(self.path) - 1)
        return index if self.hold is None else min(index, self.hold)

    def data(self, symbol: str, step: int) -> list[str]:
        mark, open_interest = self.path[self.point(step)]
        now_ms = time.time_ns() // 1_000_000
        ctx = copy.deepcopy(self._ctx)  # the documented frame, with the scripted numbers
        ctx["data"]["coin"] = symbol
        ctx["data"]["ctx"].update(
            openInterest=f"{open_interest:.3f}",
            oraclePx=f"{mark:.1f}",
            markPx=f"{mark:.1f}",
            midPx=f"{mark:.1f}",
        )
        frames = [orjson.dumps(ctx).decode()]
        if step % 2 == 0:
            frames.append(self._book_frame_at(symbol, mark, now_ms))
        return frames

    def _book_frame_at(self, symbol: str, mark: float, now_ms: int) -> str:
        size = f"{self.book_size:.5f}"
        bids = [
            {"px": f"{mark * (1 - BOOK_STEP * (i + 1)):.1f}", "sz": size, "n": 1}
            for i in range(BOOK_LEVELS)
        ]
        asks = [
            {"px": f"{mark * (1 + BOOK_STEP * (i + 1)):.1f}", "sz": size, "n": 1}
            for i in range(BOOK_LEVELS)
        ]
        frame = {
            "channel": "l2Book",
            "data": {"coin": symbol, "time": now_ms, "levels": [bids, asks]},
        }
        return orjson.dumps(frame).decode()
