"""Settings: a TOML file, then `LIQMON_*` environment overrides, validated strictly.

Unknown keys and wrong types fail at start-up with the key's path in the message; symbols
are checked against each venue's instrument list once it has been fetched
(`check_symbols`). Defaults live here, so no config at all means: BTC and ETH perpetuals
on all five venues.

Environment overrides address any key by its path, joined with double underscores:
`LIQMON_VENUES__OKX__ENABLED=false`, `LIQMON_VENUES__BINANCE__SYMBOLS=BTCUSDT,ETHUSDT`,
`LIQMON_FEEDS__QUEUE_SIZE=50000`. A key whose value is a string (a password, a URL, a
directory) takes the variable's text verbatim, so `LIQMON_MQTT__PASSWORD=83920417` is that
string. Other keys read it as a TOML literal when it parses as one (`false`, `10`,
`["A", "B"]`); a comma-separated string is accepted where a list is expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import socket
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from monitor.core.alerts import AlertThresholds
from monitor.errors import MonitorError
from monitor.sharding import ordinal, shard_markets

ENV_PREFIX = "LIQMON_"
MAX_PORT = 65_535

DEFAULT_SYMBOLS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "binance": ("BTCUSDT", "ETHUSDT"),
        "bybit": ("BTCUSDT", "ETHUSDT"),
        "okx": ("BTC-USDT-SWAP", "ETH-USDT-SWAP"),
        "deribit": ("BTC-PERPETUAL", "ETH-PERPETUAL"),
        "hyperliquid": ("BTC", "ETH"),
    }
)
"""The BTC and ETH perpetual of each venue, in the venue's own spelling."""


