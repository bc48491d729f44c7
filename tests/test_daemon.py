"""The daemon end to end: a local Hyperliquid-protocol venue, a real mosquitto, real HTTP.

The venue plays a SIMULATED market (tests/fake_venues/cascade.py): open interest builds
up at 70,000, price falls into the planted long liquidations, then recovers. What the
tests observe from outside, as a user would: alerts on MQTT, retained state and status,
/metrics parsed with the Prometheus text parser, the HTTP API's answers and errors.
Deadlines are scaled down (risk cycle 0.1 s, stale after 1 s); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from broker import Collector, Mosquitto, collect, free_port
from fake_venues import cascade
from prometheus_client.parser import text_string_to_metric_families
from venue_server import FakeVenue, eventually

from monitor.config import Settings, load_settings
from monitor.core.events import FeedGap, FeedItem, MarkPrice, OpenInterest
from monitor.core.venues import ContractType
from monitor.daemon import Daemon
from monitor.feeds.base import Instrument, SizeUnit

pytestmark = pytest.mark.asyncio

OTHER_VENUES = ("binance", "bybit", "okx", "deribit")


def daemon_settings(
    tmp_path: Path, venue: FakeVenue, broker: Mosquitto | None, **extra: str
) -> Settings:
    environ = {
        **{f"LIQMON_VENUES__{name.upper()}__ENABLED": "false" for name in OTHER_VENUES},
        "LIQMON_VENUES__HYPERLIQUID__SYMBOLS": "BTC",
        "LIQMON_VENUES__HYPERLIQUID__WS_URL": venue.ws_url,
        "LIQMON_VENUES__HYPERLIQUID__REST_URL": venue.rest_url,
        "LIQMON_MQTT__ENABLED": "true" if broker else "false",
        "LIQMON_MQTT__URL": broker.url if broker else "mqtt://127.0.0.1:1",
        "LIQMON_MQTT__CLIENT_ID": f"liqmon-test-{tmp_path.name}",
        "LIQMON_HTTP__PORT": "0",
        "LIQMON_STATE__DIR": str(tmp_path / "state"),
        "LIQMON_RISK__INTERVAL_S": "0.1",
        "LIQMON_RISK__STALE_AFTER_S": "1.0",
        "LIQMON_ALERTS__RESOLVE_HOLD_S": "0.5",
        **extra,
    }
    return load_settings(None, environ=environ)


@dataclass
class Running:
    daemon: Daemon
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.http_port}"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    daemon = Daemon(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop), name="daemon-under-test")
    try:
        await asyncio.wait_for(daemon.started.wait(), 10.0)
        yield Running(daemon, stop, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10.0)  # the bound for a clean stop


def alerts_of(collector: Collector, venue: str, side: str) -> list[dict[str, object]]:
    documents = [orjson.loads(m.payload) for m in collector.on(f"liqmon/alerts/{venue}/")]
    return [d for d in documents if d["side"] == side]


def severities(collector: Collector, venue: str, side: str) -> list[str]:
    return [str(d["severity"]) for d in alerts_of(collector, venue, side)]


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    """A real HTTP endpoint on 127.0.0.1 that keeps every JSON body POSTed to it."""
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook/{token}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook/s3cret-token", received
    finally:
        await runner.cleanup()


async def test_fall_into_planted_cluster_warns_then_goes_critical_then_resolves(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with (
        FakeVenue(cascade.Script(ticks_per_point=4), tick_s=0.03) as venue,
        webhook_receiver() as (hook_url, hooked),
        Collector(mosquitto, "liqmon/#") as collector,
        running(daemon_settings(tmp_path, venue, mosquitto, LIQMON_WEBHOOK__URL=hook_url)),
    ):
        await collector.wait_for(
            lambda _: "resolved" in severities(collector, "hyperliquid", "down"), within_s=30.0
        )
        await collector.wait_for(
            lambda _: "resolved" in severities(collector, "all", "down"), within_s=5.0
        )
    down = severities(collector, "hyperliquid", "down")
    assert down.index("warning") < down.index("critical") < down.index("resolved")
    alert = next(
        d for d in alerts_of(collector, "hyperliquid", "down") if d["severity"] == "critical"
    )
    assert float(alert["critical_shock_pct"]) <= 1.0
    assert alert["threshold_pct"] == 1.0
    assert alert["symbol"] == "BTC"
    assert len(alert["clusters"]) == 3
    assert "critical_shock_pct_stressed_median" in alert["figures"]  # type: ignore[operator]
    assert "BTC on hyperliquid down" in str(alert["message"])
    ids = [orjson.loads(m.payload)["id"] for m in collector.on("liqmon/alerts/")]
    assert len(set(ids)) == len(ids)
    assert [d["id"] for d in hooked] == ids  # the webhook got the same alerts, in order
    status = [m.payload for m in collector.on("liqmon/status")]
    assert status[0] == b"online"
    assert status[-1] == b"offline"  # published on the clean stop
    # A subscriber arriving after the daemon stopped gets the retained summary and status.
    (state,) = await collect(mosquitto, "liqmon/state/hyperliquid/BTC", count=1)
    assert state.retain
    summary = orjson.loads(state.payload)
    assert summary["venue"] == "hyperliquid"
    assert summary["down"]["scenarios"]["displayed"]["critical_shock_pct"] is not None
    assert summary["down"]["scenarios"]["stressed_p90"]["withdrawal"] == 0.06
    (offline,) = await collect(mosquitto, "liqmon/status", count=1)
    assert offline.retain
    assert offline.payload == b"offline"


async def test_stalled_feed_raises_data_stale_and_suppresses_risk_alerts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    script = cascade.Script(ticks_per_point=2)
    async with (
        FakeVenue(script, tick_s=0.03) as venue,
        Collector(mosquitto, "liqmon/alerts/#") as collector,
        running(daemon_settings(tmp_path, venue, mosquitto)),
    ):
        await collector.wait_for(
            lambda _: "warning" in severities(collector, "hyperliquid", "down"), within_s=30.0
        )
        venue.silent = True  # subscriptions acknowledged, no data: a stall, not a calm market
        await collector.wait_for(
            lambda _: "data_stale" in severities(collector, "hyperliquid", "down"), within_s=10.0
        )
        seen = len(collector.messages)
        await asyncio.sleep(1.0)  # price would keep falling into the cluster: no risk alerts
        late = [orjson.loads(m.payload)["severity"] for m in collector.messages[seen:]]
        assert not {"warning", "critical"} & set(late)
        venue.silent = False
        await collector.wait_for(
            lambda _: "data_restored" in severities(collector, "hyperliquid", "down"),
            within_s=15.0,
        )


async def test_an_unreachable_venue_does_not_stop_the_others(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    async with (
        FakeVenue(cascade.Script(ticks_per_point=2), tick_s=0.03) as venue,
        running(
            daemon_settings(
                tmp_path,
                venue,
                None,
                LIQMON_VENUES__BYBIT__ENABLED="true",
                LIQMON_VENUES__BYBIT__WS_URL=f"ws://{dead}",
                LIQMON_VENUES__BYBIT__REST_URL=f"http://{dead}",
            )
        ) as run,
        aiohttp.ClientSession() as http,
    ):
        await eventually(
            lambda: (
                run.daemon.engine.snapshot.markets.get(("hyperliquid", "BTC")) is not None
                and run.daemon.engine.snapshot.markets[("hyperliquid", "BTC")].warm
            ),
            timeout_s=10.0,
            what="hyperliquid warm while bybit is unreachable",
        )
        async with http.get(run.base_url + "/readyz") as response:
            assert response.status == 503
            body = await response.json()
        assert "bybit: instruments not loaded yet" in body["problems"]


class Tape(asyncio.Queue[FeedItem]):
    """The daemon's feed queue, also keeping everything put on it in order."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.items: list[FeedItem] = []

    def put_nowait(self, item: FeedItem) -> None:
        self.items.append(item)
        super().put_nowait(item)


