"""A real Prometheus and Alertmanager for tests: Debian's binaries on 127.0.0.1, own configs.

`Prometheus` writes a config that scrapes one target every second and evaluates the given
rule files every second, starts the server on a free port with its storage in the test's
directory, and answers PromQL through the HTTP API (/api/v1/query). `Alertmanager` runs a
given config the same way (no cluster port), and `Webhook` is an HTTP receiver that keeps
what Alertmanager posts. `tool()` finds a binary or, like the mosquitto fixture, fails under
CI and skips locally. Every wait is bounded; nothing binds anything but 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from broker import HOST, free_port

JOB = "liqmon"
"""The job name deploy/prometheus/rules.yml expects (up{job="liqmon"})."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
POLL_S = 0.2


PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
}
"""The Debian package that brings each binary."""


def tool(name: str) -> str:
    """The path of a Prometheus binary; fails under CI (.ci/run installs it), else skips."""
    path = shutil.which(name)
    if path is None:
        install = f"apt-get install {PACKAGES[name]}"
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run installs it ({install})")
        pytest.skip(f"{name} is not installed ({install})")
    return path


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (a clean stop), then SIGKILL if the process does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


class Server:
    """A Prometheus-style server process: a config file, a data directory, /-/ready."""

    def __init__(self, binary: str, workdir: Path, config: dict[str, Any]) -> None:
        self.binary = tool(binary)
        self.name = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = self.workdir / "config.yml"
        self.log_path = self.workdir / "server.log"
        # JSON is YAML: no YAML writer needed.
        self.config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def arguments(self) -> list[str]:
        """Command-line flags of this kind of server (storage); config and address are set."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and wait (bounded) until /-/ready answers 200."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--web.listen-address={HOST}:{self.port}",
                    "--log.level=warn",
                    *self.arguments(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"{self.name} exited with {self._process.returncode}: {self.log_tail()}"
                raise RuntimeError(msg)
            try:
                if self.get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(POLL_S)
        self.stop()
        msg = f"{self.name} was not ready within {START_TIMEOUT_S:g} s: {self.log_tail()}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        process, self._process = self._process, None
        terminate(process)

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of GET `path`."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT_S)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


class Prometheus(Server):
    """Scrapes `target` (host:port) as job liqmon with `rule_files` loaded; may alert."""

    def __init__(
        self,
        workdir: Path,
        target: str,
        rule_files: list[Path],
        alertmanager: Alertmanager | None = None,
    ) -> None:
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        if alertmanager is not None:
            where = [{"targets": [f"{HOST}:{alertmanager.port}"]}]
            config["alerting"] = {"alertmanagers": [{"static_configs": where}]}
        super().__init__("prometheus", workdir, config)

    def arguments(self) -> list[str]:
        return [f"--storage.tsdb.path={self.workdir / 'data'}"]

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """The API's whole answer to an instant query (status, data or error)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        status, body = self.get("/api/v1/query?" + urllib.parse.urlencode(params))
        answer: dict[str, Any] = json.loads(body)
        answer.setdefault("http_status", status)
        return answer

    def result(self, expr: str, at: float | None = None) -> list[Any]:
        """The result of a query that must parse; fails with the API's error otherwise."""
        answer = self.query(expr, at)
        assert answer["status"] == "success", f"{expr!r}: {answer}"
        result: list[Any] = answer["data"]["result"]
        return result

    def wait_for_data(self, expr: str, within_s: float) -> float:
        """Poll (bounded) until `expr` returns data; the time it first did, in epoch seconds."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            now = time.time()
            if self.result(expr, now):
                return now
            time.sleep(POLL_S)
        msg = f"no data for {expr!r} within {within_s:g} s; prometheus log: {self.log_tail()}"
        raise AssertionError(msg)


class Alertmanager(Server):
    """Runs `config` (an alertmanager.yml as a dict); no cluster gossip port."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        super().__init__("prometheus-alertmanager", workdir, config)

    def arguments(self) -> list[str]:
        return [f"--storage.path={self.workdir / 'data'}", "--cluster.listen-address="]


class Webhook:
    """An HTTP receiver on 127.0.0.1 that keeps every JSON body POSTed to it, by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        received, changed = self.received, self._changed

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with changed:
                    received.append((self.path, json.loads(body)))
                    changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass  # quiet: the test reports what matters

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_TIMEOUT_S)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def wait_for(self, predicate: Callable[[str, Any], bool], within_s: float) -> Any:
        """The first body for which `predicate(path, body)` holds; waits (bounded) for it."""
        deadline = time.monotonic() + within_s
        with self._changed:
            while True:
                for path, body in self.received:
                    if predicate(path, body):
                        return body
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"no matching POST within {within_s:g} s; got {self.received}"
                    raise AssertionError(msg)
                self._changed.wait(min(remaining, 0.5))
