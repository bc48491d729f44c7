"""Grafana dashboards and provisioning (grafana/).

- the committed JSON is what grafana/generate.py produces, and `--check` notices a change;
- the dashboards are valid JSON with stable uids, unique panel ids and a 24-column layout;
- every datasource they name is the one provisioning defines;
- every metric their queries (and variable queries) read is one the daemon's registry
  exports, and they use only the variables the Prometheus test substitutes;
- their colours and lines are the alert thresholds of the code;
- the provisioning YAML parses and says what the deployment relies on;
- a real daemon scrape starts the fixed-set counters the dashboards plot at 0.

Running PromQL against a real Prometheus is tests/test_prometheus.py's job.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from fake_venues import cascade
from prometheus_client.parser import text_string_to_metric_families
from test_daemon import daemon_settings, running
from venue_server import FakeVenue

from monitor.config import Settings
from monitor.core.alerts import AlertThresholds, Severity
from monitor.daemon import Daemon
from monitor.feeds.base import FEED_REJECT_REASONS
from monitor.metrics import ALERT_LEVELS

REPO = Path(__file__).resolve().parent.parent
GRAFANA = REPO / "grafana"
GENERATOR = GRAFANA / "generate.py"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "liqmon.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "liqmon.yml"
UIDS = {
    "liqmon-overview.json": "liqmon-overview",
    "liqmon-symbol.json": "liqmon-symbol",
    "liqmon-feeds.json": "liqmon-feeds",
}
VARIABLES = {"venue", "symbol", "__rate_interval", "__interval", "__range"}
"""What tests/test_prometheus.py substitutes before running a panel's query."""
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}
NOT_METRICS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def dashboards() -> dict[str, dict[str, Any]]:
    return {name: json.loads((DASHBOARDS / name).read_text(encoding="utf-8")) for name in UIDS}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every target."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def datasources(node: Any) -> Iterator[Any]:
    """Every `datasource` value anywhere in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasources(item)


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (no full parser: enough for ours)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {name for name in names if name not in NOT_METRICS}


def exported_series() -> set[str]:
    """Sample names the daemon's registry exports, read from the registry itself."""
    registry = Daemon(Settings()).registry
    names = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def provisioned_uid() -> str:
    document = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    (source,) = document["datasources"]
    return str(source["uid"])


# --- generated files -----------------------------------------------------------------------


