"""Scheduled checks in the store: generated idempotently, reconciled with the calendar,
policy and roster, swept when their window ends.

Every node may run generation and the sweep at the same time. Generation inserts with
ON CONFLICT DO NOTHING on a check id derived from (staff, day, slot) and on
UNIQUE(staff_id, due_at), and only the rows it actually inserted get a join link and
a ``check.scheduled`` event. Generation is also reconciliation: a scheduled check that
the day's plan (``service.check_plan``) no longer holds is cancelled with a
``check.cancelled`` event, and a cancelled one the plan wants again is scheduled again.
The sweep closes a check with a conditional UPDATE, so only the worker that changed the
row writes its record: MISSED when nobody answered, INCONCLUSIVE ``interrupted`` when a
call was answered or cut short (a crash is never a missed check); and it cancels
instead a check of a day its staff member does not work from home.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import ColumnElement, Row, bindparam, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.calendar import DayStatus, day_status
from service.check_plan import ANY_UNIFORM, DayPlan, Rostered, absence, plan_day
from service.clock import utcnow
from service.config import Config
from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.links import issue_link
from service.org import load_policy
from service.outbox import enqueue, enqueue_many
from service.overrides import get_override
from service.policy import Policy
from service.records import (
    CallResult,
    Record,
    complete_checks_many,
    iso,
    lock_chain,
    record_missed_many,
)
from service.scheduling import Schedule, offset_key
from service.schema import calls, checks, records, schedules, staff
from signaling.snapshot import CallSnapshot

GENERATE_CHUNK = 200
SWEEP_BATCH = 100
# A live call's row whose heartbeat is older than this belongs to a process that died.
CALL_LEASE = timedelta(seconds=30)
ORPHANED = "interrupted"  # the status the sweep gives such a row
# Rows of calls cut short, and how their records say they ended.
CUT_SHORT = {
    "server_shutdown": "server_stopped",
    ORPHANED: "server_restarted",
    "staff_dropped": "staff_dropped",
    "supervisor_dropped": "supervisor_dropped",
}


@dataclass(frozen=True)
class JoinLinks:
    """What a join link needs: the link secret (also the root of the offset key) and
    the public base URL."""

    secret: bytes
    base_url: str

    @classmethod
    def from_config(cls, config: Config) -> JoinLinks:
        return cls(load_or_create_secret(config.data_dir, LINK_SECRET_FILE), config.public_url)


@dataclass(frozen=True)
class GenerateSummary:
    day: DayStatus
    created: int = 0  # inserted, or a cancelled check scheduled again
    existing: int = 0
    past: int = 0  # slots whose window had ended before generation: never created
    cancelled: int = 0  # scheduled checks the day no longer holds


async def _schedules(conn: AsyncConnection, policy: Policy) -> dict[str | None, Schedule]:
    """Schedules by unit id; None is the organisation's, falling back to the policy."""
    rows = (await conn.execute(select(schedules))).all()
    found = {
        r.unit_id: Schedule.from_row(r.check_times, r.window_minutes, r.random_offset_minutes)
        for r in rows
    }
    found.setdefault(None, Schedule.from_policy(policy))
    return found


_ROSTERED = select(
    staff.c.id, staff.c.unit_id, staff.c.supervisor_id, staff.c.wfh_days, staff.c.active
)


async def _plan(
    conn: AsyncConnection, day: date, policy: Policy, key: bytes, now: datetime
) -> DayPlan:
    """The day's plan from the calendar, policy, roster and schedules as stored now."""
    status = day_status(day, policy, await get_override(conn, day))
    people = [Rostered.from_row(r) for r in (await conn.execute(_ROSTERED)).all()]
    return plan_day(status, policy, people, await _schedules(conn, policy), key, now)


def _day_span(day: date, policy: Policy) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), policy.zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), policy.zone)


_last_beat = func.coalesce(calls.c.heartbeat_at, calls.c.started_at)


