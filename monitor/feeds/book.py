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
"""

from __future__ import annotations

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
        self.sequence: int | None = None
        self.synced = False
        self._bridged = False

    def reset(self) -> None:
        """Forget everything: the next message must be a snapshot."""
        self._bids.clear()
        self._asks.clear()
        self.sequence = None
        self.synced = False
        self._bridged = False

    def apply_snapshot(self, snapshot: BookSnapshot) -> BookStatus:
        """Replace the book."""
        self._bids = {price: size for price, size in snapshot.bids if size > 0.0}
        self._asks = {price: size for price, size in snapshot.asks if size > 0.0}
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
        _apply_levels(self._bids, update.bids)
        _apply_levels(self._asks, update.asks)
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
        return bool(self._bids and self._asks and max(self._bids) >= min(self._asks))

    @property
    def levels(self) -> tuple[int, int]:
        """How many bid and ask levels the book holds."""
        return len(self._bids), len(self._asks)

    def view(self) -> DepthView:
        """Sorted arrays of both sides, best first."""
        bids = np.array(sorted(self._bids.items(), reverse=True), dtype=np.float64).reshape(-1, 2)
        asks = np.array(sorted(self._asks.items()), dtype=np.float64).reshape(-1, 2)
        return DepthView(
            bid_prices=bids[:, 0].copy(),
            bid_sizes=bids[:, 1].copy(),
            ask_prices=asks[:, 0].copy(),
            ask_sizes=asks[:, 1].copy(),
        )


def synced_view(books: Mapping[str, OrderBook], symbol: str) -> DepthView | None:
    """The book of `symbol` as sorted arrays; None while it has none or resyncs."""
    book = books.get(symbol)
    return book.view() if book is not None and book.synced else None


def _apply_levels(side: dict[float, float], levels: tuple[Level, ...]) -> None:
    for price, size in levels:
        if size > 0.0:
            side[price] = size
        else:
            side.pop(price, None)
