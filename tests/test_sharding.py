"""Sharding: a stable, balanced rule; the config section; a daemon follows only its shard."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest
from fake_venues import hyperliquid
from real_data import REAL_DATA
from test_daemon import daemon_settings, running
from venue_server import FakeVenue

from monitor.cli import main
from monitor.config import DEFAULT_SYMBOLS, ConfigError, load_settings
from monitor.feeds.registry import make_adapter
from monitor.sharding import (
    asset_of,
    jump_hash,
    key_hash,
    ordinal,
    shard_markets,
    shard_of,
    shard_plan,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


# ---------------------------------------------------------------- the rule


def test_hash_and_assignments_are_pinned() -> None:
    """A change of hash or placement reshards every deployment: it must break this test."""
    assert key_hash("BTC") == 0x25ED95A96666DDA3
    assert key_hash("ETH") == 0xFCE04308E8D63E0D
    assert [shard_of("binance", "BTCUSDT", n) for n in (1, 2, 3, 4, 8)] == [0, 0, 0, 3, 7]
    assert [shard_of("okx", "ETH-USDT-SWAP", n) for n in (1, 2, 3, 4, 8)] == [0, 1, 1, 3, 7]
    assert [shard_of("bybit", "SOLUSDT", n) for n in (2, 3, 4, 8)] == [1, 2, 2, 2]
    assert [shard_of("hyperliquid", "DOGE", n) for n in (2, 3, 4, 8)] == [0, 2, 2, 6]


def test_hash_is_the_same_in_another_process() -> None:
    """Python's hash() is salted per process; ours must not be."""
    code = "from monitor.sharding import key_hash; print(key_hash('BTC'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert int(out.stdout) == key_hash("BTC")


@pytest.mark.parametrize(
    ("venue", "symbol", "asset"),
    [
        ("binance", "BTCUSDT", "BTC"),
        ("binance", "1000PEPEUSDT", "1000PEPE"),
        ("bybit", "ETHPERP", "ETH"),
        ("bybit", "BTCUSD", "BTC"),
        ("okx", "BTC-USDT-SWAP", "BTC"),
        ("okx", "ETH-USD-SWAP", "ETH"),
        ("deribit", "BTC-PERPETUAL", "BTC"),
        ("deribit", "SOL_USDC-PERPETUAL", "SOL"),
        ("hyperliquid", "BTC", "BTC"),
        ("hyperliquid", "kPEPE", "1000PEPE"),
    ],
)
def test_asset_of_spelling(venue: str, symbol: str, asset: str) -> None:
    assert asset_of(venue, symbol) == asset


@pytest.mark.parametrize(
    ("venue", "files"),
    [
        ("binance", ["exchange_info.json"]),
        ("bybit", ["instruments_linear.json", "instruments_inverse.json"]),
        ("okx", ["instruments.json"]),
        ("deribit", ["instruments.json"]),
        ("hyperliquid", ["meta.json"]),
    ],
)
def test_asset_of_agrees_with_the_venues_instrument_lists(venue: str, files: list[str]) -> None:
    """The shard key is the asset the engine aggregates by, so `all` stays on one pod."""
    adapter = make_adapter(venue, None, None)
    instruments = [
        i
        for name in files
        for i in adapter.parse_instruments(orjson.loads((FIXTURES / venue / name).read_bytes()))
    ]
    assert instruments
    for instrument in instruments:
        assert asset_of(venue, instrument.symbol) == instrument.asset, instrument.symbol


def test_balance_over_many_assets() -> None:
    assets = [f"COIN{i}" for i in range(20_000)]
    for count in (2, 3, 5, 8, 16):
        sizes = Counter(jump_hash(key_hash(a), count) for a in assets)
        assert set(sizes) == set(range(count))
        mean = len(assets) / count
        assert max(sizes.values()) < 1.06 * mean
        assert min(sizes.values()) > 0.94 * mean


