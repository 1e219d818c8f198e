"""The demo organisation loaded by ``hadir serve --demo`` (and so by ``make run``).

Loading it again (every restart of ``make run``) changes nothing that is already
there: the roster import is idempotent, a staff member who still has an open spot
check gets no second one, and today's regular checks are made at once (the same
``generate_checks`` the 10-minute job runs, so they are not made twice either).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.checks import JoinLinks, generate_checks, not_working
from service.clock import utcnow
from service.links import issue_link
from service.org import find_person, import_roster, load_policy
from service.schema import checks

DEMO_ROSTER = Path(__file__).with_name("data") / "demo_roster.json"
DEMO_SUPERVISOR = "198001012005011001"
DEMO_STAFF = ("199203152019032001", "199507222020121002", "199811302022032003")
# A spot check open now for each demo staff member working from home today, so a call
# can be tried at once, whatever the time of day; unanswered, it ends MISSED like any
# other check. (One for someone not working from home today would only be cancelled.)
SPOT_CHECK_WINDOW = timedelta(minutes=30)
SPOT_CHECK_PREFIX = "chk_demo_"


@dataclass(frozen=True)
class PersonLink:
    id: str
    name: str
    url: str


@dataclass(frozen=True)
class DemoLinks:
    supervisor: PersonLink
    staff: tuple[PersonLink, ...]
    spot_checks: int
    """Spot checks open now (made by this load or still open from an earlier one)."""
    regular_checks: int
    """Today's regular checks made by this load."""


async def load_demo(engine: AsyncEngine, links: JoinLinks, ttl: timedelta) -> DemoLinks:
    """Import the demo roster, make today's checks, open a spot check for each staff
    member without one, and issue fresh links for its people."""
    await import_roster(engine, DEMO_ROSTER, actor="demo")
    now = utcnow()
    async with engine.connect() as conn:
        policy = await load_policy(conn)
    today = await generate_checks(engine, now.astimezone(policy.zone).date(), links=links, now=now)
    await add_spot_checks(engine, now)
    async with engine.begin() as conn:

        async def link(role: str, person_id: str) -> PersonLink:
            person = await find_person(conn, role, person_id)
            assert person is not None
            url, _ = await issue_link(
                conn, links.secret, links.base_url, role, person_id, ttl, actor="demo"
            )
            return PersonLink(person_id, person.name, url)

        sup = await link("supervisor", DEMO_SUPERVISOR)
        staff = tuple([await link("staff", sid) for sid in DEMO_STAFF])
        spot = await _with_open_spot(conn, now)
    return DemoLinks(sup, staff, len(spot), today.created)


async def _with_open_spot(conn: AsyncConnection, now: datetime) -> set[str]:
    """The demo staff members who have a spot check open at ``now``."""
    rows = await conn.execute(
        select(checks.c.staff_id).where(
            checks.c.id.startswith(SPOT_CHECK_PREFIX),
            checks.c.status == "scheduled",
            checks.c.window_end > now,
        )
    )
    return {row.staff_id for row in rows}


async def add_spot_checks(engine: AsyncEngine, now: datetime) -> None:
    """One check due now, with the uniform of the day, for each demo staff member who
    works from home today and has no spot check open."""
    async with engine.begin() as conn:
        policy = await load_policy(conn)
        rule = policy.uniform_for(now.astimezone(policy.zone).date())
        due = [
            SimpleNamespace(id=staff_id, staff_id=staff_id, due_at=now) for staff_id in DEMO_STAFF
        ]
        skip = (await not_working(conn, due, policy)).keys() | await _with_open_spot(conn, now)
        for staff_id in DEMO_STAFF:
            if staff_id in skip:
                continue
            person = await find_person(conn, "staff", staff_id)
            assert person is not None and person.supervisor_id is not None
            await conn.execute(
                checks.insert().values(
                    id=f"{SPOT_CHECK_PREFIX}{secrets.token_hex(8)}",
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
