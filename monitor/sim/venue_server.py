"""A SIMULATED venue: a websockets server and an aiohttp REST server on 127.0.0.1.

It speaks one venue's protocol from a `Script` (see monitor/sim/cascade.py, and the test
suite's scripts under tests/fake_venues/): answers subscriptions and pings exactly as the
venue does, then pushes scripted frames on a tick. Its behaviour can be flipped at run
time to produce what real venues do to a client: acknowledge a subscription and then go
silent, close the connection, flood frames. The server only ever binds 127.0.0.1.
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

HOST = "127.0.0.1"


class Script(Protocol):
    """What a simulated venue says: greeting, replies to client frames, data per tick.

    A script may also define `wants(frame, received) -> bool` to route each data frame to
    the connection that subscribed to its stream (Binance splits streams over two
    connections); without it every connection gets every frame.
    """

    @property
    def venue(self) -> str:
        """The venue whose protocol the script speaks."""
        ...

    @property
    def greeting(self) -> tuple[str, ...]:
        """Frames sent right after the handshake."""
        ...

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols whose data frames are pushed on every tick."""
        ...

    @property
    def rest(self) -> dict[str, Any]:
        """REST answers as JSON, by path with query string (or by path alone)."""
        ...

    def replies(self, frame: str) -> list[str]:
        """Answers to one frame from the client (acks, pongs); [] for none."""
        ...

    def data(self, symbol: str, step: int) -> list[str]:
        """Data frames of `symbol` for data tick `step` of a connection."""
        ...


@dataclass
class Connection:
    """One accepted WebSocket connection: its path, what it sent us, how much we sent."""

    path: str
    received: list[str] = field(default_factory=list)
    sent: int = 0


class FakeVenue:
    """Serve `script` on ephemeral 127.0.0.1 ports until the context exits.

    `tick_s` paces data frames; data starts once a connection's first frame got a reply.
    """

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
        """The WebSocket endpoint."""
        return f"ws://{HOST}:{self.port}"

    @property
    def rest_url(self) -> str:
        """The REST endpoint."""
        return f"http://{HOST}:{self.rest_port}"

    async def __aenter__(self) -> FakeVenue:
        self._server = await serve(self._handle, HOST, 0, ping_interval=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # the bound port lives here
        self.rest_port = sockets[0].getsockname()[1]
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
                        if wants is None or wants(frame, connection.received):
                            await ws.send(frame)
                            connection.sent += 1
                step += 1
