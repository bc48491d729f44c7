"""Ledger snapshots: exact round trip, atomic writes, and a damaged file never stops start-up."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from monitor.core.bins import BinGrid
from monitor.core.ledger import Ledger, LedgerState, OiObservation
from monitor.core.venues import VenueParams, venue_params
from monitor.persist import FORMAT_VERSION, MAGIC, load_ledgers, save_ledgers

NOW = 1_760_000_000_000_000_000
SECOND = 1_000_000_000
PARAMS = {
    ("binance", "BTCUSDT"): venue_params("binance", "BTC"),
    ("bybit", "ETHUSDT"): venue_params("bybit", "ETH"),
    ("deribit", "BTC-PERPETUAL"): venue_params("deribit", "BTC"),
    ("hyperliquid", "BTC"): venue_params("hyperliquid", "BTC"),
}
GRID = BinGrid(bin_bps=10, max_bins=3000)


def params_for(venue: str, symbol: str) -> VenueParams:
    return PARAMS[(venue, symbol)]


def busy_ledger(params: VenueParams, price: float = 100_000.0) -> Ledger:
    """A ledger with opens, closes, crossings, a gap and a pending anomaly behind it."""
    ledger = Ledger(params, price)
    ledger.cold_start(1_000.0, price, price * 0.98, price * 1.02)
    steps = [
        (1_150.0, 1.01, 1.0, 1.012, 0.0),
        (1_100.0, 0.97, 0.965, 1.01, 20.0),
        (1_180.0, 0.99, 0.965, 0.995, 0.0),
        (1_500.0, 0.99, 0.99, 0.99, 0.0),  # anomaly: +27 % OI, price flat (pending)
    ]
    for oi, mark, low, high, liquidated in steps:
        ledger.apply(
            OiObservation(
                open_interest=oi,
                mark_price=price * mark,
                low=price * low,
                high=price * high,
                liquidated_long=liquidated,
                trade_prices=np.array([price * low, price * mark]),
                trade_quantities=np.array([3.0, 1.0]),
            )
        )
    return ledger


def ledgers() -> dict[tuple[str, str], Ledger]:
    return {key: busy_ledger(params) for key, params in PARAMS.items()}


def snapshot(books: dict[tuple[str, str], Ledger]) -> dict[tuple[str, str], LedgerState]:
    return {key: ledger.to_state() for key, ledger in books.items()}


def assert_same(a: Ledger, b: Ledger) -> None:
    assert np.array_equal(a.quantities(), b.quantities())
    sa, sb = a.to_state(), b.to_state()
    assert np.array_equal(sa.legacy, sb.legacy)
    for name in ("anchor_log", "lo", "hi", "open_interest", "mark_price", "anomalies", "gap"):
        assert getattr(sa, name) == getattr(sb, name), name
    assert sa.pending_anomalies == sb.pending_anomalies
    assert a.coverage == b.coverage
    for smear in (False, True):
        for fa, fb in zip(
            a.fuel(a.mark_price, GRID, smear=smear),
            b.fuel(b.mark_price, GRID, smear=smear),
            strict=True,
        ):
            assert np.array_equal(fa, fb)


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


def set_aside_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


# ------------------------------------------------------------------- round trip


def test_round_trip_restores_every_ledger_exactly_and_they_evolve_identically(tmp_path):
    path = tmp_path / "state" / "ledgers.snapshot"  # parent directory does not exist yet
    originals = ledgers()
    save_ledgers(path, snapshot(originals), NOW)
    restored = load_ledgers(path, params_for, NOW + 5 * SECOND, max_age_s=60.0)
    assert restored.status == "restored"
    assert restored.written_ns == NOW
    assert restored.dropped == {}
    assert set(restored.ledgers) == set(originals)
    for key, original in originals.items():
        copy = restored.ledgers[key]
        assert original.to_state().pending_anomalies == 1  # mid-confirmation of an anomaly
        assert_same(original, copy)
        # The same further observations (including the anomaly's confirmations) do the same.
        for oi, mark in ((1_500.0, 99_000.0), (1_500.0, 99_000.0), (1_400.0, 96_000.0)):
            obs = OiObservation(
                open_interest=oi,
                mark_price=mark,
                low=mark * 0.99,
                high=mark * 1.01,
                liquidated_long=5.0,
            )
            assert original.apply(obs) == copy.apply(obs)
        assert_same(original, copy)


def test_an_empty_and_a_never_observed_ledger_round_trip(tmp_path):
    path = tmp_path / "ledgers.snapshot"
    save_ledgers(path, {}, NOW)
    empty = load_ledgers(path, params_for, NOW, max_age_s=60.0)
    assert empty.status == "restored"
    assert empty.ledgers == {}
    fresh = Ledger(PARAMS[("binance", "BTCUSDT")], 100_000.0)
    save_ledgers(path, {("binance", "BTCUSDT"): fresh.to_state()}, NOW)
    restored = load_ledgers(path, params_for, NOW, max_age_s=60.0)
    assert restored.status == "restored"
    assert_same(fresh, restored.ledgers[("binance", "BTCUSDT")])


def test_saving_again_replaces_the_snapshot_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "ledgers.snapshot"
    books = ledgers()
    save_ledgers(path, snapshot(books), NOW)
    key = ("bybit", "ETHUSDT")
    books[key].apply(
        OiObservation(open_interest=1_250.0, mark_price=99_500.0, low=99_000.0, high=99_500.0)
    )
    save_ledgers(path, snapshot(books), NOW + 60 * SECOND)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledgers.snapshot"]
    restored = load_ledgers(path, params_for, NOW + 61 * SECOND, max_age_s=60.0)
    assert restored.written_ns == NOW + 60 * SECOND
    assert restored.ledgers[key].open_interest == 1_250.0


# ------------------------------------------------------------------- atomicity


def test_a_crash_between_temp_write_and_rename_keeps_the_old_snapshot(tmp_path):
    """A real process killed (SIGKILL) right before `os.replace` of its second save."""
    path = tmp_path / "ledgers.snapshot"
    script = textwrap.dedent(
        f"""
        import os, signal
        from monitor.core.ledger import Ledger
        from monitor.core.venues import venue_params
        from monitor.persist import save_ledgers

        ledger = Ledger(venue_params("binance", "BTC"), 100_000.0)
        ledger.cold_start(1_000.0, 100_000.0, 98_000.0, 102_000.0)
        save_ledgers({str(path)!r}, {{("binance", "BTCUSDT"): ledger.to_state()}}, {NOW})
        ledger.cold_start(2_000.0, 100_000.0, 98_000.0, 102_000.0)
        os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        save_ledgers({str(path)!r}, {{("binance", "BTCUSDT"): ledger.to_state()}}, {NOW + SECOND})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, timeout=60, capture_output=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    strays = list(tmp_path.glob(".ledgers.snapshot.*.tmp"))
    assert len(strays) == 1  # the new snapshot was fully written, but never renamed
    restored = load_ledgers(path, params_for, NOW + 2 * SECOND, max_age_s=60.0)
    assert restored.status == "restored"
    assert restored.written_ns == NOW
    assert restored.ledgers[("binance", "BTCUSDT")].open_interest == 1_000.0
    assert not strays[0].exists()  # start-up cleans up after the crashed save


