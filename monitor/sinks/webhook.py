"""The webhook sink: each alert as one JSON POST, in order, through its own on-disk outbox.

A 2xx answer delivers the alert. 408, 429, 5xx, timeouts and network errors are retried with
capped, jittered backoff (a `Retry-After` header, seconds or HTTP date, is honoured up to
`RETRY_AFTER_CAP_S`); the alert stays at the head of the line meanwhile, so order holds.
A 3xx is retried the same way and not followed: the URL needs fixing, and the alerts wait
for it. Any other answer (400, 401, 404, 413, ...) means the receiver will never take this
payload: it is logged once and dropped (counted in `rejected`, exported as
`liqmon_sink_refused_total`).

The URL often carries a token (Slack, Discord, Telegram bridges): logs name the host only.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from monitor.backoff import DelayFactory, full_jitter
from monitor.config import ConfigError, WebhookSettings, split_url
from monitor.core.alerts import Alert
from monitor.sinks.outbox import Outbox
from monitor.sinks.payload import alert_document, encode

log = logging.getLogger("liqmon.webhook")

BATCH = 100
RETRY_AFTER_CAP_S = 600.0
RETRYABLE_STATUS = frozenset({408, 425, 429})
JSON_HEADERS = {"Content-Type": "application/json"}


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


class _Retry(Exception):  # noqa: N818 - control flow, not an error
    """The receiver may take the alert later; `after_s` is its Retry-After, if any."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


class WebhookSink:
    """POSTs every alert to `settings.url` as application/json, in order."""

    def __init__(
        self,
        settings: WebhookSettings,
        outbox: Outbox,
        http: aiohttp.ClientSession,
        *,
        delays: DelayFactory = full_jitter,
    ) -> None:
        split = split_url(settings.url)
        if split is None or split[0] not in ("http", "https"):
            msg = "webhook.url must be an http:// or https:// URL"  # never echo the value
            raise ConfigError(msg)
        self.settings = settings
        self.outbox = outbox
        self.host = split[1]
        self.delivered = 0
        self.rejected = 0
        self.retries = 0
        self.healthy = True
        """False from a failed attempt until the next delivery."""
        self._http = http
        self._delays = delays
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s or None)
        self._wake = asyncio.Event()

    def publish_alert(self, alert: Alert) -> None:
        """Store the alert in the outbox (committed on return) and wake the sender."""
        self.outbox.put(f"webhook/{alert.venue}/{alert.symbol}", encode(alert_document(alert)))
        self._wake.set()

    async def run(self) -> None:
        """Deliver the outbox in order, retrying with backoff; until cancelled."""
        delays: Iterator[float] = self._delays()
        while True:
            self._wake.clear()
            items = self.outbox.peek(BATCH)
            if not items:
                await self._wake.wait()
                continue
            for item in items:
                try:
                    await self._post(item.topic, item.payload)
                except _Retry as retry:
                    self.healthy = False
                    self.retries += 1
                    backoff = next(delays)
                    delay = backoff if retry.after_s is None else max(retry.after_s, backoff)
                    log.warning(
                        "webhook %s: %s; %d alert(s) waiting, retry in %.1fs",
                        self.host,
                        retry.reason,
                        len(self.outbox),
                        delay,
                    )
                    await asyncio.sleep(delay)
                    break
                self.outbox.ack(item.seq)
                if not self.healthy:
                    self.healthy = True
                    delays = self._delays()

    async def _post(self, label: str, payload: bytes) -> None:
        """Deliver or drop (returns), or raise _Retry."""
        try:
            async with self._http.post(
                self.settings.url,
                data=payload,
                headers=JSON_HEADERS,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                await response.read()
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            # ValueError: a URL the client refuses only when it connects (UnicodeError of a
            # host); retried like a network error so that a sink never ends the daemon.
            raise _Retry(self._describe(exc)) from None
        if 200 <= status < 300:
            self.delivered += 1
            return
        if status in RETRYABLE_STATUS or status >= 500:
            raise _Retry(f"HTTP {status}", retry_after_s(retry_after))
        if 300 <= status < 400:
            # Redirects are not followed (a POST must not turn into a GET, nor the alert go
            # to a host the URL does not name): the alert waits until webhook.url is fixed.
            raise _Retry(f"HTTP {status} redirect, not followed: check webhook.url")
        self.rejected += 1
        log.error(
            "webhook %s refused an alert for %s with HTTP %d; dropped it (%d refused so far)",
            self.host,
            label.removeprefix("webhook/"),
            status,
            self.rejected,
        )

    def _describe(self, exc: BaseException) -> str:
        """The error for a log line, with the URL and its path (tokens) blanked out."""
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        url = self.settings.url
        parts = urlsplit(url)
        for secret in (url, parts.path, parts.query, parts.password or ""):
            if len(secret) > 1:
                text = text.replace(secret, "***")
        return text
