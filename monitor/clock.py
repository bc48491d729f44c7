"""Time as a dependency: the system clock live, a manual one in tests and replays."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for timestamps, monotonic time for deadlines."""

    def time_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""


class SystemClock:
    """The real clocks."""

    def time_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""
        return time.time_ns()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (tests, deterministic replay)."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def time_ns(self) -> int:
        """The current simulated epoch time."""
        return self._now_ns

    def monotonic(self) -> float:
        """The same time in seconds."""
        return self._now_ns / 1e9

    def advance_to(self, now_ns: int) -> None:
        """Move forward to `now_ns` (never back)."""
        self._now_ns = max(self._now_ns, now_ns)
