"""The demo organisation loaded by ``hadir serve --demo`` (and so by ``make run``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from service.links import issue_link
from service.org import import_roster

DEMO_ROSTER = Path(__file__).with_name("data") / "demo_roster.json"
DEMO_SUPERVISOR = "198001012005011001"
DEMO_STAFF = ("199203152019032001", "199507222020121002", "199811302022032003")


@dataclass(frozen=True)
class DemoLinks:
    supervisor: str
    staff: dict[str, str]


async def load_demo(engine: AsyncEngine, secret: bytes, base_url: str, ttl: timedelta) -> DemoLinks:
    """Import the demo roster (idempotent) and issue fresh links for its people."""
    await import_roster(engine, DEMO_ROSTER, actor="demo")
    async with engine.begin() as conn:
        sup, _ = await issue_link(
            conn, secret, base_url, "supervisor", DEMO_SUPERVISOR, ttl, actor="demo"
        )
        staff = {
            sid: (await issue_link(conn, secret, base_url, "staff", sid, ttl, actor="demo"))[0]
            for sid in DEMO_STAFF
        }
    return DemoLinks(sup, staff)
