"""A SIMULATED market on the Hyperliquid protocol: open interest builds up, price falls.

Not real data. The scripted path (tuned against the engine, see tests/test_daemon.py):

1. calm: BTC at 70,000 with 200 BTC open interest;
2. build-up: open interest grows to 3,200 BTC at 70,000: new longs whose liquidation
   levels sit 0.5-5 % below (a planted cluster);
3. fall: price falls 0.1 % per point to ~67,900, into that cluster: the critical shock of
   the down side shrinks through the warning (2 %) and critical (1 %) thresholds;
4. recovery: price recovers to 72,000: the down side resolves. The build-up opened shorts
   too (liquidation levels 0.5-5 % above 70,000), so at 72,000 the up side may alert.

The book is 40 levels a side, 5 bp apart, `book_size` BTC each, re-centred on the mark.
The path advances one point every `ticks_per_point` data ticks and then holds its end.
With `trade_every` > 0, one small trade at the mark every that many ticks keeps the trade
stream alive on long runs (the client calls it stale after two minutes without one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from monitor.sim import hyperliquid

BASE_PRICE = 70_000.0
BOOK_LEVELS = 40
BOOK_STEP = 0.0005
CALM_POINTS = 4
BUILD_POINTS = 20
FALL_POINTS = 30
RECOVERY_POINTS = 10
START_OI = 200.0
BUILT_OI = 3_200.0
RECOVERED_PRICE = 72_000.0


@dataclass(frozen=True, slots=True)
class Phase:
    """One act of the scripted story, from path point `start` on."""

    name: str
    start: int
    text: str


PHASES: tuple[Phase, ...] = (
    Phase("calm", 0, f"BTC at {BASE_PRICE:,.0f}, {START_OI:,.0f} BTC open interest"),
    Phase(
        "build-up",
        CALM_POINTS,
        f"open interest builds up to {BUILT_OI:,.0f} BTC at {BASE_PRICE:,.0f}: new longs "
        "whose liquidation levels sit 0.5-5 % below",
    ),
    Phase(
        "fall",
        CALM_POINTS + BUILD_POINTS,
        f"price falls 0.1 % per step to ~{BASE_PRICE * (1 - 0.001 * FALL_POINTS):,.0f}, "
        "into the planted long liquidations",
    ),
    Phase(
        "recovery",
        CALM_POINTS + BUILD_POINTS + FALL_POINTS,
        f"price recovers to {RECOVERED_PRICE:,.0f}: the down side calms, and the price now "
        "sits near the liquidation levels of the shorts opened during the build-up",
    ),
)


def cascade_path() -> list[tuple[float, float]]:
    """(mark, open interest) per point of the scripted market."""
    step_oi = (BUILT_OI - START_OI) / BUILD_POINTS
    path = [(BASE_PRICE, START_OI)] * CALM_POINTS
    path += [(BASE_PRICE, START_OI + step_oi * (i + 1)) for i in range(BUILD_POINTS)]
    path += [(BASE_PRICE * (1.0 - 0.001 * (i + 1)), BUILT_OI) for i in range(FALL_POINTS)]
    path += [(RECOVERED_PRICE, BUILT_OI)] * RECOVERY_POINTS
    return path


def phase_at(point: int) -> Phase:
    """The phase that path point `point` belongs to."""
    return [phase for phase in PHASES if phase.start <= point][-1]


class Script(hyperliquid.Protocol):
    """Hyperliquid's protocol (acks, pings, REST meta) with a scripted BTC market."""

    def __init__(
        self, *, ticks_per_point: int = 3, book_size: float = 6.0, trade_every: int = 0
    ) -> None:
        super().__init__()
        self.path = cascade_path()
        self.ticks_per_point = ticks_per_point
        self.book_size = book_size
        self.trade_every = trade_every
        self.hold: int | None = None  # freeze the path at this point (tests)
        self.shown = -1  # the path point of the latest data tick served (-1: none yet)
        self.on_phase: Callable[[Phase, tuple[float, float]], None] | None = None
        """Called with the phase and its (mark, open interest) when a new phase is served."""

    @property
    def _ctx(self) -> dict[str, Any]:
        """A fresh `activeAssetCtx` frame at the start of the path, to fill in."""
        mark, open_interest = self.path[0]
        return hyperliquid.asset_ctx(self.symbols[0], mark, open_interest)

    def point(self, step: int) -> int:
        """Index of the path point shown at data tick `step`."""
        index = min(step // self.ticks_per_point, len(self.path) - 1)
        return index if self.hold is None else min(index, self.hold)

    @property
    def finished(self) -> bool:
        """Whether the last point of the path has been served."""
        return self.shown == len(self.path) - 1

    def data(self, symbol: str, step: int) -> list[str]:
        """The asset context every tick, the book every other tick, a trade now and then."""
        point = self.point(step)
        if self.on_phase is not None and (
            self.shown < 0 or phase_at(point) != phase_at(self.shown)
        ):
            self.on_phase(phase_at(point), self.path[point])
        self.shown = point
        mark, open_interest = self.path[self.shown]
        now_ms = hyperliquid.now_ms()
        frames = [orjson.dumps(hyperliquid.asset_ctx(symbol, mark, open_interest)).decode()]
        if step % 2 == 0:
            frames.append(self._book_frame_at(symbol, mark, now_ms))
        if self.trade_every and step % self.trade_every == 0:
            frames.append(self._trade_frame(symbol, mark, 1, step, now_ms))
        return frames

    def _book_frame_at(self, symbol: str, mark: float, now_ms: int) -> str:
        bids = [(mark * (1 - BOOK_STEP * (i + 1)), self.book_size) for i in range(BOOK_LEVELS)]
        asks = [(mark * (1 + BOOK_STEP * (i + 1)), self.book_size) for i in range(BOOK_LEVELS)]
        return hyperliquid.book_frame(symbol, bids, asks, now_ms)

    def _trade_frame(self, symbol: str, mark: float, decimals: int, step: int, now: int) -> str:
        return hyperliquid.trade_frame(
            symbol,
            buy=step % 2 == 1,
            px=f"{mark:.{decimals}f}",
            size="0.005",
            time_ms=now,
            tid=now * 10 + (step % 10),
        )
