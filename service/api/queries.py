"""Read queries behind the API: records and checks, filtered, in keyset pages.

Pages are keyset pages (``WHERE key > last``), so a client that syncs with
``next_cursor`` sees every row exactly once even while new ones are appended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.records import Record, RecordState
from service.schema import checks, records, staff

JAKARTA = ZoneInfo("Asia/Jakarta")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Filters:
    """Dates are Jakarta calendar days, both ends included."""

    date_from: date | None = None
    date_to: date | None = None
    unit: str | None = None
    staff: str | None = None
    status: str | None = None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), JAKARTA)


def _bound(day: date | None, days_after: int = 0) -> datetime | None:
    """The UTC instant the Jakarta day (plus ``days_after``) starts; None when there is
    none to compare with: not given, or at the end of the calendar (``9999-12-31``,
    ``0001-01-01``), which leaves that side of the span open."""
    if day is None:
        return None
    try:
        return day_start(day + timedelta(days=days_after)).astimezone(UTC)
    except OverflowError:
        return None


def _span(column: Any, filters: Filters) -> list[Any]:
    start, end = _bound(filters.date_from), _bound(filters.date_to, 1)
    conds = []
    if start is not None:
        conds.append(column >= start)
    if end is not None:
        conds.append(column < end)
    return conds


def _filtered(query: Select[Any], table: Any, filters: Filters, instant: Any) -> Select[Any]:
    conds = _span(instant, filters)
    if filters.unit is not None:
        conds.append(table.c.unit_id == filters.unit)
    if filters.staff is not None:
        conds.append(table.c.staff_id == filters.staff)
    if filters.status is not None:
        conds.append(table.c.status == filters.status)
    return query.where(*conds)


def record_json(row: Row[Any] | Record) -> dict[str, Any]:
    """A stored row, or an entry just read or written (whose body is already parsed)."""
    return {
        **record_json_head(row),
        "body": row.body if isinstance(row, Record) else json.loads(row.body),
    }


def record_json_head(row: Row[Any] | Record) -> dict[str, Any]:
    """Every field of ``record_json`` but the body."""
    return {
        "seq": row.seq,
        "id": row.id,
        "kind": row.kind,
        "check_id": row.check_id,
        "staff_id": row.staff_id,
        "unit_id": row.unit_id,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
        "signature": row.signature,
    }


def state_json(state: RecordState) -> dict[str, Any]:
    """A verification as it stands: its effective status, and every entry in order."""
    return {
        "record_id": state.record.id,
        "status": state.status,
        "review_state": state.review_state,
        "entries": [record_json(e) for e in state.entries],
    }


async def supervises(conn: AsyncConnection, supervisor_id: str, staff_id: str) -> bool:
    """Is ``staff_id`` on ``supervisor_id``'s team in the current roster?"""
    found = await conn.execute(
        select(staff.c.id).where(staff.c.id == staff_id, staff.c.supervisor_id == supervisor_id)
    )
    return found.first() is not None


async def page_records(
    conn: AsyncConnection,
    filters: Filters,
    after_seq: int | None,
    limit: int,
    *,
    supervisor: str | None = None,
) -> tuple[list[Row[Any]], int | None]:
    """Records in chain order after ``after_seq``; the second value is the next cursor."""
    query = _records_query(select(records), filters, after_seq, supervisor)
    rows, last = _cut(list((await conn.execute(query.limit(limit + 1))).all()), limit)
    return rows, None if last is None else last.seq


async def page_seqs(
    conn: AsyncConnection,
    filters: Filters,
    after_seq: int | None,
    limit: int,
    *,
    supervisor: str | None = None,
) -> tuple[list[int], int | None]:
    """``page_records``, but only the records' seqs: a page's items are kept encoded
    (``service.api.encoded_records``), so most pages need nothing else."""
    query = _records_query(select(records.c.seq), filters, after_seq, supervisor)
    return _cut(list((await conn.execute(query.limit(limit + 1))).scalars()), limit)


def _records_query(
    query: Select[Any], filters: Filters, after_seq: int | None, supervisor: str | None
) -> Select[Any]:
    query = _filtered(query, records, filters, records.c.created_at)
    if supervisor is not None:
        query = query.where(
            records.c.staff_id.in_(select(staff.c.id).where(staff.c.supervisor_id == supervisor))
        )
    if after_seq is not None:
        query = query.where(records.c.seq > after_seq)
    return query.order_by(records.c.seq)


def _cut(items: list[_T], limit: int) -> tuple[list[_T], _T | None]:
    """The first ``limit`` of ``limit + 1`` items read, and the last of them when more
    follow (the next page's cursor)."""
    more = len(items) > limit
    items = items[:limit]
    return items, items[-1] if more else None


async def get_record(conn: AsyncConnection, record_id: str) -> Row[Any] | None:
    return (await conn.execute(select(records).where(records.c.id == record_id))).first()


def check_json(row: Row[Any]) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("due_at", "window_start", "window_end", "created_at"):
        out[key] = out[key].isoformat()
    return out


async def page_checks(
    conn: AsyncConnection, filters: Filters, after: tuple[datetime, str] | None, limit: int
) -> tuple[list[Row[Any]], tuple[datetime, str] | None]:
    """Checks by due time (then id) after the ``after`` key."""
    query = _filtered(select(checks), checks, filters, checks.c.due_at)
    if after is not None:
        due, check_id = after
        query = query.where(
            or_(checks.c.due_at > due, and_(checks.c.due_at == due, checks.c.id > check_id))
        )
    rows = list(
        (await conn.execute(query.order_by(checks.c.due_at, checks.c.id).limit(limit + 1))).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].due_at, rows[-1].id) if more else None
