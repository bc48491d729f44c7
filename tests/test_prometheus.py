"""Prometheus files against the real thing: promtool, and a real Prometheus scraping the demo.

- promtool checks the scrape configs and the rules and runs the rules' unit tests;
- the few constants the rules hold equal the daemon's (AlertThresholds, ALERT_LEVELS);
- amtool checks the Alertmanager example and its routes;
- a real Prometheus (tests/prometheus.py) scrapes `liqmon demo` (a SIMULATED market) every
  second with deploy/prometheus/rules.yml loaded, and every PromQL expression of every
  Grafana panel and every rule is run through its HTTP API: each parses and returns data
  (the risk alerts while the demo's cascade is on; the daemon-down alert once it stopped);
  the critical alert goes through a real Alertmanager running the example's route to a
  webhook receiver in the test, grouped by venue and symbol.

Without the binaries these tests skip locally and fail under CI (.ci/run installs them).
Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]
from broker import HOST, Mosquitto, free_port
from prometheus import JOB, Alertmanager, Prometheus, Webhook, terminate, tool

from monitor.config import MqttSettings, RiskSettings, WebhookSettings
from monitor.core.alerts import AlertThresholds
from monitor.metrics import ALERT_LEVELS

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "prometheus"
RULES = DEPLOY / "rules.yml"
RULES_TEST = DEPLOY / "rules_test.yml"
SCRAPE_CONFIGS = (DEPLOY / "prometheus.yml", DEPLOY / "prometheus-kubernetes.yml")
ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
DASHBOARDS = REPO / "grafana" / "dashboards"

DEMO_SPEED = 5.0  # the story takes ~15 s
DEMO_BOUND_S = 120.0
TEMPLATE_VALUES = {
    "venue": "hyperliquid",  # the demo's only venue (besides the aggregate "all")
    "symbol": "BTC",
    "side": "down",
    "scenario": "displayed",
    "__rate_interval": "10s",  # ten scrapes at the test's 1 s interval
    "__interval": "2s",
    "__interval_ms": "2000",
    "__range": "1m",
    "__range_s": "60",
    "__range_ms": "60000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
METRIC = re.compile(r"\bliqmon_[a-z0-9_]+\b")


class StrictLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """SafeLoader that rejects duplicate keys (PyYAML would keep the last silently)."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys = [loader.construct_object(key, deep=deep) for key, _ in node.value]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys {sorted(map(str, duplicates))}", node.start_mark
        )
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader)  # noqa: S506


def test_deploy_yaml_is_strict_yaml() -> None:
    for path in (RULES, RULES_TEST, *SCRAPE_CONFIGS, ALERTMANAGER):
        assert isinstance(load_yaml(path), dict), path
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate keys"):
        yaml.load("a: 1\nb: 2\na: 3\n", Loader=StrictLoader)  # noqa: S506


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerting_rules() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def recording_rules() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}