def test_a_failed_save_raises_and_keeps_the_old_snapshot(tmp_path, monkeypatch):
    path = tmp_path / "ledgers.snapshot"
    save_ledgers(path, snapshot(ledgers()), NOW)
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        save_ledgers(path, {}, NOW + SECOND)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledgers.snapshot"]


# ------------------------------------------------------------------- damaged files


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "ledgers.snapshot"
    save_ledgers(path, snapshot(ledgers()), NOW)
    return path


def header_length(path: Path) -> int:
    return struct.unpack_from("<8sIIQ", path.read_bytes())[2]


@pytest.mark.parametrize("keep", [0, 7, 20, 500, -1000, -1], ids=lambda k: f"keep{k}")
def test_a_truncated_file_is_reported_and_set_aside(saved, caplog, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep])
    with caplog.at_level(logging.INFO, logger="liqmon.state"):
        restored = load_ledgers(saved, params_for, NOW, max_age_s=60.0)
    assert restored.status == "corrupt"
    assert restored.ledgers == {}
    assert not saved.exists()
    assert set_aside_files(saved) == [saved.with_name(f"{saved.name}.corrupt-{NOW}")]
    assert restored.set_aside == set_aside_files(saved)[0]
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING
    assert "corrupt" in caplog.records[0].getMessage()


@pytest.mark.parametrize("where", ["magic", "lengths", "header", "payload", "digest"])
def test_a_flipped_byte_anywhere_is_detected(saved, where):
    positions = {
        "magic": 2,
        "lengths": 13,
        "header": 24 + 10,
        "payload": 24 + header_length(saved) + 1234,
        "digest": saved.stat().st_size - 3,
    }
    flip_byte(saved, positions[where])
    restored = load_ledgers(saved, params_for, NOW, max_age_s=60.0)
    assert restored.status == "corrupt"
    assert restored.ledgers == {}
    assert len(set_aside_files(saved)) == 1
    assert not saved.exists()


def test_a_file_of_another_format_version_is_incompatible(saved):
    data = bytearray(saved.read_bytes())
    struct.pack_into("<I", data, len(MAGIC), FORMAT_VERSION + 1)
    body = bytes(data[:-32])
    saved.write_bytes(body + hashlib.sha256(body).digest())
    restored = load_ledgers(saved, params_for, NOW, max_age_s=60.0)
    assert restored.status == "incompatible"
    assert "version" in restored.detail
    assert len(set_aside_files(saved)) == 1