def live_call(at: datetime, lease: timedelta = CALL_LEASE) -> ColumnElement[bool]:
    """A call on the check still open, its heartbeat younger than ``lease``: it holds
    the check."""
    return exists().where(
        calls.c.check_id == checks.c.id, calls.c.ended_at.is_(None), _last_beat >= at - lease
    )


_HAS_RECORD = exists().where(records.c.check_id == checks.c.id)


async def cancel_checks(conn: AsyncConnection, reasons: Mapping[str, str], now: datetime) -> int:
    """Cancel the still scheduled ones of these checks (id → reason) with a
    ``check.cancelled`` event each; a check with a call in progress or a record is left
    alone. Conditional, like closing: only the worker that changed a row announces it."""
    ids = list(reasons)
    cancelled = 0
    for start in range(0, len(ids), GENERATE_CHUNK):
        rows = (
            await conn.execute(
                checks.update()
                .where(
                    checks.c.id.in_(ids[start : start + GENERATE_CHUNK]),
                    checks.c.status == "scheduled",
                    ~live_call(now),
                    ~_HAS_RECORD,
                )
                .values(status="cancelled")
                .returning(*checks.c)
            )
        ).all()
        await enqueue_many(
            conn,
            [
                (
                    "check.cancelled",
                    {
                        "check_id": r.id,
                        "staff_id": r.staff_id,
                        "supervisor_id": r.supervisor_id,
                        "unit_id": r.unit_id,
                        "due_at": iso(r.due_at),
                        "window_start": iso(r.window_start),
                        "window_end": iso(r.window_end),
                        "reason": reasons[r.id],
                    },
                )
                for r in rows
            ],
        )
        cancelled += len(rows)
    return cancelled


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(checks)


_REINSTATE = (
    checks.update()
    .where(checks.c.id.in_(bindparam("ids", expanding=True)), checks.c.status == "cancelled")
    .values(status="scheduled")
    .returning(checks.c.id)
)
_RESET = (
    checks.update()
    .where(checks.c.id == bindparam("b_id"))
    .values(
        due_at=bindparam("b_due_at"),
        window_start=bindparam("b_window_start"),
        window_end=bindparam("b_window_end"),
        uniform_policy=bindparam("b_uniform_policy"),
    )
)


async def _insert_new(
    conn: AsyncConnection, rows: list[dict[str, Any]], links: JoinLinks, label: str, now: datetime
) -> int:
    """Insert what is not there yet and schedule again what was cancelled; link and
    announce only the rows this call inserted or took back from cancelled."""
    inserted = set(
        (
            await conn.execute(
                _insert(conn)
                .values([{**r, "created_at": now} for r in rows])
                .on_conflict_do_nothing()
                .returning(checks.c.id)
            )
        ).scalars()
    )
    others = [r["id"] for r in rows if r["id"] not in inserted]
    back = set((await conn.execute(_REINSTATE, {"ids": others})).scalars()) if others else set()
    if back:
        await conn.execute(
            _RESET,
            [
                {f"b_{k}": r[k] for k in ("id", "due_at", "window_start", "window_end")}
                | {"b_uniform_policy": r["uniform_policy"]}
                for r in rows
                if r["id"] in back
            ],
        )
    for row in rows:
        if row["id"] not in inserted | back:
            continue
        url, claims = await issue_link(
            conn,
            links.secret,
            links.base_url,
            "staff",
            row["staff_id"],
            row["window_end"] - now,
            actor="scheduler",
        )
        await enqueue(
            conn,
            "check.scheduled",
            {
                "check_id": row["id"],
                "staff_id": row["staff_id"],
                "supervisor_id": row["supervisor_id"],
                "unit_id": row["unit_id"],
                "due_at": iso(row["due_at"]),
                "window_start": iso(row["window_start"]),
                "window_end": iso(row["window_end"]),
                "uniform": {"policy": row["uniform_policy"], "label": label},
                "join_url": url,
                "join_url_expires_at": iso(claims.expires_at),
            },
        )
    return len(inserted | back)


