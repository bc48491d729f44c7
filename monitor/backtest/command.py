"""The `liqmon backtest` command: options, exit codes; the work is in `report`.

Kept apart from `report` so that building the CLI parser does not import matplotlib.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import orjson

from monitor.backtest.metrics import NS, BurstParams
from monitor.config import ConfigError
from monitor.input_args import (
    add_input_arguments,
    instrument_files,
    replay_settings,
    table_options,
)
from monitor.logsetup import setup_logging

EXIT_BAD_INPUT = 2
HEATMAP_COLUMNS = 300
"""Heatmap snapshots per period when `--heatmap-every` is not given."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400}
_DEFAULTS = BurstParams()
OPTION_DEFAULTS = {
    "window": f"{_DEFAULTS.window_ns // NS}s",
    "multiple": _DEFAULTS.multiple,
    "trailing": f"{_DEFAULTS.trailing_windows * _DEFAULTS.window_ns // NS}s",
    "min_burst_usd": _DEFAULTS.min_usd,
    "lookback": f"{_DEFAULTS.lookback_ns // NS}s",
}


def parse_duration(text: str) -> float:
    """`300`, `300s`, `5m`, `24h`, `1d` → seconds."""
    match = _DURATION.match(text)
    if match is None:
        msg = f"not a duration: {text!r} (seconds, or a number with s, m, h or d)"
        raise ConfigError(msg)
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `liqmon backtest`."""
    parser.add_argument("files", metavar="FILE", nargs="+", type=Path, help="recordings")
    parser.add_argument(
        "--out", type=Path, default=Path("backtest"), help="report directory (default backtest)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config (default: none); LIQMON_* environment variables override it",
    )
    parser.add_argument(
        "--window",
        default=OPTION_DEFAULTS["window"],
        help="burst window (default %(default)s; a number of seconds or with s, m, h, d)",
    )
    parser.add_argument(
        "--multiple",
        type=float,
        default=OPTION_DEFAULTS["multiple"],
        help="a window above this multiple of its trailing median is a burst (default %(default)s)",
    )
    parser.add_argument(
        "--trailing",
        default=OPTION_DEFAULTS["trailing"],
        help="length of the trailing median (default %(default)s)",
    )
    parser.add_argument(
        "--min-burst-usd",
        type=float,
        default=OPTION_DEFAULTS["min_burst_usd"],
        help="a burst window liquidates more than this in USD (default %(default)s)",
    )
    parser.add_argument(
        "--lookback",
        default=OPTION_DEFAULTS["lookback"],
        help="alerts count for a burst up to this long before it, and a burst for an "
        "alert up to this long after it (default %(default)s)",
    )
    parser.add_argument(
        "--heatmap-every",
        help=f"simulated time between heatmap snapshots, rounded up to whole risk cycles "
        f"(default: the period / {HEATMAP_COLUMNS})",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the replay's alerts.jsonl, events.parquet, risk.parquet and heatmaps.json "
        "in OUT/data",
    )
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (options at their defaults left out)."""
    words = ["liqmon", "backtest", *(str(path) for path in args.files), "--out", str(args.out)]
    for name, default in OPTION_DEFAULTS.items():
        value = getattr(args, name)
        if value != default:
            words += [
                f"--{name.replace('_', '-')}",
                repr(value) if isinstance(value, float) else value,
            ]
    if args.heatmap_every is not None:
        words += ["--heatmap-every", args.heatmap_every]
    if args.config is not None:
        words += ["--config", args.config]
    for text in args.instruments:
        words += ["--instruments", text]
    for name in ("venue", "symbol"):
        if getattr(args, name) is not None:
            words += [f"--{name}", getattr(args, name)]
    for text in args.column:
        words += ["--column", text]
    if args.utc_offset:
        words += ["--utc-offset", f"{args.utc_offset:g}"]
    if args.keep_data:
        words.append("--keep-data")
    return shlex.join(words)


def backtest_main(args: argparse.Namespace) -> int:
    """`liqmon backtest`: run, write the report, print a JSON summary (exit 2 on bad input)."""
    from monitor.backtest.report import BacktestOptions, run_backtest  # noqa: PLC0415
    from monitor.replay import ReplayError  # noqa: PLC0415
    from monitor.sources import SourceError  # noqa: PLC0415

    setup_logging(args.log_format)
    try:
        settings = replay_settings(args.config)
        options = BacktestOptions(
            out=args.out,
            params=_params(args),
            heatmap_every_ns=_every(args.heatmap_every),
            instruments=instrument_files(args),
            tables=table_options(args),
            keep_data=args.keep_data,
            command=_command(args),
            progress=sys.stderr.isatty(),
        )
        done = run_backtest(settings, args.files, options)
    except (ConfigError, SourceError, ReplayError) as exc:
        print(f"liqmon backtest: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # --out is a file, or not writable
        print(f"liqmon backtest: cannot write the report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    alerts = done.evaluation.alerts
    summary = {
        "report": str(done.report),
        "figures": [str(path) for path in done.figures],
        **done.replay.summary(),
        "bursts": done.evaluation.bursts.height,
        "risk_alerts": alerts.height,
        "false_alarms": int(alerts["false_alarm"].sum()),
    }
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


def _params(args: argparse.Namespace) -> BurstParams:
    window = parse_duration(args.window)
    trailing = parse_duration(args.trailing)
    try:
        return BurstParams(
            window_ns=round(window * NS),
            multiple=args.multiple,
            trailing_windows=max(1, round(trailing / window)) if window > 0 else 1,
            min_usd=args.min_burst_usd,
            lookback_ns=round(parse_duration(args.lookback) * NS),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _every(text: str | None) -> int | None:
    if text is None:
        return None
    every = round(parse_duration(text) * NS)
    if every <= 0:
        msg = "--heatmap-every must be longer than 0"
        raise ConfigError(msg)
    return every
