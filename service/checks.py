"""Scheduled checks in the store: generated idempotently, swept when their window ends.

Every node may run generation and the sweep at the same time. Generation inserts with
ON CONFLICT DO NOTHING on a check id derived from (staff, day, slot) and on
UNIQUE(staff_id, due_at), and only the rows it actually inserted get a join link and
a ``check.scheduled`` event. The sweep closes a check with a conditional UPDATE, so
only the worker that changed the row writes its record: MISSED when nobody answered,
INCONCLUSIVE ``interrupted`` when a call was answered or cut short by the server (a
crash is never a missed check).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Row, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.calendar import DayStatus, day_status
from service.clock import utcnow
from service.links import issue_link
from service.org import load_policy
from service.outbox import enqueue
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
from service.scheduling import Schedule, offset_key, slots_for
from service.schema import calls, checks, schedules, staff
from signaling.snapshot import CallSnapshot

GENERATE_CHUNK = 200
SWEEP_BATCH = 100
# A live call's row whose heartbeat is older than this belongs to a process that died.
CALL_LEASE = timedelta(seconds=30)
ORPHANED = "interrupted"  # the status the sweep gives such a row
# Rows of calls the server cut short, and how their records say they ended.
CUT_SHORT = {
    "server_shutdown": "server_stopped",
    ORPHANED: "server_restarted",
    "staff_dropped": "staff_dropped",
}
ANY_UNIFORM = "any"


@dataclass(frozen=True)
class JoinLinks:
    """What a join link needs: the link secret (also the root of the offset key) and
    the public base URL."""

    secret: bytes
    base_url: str


@dataclass(frozen=True)
class GenerateSummary:
    day: DayStatus
    created: int = 0
    existing: int = 0
    past: int = 0  # slots whose window had ended before generation: never created


def check_id_for(staff_id: str, day: date, nominal: time) -> str:
    """One id per (staff, day, slot): a changed offset cannot add a second check."""
    digest = hashlib.sha256(f"{staff_id}\x1f{day.isoformat()}\x1f{nominal:%H:%M}".encode())
    return f"chk_{digest.hexdigest()[:32]}"


async def _schedules(conn: AsyncConnection, policy: Policy) -> dict[str | None, Schedule]:
    """Schedules by unit id; None is the organisation's, falling back to the policy."""
    rows = (await conn.execute(select(schedules))).all()
    found = {
        r.unit_id: Schedule.from_row(r.check_times, r.window_minutes, r.random_offset_minutes)
        for r in rows
    }
    found.setdefault(None, Schedule.from_policy(policy))
    return found


async def _candidates(
    conn: AsyncConnection, day: date, policy: Policy, key: bytes
) -> list[dict[str, Any]]:
    """Every check the day should have, for active staff working from home that day."""
    by_unit = await _schedules(conn, policy)
    rule = policy.uniform_for(day)
    uniform = rule.policy if rule else ANY_UNIFORM
    weekday = str(day.isoweekday())
    people = (
        await conn.execute(
            select(staff.c.id, staff.c.unit_id, staff.c.supervisor_id, staff.c.wfh_days)
            .where(staff.c.active.is_(True))
            .order_by(staff.c.id)
        )
    ).all()
    out = []
    for person in people:
        if weekday not in (person.wfh_days or "").split(","):
            continue
        schedule = by_unit.get(person.unit_id, by_unit[None])
        for slot in slots_for(day, person.id, schedule, policy, key):
            out.append(
                {
                    "id": check_id_for(person.id, day, slot.nominal),
                    "staff_id": person.id,
                    "supervisor_id": person.supervisor_id,
                    "unit_id": person.unit_id,
                    "due_at": slot.due_at,
                    "window_start": slot.window_start,
                    "window_end": slot.window_end,
                    "uniform_policy": uniform,
                    "status": "scheduled",
                }
            )
    return out


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(checks)