async def generate_checks(
    engine: AsyncEngine, day: date, *, links: JoinLinks, now: datetime | None = None
) -> GenerateSummary:
    """Bring the checks of ``day`` (a date in the policy's zone) in line with its plan:
    cancel the scheduled ones it no longer holds, make (or schedule again) the ones it
    holds. Safe to repeat and to run on several nodes at once. Slots whose window
    already ended are skipped: a check nobody could have been told about must not
    become a MISSED record."""
    now = now or utcnow()
    async with engine.connect() as conn:
        policy = await load_policy(conn)
        plan = await _plan(conn, day, policy, offset_key(links.secret), now)
        start, end = _day_span(day, policy)
        scheduled = (
            await conn.execute(
                select(checks.c.id, checks.c.staff_id, checks.c.due_at).where(
                    checks.c.status == "scheduled", checks.c.due_at >= start, checks.c.due_at < end
                )
            )
        ).all()
    reasons = {r.id: plan.cancel_reason(r.id, r.staff_id, r.due_at) for r in scheduled}
    unwanted = {check_id: reason for check_id, reason in reasons.items() if reason is not None}
    cancelled = 0
    if unwanted:
        async with engine.begin() as conn:
            cancelled = await cancel_checks(conn, unwanted, now)
    if not plan.status.working:
        return GenerateSummary(plan.status, cancelled=cancelled)
    rule = policy.uniform_for(day)
    label = rule.label if rule else ANY_UNIFORM
    future = [c.row() for c in plan.open]
    created = 0
    for start_at in range(0, len(future), GENERATE_CHUNK):
        async with engine.begin() as conn:
            chunk = future[start_at : start_at + GENERATE_CHUNK]
            created += await _insert_new(conn, chunk, links, label, now)
    past = len(plan.checks) - len(future)
    return GenerateSummary(plan.status, created, len(future) - created, past, cancelled)


async def _generated_days(conn: AsyncConnection, policy: Policy, now: datetime) -> list[date]:
    """The days a change may concern: from the first still scheduled check (or today)
    to the last check ahead, those of them that hold any check (were generated)."""
    lo, hi = (
        await conn.execute(
            select(func.min(checks.c.due_at), func.max(checks.c.due_at)).where(
                (checks.c.status == "scheduled") | (checks.c.window_end > now)
            )
        )
    ).one()
    if lo is None:
        return []
    first, last = (instant.astimezone(policy.zone).date() for instant in (lo, hi))
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [d for d in days if await _has_checks(conn, d, policy)]


async def _has_checks(conn: AsyncConnection, day: date, policy: Policy) -> bool:
    start, end = _day_span(day, policy)
    found = await conn.execute(
        select(checks.c.id).where(checks.c.due_at >= start, checks.c.due_at < end).limit(1)
    )
    return found.first() is not None


async def reconcile_checks(
    engine: AsyncEngine,
    *,
    links: JoinLinks,
    day: date | None = None,
    now: datetime | None = None,
) -> list[GenerateSummary]:
    """After a change to the calendar (of ``day``), the policy or the roster (every
    day): regenerate each day that already has checks, so a check whose reason to exist
    went away is cancelled and one that came back is made. Days not generated yet are
    left to generation as usual."""
    now = now or utcnow()
    async with engine.connect() as conn:
        policy = await load_policy(conn)
        if day is None:
            days = await _generated_days(conn, policy, now)
        else:
            days = [day] if await _has_checks(conn, day, policy) else []
    return [await generate_checks(engine, d, links=links, now=now) for d in days]


async def not_working(conn: AsyncConnection, due: Sequence[Any], policy: Policy) -> dict[str, str]:
    """Of these checks (id, staff_id, due_at), those of a day that is not, now, a
    working-from-home day for their staff member, with the reason."""
    ids = {r.staff_id for r in due}
    people = {
        r.id: Rostered.from_row(r)
        for r in (await conn.execute(_ROSTERED.where(staff.c.id.in_(ids)))).all()
    }
    statuses: dict[date, DayStatus] = {}
    out = {}
    for row in due:
        day = row.due_at.astimezone(policy.zone).date()
        if day not in statuses:
            statuses[day] = day_status(day, policy, await get_override(conn, day))
        reason = absence(statuses[day], people.get(row.staff_id))
        if reason is not None:
            out[row.id] = reason
    return out


