"""A real Prometheus for tests: Debian's `prometheus` binary on 127.0.0.1 with its own config.

`Prometheus` writes a config that scrapes one target every second and evaluates the given
rule files every second, starts the server on a free port with its storage in the test's
directory, and answers PromQL through the HTTP API (/api/v1/query). `tool()` finds a binary
(prometheus, promtool, amtool) or, like the mosquitto fixture, fails under CI and skips locally.
Every wait is bounded; nothing binds anything but 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
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


class Prometheus:
    """One server scraping `target` (host:port) as job liqmon, with `rule_files` loaded."""

    def __init__(self, workdir: Path, target: str, rule_files: list[Path]) -> None:
        self.binary = tool("prometheus")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        # JSON is YAML: no YAML writer needed.
        self.config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait (bounded) until /-/ready answers 200."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address={HOST}:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"prometheus exited with {self._process.returncode}: {self.log_tail()}"
                raise RuntimeError(msg)
            try:
                if self._get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(POLL_S)
        self.stop()
        msg = f"prometheus was not ready within {START_TIMEOUT_S:g} s: {self.log_tail()}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        process, self._process = self._process, None
        terminate(process)

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """The API's whole answer to an instant query (status, data or error)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        status, body = self._get("/api/v1/query?" + urllib.parse.urlencode(params))
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

    def _get(self, path: str) -> tuple[int, str]:
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
