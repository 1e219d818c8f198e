"""When to try a delivery again: the schedule, its jitter and the receiver's Retry-After.

Pure functions of their inputs (the random draw is passed in), so the schedule can be
tested without waiting and replaced in tests by one measured in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE = ("0s", "5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
MAX_RETRY_AFTER_S = 24 * 3600.0


def parse_duration(text: str) -> float:
    """``"5m"`` → 300.0; a bare number is seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 0s, 5s, 5m, 2h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class RetrySchedule:
    """``delays[n]`` is the wait before attempt n+1; after ``len(delays)`` attempts, fail."""

    delays: tuple[float, ...]
    jitter: float = 0.1  # each wait is stretched or shrunk by up to this fraction

    @classmethod
    def parse(cls, items: Sequence[str]) -> RetrySchedule:
        delays = tuple(parse_duration(i) for i in items)
        if not delays:
            raise ValueError("the retry schedule needs at least one attempt")
        return cls(delays)

    @property
    def max_attempts(self) -> int:
        return len(self.delays)

    def next_delay(
        self, attempts_done: int, retry_after: float | None, draw: float
    ) -> float | None:
        """Seconds until the next attempt, or None when the schedule is spent.

        ``draw`` is uniform in [0, 1). A receiver's Retry-After lengthens the wait (up to a
        day) but never shortens it, so a busy receiver is not hammered.
        """
        if attempts_done >= len(self.delays):
            return None
        delay = self.delays[attempts_done] * (1 + self.jitter * (2 * draw - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
        return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
