"""Plausibility checks that need memory of earlier frames (pure).

A parser can only judge one frame; a price 50 % away from the last good one, or an
exchange timestamp an hour away from our receive time, is only visible with context.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.events import FeedItem, Liquidation, MarkPrice, Trade
from monitor.feeds.base import FeedRejectReason

MAX_PRICE_JUMP = 0.5
MAX_FUTURE_NS = 60 * 1_000_000_000
MAX_PAST_NS = 3_600 * 1_000_000_000
REBASE_AFTER = 5
"""Consistent 'jumps' in a row after which the new level is taken as real.

Protects against a bad first price poisoning every later check."""


@dataclass(slots=True)
class _Reference:
    price: float
    pending: float | None = None
    pending_count: int = 0


class Sanitizer:
    """Per (venue, symbol) last good mark price; judges prices and timestamps."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], _Reference] = {}

    def check(self, item: FeedItem) -> FeedRejectReason | None:
        """None if the event is plausible, else the reject reason."""
        if item.ts_event_ns - item.ts_recv_ns > MAX_FUTURE_NS:
            return "stale_timestamp"
        if item.ts_recv_ns - item.ts_event_ns > MAX_PAST_NS:
            return "stale_timestamp"
        if isinstance(item, MarkPrice):
            return self._check_mark(item)
        if isinstance(item, Trade | Liquidation):
            reference = self._marks.get((item.venue, item.symbol))
            if reference is not None and _jumped(item.price, reference.price):
                return "price_jump"
        return None

    def _check_mark(self, mark: MarkPrice) -> FeedRejectReason | None:
        key = (mark.venue, mark.symbol)
        reference = self._marks.get(key)
        if reference is None:
            self._marks[key] = _Reference(mark.mark_price)
            return None
        if not _jumped(mark.mark_price, reference.price):
            reference.price = mark.mark_price
            reference.pending, reference.pending_count = None, 0
            return None
        if reference.pending is not None and not _jumped(mark.mark_price, reference.pending):
            reference.pending_count += 1
        else:
            reference.pending_count = 1
        reference.pending = mark.mark_price
        if reference.pending_count >= REBASE_AFTER:
            self._marks[key] = _Reference(mark.mark_price)
            return None
        return "price_jump"


def _jumped(price: float, reference: float) -> bool:
    return abs(price / reference - 1.0) > MAX_PRICE_JUMP
