"""The one place that performs venue REST requests (aiohttp)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from monitor.feeds.base import FeedError, RestRequest

DEFAULT_TIMEOUT_S = 10.0


class RestError(FeedError):
    """A REST call failed; `status` is the HTTP status (0 for transport errors)."""

    def __init__(
        self, venue: str, message: str, status: int = 0, retry_after_s: float = 0.0
    ) -> None:
        super().__init__(venue, message)
        self.status = status
        self.retry_after_s = retry_after_s


async def fetch_json(
    session: aiohttp.ClientSession,
    venue: str,
    request: RestRequest,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Perform `request` and decode its JSON body; every failure is a `RestError`."""
    try:
        async with session.request(
            request.method,
            request.url,
            params=dict(request.params) or None,
            json=dict(request.json_body) if request.json_body is not None else None,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            body = await response.read()
            if response.status != 200:
                retry_after = response.headers.get("Retry-After", "")
                raise RestError(
                    venue,
                    f"{request.method} {request.url} -> HTTP {response.status}",
                    status=response.status,
                    retry_after_s=float(retry_after) if retry_after.isdigit() else 0.0,
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        msg = f"{request.method} {request.url} failed: {exc!r}"
        raise RestError(venue, msg) from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"{request.url} returned invalid JSON"
        raise RestError(venue, msg, status=200) from exc