async def _insert_new(
    conn: AsyncConnection, rows: list[dict[str, Any]], links: JoinLinks, label: str, now: datetime
) -> int:
    """Insert what is not there yet; link and announce only the rows this call inserted."""
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
    for row in rows:
        if row["id"] not in inserted:
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
    return len(inserted)


async def generate_checks(
    engine: AsyncEngine, day: date, *, links: JoinLinks, now: datetime | None = None
) -> GenerateSummary:
    """Make the checks of ``day`` (a date in the policy's zone); safe to repeat and to
    run on several nodes at once. Slots whose window already ended are skipped: a
    check nobody could have been told about must not become a MISSED record."""
    now = now or utcnow()
    async with engine.connect() as conn:
        policy = await load_policy(conn)
        status = day_status(day, policy, await get_override(conn, day))
        if not status.working:
            return GenerateSummary(status)
        wanted = await _candidates(conn, day, policy, offset_key(links.secret))
    rule = policy.uniform_for(day)
    label = rule.label if rule else ANY_UNIFORM
    future = [r for r in wanted if r["window_end"] > now]
    created = 0
    for start in range(0, len(future), GENERATE_CHUNK):
        async with engine.begin() as conn:
            chunk = future[start : start + GENERATE_CHUNK]
            created += await _insert_new(conn, chunk, links, label, now)
    return GenerateSummary(status, created, len(future) - created, len(wanted) - len(future))


def _interrupted_result(row: Row[Any]) -> CallResult:
    """The result of a call cut short, from the evidence its row last saved: what was
    seen, INCONCLUSIVE with ``interrupted`` first (``CallSnapshot.interrupted``)."""
    seen = CallSnapshot.from_json(row.evidence) if row.evidence else CallSnapshot.nothing_seen()
    return CallResult(
        started_at=row.answered_at or row.started_at,
        ended_at=row.ended_at,
        verdict=seen.interrupted(),
        call_id=row.id,
        end=CUT_SHORT.get(row.status, row.status),
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
    beat = func.coalesce(calls.c.heartbeat_at, calls.c.started_at)
    done = await conn.execute(
        calls.update()
        .where(calls.c.ended_at.is_(None), beat < at - lease)
        .values(ended_at=beat, status=ORPHANED)
    )
    return done.rowcount


async def sweep(
    engine: AsyncEngine, at: datetime, *, key: Ed25519PrivateKey, lease: timedelta = CALL_LEASE
) -> int:
    """Close every scheduled check whose window ended before ``at`` with no call in
    progress; returns how many this call closed (others may close some).

    Calls whose heartbeat stopped more than ``lease`` ago are closed first (their
    process died). A check that a call was answered for, or that the server cut a call
    of short, is recorded INCONCLUSIVE ``interrupted`` from that call's evidence; only
    a check nobody answered, with no call cut short, is MISSED.
    """
    async with engine.begin() as conn:
        await close_orphaned_calls(conn, at, lease)
    live_call = exists().where(
        calls.c.check_id == checks.c.id,
        calls.c.ended_at.is_(None),
        func.coalesce(calls.c.heartbeat_at, calls.c.started_at) >= at - lease,
    )
    due = (
        select(checks.c.id)
        .where(checks.c.status == "scheduled", checks.c.window_end < at, ~live_call)
        .order_by(checks.c.window_end, checks.c.id)
        .limit(SWEEP_BATCH)
    )
    closed = 0
    while True:
        async with engine.begin() as conn:
            await lock_chain(conn)
            ids = list((await conn.execute(due)).scalars())
            cut = await _cut_short(conn, ids)
            written = await complete_checks_many(conn, list(cut.items()), key=key)
            closed += sum(isinstance(r, Record) for r in written)
            missed = [i for i in ids if i not in cut]
            closed += len(await record_missed_many(conn, missed, key=key))
        if len(ids) < SWEEP_BATCH:
            return closed
