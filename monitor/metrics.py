"""Prometheus metrics: a collector that reads the latest immutable risk snapshot.

Nothing here holds state of its own apart from the risk-cycle histogram: at scrape time
the collector turns the engine's last `RiskSnapshot` and the feeds' and sinks' counters
into metric families. Labels are low-cardinality by construction: venue, symbol, side,
scenario, fixed distance bands and shock sizes, reasons from fixed sets; never a price.

Every sample is finite: a figure that does not exist (no critical shock within the
searched range, a side without a book) is left out rather than published as NaN.

Counters whose labels come from a fixed set (reject reasons per running venue, crashes per
running venue, alert severities) start at 0 for every label set, so `rate()` sees the first
event and a dashboard shows 0 rather than "no data" before anything went wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.core.alerts import Severity
from monitor.engine import SCENARIO_NAMES, SIDES, STREAMS, MarketSnapshot, RiskSnapshot
from monitor.feeds.base import FEED_REJECT_REASONS
from monitor.feeds.supervisor import FeedStats

ALERT_LEVELS: Mapping[str, int] = {"none": 0, "warning": 1, "critical": 2, "stale": 3}
"""Numeric `liqmon_alert_state`: what Grafana colours and Prometheus rules compare."""
SHALLOW_BOOK_PCT = 5.0
"""A book side that reaches less than this far from the price is 'shallow': beyond it the
core extrapolates depth with the square-root law."""
CYCLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FeedSource(Protocol):
    """What the collector reads of a venue's supervisor."""

    venue: str
    stats: FeedStats


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """An alert sink's figures at scrape time."""

    name: str
    connected: bool
    pending: int  # items waiting in the outbox
    dropped: int  # items dropped past the outbox bound
    published: Mapping[str, int]  # delivered messages by kind
    refused: int = 0  # alerts the receiver refused for good (webhook 4xx), dropped


class DaemonSource(Protocol):
    """Everything the collector reads; the daemon implements it."""

    def risk_snapshot(self) -> RiskSnapshot:
        """The latest risk snapshot."""

    def feed_sources(self) -> Iterable[FeedSource]:
        """Running venue supervisors."""

    def sink_status(self) -> Iterable[SinkStatus]:
        """Configured alert sinks."""

    def rejected(self) -> Mapping[tuple[str, str], int]:
        """Rejected frames by (venue, reason)."""

    def refused(self) -> Mapping[tuple[str, str], int]:
        """Open-interest observations the ledger refused, by (venue, reason)."""

    def alerts_sent(self) -> Mapping[str, int]:
        """Alerts raised by severity."""

    def queue_depth(self) -> tuple[int, int]:
        """Items in the feed queue and its capacity."""

    def venue_crashes(self) -> Mapping[str, int]:
        """Restarts of a venue's feed after an unexpected error."""

    def recording_active(self) -> bool | None:
        """Whether `--record` still writes (False after a write error); None: not recording."""


