"""A real MQTT broker for tests: the `mosquitto` binary on 127.0.0.1 with its own config.

`Mosquitto` writes a config into its own directory, starts the broker on a free port, and
can be stopped and started again on the same port, so tests can stage an outage. `Collector`
subscribes with a real aiomqtt client and keeps every message it receives; it reconnects on
its own after an outage. Every wait is bounded; nothing binds anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def mosquitto_binary() -> str | None:
    """The broker executable: on PATH, or in /usr/sbin where Debian puts it."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One broker process; `stop()` and `start()` again keep the port.

    `persistent=True` lets the broker save sessions and queued messages to its directory
    on a clean stop and load them on start, so a subscriber with a persistent session
    misses nothing across an outage (the default keeps nothing).
    """

    def __init__(self, workdir: Path, *, persistent: bool = False, secure: bool = False) -> None:
        binary = mosquitto_binary()
        if binary is None:
            msg = "mosquitto is not installed (looked on PATH and in /usr/sbin)"
            raise RuntimeError(msg)
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        # secure: `port` takes TLS with a password (user `liqmon`); an anonymous plain
        # listener on `plain_port` remains for test subscribers.
        self.secure = secure
        self.plain_port = free_port() if secure else self.port
        self.password = "broker-s3cret" if secure else ""
        self.ca_file = self.workdir / "ca.pem"
        if secure:
            self._make_credentials()
        self.config = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _make_credentials(self) -> None:
        """A throw-away CA, a server certificate for 127.0.0.1, and a password file."""
        w = self.workdir
        run = functools.partial(subprocess.run, check=True, capture_output=True, cwd=w)
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=liqmon test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ]
        )
        run(
            [
                "openssl",
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ]
        )
        (w / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "san.cnf",
                "-out",
                "server.pem",
            ]
        )
        run(["mosquitto_passwd", "-c", "-b", "passwords", "liqmon", self.password])

    def _write_config(self) -> None:
        secure = [
            "per_listener_settings true",
            f"listener {self.port} {HOST}",
            "allow_anonymous false",
            f"password_file {self.workdir}/passwords",
            f"cafile {self.ca_file}",
            f"certfile {self.workdir}/server.pem",
            f"keyfile {self.workdir}/server.key",
            f"listener {self.plain_port} {HOST}",
        ]
        lines = [
            *(secure if self.secure else [f"listener {self.port} {HOST}"]),
            "allow_anonymous true",
            f"user {getpass.getuser()}",  # as root: do not drop to a user that cannot write here
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if self.persistent:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "persistence_file mosquitto.db",
                "autosave_interval 0",
            ]
        else:
            lines.append("persistence false")
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self) -> None:
        """Start the broker and wait (bounded) until its port accepts connections."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"mosquitto exited with {self._process.returncode}: {self.log_tail()}"
                raise RuntimeError(msg)
            with (
                contextlib.suppress(OSError),
                socket.create_connection((HOST, self.plain_port), 0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        msg = f"mosquitto did not accept on port {self.port}: {self.log_tail()}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """A clean stop (SIGTERM, which also saves a persistent broker's state)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """An abrupt stop: SIGKILL, nothing saved, no connection closed politely."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Collector:
    """Subscribe to `topics` at QoS 1 and collect messages; reconnects after an outage.

    With `persistent=True` the client keeps a session (fixed id, clean_session False), so a
    persistent broker queues what is published while the collector is away.
    """

    def __init__(
        self,
        broker: Mosquitto,
        *topics: str,
        client_id: str = "test-collector",
        persistent: bool = False,
    ) -> None:
        self.broker = broker
        self.topics = topics or ("#",)
        self.client_id = client_id
        self.persistent = persistent
        self.messages: list[Received] = []
        self.connects = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        self._task = asyncio.create_task(self._run(), name="test-collector")
        await self.wait_subscribed(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_subscribed(self, connects: int, within_s: float = 10.0) -> None:
        """Wait (bounded) until the collector has subscribed `connects` times in all."""
        await self.wait_until(lambda: self.connects >= connects, within_s)

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    HOST,
                    self.broker.plain_port,
                    identifier=self.client_id,
                    clean_session=not self.persistent,
                    timeout=5.0,
                ) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.connects += 1
                    self._changed.set()
                    async for message in client.messages:
                        payload = message.payload
                        data = payload if isinstance(payload, bytes) else str(payload).encode()
                        self.messages.append(
                            Received(str(message.topic), data, message.qos, message.retain)
                        )
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.02)

    def on(self, prefix: str) -> list[Received]:
        """The messages whose topic starts with `prefix`, in arrival order."""
        return [m for m in self.messages if m.topic.startswith(prefix)]

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], within_s: float = 10.0
    ) -> list[Received]:
        """Wait (bounded) until `predicate(messages)` holds; fail with what did arrive."""
        await self.wait_until(lambda: predicate(self.messages), within_s)
        return self.messages

    async def wait_until(self, condition: Callable[[], bool], within_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                topics = [m.topic for m in self.messages[-10:]]
                msg = (
                    f"timed out after {within_s}s with {len(self.messages)} messages "
                    f"(last topics {topics}) and {self.connects} connects"
                )
                raise AssertionError(msg)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))


async def collect(
    broker: Mosquitto, topic: str, *, count: int, within_s: float = 5.0
) -> list[Received]:
    """Subscribe to `topic` and return the first `count` messages (e.g. retained ones)."""
    async with Collector(broker, topic, client_id=f"test-collect-{os.getpid()}") as sub:
        await sub.wait_for(lambda got: len(got) >= count, within_s)
        return list(sub.messages[:count])
