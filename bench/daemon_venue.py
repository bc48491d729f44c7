"""A SIMULATED Hyperliquid-protocol market whose state the daemon benchmark sets at run time.

Not real data. It extends the test suite's cascade market (tests/fake_venues/cascade.py:
same protocol, same 40-level book re-centred on the mark) in three ways:

- any number of coins: `BTC` plus synthetic `SYN001`, `SYN002`, ... listed in the REST
  `meta` answer (the daemon borrows Hyperliquid's BTC ledger parameters for them);
- the state of each coin (mark, open interest, book size) is set by the benchmark with
  `set_state`, and the wall-clock time (`time.time_ns`) at which the first frame showing a
  new state is handed to the WebSocket is recorded in `sent_ns`;
- frames are rendered once per state and reused, so one Python process can push
  thousands per second, and each frame goes only to the connection that subscribed to its
  coin (the daemon spreads 200 coins over four connections).

Per coin and data tick: an `l2Book` snapshot (40 levels a side as in the cascade market,
or `book_levels`: the real venue sends 20), then (every `ctx_every` ticks, and on the
first tick of a new state) an `activeAssetCtx` frame with the mark and open interest, and
every `trade_every` ticks one trade at the mark (the trade stream would otherwise turn
stale after two minutes). The book goes first so that a new state's book is in place when
its mark move triggers the daemon's immediate risk re-check.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_venues import cascade


def coin_names(count: int) -> list[str]:
    """`BTC` then `SYN001` ... : `count` coins in all."""
    return ["BTC"] + [f"SYN{i:03d}" for i in range(1, count)]


def meta(coins: Sequence[str]) -> dict[str, Any]:
    """Hyperliquid's `meta` answer listing `coins` (shape of tests/fixtures/hyperliquid)."""
    return {
        "universe": [{"name": coin, "szDecimals": 5, "maxLeverage": 50} for coin in coins],
        "marginTables": [],
    }


@dataclass(frozen=True, slots=True)
class State:
    """What the market of one coin shows."""

    mark: float
    open_interest: float
    book_size: float


class Script(cascade.Script):
    """The cascade market's protocol and book, with states set at run time."""

    def __init__(
        self,
        coins: Sequence[str],
        initial: dict[str, State],
        *,
        ctx_every: int = 1,
        trade_every: int = 50,
        book_levels: int = cascade.BOOK_LEVELS,
    ) -> None:
        super().__init__(ticks_per_point=1)
        self.symbols = tuple(coins)
        self.rest = {"/info": meta(coins)}
        self.ctx_every = ctx_every
        self.trade_every = trade_every
        self.book_levels = book_levels
        self.version: dict[str, int] = dict.fromkeys(coins, 0)
        self.sent_ns: dict[tuple[str, int], int] = {}
        self._frames: dict[str, tuple[str, str]] = {}  # coin -> (book, ctx) of its state
        self._marks: dict[str, float] = {}
        self._coin_of: dict[str, str] = {}  # rendered frame -> coin
        self._pending: dict[str, int] = {}  # coin -> version not yet sent
        self._subscribed: dict[int, tuple[int, frozenset[str]]] = {}
        for coin in coins:
            self._render(coin, initial[coin])

    def set_state(self, coin: str, state: State) -> int:
        """Show `state` from the next data tick on; returns its version (key of `sent_ns`)."""
        self.version[coin] += 1
        self._render(coin, state)
        self._pending[coin] = self.version[coin]
        return self.version[coin]

    def _render(self, coin: str, state: State) -> None:
        old = self._frames.get(coin)
        if old is not None:
            for frame in old:
                self._coin_of.pop(frame, None)
        now_ms = time.time_ns() // 1_000_000
        self.book_size = state.book_size
        book = self._book_frame_at(coin, state.mark, now_ms)
        if self.book_levels != cascade.BOOK_LEVELS:  # the nearest levels of each side
            frame = orjson.loads(book)
            frame["data"]["levels"] = [side[: self.book_levels] for side in frame["data"]["levels"]]
            book = orjson.dumps(frame).decode()
        ctx = copy.deepcopy(self._ctx)
        ctx["data"]["coin"] = coin
        ctx["data"]["ctx"].update(
            openInterest=f"{state.open_interest:.3f}",
            oraclePx=f"{state.mark:.1f}",
            markPx=f"{state.mark:.1f}",
            midPx=f"{state.mark:.1f}",
        )
        frames = (book, orjson.dumps(ctx).decode())
        self._frames[coin] = frames
        self._marks[coin] = state.mark
        for frame in frames:
            self._coin_of[frame] = coin

    def data(self, symbol: str, step: int) -> list[str]:
        book, ctx = self._frames[symbol]
        frames = [book]
        if step % self.ctx_every == 0 or symbol in self._pending:
            frames.append(ctx)
        if self.trade_every and step % self.trade_every == 0:
            now_ms = time.time_ns() // 1_000_000
            frames.append(self._trade_frame(symbol, self._marks[symbol], 1, step, now_ms))
        return frames

    def wants(self, frame: str, received: list[str]) -> bool:
        """Route a frame to the connection that subscribed to its coin (called just before
        the server sends it: the first frame of a new state is timed here)."""
        coin = self._coin_of.get(frame)
        if coin is None:  # a trade frame, rendered per tick
            coin = orjson.loads(frame)["data"][0]["coin"]
        if coin not in self._coins_of(received):
            return False
        version = self._pending.get(coin)
        if version is not None and frame in self._frames[coin]:
            self.sent_ns[(coin, version)] = time.time_ns()
            del self._pending[coin]
        return True

    def _coins_of(self, received: list[str]) -> frozenset[str]:
        """Coins a connection subscribed to (cached until it sends something new)."""
        cached = self._subscribed.get(id(received))
        if cached is not None and cached[0] == len(received):
            return cached[1]
        coins = set()
        for text in received:
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            subscription = message.get("subscription") if isinstance(message, dict) else None
            if message.get("method") == "subscribe" and isinstance(subscription, dict):
                coins.add(str(subscription.get("coin")))
        result = frozenset(coins)
        self._subscribed[id(received)] = (len(received), result)
        return result