def _gauge(name: str, doc: str, labels: Iterable[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class RiskCollector(Collector):
    """Exports the latest snapshot; registered once per daemon registry."""

    def __init__(self, source: DaemonSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        """Called by prometheus-client at scrape time."""
        snapshot = self._source.risk_snapshot()
        yield from self._market_metrics(snapshot)
        yield from self._feed_metrics()
        yield from self._sink_metrics()
        # Declared always (rules and dashboards name it); a sample only with --record.
        active = _gauge(
            "liqmon_recording_active",
            "1 while --record writes; 0 once a write error (disk full) stopped it.",
            (),
        )
        recording = self._source.recording_active()
        if recording is not None:
            active.add_metric([], float(recording))
        yield active

    def _market_metrics(self, snapshot: RiskSnapshot) -> Iterator[Metric]:
        market = ("venue", "symbol")
        price = _gauge("liqmon_mark_price_usd", "Mark price (OI-weighted for venue=all).", market)
        oi = _gauge("liqmon_open_interest_base", "Open interest, one side, base units.", market)
        oi_usd = _gauge("liqmon_open_interest_usd", "Open interest valued at the mark.", market)
        coverage = _gauge(
            "liqmon_ledger_coverage_ratio", "Share of OI whose origin the ledger observed.", market
        )
        warm = _gauge("liqmon_ledger_warm", "1 once the ledger holds positions.", market)
        stale = _gauge("liqmon_market_stale", "1 while an input of the market is stale.", market)
        age = _gauge(
            "liqmon_feed_age_seconds", "Seconds since the stream's last event.", (*market, "stream")
        )
        liquidated = CounterMetricFamily(
            "liqmon_liquidations_usd",
            "Observed liquidations (USD) by the side that moves: down = longs liquidated.",
            labels=[*market, "side"],
        )
        side = (*market, "side")
        risk = _RiskFamilies(side)
        alert_state = _gauge(
            "liqmon_alert_state", "0 none, 1 warning, 2 critical, 3 data stale.", side
        )
        reach = _gauge(
            "liqmon_book_reach_pct", "How far the book side reaches from the price.", side
        )
        shallow = _gauge(
            "liqmon_book_shallow",
            f"1 when the book side reaches less than {SHALLOW_BOOK_PCT:g} % (depth beyond "
            "is extrapolated).",
            side,
        )
        levels = _gauge("liqmon_book_levels", "Price levels in the book side.", side)
        for (venue, symbol), m in snapshot.markets.items():
            labels = [venue, symbol]
            if _finite(m.price):
                price.add_metric(labels, m.price)  # type: ignore[arg-type]
            if _finite(m.open_interest):
                oi.add_metric(labels, m.open_interest)  # type: ignore[arg-type]
                oi_usd.add_metric(labels, m.open_interest_usd)
            coverage.add_metric(labels, m.coverage)
            warm.add_metric(labels, float(m.warm))
            stale.add_metric(labels, float(m.stale))
            for stream in STREAMS:
                if stream in m.ages_s:
                    age.add_metric([*labels, stream], m.ages_s[stream])
            for side_name in SIDES:
                side_labels = [*labels, side_name]
                liquidated.add_metric(side_labels, m.liquidated_usd.get(side_name, 0.0))
                level = snapshot.alert_levels.get((venue, symbol, side_name), "none")
                alert_state.add_metric(side_labels, ALERT_LEVELS[level])
                book_side = "bid" if side_name == "down" else "ask"
                if book_side in m.book_reach_pct:
                    reach.add_metric(side_labels, m.book_reach_pct[book_side])
                    shallow.add_metric(
                        side_labels, float(m.book_reach_pct[book_side] < SHALLOW_BOOK_PCT)
                    )
                if book_side in m.book_levels:
                    levels.add_metric(side_labels, m.book_levels[book_side])
            risk.add(m)
        yield from (price, oi, oi_usd, coverage, warm, stale, age, liquidated, *risk.families())
        yield from (alert_state, reach, shallow, levels)
        cycles = CounterMetricFamily("liqmon_risk_cycles", "Risk cycles and re-checks completed.")
        cycles.add_metric([], snapshot.cycles)
        last = _gauge("liqmon_risk_cycle_timestamp_seconds", "Time of the latest risk cycle.", ())
        if snapshot.ts_ns:
            last.add_metric([], snapshot.ts_ns / 1e9)
        yield from (cycles, last)

    def _feed_metrics(self) -> Iterator[Metric]:
        source = self._source
        messages = CounterMetricFamily(
            "liqmon_feed_messages", "Frames received.", labels=["venue", "conn"]
        )
        events = CounterMetricFamily(
            "liqmon_feed_events", "Events accepted.", labels=["venue", "type"]
        )
        reconnects = CounterMetricFamily(
            "liqmon_feed_reconnects", "Reconnections by reason.", labels=["venue", "reason"]
        )
        resyncs = CounterMetricFamily(
            "liqmon_book_resyncs", "Order book rebuilds.", labels=["venue", "symbol"]
        )
        connected = _gauge(
            "liqmon_feed_connected", "1 while the connection is up.", ("venue", "conn")
        )
        venues = []
        for feed in source.feed_sources():
            venues.append(feed.venue)
            stats = feed.stats
            for conn, count in stats.messages.items():
                messages.add_metric([feed.venue, conn], count)
            for kind, count in stats.events.items():
                events.add_metric([feed.venue, kind], count)
            for reason, count in stats.reconnects.items():
                reconnects.add_metric([feed.venue, reason], count)
            for symbol, count in stats.book_resyncs.items():
                resyncs.add_metric([feed.venue, symbol], count)
            for conn, up in stats.connected.items():
                connected.add_metric([feed.venue, conn], float(up))
        rejected = CounterMetricFamily(
            "liqmon_feed_rejected",
            "Frames or events rejected, by reason.",
            labels=["venue", "reason"],
        )
        zero: dict[tuple[str, str], int] = {(v, r): 0 for v in venues for r in FEED_REJECT_REASONS}
        for (venue, reason), count in (zero | dict(source.rejected())).items():
            rejected.add_metric([venue, reason], count)
        refused = CounterMetricFamily(
            "liqmon_ledger_refused",
            "Open-interest observations the ledger refused, by reason.",
            labels=["venue", "reason"],
        )
        for (venue, reason), count in source.refused().items():
            refused.add_metric([venue, reason], count)
        crashes = CounterMetricFamily(
            "liqmon_feed_crashes", "Feed restarts after an unexpected error.", labels=["venue"]
        )
        for venue, count in (dict.fromkeys(venues, 0) | dict(source.venue_crashes())).items():
            crashes.add_metric([venue], count)
        depth, capacity = source.queue_depth()
        queue = _gauge("liqmon_queue_depth", "Events waiting for the engine.", ())
        queue.add_metric([], depth)
        queue_capacity = _gauge("liqmon_queue_capacity", "Bound of the feed queue.", ())
        queue_capacity.add_metric([], capacity)
        yield from (messages, events, reconnects, resyncs, connected, rejected, refused, crashes)
        yield from (queue, queue_capacity)

    def _sink_metrics(self) -> Iterator[Metric]:
        alerts = CounterMetricFamily("liqmon_alerts", "Alerts raised.", labels=["severity"])
        sent = dict.fromkeys((s.value for s in Severity), 0) | dict(self._source.alerts_sent())
        for severity, count in sent.items():
            alerts.add_metric([severity], count)
        pending = _gauge("liqmon_outbox_items", "Alerts waiting for delivery.", ("sink",))
        dropped = CounterMetricFamily(
            "liqmon_outbox_dropped", "Alerts dropped past the outbox bound.", labels=["sink"]
        )
        connected = _gauge("liqmon_sink_connected", "1 while the sink is reachable.", ("sink",))
        published = CounterMetricFamily(
            "liqmon_sink_published", "Messages delivered.", labels=["sink", "kind"]
        )
        refused = CounterMetricFamily(
            "liqmon_sink_refused",
            "Alerts the receiver refused for good (webhook 4xx), dropped.",
            labels=["sink"],
        )
        for sink in self._source.sink_status():
            pending.add_metric([sink.name], sink.pending)
            dropped.add_metric([sink.name], sink.dropped)
            connected.add_metric([sink.name], float(sink.connected))
            refused.add_metric([sink.name], sink.refused)
            for kind, count in sink.published.items():
                published.add_metric([sink.name, kind], count)
        yield from (alerts, pending, dropped, connected, published, refused)


class _RiskFamilies:
    """The per-side risk figures of every market, one family per figure."""

    def __init__(self, side: tuple[str, ...]) -> None:
        self.fuel = _gauge(
            "liqmon_fuel_usd", "Liquidation fuel within a distance band.", (*side, "within_pct")
        )
        self.depth = _gauge(
            "liqmon_depth_usd",
            "Book depth within a distance band after withdrawal, per scenario.",
            (*side, "within_pct", "scenario"),
        )
        self.shock = _gauge(
            "liqmon_critical_shock_pct",
            "Smallest move that starts a cascade (absent: none within the range).",
            (*side, "scenario"),
        )
        self.sell = _gauge(
            "liqmon_critical_sell_usd",
            "Market order size that moves price by the critical shock.",
            (*side, "scenario"),
        )
        self.final = _gauge(
            "liqmon_final_move_pct",
            "Where a shock of shock_pct ends after the cascade.",
            (*side, "shock_pct", "scenario"),
        )
        self.runaway = _gauge(
            "liqmon_runaway",
            "1 when a shock of shock_pct runs past the modelled range.",
            (*side, "shock_pct", "scenario"),
        )
        self.branching = _gauge(
            "liqmon_branching_ratio_max",
            "Largest branching ratio within 2 % (above 1: self-sustaining).",
            (*side, "scenario"),
        )

    def families(self) -> tuple[GaugeMetricFamily, ...]:
        """Every family, for the collector to yield."""
        return (
            self.fuel,
            self.depth,
            self.shock,
            self.sell,
            self.final,
            self.runaway,
            self.branching,
        )

    def add(self, m: MarketSnapshot) -> None:
        """The figures of both sides of one market (none before its first estimate)."""
        if m.risk is None:
            return
        for side_name, side_risk in (("down", m.risk.down), ("up", m.risk.up)):
            if side_risk is None:
                continue
            labels = [m.venue, m.symbol, side_name]
            for within, usd in side_risk.reports[0].fuel_usd_within_pct.items():
                self.fuel.add_metric([*labels, within], usd)
            for report in side_risk.reports:
                scenario = SCENARIO_NAMES[report.scenario]
                for within, usd in report.depth_usd_within_pct.items():
                    self.depth.add_metric([*labels, within, scenario], usd)
                if report.critical_shock_pct is not None:
                    self.shock.add_metric([*labels, scenario], report.critical_shock_pct)
                if report.critical_sell_usd is not None:
                    self.sell.add_metric([*labels, scenario], report.critical_sell_usd)
                for size, move in report.final_move_pct.items():
                    self.final.add_metric([*labels, size, scenario], move)
                    self.runaway.add_metric([*labels, size, scenario], float(report.runaway[size]))
                self.branching.add_metric(
                    [*labels, scenario], report.max_branching_ratio_within_2pct
                )


def build_registry(source: DaemonSource) -> tuple[CollectorRegistry, Histogram]:
    """A registry of our own (no global state): risk collector, process metrics, info."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RiskCollector(source))
    ProcessCollector(registry=registry)
    info = GaugeMetricFamily(
        "liqmon_build_info", "Version of the running daemon.", labels=["version"]
    )
    info.add_metric([__version__], 1.0)
    registry.register(_Static([info]))
    cycle = Histogram(
        "liqmon_risk_cycle_duration_seconds",
        "Wall time of one risk cycle (all markets and aggregates).",
        buckets=CYCLE_BUCKETS,
        registry=registry,
    )
    return registry, cycle


class _Static(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics
