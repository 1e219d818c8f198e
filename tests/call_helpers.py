"""A small organisation for call tests: two supervisors, their staff, links and checks."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.generate import frames
from service.calendar import Override
from service.clock import utcnow
from service.links import issue_link
from service.org import import_roster, load_policy
from service.overrides import set_override
from service.schema import checks
from signaling.stills import Still, encode_header, parse_still

HOME = (-6.2088, 106.8456)  # Monas, Jakarta
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
UNIT = {"id": "u1", "name": "Dinas Komunikasi, Informatika dan Statistik"}


def _staff(staff_id: str, name: str, supervisor: str) -> dict[str, Any]:
    """A staff member at ``HOME``, working from home every day of the week."""
    return {
        "id": staff_id,
        "name": name,
        "unit": "u1",
        "supervisor": supervisor,
        "home_lat": HOME[0],
        "home_lon": HOME[1],
        "home_radius_m": 200,
        "wfh_days": EVERY_DAY,
    }


ROSTER = {
    "units": [UNIT],
    "supervisors": [
        {"id": "sup1", "name": "Budi Santoso", "unit": "u1"},
        {"id": "sup2", "name": "Rina Wijaya", "unit": "u1"},
    ],
    "staff": [
        _staff("staff1", "Siti Rahmawati", "sup1"),
        # No home on record.
        {
            "id": "staff2",
            "name": "Andi Pratama",
            "unit": "u1",
            "supervisor": "sup2",
            "wfh_days": EVERY_DAY,
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
    opens: timedelta | None = None,
    closes: timedelta = timedelta(minutes=10),
    uniform: str = "any",
    now: datetime | None = None,
    supervisor: str | None = None,
) -> str:
    """A scheduled check whose window runs from ``now + opens`` to ``now + closes``. By
    default it opened 5 minutes ago, or halfway back to midnight in the policy's zone if
    that is later: due today whatever the hour, as the dashboard shows today's checks."""
    now = now or utcnow()
    if opens is None:
        async with engine.connect() as conn:
            zone = (await load_policy(conn)).zone
        midnight = datetime.combine(now.astimezone(zone).date(), time(0), zone)
        opens = -min(timedelta(minutes=5), (now - midnight) / 2)
    (check_id,) = await add_checks(
        engine, [(staff_id, opens, closes)], uniform=uniform, now=now, supervisor=supervisor
    )
    return check_id


async def add_checks(
    engine: AsyncEngine,
    windows: Sequence[tuple[str, timedelta, timedelta]],
    *,
    uniform: str = "any",
    now: datetime | None = None,
    supervisor: str | None = None,
) -> list[str]:
    """``add_check`` for many (staff id, ``opens``, ``closes``) in one transaction (a
    staff member's checks need distinct ``opens``: it is their due time); their ids."""
    now = now or utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": "chk_" + secrets.token_hex(6),
            "staff_id": staff_id,
            "supervisor_id": supervisor
            or next(s["supervisor"] for s in ROSTER["staff"] if s["id"] == staff_id),
            "unit_id": "u1",
            "due_at": now + opens,
            "window_start": now + opens,
            "window_end": now + closes,
            "uniform_policy": uniform,
            "status": "scheduled",
            "created_at": now,
        }
        for staff_id, opens, closes in windows
    ]
    async with engine.begin() as conn:
        await conn.execute(checks.insert(), rows)
    return [row["id"] for row in rows]


def staff_roster(n: int) -> dict[str, Any]:
    """One supervisor ``sup1`` and ``n`` staff ``s0``… at ``HOME``, working from home
    every day of the week."""
    return {
        "units": [UNIT],
        "supervisors": [{"id": "sup1", "name": "Budi Santoso", "unit": "u1"}],
        "staff": [_staff(f"s{i}", f"Pegawai {i}", "sup1") for i in range(n)],
    }


async def working_today(engine: AsyncEngine) -> None:
    """Make today (in the policy's zone) a working day whatever the weekday or holiday,
    so checks due now are swept as MISSED or INCONCLUSIVE, never cancelled as a day off.
    Yesterday too: a check opened up to an hour ago (``add_checks`` with a window of the
    caller's) is yesterday's in the first hour after midnight."""
    async with engine.begin() as conn:
        zone = (await load_policy(conn)).zone
        now = utcnow()
        days = {(now - timedelta(hours=1)).astimezone(zone).date(), now.astimezone(zone).date()}
        for day in sorted(days):
            await set_override(conn, Override(day, True, "test"), actor="test")


def stills_dir(path: Path, clip: str = "live") -> Path:
    """A fixture clip's stills, one a second, as the staff page sends them: the load
    generator's ``media``."""
    path.mkdir()
    for i, rgb in enumerate(list(frames(clip))[::15]):
        (path / f"{i:03}.jpg").write_bytes(still_of(rgb).jpeg)
    return path


def still_of(rgb: npt.NDArray[np.uint8], quality: int = 70) -> Still:
    """A camera frame as the stills leg delivers it: JPEG, as the staff page encodes it."""
    ok, jpeg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return parse_still(encode_header("call", 0, 0.0) + jpeg.tobytes())
