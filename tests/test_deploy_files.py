"""Deployment files: they parse, are pinned, and agree with the package they deploy.

No Docker engine or Kubernetes cluster runs here, so the Dockerfile, compose file and
manifests are checked for structure and for agreement with the code (port, probe paths,
environment variable names, user id, state directory). What can run here does run: the
image's HEALTHCHECK command against a real HTTP server, `liqmon check-config` on the
container config, a real mosquitto on the compose broker config, `systemd-analyze verify`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import getpass
import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import kubernetes_validate
import pytest
import yaml
from broker import free_port, mosquitto_binary
from prometheus_client import CollectorRegistry

from monitor.config import HttpSettings, load_settings
from monitor.daemon import SHUTDOWN_STEP_S
from monitor.engine import Engine
from monitor.http_api import build_app

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
CONTAINER_CONFIG = DEPLOY / "liqmon.toml"
UNIT = DEPLOY / "systemd" / "liqmon.service"

STOP_BOUND_S = 3 * SHUTDOWN_STEP_S + 1  # drain, save, sinks, then the HTTP server closes
"""How long the daemon may take after SIGTERM; every stop timeout must exceed it."""

K8S_VERSIONS = ("1.27", kubernetes_validate.latest_version())
"""Oldest Kubernetes the manifests are for (PDB `unhealthyPodEvictionPolicy`), and the newest
whose schemas kubernetes-validate carries."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        msg = f"duplicate key(s) {sorted(duplicates)} at line {node.start_mark.line + 1}"
        raise yaml.constructor.ConstructorError(None, None, msg, node.start_mark)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    assert "\t" not in text, f"{path}: tab characters"
    return [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None]


