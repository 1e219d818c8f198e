"""A small organisation for call tests: two supervisors, their staff, links and checks."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.links import issue_link
from service.org import import_roster
from service.schema import checks

HOME = (-6.2088, 106.8456)  # Monas, Jakarta
ROSTER = {
    "units": [{"id": "u1", "name": "Dinas Komunikasi, Informatika dan Statistik"}],
    "supervisors": [
        {"id": "sup1", "name": "Budi Santoso", "unit": "u1"},
        {"id": "sup2", "name": "Rina Wijaya", "unit": "u1"},
    ],
    "staff": [
        {
            "id": "staff1",
            "name": "Siti Rahmawati",
            "unit": "u1",
            "supervisor": "sup1",
            "home_lat": HOME[0],
            "home_lon": HOME[1],
            "home_radius_m": 200,
            "wfh_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
        {
            "id": "staff2",
            "name": "Andi Pratama",
            "unit": "u1",
            "supervisor": "sup2",
            "wfh_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
    ],
}


@dataclass(frozen=True)
class Links:
    """Tokens by person id (``sup1``, ``staff1``...) and their page URLs."""

    tokens: dict[str, str]
    urls: dict[str, str]
    jtis: dict[str, str]


async def seed_org(
    engine: AsyncEngine, tmp_path: Path, secret: bytes, base_url: str = "http://test"
) -> Links:
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(ROSTER))
    await import_roster(engine, path, actor="test")
    tokens, urls, jtis = {}, {}, {}
    async with engine.begin() as conn:
        for role, ids in (("supervisor", ("sup1", "sup2")), ("staff", ("staff1", "staff2"))):
            for pid in ids:
                url, claims = await issue_link(
                    conn, secret, base_url, role, pid, timedelta(hours=2), actor="test"
                )
                urls[pid], tokens[pid], jtis[pid] = url, url.rsplit("/", 1)[1], claims.jti
    return Links(tokens, urls, jtis)


async def add_check(
    engine: AsyncEngine,
    staff_id: str,
    *,
    opens: timedelta = timedelta(minutes=-5),
    closes: timedelta = timedelta(minutes=10),
    uniform: str = "any",
    now: datetime | None = None,
    supervisor: str | None = None,
) -> str:
    """A scheduled check whose window runs from ``now + opens`` to ``now + closes``."""
    now = now or utcnow()
    check_id = "chk_" + secrets.token_hex(6)
    if supervisor is None:
        supervisor = next(s["supervisor"] for s in ROSTER["staff"] if s["id"] == staff_id)
    async with engine.begin() as conn:
        await conn.execute(
            checks.insert().values(
                id=check_id,
                staff_id=staff_id,
                supervisor_id=supervisor,
                unit_id="u1",
                due_at=now + opens,
                window_start=now + opens,
                window_end=now + closes,
                uniform_policy=uniform,
                status="scheduled",
                created_at=now,
            )
        )
    return check_id
