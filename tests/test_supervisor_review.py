"""The frame pipeline's book rebuilds, frame by frame, with real venue adapters.

Where the order of frames around a resubscribe or a REST snapshot decides the outcome, the
pipeline is driven directly (it is synchronous and does no I/O), so each test states the
exact interleaving instead of hoping a server produces it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fake_venues import binance as fake_binance

from monitor.feeds.registry import make_adapter
from monitor.feeds.rejects import RejectLog
from monitor.feeds.supervisor import FramePipeline, SnapshotOutcome

NOW_MS = time.time_ns() // 1_000_000  # the sanity layer rejects far-off timestamps


OKX_SWAP = "BTC-USDT-SWAP"
OKX_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "okx"


def okx_books(action: str, prev: int, seq: int) -> str:
    """An OKX `books` push of `action` (snapshot or update) with its sequence ids."""
    data = {
        "asks": [["100.5", "10", "0", "1"]],
        "bids": [["100.0", "5", "0", "1"]],
        "ts": str(NOW_MS),
        "checksum": 0,
        "prevSeqId": prev,
        "seqId": seq,
    }
    return json.dumps(
        {"arg": {"channel": "books", "instId": OKX_SWAP}, "action": action, "data": [data]}
    )


def test_okx_deltas_in_flight_during_a_resubscribe_do_not_break_the_new_snapshot():
    """OKX rebuilds a book by resubscribing: a delta sent before the venue processed our
    unsubscribe arrives after the reset and must not be replayed onto the new snapshot."""
    adapter = make_adapter("okx")
    payload = json.loads((OKX_FIXTURES / "instruments.json").read_text())
    adapter.plan([i for i in adapter.parse_instruments(payload) if i.symbol == OKX_SWAP])
    rejects = RejectLog(monotonic=time.monotonic)
    pipeline = FramePipeline(adapter, rejects, monotonic=time.monotonic)

    def sends(raw: str) -> list[str]:
        result = pipeline.frame("public-0", raw, time.time_ns())
        assert result is not None
        return result.sends

    assert sends(okx_books("snapshot", -1, 100)) == []
    assert sends(okx_books("update", 100, 101)) == []
    assert len(sends(okx_books("update", 102, 103))) == 2  # 102 lost: unsubscribe, subscribe
    assert sends(okx_books("update", 103, 104)) == []  # in flight before the unsubscribe
    assert sends(okx_books("snapshot", -1, 107)) == []
    assert sends(okx_books("update", 107, 108)) == []
    assert pipeline.books[OKX_SWAP].synced
    assert pipeline.books[OKX_SWAP].sequence == 108
    assert rejects.counts[("okx", "sequence_gap")] == 1


def test_a_rest_snapshot_the_buffered_deltas_do_not_follow_is_counted_as_a_gap():
    adapter = make_adapter("binance")
    adapter.plan(adapter.parse_instruments(fake_binance._fixture("exchange_info.json")))
    rejects = RejectLog(monotonic=time.monotonic)
    pipeline = FramePipeline(adapter, rejects, monotonic=time.monotonic)
    script = fake_binance.Script()
    (depth,) = [f for f in script.data("BTCUSDT", 0) if "@depth@" in f]
    result = pipeline.frame("public-0", depth, time.time_ns())
    assert result is not None
    assert result.snapshots == ["BTCUSDT"]  # buffered until a REST snapshot bridges it
    snapshot = dict(script.rest["/fapi/v1/depth?symbol=BTCUSDT&limit=1000"])
    snapshot["lastUpdateId"] = fake_binance.SNAPSHOT_ID - 100  # older than the delta's U
    outcome = pipeline.rest_snapshot("BTCUSDT", snapshot, time.time_ns())
    assert outcome is SnapshotOutcome.NOT_BRIDGED
    assert rejects.counts[("binance", "sequence_gap")] == 1
