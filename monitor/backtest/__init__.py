"""`liqmon backtest`: replay a period, then judge its alerts against realised liquidations.

`metrics` holds the pure computations (bursts, lead times, false alarms, realisation
ratio), `figures` the PNG drawing, `report` the run and the Markdown, `command` the CLI.
"""

from __future__ import annotations

from monitor.backtest.command import add_backtest_arguments, backtest_main

__all__ = ["add_backtest_arguments", "backtest_main"]
