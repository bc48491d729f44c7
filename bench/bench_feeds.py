"""Benchmark the venue parsers against the floor of a bare `orjson.loads`.

Usage: python bench/bench_feeds.py [--seconds S]

For each venue the frames come from two places: the real captures in
../shared/data/real/ws_captures/ where one exists (read in place; their licences do not
allow copying them), and the frames the test suite's fake venue scripts build from the
venue's documented examples (tests/fake_venues/<venue>.py), which are the only source of
mark-price and open-interest frames for most venues. Frames are grouped by what they
produce: "price/OI" frames (MarkPrice, OpenInterest, Funding events only) and "other".
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import zstandard

from monitor.core.events import Funding, MarkPrice, OpenInterest
from monitor.feeds.base import FeedDecodeError, Instrument, VenueAdapter
from monitor.feeds.registry import VENUES, make_adapter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # fake venue scripts and real-data paths live there

from real_data import CAPTURES, capture_lines  # noqa: E402

PRICE_EVENTS = (MarkPrice, OpenInterest, Funding)


def script_frames(name: str, steps: int = 200) -> tuple[list[str], list[Instrument], VenueAdapter]:
    """Frames a fake venue would push, and an adapter planned with its instruments."""
    script = importlib.import_module(f"fake_venues.{name}").Script()
    adapter = make_adapter(name)
    request = adapter.instruments_request()
    payload = None
    if request is not None:
        path = request.url.split("//", 1)[-1].partition("/")[2]
        payload = script.rest.get("/" + path) or next(iter(script.rest.values()))
    instruments = adapter.parse_instruments(payload)
    wanted = [i for i in instruments if i.symbol in script.symbols]
    for plan in adapter.plan(wanted):
        for frame in plan.subscribe:  # scripts push only what was subscribed
            script.replies(frame)
    frames = []
    for step in range(steps):
        for symbol in script.symbols:
            frames.extend(script.data(symbol, step))
    return frames, wanted, adapter


def captured_frames(name: str) -> list[str]:
    """Raw frames of the real captures for this venue (empty when there are none)."""
    frames: list[str] = []
    if name == "binance":
        frames = [
            raw for _, raw in capture_lines(CAPTURES / "hftbacktest" / "usdm_btcusdt_20240808.gz")
        ]
    elif name == "hyperliquid":
        path = CAPTURES / "hftbacktest" / "hyperliquid_btcusd_20250126.gz"
        frames = [raw for _, raw in capture_lines(path)]
    elif name == "bybit":
        data = (CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst").read_bytes()
        text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
        records = [orjson.loads(line) for line in text.splitlines()[1:]]
        linear = {r["conn"] for r in records if str(r.get("addr", "")).endswith("/linear")}
        frames = [r["data"] for r in records if r.get("t") == "recv" and r["conn"] in linear]
    return frames


def rate(call: Callable[[str], object], frames: list[str], seconds: float) -> float:
    """Frames per second of `call` over `frames`, repeated for about `seconds`."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for frame in frames:
            call(frame)
        done += len(frames)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print("| venue | frames | kind | parse frames/s | orjson.loads frames/s | ratio |")
    print("|---|---|---|---|---|---|")
    for name in sorted(VENUES):
        frames, _, adapter = script_frames(name)
        frames += captured_frames(name)
        conn = adapter.plan(_)[0].name if _ else ""

        def parse(frame: str, adapter: VenueAdapter = adapter, conn: str = conn) -> object:
            try:
                return adapter.parse(conn, frame, time.time_ns())
            except FeedDecodeError as error:
                return error

        groups: dict[str, list[str]] = {"price/OI": [], "other": []}
        for frame in frames:
            result = parse(frame)
            if isinstance(result, FeedDecodeError):
                continue  # e.g. captured symbols the bench did not plan: not a parse rate
            events = getattr(result, "events", ())
            if events and all(isinstance(e, PRICE_EVENTS) for e in events):
                groups["price/OI"].append(frame)
            else:
                groups["other"].append(frame)
        for kind, group in groups.items():
            if not group:
                continue
            parsed = rate(parse, group, args.seconds)
            floor = rate(orjson.loads, group, args.seconds)
            print(
                f"| {name} | {len(group):,} | {kind} | {parsed:,.0f} | {floor:,.0f} "
                f"| {parsed / floor:.2f} |"
            )


if __name__ == "__main__":
    main()
