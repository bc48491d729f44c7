"""How a Bybit v5 public linear server behaves, for tests/venue_server.py.

Frames are built from the doc examples in tests/fixtures/bybit (same keys, same order),
with symbol, prices, sizes and timestamps filled in. Like Bybit, the script answers every
subscribe/unsubscribe with the linear ack (or "handler not found" for a topic it does not
know), every `{"op":"ping"}` with the linear pong, and sends a fresh ticker and book
snapshot after each subscription, deltas afterwards. Prices are stamped with the wall
clock (or `clock_ms`) so the supervisor's timestamp sanity check accepts them.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bybit"
CONN_ID = "d8bu1olkndm7crnfs1e0-fake"
BASE_PRICE = {"BTCUSDT": 65_000.0, "ETHUSDT": 1_900.0}
BASE_OI = {"BTCUSDT": 30_000.0, "ETHUSDT": 400_000.0}  # one side, coins
TICK = {"BTCUSDT": 0.1, "ETHUSDT": 0.01}
CHANNELS = ("tickers", "orderbook", "publicTrade", "allLiquidation")


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _dump(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


def _num(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


class Script:
    """A Bybit linear server for BTCUSDT and ETHUSDT."""

    venue: str = "bybit"
    greeting: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")

    def __init__(self, *, clock_ms: Callable[[], int] | None = None) -> None:
        self._now_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._ack = _fixture("subscribe_ack.json")
        self._pong = _fixture("pong.json")
        self._error = _fixture("subscribe_error.json")
        self._ticker = _fixture("tickers_snapshot.json")
        self._book_snapshot = _fixture("orderbook_snapshot.json")
        self._book_delta = _fixture("orderbook_delta.json")
        self._trade = _fixture("public_trade.json")
        self._liquidation = _fixture("all_liquidation.json")
        instruments = _fixture("instruments_linear.json")
        result = instruments["result"]
        result["list"] = [e for e in result["list"] if e["symbol"] in self.symbols]
        self.rest: dict[str, Any] = {"/v5/market/instruments-info": instruments}
        self.subscribed: set[str] = set()  # live topics
        self._snapshot_due: set[str] = set()  # tickers/orderbook topics owed a snapshot
        self._update_id = dict.fromkeys(self.symbols, 1_000)

    # ------------------------------------------------------------------ client frames

    def replies(self, frame: str) -> list[str]:
        """Linear acks, pongs and refusals, exactly in Bybit's linear format."""
        try:
            message = json.loads(frame)
        except ValueError:
            return []
        if not isinstance(message, dict):
            return []
        op = message.get("op")
        req_id = message.get("req_id", "")
        if op == "ping":
            return [_dump({**self._pong, "conn_id": CONN_ID, "req_id": req_id})]
        if op in ("subscribe", "unsubscribe"):
            return self._subscription(op, message.get("args"), req_id)
        return []

    def _subscription(self, op: str, topics: Any, req_id: str) -> list[str]:
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            return []
        unknown = [topic for topic in topics if not self._known(topic)]
        if unknown:
            error = {
                **self._error,
                "ret_msg": f"error:handler not found,topic:{unknown[0]}",
                "conn_id": CONN_ID,
                "req_id": req_id,
            }
            return [_dump(error)]
        for topic in topics:
            if op == "subscribe":
                self.subscribed.add(topic)
                self._snapshot_due.add(topic)
            else:
                self.subscribed.discard(topic)
                self._snapshot_due.discard(topic)
        return [_dump({**self._ack, "conn_id": CONN_ID, "req_id": req_id, "op": op})]

    def _known(self, topic: str) -> bool:
        channel, _, rest = topic.partition(".")
        if channel == "orderbook":
            depth, _, symbol = rest.partition(".")
            return depth in ("1", "50", "200", "1000") and symbol in self.symbols
        return channel in CHANNELS and rest in self.symbols

    # ------------------------------------------------------------------ server frames

    def data(self, symbol: str, step: int) -> list[str]:
        """One tick: ticker, book, trade every step; a liquidation every fifth step."""
        now = self._now_ms()
        base = BASE_PRICE.get(symbol, 100.0)
        mark = base * (1.0 + 0.0005 * (step % 7))
        frames = []
        ticker_topic = f"tickers.{symbol}"
        if ticker_topic in self.subscribed:
            frames.append(self._ticker_frame(symbol, step, mark, now))
        book_topic = next(
            (
                t
                for t in sorted(self.subscribed)
                if t.startswith("orderbook.") and t.rpartition(".")[2] == symbol
            ),
            None,
        )
        if book_topic is not None:
            frames.append(self._book_frame(book_topic, symbol, step, base, now))
        if f"publicTrade.{symbol}" in self.subscribed:
            frames.append(self._trade_frame(symbol, step, mark, now))
        if f"allLiquidation.{symbol}" in self.subscribed and step % 5 == 2:
            frames.append(self._liquidation_frame(symbol, step, mark, now))
        return frames

    def _ticker_frame(self, symbol: str, step: int, mark: float, now: int) -> str:
        topic = f"tickers.{symbol}"
        single = BASE_OI.get(symbol, 1_000.0) + step
        fields = {
            "symbol": symbol,
            "markPrice": _num(mark, 2),
            "indexPrice": _num(mark * 1.0001, 2),
            "openInterest": _num(2 * single, 3),
            "openInterestValue": _num(2 * single * mark, 2),
            "singleOpenInterest": _num(single, 3),
            "singleOpenInterestValue": _num(single * mark, 2),
        }
        message = copy.deepcopy(self._ticker)
        message["topic"] = topic
        message["cs"] = 24_987_956_059 + step
        message["ts"] = now
        if topic in self._snapshot_due:
            self._snapshot_due.discard(topic)
            message["data"].update(fields)
            message["data"]["lastPrice"] = fields["markPrice"]
            message["data"]["nextFundingTime"] = str((now // 28_800_000 + 1) * 28_800_000)
            message["data"]["fundingRate"] = "0.0001"
        else:
            message["type"] = "delta"
            message["data"] = fields
        return _dump(message)

    def _book_frame(self, topic: str, symbol: str, step: int, base: float, now: int) -> str:
        """A book fixed around `base` (it never crosses); deltas only resize levels."""
        tick = TICK.get(symbol, 0.01)
        self._update_id[symbol] = update_id = self._update_id.get(symbol, 1_000) + 1
        snapshot = topic in self._snapshot_due
        message = copy.deepcopy(self._book_snapshot if snapshot else self._book_delta)
        message["topic"] = topic
        message["ts"] = now
        message["cts"] = now - 2
        if snapshot:
            self._snapshot_due.discard(topic)
            levels = range(1, 6)
            bids = [[_num(base - k * tick, 2), _num(0.5 * k, 3)] for k in levels]
            asks = [[_num(base + k * tick, 2), _num(0.4 * k, 3)] for k in levels]
        else:
            k = 1 + step % 5
            size = _num(0.1 * (step % 4), 3)  # every fourth delta deletes the level
            bids = [[_num(base - k * tick, 2), size]]
            asks = [[_num(base + k * tick, 2), _num(0.3 + 0.01 * (step % 9), 3)]]
        message["data"] = {
            "s": symbol,
            "b": bids,
            "a": asks,
            "u": update_id,
            "seq": 66_544_703_342 + update_id,
        }
        return _dump(message)

    def _trade_frame(self, symbol: str, step: int, mark: float, now: int) -> str:
        message = copy.deepcopy(self._trade)
        message["topic"] = f"publicTrade.{symbol}"
        message["ts"] = now
        trade = message["data"][0]
        trade.update(
            T=now - 1,
            s=symbol,
            S="Buy" if step % 3 else "Sell",
            v=_num(0.001 * (1 + step % 10), 3),
            p=_num(mark, 2),
            i=f"fake-{symbol}-{step}",
        )
        return _dump(message)

    def _liquidation_frame(self, symbol: str, step: int, mark: float, now: int) -> str:
        message = copy.deepcopy(self._liquidation)
        message["topic"] = f"allLiquidation.{symbol}"
        message["ts"] = now
        long_died = step % 2 == 0
        item = message["data"][0]
        item.update(
            T=now - 300,
            s=symbol,
            S="Buy" if long_died else "Sell",
            v=_num(0.01 * (1 + step % 3), 3),
            p=_num(mark * (0.995 if long_died else 1.005), 2),
        )
        return _dump(message)
