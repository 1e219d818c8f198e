"""When a staff member's checks fall on a given day: local check times to UTC windows.

Check times are wall-clock times in the policy's zone (Asia/Jakarta, UTC+7, no DST);
the results are UTC instants, which is what the store keeps. The optional spot-check
offset is derived from a server secret with HMAC, not drawn from a random generator,
so every node (and every re-run after a restart) computes the same instant for the
same (staff, day, slot) and the UNIQUE(staff_id, due_at) constraint can make
generation idempotent. docs/scheduling.md explains the fairness trade-off.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from service.policy import Policy, parse_hhmm

OFFSET_KEY_LABEL = b"hadir/schedule-offset/v1"


@dataclass(frozen=True)
class Schedule:
    """Check times (local, HH:MM), the half-width of each window, the spot-check range."""

    check_times: tuple[time, ...]
    window_minutes: int
    random_offset_minutes: int = 0

    @classmethod
    def from_policy(cls, policy: Policy) -> Schedule:
        return cls(policy.check_times, policy.check_window_minutes, policy.random_offset_minutes)

    @classmethod
    def from_row(cls, check_times: Sequence[Any], window: int, offset: int) -> Schedule:
        """A ``schedules`` row: check times as a JSON list of "HH:MM"."""
        times = tuple(sorted({parse_hhmm("check_times", t) for t in check_times}))
        return cls(times, window, offset)


@dataclass(frozen=True)
class Slot:
    """One check: its nominal local time, the offset applied, and its UTC window."""

    nominal: time
    offset_minutes: int
    due_at: datetime
    window_start: datetime
    window_end: datetime


def offset_key(server_secret: bytes) -> bytes:
    """A key for offsets only, derived from a secret all nodes share (domain separation)."""
    return hmac.new(server_secret, OFFSET_KEY_LABEL, hashlib.sha256).digest()


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _midpoint(a: int, b: int) -> int:
    return -(-(a + b) // 2)  # ceil: the boundary between neighbouring slots' ranges


def offset_bounds(schedule: Schedule, policy: Policy, index: int) -> tuple[int, int]:
    """The range of offsets (minutes) slot ``index`` may take.

    At most ±random_offset_minutes, inside working hours, and with its whole window on
    its own side of the midpoint to each neighbouring slot: slots keep their order,
    two checks of one person are never open at once (so one call cannot leave the
    other missed), and never fall on one instant (which UNIQUE(staff_id, due_at) would
    silently merge). A slot with no room to move, e.g. a check time an admin set
    outside working hours, keeps its time.
    """
    limit, window = schedule.random_offset_minutes, schedule.window_minutes
    minutes = [_minutes(t) for t in schedule.check_times]
    at = minutes[index]
    lo = max(at - limit, _minutes(policy.work_start))
    hi = min(at + limit, _minutes(policy.work_end))
    if index > 0:
        lo = max(lo, _midpoint(minutes[index - 1], at) + window)
    if index + 1 < len(minutes):
        hi = min(hi, _midpoint(at, minutes[index + 1]) - window - 1)
    return min(lo, at) - at, max(hi, at) - at


def spot_offset(key: bytes, staff_id: str, day: date, nominal: time, lo: int, hi: int) -> int:
    """A whole number of minutes in [lo, hi], uniform and reproducible from the key."""
    if lo == hi:
        return lo
    message = f"{staff_id}\x1f{day.isoformat()}\x1f{nominal:%H:%M}".encode()
    draw = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big")
    return lo + draw % (hi - lo + 1)  # bias < 2**-50 for ranges of a few hundred


def slots_for(
    day: date, staff_id: str, schedule: Schedule, policy: Policy, key: bytes
) -> list[Slot]:
    """The checks of ``staff_id`` on ``day`` (a local date), in time order."""
    zone = policy.zone
    window = timedelta(minutes=schedule.window_minutes)
    out = []
    for index, nominal in enumerate(schedule.check_times):
        lo, hi = offset_bounds(schedule, policy, index)
        offset = spot_offset(key, staff_id, day, nominal, lo, hi)
        local = datetime.combine(day, nominal, tzinfo=zone) + timedelta(minutes=offset)
        due = local.astimezone(UTC)
        out.append(Slot(nominal, offset, due, due - window, due + window))
    return out
