"""Settings: TOML, environment overrides, strict validation, symbol checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import ConfigError, check_symbols, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "liqmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_means_btc_and_eth_on_all_five_venues():
    settings = load_settings(None, environ={})
    venues = settings.enabled_venues()
    assert list(venues) == ["binance", "bybit", "deribit", "hyperliquid", "okx"]
    assert venues["okx"].symbols == ("BTC-USDT-SWAP", "ETH-USDT-SWAP")
    assert venues["hyperliquid"].symbols == ("BTC", "ETH")


def test_toml_then_environment_overrides(tmp_path):
    path = write(
        tmp_path,
        """
        [venues.binance]
        symbols = ["BTCUSDT"]
        ws_url = "ws://127.0.0.1:9"
        [venues.deribit]
        enabled = false
        [feeds]
        queue_size = 500
        """,
    )
    environ = {
        "LIQMON_VENUES__OKX__ENABLED": "false",
        "LIQMON_VENUES__BYBIT__SYMBOLS": "BTCUSDT, SOLUSDT",
        "LIQMON_FEEDS__PING_INTERVAL_S": "5",
        "UNRELATED": "x",
    }
    settings = load_settings(path, environ=environ)
    assert set(settings.enabled_venues()) == {"binance", "bybit", "hyperliquid"}
    assert settings.venues["binance"].symbols == ("BTCUSDT",)
    assert settings.venues["binance"].ws_url == "ws://127.0.0.1:9"
    assert settings.venues["bybit"].symbols == ("BTCUSDT", "SOLUSDT")
    assert settings.feeds.queue_size == 500
    assert settings.feeds.ping_interval_s == 5.0


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[venues.kraken]\nenabled = true", {}, "unknown key(s) in venues: kraken"),
        ("[venues.okx]\nsymbol = ['BTC-USDT-SWAP']", {}, "did you mean symbols?"),
        ("[venues.okx]\nenabled = 'yes'", {}, "venues.okx.enabled must be bool"),
        ("[venues.okx]\nsymbols = []", {}, "symbols is empty"),
        ("[venues.okx]\nsymbols = [1, 2]", {}, "list of symbol strings"),
        ("[feeds]\nqueue_size = 0", {}, "must be positive"),
        ("[feeds]\nqueue_size = 1.5", {}, "feeds.queue_size must be int"),
        ("[nonsense]\nx = 1", {}, "unknown key(s) in config: nonsense"),
        ("", {"LIQMON_VENUES__BITMEX__ENABLED": "true"}, "unknown key(s) in venues: bitmex"),
        ("this is = not toml [", {}, "not valid TOML"),
        ("[risk]\ninterval_s = nan", {}, "risk.interval_s must be a finite number"),
        ("", {"LIQMON_ALERTS__WARNING_PCT": "inf"}, "alerts.warning_pct must be a finite"),
        ("", {"LIQMON_STATE__SNAPSHOT_INTERVAL_S": "0"}, "snapshot_interval_s must be positive"),
        ("[http]\nport = 99999", {}, "http.port must be in [0, 65535]"),
        ("", {"LIQMON_HTTP__PORT": "-1"}, "http.port must not be negative"),
        (
            "\n".join(
                f"[venues.{v}]\nenabled = false"
                for v in ("binance", "bybit", "okx", "deribit", "hyperliquid")
            ),
            {},
            "every venue is disabled",
        ),
    ],
)
def test_bad_configuration_names_the_key(tmp_path, text, environ, message):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text), environ=environ)
    assert message in str(error.value)


def test_string_keys_take_the_environment_text_verbatim():
    # A Secret holding digits, `true` or quotes is still that exact string, and so are a
    # directory or a client id that look like a number or a date.
    for password in ("83920417", "true", "1e9", "'s3cr3t'", '["a"]', "{}", "{a=1}"):
        settings = load_settings(None, environ={"LIQMON_MQTT__PASSWORD": password})
        assert settings.mqtt.password == password
    settings = load_settings(
        None,
        environ={
            "LIQMON_MQTT__USERNAME": "1001",
            "LIQMON_MQTT__CLIENT_ID": "2024-01-01",
            "LIQMON_STATE__DIR": "2025",
            "LIQMON_SHARD__INDEX": "1",
            "LIQMON_SHARD__COUNT": "2",
            "LIQMON_VENUES__OKX__SYMBOLS": '["BTC-USDT-SWAP"]',
        },
    )
    assert (settings.mqtt.username, settings.mqtt.client_id) == ("1001", "2024-01-01")
    assert settings.state.dir == "2025"
    assert (settings.shard.index, settings.shard.count) == (1, 2)
    assert settings.venues["okx"].symbols == ("BTC-USDT-SWAP",)


def test_a_whole_table_in_one_variable_and_keys_under_it():
    environ = {
        "LIQMON_MQTT": '{url = "mqtt://broker.example:1884", client_id = "a"}',
        "LIQMON_MQTT__PASSWORD": "{}",
    }
    settings = load_settings(None, environ=environ)
    assert settings.mqtt.url == "mqtt://broker.example:1884"
    assert (settings.mqtt.client_id, settings.mqtt.password) == ("a", "{}")


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, "[mqtt]\npassword = 83920417"), environ={})
    assert str(error.value) == "mqtt.password must be str, got int"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_unknown_symbol_suggests_close_listed_names():
    with pytest.raises(ConfigError) as error:
        check_symbols("okx", ["BTC-USDT-SWP"], ["BTC-USDT-SWAP", "ETH-USDT-SWAP"])
    assert "BTC-USDT-SWP is not a perpetual listed by okx" in str(error.value)
    assert "did you mean BTC-USDT-SWAP" in str(error.value)


def test_check_config_command_reports_errors_in_one_line(tmp_path):
    path = write(tmp_path, "[venues.kraken]\nenabled = true\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "kraken" in result.stderr
