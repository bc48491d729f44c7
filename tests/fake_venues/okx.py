"""How a fake OKX v5 public WebSocket behaves, for the generic server in tests/venue_server.py.

Built from tests/fixtures/okx (documentation examples, see SOURCES.md there):

- `replies`: the text ``ping`` gets ``pong``; every ``subscribe``/``unsubscribe`` arg gets
  its own ack ``{"event":"subscribe","arg":{...},"connId":...}`` (with the request ``id``
  when one was sent), as OKX does; an unknown channel or instrument gets OKX's error
  60018. A ``books`` subscribe is also answered with a full snapshot, because that is
  how OKX starts (and restarts, after a resubscribe) an incremental book.
- `data(symbol, step)`: each tick a ``mark-price`` and an ``open-interest`` frame; step 0 a
  ``books`` snapshot, later steps ``update`` deltas chained by ``prevSeqId``/``seqId``, with
  OKX's empty keep-alive delta (``prevSeqId == seqId``) every 30th step; a trade every
  other step, a funding-rate frame every 10th and a liquidation every 5th step (sides
  alternate). Exchange times are wall-clock milliseconds so the sanity layer's timestamp
  checks pass; the mark drifts within 0.5 % of its base.

Book state is a pure function of the step (only the best bid and ask sizes change), so a
snapshot "as of" any step is consistent with the deltas that follow it. The script
remembers the last step pushed per symbol to answer a resubscribe with the right snapshot;
that memory is shared by all connections of one server, which is enough for the
one-connection plans that two or three symbols produce.

`rest["/api/v5/public/instruments"]` is the instruments fixture trimmed to the streamed
swaps (BTC-USDT-SWAP, ETH-USDT-SWAP; `data` can also serve the inverse BTC-USD-SWAP),
plus the docs' old self-contradictory ``LTC-USD-SWAP`` example, which the adapter must
skip.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "okx"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
CONN_ID = "a4d3ae55"  # the docs' example connection id

_BASE = {
    "BTC-USDT-SWAP": (64000.0, 22161.13),
    "ETH-USDT-SWAP": (2600.0, 301234.5),
    "BTC-USD-SWAP": (64000.0, 9876.5),
}
"""symbol -> (base mark price, base open interest in coins). `data` serves all three."""
SYMBOLS = ("BTC-USDT-SWAP", "ETH-USDT-SWAP")
"""What the server pushes on every tick and lists over REST (the generic server pushes
every listed symbol, so the inverse BTC-USD-SWAP is only served when asked for)."""

_CHANNELS = ("mark-price", "open-interest", "funding-rate", "trades", "books")
_LEVELS = 5
_SEQ0 = 1_000


def _load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _dump(message: Any) -> str:
    return orjson.dumps(message).decode()


def _decimals(tick: str) -> int:
    return len(tick.partition(".")[2])


def _instruments() -> dict[str, dict[str, Any]]:
    rows = _load("instruments.json")["data"]
    return {row["instId"]: row for row in rows if row["instId"] in _BASE}


def _rest() -> dict[str, Any]:
    payload = _load("instruments.json")
    payload["data"] = [row for row in payload["data"] if row["instId"] in SYMBOLS]
    payload["data"].extend(_load("instruments_old_doc_example.json")["data"])
    return {INSTRUMENTS_PATH: payload}


def _seq(step: int) -> int:
    return _SEQ0 + 3 * step


def _best_size(step: int, salt: int) -> str:
    return str(100 + (step * 37 + salt) % 250)


class Script:
    """The fake OKX; `now_ms` is injectable so unit tests get fixed timestamps."""

    venue: str = "okx"
    greeting: tuple[str, ...] = ()
    symbols: tuple[str, ...] = SYMBOLS
    rest: dict[str, Any] = _rest()

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._meta = _instruments()
        self._mark = _load("mark_price_swap.json")
        self._oi = _load("open_interest.json")
        self._funding = _load("funding_rate.json")
        self._trade = _load("trades_swap.json")
        self._book = _load("books_snapshot.json")
        self._liquidation = _load("liquidation_orders_btc.json")
        self._last_step: dict[str, int] = {}

    # ------------------------------------------------------------------ replies

    def replies(self, frame: str) -> list[str]:
        """Pong, per-arg acks or 60018 errors, and a snapshot after a books subscribe."""
        if frame == "ping":
            return ["pong"]
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(message, dict):
            return []
        op, args = message.get("op"), message.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            return []
        out: list[str] = []
        for arg in args:
            if not isinstance(arg, dict):
                continue
            if not self._known(arg):
                out.append(self._error(arg, message.get("id")))
                continue
            ack: dict[str, Any] = {"event": op, "arg": arg, "connId": CONN_ID}
            if "id" in message:
                ack = {"id": message["id"], **ack}
            out.append(_dump(ack))
            if op == "subscribe" and arg.get("channel") == "books":
                symbol = arg["instId"]
                out.append(self._snapshot(symbol, self._last_step.get(symbol, 0)))
        return out

    def _known(self, arg: dict[str, Any]) -> bool:
        channel = arg.get("channel")
        if channel == "liquidation-orders":
            return arg.get("instType") == "SWAP" and "instId" not in arg
        return channel in _CHANNELS and arg.get("instId") in _BASE

    @staticmethod
    def _error(arg: dict[str, Any], request_id: Any) -> str:
        where = ",".join(f"{key}:{value}" for key, value in arg.items())
        error: dict[str, Any] = {
            "event": "error",
            "msg": f"Wrong URL or {where} doesn't exist. Please use the correct URL, "
            "channel and parameters referring to API document.",
            "code": "60018",
            "connId": CONN_ID,
        }
        if request_id is not None:
            error = {"id": request_id, **error}
        return _dump(error)

    # ------------------------------------------------------------------ data

    def data(self, symbol: str, step: int) -> list[str]:
        """Frames pushed on tick `step` for one swap."""
        self._last_step[symbol] = step
        now = self._now_ms()
        mark = self._mark_price(symbol, step)
        frames = [self._mark_frame(symbol, mark, now), self._oi_frame(symbol, step, now)]
        if step == 0:
            frames.append(self._snapshot(symbol, 0))
        else:
            frames.append(self._delta(symbol, step, now))
            if step % 30 == 29:
                frames.append(self._keepalive(symbol, step, now))
        if step % 2 == 0:
            frames.append(self._trade_frame(symbol, mark, step, now))
        if step % 10 == 0:
            frames.append(self._funding_frame(symbol, now))
        if step % 5 == 4:
            frames.append(self._liquidation_frame(symbol, mark, step, now))
        return frames

    def _price(self, symbol: str, value: float) -> str:
        return f"{value:.{_decimals(self._meta[symbol]['tickSz'])}f}"

    def _mark_price(self, symbol: str, step: int) -> float:
        return _BASE[symbol][0] * (1.0 + 0.0005 * ((step % 20) - 10))

    def _mark_frame(self, symbol: str, mark: float, now: int) -> str:
        frame = copy.deepcopy(self._mark)
        frame["arg"]["instId"] = symbol
        frame["data"][0].update(instId=symbol, markPx=self._price(symbol, mark), ts=str(now))
        return _dump(frame)

    def _oi_frame(self, symbol: str, step: int, now: int) -> str:
        meta = self._meta[symbol]
        coins = _BASE[symbol][1] + step * 0.5
        mark = self._mark_price(symbol, step)
        if meta["ctType"] == "linear":
            contracts = coins / float(meta["ctVal"])
        else:
            contracts = coins * mark / float(meta["ctVal"])
        frame = copy.deepcopy(self._oi)
        frame["arg"]["instId"] = symbol
        frame["data"][0].update(
            instId=symbol,
            oi=f"{contracts:.2f}",
            oiCcy=f"{coins:.4f}",
            oiUsd=f"{coins * mark:.2f}",
            ts=str(now),
        )
        return _dump(frame)

    def _levels(self, symbol: str, step: int) -> tuple[list[list[str]], list[list[str]]]:
        base, tick = _BASE[symbol][0], float(self._meta[symbol]["tickSz"])
        bids = [
            [self._price(symbol, base - tick * (i + 1)), "50", "0", "1"] for i in range(_LEVELS)
        ]
        asks = [
            [self._price(symbol, base + tick * (i + 1)), "60", "0", "1"] for i in range(_LEVELS)
        ]
        bids[0][1] = _best_size(step, 0)
        asks[0][1] = _best_size(step, 7)
        return bids, asks

    def _snapshot(self, symbol: str, step: int) -> str:
        bids, asks = self._levels(symbol, step)
        frame = copy.deepcopy(self._book)
        frame["arg"]["instId"] = symbol
        frame["data"][0].update(
            asks=asks,
            bids=bids,
            ts=str(self._now_ms()),
            checksum=0,
            prevSeqId=-1,
            seqId=_seq(step),
        )
        return _dump(frame)

    def _delta(self, symbol: str, step: int, now: int) -> str:
        bids, asks = self._levels(symbol, step)
        frame = copy.deepcopy(self._book)
        frame["arg"]["instId"] = symbol
        frame["action"] = "update"
        frame["data"][0].update(
            asks=[asks[0]],
            bids=[bids[0]],
            ts=str(now),
            checksum=0,
            prevSeqId=_seq(step - 1),
            seqId=_seq(step),
        )
        return _dump(frame)

    def _keepalive(self, symbol: str, step: int, now: int) -> str:
        frame = copy.deepcopy(self._book)
        frame["arg"]["instId"] = symbol
        frame["action"] = "update"
        frame["data"][0].update(
            asks=[], bids=[], ts=str(now), checksum=0, prevSeqId=_seq(step), seqId=_seq(step)
        )
        return _dump(frame)

    def _trade_frame(self, symbol: str, mark: float, step: int, now: int) -> str:
        side = "buy" if step % 4 == 0 else "sell"
        frame = copy.deepcopy(self._trade)
        frame["arg"]["instId"] = symbol
        frame["data"][0].update(
            instId=symbol,
            tradeId=str(130639474 + step),
            px=self._price(symbol, mark),
            sz=str(1 + step % 7),
            side=side,
            ts=str(now),
            seqId=_seq(step),
        )
        return _dump(frame)

    def _funding_frame(self, symbol: str, now: int) -> str:
        frame = copy.deepcopy(self._funding)
        frame["arg"]["instId"] = symbol
        eight_hours = 8 * 3_600_000
        settle = (now // eight_hours + 1) * eight_hours
        frame["data"][0].update(
            instId=symbol,
            fundingTime=str(settle),
            nextFundingTime=str(settle + eight_hours),
            ts=str(now),
        )
        return _dump(frame)

    def _liquidation_frame(self, symbol: str, mark: float, step: int, now: int) -> str:
        long_died = step % 10 == 4
        frame = copy.deepcopy(self._liquidation)
        entry = frame["data"][0]
        family = symbol.removesuffix("-SWAP")
        entry.update(instId=symbol, instFamily=family, uly=family)
        entry["details"][0].update(
            bkPx=self._price(symbol, mark * (0.999 if long_died else 1.001)),
            posSide="long" if long_died else "short",
            side="sell" if long_died else "buy",
            sz=str(10 + step % 13),
            ts=str(now),
        )
        return _dump(frame)
