"""A local order book kept per each venue's snapshot-plus-delta procedure (pure).

The builder knows nothing about venues: adapters fill `sequence`, `prev_sequence` and
`first_sequence` so three rules cover all five procedures:

- Binance bridging: after a snapshot with id S, deltas with `sequence` < S are stale; the
  first applied delta must satisfy `first_sequence <= S <= sequence`.
- Chained deltas (Binance `pu`, OKX `prevSeqId`, Deribit `prev_change_id`): `prev_sequence`
  must equal the last applied sequence.
- Otherwise (Bybit `u`): the sequence must increase.

Anything else, or a crossed book after a delta, means the book is no longer trustworthy:
`apply` reports it and the supervisor rebuilds from a fresh snapshot.

The crossed check runs after every delta, so the best prices are kept in lazy heaps (a
removed level leaves the heap only when it reaches the top) instead of scanning the book.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from monitor.core.bins import FloatArray
from monitor.core.events import BookSnapshot, BookUpdate, Level


class BookStatus(StrEnum):
    """What applying one message did."""

    APPLIED = "applied"
    STALE = "stale"  # older than the snapshot (normal while bridging): ignored
    NO_SNAPSHOT = "no_snapshot"  # a delta before any snapshot: buffer or wait
    GAP = "gap"  # a missing delta: resync
    DUPLICATE = "duplicate"  # already applied: ignored, counted
    CROSSED = "crossed"  # best bid >= best ask after applying: resync


@dataclass(frozen=True, slots=True)
class DepthView:
    """Both sides of the book as sorted arrays, best first (what the core consumes)."""

    bid_prices: FloatArray
    bid_sizes: FloatArray
    ask_prices: FloatArray
    ask_sizes: FloatArray


class OrderBook:
    """One symbol's book; the supervisor owns it and feeds it in arrival order."""

    def __init__(self) -> None:
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        self._bid_heap: list[float] = []  # negated prices: heapq is a min-heap
        self._ask_heap: list[float] = []
        self.sequence: int | None = None
        self.synced = False
        self._bridged = False

    def reset(self) -> None:
        """Forget everything: the next message must be a snapshot."""
        self._bids.clear()
        self._asks.clear()
        self._bid_heap.clear()
        self._ask_heap.clear()
        self.sequence = None
        self.synced = False
        self._bridged = False

    def apply_snapshot(self, snapshot: BookSnapshot) -> BookStatus:
        """Replace the book."""
        self._bids = {price: size for price, size in snapshot.bids if size > 0.0}
        self._asks = {price: size for price, size in snapshot.asks if size > 0.0}
        self._bid_heap = [-price for price in self._bids]
        self._ask_heap = list(self._asks)
        heapq.heapify(self._bid_heap)
        heapq.heapify(self._ask_heap)
        self.sequence = snapshot.sequence
        self.synced = True
        self._bridged = False
        return BookStatus.APPLIED

    def apply_update(self, update: BookUpdate) -> BookStatus:
        """Apply one delta if it follows the book; otherwise say why not."""
        if not self.synced:
            return BookStatus.NO_SNAPSHOT
        status = self._check_sequence(update)
        if status is not BookStatus.APPLIED:
            return status
        _apply_levels(self._bids, self._bid_heap, update.bids, -1.0)
        _apply_levels(self._asks, self._ask_heap, update.asks, 1.0)
        if update.sequence is not None:
            self.sequence = update.sequence
        self._bridged = True
        if self.crossed():
            self.synced = False
            return BookStatus.CROSSED
        return BookStatus.APPLIED

    def _check_sequence(self, update: BookUpdate) -> BookStatus:
        last, seq = self.sequence, update.sequence
        if last is None or seq is None:
            return BookStatus.APPLIED
        if update.first_sequence is not None and not self._bridged:
            return self._check_bridge(update.first_sequence, seq, last)
        if update.prev_sequence is not None:
            if update.prev_sequence == last:
                return BookStatus.APPLIED
            if seq <= last and update.first_sequence is not None:
                return BookStatus.DUPLICATE
            self.synced = False
            return BookStatus.GAP
        return BookStatus.APPLIED if seq > last else BookStatus.DUPLICATE

    def _check_bridge(self, first: int, seq: int, snapshot: int) -> BookStatus:
        """The first delta after a REST snapshot must span it: first <= snapshot <= seq."""
        if seq < snapshot:
            return BookStatus.STALE
        if first > snapshot:
            self.synced = False
            return BookStatus.GAP
        return BookStatus.APPLIED

    def crossed(self) -> bool:
        """Best bid at or above best ask."""
        if not self._bids or not self._asks:
            return False
        return -_top(self._bid_heap, self._bids, -1.0) >= _top(self._ask_heap, self._asks, 1.0)

    @property
    def levels(self) -> tuple[int, int]:
        """How many bid and ask levels the book holds."""
        return len(self._bids), len(self._asks)

    def view(self) -> DepthView:
        """Sorted arrays of both sides, best first."""
        bid_prices, bid_sizes = _sorted_side(self._bids, descending=True)
        ask_prices, ask_sizes = _sorted_side(self._asks, descending=False)
        return DepthView(bid_prices, bid_sizes, ask_prices, ask_sizes)


def synced_view(books: Mapping[str, OrderBook], symbol: str) -> DepthView | None:
    """The book of `symbol` as sorted arrays; None while it has none or resyncs."""
    book = books.get(symbol)
    return book.view() if book is not None and book.synced else None


def _apply_levels(
    side: dict[float, float], heap: list[float], levels: tuple[Level, ...], sign: float
) -> None:
    """Set or delete levels; a new price also goes into the heap (as `sign * price`)."""
    for price, size in levels:
        if size > 0.0:
            if price not in side:
                heapq.heappush(heap, sign * price)
            side[price] = size
        else:
            side.pop(price, None)
    if len(heap) > 2 * len(side) + 64:  # removed prices pile up: rebuild from the book
        heap[:] = [sign * price for price in side]
        heapq.heapify(heap)


def _top(heap: list[float], side: dict[float, float], sign: float) -> float:
    """The heap's best key still in the book (`side` must not be empty)."""
    while sign * heap[0] not in side:
        heapq.heappop(heap)
    return heap[0]


def _sorted_side(side: dict[float, float], *, descending: bool) -> tuple[FloatArray, FloatArray]:
    count = len(side)
    prices = np.fromiter(side.keys(), dtype=np.float64, count=count)
    sizes = np.fromiter(side.values(), dtype=np.float64, count=count)
    # Prices are distinct (dict keys), so any sort gives the one order, and reversing the
    # ascending one is the descending one: the default sort, faster than a stable one.
    order = np.argsort(prices)
    if descending:
        order = order[::-1]
    return prices[order], sizes[order]