def k8s_objects() -> dict[str, dict[str, Any]]:
    """Every manifest in deploy/k8s by kind (one object of each kind)."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_yaml(path):
            assert doc["kind"] not in objects, f"two {doc['kind']} objects"
            objects[doc["kind"]] = doc
    return objects


def compose() -> dict[str, Any]:
    [doc] = load_yaml(COMPOSE)
    return dict(doc)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def instruction(name: str) -> list[str]:
    return [args for kind, args in dockerfile_instructions() if kind == name]


def pinned(image: str) -> bool:
    """`name:tag` with a version-like tag (digits), or a digest; never latest."""
    if "@sha256:" in image:
        return True
    _, sep, tag = image.rpartition(":")
    return bool(sep) and "/" not in tag and tag != "latest" and bool(re.search(r"\d", tag))


def container_settings() -> Any:
    return load_settings(CONTAINER_CONFIG, environ={})


# ---------------------------------------------------------------- every file parses


def deploy_documents() -> list[Path]:
    paths = [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml"), *REPO.glob("grafana/**/*.yml")]
    paths += REPO.glob("grafana/**/*.yaml")
    return sorted(set(paths))


@pytest.mark.parametrize("path", deploy_documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_parses_without_duplicate_keys_or_tabs(path: Path) -> None:
    assert load_yaml(path), f"{path} is empty"


def test_json_of_deploy_files_parses() -> None:
    paths = sorted([*DEPLOY.rglob("*.json"), *REPO.glob("grafana/**/*.json")])
    for path in paths:
        json.loads(path.read_text(encoding="utf-8"))


def test_check_config_accepts_the_container_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "--config", str(CONTAINER_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "binance: BTCUSDT, ETHUSDT" in result.stdout
    settings = container_settings()
    assert settings.http.host == "0.0.0.0"  # noqa: S104 (reachable from outside the container)
    assert settings.mqtt.url == "mqtt://mosquitto:1883"
    assert settings.state.dir == "/var/lib/liqmon"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_base_user_port_volume() -> None:
    [base] = instruction("FROM")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base
    [user] = instruction("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), "a numeric user, so Kubernetes runAsNonRoot can verify it"
    assert int(uid) != 0
    assert instruction("EXPOSE") == [str(HttpSettings().port)]
    settings = container_settings()
    assert str(settings.http.port) in instruction("EXPOSE")
    assert json.loads(instruction("VOLUME")[0]) == [settings.state.dir]
    assert instruction("STOPSIGNAL") == ["SIGTERM"]
    [entrypoint] = instruction("ENTRYPOINT")
    [cmd] = instruction("CMD")
    command = json.loads(entrypoint) + json.loads(cmd)
    assert command[:2] == ["liqmon", "run"]
    assert command[command.index("--config") + 1] == "/etc/liqmon/liqmon.toml"
    assert any(args.startswith("pip install .") for args in instruction("RUN"))


def test_dockerfile_copies_only_what_dockerignore_admits() -> None:
    """Every COPY source exists and is inside the allow-list build context."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def admitted(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                keep = negated
        return keep

    sources = [src for args in instruction("COPY") for src in args.split()[:-1]]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert admitted(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    assert not admitted(".venv")
    assert not admitted("state")
    assert not admitted("monitor/__pycache__")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/healthz" else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)


def test_healthcheck_command_runs(health_server: int) -> None:
    """The HEALTHCHECK's urllib one-liner, run for real against /healthz on another port."""
    [healthcheck] = instruction("HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    assert "http://127.0.0.1:9464/healthz" in command[-1]
    assert "urllib" in command[-1]

    def run(port: int) -> int:
        argv = [sys.executable, *command[1:-1], command[-1].replace("9464", str(port))]
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode

    assert run(health_server) == 0
    assert run(free_port()) != 0  # nothing listens: unhealthy


# ---------------------------------------------------------------- docker-compose


def test_compose_services_and_pinned_images() -> None:
    services = compose()["services"]
    assert set(services) == {"liqmon", "mosquitto", "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        assert pinned(service["image"]), f"{name}: image {service['image']} is not pinned"
    assert services["liqmon"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert {"9464:9464", "9090:9090", "9093:9093", "3000:3000"} == set(services["liqmon"]["ports"])
    grace = services["liqmon"]["stop_grace_period"]
    assert float(grace.rstrip("s")) > STOP_BOUND_S
    assert "mosquitto" in container_settings().mqtt.url  # the broker's service name


def compose_schema() -> jsonschema.Draft202012Validator:
    """The Compose Specification schema, as vendored (and kept current) by check-jsonschema."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def test_compose_file_matches_the_compose_specification() -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in compose_schema().iter_errors(compose())
    ]
    assert not errors


def test_compose_schema_check_catches_a_misspelt_field() -> None:
    document = compose()
    document["services"]["liqmon"]["restartt"] = "unless-stopped"
    assert not compose_schema().is_valid(document)


def bind_mounts() -> list[tuple[str, Path, str]]:
    """(service, host path resolved against deploy/, container path) of every bind mount."""
    mounts = []
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                mounts.append((name, (DEPLOY / source).resolve(), target))
    return mounts


def test_compose_mounts_exist() -> None:
    mounts = bind_mounts()
    missing = sorted(str(host.relative_to(REPO)) for _, host, _ in mounts if not host.exists())
    assert not missing, f"mounted but missing: {missing}"
    by_target = {target: host for _, host, target in mounts}
    assert by_target["/etc/liqmon/liqmon.toml"] == CONTAINER_CONFIG
    assert by_target["/var/lib/grafana/dashboards"] == REPO / "grafana" / "dashboards"
    assert (
        by_target["/etc/prometheus/rules.yml"].parent
        == by_target["/etc/prometheus/prometheus.yml"].parent
    )  # rule_files are relative to prometheus.yml


def test_compose_prometheus_reaches_liqmon_and_grafana_reaches_prometheus() -> None:
    """The one-host Prometheus config scrapes 127.0.0.1: it must share liqmon's network."""
    services = compose()["services"]
    for name in ("prometheus", "alertmanager", "grafana"):
        assert services[name]["network_mode"] == "service:liqmon"
        assert name in services["liqmon"]["networks"]["default"]["aliases"]
    prometheus_yml = DEPLOY / "prometheus" / "prometheus.yml"
    if prometheus_yml.exists():
        [config] = load_yaml(prometheus_yml)
        targets = [
            target
            for job in config["scrape_configs"]
            if job["job_name"] == "liqmon"
            for static in job["static_configs"]
            for target in static["targets"]
        ]
        assert targets == [f"127.0.0.1:{container_settings().http.port}"]
    datasources = REPO / "grafana" / "provisioning" / "datasources" / "liqmon.yml"
    if datasources.exists():
        [config] = load_yaml(datasources)
        [source] = [d for d in config["datasources"] if d.get("uid") == "liqmon-prometheus"]
        host = r"(prometheus|127\.0\.0\.1|localhost)"
        assert re.fullmatch(rf"https?://{host}:9090/?", source["url"]), source["url"]


def test_compose_grafana_reads_the_dashboards_it_mounts() -> None:
    """The dashboard provider's path is where compose mounts grafana/dashboards."""
    providers = REPO / "grafana" / "provisioning" / "dashboards" / "liqmon.yml"
    if not providers.exists():
        assert not os.environ.get("CI"), f"{providers} is missing"
        return
    [config] = load_yaml(providers)
    paths = {p["options"]["path"] for p in config["providers"]}
    mounted = {
        target for _, host, target in bind_mounts() if host == REPO / "grafana" / "dashboards"
    }
    assert paths == mounted == {"/var/lib/grafana/dashboards"}


# ---------------------------------------------------------------- Kubernetes


def test_kustomization_lists_every_manifest() -> None:
    [kustomization] = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_match_the_kubernetes_api_schema(version: str) -> None:
    """Strict: a misspelt or misplaced field fails, as `kubectl apply` would refuse it.

    The ServiceMonitor is a Prometheus Operator CRD, whose schema is not bundled; the
    Kustomization is read by kubectl, not the API server. Both are checked above and below.
    """
    checked = set()
    for kind, manifest in k8s_objects().items():
        if kind in {"ServiceMonitor", "Kustomization"}:
            continue
        kubernetes_validate.validate(manifest, version, strict=True)
        checked.add(kind)
    assert checked == {"StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap"}


def test_k8s_schema_check_catches_a_misspelt_field() -> None:
    statefulset = k8s_objects()["StatefulSet"]
    statefulset["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(statefulset, K8S_VERSIONS[-1], strict=True)


def test_k8s_configmap_is_the_container_config() -> None:
    configmap = k8s_objects()["ConfigMap"]
    assert configmap["data"]["liqmon.toml"] == CONTAINER_CONFIG.read_text(encoding="utf-8")


def test_k8s_routes_and_port_agree_with_the_package() -> None:
    objects = k8s_objects()
    pod = objects["StatefulSet"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    port = container_settings().http.port
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    settings = container_settings()
    snapshot = Engine(settings.risk, settings.alerts, started_ns=0).snapshot
    app = build_app(lambda: snapshot, CollectorRegistry(), low_coverage=0.5)
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert liveness["httpGet"] == {"path": "/healthz", "port": "http"}
    assert readiness["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    service = objects["Service"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = objects["ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_k8s_sharding_environment_is_read_by_the_config() -> None:
    """Shard count = replicas; index = the pod ordinal; every variable is a real key."""
    statefulset = k8s_objects()["StatefulSet"]
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LIQMON_SHARD__COUNT"]["value"] == str(statefulset["spec"]["replicas"])
    assert env["LIQMON_SHARD__INDEX"]["value"] == "auto"
    assert env["LIQMON_MQTT__CLIENT_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    samples = {  # what Kubernetes would put in each variable for pod liqmon-1
        "LIQMON_MQTT__CLIENT_ID": "liqmon-1",
        "LIQMON_MQTT__PASSWORD": "s3cret",
        "LIQMON_WEBHOOK__URL": "https://hooks.example/liqmon",
    }
    environ = {name: e["value"] if "value" in e else samples[name] for name, e in env.items()}
    settings = load_settings(CONTAINER_CONFIG, environ={**environ, "HOSTNAME": "liqmon-1"})
    assert (settings.shard.index, settings.shard.count) == (1, statefulset["spec"]["replicas"])
    assert settings.mqtt.client_id == "liqmon-1"
    assert settings.mqtt.password == samples["LIQMON_MQTT__PASSWORD"]
    assert settings.webhook.url == "https://hooks.example/liqmon"


def test_k8s_pod_is_non_root_bounded_and_keeps_state() -> None:
    objects = k8s_objects()
    statefulset = objects["StatefulSet"]
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert pinned(container["image"])
    uid = int(instruction("USER")[0].split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert pod["terminationGracePeriodSeconds"] > STOP_BOUND_S
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    [claim] = spec["volumeClaimTemplates"]
    assert mounts[claim["metadata"]["name"]] == container_settings().state.dir
    assert mounts["config"] == "/etc/liqmon"
    assert container["args"][container["args"].index("--config") + 1] == "/etc/liqmon/liqmon.toml"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    labels = spec["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = objects[kind]["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["serviceName"] == objects["Service"]["metadata"]["name"]
    assert objects["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


# ---------------------------------------------------------------- systemd


def unit_options() -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            options.setdefault(key, []).append(value)
    return options


def test_systemd_unit_hardening() -> None:
    options = unit_options()
    for key, value in {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "StateDirectory": "liqmon",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
    }.items():
        assert options[key] == [value], key
    assert options["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "@system-service" in options["SystemCallFilter"]
    assert options["MemoryMax"]
    assert float(options["TimeoutStopSec"][0].rstrip("s")) > STOP_BOUND_S
    environ = dict(e.split("=", 1) for e in options["Environment"] if e.startswith("LIQMON_"))
    environ["LIQMON_STATE__DIR"] = "/var/lib/liqmon"  # %S/liqmon as systemd expands it
    settings = load_settings(CONTAINER_CONFIG, environ=environ)
    assert settings.http.host == "127.0.0.1"
    assert settings.mqtt.url == "mqtt://127.0.0.1:1883"
    argv = shlex.split(options["ExecStart"][0])
    assert argv[1:4] == ["run", "--config", "/etc/liqmon/liqmon.toml"]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` with ExecStart pointed at this environment's liqmon."""
    analyze = shutil.which("systemd-analyze")
    liqmon = shutil.which("liqmon") or str(Path(sys.executable).parent / "liqmon")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    assert Path(liqmon).exists()
    unit = tmp_path / "liqmon.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/liqmon/bin/liqmon", liqmon),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings


# ---------------------------------------------------------------- mosquitto


@pytest.mark.asyncio
async def test_mosquitto_config_serves_retained_state(tmp_path: Path) -> None:
    """The compose broker config, on a free port and a temporary data dir, really runs."""
    binary = mosquitto_binary()
    assert binary is not None, "mosquitto is not installed (.ci/run installs it)"
    port = free_port()
    text = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    text = text.replace("listener 1883", f"listener {port} 127.0.0.1")
    text = text.replace("/mosquitto/data/", f"{tmp_path}/")
    config = tmp_path / "mosquitto.conf"
    user = f"user {getpass.getuser()}\n"  # as root: do not drop to a user that cannot write here
    config.write_text(text + user, encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        binary,
        "-c",
        str(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        received = None
        for _ in range(50):  # at most ~5 s for the broker to listen
            try:
                async with aiomqtt.Client("127.0.0.1", port, identifier="deploy-test") as client:
                    await client.publish("liqmon/status", b"online", qos=1, retain=True)
                    await client.subscribe("liqmon/status", qos=1)
                    async with asyncio.timeout(5.0):
                        async for message in client.messages:
                            received = message.payload
                            break
                break
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)
        assert received == b"online"
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10.0)
    assert b"Error" not in output, output.decode(errors="replace")
    assert (tmp_path / "mosquitto.db").exists()  # persistence saved on a clean stop