class ConfigError(MonitorError, ValueError):
    """The configuration cannot be used; the message names the offending key."""


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """One venue: whether to connect, which perpetuals, optional endpoint overrides."""

    enabled: bool = True
    symbols: tuple[str, ...] = ()
    ws_url: str | None = None
    rest_url: str | None = None


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Inbound edge: bounded queue size and the websocket ping cadence."""

    queue_size: int = 10_000
    ping_interval_s: float = 20.0


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """`liqmon record`: where to write, when to rotate."""

    path: str = "recordings/liqmon.jsonl.zst"
    rotate_mb: float = 256.0


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """The risk cycle: cadence, and the move that triggers an immediate re-check."""

    interval_s: float = 5.0
    recheck_move_pct: float = 0.5
    stale_after_s: float = 30.0


def topic_prefix(text: str) -> str:
    """An MQTT topic prefix without its outer slashes.

    Empty would publish at the root (or onto another prefix's topics after a fallback);
    `+`, `#` and NUL make every topic, the last will included, invalid, so the broker refuses
    the connection and the sink would retry forever.
    """
    prefix = text.strip("/")
    if not prefix or any(char in prefix for char in "+#\0"):
        msg = f"an MQTT topic prefix must be non-empty, without +, # or NUL: {text!r}"
        raise ConfigError(msg)
    return prefix


def split_url(url: str) -> tuple[str, str, int | None] | None:
    """(scheme in lower case, host, port or None) of a URL a client can connect to, else None.

    urlsplit accepts `a..b` or a 64-byte DNS label, on which the HTTP and MQTT clients raise
    UnicodeError at the first connection, long after start-up; it raises ValueError itself
    for an unbalanced IPv6 bracket or a port past 65535. Port 0 is no destination either.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
        if not host:
            return None
        host.encode("idna")  # every label 1-63 bytes
    except (ValueError, UnicodeError):
        return None
    if port == 0:
        return None
    return parts.scheme.lower(), host, port


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The MQTT sink; `url` is mqtt://host:port or mqtts://host:port (TLS)."""

    enabled: bool = True
    url: str = "mqtt://127.0.0.1:1883"
    username: str = ""
    password: str = field(default="", repr=False)
    topic_prefix: str = "liqmon"
    client_id: str = "liqmon"
    ca_file: str = ""
    outbox_max: int = 10_000


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """The optional webhook sink: alerts as JSON POSTs; an empty `url` disables it."""

    url: str = field(default="", repr=False)
    timeout_s: float = 5.0
    outbox_max: int = 10_000


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The HTTP API (/metrics, /healthz, /readyz, /api/v1/...)."""

    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where the ledger snapshots and the outboxes live, how often, how old may restore."""

    dir: str = "state"
    snapshot_interval_s: float = 60.0
    max_age_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ShardSettings:
    """The shard of the markets this process follows: `index` of `count` (`monitor.sharding`).

    In the file or `LIQMON_SHARD__INDEX`, `index = "auto"` takes the ordinal of a
    StatefulSet pod name (`liqmon-3` -> 3) from HOSTNAME.
    """

    index: int = 0
    count: int = 1


_SECTIONS: Mapping[str, type] = MappingProxyType(
    {
        "feeds": FeedSettings,
        "record": RecordSettings,
        "risk": RiskSettings,
        "alerts": AlertThresholds,  # model-spec §6 thresholds, defined by the core
        "mqtt": MqttSettings,
        "webhook": WebhookSettings,
        "http": HttpSettings,
        "state": StateSettings,
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything liqmon reads from configuration."""

    venues: Mapping[str, VenueSettings] = field(default_factory=dict)
    feeds: FeedSettings = field(default_factory=FeedSettings)
    record: RecordSettings = field(default_factory=RecordSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    alerts: AlertThresholds = field(default_factory=AlertThresholds)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    state: StateSettings = field(default_factory=StateSettings)
    shard: ShardSettings = field(default_factory=ShardSettings)

    def enabled_venues(self) -> dict[str, VenueSettings]:
        """Venues to connect to, in a stable order, each with only this shard's symbols."""
        enabled = {name: v for name, v in sorted(self.venues.items()) if v.enabled}
        if self.shard.count == 1:
            return enabled
        symbols = {name: v.symbols for name, v in enabled.items()}
        mine = shard_markets(symbols, self.shard.index, self.shard.count)
        return {name: dataclasses.replace(enabled[name], symbols=s) for name, s in mine.items()}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read `path` (if any), apply environment overrides, validate, fill defaults."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            msg = f"cannot read config {path}: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
        except tomllib.TOMLDecodeError as exc:
            msg = f"config {path} is not valid TOML: {exc}"
            raise ConfigError(msg) from exc
    environ = os.environ if environ is None else environ
    _apply_environment(raw, environ)
    shard = _shard(raw.pop("shard", {}), environ)
    return dataclasses.replace(_settings(raw), shard=shard)


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(keys):
            msg = f"environment variable {name}: empty key in path"
            raise ConfigError(msg)
        node = raw
        for key in keys[:-1]:
            child = node[key] = _plain(node.get(key, {}))  # a table given whole, then keys
            if not isinstance(child, dict):
                msg = f"environment variable {name}: {key} is not a table"
                raise ConfigError(msg)
            node = child
        node[keys[-1]] = _EnvText(value, _literal(value))


def _literal(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


class _EnvText(str):
    """An environment variable's text and its TOML reading.

    Which one counts depends on the key's type, known only when the section is read
    (`_typed`, `_plain`).
    """

    parsed: Any

    def __new__(cls, text: str, parsed: Any) -> _EnvText:
        self = super().__new__(cls, text)
        self.parsed = parsed
        return self


def _plain(value: Any) -> Any:
    """The TOML reading of an environment value; any other value unchanged."""
    return value.parsed if isinstance(value, _EnvText) else value


def _table(raw: Any, where: str, allowed: Sequence[str]) -> dict[str, Any]:
    raw = _plain(raw)  # LIQMON_MQTT='{url = "..."}' is a whole table
    if not isinstance(raw, dict):
        msg = f"{where} must be a table"
        raise ConfigError(msg)
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        hints = [difflib.get_close_matches(key, allowed, n=1) for key in unknown]
        detail = ", ".join(
            f"{key} (did you mean {hint[0]}?)" if hint else key
            for key, hint in zip(unknown, hints, strict=True)
        )
        msg = f"unknown key(s) in {where}: {detail}; allowed: {', '.join(allowed)}"
        raise ConfigError(msg)
    return raw


def _typed(raw: Mapping[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    value = raw.get(key, default)
    if isinstance(value, _EnvText):
        value = str(value) if kind is str else value.parsed
    if value is None and default is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        shown = type(value).__name__ if key in _SECRET_KEYS else repr(value)
        msg = f"{where}.{key} must be {kind.__name__}, got {shown}"
        raise ConfigError(msg)
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"{where}.{key} must be a finite number, got {value!r}"
        raise ConfigError(msg)
    return value


_SECRET_KEYS = frozenset({"password", "url"})
"""Keys whose value may hold a secret (a password, a token in a URL): never echoed."""


def _symbols(raw: Any, where: str) -> tuple[str, ...]:
    raw = _plain(raw)
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        msg = f"{where}.symbols must be a list of symbol strings"
        raise ConfigError(msg)
    if not raw:
        msg = f"{where}.symbols is empty: disable the venue with enabled = false instead"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(raw))


def _section(raw: Any, name: str, cls: type) -> Any:
    """Build one flat settings table; each key's type is that of its default."""
    keys = tuple(f.name for f in fields(cls))
    table = _table(raw, name, keys)
    defaults = cls()
    values = {
        key: _typed(table, key, name, type(getattr(defaults, key)), getattr(defaults, key))
        for key in keys
    }
    for key, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            msg = f"{name}.{key} must not be negative, got {value!r}"
            raise ConfigError(msg)
    return cls(**values)


def _shard(raw: Any, environ: Mapping[str, str]) -> ShardSettings:
    """The [shard] table; "auto" reads the pod ordinal from HOSTNAME."""
    table = _table(raw, "shard", ShardSettings.__slots__)
    count = _typed(table, "count", "shard", int, default=1)
    index = _plain(table.get("index", 0))
    if index == "auto":
        hostname = environ.get("HOSTNAME") or socket.gethostname()
        try:
            index = ordinal(hostname)
        except ValueError as exc:
            msg = f"shard.index = auto: {exc}; set shard.index (LIQMON_SHARD__INDEX) instead"
            raise ConfigError(msg) from exc
    if not isinstance(index, int) or isinstance(index, bool):
        msg = f'shard.index must be an int or "auto", got {index!r}'
        raise ConfigError(msg)
    if count < 1:
        msg = f"shard.count must be at least 1, got {count}"
        raise ConfigError(msg)
    if not 0 <= index < count:
        msg = f"shard.index must be in [0, shard.count = {count}), got {index}"
        raise ConfigError(msg)
    return ShardSettings(index=index, count=count)


def _settings(raw: dict[str, Any]) -> Settings:
    _table(raw, "config", ("venues", "shard", *_SECTIONS))
    venues_raw = _table(raw.get("venues", {}), "venues", tuple(DEFAULT_SYMBOLS))
    venues = {}
    for name, defaults in DEFAULT_SYMBOLS.items():
        where = f"venues.{name}"
        table = _table(venues_raw.get(name, {}), where, VenueSettings.__slots__)
        venues[name] = VenueSettings(
            enabled=_typed(table, "enabled", where, bool, default=True),
            symbols=_symbols(table["symbols"], where) if "symbols" in table else defaults,
            ws_url=_typed(table, "ws_url", where, str, default=None),
            rest_url=_typed(table, "rest_url", where, str, default=None),
        )
    sections = {name: _section(raw.get(name, {}), name, cls) for name, cls in _SECTIONS.items()}
    feeds, record, risk = sections["feeds"], sections["record"], sections["risk"]
    if feeds.queue_size < 1 or feeds.ping_interval_s <= 0 or record.rotate_mb <= 0:
        msg = "feeds.queue_size, feeds.ping_interval_s and record.rotate_mb must be positive"
        raise ConfigError(msg)
    if risk.interval_s <= 0 or min(sections["mqtt"].outbox_max, sections["webhook"].outbox_max) < 1:
        msg = "risk.interval_s, mqtt.outbox_max and webhook.outbox_max must be positive"
        raise ConfigError(msg)
    if sections["state"].snapshot_interval_s <= 0:
        msg = "state.snapshot_interval_s must be positive"
        raise ConfigError(msg)
    if not 0 <= sections["http"].port <= MAX_PORT:
        msg = (
            f"http.port must be in [0, {MAX_PORT}] (0: any free port), got {sections['http'].port}"
        )
        raise ConfigError(msg)
    try:
        topic_prefix(sections["mqtt"].topic_prefix)
    except ConfigError as exc:
        raise ConfigError(f"mqtt.topic_prefix: {exc}") from None
    if not any(v.enabled for v in venues.values()):
        msg = "every venue is disabled: nothing to do"
        raise ConfigError(msg)
    return Settings(venues=MappingProxyType(venues), **sections)


def check_symbols(venue: str, wanted: Sequence[str], listed: Sequence[str]) -> None:
    """Fail when a configured symbol is not among the venue's listed perpetuals."""
    known = set(listed)
    for symbol in wanted:
        if symbol not in known:
            hint = difflib.get_close_matches(symbol, sorted(known), n=3)
            suggestion = f"; did you mean {', '.join(hint)}?" if hint else ""
            msg = f"venues.{venue}.symbols: {symbol} is not a perpetual listed by {venue}"
            raise ConfigError(msg + suggestion)
