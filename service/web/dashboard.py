"""What a supervisor's and a staff member's pages show, read from the store.

A check's result is its record as it stands after every review and objection
(``records.effective_state``), so the pages show the same status the API and the
webhooks carry.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from service.records import Record, RecordState, effective_state, find_state, list_records
from service.schema import checks, records, staff

RECENT_DAYS = 14
RECENT_LIMIT = 20
REVIEW_PAGE = 25


@dataclass(frozen=True)
class CheckView:
    id: str
    staff_id: str
    staff_name: str
    due_at: datetime
    window_start: datetime
    window_end: datetime
    uniform_policy: str
    status: str  # scheduled | completed | missed | cancelled
    result: RecordState | None

    def open_at(self, now: datetime) -> bool:
        return self.status == "scheduled" and self.window_start <= now < self.window_end


def _states(entries: list[Record]) -> dict[str, RecordState]:
    """Each check's effective record, folded from its entries in chain order."""
    by_check: dict[str, list[Record]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: e.seq):
        by_check[entry.check_id].append(entry)
    return {c: effective_state(es) for c, es in by_check.items() if es[0].kind == "verification"}


async def _entries(conn: AsyncConnection, staff_id: str, since: datetime) -> list[Record]:
    out: list[Record] = []
    after = None
    while True:
        page = await list_records(conn, since=since, staff_id=staff_id, after=after, limit=1000)
        out.extend(page.records)
        if page.next_after is None:
            return out
        after = page.next_after


async def record_states(
    conn: AsyncConnection, staff_ids: list[str], since: datetime
) -> dict[str, RecordState]:
    """The effective record of every check of these staff due since ``since``."""
    entries: list[Record] = []
    for staff_id in staff_ids:
        entries.extend(await _entries(conn, staff_id, since))
    return _states(entries)


async def staff_of(conn: AsyncConnection, supervisor_id: str) -> dict[str, str]:
    rows = await conn.execute(
        select(staff.c.id, staff.c.name)
        .where(staff.c.supervisor_id == supervisor_id)
        .order_by(staff.c.name)
    )
    return {r.id: r.name for r in rows}


async def checks_of_day(
    conn: AsyncConnection, staff_names: dict[str, str], day: date, zone: ZoneInfo
) -> list[CheckView]:
    """The checks of these staff due on ``day`` (in ``zone``), by due time."""
    start = datetime.combine(day, time(0), zone)
    rows = await conn.execute(
        select(checks)
        .where(
            checks.c.staff_id.in_(list(staff_names)),
            checks.c.due_at >= start,
            checks.c.due_at < start + timedelta(days=1),
        )
        .order_by(checks.c.due_at, checks.c.staff_id)
    )
    found = list(rows)
    results = await record_states(conn, list(staff_names), start) if found else {}
    return [
        CheckView(
            id=r.id,
            staff_id=r.staff_id,
            staff_name=staff_names[r.staff_id],
            due_at=r.due_at,
            window_start=r.window_start,
            window_end=r.window_end,
            uniform_policy=r.uniform_policy,
            status=r.status,
            result=results.get(r.id),
        )
        for r in found
    ]


@dataclass(frozen=True)
class ReviewPage:
    """A page of the records waiting for review, oldest first."""

    states: list[RecordState]
    total: int
    next_after: int | None  # the seq to page on from; None on the last page


def _awaiting() -> ColumnElement[bool]:
    """The verification still waits for its supervisor: no review since it was made, or
    an objection after the last review (``effective_state``'s unreviewed / objected)."""
    later = aliased(records)
    last_kind = (
        select(later.c.kind)
        .where(
            later.c.check_id == records.c.check_id,
            later.c.seq > records.c.seq,
            later.c.kind.in_(("review", "objection")),
        )
        .order_by(later.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(last_kind, "none") != "review"


def _verifications(staff_ids: list[str], since: datetime) -> Select[tuple[int, str]]:
    return (
        select(records.c.seq, records.c.id)
        .join(checks, checks.c.id == records.c.check_id)
        .where(
            records.c.kind == "verification",
            records.c.staff_id.in_(staff_ids),
            checks.c.due_at >= since,
        )
    )


async def _states_of(conn: AsyncConnection, ids: list[str]) -> list[RecordState]:
    return [await find_state(conn, i) for i in ids]


async def awaiting_review(
    conn: AsyncConnection,
    staff_ids: list[str],
    since: datetime,
    *,
    after: int | None = None,
    limit: int = REVIEW_PAGE,
) -> ReviewPage:
    """Records a supervisor still has to confirm or override: unreviewed, or objected to
    since the last review. Oldest first, so nothing waits forever; a page at a time,
    so a backlog of thousands costs the page no more than its first ``limit``."""
    waiting = _verifications(staff_ids, since).where(_awaiting())
    total = (await conn.execute(select(func.count()).select_from(waiting.subquery()))).scalar_one()
    if after is not None:
        waiting = waiting.where(records.c.seq > after)
    rows = (await conn.execute(waiting.order_by(records.c.seq).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    states = await _states_of(conn, [r.id for r in rows])
    return ReviewPage(states, total, rows[-1].seq if more else None)


async def newest_records(
    conn: AsyncConnection, staff_ids: list[str], since: datetime, limit: int = RECENT_LIMIT
) -> list[RecordState]:
    """The newest verifications of these staff, as they stand."""
    query = _verifications(staff_ids, since).order_by(records.c.seq.desc()).limit(limit)
    return await _states_of(conn, [r.id for r in await conn.execute(query)])


@dataclass(frozen=True)
class NextCheck:
    """A staff member's next check that can still be answered: open now, or later."""

    due_at: datetime
    window_start: datetime
    window_end: datetime
    uniform_policy: str


async def next_check(conn: AsyncConnection, staff_id: str, now: datetime) -> NextCheck | None:
    row = (
        await conn.execute(
            select(checks)
            .where(
                checks.c.staff_id == staff_id,
                checks.c.status == "scheduled",
                checks.c.window_end > now,
            )
            .order_by(checks.c.window_start)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return NextCheck(row.due_at, row.window_start, row.window_end, row.uniform_policy)