def test_balance_over_real_binance_perpetuals() -> None:
    """The 119 Binance USDT perps of the real Coinalyze dataset (symbol names only)."""
    header = (REAL_DATA / "coinalyze_daily_binance_perps_2022-2023" / "open_interest.csv").open(
        encoding="utf-8"
    )
    with header:
        columns = header.readline().strip().split(",")
    symbols = sorted({c.split("_PERP")[0] for c in columns if c.endswith("_PERP.A_oi")})
    assert len(symbols) > 100
    sizes = Counter(shard_of("binance", s, 4) for s in symbols)
    assert len(sizes) == 4
    assert max(sizes.values()) <= 1.5 * len(symbols) / 4


def test_resharding_moves_only_what_it_must() -> None:
    """n -> n + 1 moves ~1/(n+1) of the assets, all to the new shard; the rest stay warm."""
    assets = [f"COIN{i}" for i in range(10_000)]
    for count in (1, 2, 3, 7):
        before = {a: jump_hash(key_hash(a), count) for a in assets}
        after = {a: jump_hash(key_hash(a), count + 1) for a in assets}
        moved = [a for a in assets if before[a] != after[a]]
        assert all(after[a] == count for a in moved)
        assert abs(len(moved) / len(assets) - 1 / (count + 1)) < 0.02


def test_every_market_on_exactly_one_shard_and_assets_whole() -> None:
    markets = {
        "binance": [f"C{i}USDT" for i in range(60)],
        "bybit": [f"C{i}USDT" for i in range(0, 60, 2)],
        "okx": [f"C{i}-USDT-SWAP" for i in range(0, 60, 3)],
        "deribit": ["BTC-PERPETUAL", "ETH-PERPETUAL"],
        "hyperliquid": [f"C{i}" for i in range(0, 60, 5)],
    }
    count = 5
    seen: Counter[tuple[str, str]] = Counter()
    for index in range(count):
        for venue, symbols in shard_markets(markets, index, count).items():
            seen.update((venue, s) for s in symbols)
    assert seen == Counter((v, s) for v, symbols in markets.items() for s in symbols)
    plan = shard_plan(markets, count)
    owners = Counter(asset for assets in plan for asset in assets)
    assert all(n == 1 for n in owners.values())  # no asset split over two shards
    assert sum(len(m) for assets in plan for m in assets.values()) == sum(seen.values())
    c0 = next(assets["C0"] for assets in plan if "C0" in assets)
    assert {venue for venue, _ in c0} == {"binance", "bybit", "okx", "hyperliquid"}


def test_bad_counts_and_host_names() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        jump_hash(1, 0)
    with pytest.raises(ValueError, match="at least 1"):
        shard_plan({}, 0)
    assert ordinal("liqmon-3") == 3
    assert ordinal("my-liqmon-12\n") == 12
    for name in ("liqmon", "liqmon-", "liqmon-3a", ""):
        with pytest.raises(ValueError, match="ordinal"):
            ordinal(name)


# ---------------------------------------------------------------- configuration


def test_default_is_one_shard_following_everything() -> None:
    settings = load_settings(None, environ={})
    assert (settings.shard.index, settings.shard.count) == (0, 1)
    assert {n: v.symbols for n, v in settings.enabled_venues().items()} == dict(DEFAULT_SYMBOLS)


def test_environment_and_auto_index() -> None:
    environ = {"LIQMON_SHARD__COUNT": "2", "LIQMON_SHARD__INDEX": "auto", "HOSTNAME": "liqmon-1"}
    settings = load_settings(None, environ=environ)
    assert (settings.shard.index, settings.shard.count) == (1, 2)
    assert {n: v.symbols for n, v in settings.enabled_venues().items()} == {
        "binance": ("ETHUSDT",),
        "bybit": ("ETHUSDT",),
        "deribit": ("ETH-PERPETUAL",),
        "hyperliquid": ("ETH",),
        "okx": ("ETH-USDT-SWAP",),
    }


