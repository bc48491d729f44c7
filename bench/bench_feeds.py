"""Benchmark the venue parsers against the floor of a bare `orjson.loads`.

Usage: python bench/bench_feeds.py [--rounds N]

For each venue the frames come from two places: the real captures in
../shared/data/real/ws_captures/ where one exists (read in place; their licences do not
allow copying them), and the frames the test suite's fake venue scripts build from the
venue's documented examples (tests/fake_venues/<venue>.py), which are the only source of
mark-price and open-interest frames for most venues. Frames are grouped by what they
produce: "price/OI" frames (MarkPrice, OpenInterest, Funding events only) and "other".

Rates are CPU time of this process (`time.process_time`, so time the scheduler gives to
other processes on a shared machine is not counted), best of `--rounds` passes over the
group, the parse and `orjson.loads` passes interleaved so both see the same machine.

The second table is the floor of the price/OI frames: what no parser that emits our events
can avoid, each part timed alone on the same frames: the typed msgspec decode of the fields
we use (the adapters' fast-path decoders), building the frame's validated events (`new_*`,
best case: constants as arguments) and the `Parsed` wrapper. "best ratio" is
`orjson.loads` time / that sum: the ratio a parser with no other cost at all would reach.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import zstandard

from monitor.core.events import (
    Funding,
    MarkPrice,
    OpenInterest,
    new_funding,
    new_mark_price,
    new_open_interest,
)
from monitor.feeds import binance, bybit, deribit, hyperliquid, okx
from monitor.feeds.base import FeedDecodeError, Instrument, VenueAdapter, new_parsed
from monitor.feeds.registry import VENUES, make_adapter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # fake venue scripts and real-data paths live there

from real_data import CAPTURES, capture_lines  # noqa: E402

PRICE_EVENTS = (MarkPrice, OpenInterest, Funding)
# The adapters' own fast-path decoders: the floor is what they cost.
FAST_DECODE: dict[str, Callable[[str], object]] = {
    "binance": binance._MARK_DECODER.decode,
    "bybit": bybit._TICKER_DECODER.decode,
    "deribit": deribit._TICKER_DECODER.decode,
    "hyperliquid": hyperliquid._CTX_DECODER.decode,
    "okx": okx._FAST_DECODER.decode,
}
T = 1_795_333_118_774_000_000
BUILD: dict[type, Callable[[], object]] = {
    MarkPrice: lambda: new_mark_price(
        venue="v", symbol="S", ts_event_ns=T, ts_recv_ns=T, mark_price=1.0, index_price=1.0
    ),
    OpenInterest: lambda: new_open_interest(
        venue="v", symbol="S", ts_event_ns=T, ts_recv_ns=T, open_interest=1.0
    ),
    Funding: lambda: new_funding(
        venue="v", symbol="S", ts_event_ns=T, ts_recv_ns=T, rate=1.0, next_funding_ns=T
    ),
}


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


def seconds_per_frame(
    calls: list[Callable[[str], object]], frames: list[str], rounds: int
) -> list[float]:
    """CPU seconds per frame of each call, best of `rounds` interleaved passes."""
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for n, call in enumerate(calls):
            start = time.process_time()
            for frame in frames:
                call(frame)
            best[n] = min(best[n], (time.process_time() - start) / len(frames))
    return best


def build_seconds(kinds: list[type], rounds: int) -> float:
    """CPU seconds to build events of these kinds and their `Parsed`, best of `rounds`."""
    builders = [BUILD[kind] for kind in kinds]
    best, repeat = float("inf"), 2_000
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            events = tuple(build() for build in builders)
            new_parsed(events=events, streams=())  # type: ignore[arg-type]
        best = min(best, (time.process_time() - start) / repeat)
    # The loop, the lambda calls and tuple() above are not part of the floor: take them out.
    nothing = [_nothing] * len(builders)
    baseline = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            tuple(call() for call in nothing)
        baseline = min(baseline, (time.process_time() - start) / repeat)
    return best - baseline


def _nothing() -> None:
    """A builder that builds nothing: the call overhead `build_seconds` subtracts."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print("| venue | frames | kind | parse frames/s | orjson.loads frames/s | ratio |")
    print("|---|---|---|---|---|---|")
    floors: list[str] = []
    for name in sorted(VENUES):
        frames, wanted, adapter = script_frames(name)
        frames += captured_frames(name)
        conn = adapter.plan(wanted)[0].name if wanted else ""

        def parse(frame: str, adapter: VenueAdapter = adapter, conn: str = conn) -> object:
            try:
                return adapter.parse(conn, frame, T)
            except FeedDecodeError as error:
                return error

        groups: dict[str, list[str]] = {"price/OI": [], "other": []}
        kinds: list[list[type]] = []
        for frame in frames:
            result = parse(frame)
            if isinstance(result, FeedDecodeError):
                continue  # e.g. captured symbols the bench did not plan: not a parse rate
            events = getattr(result, "events", ())
            if events and all(isinstance(e, PRICE_EVENTS) for e in events):
                groups["price/OI"].append(frame)
                kinds.append([type(e) for e in events])
            else:
                groups["other"].append(frame)
        for kind, group in groups.items():
            if not group:
                continue
            parsed, floor = seconds_per_frame([parse, orjson.loads], group, args.rounds)
            print(
                f"| {name} | {len(group):,} | {kind} | {1 / parsed:,.0f} | {1 / floor:,.0f} "
                f"| {floor / parsed:.2f} |"
            )
            if kind == "price/OI":
                typed = seconds_per_frame([FAST_DECODE[name]], group, args.rounds)[0]
                shapes = Counter(tuple(k) for k in kinds)
                build = sum(
                    count * build_seconds(list(shape), args.rounds)
                    for shape, count in shapes.items()
                ) / len(kinds)
                floors.append(
                    f"| {name} | {floor * 1e6:.2f} | {typed * 1e6:.2f} "
                    f"| {sum(map(len, kinds)) / len(kinds):.1f} | {build * 1e6:.2f} "
                    f"| {(typed + build) * 1e6:.2f} | {parsed * 1e6:.2f} "
                    f"| {floor / (typed + build):.2f} |"
                )
    print()
    print(
        "| venue (price/OI) | orjson.loads µs | typed decode µs | mean events/frame "
        "| build events + Parsed µs | floor µs | parse µs | best ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(floors))


if __name__ == "__main__":
    main()
