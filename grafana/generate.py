"""Generate liqmon's Grafana dashboards (grafana/dashboards/*.json) from code.

Run `python grafana/generate.py` to rewrite the files, `python grafana/generate.py --check`
to verify they are up to date (exit code 1 names the stale files). The JSON is built with
grafana-foundation-sdk (a dev extra: a build-time tool, not needed to run liqmon).

Thresholds are read from the code, never copied: the alert thresholds from
`AlertThresholds()` (monitor/core/alerts.py), the alert-state numbers from
`monitor.metrics.ALERT_LEVELS`, the staleness deadline from `RiskSettings()`, the shallow
book line from `monitor.metrics.SHALLOW_BOOK_PCT`. Changing a default there and
regenerating moves the colours and lines with it.

Every panel query uses only the variables `$venue`, `$symbol`, `$__rate_interval` and
`$__range`, so a test can substitute them and run each expression against Prometheus.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import (
    barchart,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models import heatmap as heatmap_models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from monitor.config import RiskSettings
from monitor.core.alerts import AlertThresholds
from monitor.core.risk import BRANCHING_WITHIN_PCT, SHOCKS_PCT, WITHIN_PCT
from monitor.metrics import ALERT_LEVELS, SHALLOW_BOOK_PCT

DATASOURCE_UID = "liqmon-prometheus"
"""Fixed convention: grafana/provisioning/datasources/liqmon.yml defines this uid."""
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
SYMBOL_UID = "liqmon-symbol"
TAG = "liqmon"

DATASOURCE = dashboard.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
THRESHOLDS = AlertThresholds()
STALE_AFTER_S = RiskSettings().stale_after_s
MARKET = 'venue=~"$venue",symbol=~"$symbol"'
"""Label matchers of the Symbol dashboard's market."""
LEVEL_COLOURS: Mapping[str, str] = {
    "none": "green",
    "warning": "orange",
    "critical": "red",
    "stale": "purple",
}
SCENARIO_TITLES: Mapping[str, str] = {
    "displayed": "as displayed",
    "stressed_median": "stressed (median)",
    "stressed_p90": "stressed (p90)",
}
SIDE_TITLES: Mapping[str, str] = {"down": "down (longs)", "up": "up (shorts)"}

CALC_SORT: Mapping[str, tuple[str, bool]] = {
    "max": ("Max", True),
    "mean": ("Mean", True),
    "min": ("Min", False),
}
"""Legend calculations a table legend sorts by: Grafana's column name, descending."""


class PanelBuilder(Protocol):
    """What every panel builder of the SDK offers (they share no base class for it)."""

    def title(self, title: str) -> Self:
        """Panel title."""

    def description(self, description: str) -> Self:
        """Shown on hover of the title."""

    def datasource(self, datasource: dashboard.DataSourceRef) -> Self:
        """The panel's data source."""

    def targets(self, targets: list[Builder[Dataquery]]) -> Self:
        """The panel's queries."""

    def span(self, w: int) -> Self:
        """Width in grid columns (24 in all)."""

    def height(self, h: int) -> Self:
        """Height in grid rows."""


P = TypeVar("P", bound=PanelBuilder)


# ---------------------------------------------------------------------------- thresholds


def _above(value: float) -> float:
    """The smallest float above `value`.

    Grafana colours a value by the last step <= it, while the alert rules include the
    threshold itself (x_c <= 1 % is critical): the step must sit just above it.
    """
    return math.nextafter(value, math.inf)


def _steps(base: str, *steps: tuple[float, str]) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(dashboard.ThresholdsMode.ABSOLUTE)
        .steps(
            [dashboard.Threshold(value=None, color=base)]
            + [dashboard.Threshold(value=value, color=colour) for value, colour in steps]
        )
    )


def shock_thresholds() -> ThresholdsConfig:
    """Red at or below the critical threshold, orange at or below warning, else green."""
    t = THRESHOLDS
    return _steps("red", (_above(t.critical_pct), "orange"), (_above(t.warning_pct), "green"))


