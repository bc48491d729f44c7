"""How a fake Binance USD-M server behaves, for the generic local server (tests/venue_server.py).

Built from the documentation fixtures in tests/fixtures/binance/ (values replaced so the
market moves with `step`). What it reproduces of the real venue:

- control frames answered in Binance's format: `{"result":null,"id":N}` for SUBSCRIBE,
  UNSUBSCRIBE and SET_PROPERTY, the documented error objects for a bad `id`, an unknown
  method or an unknown property; no application ping exists on Binance (protocol pings
  only), so nothing else is answered;
- data frames in combined form `{"stream": "<name>", "data": {...}}` (the adapter sets
  `SET_PROPERTY ["combined", true]`), with the stream names the adapter subscribes to, so
  a server may route each frame to the connection that subscribed to its stream;
- a diff-depth chain (`U`/`u`/`pu`) whose step-0 event bridges the static REST snapshot
  (`U <= lastUpdateId <= u`) and whose later events chain `pu == previous u`.

The REST answers are keyed by path. The depth snapshot and the OI answer are per-symbol
queries on Binance, so `rest` also holds `path?query` keys in the adapter's parameter
order; a server that only matches the path gets the BTCUSDT answers. For that reason both
symbols share one price ladder: a BTCUSDT snapshot applied to ETHUSDT stays consistent.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "binance"

BASE_PRICE = 11794.15  # the mark price of the Mark-Price-Stream doc example
TICK = 0.1
SNAPSHOT_ID = 1027024  # lastUpdateId of the Order-Book doc example
OI_BASE = 10659.509  # openInterest of the Open-Interest doc example


def _fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _price(value: float) -> str:
    return f"{value:.2f}"


def depth_ids(step: int) -> tuple[int, int, int]:
    """(U, u, pu) of the diff pushed at `step`: step 0 bridges the snapshot, then a chain."""
    last = SNAPSHOT_ID + 5 + 10 * step
    if step == 0:
        return SNAPSHOT_ID - 2, last, SNAPSHOT_ID - 10
    previous = last - 10
    return previous + 1, last, previous


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Script:
    """Binance USD-M as seen by our adapter: acks, errors, a moving market, REST answers."""

    venue: str = "binance"
    greeting: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")

    def __init__(self, *, t0_ms: int | None = None) -> None:
        # Exchange times near our own clock: the sanity layer rejects far-off timestamps.
        self.t0_ms = time.time_ns() // 1_000_000 if t0_ms is None else t0_ms
        self.subscribed: set[str] = set()
        self.combined = False
        self._mark = _fixture("mark_price.json")
        self._liquidation = _fixture("force_order.json")
        self._trade = _fixture("agg_trade.json")
        self._depth = _fixture("depth_update.json")
        self.rest: dict[str, Any] = self._rest()

    # -- control frames -------------------------------------------------------------------

    def replies(self, frame: str) -> list[str]:
        """Binance's answer to one client frame (control frames only; no app-level ping)."""
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(message, dict) or "method" not in message:
            return []
        return [_dumps(self._answer(message))]

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        request_id = message.get("id")
        if type(request_id) is not int or request_id < 0:
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
        method = message["method"]
        params = message.get("params") or []
        ok: dict[str, Any] = {"result": None, "id": request_id}
        if method == "SUBSCRIBE":
            self.subscribed |= {p for p in params if isinstance(p, str)}
        elif method == "UNSUBSCRIBE":
            self.subscribed -= {p for p in params if isinstance(p, str)}
        elif method == "LIST_SUBSCRIPTIONS":
            ok["result"] = sorted(self.subscribed)
        elif method == "GET_PROPERTY":
            ok["result"] = self.combined
        elif method == "SET_PROPERTY":
            if len(params) != 2 or params[0] != "combined":
                return {"code": 0, "msg": "Unknown property", "id": request_id}
            if not isinstance(params[1], bool):
                return {"code": 1, "msg": "Invalid value type: expected Boolean"}
            self.combined = params[1]
        else:
            return {
                "code": 2,
                "msg": f"Invalid request: unknown variant `{method}`, expected one of "
                "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                "`GET_PROPERTY` at line 1 column 28",
            }
        return ok

    # -- data -----------------------------------------------------------------------------

    def data(self, symbol: str, step: int) -> list[str]:
        """Frames pushed on tick `step`: mark price and a depth diff every step, a trade
        every second step, a liquidation every fifth (alternating long and short)."""
        low = symbol.lower()
        now = self.t0_ms + step
        mark_price = BASE_PRICE * (1.0 + 0.0005 * (step % 7))
        frames = [(f"{low}@markPrice@1s", self._mark_frame(symbol, now, mark_price))]
        frames.append((f"{low}@depth@100ms", self._depth_frame(symbol, now, step)))
        if step % 2 == 1:
            frames.append((f"{low}@aggTrade", self._trade_frame(symbol, now, step, mark_price)))
        if step % 5 == 4:
            frames.append((f"{low}@forceOrder", self._liq_frame(symbol, now, step, mark_price)))
        return [_dumps({"stream": name, "data": payload}) for name, payload in frames]

    def _mark_frame(self, symbol: str, now: int, mark_price: float) -> dict[str, Any]:
        frame: dict[str, Any] = copy.deepcopy(self._mark)
        frame.update(
            s=symbol,
            E=now,
            p=f"{mark_price:.8f}",
            i=f"{mark_price - 9.5:.8f}",
            P=f"{mark_price - 9.9:.8f}",
            T=now + 3_600_000,
        )
        return frame

    def _depth_frame(self, symbol: str, now: int, step: int) -> dict[str, Any]:
        first, last, previous = depth_ids(step)
        frame: dict[str, Any] = copy.deepcopy(self._depth)
        level = 1 + step % 5
        frame.update(
            s=symbol,
            E=now,
            T=now,
            U=first,
            u=last,
            pu=previous,
            b=[[_price(BASE_PRICE - TICK * level), f"{1 + step % 3}.000"]],
            a=[[_price(BASE_PRICE + TICK * level), "0.000" if step % 4 == 3 else "2.500"]],
        )
        return frame

    def _trade_frame(self, symbol: str, now: int, step: int, price: float) -> dict[str, Any]:
        frame: dict[str, Any] = copy.deepcopy(self._trade)
        frame.update(
            s=symbol,
            E=now,
            T=now,
            a=5933014 + step,
            f=100 + step,
            l=100 + step,
            p=_price(price),
            q="0.250",
            m=step % 4 == 1,
        )
        return frame

    def _liq_frame(self, symbol: str, now: int, step: int, price: float) -> dict[str, Any]:
        frame: dict[str, Any] = copy.deepcopy(self._liquidation)
        frame["E"] = now
        long_died = step % 10 == 4
        frame["o"].update(
            s=symbol,
            S="SELL" if long_died else "BUY",
            p=_price(price * (0.99 if long_died else 1.01)),
            ap=_price(price),
            T=now,
        )
        return frame

    # -- REST -----------------------------------------------------------------------------

    def _rest(self) -> dict[str, Any]:
        snapshot = _fixture("depth_snapshot.json")
        snapshot.update(
            E=self.t0_ms,
            T=self.t0_ms,
            bids=[[_price(BASE_PRICE - TICK * k), "1.000"] for k in range(1, 6)],
            asks=[[_price(BASE_PRICE + TICK * k), "1.000"] for k in range(1, 6)],
        )
        rest: dict[str, Any] = {
            "/fapi/v1/exchangeInfo": _fixture("exchange_info.json"),
            "/fapi/v1/depth": snapshot,
        }
        for n, symbol in enumerate(self.symbols):
            oi = _fixture("open_interest.json")
            oi.update(symbol=symbol, time=self.t0_ms, openInterest=f"{OI_BASE + n:.3f}")
            if n == 0:
                rest["/fapi/v1/openInterest"] = oi
            rest[f"/fapi/v1/openInterest?symbol={symbol}"] = oi
            rest[f"/fapi/v1/depth?symbol={symbol}&limit=1000"] = snapshot
        return rest
