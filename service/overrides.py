"""The admin's calendar overrides in the store: extra days off and extra working days."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit import audit
from service.calendar import Override
from service.clock import utcnow
from service.schema import calendar_overrides


async def set_override(conn: AsyncConnection, override: Override, *, actor: str) -> None:
    """Add or replace the override of one day."""
    values = {"is_workday": override.is_workday, "note": override.note}
    updated = await conn.execute(
        calendar_overrides.update().where(calendar_overrides.c.day == override.day).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(
            calendar_overrides.insert().values(day=override.day, created_at=utcnow(), **values)
        )
    await audit(conn, actor, "calendar.override_set", override.day.isoformat(), {**values})


async def remove_override(conn: AsyncConnection, day: date, *, actor: str) -> bool:
    removed = await conn.execute(calendar_overrides.delete().where(calendar_overrides.c.day == day))
    if removed.rowcount:
        await audit(conn, actor, "calendar.override_removed", day.isoformat())
    return bool(removed.rowcount)


async def list_overrides(
    conn: AsyncConnection, start: date | None = None, end: date | None = None
) -> list[Override]:
    """Overrides from ``start`` to ``end`` inclusive, by date."""
    query = select(calendar_overrides).order_by(calendar_overrides.c.day)
    if start is not None:
        query = query.where(calendar_overrides.c.day >= start)
    if end is not None:
        query = query.where(calendar_overrides.c.day <= end)
    rows = (await conn.execute(query)).all()
    return [Override(r.day, r.is_workday, r.note) for r in rows]


async def get_override(conn: AsyncConnection, day: date) -> Override | None:
    found = await list_overrides(conn, day, day)
    return found[0] if found else None
