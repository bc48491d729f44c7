"""Command-line options shared by `liqmon replay` and `liqmon backtest`: what the input is.

Both commands read the same files the same way, so they take the same options for the
instruments of recordings and for the venue, symbol, columns and time zone of plain tables.
Parsing is kept light: nothing here imports polars or the replay until the options are used.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import ConfigError

if TYPE_CHECKING:
    from monitor.sources import TableOptions


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
    return TableOptions(
        venue=args.venue, symbol=args.symbol, columns=columns, utc_offset=args.utc_offset
    )