async def test_a_venue_restarted_after_a_crash_reports_a_gap(tmp_path: Path) -> None:
    """A bug that ends a venue's supervisor restarts the venue after a backoff; the outage
    is a gap like any disconnect, so an OI change across it is not booked as new positions."""
    frames = 0

    def faulty_sink(recv_ns: int, venue: str, conn: str, raw: str) -> None:
        nonlocal frames
        frames += 1
        if frames == 50:
            raise RuntimeError("a bug in the raw sink")

    async with FakeVenue(cascade.Script(ticks_per_point=2), tick_s=0.03) as venue:
        daemon = Daemon(daemon_settings(tmp_path, venue, None), raw_sink=faulty_sink)
        tape = daemon.queue = Tape(daemon.queue.maxsize)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop), name="daemon-under-test")
        try:
            await eventually(lambda: daemon.crashes["hyperliquid"] == 1, what="the crash")
            await eventually(lambda: any(isinstance(i, FeedGap) for i in tape.items), what="a gap")
            gap = next(n for n, i in enumerate(tape.items) if isinstance(i, FeedGap))
            assert (tape.items[gap].venue, tape.items[gap].symbol) == ("hyperliquid", "BTC")
            await eventually(
                lambda: any(isinstance(i, MarkPrice) for i in tape.items[gap:]),
                what="marks after the restart",
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 10.0)


