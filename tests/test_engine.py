"""The engine without any I/O: events in, snapshots and alerts out, time as a value.

Events follow the SIMULATED cascade path of tests/fake_venues/cascade.py (OI builds up at
70,000, price falls into the planted longs, recovers), one point per half second.
"""

from __future__ import annotations

import numpy as np
import pytest
from fake_venues.cascade import cascade_path

from monitor.config import RiskSettings
from monitor.core.alerts import AlertThresholds
from monitor.core.events import MarkPrice, OpenInterest
from monitor.core.venues import ContractType
from monitor.engine import AGGREGATE, Engine
from monitor.feeds.base import Instrument, SizeUnit
from monitor.feeds.book import DepthView

NS = 1_000_000_000
STEP_NS = NS // 2


def instrument(symbol: str) -> Instrument:
    return Instrument(
        venue="hyperliquid",
        symbol=symbol,
        asset=symbol,
        contract_type=ContractType.LINEAR,
        size_unit=SizeUnit.BASE,
    )


def book(mark: float, size: float = 6.0, levels: int = 40) -> DepthView:
    steps = 1.0 + 0.0005 * np.arange(1, levels + 1)
    return DepthView(mark / steps, np.full(levels, size), mark * steps, np.full(levels, size))


def engine(**alerts: float) -> Engine:
    thresholds = AlertThresholds(**{"resolve_hold_s": 1.0, **alerts})
    built = Engine(RiskSettings(), thresholds, started_ns=0)
    built.register([instrument("BTC"), instrument("ETH")])
    return built


def feed(built: Engine, symbol: str, t_ns: int, mark: float, oi: float) -> None:
    header = {"venue": "hyperliquid", "symbol": symbol, "ts_event_ns": t_ns, "ts_recv_ns": t_ns}
    built.ingest(MarkPrice(**header, mark_price=mark))
    built.ingest(OpenInterest(**header, open_interest=oi))


def test_cascade_path_warns_goes_critical_and_resolves_per_venue_and_aggregate():
    built = engine()
    raised: list[tuple[str, str, str]] = []
    for step, (mark, oi) in enumerate(cascade_path()):
        t = (step + 1) * STEP_NS
        feed(built, "BTC", t, mark, oi)
        feed(built, "ETH", t, 3_000.0, 100.0)
        _, alerts = built.cycle(
            t, {("hyperliquid", "BTC"): book(mark), ("hyperliquid", "ETH"): book(3_000.0)}.get
        )
        raised += [(a.venue, a.side, a.severity.value) for a in alerts if a.symbol == "BTC"]
    for venue in ("hyperliquid", AGGREGATE):
        down = [severity for v, side, severity in raised if v == venue and side == "down"]
        assert down.index("warning") < down.index("critical") < down.index("resolved")


def test_a_recheck_recomputes_only_the_markets_that_moved():
    built = engine()
    books = {("hyperliquid", "BTC"): book(70_000.0), ("hyperliquid", "ETH"): book(3_000.0)}
    for step in range(6):
        t = (step + 1) * STEP_NS
        feed(built, "BTC", t, 70_000.0, 1_000.0 + 100 * step)
        feed(built, "ETH", t, 3_000.0, 100.0)
        before, _ = built.cycle(t, books.get)
    wanted = [built.recheck_wanted]
    feed(built, "BTC", 7 * STEP_NS, 70_000.0 * 0.99, 1_500.0)  # a 1 % move
    wanted.append(built.recheck_wanted)
    after, _ = built.cycle(7 * STEP_NS, books.get, moved_only=True)
    wanted.append(built.recheck_wanted)
    assert wanted == [False, True, False]
    assert after.markets[("hyperliquid", "ETH")] is before.markets[("hyperliquid", "ETH")]
    assert after.markets[(AGGREGATE, "ETH")] is before.markets[(AGGREGATE, "ETH")]
    assert after.markets[("hyperliquid", "BTC")].price == pytest.approx(69_300.0)
    assert after.markets[(AGGREGATE, "BTC")].price == pytest.approx(69_300.0)


def test_with_one_venue_the_aggregate_reports_that_venues_figures():
    built = engine()
    for step in range(6):
        t = (step + 1) * STEP_NS
        feed(built, "BTC", t, 70_000.0, 1_000.0 + 200 * step)
        snapshot, _ = built.cycle(t, {("hyperliquid", "BTC"): book(70_000.0)}.get)
    venue = snapshot.markets[("hyperliquid", "BTC")]
    aggregate = snapshot.markets[(AGGREGATE, "BTC")]
    assert venue.risk is not None
    assert aggregate.risk is not None
    assert aggregate.risk.venue == AGGREGATE
    assert aggregate.risk.down == venue.risk.down
    assert aggregate.risk.up == venue.risk.up


def test_a_silent_market_turns_stale_raises_data_stale_and_leaves_the_aggregate():
    built = engine()
    books = {("hyperliquid", "BTC"): book(70_000.0), ("hyperliquid", "ETH"): book(3_000.0)}
    for step in range(4):
        t = (step + 1) * STEP_NS
        feed(built, "BTC", t, 70_000.0, 1_000.0)
        feed(built, "ETH", t, 3_000.0, 100.0)
        built.cycle(t, books.get)
    late = 4 * STEP_NS + 31 * NS  # ETH goes on, BTC stays silent past 30 s
    for t in (late - NS, late):
        feed(built, "ETH", t, 3_000.0, 100.0)
    snapshot, alerts = built.cycle(late, books.get)
    assert snapshot.markets[("hyperliquid", "BTC")].stale
    assert not snapshot.markets[("hyperliquid", "ETH")].stale
    stale = {(a.venue, a.symbol, a.side) for a in alerts if a.severity.value == "data_stale"}
    assert stale == {
        (v, "BTC", side) for v in ("hyperliquid", AGGREGATE) for side in ("down", "up")
    }
    assert snapshot.alert_levels[("hyperliquid", "BTC", "down")] == "stale"