def shock_lines() -> ThresholdsConfig:
    """The lines drawn on shock charts: critical, warning and the resolve line (hysteresis)."""
    t = THRESHOLDS
    resolve = t.resolve_factor * t.warning_pct
    return _steps(
        "red",
        (_above(t.critical_pct), "orange"),
        (_above(t.warning_pct), "yellow"),
        (_above(resolve), "green"),
    )


def coverage_thresholds() -> ThresholdsConfig:
    """Orange below the coverage under which alerts carry low_confidence."""
    return _steps("orange", (THRESHOLDS.low_coverage, "green"))


def level_thresholds() -> ThresholdsConfig:
    """One colour per alert state, at the number `liqmon_alert_state` exports for it."""
    levels = sorted(ALERT_LEVELS.items(), key=lambda item: item[1])
    first, *rest = levels
    return _steps(LEVEL_COLOURS[first[0]], *((value, LEVEL_COLOURS[name]) for name, value in rest))


def level_mappings() -> list[dashboard.ValueMapping]:
    """Numbers of `liqmon_alert_state` shown as their names, in their colours."""
    return [
        dashboard.ValueMap(
            options={
                str(value): dashboard.ValueMappingResult(
                    text=name, color=LEVEL_COLOURS[name], index=value
                )
                for name, value in ALERT_LEVELS.items()
            }
        )
    ]


# ---------------------------------------------------------------------------- queries