async def test_metrics_and_http_api(tmp_path: Path) -> None:
    async with (
        FakeVenue(cascade.Script(ticks_per_point=2), tick_s=0.03) as venue,
        running(daemon_settings(tmp_path, venue, None)) as run,
        aiohttp.ClientSession() as http,
    ):

        async def ready() -> bool:
            async with http.get(run.base_url + "/readyz") as response:
                return response.status == 200

        readiness: list[bool] = []

        async def poll_ready() -> None:
            readiness.append(await ready())

        for _ in range(100):  # bounded: 100 × 0.1 s
            await poll_ready()
            if readiness[-1]:
                break
            await asyncio.sleep(0.1)
        assert readiness[-1], "daemon never became ready"

        async with http.get(run.base_url + "/healthz") as response:
            assert response.status == 200
        async with http.get(run.base_url + "/metrics") as response:
            assert response.status == 200
            text = await response.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name in (
            "liqmon_mark_price_usd",
            "liqmon_open_interest_base",
            "liqmon_fuel_usd",
            "liqmon_depth_usd",
            "liqmon_critical_shock_pct",
            "liqmon_final_move_pct",
            "liqmon_runaway",
            "liqmon_branching_ratio_max",
            "liqmon_ledger_coverage_ratio",
            "liqmon_alert_state",
            "liqmon_feed_age_seconds",
            "liqmon_feed_messages",
            "liqmon_feed_rejected",
            "liqmon_queue_depth",
            "liqmon_risk_cycle_duration_seconds",
            "liqmon_book_shallow",
            "process_resident_memory_bytes",
        ):
            assert name in families, name
        for family in families.values():
            for sample in family.samples:
                assert sample.value == sample.value  # no NaN
                assert abs(sample.value) != float("inf") or sample.name.endswith("_bucket")
        prices = {
            (s.labels["venue"], s.labels["symbol"]): s.value
            for s in families["liqmon_mark_price_usd"].samples
        }
        assert set(prices) == {("hyperliquid", "BTC"), ("all", "BTC")}
        scenarios = {s.labels["scenario"] for s in families["liqmon_depth_usd"].samples}
        assert scenarios == {"displayed", "stressed_median", "stressed_p90"}

        async with http.get(run.base_url + "/api/v1/risk") as response:
            assert response.status == 200
            risk = await response.json()
        keys = {(m["venue"], m["symbol"]) for m in risk["markets"]}
        assert keys == {("hyperliquid", "BTC"), ("all", "BTC")}

        async with http.get(
            run.base_url + "/api/v1/heatmap", params={"venue": "hyperliquid", "symbol": "BTC"}
        ) as response:
            assert response.status == 200
            heatmap = await response.json()
        assert heatmap["down"]
        assert heatmap["up"]
        below = heatmap["down"][0]
        assert below["price_low"] < below["price_high"] <= heatmap["price"] * 1.000001
        assert all(b["usd"] > 0 for b in heatmap["down"] + heatmap["up"])

        for params, status in (
            ({}, 400),
            ({"venue": "hyperliquid"}, 400),
            ({"venue": "kraken", "symbol": "BTC"}, 404),
            ({"venue": "hyperliquid", "symbol": "DOGE"}, 404),
        ):
            async with http.get(run.base_url + "/api/v1/heatmap", params=params) as response:
                assert response.status == status, params
                body = await response.json()
                assert body["status"] == status
                assert body["error"]
        # aiohttp's own answers (unknown path, wrong method) are JSON like ours.
        for method, path, status in (("GET", "/api/v1/riskk", 404), ("POST", "/api/v1/risk", 405)):
            async with http.request(method, run.base_url + path) as response:
                assert response.status == status, path
                assert response.content_type == "application/json"
                assert await response.json() == {"error": response.reason, "status": status}
                if status == 405:
                    assert response.headers["Allow"] == "GET,HEAD"


