"""The MQTT sink against a real mosquitto on 127.0.0.1: order, QoS 1, retained state and
status, last will, an outage in the middle of an alert storm, and a restart of the sink."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
from broker import Collector, Mosquitto, Received, collect, mosquitto_binary

from monitor.config import ConfigError, MqttSettings
from monitor.core.alerts import Alert, Severity
from monitor.core.risk import Cluster
from monitor.sinks.mqtt import MqttSink, parse_broker_url
from monitor.sinks.outbox import Outbox
from monitor.sinks.payload import alert_document

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "s3cr3t-PASSWORD-never-logged"  # noqa: S105 - a fake, to search the logs for


def fast_delays():
    return itertools.repeat(0.05)


def make_alert(i: int, symbol: str = "BTCUSDT", venue: str = "binance") -> Alert:
    return Alert(
        id=f"{venue}-{symbol}-{i:04d}",
        ts_ns=1_790_000_000_000_000_000 + i * 1_000_000,
        venue=venue,
        symbol=symbol,
        side="down",
        severity=Severity.WARNING,
        critical_shock_pct=1.5,
        threshold_pct=2.0,
        price=50_000.0 + i,
        low_confidence=False,
        clusters=(Cluster(price=49_000.0, usd=2.5e6), Cluster(price=48_500.0, usd=1.0e6)),
        figures={"stressed_depth_usd": 3.0e6, "fuel_usd": None},
        message=f"{symbol} warning #{i}",
    )


def make_sink(
    broker: Mosquitto, outbox_path: Path, *, client_id: str = "liqmon-test", **settings
) -> MqttSink:
    mqtt = MqttSettings(url=broker.url, client_id=client_id, **settings)
    return MqttSink(mqtt, Outbox(outbox_path, mqtt.outbox_max), delays=fast_delays)


@contextlib.asynccontextmanager
async def running(sink: MqttSink):
    task = asyncio.create_task(sink.run(), name="test:mqtt-sink")
    try:
        yield task
    finally:
        await stop(task)


async def stop(task: asyncio.Task[None]) -> float:
    """Cancel the sink's task as the daemon does; return how long it took to end."""
    started = time.monotonic()
    task.cancel()
    async with asyncio.timeout(15):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return time.monotonic() - started


async def eventually(
    condition, within_s: float = 10.0, what: str = "", poll_s: float = 0.01
) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within_s}s: {what}")
        await asyncio.sleep(poll_s)


def alert_ids(messages: list[Received]) -> list[str]:
    return [orjson.loads(m.payload)["id"] for m in messages]


async def test_alerts_arrive_in_order_at_qos1_with_topic_and_json(mosquitto, tmp_path):
    sink = make_sink(mosquitto, tmp_path / "mqtt.db")
    alerts = [
        make_alert(i, symbol=("BTCUSDT", "ETHUSDT")[i % 2], venue=("binance", "all")[i % 3 == 0])
        for i in range(30)
    ]
    async with Collector(mosquitto, "liqmon/alerts/#") as sub, running(sink):
        for alert in alerts:
            sink.publish_alert(alert)
        got = await sub.wait_for(lambda m: len(m) >= len(alerts))
        await eventually(lambda: len(sink.outbox) == 0, what="outbox drained")
        assert sink.connected
    assert [m.topic for m in got] == [f"liqmon/alerts/{a.venue}/{a.symbol}" for a in alerts]
    assert all(m.qos == 1 and not m.retain for m in got)
    assert [orjson.loads(m.payload) for m in got] == [
        orjson.loads(orjson.dumps(alert_document(a))) for a in alerts
    ]
    first = orjson.loads(got[0].payload)
    assert first["time"].endswith("Z")
    assert first["clusters"][0] == {"price": 49_000.0, "usd": 2.5e6}
    assert sink.published["alert"] == len(alerts)
    assert sink.reconnects == 0