def query(expr: str, legend: str = "__auto") -> prometheus.Dataquery:
    """A range query drawn over time."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)


def instant(expr: str, fmt: PromQueryFormat) -> prometheus.Dataquery:
    """An instant query, for tables, stats and bar charts of the latest values."""
    return prometheus.Dataquery().expr(expr).instant().format(fmt).datasource(DATASOURCE)


def _panel(
    builder: P,
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    size: tuple[int, int],
) -> P:
    """Common settings; refIds A, B, ... in order."""
    for ref, target in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", targets, strict=False):
        target.ref_id(ref)
    built: list[Builder[Dataquery]] = list(targets)
    builder.title(title).description(description).datasource(DATASOURCE)
    builder.targets(built).span(size[0]).height(size[1])
    return builder


def _legend(*calcs: str) -> common_builders.VizLegendOptions:
    legend = common_builders.VizLegendOptions().show_legend(True)
    if not calcs:
        return legend.display_mode(common.LegendDisplayMode.LIST).placement(
            common.LegendPlacement.BOTTOM
        )
    column, descending = CALC_SORT[calcs[0]]
    return (
        legend.display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.RIGHT)
        .calcs(list(calcs))
        .sort_by(column)
        .sort_desc(descending)
    )


def series(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    unit: str,
    size: tuple[int, int] = (12, 8),
    *,
    lines: ThresholdsConfig | None = None,
    calcs: Sequence[str] = (),
) -> timeseries.Panel:
    """A time series; `lines` are thresholds drawn as dashed lines."""
    panel = _panel(timeseries.Panel(), title, description, targets, size).unit(unit)
    panel.legend(_legend(*calcs)).line_width(1).fill_opacity(0)
    if lines is not None:
        panel.thresholds(lines).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
    return panel


def single(
    title: str,
    description: str,
    expr: str,
    unit: str,
    size: tuple[int, int] = (4, 4),
    *,
    colours: ThresholdsConfig | None = None,
    mappings: list[dashboard.ValueMapping] | None = None,
) -> stat.Panel:
    """A stat of the latest value, coloured by `colours` (or plain)."""
    target = instant(expr, PromQueryFormat.TIME_SERIES)
    panel = _panel(stat.Panel(), title, description, [target], size).unit(unit)
    panel.reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    panel.graph_mode(common.BigValueGraphMode.NONE)
    if colours is None:
        panel.color_mode(common.BigValueColorMode.NONE)
    else:
        panel.thresholds(colours).color_mode(common.BigValueColorMode.BACKGROUND)
    if mappings is not None:
        panel.mappings(mappings)
    return panel


def _cells(mode: common.TableCellDisplayMode) -> dashboard.DynamicConfigValue:
    return dashboard.DynamicConfigValue(id_val="custom.cellOptions", value={"type": mode.value})


def _prop(name: str, value: object) -> dashboard.DynamicConfigValue:
    return dashboard.DynamicConfigValue(id_val=name, value=value)


def _transform(name: str, options: object) -> dashboard.DataTransformerConfig:
    return dashboard.DataTransformerConfig(id_val=name, options=options)


# ---------------------------------------------------------------------------- overview


def _market_column(metric: str, matchers: str = "") -> str:
    """One value per (venue, symbol): other labels (side, scenario, shard) folded away."""
    selector = f"{metric}{{{matchers}}}" if matchers else metric
    return f"max by (venue, symbol) ({selector})"


def overview_table() -> table.Panel:
    """Every market in one row; the colours are the alert thresholds'."""
    columns: list[tuple[str, str]] = [
        ("Price", _market_column("liqmon_mark_price_usd")),
        ("Open interest", _market_column("liqmon_open_interest_usd")),
    ]
    shocks = []
    for side in ("down", "up"):
        for scenario, scenario_title in SCENARIO_TITLES.items():
            name = f"Shock {side} {scenario_title}"
            shocks.append(name)
            matchers = f'side="{side}",scenario="{scenario}"'
            columns.append((name, _market_column("liqmon_critical_shock_pct", matchers)))
    states = [f"Alert {side}" for side in ("down", "up")]
    for name, side in zip(states, ("down", "up"), strict=True):
        columns.append((name, _market_column("liqmon_alert_state", f'side="{side}"')))
    columns.append(("Coverage", _market_column("liqmon_ledger_coverage_ratio")))
    targets = [instant(expr, PromQueryFormat.TABLE) for _, expr in columns]
    refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    rename = {f"Value #{ref}": name for ref, (name, _) in zip(refs, columns, strict=False)}
    order = ["venue", "symbol", *(name for name, _ in columns)]
    panel = _panel(
        table.Panel(),
        "Markets",
        "Every followed market (venue `all`: the asset across venues). Critical shock: the "
        "smallest move that starts a cascade, per side and depth scenario; empty when none "
        f"within the modelled range. Red at or below {THRESHOLDS.critical_pct:g} % "
        f"(critical), orange at or below {THRESHOLDS.warning_pct:g} % (warning): the "
        "alert thresholds, which apply to the shock as displayed. Coverage below "
        f"{THRESHOLDS.low_coverage:.0%} makes alerts low-confidence. Click a symbol for "
        "its dashboard.",
        targets,
        (24, 12),
    )
    panel.with_transformation(_transform("merge", {}))
    panel.with_transformation(
        _transform(
            "organize",
            {
                "excludeByName": {"Time": True},
                "renameByName": rename,
                "indexByName": {name: i for i, name in enumerate(order)},
            },
        )
    )
    panel.sort_by([common_builders.TableSortByFieldState().display_name("Shock down as displayed")])
    panel.override_by_name("Price", [_prop("unit", "currencyUSD")])
    panel.override_by_name("Open interest", [_prop("unit", "currencyUSD")])
    for name in shocks:
        panel.override_by_name(
            name,
            [
                _prop("unit", "percent"),
                _prop("decimals", 2),
                _prop("noValue", "none"),
                _prop("thresholds", shock_thresholds().build()),
                _cells(common.TableCellDisplayMode.COLOR_TEXT),
            ],
        )
    for name in states:
        panel.override_by_name(
            name,
            [
                _prop("mappings", level_mappings()),
                _prop("thresholds", level_thresholds().build()),
                _cells(common.TableCellDisplayMode.COLOR_BACKGROUND),
            ],
        )
    panel.override_by_name(
        "Coverage",
        [
            _prop("unit", "percentunit"),
            _prop("decimals", 0),
            _prop("thresholds", coverage_thresholds().build()),
            _cells(common.TableCellDisplayMode.COLOR_TEXT),
        ],
    )
    link = (
        f"/d/{SYMBOL_UID}/liqmon-symbol?var-venue=${{__data.fields.venue}}"
        "&var-symbol=${__data.fields.symbol}&${__url_time_range}"
    )
    panel.override_by_name(
        "symbol", [_prop("links", [{"title": "Open the symbol dashboard", "url": link}])]
    )
    return panel


