"""The single writer: owns every ledger, turns events into risk snapshots and alerts.

One `Engine` instance is fed by one task (the daemon's consumer of the bounded feed queue,
or the replay loop); nothing else touches its ledgers. It reads no clock and does no I/O:
time comes in as values (`ingest` uses each event's receive time, `cycle` takes `now_ns`),
so a replay on a simulated clock produces exactly the alerts a live run would.

A risk cycle computes, per (venue, symbol) and per asset across venues ("all"):
fuel from the ledger (smeared), depth from the venue's book, the figures of three
depth scenarios, freshness, and the alerts of model-spec §6. The result is an immutable
`RiskSnapshot`: metrics, the HTTP API and the MQTT state topics all read that, never the
live ledgers. The daemon computes the periodic full cycle in steps of whole assets
(`full_cycle`, `cycle_step`), so that its event loop reads feeds, answers HTTP and runs
re-checks between them; the replay computes it in one step (`cycle`), by the same code.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from monitor.config import RiskSettings
from monitor.core.alerts import Alert, AlertPolicy, AlertThresholds, Observation
from monitor.core.bins import BinGrid, FloatArray
from monitor.core.cascade import STANDARD_SCENARIOS, Scenario
from monitor.core.events import (
    FeedItem,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Side,
)
from monitor.core.flow import FlowTracker
from monitor.core.ledger import Ledger
from monitor.core.risk import MarketInput, MarketRisk, SideRisk, assess
from monitor.core.venues import UnknownVenueError, VenueParams, venue_params
from monitor.feeds.base import Instrument
from monitor.feeds.book import DepthView

log = logging.getLogger("liqmon.engine")

NS = 1_000_000_000
AGGREGATE = "all"
"""The venue label of a per-asset market aggregated across venues."""
SCENARIO_NAMES: Mapping[Scenario, str] = MappingProxyType(
    dict(zip(STANDARD_SCENARIOS, ("displayed", "stressed_median", "stressed_p90"), strict=True))
)
"""Metric and API labels of the three published depth scenarios (W = 1, 0.29, 0.06)."""
SIDES = ("down", "up")
STREAMS = ("mark", "open_interest", "book")
OI_STALE_FACTOR = 2.0
"""Open interest may be polled (Binance every 5-30 s): it gets twice the price deadline."""


MIN_RECHECK_GAP_NS = 100_000_000
"""Re-checks after large moves run at most every 100 ms."""


@dataclass(slots=True)
class RiskSchedule:
    """When the next risk cycle runs, on any clock (the daemon's and the replay's rule).

    A full cycle every `interval_ns`, on a fixed cadence; when the engine wants a re-check
    (a mark moved `risk.recheck_move_pct` since its market's last cycle), a re-check of
    the moved markets at once, but no sooner than `min_gap_ns` after the previous re-check.
    A full cycle does not delay a re-check: it could not have seen the move.
    """

    interval_ns: int
    min_gap_ns: int
    last_recheck_ns: int
    next_full_ns: int
    recheck_ns: int | None = None

    @classmethod
    def start(cls, risk: RiskSettings, now_ns: int) -> RiskSchedule:
        """The schedule of `risk` from `now_ns`: the first full cycle one interval later."""
        interval = round(risk.interval_s * NS)
        return cls(
            interval, MIN_RECHECK_GAP_NS, last_recheck_ns=now_ns, next_full_ns=now_ns + interval
        )

    def due(self) -> int:
        """Time of the next cycle or re-check."""
        if self.recheck_ns is None:
            return self.next_full_ns
        gap_end = self.last_recheck_ns + self.min_gap_ns
        return min(self.next_full_ns, max(self.recheck_ns, gap_end))

    def full_due(self, now_ns: int) -> bool:
        """Whether a cycle at `now_ns` is the periodic full one (else a re-check)."""
        return now_ns >= self.next_full_ns

    def recheck(self, now_ns: int) -> None:
        """The engine asked for a re-check at `now_ns` (the first request stands)."""
        if self.recheck_ns is None:
            self.recheck_ns = now_ns

    def ran(self, now_ns: int, *, full: bool) -> None:
        """A cycle ran at `now_ns` (a full one also covers any pending re-check)."""
        self.recheck_ns = None
        if full:
            self.next_full_ns = now_ns + self.interval_ns
        else:
            self.last_recheck_ns = now_ns

    def full_started(self, now_ns: int) -> None:
        """A full cycle computed in steps (`Engine.full_cycle`) starts at `now_ns`.

        The cadence runs from its start, as for `ran`; a pending re-check stays pending: it
        runs between the steps, before the cycle reaches the moved markets.
        """
        self.next_full_ns = now_ns + self.interval_ns

    def recheck_due(self, now_ns: int) -> bool:
        """Whether a requested re-check may run at `now_ns` (its gap has passed)."""
        if self.recheck_ns is None:
            return False
        return now_ns >= max(self.recheck_ns, self.last_recheck_ns + self.min_gap_ns)

    def drop_recheck(self) -> None:
        """Forget a requested re-check whose markets a full cycle's step computed since."""
        self.recheck_ns = None

    def skip_until(self, until_ns: int) -> int:
        """Move the next full cycle to the last one of the cadence at or before `until_ns`.

        For a replay crossing a long stretch without input; how many cycles were left out.
        """
        skipped = max(0, (until_ns - self.next_full_ns) // self.interval_ns)
        self.next_full_ns += skipped * self.interval_ns
        return skipped


def params_for(venue: str, asset: str) -> VenueParams:
    """Default ledger parameters; an asset without its own defaults borrows the venue's BTC.

    Margin tiers of altcoins are usually stricter than BTC's; borrowing BTC's places their
    liquidation levels slightly too far away. Logged, so the assumption is visible.
    """
    try:
        return venue_params(venue, asset)
    except UnknownVenueError:
        log.warning("%s/%s: no ledger defaults, using the venue's BTC parameters", venue, asset)
        return dataclasses.replace(venue_params(venue, "BTC"), asset=asset)


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """One market at the end of a risk cycle. Arrays are read-only copies."""

    venue: str
    symbol: str
    asset: str
    price: float | None
    open_interest: float | None  # base units, one side
    coverage: float
    warm: bool  # the ledger holds positions (first OI with a price seen)
    stale: bool
    ages_s: Mapping[str, float]  # stream -> seconds since its last event
    risk: MarketRisk | None
    long_fuel: FloatArray | None  # USD per relative bin below the price
    short_fuel: FloatArray | None  # USD per relative bin above the price
    book_reach_pct: Mapping[str, float]  # side -> log % from mid to the farthest level
    book_levels: Mapping[str, int]
    liquidated_usd: Mapping[str, float]  # side -> cumulative observed, since start

    @property
    def open_interest_usd(self) -> float:
        """Open interest valued at the mark."""
        if self.open_interest is None or self.price is None:
            return 0.0
        return self.open_interest * self.price


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """Everything a cycle computed, keyed by (venue, symbol); "all" = per-asset aggregate."""

    ts_ns: int
    grid: BinGrid
    markets: Mapping[tuple[str, str], MarketSnapshot]
    alert_levels: Mapping[tuple[str, str, str], str]  # (venue, symbol, side) -> level name
    cycles: int  # full cycles and re-checks completed (a cycle run in steps counts once)

    @classmethod
    def empty(cls, grid: BinGrid) -> RiskSnapshot:
        """Before the first cycle."""
        return cls(ts_ns=0, grid=grid, markets=MappingProxyType({}), alert_levels={}, cycles=0)


@dataclass(slots=True)
class FullCycle:
    """A periodic full cycle computed in steps (`Engine.full_cycle`, `Engine.cycle_step`).

    The unit of a step is an asset: all its venue markets and its aggregate ("all") are
    computed together, at one time, from one set of books, so an aggregate never mixes
    venue figures of two steps. Each step publishes its markets at once (as a re-check
    does); re-checks may run between steps.
    """

    assets: deque[str]  # still to compute, in order
    steps: int = 0

    @property
    def done(self) -> bool:
        """Every asset of the cycle was computed."""
        return not self.assets


@dataclass(slots=True)
class _Market:
    instrument: Instrument
    flow: FlowTracker
    last_ns: dict[str, int] = field(default_factory=dict)  # stream -> recv ns
    liquidated_usd: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    book: DepthView | None = None  # the last synced book
    last_input: MarketInput | None = None  # what the last cycle computed risk from


def _read_only(array: FloatArray) -> FloatArray:
    copy = np.array(array, dtype=np.float64)
    copy.flags.writeable = False
    return copy


class Engine:
    """Ledgers of every configured market, and the alert policy; one writer only."""

    def __init__(
        self,
        risk: RiskSettings,
        alerts: AlertThresholds,
        *,
        started_ns: int,
        grid: BinGrid | None = None,
    ) -> None:
        self.settings = risk
        self.grid = grid or BinGrid()
        self.policy = AlertPolicy(alerts)
        self.started_ns = started_ns
        self.snapshot = RiskSnapshot.empty(self.grid)
        self.refused: Counter[tuple[str, str]] = Counter()  # (venue, reason)
        self._moved: set[tuple[str, str]] = set()  # marks that moved since their last cycle
        self._markets: dict[tuple[str, str], _Market] = {}
        self._asset_keys: dict[str, list[tuple[str, str]]] = {}  # asset -> its markets
        # The dicts behind `snapshot`'s read-only views. Each computation starts from a
        # copy of these (dict.copy, 9 µs with 800 markets and 1,600 levels) instead of a
        # dict built from the views key by key (336 µs): in one-asset steps every step
        # copies every market, which cost ~67 ms a cycle at 200 assets of 3 venues.
        self._published_markets: dict[tuple[str, str], MarketSnapshot] = {}
        self._published_levels: dict[tuple[str, str, str], str] = {}
        self._restored: dict[tuple[str, str], Ledger] = {}
        self._cycle_price: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------ set-up

    def restore(self, ledgers: Mapping[tuple[str, str], Ledger]) -> None:
        """Ledgers from a snapshot, adopted when their market is registered."""
        self._restored.update(ledgers)
        for key, market in self._markets.items():
            if key in self._restored and market.flow.ledger is None:
                market.flow = FlowTracker.restore(self._restored.pop(key))

    def register(self, instruments: Iterable[Instrument]) -> None:
        """Markets to follow; events of other symbols are ignored."""
        for instrument in instruments:
            key = (instrument.venue, instrument.symbol)
            if key in self._markets:
                continue
            restored = self._restored.pop(key, None)
            flow = (
                FlowTracker(params_for(instrument.venue, instrument.asset))
                if restored is None
                else FlowTracker.restore(restored)
            )
            self._markets[key] = _Market(instrument, flow)
            self._asset_keys.setdefault(instrument.asset, []).append(key)

    @property
    def markets(self) -> list[tuple[str, str]]:
        """Registered (venue, symbol) keys."""
        return list(self._markets)

    def ledgers(self) -> dict[tuple[str, str], Ledger]:
        """The live ledgers (for the snapshot writer, called from the writer's task)."""
        return {key: m.flow.ledger for key, m in self._markets.items() if m.flow.ledger}

    # ------------------------------------------------------------------ events

    def ingest(self, item: FeedItem) -> None:
        """Fold one event into its market's ledger and freshness clocks."""
        key = (item.venue, item.symbol)
        market = self._markets.get(key)
        if market is None:
            return
        if isinstance(item, MarkPrice):
            market.last_ns["mark"] = item.ts_recv_ns
            reference = self._cycle_price.get(key)
            move = self.settings.recheck_move_pct / 100.0
            if reference is not None and abs(math.log(item.mark_price / reference)) >= move:
                self._moved.add(key)
        elif isinstance(item, OpenInterest):
            market.last_ns["open_interest"] = item.ts_recv_ns
        elif isinstance(item, Liquidation):
            side = "down" if item.side is Side.LONG else "up"
            market.liquidated_usd[side] += item.notional_usd
        update = market.flow.observe(item)
        if update is not None and update.refused is not None:
            self.refused[(item.venue, update.refused)] += 1

    # ------------------------------------------------------------------ risk cycle

    @property
    def recheck_wanted(self) -> bool:
        """A mark moved by `recheck_move_pct` since its market's last cycle.

        Not before the first full cycle completed: until then the snapshot does not hold
        every market, and a re-check would count as the first cycle (`/readyz`).
        """
        return bool(self._moved) and self.snapshot.cycles > 0

    def cycle(
        self,
        now_ns: int,
        book_for: Callable[[tuple[str, str]], DepthView | None],
        *,
        moved_only: bool = False,
    ) -> tuple[RiskSnapshot, list[Alert]]:
        """Compute the markets' risk and the alerts it triggers; keeps the snapshot.

        `book_for` gives a market's synced book (None while it resyncs); it is asked only
        for the markets this cycle recomputes, so a re-check sorts no other book. The book feeds
        the venue's book builder, not this engine, so its freshness is measured here: a
        market keeps its last synced book through a short resync and turns stale only when
        no synced book was seen for the stale deadline.

        With `moved_only` (the immediate re-check after a large move) only the markets
        whose mark moved, and their assets' aggregates, are recomputed; the others keep
        their figures from the previous cycle. The cost of a re-check then does not grow
        with the number of markets followed.

        A full cycle is `full_cycle` done in one `cycle_step` (the replay's way): the same
        code computes it whole or in steps.
        """
        if moved_only:
            return self._compute(now_ns, self._moved & self._markets.keys(), book_for, True)
        run = self.full_cycle()
        return self.cycle_step(run, now_ns, book_for, assets=len(run.assets))

    def full_cycle(self) -> FullCycle:
        """A full cycle over every asset followed now, to compute with `cycle_step`."""
        return FullCycle(deque(sorted({m.instrument.asset for m in self._markets.values()})))

    def cycle_step(
        self,
        run: FullCycle,
        now_ns: int,
        book_for: Callable[[tuple[str, str]], DepthView | None],
        *,
        assets: int = 1,
    ) -> tuple[RiskSnapshot, list[Alert]]:
        """Compute the next `assets` assets of `run` at `now_ns` and publish them.

        Each asset is computed whole: its venue markets and its aggregate. The snapshot
        keeps the other markets' figures from their last cycle or re-check (as after a
        re-check); its `cycles` counts the full cycle once, at the step that completes it.
        Markets registered after `full_cycle` wait for the next one, unless their asset
        was in it.
        """
        take = min(max(1, assets), len(run.assets))
        chosen = {run.assets.popleft() for _ in range(take)}
        run.steps += 1
        keys = {key for asset in chosen for key in self._asset_keys[asset]}
        return self._compute(now_ns, keys, book_for, run.done)

    def _compute(
        self,
        now_ns: int,
        keys: set[tuple[str, str]],
        book_for: Callable[[tuple[str, str]], DepthView | None],
        completes: bool,
    ) -> tuple[RiskSnapshot, list[Alert]]:
        """Markets `keys` and their assets' aggregates at `now_ns`, their alerts, published.

        `completes`: this ends a full cycle or is a re-check (counted in `cycles`).
        """
        self._moved -= keys
        markets = self._published_markets.copy()
        levels = self._published_levels.copy()
        alerts: list[Alert] = []
        for key in sorted(keys):
            market = self._markets[key]
            book = book_for(key)
            if book is not None:
                market.book = book
                market.last_ns["book"] = now_ns
            snapshot, market.last_input = self._market(now_ns, market)
            markets[key] = snapshot
            if snapshot.price is not None:
                self._cycle_price[key] = snapshot.price
        assets = {self._markets[key].instrument.asset for key in keys}
        for asset in sorted(assets):
            markets[(AGGREGATE, asset)] = self._aggregate(asset, markets)
        for key in [*sorted(keys), *((AGGREGATE, asset) for asset in sorted(assets))]:
            snapshot = markets[key]
            alerts.extend(self._alerts(now_ns, snapshot))
            for side in SIDES:
                levels[(*key, side)] = self.policy.level(*key, side)
        self._published_markets, self._published_levels = markets, levels
        self.snapshot = RiskSnapshot(
            ts_ns=now_ns,
            grid=self.grid,
            markets=MappingProxyType(markets),
            alert_levels=MappingProxyType(levels),
            cycles=self.snapshot.cycles + (1 if completes else 0),
        )
        return self.snapshot, alerts

    def _ages(self, now_ns: int, market: _Market) -> dict[str, float]:
        return {
            stream: max(0.0, (now_ns - market.last_ns.get(stream, self.started_ns)) / NS)
            for stream in STREAMS
        }

    def _market(self, now_ns: int, market: _Market) -> tuple[MarketSnapshot, MarketInput | None]:
        instrument, flow, book = market.instrument, market.flow, market.book
        ledger = flow.ledger
        ages = self._ages(now_ns, market)
        deadline = self.settings.stale_after_s
        stale = (
            ages["mark"] > deadline
            or ages["open_interest"] > OI_STALE_FACTOR * deadline
            or ages["book"] > deadline
        )
        price = flow.mark
        reach, levels = _book_shape(price, book)
        risk = None
        market_input = None
        long_fuel = short_fuel = None
        if ledger is not None and price is not None:
            long_fuel, short_fuel = (
                _read_only(a) for a in ledger.fuel(price, self.grid, smear=True)
            )
            market_input = MarketInput(
                price=price,
                long_fuel=long_fuel,
                short_fuel=short_fuel,
                bids=None if book is None else (book.bid_prices, book.bid_sizes),
                asks=None if book is None else (book.ask_prices, book.ask_sizes),
                open_interest_usd=ledger.open_interest * price,
                coverage=ledger.coverage,
            )
            risk = assess(instrument.venue, instrument.symbol, [market_input], self.grid)
        snapshot = MarketSnapshot(
            venue=instrument.venue,
            symbol=instrument.symbol,
            asset=instrument.asset,
            price=price,
            open_interest=None if ledger is None else ledger.open_interest,
            coverage=0.0 if ledger is None else ledger.coverage,
            warm=ledger is not None,
            stale=stale,
            ages_s=MappingProxyType(ages),
            risk=risk,
            long_fuel=long_fuel,
            short_fuel=short_fuel,
            book_reach_pct=MappingProxyType(reach),
            book_levels=MappingProxyType(levels),
            liquidated_usd=MappingProxyType(dict(market.liquidated_usd)),
        )
        return snapshot, market_input

    def _aggregate(
        self, asset: str, markets: Mapping[tuple[str, str], MarketSnapshot]
    ) -> MarketSnapshot:
        """One asset across its fresh venues: fuel and depth add up bin by bin.

        With a single fresh venue the sum is that venue's own figures: they are reused
        instead of computed a second time.
        """
        members = [m for m in markets.values() if m.asset == asset and m.venue != AGGREGATE]
        fresh = [
            (m, self._markets[(m.venue, m.symbol)].last_input)
            for m in members
            if not m.stale and self._markets[(m.venue, m.symbol)].last_input is not None
        ]
        inputs = [i for _, i in fresh if i is not None]
        risk = None
        long_fuel = short_fuel = None
        only = fresh[0][0] if len(fresh) == 1 else None
        if only is not None and only.risk is not None:
            risk = dataclasses.replace(only.risk, venue=AGGREGATE, symbol=asset)
            long_fuel, short_fuel = only.long_fuel, only.short_fuel
        elif inputs:
            risk = assess(AGGREGATE, asset, inputs, self.grid)
            long_fuel = _read_only(np.sum([i.long_fuel for i in inputs], axis=0))
            short_fuel = _read_only(np.sum([i.short_fuel for i in inputs], axis=0))
        liquidated: defaultdict[str, float] = defaultdict(float)
        for member in members:
            for side, usd in member.liquidated_usd.items():
                liquidated[side] += usd
        return MarketSnapshot(
            venue=AGGREGATE,
            symbol=asset,
            asset=asset,
            price=None if risk is None else risk.price,
            open_interest=sum(m.open_interest or 0.0 for m in members if not m.stale) or None,
            coverage=0.0 if risk is None else risk.coverage,
            warm=any(m.warm for m in members),
            # No fresh venue, and at least one whose data is late: while every venue is
            # still starting up (neither warm nor stale) the aggregate is starting too.
            stale=not inputs and any(m.stale for m in members),
            ages_s=MappingProxyType(
                {s: min(m.ages_s[s] for m in members) for s in STREAMS} if members else {}
            ),
            risk=risk,
            long_fuel=long_fuel,
            short_fuel=short_fuel,
            book_reach_pct=MappingProxyType({}),
            book_levels=MappingProxyType({}),
            liquidated_usd=MappingProxyType(dict(liquidated)),
        )

    def _alerts(self, now_ns: int, market: MarketSnapshot) -> list[Alert]:
        if not market.warm and not market.stale:
            return []  # still starting up: neither risk nor staleness to report
        alerts = []
        for side in SIDES:
            side_risk = _side(market.risk, side)
            displayed = None if side_risk is None else side_risk.reports[0]
            observation = Observation(
                now_ns=now_ns,
                venue=market.venue,
                symbol=market.symbol,
                side=side,
                critical_shock_pct=None if displayed is None else displayed.critical_shock_pct,
                price=market.price or 0.0,
                coverage=market.coverage,
                stale=market.stale,
                unavailable=side_risk is None,
                clusters=() if side_risk is None else side_risk.clusters,
                figures=_alert_figures(side_risk),
            )
            alerts.extend(self.policy.observe(observation))
        return alerts


def _side(risk: MarketRisk | None, side: str) -> SideRisk | None:
    if risk is None:
        return None
    return risk.down if side == "down" else risk.up


def _alert_figures(side_risk: SideRisk | None) -> dict[str, float | None]:
    """The numbers behind an alert: critical shock and sell size per scenario, depth."""
    if side_risk is None:
        return {}
    figures: dict[str, float | None] = {}
    for report in side_risk.reports:
        name = SCENARIO_NAMES.get(report.scenario, f"w{report.scenario.withdrawal:g}")
        figures[f"critical_shock_pct_{name}"] = report.critical_shock_pct
        figures[f"critical_sell_usd_{name}"] = report.critical_sell_usd
        for within in ("1", "2"):
            figures[f"depth_usd_within_{within}pct_{name}"] = report.depth_usd_within_pct[within]
    displayed = side_risk.reports[0]
    for within in ("1", "2"):
        figures[f"fuel_usd_within_{within}pct"] = displayed.fuel_usd_within_pct[within]
    return figures


def _book_shape(
    price: float | None, book: DepthView | None
) -> tuple[dict[str, float], dict[str, int]]:
    """How far each side of the book reaches (log %) and how many levels it holds."""
    if book is None:
        return {}, {}
    levels = {"bid": int(book.bid_prices.size), "ask": int(book.ask_prices.size)}
    reach: dict[str, float] = {}
    if price is not None and book.bid_prices.size:
        reach["bid"] = max(0.0, 100.0 * math.log(price / float(book.bid_prices[-1])))
    if price is not None and book.ask_prices.size:
        reach["ask"] = max(0.0, 100.0 * math.log(float(book.ask_prices[-1]) / price))
    return reach, levels
