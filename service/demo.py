"""The demo organisation loaded by ``hadir serve --demo`` (and so by ``make run``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.links import issue_link
from service.org import find_person, import_roster, load_policy
from service.schema import checks

DEMO_ROSTER = Path(__file__).with_name("data") / "demo_roster.json"
DEMO_SUPERVISOR = "198001012005011001"
DEMO_STAFF = ("199203152019032001", "199507222020121002", "199811302022032003")
# A spot check open now for each demo staff member, so a call can be tried at once,
# whatever the time of day; unanswered, it ends MISSED like any other check.
SPOT_CHECK_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class DemoLinks:
    supervisor: str
    staff: dict[str, str]
    spot_checks: int


async def load_demo(engine: AsyncEngine, secret: bytes, base_url: str, ttl: timedelta) -> DemoLinks:
    """Import the demo roster (idempotent), open a spot check for each staff member and
    issue fresh links for its people."""
    await import_roster(engine, DEMO_ROSTER, actor="demo")
    spot = await add_spot_checks(engine, utcnow())
    async with engine.begin() as conn:
        sup, _ = await issue_link(
            conn, secret, base_url, "supervisor", DEMO_SUPERVISOR, ttl, actor="demo"
        )
        staff = {
            sid: (await issue_link(conn, secret, base_url, "staff", sid, ttl, actor="demo"))[0]
            for sid in DEMO_STAFF
        }
    return DemoLinks(sup, staff, spot)


async def add_spot_checks(engine: AsyncEngine, now: datetime) -> int:
    """One check per demo staff member, due now, with the uniform of the day."""
    async with engine.begin() as conn:
        policy = await load_policy(conn)
        rule = policy.uniform_for(now.astimezone(policy.zone).date())
        for staff_id in DEMO_STAFF:
            person = await find_person(conn, "staff", staff_id)
            assert person is not None and person.supervisor_id is not None
            await conn.execute(
                checks.insert().values(
                    id=f"chk_demo_{secrets.token_hex(8)}",
                    staff_id=staff_id,
                    supervisor_id=person.supervisor_id,
                    unit_id=person.unit_id,
                    due_at=now,
                    window_start=now - timedelta(minutes=1),
                    window_end=now + SPOT_CHECK_WINDOW,
                    uniform_policy=rule.policy if rule else "any",
                    status="scheduled",
                    created_at=now,
                )
            )
    return len(DEMO_STAFF)