async def test_state_is_retained_latest_only_and_status_goes_online_then_offline(
    mosquitto, tmp_path
):
    sink = make_sink(mosquitto, tmp_path / "mqtt.db", topic_prefix="desk")
    sink.publish_state("binance", "BTCUSDT", {"price": 1.0, "version": 1})
    sink.publish_state("binance", "BTCUSDT", {"price": 2.0, "version": 2})  # replaces v1
    sink.publish_state("all", "BTC", {"price": 3.0})
    async with running(sink) as task:
        await eventually(lambda: sink.published["state"] == 2, what="two states sent")
        status = await collect(mosquitto, "desk/status", count=1)
        assert (status[0].payload, status[0].retain, status[0].qos) == (b"online", True, 1)
        states = await collect(mosquitto, "desk/state/#", count=2)
        by_topic = {m.topic: orjson.loads(m.payload) for m in states}
        assert by_topic == {
            "desk/state/binance/BTCUSDT": {"price": 2.0, "version": 2},
            "desk/state/all/BTC": {"price": 3.0},
        }
        assert all(m.retain for m in states)

        sink.publish_state("binance", "BTCUSDT", {"price": 4.0, "version": 3})
        await eventually(lambda: sink.published["state"] == 3, what="third state sent")
        newest = await collect(mosquitto, "desk/state/binance/BTCUSDT", count=1)
        assert orjson.loads(newest[0].payload)["version"] == 3

        took = await stop(task)
    assert took < 5.0
    assert not sink.connected
    status = await collect(mosquitto, "desk/status", count=1)
    assert (status[0].payload, status[0].retain) == (b"offline", True)


async def test_states_replaced_while_sending_are_sent_newest_and_counted_pending(
    mosquitto, tmp_path
):
    """`pending_states` reaches 0 only when the broker holds the newest state of every topic.

    A replay waits on it before it stops the sink; states replaced while older ones were on
    the wire are not sent stale (they used to be, and counted as if they were the new ones).
    """
    sink = make_sink(mosquitto, tmp_path / "mqtt.db", topic_prefix="desk")
    symbols = [f"S{i}USDT" for i in range(10)]
    async with running(sink):
        await eventually(lambda: sink.connected, what="connected")
        for symbol in symbols:
            sink.publish_state("binance", symbol, {"version": 1})
        assert sink.pending_states == len(symbols)
        # replace the rest while the first ones are on the wire: look at every loop turn
        await eventually(lambda: sink.published["state"] >= 1, what="first sent", poll_s=0)
        assert sink.published["state"] < len(symbols), "all sent before they could be replaced"
        for symbol in symbols:
            sink.publish_state("binance", symbol, {"version": 2})
        await eventually(lambda: sink.pending_states == 0, what="every state taken")
        retained = await collect(mosquitto, "desk/state/#", count=len(symbols))
    assert {m.topic: orjson.loads(m.payload)["version"] for m in retained} == {
        f"desk/state/binance/{symbol}": 2 for symbol in symbols
    }
    assert sink.published["state"] < 2 * len(symbols)  # the replaced ones were skipped


async def test_topic_prefixes_that_would_break_every_topic_are_refused(tmp_path):
    outbox = Outbox(tmp_path / "mqtt.db", 10)
    for prefix in ("", "/", "desk/#", "a+b", "nul\0"):
        with pytest.raises(ConfigError, match="topic prefix"):
            MqttSink(MqttSettings(topic_prefix=prefix), outbox)
    assert MqttSink(MqttSettings(topic_prefix="/desk/"), outbox).prefix == "desk"


