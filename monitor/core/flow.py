"""From a stream of normalised events to ledger updates, per (venue, symbol) (pure).

The ledger is updated once per open-interest observation (model-spec §5) with what
happened since the previous one: the interval's mark low and high, the observed
liquidations of each side and the traded volume at each price. `FlowTracker` collects
exactly that between two OI events and folds it into the `Ledger` it owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from monitor.core.events import FeedGap, FeedItem, Liquidation, MarkPrice, OpenInterest, Side, Trade
from monitor.core.ledger import (
    InvalidObservationError,
    Ledger,
    OiObservation,
    Outcome,
    UpdateResult,
)
from monitor.core.venues import VenueParams

DEFAULT_COLD_START_RANGE = 0.05
"""Half-width (log) of the range start-up OI is spread over while no history is loaded."""
MAX_TRADE_PRICES = 5_000
"""Distinct trade prices kept per interval; beyond it, prices are rounded to 1 bp."""


@dataclass(slots=True)
class _Interval:
    low: float = float("inf")
    high: float = 0.0
    liquidated: dict[Side, float] = field(default_factory=lambda: {Side.LONG: 0.0, Side.SHORT: 0.0})
    volume: dict[float, float] = field(default_factory=dict)

    def see(self, price: float) -> None:
        self.low = min(self.low, price)
        self.high = max(self.high, price)


@dataclass(frozen=True, slots=True)
class FlowUpdate:
    """What one OI observation did: the ledger's accounting, or why it was refused."""

    result: UpdateResult | None
    refused: str | None = None


class FlowTracker:
    """One (venue, symbol): the interval since the last OI, and the ledger it feeds."""

    def __init__(
        self, params: VenueParams, cold_start_range: float = DEFAULT_COLD_START_RANGE
    ) -> None:
        self.params = params
        self.cold_start_range = cold_start_range
        self.ledger: Ledger | None = None
        self.mark: float | None = None
        self._interval = _Interval()
        self._gap = False

    @classmethod
    def restore(
        cls, ledger: Ledger, cold_start_range: float = DEFAULT_COLD_START_RANGE
    ) -> FlowTracker:
        """Resume from a ledger restored from a snapshot (`Ledger.from_state`).

        The downtime is a data gap: the ledger is told so (`Ledger.note_gap`), and the
        first open-interest change after the restart is booked as mass of unknown origin
        (legacy), never as new positions. As after every observation, the interval starts
        at the ledger's last mark; open interest is ignored until a fresh mark arrives.
        """
        tracker = cls(ledger.params, cold_start_range)
        ledger.note_gap()
        tracker.ledger = ledger
        tracker._interval.see(ledger.mark_price)
        return tracker

    def observe(self, item: FeedItem) -> FlowUpdate | None:
        """Take one event; returns an update when it was an open-interest observation."""
        if isinstance(item, MarkPrice):
            self.mark = item.mark_price
            self._interval.see(item.mark_price)
        elif isinstance(item, Liquidation):
            self._interval.liquidated[item.side] += item.quantity
        elif isinstance(item, Trade):
            volume = self._interval.volume
            price = item.price
            if len(volume) >= MAX_TRADE_PRICES and price not in volume:
                price = round(price, -int(np.floor(np.log10(price))) + 4)
            volume[price] = volume.get(price, 0.0) + item.quantity
        elif isinstance(item, FeedGap):
            self._gap = True
        elif isinstance(item, OpenInterest):
            return self._open_interest(item.open_interest)
        return None

    def _open_interest(self, open_interest: float) -> FlowUpdate | None:
        if self.mark is None:
            return None  # no price yet: nothing to anchor positions to
        mark = self.mark
        interval = self._interval
        interval.see(mark)
        if self.ledger is None:
            self.ledger = Ledger(self.params, mark)
            spread = np.exp(self.cold_start_range)
            self.ledger.cold_start(open_interest, mark, mark / spread, mark * spread)
            self._reset(mark)
            return FlowUpdate(result=None)
        if self._gap:
            self.ledger.note_gap()
        prices = quantities = None
        if interval.volume:
            prices = np.fromiter(interval.volume.keys(), dtype=np.float64)
            quantities = np.fromiter(interval.volume.values(), dtype=np.float64)
        observation = OiObservation(
            open_interest=open_interest,
            mark_price=mark,
            low=interval.low,
            high=interval.high,
            liquidated_long=interval.liquidated[Side.LONG],
            liquidated_short=interval.liquidated[Side.SHORT],
            trade_prices=prices,
            trade_quantities=quantities,
        )
        try:
            result = self.ledger.apply(observation)
        except InvalidObservationError as error:
            # What the interval holds made it invalid (a sum that overflowed): carried
            # over, it would have every later reading refused too.
            self._reset(mark)
            return FlowUpdate(result=None, refused=error.reason)
        if result.outcome is not Outcome.ANOMALY:
            # Applied or rebaselined: the interval is booked. A skipped reading is no
            # observation; the next one crosses with its low/high, liquidations and
            # trades too (model-spec §5: the interval since the previous observation).
            self._reset(mark)
        return FlowUpdate(result=result)

    def _reset(self, mark: float) -> None:
        self._interval = _Interval()
        self._interval.see(mark)
        self._gap = False
