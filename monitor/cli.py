"""The `liqmon` command line: argument parsing, exit codes, nothing else.

Exit codes: 0 success, 2 bad input or usage (argparse's convention), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from monitor import __version__, app, daemon, demo
from monitor.backtest import add_backtest_arguments, backtest_main
from monitor.config import ConfigError, ShardSettings, load_settings
from monitor.core.contract import PARAM_DOCS, evaluate
from monitor.errors import InputError
from monitor.feeds.base import FeedError
from monitor.input_args import (
    add_input_arguments,
    instrument_files,
    replay_settings,
    table_options,
)
from monitor.logsetup import setup_logging
from monitor.replay_serve import add_serve_arguments, replay_serve_main
from monitor.sharding import shard_plan

EXIT_BAD_INPUT = 2

ESTIMATE_HELP = """\
Reads one JSON object from FILE (or stdin with -) and prints the cascade estimate as one
JSON object (model-spec §4). Keys:

  price          reference mark price, a number > 0 (required)
  long_levels    [[price, usd_notional], ...] liquidation levels of longs (down side fuel)
  short_levels   [[price, usd_notional], ...] liquidation levels of shorts (up side fuel)
  bids           [[price, base_size], ...] bid book, absorbs the down move
  asks           [[price, base_size], ...] ask book, absorbs the up move
  params         optional object; every key optional:
{params}

