"""A real local venue: a websockets server and an aiohttp REST server on 127.0.0.1.

It speaks one venue's protocol from a `Script` (tests/fake_venues/<venue>.py): answers
subscriptions and pings exactly as the venue does, then pushes recorded frames on a tick.
Tests flip its behaviour at run time to produce what real venues do to us: acknowledge a
subscription and then go silent, close the connection, flood frames. Every loop is bounded
by the test's own timeouts; the server only ever binds 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class Script(Protocol):
    @property
    def venue(self) -> str: ...

    @property
    def greeting(self) -> tuple[str, ...]: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    @property
    def rest(self) -> dict[str, Any]: ...

    def replies(self, frame: str) -> list[str]: ...

    def data(self, symbol: str, step: int) -> list[str]: ...


@dataclass
class Connection:
    path: str
    received: list[str] = field(default_factory=list)
    sent: int = 0


class FakeVenue:
    """Serve `script` until stopped; `tick_s` paces data frames."""

    def __init__(self, script: Script, *, tick_s: float = 0.02) -> None:
        self.script = script
        self.tick_s = tick_s
        self.silent = False  # keep answering acks and pings, push no data
        self.refuse = False  # close new connections right after the handshake
        self.connections: list[Connection] = []
        self.rest_hits: list[str] = []
        self._live: set[ServerConnection] = set()
        self._server: Server | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.rest_port = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    async def __aenter__(self) -> FakeVenue:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.rest_port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    async def close_all(self, code: int = 1001, path_contains: str = "") -> None:
        """Server-initiated close of every live connection (whose path contains a text)."""
        for ws in list(self._live):
            if ws.request is not None and path_contains not in ws.request.path:
                continue
            with contextlib.suppress(ConnectionClosed):
                await ws.close(code, "going away")

    async def flood(self, frames: list[str]) -> None:
        """Push many frames at once to every live connection."""
        for ws in list(self._live):
            with contextlib.suppress(ConnectionClosed):
                for frame in frames:
                    await ws.send(frame)

    async def _rest(self, request: web.Request) -> web.Response:
        self.rest_hits.append(request.path_qs)
        payload = self.script.rest.get(request.path_qs, self.script.rest.get(request.path))
        if payload is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def _handle(self, ws: ServerConnection) -> None:
        connection = Connection(path=ws.request.path if ws.request else "")
        self.connections.append(connection)
        if self.refuse:
            await ws.close(1013, "try again later")
            return
        self._live.add(ws)
        subscribed = asyncio.Event()
        pusher = asyncio.create_task(self._push(ws, connection, subscribed))
        try:
            for frame in self.script.greeting:
                await ws.send(frame)
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                connection.received.append(text)
                replies = self.script.replies(text)
                for reply in replies:
                    await ws.send(reply)
                if replies:
                    subscribed.set()
        except ConnectionClosed:
            pass
        finally:
            self._live.discard(ws)
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher

    async def _push(
        self, ws: ServerConnection, connection: Connection, ready: asyncio.Event
    ) -> None:
        await ready.wait()
        step = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self.tick_s)
                if self.silent:
                    continue
                wants = getattr(self.script, "wants", None)
                for symbol in self.script.symbols:
                    for frame in self.script.data(symbol, step):
                        # A script may route each frame to the connection that subscribed to
                        # its stream (Binance splits streams over two connections).
                        if wants is None or wants(frame, connection.received):
                            await ws.send(frame)
                            connection.sent += 1
                step += 1


async def eventually(
    condition: Any, timeout_s: float = 5.0, interval_s: float = 0.01, what: str = ""
) -> None:
    """Wait until `condition()` is true; fail the test after `timeout_s` (bounded loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            msg = f"timed out after {timeout_s}s waiting for {what or condition}"
            raise AssertionError(msg)
        await asyncio.sleep(interval_s)
