"""How a fake Deribit behaves, for the local venue server (tests/venue_server.py).

JSON-RPC 2.0 like the real one: `public/subscribe` and `public/unsubscribe` are answered
with the list of channels, `public/set_heartbeat` with "ok", `public/test` with the API
version, and a heartbeat `test_request` is pushed now and then. Data frames are built from
the fixtures in tests/fixtures/deribit (documentation examples and ccxt-recorded frames):
prices move with the step, timestamps follow `now_ms` (the wall clock by default, so the
supervisor's timestamp sanity check accepts them), book `change_id`s chain step by step,
and a (re)subscribed book channel gets a fresh snapshot on the next step, as on Deribit.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "deribit"
INSTRUMENTS_PATH = "/api/v2/public/get_instruments"
SYMBOLS = ("BTC-PERPETUAL", "ETH-PERPETUAL", "BTC_USDC-PERPETUAL")
BASE_PRICE = {"BTC-PERPETUAL": 36446.5, "ETH-PERPETUAL": 203.5, "BTC_USDC-PERPETUAL": 21110.0}
"""Starting prices, taken from the fixtures of each instrument (ETH from the docs trade)."""
FIRST_CHANGE_ID = 1_000
LIQUIDATION_FLAGS = ("T", "M", "MT")


def _load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _dumps(message: Any) -> str:
    return orjson.dumps(message).decode()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Script:
    """A Deribit that knows BTC-PERPETUAL, ETH-PERPETUAL and BTC_USDC-PERPETUAL."""

    venue: str = "deribit"
    greeting: tuple[str, ...] = ()

    def __init__(
        self,
        symbols: Iterable[str] = SYMBOLS,
        *,
        now_ms: Callable[[], int] = _wall_ms,
        snapshot_every: int = 50,
        heartbeat_every: int = 25,
    ) -> None:
        self.symbols: tuple[str, ...] = tuple(symbols)
        self._now_ms = now_ms
        self.snapshot_every = snapshot_every
        self.heartbeat_every = heartbeat_every
        instruments = _load("instruments.json")
        self.rest: dict[str, Any] = {INSTRUMENTS_PATH: instruments}
        self._spec = {entry["instrument_name"]: entry for entry in instruments["result"]}
        self._ticker_inverse = _load("ticker_btc_perpetual.json")["params"]["data"]
        self._ticker_linear = _load("ticker_btc_usdc_perpetual.json")["params"]["data"]
        self._trade = _load("trades_btc_perpetual.json")["params"]["data"][0]
        self._snapshot_due: set[str] = set()
        self.received_methods: list[str] = []

    # ------------------------------------------------------------------ requests

    def replies(self, frame: str) -> list[str]:
        """Answers to one client frame, in Deribit's JSON-RPC format."""
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(message, dict):
            return []
        method = message.get("method")
        request_id = message.get("id")
        self.received_methods.append(str(method))
        params = message.get("params")
        if not isinstance(params, dict):
            params = {}
        if method in ("public/subscribe", "public/unsubscribe"):
            channels = [c for c in params.get("channels", []) if isinstance(c, str)]
            if method == "public/subscribe":
                for channel in channels:
                    kind, _, rest = channel.partition(".")
                    if kind == "book":
                        self._snapshot_due.add(rest.rpartition(".")[0])
            return [self._answer(request_id, channels)]
        if method == "public/set_heartbeat":
            return [self._answer(request_id, "ok")]
        if method == "public/test":
            return [self._answer(request_id, {"version": "1.2.26"})]
        return []

    def _answer(self, request_id: Any, result: Any) -> str:
        us_in = self._now_ms() * 1_000
        # Recorded answers carry usIn/usOut as strings (ccxt deribit.ts comments).
        return _dumps(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "result": result,
                "usIn": str(us_in),
                "usOut": str(us_in + 122),
                "usDiff": 122,
                "testnet": False,
            }
        )

    # ------------------------------------------------------------------ data

    def data(self, symbol: str, step: int) -> list[str]:
        """Frames pushed on tick `step` for `symbol`."""
        spec = self._spec.get(symbol)
        if spec is None:
            return []
        linear = spec["instrument_type"] == "linear"
        tick = float(spec["tick_size"])
        now = self._now_ms()
        price = self._price(symbol, step, tick)
        frames = [self._ticker(symbol, price, now, linear=linear)]
        if step % 3 == 1:
            frames.append(self._trades(symbol, step, price, now, linear=linear))
        frames.append(self._book(symbol, step, tick, now, linear=linear))
        every = self.heartbeat_every
        if every and step % every == every // 2 and symbol == self.symbols[0]:
            frames.append(_load("heartbeat_test_request.json"))
        return [_dumps(frame) for frame in frames]

    def _price(self, symbol: str, step: int, tick: float) -> float:
        base = BASE_PRICE.get(symbol, 100.0)
        raw = base * (1.0 + 0.0005 * ((step % 20) - 10))
        return round(round(raw / tick) * tick, 8)

    def _ticker(self, symbol: str, price: float, now: int, *, linear: bool) -> dict[str, Any]:
        data = copy.deepcopy(self._ticker_linear if linear else self._ticker_inverse)
        data.update(
            instrument_name=symbol,
            timestamp=now,
            mark_price=price,
            index_price=round(price * 0.9999, 4),
            last_price=price,
        )
        return _notification(f"ticker.{symbol}.100ms", data)

    def _trades(
        self, symbol: str, step: int, price: float, now: int, *, linear: bool
    ) -> dict[str, Any]:
        trade = dict(
            self._trade,
            instrument_name=symbol,
            trade_seq=step,
            trade_id=f"{symbol}-{step}",
            timestamp=now,
            price=price,
            mark_price=price,
            index_price=price,
            direction="buy" if step % 2 else "sell",
            amount=0.01 * (1 + step % 4) if linear else 10.0 * (1 + step % 4),
        )
        if step % 5 == 4:
            trade["liquidation"] = LIQUIDATION_FLAGS[(step // 5) % len(LIQUIDATION_FLAGS)]
        return _notification(f"trades.{symbol}.100ms", [trade])

    def _book(
        self, symbol: str, step: int, tick: float, now: int, *, linear: bool
    ) -> dict[str, Any]:
        change_id = FIRST_CHANGE_ID + step
        center = BASE_PRICE.get(symbol, 100.0)
        best_bid = round(round(center / tick) * tick - tick, 8)
        best_ask = round(best_bid + 2 * tick, 8)
        unit = 0.1 if linear else 1_000.0
        if symbol in self._snapshot_due or step % self.snapshot_every == 0:
            self._snapshot_due.discard(symbol)
            data: dict[str, Any] = {
                "type": "snapshot",
                "timestamp": now,
                "instrument_name": symbol,
                "change_id": change_id,
                "bids": [["new", round(best_bid - k * tick, 8), unit * (k + 1)] for k in range(5)],
                "asks": [["new", round(best_ask + k * tick, 8), unit * (k + 1)] for k in range(5)],
            }
        else:
            deep = round(best_bid - 10 * tick, 8)
            data = {
                "type": "change",
                "timestamp": now,
                "prev_change_id": change_id - 1,
                "instrument_name": symbol,
                "change_id": change_id,
                "bids": [
                    ["change", best_bid, unit * (1 + step % 7)],
                    ["new", deep, unit] if step % 2 else ["delete", deep, 0],
                ],
                "asks": [["change", best_ask, unit * (1 + step % 5)]],
            }
        return _notification(f"book.{symbol}.100ms", data)


def _notification(channel: str, data: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": channel, "data": data},
    }
