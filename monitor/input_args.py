"""Command-line options shared by `liqmon replay` and `liqmon backtest`: what the input is.

Both commands read the same files the same way, so they take the same options for the
instruments of recordings and for the venue, symbol, columns and time zone of plain tables.
Parsing is kept light: nothing here imports polars or the replay until the options are used.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import ConfigError, Settings, ShardSettings, load_settings

if TYPE_CHECKING:
    from monitor.sources import TableOptions

MAX_UTC_OFFSET_H = 14.0
"""The widest offset of a civil time zone (UTC+14, Kiribati; the most negative is −12)."""


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """`--instruments`, `--venue`, `--symbol`, `--column`, `--utc-offset`."""
    parser.add_argument(
        "--instruments",
        action="append",
        default=[],
        metavar="VENUE=FILE",
        help="the venue's saved instruments REST answer, for recordings without one",
    )
    parser.add_argument("--venue", help="plain tables: their venue (default: named in the path)")
    parser.add_argument(
        "--symbol", help="plain tables: their symbol (default: a column or the file name)"
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="plain tables: read ROLE (time, symbol, open, high, low, close, open_interest, "
        "side, price, quantity) from column NAME (repeatable)",
    )
    parser.add_argument(
        "--utc-offset",
        type=float,
        default=0.0,
        metavar="HOURS",
        help="plain tables: hours east of UTC of times written without an offset (IST: 5.5)",
    )


def instrument_files(args: argparse.Namespace) -> dict[str, Path]:
    """`--instruments VENUE=FILE`... as a venue → file map; a malformed one is a ConfigError."""
    files: dict[str, Path] = {}
    for text in args.instruments:
        venue, sep, path = text.partition("=")
        if not sep or not venue or not path:
            msg = f"--instruments takes VENUE=FILE, not {text!r}"
            raise ConfigError(msg)
        files[venue] = Path(path)
    return files


def table_options(args: argparse.Namespace) -> TableOptions:
    """The plain-table options; an unknown role in `--column` is a ConfigError."""
    from monitor.sources import TableOptions  # noqa: PLC0415 - keeps polars out of --help
    from monitor.sources.tables import DEFAULT_COLUMNS  # noqa: PLC0415

    columns: dict[str, str] = {}
    for text in args.column:
        role, sep, name = text.partition("=")
        if not sep or not name or role not in DEFAULT_COLUMNS:
            msg = (
                f"--column wants ROLE=NAME with ROLE one of {', '.join(DEFAULT_COLUMNS)}: {text!r}"
            )
            raise ConfigError(msg)
        columns[role] = name
    if not abs(args.utc_offset) <= MAX_UTC_OFFSET_H:  # also NaN
        msg = f"--utc-offset takes hours within ±{MAX_UTC_OFFSET_H:g}, not {args.utc_offset!r}"
        raise ConfigError(msg)
    return TableOptions(
        venue=args.venue, symbol=args.symbol, columns=columns, utc_offset=args.utc_offset
    )


def replay_settings(path: str | None) -> Settings:
    """The configuration of a replay: every market of the input, whatever `[shard]` says.

    A shard splits live markets between processes; a recording is replayed whole, also when
    the replay runs in a pod whose environment names its shard.
    """
    return dataclasses.replace(load_settings(path), shard=ShardSettings())