def test_garbage_is_corrupt_and_a_second_start_then_finds_nothing(tmp_path):
    path = tmp_path / "ledgers.snapshot"
    path.write_bytes(b"not a snapshot at all, just some text that is long enough")
    assert load_ledgers(path, params_for, NOW, max_age_s=60.0).status == "corrupt"
    assert load_ledgers(path, params_for, NOW + 1, max_age_s=60.0).status == "missing"


def test_state_that_no_longer_fits_the_params_drops_only_that_entry(saved, caplog):
    # Someone changed Binance to Deribit's tier table: its cohorts mean something else now.
    changed = {**PARAMS, ("binance", "BTCUSDT"): venue_params("deribit", "BTC")}
    with caplog.at_level(logging.INFO, logger="liqmon.state"):
        restored = load_ledgers(saved, lambda v, s: changed[(v, s)], NOW, max_age_s=60.0)
    assert restored.status == "restored"
    assert set(restored.ledgers) == set(PARAMS) - {("binance", "BTCUSDT")}
    assert list(restored.dropped) == [("binance", "BTCUSDT")]
    assert restored.dropped[("binance", "BTCUSDT")].startswith("tiers")
    assert "binance/BTCUSDT" in restored.detail
    assert saved.exists()  # the others were good: the next save replaces it
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING


def test_an_entry_whose_params_lookup_fails_is_dropped(saved):
    def only_bybit(venue: str, symbol: str) -> VenueParams:
        if venue != "bybit":
            raise KeyError(f"{venue} is no longer configured")
        return PARAMS[(venue, symbol)]

    restored = load_ledgers(saved, only_bybit, NOW, max_age_s=60.0)
    assert restored.status == "restored"
    assert set(restored.ledgers) == {("bybit", "ETHUSDT")}
    assert len(restored.dropped) == 3


def test_a_file_where_nothing_fits_is_incompatible_and_set_aside(tmp_path):
    path = tmp_path / "ledgers.snapshot"
    state = busy_ledger(PARAMS[("binance", "BTCUSDT")]).to_state()
    save_ledgers(path, {("binance", "BTCUSDT"): state}, NOW)
    hyperliquid = PARAMS[("hyperliquid", "BTC")]  # six tiers, not nine: wrong shapes
    restored = load_ledgers(path, lambda v, s: hyperliquid, NOW, max_age_s=60.0)
    assert restored.status == "incompatible"
    assert restored.ledgers == {}
    assert restored.dropped[("binance", "BTCUSDT")].startswith("tiers")
    assert len(set_aside_files(path)) == 1


def test_intact_file_with_impossible_values_is_refused_not_restored(tmp_path):
    ledger = busy_ledger(PARAMS[("binance", "BTCUSDT")])
    state = ledger.to_state()
    quantity = state.quantity.copy()
    quantity[0, 3, 2] = np.nan
    bad = LedgerState(
        **{**{name: getattr(state, name) for name in LedgerState.__slots__}, "quantity": quantity}
    )
    path = tmp_path / "ledgers.snapshot"
    save_ledgers(path, {("binance", "BTCUSDT"): bad}, NOW)
    restored = load_ledgers(path, params_for, NOW, max_age_s=60.0)
    assert restored.status == "incompatible"
    assert restored.dropped[("binance", "BTCUSDT")].startswith("non_finite")


# ------------------------------------------------------------------- age and absence


def test_a_snapshot_older_than_the_limit_is_left_in_place_but_not_used(saved, caplog):
    with caplog.at_level(logging.INFO, logger="liqmon.state"):
        restored = load_ledgers(saved, params_for, NOW + 3_601 * SECOND, max_age_s=3_600.0)
    assert restored.status == "too_old"
    assert restored.ledgers == {}
    assert "3601 s old" in restored.detail
    assert saved.exists()
    assert set_aside_files(saved) == []
    assert len(caplog.records) == 1
    at_limit = load_ledgers(saved, params_for, NOW + 3_600 * SECOND, max_age_s=3_600.0)
    assert at_limit.status == "restored"


def test_a_snapshot_from_the_future_counts_as_fresh(saved):
    restored = load_ledgers(saved, params_for, NOW - 30 * SECOND, max_age_s=60.0)
    assert restored.status == "restored"


def test_no_file_is_missing(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="liqmon.state"):
        restored = load_ledgers(tmp_path / "nowhere" / "ledgers.snapshot", params_for, NOW, 60.0)
    assert restored.status == "missing"
    assert restored.ledgers == {}
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.INFO