def _interrupted_result(row: Row[Any]) -> CallResult:
    """The result of a call cut short, from the evidence its row last saved: what was
    seen, INCONCLUSIVE with ``interrupted`` first (``CallSnapshot.interrupted``)."""
    seen = CallSnapshot.from_json(row.evidence) if row.evidence else CallSnapshot.nothing_seen()
    return CallResult(
        started_at=row.answered_at or row.started_at,
        ended_at=row.ended_at,
        verdict=seen.interrupted(),
        call_id=row.id,
        end=CUT_SHORT.get(row.status),  # None: not known (a record that failed)
    )


async def _cut_short(conn: AsyncConnection, check_ids: list[str]) -> dict[str, CallResult]:
    """Of ``check_ids``, those a call was answered for or the server cut a call of
    short, each with the result of its last such call (answered ones first)."""
    if not check_ids:
        return {}
    rows = list(
        await conn.execute(
            select(calls).where(
                calls.c.check_id.in_(check_ids),
                calls.c.ended_at.is_not(None),
                or_(calls.c.answered_at.is_not(None), calls.c.status.in_(CUT_SHORT)),
            )
        )
    )
    rows.sort(key=lambda r: (r.answered_at is not None, r.started_at), reverse=True)
    found: dict[str, CallResult] = {}
    for row in rows:
        found.setdefault(row.check_id, _interrupted_result(row))
    return found


async def close_orphaned_calls(conn: AsyncConnection, at: datetime, lease: timedelta) -> int:
    """Close the rows of live calls whose heartbeat is older than ``lease``: their
    process is gone. Each ends at its last heartbeat, with what it had saved."""
    done = await conn.execute(
        calls.update()
        .where(calls.c.ended_at.is_(None), _last_beat < at - lease)
        .values(ended_at=_last_beat, status=ORPHANED)
    )
    return done.rowcount


async def sweep(
    engine: AsyncEngine, at: datetime, *, key: Ed25519PrivateKey, lease: timedelta = CALL_LEASE
) -> int:
    """Close every scheduled check whose window ended before ``at`` with no call in
    progress; returns how many this call closed (others may close some).

    Calls whose heartbeat stopped more than ``lease`` ago are closed first (their
    process died). A check of a day its staff member does not work from home (asked
    again now: calendar, roster) is cancelled. A check that a call was answered for, or
    that had a call cut short, is recorded INCONCLUSIVE ``interrupted`` from that call's
    evidence; only a check nobody answered, with no call cut short, is MISSED.
    """
    async with engine.begin() as conn:
        await close_orphaned_calls(conn, at, lease)
    due = (
        select(checks.c.id, checks.c.staff_id, checks.c.due_at)
        .where(checks.c.status == "scheduled", checks.c.window_end < at, ~live_call(at, lease))
        .order_by(checks.c.window_end, checks.c.id)
        .limit(SWEEP_BATCH)
    )
    closed = 0
    while True:
        async with engine.begin() as conn:
            await lock_chain(conn)
            policy = await load_policy(conn)
            rows = (await conn.execute(due)).all()
            off = await not_working(conn, rows, policy)
            if off:
                await cancel_checks(conn, off, at)
            ended = [r.id for r in rows if r.id not in off]
            cut = await _cut_short(conn, ended)
            written = await complete_checks_many(conn, list(cut.items()), key=key)
            closed += sum(isinstance(r, Record) for r in written)
            missed = [i for i in ended if i not in cut]
            closed += len(await record_missed_many(conn, missed, key=key))
        if len(rows) < SWEEP_BATCH:
            return closed
