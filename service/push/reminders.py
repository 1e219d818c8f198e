"""Reminders before a check: each claimed once, on any number of nodes.

The claim is one conditional UPDATE (``reminded_at IS NULL``) returning the rows it
changed, like the sweep closes checks: two nodes running the job at once cannot both
get a row, so nobody is reminded twice. A claimed reminder whose push fails is not
tried again (it would come too late). Only people with a subscription are claimed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.push.sender import DueReminder
from service.schema import checks, push_subscriptions


async def claim_reminders(engine: AsyncEngine, now: datetime, lead: timedelta) -> list[DueReminder]:
    """The scheduled checks whose window opens within ``lead`` and not yet reminded."""
    subscribed = select(push_subscriptions.c.staff_id)
    claim = (
        checks.update()
        .where(
            checks.c.status == "scheduled",
            checks.c.reminded_at.is_(None),
            checks.c.window_start > now,
            checks.c.window_start <= now + lead,
            checks.c.staff_id.in_(subscribed),
        )
        .values(reminded_at=now)
        .returning(checks.c.id, checks.c.staff_id, checks.c.window_start)
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(claim)).all()
    return [DueReminder(r.id, r.staff_id, r.window_start) for r in rows]
