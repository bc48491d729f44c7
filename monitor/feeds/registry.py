"""The venues liqmon speaks: an explicit table, no import magic."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from monitor.feeds.base import VenueAdapter
from monitor.feeds.binance import BinanceAdapter
from monitor.feeds.bybit import BybitAdapter
from monitor.feeds.deribit import DeribitAdapter
from monitor.feeds.hyperliquid import HyperliquidAdapter
from monitor.feeds.okx import OkxAdapter

AdapterFactory = Callable[..., VenueAdapter]

VENUES: Mapping[str, AdapterFactory] = MappingProxyType(
    {
        "binance": BinanceAdapter,
        "bybit": BybitAdapter,
        "okx": OkxAdapter,
        "deribit": DeribitAdapter,
        "hyperliquid": HyperliquidAdapter,
    }
)


def make_adapter(
    venue: str, ws_url: str | None = None, rest_url: str | None = None
) -> VenueAdapter:
    """An adapter for `venue`, pointed at other endpoints when given (tests, proxies)."""
    overrides = {key: value for key, value in (("ws_url", ws_url), ("rest_url", rest_url)) if value}
    return VENUES[venue](**overrides)