async def test_a_recheck_runs_between_the_steps_of_a_full_cycle(tmp_path: Path) -> None:
    """The daemon's risk task and engine task, without venues: events go on its queue.

    Eight coins, one asset per step (`cycle_step_s` 0), the default pause after each.
    Once the second full cycle has published its first step, C7 (computed last) moves by
    2 %: the order of the snapshots the daemon publishes shows the re-check of C7 before
    the cycle reaches it. The watcher yields after each look, and the risk task pauses
    after each step or re-check, so it sees every snapshot; its loop is bounded in count
    and time.
    """
    settings = load_settings(
        None,
        environ={
            "LIQMON_MQTT__ENABLED": "false",
            "LIQMON_STATE__DIR": str(tmp_path / "state"),
            "LIQMON_RISK__INTERVAL_S": "0.3",
        },
    )
    daemon = Daemon(settings)
    daemon.cycle_step_s = 0.0
    coins = [f"C{i}" for i in range(8)]
    daemon.engine.register(
        Instrument(
            venue="hyperliquid",
            symbol=coin,
            asset=coin,
            contract_type=ContractType.LINEAR,
            size_unit=SizeUnit.BASE,
        )
        for coin in coins
    )
    marks = {coin: 1_000.0 + 10.0 * index for index, coin in enumerate(coins)}
    now = daemon.clock.time_ns()
    for coin, mark in marks.items():
        header = {"venue": "hyperliquid", "symbol": coin, "ts_event_ns": now, "ts_recv_ns": now}
        daemon.queue.put_nowait(MarkPrice(**header, mark_price=mark))
        daemon.queue.put_nowait(OpenInterest(**header, open_interest=1_000.0))

    seen: list[tuple[frozenset[str], int]] = []  # (symbols recomputed, cycles) per snapshot
    moved = False

    async def watch() -> None:
        nonlocal moved
        last = daemon.engine.snapshot
        for _ in range(2_000_000):
            await asyncio.sleep(0)
            current = daemon.engine.snapshot
            if current is last:
                continue
            changed = {k for k, m in current.markets.items() if last.markets.get(k) is not m}
            venues = frozenset(symbol for venue, symbol in changed if venue == "hyperliquid")
            seen.append((venues, current.cycles))
            last = current
            if not moved and current.cycles == 1 and venues == {"C0"}:  # 2nd cycle, 1st step
                t = daemon.clock.time_ns()
                header = {"venue": "hyperliquid", "symbol": "C7", "ts_event_ns": t, "ts_recv_ns": t}
                daemon.queue.put_nowait(MarkPrice(**header, mark_price=marks["C7"] * 1.02))
                moved = True
            if current.cycles == 3:
                return

    tasks = [
        asyncio.create_task(daemon._consume(), name="engine"),
        asyncio.create_task(daemon._risk_loop(), name="risk"),
    ]
    try:
        await asyncio.wait_for(watch(), 20.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5.0)
    second = seen[seen.index((frozenset({"C0"}), 1)) :]
    steps = [(frozenset({coin}), 1) for coin in coins[:-1]]
    recheck = (frozenset({"C7"}), 2)
    assert recheck in second
    at = second.index(recheck)
    assert 1 <= at < len(coins) - 1, second  # after the move was seen, before C7's step
    assert second == [
        *steps[:at],
        recheck,
        *[(s, 2) for s, _ in steps[at:]],
        (frozenset({"C7"}), 3),
    ]
    assert [s for s, c in seen[: seen.index((frozenset({"C0"}), 1))]] == [
        frozenset({coin}) for coin in coins
    ]  # the first cycle: one asset per step, counted once at its end
