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
from monitor.engine import AGGREGATE, Engine, RiskSnapshot
from monitor.feeds.base import Instrument, SizeUnit
from monitor.feeds.book import DepthView

NS = 1_000_000_000
STEP_NS = NS // 2


def instrument(symbol: str, venue: str = "hyperliquid", asset: str | None = None) -> Instrument:
    return Instrument(
        venue=venue,
        symbol=symbol,
        asset=asset or symbol,
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


def feed(
    built: Engine, symbol: str, t_ns: int, mark: float, oi: float, *, venue: str = "hyperliquid"
) -> None:
    header = {"venue": venue, "symbol": symbol, "ts_event_ns": t_ns, "ts_recv_ns": t_ns}
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


def test_an_asset_still_starting_up_sends_no_data_stale_for_its_aggregate():
    # ETH is never fed: within the stale deadline it is starting up, on its venue and in
    # its aggregate alike (the aggregate used to send data_stale at the first cycle); past
    # the deadline both turn stale together.
    built = engine()
    books = {("hyperliquid", "BTC"): book(70_000.0)}
    feed(built, "BTC", STEP_NS, 70_000.0, 1_000.0)
    snapshot, alerts = built.cycle(STEP_NS, books.get)
    assert not snapshot.markets[(AGGREGATE, "ETH")].stale
    assert [a for a in alerts if a.symbol == "ETH"] == []
    late = 31 * NS
    feed(built, "BTC", late, 70_000.0, 1_000.0)
    snapshot, alerts = built.cycle(late, books.get)
    stale = {(a.venue, a.symbol, a.side) for a in alerts if a.severity.value == "data_stale"}
    assert stale == {
        (v, "ETH", side) for v in ("hyperliquid", AGGREGATE) for side in ("down", "up")
    }


def test_a_book_side_without_depth_keeps_its_alert_active():
    built = engine()
    thin = book(70_000.0, size=1e-6)
    no_bids = DepthView(np.empty(0), np.empty(0), thin.ask_prices, thin.ask_sizes)
    raised: list[tuple[str, str]] = []
    for step, depth in enumerate([thin] * 4 + [no_bids] * 8):  # 6 s without bids
        t = (step + 1) * STEP_NS
        feed(built, "BTC", t, 70_000.0, 1_000.0)
        snapshot, alerts = built.cycle(t, {("hyperliquid", "BTC"): depth}.get)
        raised += [
            (a.venue, a.severity.value) for a in alerts if a.symbol == "BTC" and a.side == "down"
        ]
    venue = snapshot.markets[("hyperliquid", "BTC")]
    assert not venue.stale
    assert venue.risk is not None
    assert venue.risk.down is None  # unavailable (model-spec §2), not "no cascade"
    assert raised == [("hyperliquid", "critical"), (AGGREGATE, "critical")]
    for market in ("hyperliquid", AGGREGATE):
        assert snapshot.alert_levels[(market, "BTC", "down")] == "critical"


# Markets of the stepped-cycle tests: BTC on two venues (a real aggregate), ETH and SOL.
STEPPED = (
    ("hyperliquid", "BTC", "BTC"),
    ("binance", "BTCUSDT", "BTC"),
    ("hyperliquid", "ETH", "ETH"),
    ("hyperliquid", "SOL", "SOL"),
)
MARKS = {"BTC": 70_000.0, "BTCUSDT": 70_010.0, "ETH": 3_000.0, "SOL": 150.0}


def stepped_engine(steps: int = 6) -> tuple[Engine, dict[tuple[str, str], DepthView]]:
    """An engine over STEPPED, fed and cycled whole `steps` times (ledgers warm)."""
    built = Engine(RiskSettings(), AlertThresholds(resolve_hold_s=1.0), started_ns=0)
    built.register([instrument(symbol, venue, asset) for venue, symbol, asset in STEPPED])
    books = {(venue, symbol): book(MARKS[symbol]) for venue, symbol, _ in STEPPED}
    for step in range(steps):
        t = (step + 1) * STEP_NS
        for venue, symbol, _ in STEPPED:
            feed(built, symbol, t, MARKS[symbol], 1_000.0 + 100 * step, venue=venue)
        built.cycle(t, books.get)
    return built, books


def test_a_full_cycle_in_steps_gives_what_the_whole_cycle_gives():
    whole, books = stepped_engine()
    stepped, _ = stepped_engine()
    t = 7 * STEP_NS
    for built in (whole, stepped):  # the cascade market's fall: a critical alert or more
        feed(built, "BTC", t, 68_000.0, 3_000.0)
    whole_snapshot, whole_alerts = whole.cycle(t, books.get)
    run = stepped.full_cycle()
    assert list(run.assets) == ["BTC", "ETH", "SOL"]
    stepped_alerts = []
    snapshots = []
    while not run.done:
        snapshot, alerts = stepped.cycle_step(run, t, books.get, assets=1)
        snapshots.append(snapshot)
        stepped_alerts += alerts
    assert run.steps == 3
    assert stepped_alerts == whole_alerts
    assert any(alert.severity.value == "critical" for alert in whole_alerts)
    assert snapshots[-1].alert_levels == whole_snapshot.alert_levels
    for key, market in whole_snapshot.markets.items():
        assert snapshots[-1].markets[key].risk == market.risk, key
    # Each step publishes whole assets; the full cycle counts once, at its last step.
    assert [s.cycles for s in snapshots] == [6, 6, 7]
    assert whole_snapshot.cycles == 7


def test_a_step_computes_an_asset_with_all_its_venues_and_its_aggregate():
    built, books = stepped_engine()
    before = built.snapshot
    run = built.full_cycle()
    after, _ = built.cycle_step(run, 7 * STEP_NS, books.get, assets=1)
    changed = {key for key, market in after.markets.items() if before.markets[key] is not market}
    assert changed == {("hyperliquid", "BTC"), ("binance", "BTCUSDT"), (AGGREGATE, "BTC")}
    assert after.ts_ns == 7 * STEP_NS
    assert list(run.assets) == ["ETH", "SOL"]


def test_a_recheck_between_steps_recomputes_the_moved_market_at_once():
    built, books = stepped_engine()
    run = built.full_cycle()
    order: list[tuple[str, frozenset[tuple[str, str]], int]] = []

    def record(kind: str, before: RiskSnapshot, after: RiskSnapshot) -> None:
        changed = {k for k, m in after.markets.items() if before.markets.get(k) is not m}
        order.append((kind, frozenset(changed), after.cycles))

    before = built.snapshot
    after, _ = built.cycle_step(run, 7 * STEP_NS, books.get)  # BTC
    record("step", before, after)
    feed(built, "SOL", 7 * STEP_NS + 1, 150.0 * 0.99, 1_600.0)  # a 1 % move, SOL not yet done
    wanted = [built.recheck_wanted]
    before, (after, _) = after, built.cycle(7 * STEP_NS + 2, books.get, moved_only=True)
    record("recheck", before, after)
    wanted.append(built.recheck_wanted)
    assert wanted == [True, False]
    assert after.markets[("hyperliquid", "SOL")].price == pytest.approx(148.5)
    while not run.done:
        before, (after, _) = after, built.cycle_step(run, 7 * STEP_NS + 3, books.get)
        record("step", before, after)
    sol = frozenset({("hyperliquid", "SOL"), (AGGREGATE, "SOL")})
    btc = frozenset({("hyperliquid", "BTC"), ("binance", "BTCUSDT"), (AGGREGATE, "BTC")})
    eth = frozenset({("hyperliquid", "ETH"), (AGGREGATE, "ETH")})
    assert order == [
        ("step", btc, 6),
        ("recheck", sol, 7),  # counted as a re-check; the full cycle goes on
        ("step", eth, 7),
        ("step", sol, 8),  # the cycle computes SOL again, from the same inputs
    ]


def test_no_recheck_before_the_first_full_cycle_completed():
    built = Engine(RiskSettings(), AlertThresholds(), started_ns=0)
    built.register([instrument("BTC"), instrument("ETH")])
    books = {("hyperliquid", "BTC"): book(70_000.0), ("hyperliquid", "ETH"): book(3_000.0)}
    feed(built, "BTC", STEP_NS, 70_000.0, 1_000.0)
    feed(built, "ETH", STEP_NS, 3_000.0, 100.0)
    run = built.full_cycle()
    built.cycle_step(run, STEP_NS, books.get)  # BTC
    feed(built, "BTC", 2 * STEP_NS, 69_000.0, 1_000.0)  # moved since its step
    wanted = [built.recheck_wanted]  # the snapshot does not hold ETH yet
    built.cycle_step(run, 2 * STEP_NS, books.get)  # ETH: the first cycle is complete
    wanted.append(built.recheck_wanted)
    assert wanted == [False, True]
