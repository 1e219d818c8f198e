"""Working days: the policy's weekdays, minus Indonesian holidays, plus admin overrides.

Holidays come from the ``holidays`` package with the policy's categories. The default
is PUBLIC and GOVERNMENT: collective leave (*cuti bersama*, e.g. "Christmas Joint
Holiday") is in GOVERNMENT, which the package leaves out unless asked. Islamic and
lunar dates of years not yet decreed are estimates, which is why an admin can add or
remove days (``calendar_overrides``). Pure: the overrides are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import holidays

from service.policy import WEEKDAYS, Policy

COUNTRY = "ID"


@dataclass(frozen=True)
class Override:
    """An admin's decision about one day, which beats the weekday and holiday rules."""

    day: date
    is_workday: bool
    note: str = ""


@dataclass(frozen=True)
class DayStatus:
    """Whether checks run on a day, and why (for the CLI and logs)."""

    day: date
    working: bool
    reason: str


@lru_cache(maxsize=64)
def _holidays(year: int, categories: tuple[str, ...]) -> dict[date, str]:
    # Building the table runs the package's rule engine: cache it per year.
    if not categories:
        return {}
    table = holidays.country_holidays(COUNTRY, years=year, categories=categories)
    return dict(table.items())


def holiday_name(day: date, categories: tuple[str, ...]) -> str | None:
    return _holidays(day.year, tuple(sorted(categories))).get(day)


def day_status(day: date, policy: Policy, override: Override | None = None) -> DayStatus:
    """Is ``day`` (a date in the policy's time zone) a working day?"""
    if override is not None:
        kind = "working day" if override.is_workday else "day off"
        note = f": {override.note}" if override.note else ""
        return DayStatus(day, override.is_workday, f"override, {kind}{note}")
    if day.isoweekday() not in policy.work_days:
        return DayStatus(day, False, f"not a work day ({WEEKDAYS[day.isoweekday() - 1]})")
    name = holiday_name(day, policy.holiday_categories)
    if name is not None:
        return DayStatus(day, False, f"holiday: {name}")
    return DayStatus(day, True, "working day")
