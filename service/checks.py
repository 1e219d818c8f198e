"""Scheduled checks in the store: generated idempotently, swept when their window ends.

Every node may run generation and the sweep at the same time. Generation inserts with
ON CONFLICT DO NOTHING on a check id derived from (staff, day, slot) and on
UNIQUE(staff_id, due_at), and only the rows it actually inserted get a join link and
a ``check.scheduled`` event. The sweep closes a check with a conditional UPDATE, so
only the worker that changed the row writes its MISSED record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.calendar import DayStatus, day_status
from service.clock import utcnow
from service.links import issue_link
from service.org import load_policy
from service.outbox import enqueue
from service.overrides import get_override
from service.policy import Policy
from service.records import iso, lock_chain, record_missed_many
from service.scheduling import Schedule, offset_key, slots_for
from service.schema import calls, checks, schedules, staff

GENERATE_CHUNK = 200
SWEEP_BATCH = 100
# An open call younger than this keeps its check from being swept as missed.
CALL_GRACE = timedelta(minutes=30)
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


async def sweep(
    engine: AsyncEngine, at: datetime, *, key: Ed25519PrivateKey, call_grace: timedelta = CALL_GRACE
) -> int:
    """Close every scheduled check whose window ended before ``at`` with no call in
    progress as MISSED; returns how many this call closed (others may close some)."""
    live_call = exists().where(
        calls.c.check_id == checks.c.id,
        calls.c.ended_at.is_(None),
        calls.c.started_at >= at - call_grace,
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
            closed += len(await record_missed_many(conn, ids, key=key))
        if len(ids) < SWEEP_BATCH:
            return closed
