"""Counting rejected frames by (venue, reason), logging each reason at most once a minute.

A flood of bad frames must neither fill the log nor go unnoticed: counts are exact (the
metric layer exports them), the log shows one sample line per reason per minute with how
many were suppressed since the last line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from monitor.feeds.base import FeedDecodeError

LOG_INTERVAL_S = 60.0

log = logging.getLogger("liqmon.feeds")


class RejectLog:
    """Counts of rejects and a rate-limited log; `monotonic` is injected for tests."""

    def __init__(self, monotonic: Callable[[], float], interval_s: float = LOG_INTERVAL_S) -> None:
        self._monotonic = monotonic
        self._interval_s = interval_s
        self.counts: Counter[tuple[str, str]] = Counter()
        self._last_logged: dict[tuple[str, str], float] = {}
        self._suppressed: Counter[tuple[str, str]] = Counter()

    def reject(self, error: FeedDecodeError) -> None:
        """Count one rejected frame and log it unless this reason was logged recently."""
        key = (error.venue, error.reason)
        self.counts[key] += 1
        now = self._monotonic()
        last = self._last_logged.get(key)
        if last is not None and now - last < self._interval_s:
            self._suppressed[key] += 1
            return
        suppressed = self._suppressed.pop(key, 0)
        self._last_logged[key] = now
        log.warning(
            "rejected %s frame (%s): %s%s",
            error.venue,
            error.reason,
            error.detail,
            f" [{suppressed} more since last report]" if suppressed else "",
        )
