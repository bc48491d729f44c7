"""The MQTT sink: alerts at QoS 1 through the on-disk outbox, retained state and status.

Topics (`<prefix>` is `mqtt.topic_prefix`, "liqmon" by default):

- `<prefix>/alerts/<venue|all>/<symbol>`: one JSON alert document per message, QoS 1, not
  retained. Every alert goes through the outbox first and is removed from it only once the
  broker acknowledged it (PUBACK), so alerts survive broker outages and daemon restarts and
  arrive in order; after a reconnect one may arrive twice (consumers de-duplicate by `id`).
- `<prefix>/state/<venue|all>/<symbol>`: the latest risk summary, retained, QoS 1. Only the
  newest unsent summary per topic is kept (in memory), and sent once connected.
- `<prefix>/status`: `online` (retained) on connect, `offline` (retained) on a clean
  shutdown, and the same `offline` as the last will when the connection dies. A process
  that is one shard of several publishes `<prefix>/status/<instance>` (`shard-<index>`)
  instead, so each pod's liveness has its own retained topic (`<prefix>/status/#` matches
  both spellings).

Credentials come from `mqtt.username` / `mqtt.password`, or else from the URL
(`mqtt://user:pass@host:port`).

QoS 1 semantics, checked in aiomqtt 2.5 / paho-mqtt 2.2: `Client.publish(qos=1)` returns only
after paho's `on_publish`, which paho calls on the broker's PUBACK. It does not return or
raise when the connection drops meanwhile (it waits for its timeout), so a watcher task
iterates `client.messages`, which raises `MqttError` on a disconnect, and ends the session.

The password and the URL are never logged: logs name the broker as host:port only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

from monitor.backoff import DelayFactory, full_jitter
from monitor.config import ConfigError, MqttSettings, split_url, topic_prefix
from monitor.core.alerts import Alert
from monitor.sinks.outbox import Outbox
from monitor.sinks.payload import alert_document, encode

log = logging.getLogger("liqmon.mqtt")

BATCH = 100
"""Outbox items read per query while draining."""
PUBLISH_TIMEOUT_S = 10.0
"""A PUBACK that takes longer than this means the connection is dead."""
CLIENT_TIMEOUT_S = 3.0
"""aiomqtt's own timeout: waiting for CONNACK, and for the broker to close on disconnect."""
SHUTDOWN_PUBLISH_TIMEOUT_S = 2.0
"""Bound on the retained `offline` at shutdown (disconnecting adds at most CLIENT_TIMEOUT_S)."""
KEEPALIVE_S = 30
ONLINE = b"online"
OFFLINE = b"offline"
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


