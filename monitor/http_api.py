"""The HTTP API on one port: /metrics, /healthz, /readyz, /api/v1/risk, /api/v1/heatmap.

Handlers read the engine's latest immutable `RiskSnapshot` only; they never touch a ledger.
Errors are JSON objects with an `error` message and the matching status code (400 for a
bad or missing parameter, 404 for a market liqmon does not follow or an unknown path, 405
for a method other than GET).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor.engine import AGGREGATE, SIDES, RiskSnapshot
from monitor.sinks.payload import heatmap_document, iso_time, market_document

SnapshotSource = Callable[[], RiskSnapshot]
HTTP_CLIENT_ERROR = 400


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message, "status": status}, status)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer the 404/405 of aiohttp itself (unknown path, wrong method) in JSON like ours."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < HTTP_CLIENT_ERROR:
            raise
        response = _error(exc.status, exc.reason)
        response.headers.update(
            (name, value) for name, value in exc.headers.items() if name == "Allow"
        )
        return response


def readiness(snapshot: RiskSnapshot, waiting: Iterable[str] = ()) -> tuple[bool, list[str]]:
    """Ready when every venue is loaded, a risk cycle ran, every market is warm and fresh."""
    problems = [f"{venue}: instruments not loaded yet" for venue in sorted(waiting)]
    if snapshot.cycles == 0:
        return False, [*problems, "no risk cycle yet"]
    for (venue, symbol), market in sorted(snapshot.markets.items()):
        if venue == AGGREGATE:
            continue
        if market.stale:
            problems.append(f"{venue}/{symbol}: stale")
        elif not market.warm:
            problems.append(f"{venue}/{symbol}: ledger not warm yet")
    return not problems, problems


def build_app(
    snapshot: SnapshotSource,
    registry: CollectorRegistry,
    *,
    low_coverage: float,
    waiting: Callable[[], Iterable[str]] = tuple,
) -> web.Application:
    """The aiohttp application; the daemon runs it with an AppRunner."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready, problems = readiness(snapshot(), waiting())
        return _json({"ready": ready, "problems": problems}, 200 if ready else 503)

    async def risk(_: web.Request) -> web.Response:
        current = snapshot()
        markets = [
            market_document(
                market,
                current.ts_ns,
                {s: current.alert_levels.get((venue, symbol, s), "none") for s in SIDES},
                low_coverage,
            )
            for (venue, symbol), market in sorted(current.markets.items())
        ]
        time = iso_time(current.ts_ns) if current.ts_ns else None
        return _json({"time": time, "ts_ns": current.ts_ns, "markets": markets})

    async def heatmap(request: web.Request) -> web.Response:
        venue = request.query.get("venue", "").strip()
        symbol = request.query.get("symbol", "").strip()
        if not venue or not symbol:
            return _error(400, "query parameters venue and symbol are required")
        current = snapshot()
        market = current.markets.get((venue, symbol))
        if market is None:
            known = ", ".join(f"{v}/{s}" for v, s in sorted(current.markets))
            return _error(404, f"no market {venue}/{symbol}; known: {known or 'none yet'}")
        return _json(heatmap_document(market, current.ts_ns, current.grid))

    app = web.Application(middlewares=[_json_errors])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/risk", risk)
    app.router.add_get("/api/v1/heatmap", heatmap)
    return app
