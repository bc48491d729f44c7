"""The SIMULATED cascade market on the Hyperliquid protocol: see monitor/sim/cascade.py.

Not real data. Re-exported here so that tests and benchmarks keep importing
`fake_venues.cascade`; the one copy of the script lives in the package (`liqmon demo`
plays it too).
"""

from __future__ import annotations

from monitor.sim.cascade import (
    BASE_PRICE,
    BOOK_LEVELS,
    BOOK_STEP,
    PHASES,
    Phase,
    Script,
    cascade_path,
    phase_at,
)

__all__ = [
    "BASE_PRICE",
    "BOOK_LEVELS",
    "BOOK_STEP",
    "PHASES",
    "Phase",
    "Script",
    "cascade_path",
    "phase_at",
]