def topic_part(name: str) -> str:
    """A venue or symbol as one topic level: no separators or wildcards inside it."""
    return name.translate(_TOPIC_UNSAFE) or "_"


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of `mqtt://host[:port]` or `mqtts://host[:port]`."""
    split = split_url(url)
    if split is None or split[0] not in _DEFAULT_PORTS:
        # The URL may hold credentials: name the expected shape, not the value.
        msg = "mqtt.url must look like mqtt://host:port or mqtts://host:port"
        raise ConfigError(msg)
    scheme, host, port = split
    return host, port or _DEFAULT_PORTS[scheme], scheme == "mqtts"


class MqttSink:
    """Publishes alerts (outboxed, in order, QoS 1), retained state and status to a broker."""

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        *,
        instance: str = "",
        delays: DelayFactory = full_jitter,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.host, self.port, self.tls = parse_broker_url(settings.url)
        userinfo = urlsplit(settings.url)  # mqtt://user:pass@host is accepted too
        self._username = settings.username or unquote(userinfo.username or "")
        self._password = settings.password or unquote(userinfo.password or "")
        self.prefix = topic_prefix(settings.topic_prefix)
        own = f"/{topic_part(instance)}" if instance else ""  # one shard of several
        self.status_topic = f"{self.prefix}/status{own}"
        self.connected = False
        self.published: Counter[str] = Counter()  # "alert", "state"
        self.reconnects = 0
        self._delays = delays
        self._states: dict[str, bytes] = {}  # topic -> newest unsent summary
        self._wake = asyncio.Event()
        self._stopping = False

    @property
    def pending_states(self) -> int:
        """Retained summaries queued and not yet taken by the broker."""
        return len(self._states)

    @property
    def where(self) -> str:
        """The broker as host:port, safe to log."""
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ producers (sync)

    def alert_topic(self, venue: str, symbol: str) -> str:
        """`<prefix>/alerts/<venue>/<symbol>`."""
        return f"{self.prefix}/alerts/{topic_part(venue)}/{topic_part(symbol)}"

    def state_topic(self, venue: str, symbol: str) -> str:
        """`<prefix>/state/<venue>/<symbol>`."""
        return f"{self.prefix}/state/{topic_part(venue)}/{topic_part(symbol)}"

    def publish_alert(self, alert: Alert) -> None:
        """Store the alert in the outbox (committed on return) and wake the drain."""
        self.outbox.put(self.alert_topic(alert.venue, alert.symbol), encode(alert_document(alert)))
        self._wake.set()

    def publish_state(self, venue: str, symbol: str, document: Mapping[str, Any]) -> None:
        """Queue a retained risk summary; it replaces an older one not sent yet."""
        topic = self.state_topic(venue, symbol)
        self._states.pop(topic, None)  # re-insert: the newest goes to the back of the line
        self._states[topic] = encode(dict(document))
        self._wake.set()

    # ------------------------------------------------------------------ the connection

    async def run(self) -> None:
        """Connect, drain, wait for work, reconnect with backoff; until cancelled."""
        delays = self._delays()

        def reset() -> None:
            nonlocal delays
            delays = self._delays()

        while True:
            try:
                await self._session(reset)
                reason = "session ended"
            except* (aiomqtt.MqttError, OSError, ValueError) as group:  # ValueError: a host
                # the resolver refuses (UnicodeError); a sink must never end the daemon
                reason = self._describe(group.exceptions[0])
            if self._stopping:
                # Cancelled, and then disconnecting failed: that error must not eat the cancel.
                raise asyncio.CancelledError
            self.connected = False
            self.reconnects += 1
            delay = next(delays)
            log.warning(
                "mqtt %s: %s; %d alert(s) waiting, retry in %.1fs",
                self.where,
                reason,
                len(self.outbox),
                delay,
            )
            await asyncio.sleep(delay)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        tls = aiomqtt.TLSParameters(ca_certs=s.ca_file or None) if self.tls else None
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self._username or None,
            password=self._password or None,
            identifier=s.client_id or None,
            will=aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True),
            tls_params=tls,
            timeout=CLIENT_TIMEOUT_S,
            keepalive=KEEPALIVE_S,
        )

    async def _session(self, reset_backoff: Callable[[], None]) -> None:
        async with self._client() as client:
            try:
                self.connected = True
                await client.publish(
                    self.status_topic, ONLINE, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S
                )
                reset_backoff()
                log.info("mqtt connected to %s; %d alert(s) waiting", self.where, len(self.outbox))
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._drain(client), name="mqtt:drain")
                    # Watch in the body, not as a second child: in 3.11 a child failing
                    # while the parent waits in TaskGroup.__aexit__ leaves the parent's
                    # cancellation count raised.
                    await self._watch(client)
            except asyncio.CancelledError:
                self._stopping = True
                await self._say_offline(client)
                raise
            finally:
                self.connected = False

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """Best effort, bounded: the retained `offline` before a clean disconnect."""
        with contextlib.suppress(aiomqtt.MqttError, OSError, TimeoutError):
            await client.publish(
                self.status_topic,
                OFFLINE,
                qos=1,
                retain=True,
                timeout=SHUTDOWN_PUBLISH_TIMEOUT_S,
            )
            log.info("mqtt %s: offline", self.where)

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Raise MqttError as soon as the connection is lost (nothing is subscribed)."""
        async for _message in client.messages:
            pass

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Alerts in order, then retained states; then sleep until there is new work."""
        while True:
            self._wake.clear()
            items = self.outbox.peek(BATCH)
            for item in items:
                await client.publish(item.topic, item.payload, qos=1, timeout=PUBLISH_TIMEOUT_S)
                self.outbox.ack(item.seq)  # only now: the broker has it (PUBACK)
                self.published["alert"] += 1
            if items:
                continue
            for topic, payload in self._pending_states():
                if self._states.get(topic) is not payload:
                    continue  # replaced while earlier ones were sent: its newer one comes next
                await client.publish(topic, payload, qos=1, retain=True, timeout=PUBLISH_TIMEOUT_S)
                if self._states.get(topic) is payload:  # not replaced in the meantime
                    del self._states[topic]
                self.published["state"] += 1
                if self._wake.is_set() and len(self.outbox):
                    break  # a new alert goes before the remaining summaries
            else:
                await self._wake.wait()

    def _pending_states(self) -> Iterator[tuple[str, bytes]]:
        return iter(list(self._states.items()))

    def _describe(self, exc: BaseException) -> str:
        """The error for a log line, with any secret the settings hold blanked out."""
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        for secret in (self.settings.url, self._password):
            if secret:
                text = text.replace(secret, "***")
        return text