def overview() -> Dashboard:
    """Overview: every market at a glance."""
    all_markets = 'scenario="displayed"'
    return (
        _dashboard("liqmon-overview", "liqmon overview", "Cascade risk of every market.")
        .with_panel(
            single(
                "Sides at critical",
                "Market sides whose critical shock as displayed is at or below "
                f"{THRESHOLDS.critical_pct:g} %.",
                f"sum(liqmon_alert_state == bool {ALERT_LEVELS['critical']})",
                "none",
                (6, 4),
                colours=_steps("green", (1, "red")),
            )
        )
        .with_panel(
            single(
                "Sides at warning",
                "Market sides whose critical shock as displayed is at or below "
                f"{THRESHOLDS.warning_pct:g} % (and above the critical threshold).",
                f"sum(liqmon_alert_state == bool {ALERT_LEVELS['warning']})",
                "none",
                (6, 4),
                colours=_steps("green", (1, "orange")),
            )
        )
        .with_panel(
            single(
                "Markets with stale data",
                "Markets with a stale input (mark, open interest or book): their risk alerts "
                "are suppressed.",
                "sum(liqmon_market_stale)",
                "none",
                (6, 4),
                colours=_steps("green", (1, "purple")),
            )
        )
        .with_panel(
            single(
                "Smallest critical shock",
                "The smallest move, over every market and side, that would start a cascade "
                "(book as displayed).",
                f"min(liqmon_critical_shock_pct{{{all_markets}}})",
                "percent",
                (6, 4),
                colours=shock_thresholds(),
            )
        )
        .with_panel(overview_table())
        .with_panel(
            series(
                "Critical shock as displayed",
                "Per market and side; dashed: the critical, warning and resolve lines.",
                [
                    query(
                        "min by (venue, symbol, side) "
                        f"(liqmon_critical_shock_pct{{{all_markets}}})",
                        "{{venue}} {{symbol}} {{side}}",
                    )
                ],
                "percent",
                (24, 9),
                lines=shock_lines(),
                calcs=("min", "lastNotNull"),
            )
        )
        .with_panel(alert_timeline())
    )


def alert_timeline() -> statetimeline.Panel:
    """The alert state of every market side over time."""
    panel = _panel(
        statetimeline.Panel(),
        "Alert state",
        "none / warning / critical / stale per market side, as the alert policy holds it.",
        [
            query(
                "max by (venue, symbol, side) (liqmon_alert_state)", "{{venue}} {{symbol}} {{side}}"
            )
        ],
        (24, 8),
    )
    return (
        panel.mappings(level_mappings())
        .thresholds(level_thresholds())
        .show_value(common.VisibilityMode.NEVER)
    )


# ---------------------------------------------------------------------------- symbol


def fuel_heatmap(side: str) -> heatmap.Panel:
    """Fuel per distance band over time.

    The exported bands are cumulative (fuel within x %); each row here is the difference of
    two neighbouring bands, named by its upper edge (the heatmap's `le` layout).
    """

    def fuel(within: str) -> str:
        return f'liqmon_fuel_usd{{{MARKET},side="{side}",within_pct="{within}"}}'

    targets = [query(fuel(WITHIN_PCT[0]), WITHIN_PCT[0])]
    targets += [
        query(f"clamp_min({fuel(upper)} - ignoring (within_pct) {fuel(lower)}, 0)", upper)
        for lower, upper in itertools.pairwise(WITHIN_PCT)
    ]
    panel = _panel(
        heatmap.Panel(),
        f"Liquidation fuel by distance, {SIDE_TITLES[side]}",
        f"USD of positions liquidated by a move into each band, {SIDE_TITLES[side]}; bands "
        f"in % from the mark: {_bands()}.",
        targets,
        (12, 9),
    )
    return (
        panel.calculate(False)
        .y_axis(heatmap.YAxisConfig().unit("percent").axis_label("distance from mark"))
        .cell_values(heatmap.CellValues().unit("currencyUSD"))
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_models.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(heatmap_models.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
        )
        .rows_frame(heatmap.RowsHeatmapOptions().layout(common.HeatmapCellLayout.LE))
    )


