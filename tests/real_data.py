"""Where the real recorded market data lives: ../shared/data/real beside the repository.

Tests read it in place (its licences do not allow copying it here). LIQMON_REAL_DATA
overrides the location. Tests that need it fail, never skip, when it is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

REAL_DATA = Path(
    os.environ.get(
        "LIQMON_REAL_DATA",
        Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real",
    )
)
CAPTURES = REAL_DATA / "ws_captures"
