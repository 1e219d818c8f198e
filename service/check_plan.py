"""Which of a day's checks should exist (pure): the calendar, the policy and the roster.

Generation makes the checks this plan wants; after a change to the calendar, the policy
or the roster, the same plan says which scheduled checks lost their reason to exist
(they are cancelled, never missed); the sweep asks ``absence`` again before it writes
MISSED. One decision, so the three cannot disagree. The time is passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from service.calendar import DayStatus
from service.policy import MAX_RANDOM_OFFSET, Policy
from service.scheduling import Schedule, Slot, slots_for

ANY_UNIFORM = "any"
# Why a check is cancelled (the ``reason`` of a ``check.cancelled`` event).
DAY_OFF = "day_off"
NOT_ON_ROSTER = "not_on_roster"
NOT_WORKING_FROM_HOME = "not_working_from_home"
SCHEDULE_CHANGED = "schedule_changed"


@dataclass(frozen=True)
class Rostered:
    """A staff member as the plan sees them: where they report and when they work from home."""

    id: str
    unit_id: str
    supervisor_id: str
    wfh_days: frozenset[int]
    active: bool = True

    @classmethod
    def from_row(cls, row: Any) -> Rostered:
        """A ``staff`` row; ``wfh_days`` is stored as a comma list of ISO weekdays."""
        days = frozenset(int(d) for d in (row.wfh_days or "").split(",") if d)
        return cls(row.id, row.unit_id, row.supervisor_id, days, bool(row.active))


def check_id_for(staff_id: str, day: date, nominal: time) -> str:
    """One id per (staff, day, slot): a changed offset cannot add a second check."""
    digest = hashlib.sha256(f"{staff_id}\x1f{day.isoformat()}\x1f{nominal:%H:%M}".encode())
    return f"chk_{digest.hexdigest()[:32]}"


def planned_id(check_id: str, staff_id: str, day: date, local_due: datetime) -> bool:
    """Was this check made by a plan (for some check time of some past schedule)? Its
    nominal time is its due time less an offset of at most ``MAX_RANDOM_OFFSET``. A
    check made another way (a demo's spot check) answers to the calendar and the roster,
    not to the schedule."""
    # Nearest first: with fixed check times (the default) the first guess is right.
    for minutes in sorted(range(-MAX_RANDOM_OFFSET, MAX_RANDOM_OFFSET + 1), key=abs):
        nominal = local_due + timedelta(minutes=minutes)
        if nominal.date() == day and check_id == check_id_for(staff_id, day, nominal.time()):
            return True
    return False


def absence(day: DayStatus, person: Rostered | None) -> str | None:
    """Why ``person`` has no checks on ``day``; None when they work from home that day."""
    if not day.working:
        return DAY_OFF
    if person is None or not person.active:
        return NOT_ON_ROSTER
    if day.day.isoweekday() not in person.wfh_days:
        return NOT_WORKING_FROM_HOME
    return None


@dataclass(frozen=True)
class PlannedCheck:
    id: str
    person: Rostered
    slot: Slot
    uniform_policy: str

    def row(self) -> dict[str, Any]:
        """The ``checks`` row this check is stored as (without ``created_at``)."""
        return {
            "id": self.id,
            "staff_id": self.person.id,
            "supervisor_id": self.person.supervisor_id,
            "unit_id": self.person.unit_id,
            "due_at": self.slot.due_at,
            "window_start": self.slot.window_start,
            "window_end": self.slot.window_end,
            "uniform_policy": self.uniform_policy,
            "status": "scheduled",
        }


@dataclass(frozen=True)
class DayPlan:
    """Every check a day should have, and why each other staff member has none."""

    status: DayStatus
    now: datetime
    zone: tzinfo
    checks: tuple[PlannedCheck, ...] = ()
    absent: Mapping[str, str] = field(default_factory=dict)  # staff id → reason

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.checks)

    @property
    def open(self) -> list[PlannedCheck]:
        """The checks whose window has not ended: only these may be made (a check
        nobody could have been told about must not become a MISSED record)."""
        return [c for c in self.checks if c.slot.window_end > self.now]

    def cancel_reason(self, check_id: str, staff_id: str, due_at: datetime) -> str | None:
        """Why a scheduled check of this day must go, or None when it stays: one the
        plan holds, or one no plan made (its staff member still works from home)."""
        if check_id in self.ids:
            return None
        if not self.status.working:
            return DAY_OFF
        if staff_id in self.absent:
            return self.absent[staff_id]
        local = due_at.astimezone(self.zone).replace(tzinfo=None)
        return SCHEDULE_CHANGED if planned_id(check_id, staff_id, self.status.day, local) else None


def plan_day(
    status: DayStatus,
    policy: Policy,
    people: Sequence[Rostered],
    schedules: Mapping[str | None, Schedule],
    key: bytes,
    now: datetime,
) -> DayPlan:
    """The checks of ``status.day``: one per slot of each person's schedule (their unit's,
    else the organisation's under key None) for everyone working from home that day."""
    day = status.day
    rule = policy.uniform_for(day)
    uniform = rule.policy if rule else ANY_UNIFORM
    planned: list[PlannedCheck] = []
    absent: dict[str, str] = {}
    for person in sorted(people, key=lambda p: p.id):
        reason = absence(status, person)
        if reason is not None:
            absent[person.id] = reason
            continue
        schedule = schedules.get(person.unit_id, schedules[None])
        for slot in slots_for(day, person.id, schedule, policy, key):
            planned.append(
                PlannedCheck(check_id_for(person.id, day, slot.nominal), person, slot, uniform)
            )
    return DayPlan(status, now, policy.zone, tuple(planned), absent)
