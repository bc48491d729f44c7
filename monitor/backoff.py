"""Reconnect delays: capped exponential backoff with full jitter, as a pure generator.

Feeds and sinks take a `delays` factory so tests can inject short, deterministic delays.
The generator is restarted (not rewound) after the first good message of a connection.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

DelayFactory = Callable[[], Iterator[float]]


def full_jitter(
    initial: float = 1.0,
    cap: float = 60.0,
    factor: float = 2.0,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Iterator[float]:
    """Yield uniform(0, d) with d = initial, initial·factor, ... capped at `cap`, forever."""
    ceiling = initial
    while True:
        yield uniform(0.0, ceiling)
        ceiling = min(cap, ceiling * factor)