def _bands() -> str:
    edges = ("0", *WITHIN_PCT)
    return ", ".join(f"{lower}-{upper}" for lower, upper in itertools.pairwise(edges))


def fuel_vs_depth(side: str) -> barchart.Panel:
    """Latest fuel and depth within each band, side by side."""
    book = "bids" if side == "down" else "asks"
    columns = [
        ("fuel", f'sum by (within_pct) (liqmon_fuel_usd{{{MARKET},side="{side}"}})'),
        *(
            (
                f"depth {title}",
                f"sum by (within_pct) (liqmon_depth_usd{{{MARKET},"
                f'side="{side}",scenario="{scenario}"}})',
            )
            for scenario, title in SCENARIO_TITLES.items()
        ),
    ]
    targets = [instant(expr, PromQueryFormat.TABLE) for _, expr in columns]
    rename = {f"Value #{ref}": name for ref, (name, _) in zip("ABCD", columns, strict=True)}
    rename["within_pct"] = "within %"
    panel = _panel(
        barchart.Panel(),
        f"Fuel vs depth within each band, {SIDE_TITLES[side]}",
        f"Liquidation fuel within x % of the mark against the {book} within x % after "
        "withdrawal, per depth scenario (cumulative bands). Fuel above depth: a move of that "
        "size would be fed by liquidations faster than the book absorbs it.",
        targets,
        (12, 9),
    )
    for transform, options in (
        ("merge", {}),
        ("convertFieldType", _convert("number")),
        ("sortBy", {"sort": [{"field": "within_pct"}]}),
        ("convertFieldType", _convert("string")),
        ("organize", {"excludeByName": {"Time": True}, "renameByName": rename}),
    ):
        panel.with_transformation(_transform(transform, options))
    return (
        panel.x_field("within %")
        .x_tick_label_max_length(8)
        .unit("currencyUSD")
        .legend(_legend())
        .show_value(common.VisibilityMode.NEVER)
    )


def _convert(kind: str) -> dict[str, object]:
    return {"conversions": [{"targetField": "within_pct", "destinationType": kind}]}


