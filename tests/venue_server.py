"""The local venue server for tests: the package's SIMULATED venue, plus a bounded wait.

The server itself (a real websockets + aiohttp server on 127.0.0.1 playing a `Script`)
lives in monitor/sim/venue_server.py, so that `liqmon demo` can start it too; the venue
scripts the tests play are in tests/fake_venues/ (and monitor/sim/cascade.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.sim.venue_server import Connection, FakeVenue, Script

__all__ = ["Connection", "FakeVenue", "Script", "eventually"]


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