@pytest.mark.parametrize(
    ("instance", "topic"),
    [("", "liqmon/status"), ("shard-2", "liqmon/status/shard-2")],
    ids=["single", "one-shard-of-several"],
)
async def test_last_will_says_offline_when_the_sink_process_is_killed(
    mosquitto, tmp_path, instance, topic
):
    # A shard publishes its liveness on a topic of its own, so pods never overwrite each other.
    script = textwrap.dedent(
        f"""
        import asyncio
        from monitor.config import MqttSettings
        from monitor.sinks.mqtt import MqttSink
        from monitor.sinks.outbox import Outbox

        async def main():
            settings = MqttSettings(url={mosquitto.url!r}, client_id="liqmon-doomed")
            outbox = Outbox({str(tmp_path / "doomed.db")!r}, 100)
            sink = MqttSink(settings, outbox, instance={instance!r})
            await sink.run()

        asyncio.run(main())
        """
    )
    async with Collector(mosquitto, topic) as sub:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO)
        try:
            await sub.wait_for(lambda m: any(x.payload == b"online" for x in m), within_s=20)
        finally:
            process.kill()  # SIGKILL: no DISCONNECT, the broker publishes the will
            await asyncio.wait_for(process.wait(), 10)
        assert process.returncode == -signal.SIGKILL
        got = await sub.wait_for(lambda m: m[-1].payload == b"offline", within_s=10)
    assert [m.payload for m in got] == [b"online", b"offline"]
    status = await collect(mosquitto, topic, count=1)
    assert (status[0].payload, status[0].retain) == (b"offline", True)


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed")
async def test_broker_outage_in_the_middle_of_an_alert_storm_loses_nothing(tmp_path):
    # A persistent broker and a persistent subscriber session, so what the broker accepted
    # for the subscriber before the outage is kept across it: the test then measures the
    # sink, not the subscriber's reconnect race.
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    try:
        sink = make_sink(broker, tmp_path / "mqtt.db")
        symbols = ("BTCUSDT", "ETHUSDT")
        total = 200
        alerts = [make_alert(i, symbol=symbols[i % 2]) for i in range(total)]

        async def storm() -> None:
            for alert in alerts:
                sink.publish_alert(alert)
                await asyncio.sleep(0.005)

        async with (
            Collector(broker, "liqmon/alerts/#", client_id="storm-watch", persistent=True) as sub,
            running(sink),
        ):
            producer = asyncio.create_task(storm(), name="test:storm")
            await sub.wait_for(lambda m: len(m) >= 50, within_s=20)
            broker.stop()
            delivered_before_outage = len(set(alert_ids(sub.messages)))
            await asyncio.sleep(0.5)  # the storm goes on; the sink fails to reconnect
            assert not sink.connected
            assert len(sink.outbox) > 0
            broker.start()
            await asyncio.wait_for(producer, 20)
            wanted = {a.id for a in alerts}
            await sub.wait_for(lambda m: set(alert_ids(m)) >= wanted, within_s=30)
            await eventually(lambda: len(sink.outbox) == 0, what="outbox drained")
    finally:
        broker.stop()

    assert delivered_before_outage < total  # the outage did fall in the middle
    assert sink.reconnects >= 1
    for symbol in symbols:
        indices = [
            int(orjson.loads(m.payload)["id"].rsplit("-", 1)[1])
            for m in sub.messages
            if m.topic == f"liqmon/alerts/binance/{symbol}"
        ]
        expected = [i for i in range(total) if symbols[i % 2] == symbol]
        assert list(dict.fromkeys(indices)) == expected  # each id, first arrivals in order
        assert indices == sorted(indices), "a duplicate may repeat, never go back in order"


async def test_alerts_put_while_the_broker_is_down_survive_a_restart_of_the_sink(
    mosquitto, tmp_path
):
    path = tmp_path / "state" / "mqtt.db"
    mosquitto.stop()
    first = make_sink(mosquitto, path)
    async with running(first):
        for i in range(5):
            first.publish_alert(make_alert(i))
        await eventually(lambda: first.reconnects >= 2, what="failed connects")
        assert not first.connected
    first.outbox.close()

    second = make_sink(mosquitto, path)  # the daemon starts again on the same state dir
    assert len(second.outbox) == 5
    mosquitto.start()
    async with Collector(mosquitto, "liqmon/alerts/#") as sub, running(second):
        got = await sub.wait_for(lambda m: len(m) >= 5)
        await eventually(lambda: len(second.outbox) == 0, what="outbox drained")
    assert alert_ids(got) == [make_alert(i).id for i in range(5)]
    assert first.published["alert"] == 0
    assert second.published["alert"] == 5