def test_file_section(tmp_path: Path) -> None:
    path = tmp_path / "liqmon.toml"
    path.write_text('[shard]\nindex = "auto"\ncount = 3\n', encoding="utf-8")
    settings = load_settings(path, environ={"HOSTNAME": "liqmon-2"})
    assert (settings.shard.index, settings.shard.count) == (2, 3)
    assert settings.enabled_venues() == {}  # BTC and ETH both live on shards 0 and 1
    overridden = load_settings(path, environ={"LIQMON_SHARD__INDEX": "0"})
    assert overridden.shard.index == 0
    assert set(overridden.enabled_venues()["okx"].symbols) == {"BTC-USDT-SWAP"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LIQMON_SHARD__INDEX": "2", "LIQMON_SHARD__COUNT": "2"}, r"index must be in \[0"),
        ({"LIQMON_SHARD__INDEX": "-1", "LIQMON_SHARD__COUNT": "2"}, r"index must be in \[0"),
        ({"LIQMON_SHARD__COUNT": "0"}, "count must be at least 1"),
        ({"LIQMON_SHARD__COUNT": "two"}, "shard.count must be int"),
        ({"LIQMON_SHARD__INDEX": "first"}, 'shard.index must be an int or "auto"'),
        ({"LIQMON_SHARD__INDEX": "false"}, 'shard.index must be an int or "auto"'),
        ({"LIQMON_SHARD__COUNT": "true"}, "shard.count must be int"),
        ({"LIQMON_SHARD__INDEX": "auto", "HOSTNAME": "laptop"}, "does not end in -<ordinal>"),
        ({"LIQMON_SHARD__REPLICAS": "3"}, "unknown key.*replicas"),
        ({"LIQMON_SHARDS__COUNT": "3"}, "did you mean shard"),
    ],
)
def test_bad_shard_settings_fail_at_start_up(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ=environ)


# ---------------------------------------------------------------- command line


def test_shard_plan_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shard-plan", "--count", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "shard 0 (pod liqmon-0): 1 asset(s), 5 market(s)"
    assert out[1] == (
        "  BTC: binance BTCUSDT, bybit BTCUSDT, deribit BTC-PERPETUAL, hyperliquid BTC, "
        "okx BTC-USDT-SWAP"
    )
    assert out[2] == "shard 1 (pod liqmon-1): 1 asset(s), 5 market(s)"
    assert out[4] == "shard 2 (pod liqmon-2): 0 asset(s), 0 market(s)"
    assert main(["shard-plan", "--count", "0"]) == 2
    assert "shard count must be at least 1, got 0" in capsys.readouterr().err


def test_check_config_lists_only_this_shards_markets(tmp_path: Path) -> None:
    """`liqmon check-config` in a subprocess, as an operator would run it in a pod."""
    env = {"LIQMON_SHARD__COUNT": "2", "LIQMON_SHARD__INDEX": "auto", "HOSTNAME": "liqmon-0"}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "binance: BTCUSDT",
        "bybit: BTCUSDT",
        "deribit: BTC-PERPETUAL",
        "hyperliquid: BTC",
        "okx: BTC-USDT-SWAP",
    ]


# ---------------------------------------------------------------- the daemon


@pytest.mark.asyncio
async def test_daemon_follows_only_its_shard(tmp_path: Path) -> None:
    """Shard 1 of 2 subscribes to ETH only and reports only ETH markets (and ETH's `all`)."""
    async with FakeVenue(hyperliquid.Script(), tick_s=0.05) as venue:
        settings = daemon_settings(
            tmp_path,
            venue,
            None,
            LIQMON_VENUES__HYPERLIQUID__SYMBOLS="BTC,ETH",
            LIQMON_SHARD__COUNT="2",
            LIQMON_SHARD__INDEX="1",
        )
        async with running(settings) as run, aiohttp.ClientSession() as http:
            markets: list[tuple[str, str]] = []
            for _ in range(150):  # at most ~15 s
                async with http.get(f"{run.base_url}/api/v1/risk") as answer:
                    body = await answer.json()
                markets = [(m["venue"], m["symbol"]) for m in body["markets"]]
                if markets:
                    break
                await asyncio.sleep(0.1)
    assert markets == [("all", "ETH"), ("hyperliquid", "ETH")]
    sent = [frame for c in venue.connections for frame in c.received]
    assert any('"coin":"ETH"' in frame for frame in sent)
    assert not any('"coin":"BTC"' in frame for frame in sent)