def test_committed_dashboards_are_what_the_generator_writes(tmp_path: Path) -> None:
    check = [sys.executable, str(GENERATOR), "--check"]
    result = subprocess.run(check, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr

    # The same generator into a scratch directory: identical files, and --check sees an edit.
    subprocess.run(
        [sys.executable, str(GENERATOR), "--dir", str(tmp_path)], timeout=120, check=True
    )
    for name in UIDS:
        assert (tmp_path / name).read_bytes() == (DASHBOARDS / name).read_bytes(), name
    edited = tmp_path / "liqmon-feeds.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Messages", "Msgs"))
    result = subprocess.run(
        [*check, "--dir", str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    assert "liqmon-feeds.json" in result.stderr
    assert "liqmon-overview.json" not in result.stderr


def test_dashboards_are_json_with_stable_uids_and_a_sound_layout() -> None:
    found = dashboards()
    assert {name: d["uid"] for name, d in found.items()} == UIDS
    for name, dashboard in found.items():
        assert "id" not in dashboard, name  # provisioning assigns ids
        assert "liqmon" in dashboard["tags"]
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (name, panel["title"])
            refs = [target["refId"] for target in panel.get("targets", [])]
            assert len(refs) == len(set(refs)), (name, panel["title"])
            assert all(refs), (name, panel["title"])
        assert sum(1 for _ in exprs(dashboard)) > 5, name


def test_dashboards_use_only_the_provisioned_datasource() -> None:
    uid = provisioned_uid()
    assert uid == "liqmon-prometheus"
    for name, dashboard in dashboards().items():
        refs = list(datasources(dashboard))
        assert refs, name
        assert all(ref == {"type": "prometheus", "uid": uid} for ref in refs), name
        for panel in panels(dashboard):
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, (name, panel["title"])
                assert all(t["datasource"]["uid"] == uid for t in panel["targets"])


def test_dashboards_read_only_metrics_the_daemon_exports() -> None:
    exported = exported_series()
    assert {"liqmon_feed_rejected_total", "liqmon_risk_cycle_duration_seconds_bucket"} <= exported
    assert "process_resident_memory_bytes" in exported
    for name, dashboard in dashboards().items():
        queries = list(exprs(dashboard))
        for variable in dashboard.get("templating", {}).get("list", []):
            selector = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"])
            assert selector, (name, variable["query"])
            queries.append((f"variable {variable['name']}", selector[1]))
        for title, expr in queries:
            names = metric_names(expr)
            assert names, (name, title, expr)
            assert names <= exported, (name, title, sorted(names - exported))


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (venue, reason) (increase(liqmon_feed_reconnects_total{venue=~"$venue"}'
        "[$__rate_interval])) or on (venue) (0 * sum by (venue) (liqmon_feed_connected))"
    )
    assert metric_names(expr) == {"liqmon_feed_reconnects_total", "liqmon_feed_connected"}
    expr = 'histogram_quantile(0.5, sum by (le) (rate(x_bucket{a="b(c)"}[1m]))) and on () up'
    assert metric_names(expr) == {"x_bucket", "up"}


def test_panel_queries_use_only_substitutable_variables() -> None:
    for name, dashboard in dashboards().items():
        for title, expr in exprs(dashboard):
            used = set(re.findall(r"\$\{?(\w+)", expr))
            assert used <= VARIABLES, (name, title, sorted(used - VARIABLES))
        variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
        assert variables <= VARIABLES, name


def test_colours_and_lines_are_the_alert_thresholds() -> None:
    t = AlertThresholds()
    just_above = [math.nextafter(t.critical_pct, math.inf), math.nextafter(t.warning_pct, math.inf)]
    overview = dashboards()["liqmon-overview.json"]
    table = next(p for p in overview["panels"] if p["type"] == "table")
    props = {
        o["matcher"]["options"]: {p["id"]: p.get("value") for p in o["properties"]}
        for o in table["fieldConfig"]["overrides"]
    }
    shock = props["Shock down as displayed"]["thresholds"]["steps"]
    assert [s["value"] for s in shock] == [None, *just_above]
    assert [s["color"] for s in shock] == ["red", "orange", "green"]
    coverage = props["Coverage"]["thresholds"]["steps"]
    assert [s["value"] for s in coverage] == [None, t.low_coverage]
    (mapping,) = props["Alert down"]["mappings"]
    assert {m["text"]: int(value) for value, m in mapping["options"].items()} == dict(ALERT_LEVELS)
    states = props["Alert up"]["thresholds"]["steps"]
    assert [s["value"] for s in states][1:] == sorted(ALERT_LEVELS.values())[1:]

    symbol = dashboards()["liqmon-symbol.json"]
    shock_chart = next(p for p in panels(symbol) if p["title"] == "Critical shock")
    lines = shock_chart["fieldConfig"]["defaults"]["thresholds"]["steps"]
    resolve = math.nextafter(t.resolve_factor * t.warning_pct, math.inf)
    assert [s["value"] for s in lines] == [None, *just_above, resolve]
    style = shock_chart["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
    assert style == "dashed"


def test_symbol_dashboard_has_venue_and_symbol_variables() -> None:
    symbol = dashboards()["liqmon-symbol.json"]
    variables = {v["name"]: v for v in symbol["templating"]["list"]}
    assert set(variables) == {"venue", "symbol"}
    assert "$venue" in variables["symbol"]["query"]
    heatmaps = [p for p in panels(symbol) if p["type"] == "heatmap"]
    assert len(heatmaps) == 2
    for panel in heatmaps:
        legends = [target["legendFormat"] for target in panel["targets"]]
        assert legends == ["0.5", "1", "2", "5", "10"]  # the bands' upper edges, in order


def test_provisioning_files_parse_and_agree_with_the_deployment() -> None:
    datasources_doc = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    assert datasources_doc["apiVersion"] == 1
    (source,) = datasources_doc["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["uid"] == "liqmon-prometheus"

    providers_doc = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))
    assert providers_doc["apiVersion"] == 1
    (provider,) = providers_doc["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "liqmon"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# --- the daemon's side ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_fixed_set_counters_start_at_zero_on_a_real_scrape(tmp_path: Path) -> None:
    async with (
        FakeVenue(cascade.Script(ticks_per_point=2), tick_s=0.03) as venue,
        running(daemon_settings(tmp_path, venue, None)) as run,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
    ):
        families: dict[str, Any] = {}
        for _ in range(100):  # bounded: 100 × 0.1 s
            async with http.get(run.base_url + "/metrics") as response:
                text = await response.text()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            if any(s.value for s in families["liqmon_risk_cycle_timestamp_seconds"].samples):
                break
            await asyncio.sleep(0.1)

    rejected = {
        s.labels["reason"]: s.value
        for s in families["liqmon_feed_rejected"].samples
        if s.name.endswith("_total") and s.labels["venue"] == "hyperliquid"
    }
    assert set(rejected) >= set(FEED_REJECT_REASONS)
    crashes = {
        s.labels["venue"]: s.value
        for s in families["liqmon_feed_crashes"].samples
        if s.name.endswith("_total")
    }
    assert crashes == {"hyperliquid": 0.0}
    severities = {
        s.labels["severity"] for s in families["liqmon_alerts"].samples if s.name.endswith("_total")
    }
    assert severities == {severity.value for severity in Severity}
    assert families["liqmon_risk_cycle_timestamp_seconds"].samples, "no risk cycle in 10 s"