async def test_the_password_never_reaches_the_logs(mosquitto, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    sink = make_sink(
        mosquitto, tmp_path / "mqtt.db", username="liqmon", password=PASSWORD, client_id="pw"
    )
    mosquitto.stop()  # failures first: the reconnect path logs
    async with running(sink):
        sink.publish_alert(make_alert(1))
        await eventually(lambda: sink.reconnects >= 3, what="failed connects")
        mosquitto.start()
        await eventually(lambda: sink.published["alert"] == 1, what="alert sent")
    with_url = MqttSink(
        MqttSettings(url=f"mqtt://liqmon:{PASSWORD}@127.0.0.1:{mosquitto.port}"),
        sink.outbox,
        delays=fast_delays,
    )
    mosquitto.stop()
    async with running(with_url):
        await eventually(lambda: with_url.reconnects >= 2, what="failed connects")
    assert any("retry in" in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


async def test_bad_urls_are_refused_without_echoing_them():
    assert parse_broker_url("mqtt://broker.example:1884") == ("broker.example", 1884, False)
    assert parse_broker_url("mqtts://broker.example") == ("broker.example", 8883, True)
    assert parse_broker_url("mqtt://u:p@10.0.0.1") == ("10.0.0.1", 1883, False)
    assert parse_broker_url("mqtt://[::1]:1884") == ("::1", 1884, False)
    for url in (
        f"http://u:{PASSWORD}@host:1883",
        f"mqtt://u:{PASSWORD}@:1883",
        "broker:1883",
        f"mqtt://u:{PASSWORD}@{'b' * 64}.example:1883",  # a DNS label is at most 63 bytes
        f"mqtt://u:{PASSWORD}@broker..example:1883",
        f"mqtt://u:{PASSWORD}@[::1:1883",  # an unbalanced IPv6 bracket
        f"mqtt://u:{PASSWORD}@broker.example:0",
    ):
        with pytest.raises(ConfigError) as info:
            parse_broker_url(url)
        assert PASSWORD not in str(info.value)


async def test_venue_and_symbol_cannot_break_the_topic(tmp_path):
    sink = MqttSink(MqttSettings(), Outbox(tmp_path / "mqtt.db", 10))
    assert sink.alert_topic("all", "BTC/USD+#") == "liqmon/alerts/all/BTC_USD__"
    assert sink.state_topic("binance", "") == "liqmon/state/binance/_"


async def test_tls_with_a_password_delivers_and_a_wrong_password_is_retried_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mqtts:// with a CA file and username/password against a broker that demands both."""
    broker = Mosquitto(tmp_path / "secure", secure=True)
    broker.start()
    try:
        secure_url = f"mqtts://127.0.0.1:{broker.port}"
        caplog.set_level(logging.DEBUG)
        async with Collector(broker, "liqmon/alerts/#") as sub:
            wrong = MqttSink(
                MqttSettings(
                    url=secure_url,
                    username="liqmon",
                    password=PASSWORD,
                    ca_file=str(broker.ca_file),
                    client_id="liqmon-wrong",
                ),
                Outbox(tmp_path / "wrong.sqlite3", 100),
                delays=fast_delays,
            )
            wrong.publish_alert(make_alert(0))
            async with running(wrong):
                await asyncio.sleep(1.0)
                assert not wrong.connected
                assert len(wrong.outbox) == 1  # kept for when the credentials are fixed
            right = MqttSink(
                MqttSettings(
                    url=secure_url,
                    username="liqmon",
                    password=broker.password,
                    ca_file=str(broker.ca_file),
                    client_id="liqmon-right",
                ),
                Outbox(tmp_path / "right.sqlite3", 100),
                delays=fast_delays,
            )
            for i in range(3):
                right.publish_alert(make_alert(i))
            async with running(right):
                await sub.wait_for(lambda got: len(got) >= 3, within_s=10.0)
        ids = [orjson.loads(m.payload)["id"] for m in sub.messages]
        assert ids == [make_alert(i).id for i in range(3)]
        assert PASSWORD not in caplog.text
        assert broker.password not in caplog.text
    finally:
        broker.stop()