def symbol() -> Dashboard:
    """Symbol: one market in depth, chosen by the venue and symbol variables."""
    now = "The latest value."
    return (
        _dashboard(SYMBOL_UID, "liqmon symbol", "One market: fuel, depth, cascade figures.")
        .with_variable(_variable("venue", "label_values(liqmon_mark_price_usd, venue)"))
        .with_variable(
            _variable("symbol", 'label_values(liqmon_mark_price_usd{venue=~"$venue"}, symbol)')
        )
        .with_row(Row("Now"))
        .with_panel(
            single("Price", now, f"liqmon_mark_price_usd{{{MARKET}}}", "currencyUSD", (4, 4))
        )
        .with_panel(
            single(
                "Open interest",
                "One side, valued at the mark.",
                f"liqmon_open_interest_usd{{{MARKET}}}",
                "currencyUSD",
                (4, 4),
            )
        )
        .with_panel(
            single(
                "Ledger coverage",
                "Share of open interest whose origin the ledger observed; below "
                f"{THRESHOLDS.low_coverage:.0%} alerts are low-confidence.",
                f"liqmon_ledger_coverage_ratio{{{MARKET}}}",
                "percentunit",
                (4, 4),
                colours=coverage_thresholds(),
            )
        )
        .with_panel(_side_state("down"))
        .with_panel(_side_state("up"))
        .with_panel(_side_shock("down"))
        .with_panel(_side_shock("up"))
        .with_row(Row("Cascade"))
        .with_panel(
            series(
                "Critical shock",
                "Smallest move that starts a cascade, per side and depth scenario (gaps: "
                "none within the modelled range). Dashed: critical, warning and resolve "
                "lines; alerts use the shock as displayed.",
                [
                    query(
                        f"liqmon_critical_shock_pct{{{MARKET}}}",
                        "{{side}} {{scenario}}",
                    )
                ],
                "percent",
                (12, 9),
                lines=shock_lines(),
            )
        )
        .with_panel(
            series(
                "Final move after a shock",
                f"Where a shock of {' / '.join(SHOCKS_PCT)} % ends once the liquidations it "
                "triggers are added (book as displayed). Dashed: the alert thresholds.",
                [
                    query(
                        f'liqmon_final_move_pct{{{MARKET},scenario="displayed"}}',
                        "{{side}} after {{shock_pct}} %",
                    )
                ],
                "percent",
                (12, 9),
                lines=shock_lines(),
            )
        )
        .with_panel(fuel_heatmap("down"))
        .with_panel(fuel_heatmap("up"))
        .with_panel(fuel_vs_depth("down"))
        .with_panel(fuel_vs_depth("up"))
        .with_panel(
            series(
                f"Largest branching ratio within {BRANCHING_WITHIN_PCT:g} %",
                "Liquidated notional over depth, per bin; above 1 (dashed) a move feeds itself.",
                [
                    query(
                        f"liqmon_branching_ratio_max{{{MARKET}}}",
                        "{{side}} {{scenario}}",
                    )
                ],
                "none",
                (12, 8),
                lines=_steps("green", (1, "red")),
            )
        )
        .with_panel(
            series(
                "Book reach",
                "How far each book side reaches from the mark; below "
                f"{SHALLOW_BOOK_PCT:g} % (dashed) depth beyond is extrapolated.",
                [query(f"liqmon_book_reach_pct{{{MARKET}}}", "{{side}}")],
                "percent",
                (12, 8),
                lines=_steps("orange", (SHALLOW_BOOK_PCT, "green")),
            )
        )
        .with_row(Row("Market"))
        .with_panel(
            series(
                "Realised liquidations",
                "Observed liquidations in USD per minute; down = longs liquidated. "
                "Hyperliquid publishes none.",
                [
                    query(
                        "60 * sum by (side) (rate(liqmon_liquidations_usd_total"
                        f"{{{MARKET}}}[$__rate_interval]))",
                        "{{side}}",
                    )
                ],
                "currencyUSD",
                (8, 8),
            )
        )
        .with_panel(
            single(
                "Liquidated over the range",
                "Observed liquidations over the dashboard's time range, both sides.",
                f"sum(increase(liqmon_liquidations_usd_total{{{MARKET}}}[$__range]))",
                "currencyUSD",
                (4, 8),
            )
        )
        .with_panel(
            series(
                "Open interest",
                "One side, valued at the mark.",
                [query(f"liqmon_open_interest_usd{{{MARKET}}}", "{{venue}} {{symbol}}")],
                "currencyUSD",
                (6, 8),
            )
        )
        .with_panel(
            series(
                "Mark price",
                "OI-weighted across venues for venue `all`.",
                [query(f"liqmon_mark_price_usd{{{MARKET}}}", "{{venue}} {{symbol}}")],
                "currencyUSD",
                (6, 8),
            )
        )
    )


def _side_state(side: str) -> stat.Panel:
    return single(
        f"Alert {SIDE_TITLES[side]}",
        "none / warning / critical / stale, as the alert policy holds it.",
        f'liqmon_alert_state{{{MARKET},side="{side}"}}',
        "none",
        (3, 4),
        colours=level_thresholds(),
        mappings=level_mappings(),
    )