Output per side ("down", "up"): critical_shock_pct (null: no cascade within the shock
range), critical_sell_usd, runaway_at_critical, final_move_pct and runaway for shocks of
1, 2, 3 and 5 %, fuel_usd_within_pct and depth_usd_within_pct (depth after withdrawal) for
0.5, 1, 2, 5 and 10 %, max_branching_ratio_within_2pct. A side whose depth is unavailable
(empty book and no daily volume/volatility) is null and explained under "errors".
Percentages are log-distance percent. Bad input: one line on stderr, exit code 2.
"""


def _reject_constant(name: str) -> NoReturn:
    msg = f"non-finite number {name} is not allowed"
    raise InputError(msg)


def _read_document(source: str) -> object:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {source}: {exc}"
        raise InputError(msg) from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        msg = f"malformed JSON: {exc}"
        raise InputError(msg) from exc
    except RecursionError as exc:
        msg = "malformed JSON: nested too deeply"
        raise InputError(msg) from exc


def _estimate(args: argparse.Namespace) -> int:
    try:
        result = evaluate(_read_document(args.file))
    except InputError as exc:
        print(f"liqmon estimate: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(json.dumps(result, allow_nan=False) + "\n")
    return 0


def _record(args: argparse.Namespace) -> int:
    setup_logging(args.log_format)
    try:
        settings = load_settings(args.config)
        path = args.out or settings.record.path
        rotate_mb = args.rotate_mb or settings.record.rotate_mb
        return asyncio.run(app.record(settings, path, rotate_mb, args.duration))
    except ConfigError as exc:
        print(f"liqmon record: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FeedError, OSError) as exc:  # OSError: the first file cannot be created
        print(f"liqmon record: cannot start: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    setup_logging(args.log_format)
    code = 0
    try:
        settings = load_settings(args.config)
        code = asyncio.run(daemon.run(settings, args.record))
    except* ConfigError as group:
        print(f"liqmon run: {group.exceptions[0]}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except* OSError as group:  # the HTTP port is taken, the state dir is not writable
        print(f"liqmon run: cannot start: {group.exceptions[0]}", file=sys.stderr)
        code = 1
    return code


def _replay(args: argparse.Namespace) -> int:
    from monitor.replay import ReplayError, ReplayOptions, parse_time  # noqa: PLC0415
    from monitor.sources import SourceError  # noqa: PLC0415

    setup_logging(args.log_format)
    try:
        settings = replay_settings(args.config)
        if args.snapshot_at and args.snapshot_out is None:
            msg = "--snapshot-at needs --snapshot-out FILE.json"
            raise ConfigError(msg)
        options = ReplayOptions(
            speed=None if args.speed == "max" else _speed(args.speed),
            alerts_out=args.alerts_out,
            events_out=args.events_out,
            risk_out=args.risk_out,
            snapshot_at=[parse_time(text) for text in args.snapshot_at],
            snapshot_out=args.snapshot_out,
            progress=sys.stderr.isatty(),
            instruments=instrument_files(args),
        )
        return replay_serve_main(settings, args.files, options, table_options(args), args)
    except (ConfigError, SourceError, ReplayError) as exc:
        print(f"liqmon replay: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not speed > 0 or math.isinf(speed):
        msg = f"--speed takes a number > 0 or max, not {text!r}"
        raise ConfigError(msg)
    return speed


def _check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"liqmon check-config: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for venue, venue_settings in settings.enabled_venues().items():
        print(f"{venue}: {', '.join(venue_settings.symbols)}")
    return 0


def _shard_plan(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        unsharded = dataclasses.replace(settings, shard=ShardSettings()).enabled_venues()
        count = settings.shard.count if args.count is None else args.count
        plan = shard_plan({name: v.symbols for name, v in unsharded.items()}, count)
    except ValueError as exc:  # a ConfigError, or a --count below 1
        print(f"liqmon shard-plan: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for index, assets in enumerate(plan):
        markets = sum(len(m) for m in assets.values())
        print(f"shard {index} (pod liqmon-{index}): {len(assets)} asset(s), {markets} market(s)")
        for asset, pairs in assets.items():
            print(f"  {asset}: {', '.join(f'{venue} {symbol}' for venue, symbol in pairs)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for documentation and tests."""
    parser = argparse.ArgumentParser(
        prog="liqmon",
        description="Streaming monitor for liquidation-cascade risk on crypto perpetuals.",
    )
    parser.add_argument("--version", action="version", version=f"liqmon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    params = "\n".join(f"    {key:<19}{doc}" for key, doc in PARAM_DOCS.items())
    estimate = commands.add_parser(
        "estimate",
        help="what-if cascade estimate for one JSON scenario",
        description=ESTIMATE_HELP.format(params=params),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    estimate.add_argument("file", metavar="FILE", help="JSON input file, or - for stdin")
    estimate.set_defaults(handler=_estimate)

    record = commands.add_parser(
        "record",
        help="record raw venue frames to JSON lines (zstd when the path ends in .zst)",
        description=(
            "Connects to every enabled venue and writes each raw frame as received, one JSON "
            'object per line: {"recv_ns", "venue", "conn", "raw"}. REST answers (instruments, '
            "polls, book snapshots) are recorded too. Files rotate by size. Stops on "
            "SIGINT/SIGTERM or after --duration seconds."
        ),
    )
    _config_argument(record)
    record.add_argument("--out", help="output path (default: record.path of the config)")
    record.add_argument(
        "--rotate-mb",
        type=float,
        help="start a new file when one reaches this size on disk in MiB (compressed for .zst)",
    )
    record.add_argument("--duration", type=float, help="stop after this many seconds")
    record.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    record.set_defaults(handler=_record)

    run = commands.add_parser(
        "run",
        help="the daemon: live feeds, risk every few seconds, MQTT alerts, /metrics",
        description=(
            "Connects to every enabled venue (default: BTC and ETH on all five), keeps the "
            "liquidation ledgers, computes cascade risk every risk.interval_s seconds and "
            "publishes alerts over MQTT (and a webhook when configured), Prometheus metrics "
            "and the HTTP API (default http://127.0.0.1:9464). Stops cleanly on "
            "SIGINT/SIGTERM, saving the ledgers to state.dir."
        ),
    )
    _config_argument(run)
    run.add_argument(
        "--record",
        metavar="PATH",
        help="also record every raw frame and REST answer (the `liqmon record` format, "
        "replayable with `liqmon replay`; .zst compresses; rotates at record.rotate_mb)",
    )
    run.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    run.set_defaults(handler=_run)

    replay = commands.add_parser(
        "replay",
        help="replay recordings through the live pipeline on a simulated clock",
        description=(
            "Feeds the frames of recordings (liqmon record files, raw `<recv_ns> <json>` "
            "captures, cryptofeed captures; format detected) through the same adapters, book "
            "builder, engine and alert rules as `liqmon run`; Tardis.dev CSV files and plain "
            "tables (klines, open interest, liquidation tapes, books: CSV, Parquet, Feather, "
            "freqtrade JSON) go to the same engine as normalised events. All on a simulated "
            "clock taken from the receive times, merged in time order; risk cycles every "
            "risk.interval_s of simulated time. Same input, byte-identical alerts. Prints a "
            "JSON summary on stdout; a bad or truncated file exits with code 2 naming the "
            "file and line."
        ),
    )
    replay.add_argument(
        "files", metavar="FILE", nargs="+", type=Path, help="recordings, Tardis CSV, tables"
    )
    _config_argument(replay)
    replay.add_argument(
        "--speed", default="max", help="N: N x real time; max: as fast as possible (default)"
    )
    replay.add_argument("--alerts-out", type=Path, metavar="FILE.jsonl", help="alert documents")
    replay.add_argument("--events-out", type=Path, metavar="FILE.parquet", help="normalised events")
    replay.add_argument(
        "--risk-out",
        type=Path,
        metavar="FILE.parquet",
        help="one row per risk cycle, market and side",
    )
    replay.add_argument(
        "--snapshot-at",
        action="append",
        default=[],
        metavar="TIME",
        help="ISO 8601 UTC or epoch time of a heatmap snapshot (repeatable)",
    )
    replay.add_argument(
        "--snapshot-out",
        type=Path,
        metavar="FILE.json",
        help="the heatmaps (shape of /api/v1/heatmap), a JSON array",
    )
    add_input_arguments(replay)
    add_serve_arguments(replay)
    replay.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    replay.set_defaults(handler=_replay)

    backtest = commands.add_parser(
        "backtest",
        help="replay a period and report alerts against realised liquidation bursts",
        description=(
            "Replays recordings exactly as `liqmon replay` does, then reports per market and "
            "side: liquidation bursts and the alerts' lead time before them, missed bursts, "
            "false alarms per day and the realisation ratio of the modelled fuel. Writes "
            "OUT/report.md and PNG figures (fuel heatmap, critical shock, liquidations)."
        ),
    )
    add_backtest_arguments(backtest)
    backtest.set_defaults(handler=backtest_main)

    demo_parser = commands.add_parser(
        "demo",
        help="offline: the real daemon against a SIMULATED cascade market (about 80 s)",
        description=(
            "Starts a local venue on 127.0.0.1 that plays a SIMULATED BTC market (not real "
            "data): open interest builds up, price falls into the planted long liquidations, "
            "then recovers. Runs the real daemon against it, prints alerts as they fire, "
            "serves /metrics and the HTTP API, and publishes to MQTT when a broker answers."
        ),
    )
    demo.add_demo_arguments(demo_parser)
    demo_parser.set_defaults(handler=demo.demo_main)

    check = commands.add_parser(
        "check-config", help="validate a config file and print the venues and symbols"
    )
    _config_argument(check)
    check.set_defaults(handler=_check_config)

    plan = commands.add_parser(
        "shard-plan",
        help="print which shard (StatefulSet pod) follows which markets",
        description=(
            "Splits the enabled venues' symbols over --count shards by the rule `liqmon run` "
            "applies with [shard] index/count: all venues of an asset on one shard (a stable "
            "hash of the asset), so its venue=all aggregate stays whole."
        ),
    )
    _config_argument(plan)
    plan.add_argument("--count", type=int, help="number of shards (default: shard.count)")
    plan.set_defaults(handler=_shard_plan)
    return parser


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config (default: none: BTC and ETH on all five venues); "
        "LIQMON_* environment variables override it",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `liqmon` console script."""
    args = build_parser().parse_args(argv)
    handler = args.handler
    return int(handler(args))