def run_tool(binary: str, *args: str | Path, cwd: Path = DEPLOY) -> tuple[int, str]:
    """The exit status and output (stdout, then stderr) of promtool or amtool."""
    done = subprocess.run(
        [tool(binary), *map(str, args)],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def checked(binary: str, *args: str | Path, cwd: Path = DEPLOY) -> str:
    """Run promtool or amtool; fails the test with its output unless it exits 0."""
    status, output = run_tool(binary, *args, cwd=cwd)
    assert status == 0, output
    return output


# --- Grafana panels ------------------------------------------------------------------------


def panel_targets(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, expr) of every Prometheus target in a dashboard, rows and nested panels too."""
    if isinstance(node, list):
        for item in node:
            yield from panel_targets(item, where)
    elif isinstance(node, dict):
        title = node.get("title", "")
        for target in node.get("targets", []) if isinstance(node.get("targets"), list) else []:
            if isinstance(target, dict) and isinstance(target.get("expr"), str) and target["expr"]:
                yield f"{where} panel {title!r} {target.get('refId', '')}", target["expr"]
        for key, value in node.items():
            if key != "targets" and isinstance(value, list | dict):
                yield from panel_targets(value, where)


def template_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Concrete values for the dashboard's own variables: ours first, then its current ones."""
    values = dict(TEMPLATE_VALUES)
    for variable in dashboard.get("templating", {}).get("list", []):
        name = variable.get("name")
        current = variable.get("current", {}).get("value")
        if isinstance(current, list):
            current = current[0] if current else None
        if name and name not in values and isinstance(current, str) and current != "$__all":
            values[name] = current
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """`expr` with Grafana's $var, ${var[:fmt]} and [[var]] replaced.

    Like Grafana, names it does not know stay as they are: "$1" in label_replace is a regex
    reference, and a misspelt variable then fails to parse or finds no data below.
    """

    def one(match: re.Match[str]) -> str:
        return values.get(match[1] or match[2] or match[3], match[0])

    return VARIABLE.sub(one, expr)


def dashboard_exprs() -> list[tuple[str, str]]:
    """Every panel expression of grafana/dashboards/*.json, variables substituted."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        dashboard = document.get("dashboard", document)  # a provisioning wrapper or the model
        values = template_values(dashboard)
        found += [
            (where, substitute(expr, values))
            for where, expr in panel_targets(dashboard.get("panels", []), path.name)
        ]
    return found


def test_grafana_variables_are_substituted() -> None:
    values = {"venue": "okx", "__rate_interval": "10s"}
    assert (
        substitute('rate(x{venue=~"$venue",v="${venue:regex}"}[$__rate_interval])', values)
        == 'rate(x{venue=~"okx",v="okx"}[10s])'
    )
    assert substitute("y[[[venue]]]", values) == "y[okx]"
    assert substitute('label_replace(f, "le", "$1", "w", "(.*)")', values) == (
        'label_replace(f, "le", "$1", "w", "(.*)")'
    )
    panels = {"panels": [{"title": "row", "panels": [{"title": "p", "targets": [{"expr": "a"}]}]}]}
    assert list(panel_targets(panels["panels"], "d.json")) == [("d.json panel 'p' ", "a")]


# --- promtool ------------------------------------------------------------------------------


def test_promtool_checks_the_scrape_configs(tmp_path: Path) -> None:
    checked("promtool", "check", "config", DEPLOY / "prometheus.yml")
    kubernetes = DEPLOY / "prometheus-kubernetes.yml"
    status, output = run_tool("promtool", "check", "config", kubernetes)
    if "field kubernetes_sd_configs not found" in output:
        # Debian's build leaves Kubernetes discovery out: check everything else (relabelling,
        # rule files, alerting) with the discovery block swapped for a static target.
        config = load_yaml(kubernetes)
        for job in config["scrape_configs"]:
            del job["kubernetes_sd_configs"]
            job["static_configs"] = [{"targets": ["127.0.0.1:9464"]}]
        config["rule_files"] = [str(RULES)]
        static = tmp_path / "prometheus-kubernetes.yml"
        static.write_text(json.dumps(config), encoding="utf-8")
        checked("promtool", "check", "config", static, cwd=tmp_path)
    else:
        assert status == 0, output
    for path in SCRAPE_CONFIGS:
        config = load_yaml(path)
        assert [job["job_name"] for job in config["scrape_configs"]] == [JOB], path
        assert config["rule_files"] == ["rules.yml"], path
    pods = load_yaml(kubernetes)["scrape_configs"][0]["relabel_configs"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    } in pods


def test_promtool_checks_the_rules() -> None:
    output = checked("promtool", "check", "rules", RULES)
    assert f"SUCCESS: {len(rules())} rules found" in output


def test_promtool_unit_tests_cover_every_alert_firing_and_silent() -> None:
    checked("promtool", "test", "rules", RULES_TEST)
    cases = [
        case for test in load_yaml(RULES_TEST)["tests"] for case in test.get("alert_rule_test", [])
    ]
    for name in alerting_rules():
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: needs a firing and a silent case"


def test_thresholds_in_the_rules_are_the_daemons() -> None:
    alerts = alerting_rules()
    t, levels = AlertThresholds(), ALERT_LEVELS
    assert (
        alerts["LiqmonCascadeRiskWarning"]["expr"] == f"liqmon_alert_state == {levels['warning']}"
    )
    assert (
        alerts["LiqmonCascadeRiskCritical"]["expr"] == f"liqmon_alert_state == {levels['critical']}"
    )
    assert alerts["LiqmonDataStale"]["expr"] == (
        f"max without (side) (liqmon_alert_state) == {levels['stale']}"
    )
    assert max(levels.values()) == levels["stale"]  # so max over the sides finds it
    assert alerts["LiqmonLowCoverage"]["expr"] == (
        f"liqmon_ledger_coverage_ratio < {t.low_coverage:g} and liqmon_ledger_warm == 1"
    )
    # The texts quote the defaults; they must be the daemon's.
    assert (
        f"(default {t.warning_pct:g} %)"
        in alerts["LiqmonCascadeRiskWarning"]["annotations"]["description"]
    )
    assert (
        f"(default {t.critical_pct:g} %)"
        in alerts["LiqmonCascadeRiskCritical"]["annotations"]["description"]
    )
    stale_s = RiskSettings().stale_after_s
    assert f"default {stale_s:g} s" in alerts["LiqmonDataStale"]["annotations"]["description"]
    # Stalled means many missed cycles, never one slow cycle.
    window = re.fullmatch(
        r"increase\(liqmon_risk_cycles_total\[(\d+)m\]\) == 0",
        alerts["LiqmonRiskCyclesStalled"]["expr"],
    )
    assert window is not None
    assert int(window[1]) * 60 >= 10 * RiskSettings().interval_s
    # Drops are counted by the daemon past outbox_max: no copy of that bound in PromQL.
    for rule in alerts.values():
        assert str(MqttSettings().outbox_max) not in rule["expr"]
        assert str(WebhookSettings().outbox_max) not in rule["expr"]


def test_alertmanager_example_routes_every_severity_per_market() -> None:
    config = load_yaml(ALERTMANAGER)
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    route = config["route"]
    assert {"venue", "symbol"} <= set(route["group_by"])
    assert route["receiver"] in receivers
    routed = {}
    for child in route["routes"]:
        assert child["receiver"] in receivers
        (matcher,) = child["matchers"]
        found = re.fullmatch(r'severity="(\w+)"', matcher)
        assert found is not None, matcher
        routed[found[1]] = child["receiver"]
    severities = {rule["labels"]["severity"] for rule in alerting_rules().values()}
    assert severities <= {*routed, "warning"}  # warning takes the default route
    for receiver in receivers.values():
        (webhook,) = receiver["webhook_configs"]
        assert webhook["url"].startswith("http://")
    # amtool (the Alertmanager's own parser) agrees, and routes each severity as above.
    checked("amtool", "check-config", ALERTMANAGER)
    for severity in severities:
        got = checked(
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            f"severity={severity}",
            "venue=binance",
            "symbol=BTCUSDT",
        )
        assert got.split()[0] == routed.get(severity, route["receiver"]), got


# --- a real Prometheus scraping the demo ---------------------------------------------------


def declared_metrics(port: int) -> set[str]:
    """Metric names the daemon declares (# TYPE lines) on /metrics, with or without samples."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
            names |= {name + suffix for suffix in suffixes}
    return names


def never_sampled(prometheus: Prometheus, names: set[str], at: float) -> set[str]:
    """Those of `names` that have no sample at all in Prometheus up to `at`."""
    return {
        name
        for name in names
        if not prometheus.result(f'count_over_time({{__name__="{name}"}}[10m])', at)
    }


def alertmanager_config(webhook: Webhook) -> dict[str, Any]:
    """The Alertmanager example, its receivers pointed at `webhook` and short group waits."""
    config: dict[str, Any] = load_yaml(ALERTMANAGER)
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook.url(urllib.parse.urlsplit(hook["url"]).path)
    for route in (config["route"], *config["route"]["routes"]):
        route["group_wait"] = "1s"  # the example waits for people, not for a test
    return config


class Demo:
    """`liqmon demo` as a subprocess, its output in a file."""

    def __init__(self, workdir: Path, port: int, mqtt_url: str) -> None:
        self.log = workdir / "demo.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "monitor",
                    "demo",
                    "--port",
                    str(port),
                    "--mqtt",
                    mqtt_url,
                    "--speed",
                    str(DEMO_SPEED),
                ],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait(self, within_s: float) -> int:
        return self.process.wait(within_s)


def test_prometheus_runs_every_dashboard_and_rule_expression_against_the_demo(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()
    with Webhook() as webhook:
        alertmanager = Alertmanager(tmp_path / "alertmanager", alertmanager_config(webhook))
        alertmanager.start()
        try:
            prometheus = Prometheus(
                tmp_path / "prometheus", f"{HOST}:{port}", [RULES], alertmanager
            )
            run_against_the_demo(prometheus, tmp_path, port, mosquitto, webhook)
        except BaseException:
            print("--- alertmanager ---\n" + alertmanager.log_tail())
            raise
        finally:
            alertmanager.stop()


def run_against_the_demo(
    prometheus: Prometheus, tmp_path: Path, port: int, mosquitto: Mosquitto, webhook: Webhook
) -> None:
    panels = dashboard_exprs()  # zero until grafana/dashboards/ has dashboards
    alerts = alerting_rules()
    records = recording_rules()
    prometheus.start()
    demo = None
    try:
        # With a broker the demo runs its MQTT sink, so the outbox and sink series exist.
        demo = Demo(tmp_path, port, mosquitto.url)
        up = f'up{{job="{JOB}"}} == 1'
        prometheus.wait_for_data(up, 60)
        declared = declared_metrics(port)
        rule_exprs = [(rule.get("alert") or rule["record"], rule["expr"]) for rule in rules()]
        for where, expr in panels + rule_exprs:
            unknown = set(METRIC.findall(expr)) - declared
            assert not unknown, f"{where}: {sorted(unknown)} not exported by the daemon"
        # The cascade, as Prometheus sees it: warning first, then critical, each also
        # fired by Prometheus's own evaluation of the rule.
        at_warning = prometheus.wait_for_data(alerts["LiqmonCascadeRiskWarning"]["expr"], 90)
        at = prometheus.wait_for_data(alerts["LiqmonCascadeRiskCritical"]["expr"], 60)
        for name in ("LiqmonCascadeRiskWarning", "LiqmonCascadeRiskCritical"):
            fired = f'max_over_time(ALERTS{{alertname="{name}",alertstate="firing"}}[5m])'
            prometheus.wait_for_data(fired, 10)
        assert prometheus.result(alerts["LiqmonCascadeRiskWarning"]["expr"], at_warning)
        # ... and delivered by Alertmanager per the example's route, grouped per market.
        group = {"alertname": "LiqmonCascadeRiskCritical", "venue": "hyperliquid", "symbol": "BTC"}
        sent = webhook.wait_for(
            lambda path, body: path == "/liqmon/alerts" and body["groupLabels"] == group, 20
        )
        assert sent["receiver"] == "liqmon-webhook"
        assert sent["status"] == "firing"
        summaries = {a["labels"]["side"]: a["annotations"]["summary"] for a in sent["alerts"]}
        assert summaries["down"] == "BTC on hyperliquid down: cascade risk critical"

        for rule in alerts.values():
            prometheus.result(rule["expr"], at)  # parses and runs; most are quiet in the demo
        for name, expr in records.items():
            assert prometheus.result(expr, at), f"recording rule {name}: no data"
            assert prometheus.result(name, at), f"{name} was not recorded by Prometheus"

        no_data = [(where, expr) for where, expr in panels if not prometheus.result(expr, at)]
        # A panel may stay empty only when the demo never produces its metrics (rejects,
        # reconnects, book resyncs...), which the daemon declares (checked above).
        for where, expr in no_data:
            metrics = set(METRIC.findall(expr))
            assert metrics, f"{where}: no data for {expr!r}"
            silent = never_sampled(prometheus, metrics, at)
            assert silent, f"{where}: no data for {expr!r} though its metrics have samples"

        # The demo ends by itself; then the daemon-down expression turns up.
        assert demo.wait(DEMO_BOUND_S) == 0, demo.output()
        prometheus.wait_for_data(alerts["LiqmonDown"]["expr"], 20)
    except BaseException:
        print("--- demo ---\n" + (demo.output() if demo else "not started"))
        print("--- prometheus ---\n" + prometheus.log_tail())
        raise
    finally:
        if demo is not None:
            terminate(demo.process)
        prometheus.stop()
    print(
        f"checked {len(panels)} panel expressions, {len(records)} recording rules, "
        f"{len(alerts)} alerting rules; panels without data in the demo: "
        f"{[where for where, _ in no_data]}"
    )