def _side_shock(side: str) -> stat.Panel:
    return single(
        f"Critical shock {side}",
        "Book as displayed; empty: no cascade within the modelled range.",
        f'liqmon_critical_shock_pct{{{MARKET},side="{side}",scenario="displayed"}}',
        "percent",
        (3, 4),
        colours=shock_thresholds(),
    )


# ---------------------------------------------------------------------------- feeds


def _daemon(expr: str) -> str:
    """Process metrics of liqmon targets only (other targets export process_* too)."""
    return f"{expr} and on (instance, job) liqmon_build_info"


def feeds() -> Dashboard:
    """Feeds & daemon: whether the data flows and the process keeps up."""
    venue = 'venue=~"$venue"'
    rate = "[$__rate_interval]"
    cycle = "liqmon_risk_cycle_duration_seconds"
    return (
        _dashboard("liqmon-feeds", "liqmon feeds & daemon", "Feeds, queues, sinks, process.")
        .with_variable(
            _variable("venue", "label_values(liqmon_feed_messages_total, venue)")
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        .with_row(Row("Feeds"))
        .with_panel(
            series(
                "Messages",
                "Frames received per second, per connection.",
                [
                    query(
                        f"sum by (venue, conn) (rate(liqmon_feed_messages_total{{{venue}}}{rate}))",
                        "{{venue}} {{conn}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            series(
                "Events",
                "Events accepted per second, per type.",
                [
                    query(
                        f"sum by (venue, type) (rate(liqmon_feed_events_total{{{venue}}}{rate}))",
                        "{{venue}} {{type}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            series(
                "Rejects by reason",
                "Frames or events dropped before the core, per second (reasons: README, "
                '"Bad input"). Every reason starts at 0.',
                [
                    query(
                        "sum by (venue, reason) "
                        f"(rate(liqmon_feed_rejected_total{{{venue}}}{rate}))",
                        "{{venue}} {{reason}}",
                    )
                ],
                "reqps",
                calcs=("max", "mean"),
            )
        )
        .with_panel(
            series(
                "Reconnects and crashes",
                "Reconnections per interval by reason (a venue without any shows one 0 line), "
                "and restarts of a venue's feed after an unexpected error.",
                [
                    query(
                        f"sum by (venue, reason) (increase(liqmon_feed_reconnects_total"
                        f"{{{venue}}}{rate})) or on (venue) "
                        f"(0 * sum by (venue) (liqmon_feed_connected{{{venue}}}))",
                        "{{venue}} {{reason}}",
                    ),
                    query(
                        f"sum by (venue) (increase(liqmon_feed_crashes_total{{{venue}}}{rate}))",
                        "{{venue}} crashes",
                    ),
                ],
                "none",
            )
        )
        .with_panel(
            series(
                "Staleness",
                "Seconds since each stream's last event (book: last synced). Dashed: "
                f"{STALE_AFTER_S:g} s, when mark and book count as stale (open interest: "
                "twice that).",
                [
                    query(
                        f"max by (venue, stream) (liqmon_feed_age_seconds{{{venue}}})",
                        "{{venue}} {{stream}}",
                    )
                ],
                "s",
                lines=_steps("green", (STALE_AFTER_S, "red")),
            )
        )
        .with_panel(connections())
        .with_row(Row("Daemon"))
        .with_panel(
            series(
                "Feed queue",
                "Events waiting for the engine, and the queue's bound (a full queue slows "
                "the readers down).",
                [
                    query("max by (instance) (liqmon_queue_depth)", "{{instance}} depth"),
                    query("max by (instance) (liqmon_queue_capacity)", "{{instance}} capacity"),
                ],
                "none",
                (8, 8),
            )
        )
        .with_panel(
            series(
                "Risk-cycle duration",
                "Wall time of a full cycle or a re-check: median, 99th percentile, mean.",
                [
                    *(
                        query(
                            f"histogram_quantile({q:g}, "
                            f"sum by (instance, le) (rate({cycle}_bucket{rate})))",
                            f"{{{{instance}}}} p{100 * q:g}",
                        )
                        for q in (0.5, 0.99)
                    ),
                    query(
                        f"sum by (instance) (rate({cycle}_sum{rate})) "
                        f"/ sum by (instance) (rate({cycle}_count{rate}))",
                        "{{instance}} mean",
                    ),
                ],
                "s",
                (8, 8),
            )
        )
        .with_panel(
            series(
                "Risk cycles",
                "Full cycles and re-checks per second.",
                [
                    query(
                        f"sum by (instance) (rate(liqmon_risk_cycles_total{rate}))",
                        "{{instance}}",
                    )
                ],
                "ops",
                (8, 8),
            )
        )
        .with_panel(
            series(
                "Outbox",
                "Alerts waiting on disk for delivery per sink, and alerts dropped past the "
                "outbox bound per interval (0 when no sink is configured).",
                [
                    query(
                        "sum by (sink) (liqmon_outbox_items) or on () vector(0)", "{{sink}} waiting"
                    ),
                    query(
                        f"sum by (sink) (increase(liqmon_outbox_dropped_total{rate})) "
                        "or on () vector(0)",
                        "{{sink}} dropped",
                    ),
                ],
                "none",
                (8, 8),
            )
        )
        .with_panel(
            series(
                "Alerts raised",
                "Alerts per interval by severity.",
                [
                    query(
                        f"sum by (severity) (increase(liqmon_alerts_total{rate}))",
                        "{{severity}}",
                    )
                ],
                "none",
                (8, 8),
            )
        )
        .with_panel(
            series(
                "CPU",
                "CPU time per second of each liqmon process (1 = one core).",
                [query(_daemon(f"rate(process_cpu_seconds_total{rate})"), "{{instance}}")],
                "percentunit",
                (8, 8),
            )
        )
        .with_panel(
            series(
                "Memory",
                "Resident memory of each liqmon process.",
                [query(_daemon("process_resident_memory_bytes"), "{{instance}}")],
                "bytes",
                (12, 8),
            )
        )
        .with_panel(
            series(
                "Open file descriptors",
                "Sockets, outboxes, state files of each liqmon process.",
                [query(_daemon("process_open_fds"), "{{instance}}")],
                "none",
                (12, 8),
            )
        )
    )


def connections() -> statetimeline.Panel:
    """Up/down of every connection over time."""
    panel = _panel(
        statetimeline.Panel(),
        "Connections",
        "Each venue connection: up or down.",
        [query('liqmon_feed_connected{venue=~"$venue"}', "{{venue}} {{conn}}")],
        (12, 8),
    )
    updown = dashboard.ValueMap(
        options={
            "0": dashboard.ValueMappingResult(text="down", color="red", index=0),
            "1": dashboard.ValueMappingResult(text="up", color="green", index=1),
        }
    )
    return panel.mappings([updown]).show_value(common.VisibilityMode.NEVER)


# ---------------------------------------------------------------------------- dashboards


def _dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .refresh("10s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .link(
            DashboardLink("liqmon")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def _variable(name: str, query_text: str) -> QueryVariable:
    return (
        QueryVariable(name)
        .label(name)
        .query(query_text)
        .datasource(DATASOURCE)
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
    )


DASHBOARDS: Mapping[str, Callable[[], Dashboard]] = {
    "liqmon-overview.json": overview,
    "liqmon-symbol.json": symbol,
    "liqmon-feeds.json": feeds,
}


def render(builder: Dashboard) -> str:
    """The dashboard's JSON text, with panel ids 1, 2, ... in layout order."""
    model = builder.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """Every dashboard file's name and its text."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards, or with --check report the ones that differ."""
    parser = argparse.ArgumentParser(description="Generate liqmon's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="verify, do not write")
    parser.add_argument(
        "--dir", type=Path, default=DASHBOARD_DIR, help="dashboard directory (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    directory: Path = args.dir
    stale = []
    for name, text in rendered().items():
        path = directory / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(name)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
