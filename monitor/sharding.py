"""Which shard (StatefulSet pod) follows which markets: pure, no I/O.

The shard key is the market's *asset* (`BTC` for the BTC perpetual of every venue), not the
(venue, symbol) pair: the daemon aggregates an asset across its venues (`venue = "all"`)
inside one process, so all venues of an asset must land on the same pod for that aggregate
and its alerts to stay whole. The asset comes from the symbol's spelling, the same key the
venues' instrument lists give (`asset_of`), so a pod can plan its share before it connects.

The hash is BLAKE2b of the asset (never Python's `hash()`, which is salted per process),
placed with jump consistent hashing (Lamping & Veach, 2014): growing from n to n + 1 shards
moves only about 1/(n + 1) of the assets, all to the new pod, and shrinking moves only the
last pod's assets. Other pods keep their warm ledgers; a StatefulSet scales down from the
highest ordinal, which is exactly the shard that jump hashing empties.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from monitor.feeds.hyperliquid import unified_asset

QUOTE_SUFFIXES = ("USDT", "USDC", "USD", "PERP")
"""Quote currencies at the end of a Binance or Bybit symbol (`BTCUSDT`, `ETHPERP`)."""

_ORDINAL = re.compile(r"-(\d+)$")
_MULTIPLIER = 2862933555777941757
_MASK = (1 << 64) - 1


def asset_of(venue: str, symbol: str) -> str:
    """The cross-venue asset key of a perpetual, from the venue's spelling of its symbol.

    Matches what each venue's instrument list says (Binance `baseAsset`, Bybit `baseCoin`,
    OKX the first dash part, Deribit `base_currency`, Hyperliquid `unified_asset`).
    """
    if venue == "hyperliquid":
        return unified_asset(symbol)
    if venue in ("okx", "deribit"):  # BTC-USDT-SWAP, BTC-PERPETUAL, SOL_USDC-PERPETUAL
        return re.split(r"[-_]", symbol, maxsplit=1)[0].upper()
    for quote in QUOTE_SUFFIXES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def _require_count(count: int) -> None:
    if count < 1:
        msg = f"shard count must be at least 1, got {count}"
        raise ValueError(msg)


def key_hash(asset: str) -> int:
    """A 64-bit hash of the shard key, identical in every process and Python version."""
    digest = hashlib.blake2b(asset.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def jump_hash(key: int, count: int) -> int:
    """Jump consistent hash of a 64-bit key into `count` buckets (Lamping & Veach)."""
    _require_count(count)
    bucket, candidate = -1, 0
    while candidate < count:
        bucket = candidate
        key = (key * _MULTIPLIER + 1) & _MASK
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(venue: str, symbol: str, count: int) -> int:
    """The shard index, in [0, count), that follows this market."""
    return jump_hash(key_hash(asset_of(venue, symbol)), count)


def ordinal(hostname: str) -> int:
    """The pod ordinal at the end of a StatefulSet pod name: `liqmon-3` -> 3."""
    match = _ORDINAL.search(hostname.strip())
    if match is None:
        msg = f"host name {hostname!r} does not end in -<ordinal> (a StatefulSet pod name)"
        raise ValueError(msg)
    return int(match.group(1))


def shard_markets(
    markets: Mapping[str, Sequence[str]], index: int, count: int
) -> dict[str, tuple[str, ...]]:
    """The venues' symbol lists cut down to shard `index` of `count` (empty venues omitted)."""
    mine = {
        venue: tuple(s for s in symbols if shard_of(venue, s, count) == index)
        for venue, symbols in markets.items()
    }
    return {venue: symbols for venue, symbols in mine.items() if symbols}


def shard_plan(
    markets: Mapping[str, Sequence[str]], count: int
) -> list[dict[str, list[tuple[str, str]]]]:
    """For each shard, its assets and their (venue, symbol) markets, sorted."""
    _require_count(count)
    plan: list[dict[str, list[tuple[str, str]]]] = [{} for _ in range(count)]
    for venue, symbols in sorted(markets.items()):
        for symbol in symbols:
            assets = plan[shard_of(venue, symbol, count)]
            assets.setdefault(asset_of(venue, symbol), []).append((venue, symbol))
    return [dict(sorted(assets.items())) for assets in plan]
