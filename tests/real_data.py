"""Where the real recorded market data lives: ../shared/data/real beside the repository.

Tests read it in place (its licences do not allow copying it here). REAL_DATA_DIR overrides
the location (not a LIQMON_* name: those are configuration overrides, and an unknown one stops
`liqmon`). Tests that need it fail, never skip, when it is missing.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

REAL_DATA = Path(
    os.environ.get(
        "REAL_DATA_DIR",
        Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real",
    )
)
CAPTURES = REAL_DATA / "ws_captures"


def capture_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(recv_ns, raw JSON) per line of a gzip `<recv_ns> <json>` capture (hftbacktest)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            recv, _, raw = line.rstrip("\n").partition(" ")
            yield int(recv), raw
