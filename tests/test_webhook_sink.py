"""The webhook sink against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import orjson
import pytest
from aiohttp import web
from broker import free_port

from monitor.config import ConfigError, WebhookSettings
from monitor.core.alerts import Alert, Severity
from monitor.sinks.outbox import Outbox
from monitor.sinks.payload import alert_document
from monitor.sinks.webhook import RETRY_AFTER_CAP_S, WebhookSink, retry_after_s

pytestmark = pytest.mark.asyncio

TOKEN = "T0KEN-in-the-path-never-logged"  # noqa: S105 - fake secrets to search logs for
QUERY_SECRET = "query-secret-never-logged"  # noqa: S105


def fast_delays():
    return itertools.repeat(0.02)


def make_alert(i: int) -> Alert:
    return Alert(
        id=f"alert-{i:03d}",
        ts_ns=1_790_000_000_000_000_000 + i,
        venue="all",
        symbol="BTC",
        side="up",
        severity=Severity.CRITICAL,
        critical_shock_pct=0.8,
        threshold_pct=1.0,
        price=60_000.0,
        low_confidence=True,
        clusters=(),
        figures={},
        message=f"critical #{i}",
    )


@dataclass
class Hit:
    at: float
    body: bytes
    content_type: str
    status: int


@dataclass
class Receiver:
    """Answers each POST with `answer(hit_number, body)`: (status, headers)."""

    answer: Callable[[int, bytes], tuple[int, dict[str, str]]]
    port: int = field(default_factory=free_port)
    hits: list[Hit] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{TOKEN}?key={QUERY_SECRET}"

    def accepted(self) -> list[str]:
        return [orjson.loads(h.body)["id"] for h in self.hits if 200 <= h.status < 300]

    async def handle(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        body = await request.read()
        status, headers = self.answer(len(self.hits), body)
        self.hits.append(Hit(time.monotonic(), body, request.content_type, status))
        return web.Response(status=status, headers=headers, text="")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook/{token}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@contextlib.asynccontextmanager
async def webhook(receiver: Receiver, tmp_path, *, start_server: bool = True):
    if start_server:
        await receiver.start()
    async with aiohttp.ClientSession() as http:
        sink = WebhookSink(
            WebhookSettings(url=receiver.url, timeout_s=2.0),
            Outbox(tmp_path / "webhook.db", 100),
            http,
            delays=fast_delays,
        )
        task = asyncio.create_task(sink.run(), name="test:webhook")
        try:
            yield sink
        finally:
            task.cancel()
            async with asyncio.timeout(10):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sink.outbox.close()
            await receiver.stop()


async def eventually(condition, within_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within_s}s: {what}")
        await asyncio.sleep(0.01)


async def test_503s_are_retried_and_everything_arrives_in_order(tmp_path, caplog):
    def answer(n: int, body: bytes) -> tuple[int, dict[str, str]]:
        if n < 3:
            return 503, ({"Retry-After": "0"} if n == 1 else {})
        return 200, {}

    receiver = Receiver(answer)
    alerts = [make_alert(i) for i in range(10)]
    async with webhook(receiver, tmp_path) as sink:
        for alert in alerts:
            sink.publish_alert(alert)
        await eventually(lambda: len(receiver.accepted()) == 10, what="10 delivered")
        await eventually(lambda: len(sink.outbox) == 0, what="outbox drained")
    assert receiver.accepted() == [a.id for a in alerts]
    assert [h.status for h in receiver.hits[:4]] == [503, 503, 503, 200]
    assert {orjson.loads(h.body)["id"] for h in receiver.hits[:4]} == {"alert-000"}
    assert all(h.content_type == "application/json" for h in receiver.hits)
    assert orjson.loads(receiver.hits[-1].body) == orjson.loads(
        orjson.dumps(alert_document(alerts[-1]))
    )
    assert (sink.delivered, sink.retries, sink.rejected, sink.healthy) == (10, 3, 0, True)
    assert TOKEN not in caplog.text
    assert QUERY_SECRET not in caplog.text


async def test_a_400_drops_that_alert_once_and_the_rest_follow(tmp_path, caplog):
    def answer(n: int, body: bytes) -> tuple[int, dict[str, str]]:
        return (400 if orjson.loads(body)["id"] == "alert-002" else 200), {}

    receiver = Receiver(answer)
    with caplog.at_level(logging.INFO, logger="liqmon.webhook"):
        async with webhook(receiver, tmp_path) as sink:
            for i in range(5):
                sink.publish_alert(make_alert(i))
            await eventually(lambda: len(sink.outbox) == 0, what="outbox drained")
    assert receiver.accepted() == ["alert-000", "alert-001", "alert-003", "alert-004"]
    assert len(receiver.hits) == 5  # the refused one was tried once, not retried
    assert (sink.delivered, sink.rejected, sink.retries) == (4, 1, 0)
    refusals = [r for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(refusals) == 1
    assert "127.0.0.1" in refusals[0].getMessage()
    assert TOKEN not in caplog.text
    assert QUERY_SECRET not in caplog.text


async def test_a_redirect_is_not_followed_and_the_alert_waits_for_a_fixed_url(tmp_path):
    def answer(n: int, body: bytes) -> tuple[int, dict[str, str]]:
        return (308, {"Location": "https://127.0.0.1:1/elsewhere"}) if n < 3 else (200, {})

    receiver = Receiver(answer)
    async with webhook(receiver, tmp_path) as sink:
        sink.publish_alert(make_alert(0))
        sink.publish_alert(make_alert(1))
        await eventually(lambda: len(sink.outbox) == 0, what="outbox drained")
    assert [h.status for h in receiver.hits] == [308, 308, 308, 200, 200]
    assert receiver.accepted() == ["alert-000", "alert-001"]
    assert (sink.delivered, sink.rejected, sink.retries) == (2, 0, 3)


async def test_retry_after_is_honoured(tmp_path):
    def answer(n: int, body: bytes) -> tuple[int, dict[str, str]]:
        return (429, {"Retry-After": "1"}) if n == 0 else (200, {})

    receiver = Receiver(answer)
    async with webhook(receiver, tmp_path) as sink:
        sink.publish_alert(make_alert(0))
        await eventually(lambda: receiver.accepted() == ["alert-000"], what="delivered")
    first, second = receiver.hits
    assert second.at - first.at >= 0.9  # not the 0.02 s backoff


async def test_network_errors_are_retried_until_the_receiver_is_up(tmp_path, caplog):
    receiver = Receiver(lambda n, body: (200, {}))
    async with webhook(receiver, tmp_path, start_server=False) as sink:
        sink.publish_alert(make_alert(0))
        sink.publish_alert(make_alert(1))
        await eventually(lambda: sink.retries >= 3, what="failed attempts")
        assert not sink.healthy
        await receiver.start()
        await eventually(lambda: len(sink.outbox) == 0, what="outbox drained")
    assert receiver.accepted() == ["alert-000", "alert-001"]
    assert sink.healthy
    assert any("retry in" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    assert QUERY_SECRET not in caplog.text


async def test_the_url_must_be_http_and_is_never_echoed(tmp_path):
    async with aiohttp.ClientSession() as http:
        outbox = Outbox(tmp_path / "webhook.db", 10)
        for url in (
            f"ftp://host/{TOKEN}",
            f"/{TOKEN}",
            "",
            f"https://{'a' * 64}.example.com/{TOKEN}",  # a DNS label is at most 63 bytes
            f"https://hooks..example.com/{TOKEN}",  # an empty label
            f"https://hooks.example.com:70000/{TOKEN}",
            f"https://hooks.example.com:0/{TOKEN}",
            f"https://[::1/hook/{TOKEN}",  # an unbalanced IPv6 bracket
        ):
            with pytest.raises(ConfigError) as info:
                WebhookSink(WebhookSettings(url=url), outbox, http)
            assert TOKEN not in str(info.value)
        outbox.close()


async def test_retry_after_values():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s(" 0 ", now) == 0.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("999999", now) == RETRY_AFTER_CAP_S
    for bad in (None, "", "soon", "nan", "inf"):
        assert retry_after_s(bad, now) is None
