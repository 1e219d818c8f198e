"""A roster with scheduled checks whose windows have ended, ready to become records."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from service.org import import_roster_text
from service.schema import checks
from tests.api_helpers import ROSTER, START


async def seed_checks(engine: AsyncEngine, days: int = 2) -> list[str]:
    """The API tests' roster and one scheduled check per staff member per day, in due
    order; returns their ids (``chk_<staff>_<day>``)."""
    await import_roster_text(engine, json.dumps(ROSTER), "json", source="t", actor="t")
    rows: list[dict[str, Any]] = []
    for day in range(days):
        for member in ROSTER["staff"]:
            due = START + timedelta(days=day)
            rows.append(
                {
                    "id": f"chk_{member['id']}_{day}",
                    "staff_id": member["id"],
                    "supervisor_id": member["supervisor"],
                    "unit_id": member["unit"],
                    "due_at": due,
                    "window_start": due - timedelta(minutes=15),
                    "window_end": due + timedelta(minutes=15),
                    "uniform_policy": "patterned",
                    "status": "scheduled",
                    "created_at": due - timedelta(days=1),
                }
            )
    async with engine.begin() as conn:
        await conn.execute(checks.insert(), rows)
    return [r["id"] for r in rows]
