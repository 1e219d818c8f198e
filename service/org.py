"""The organisation in the database: its policy and its roster of units, supervisors, staff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import links  # a module: links imports this one (issuing checks the person)
from service.audit import audit
from service.clock import utcnow
from service.enrolment import forget_inactive
from service.policy import Policy
from service.roster import Roster, parse_roster, read_roster_file
from service.schema import policy as policy_table
from service.schema import staff, supervisors, units

POLICY_ROW = 1


async def load_policy(conn: AsyncConnection) -> Policy:
    """The stored policy, or Jakarta's default when none was saved."""
    row = (await conn.execute(select(policy_table.c.body))).first()
    return Policy.from_dict(row.body) if row else Policy()


async def save_policy(conn: AsyncConnection, new: Policy, *, actor: str) -> None:
    values = {"organisation": new.organisation, "body": new.to_dict(), "updated_at": utcnow()}
    updated = await conn.execute(
        policy_table.update().where(policy_table.c.id == POLICY_ROW).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(policy_table.insert().values(id=POLICY_ROW, **values))
    await audit(conn, actor, "policy.saved", "policy", new.to_dict())


@dataclass(frozen=True)
class ImportSummary:
    units: int
    supervisors: int
    staff: int
    revoked: tuple[str, ...] = ()  # links of staff made inactive: their pages close

    def counts(self) -> dict[str, int]:
        return {"units": self.units, "supervisors": self.supervisors, "staff": self.staff}


async def import_roster(engine: AsyncEngine, path: Path, *, actor: str) -> ImportSummary:
    """Validate the whole file, then upsert every row in one transaction (all or nothing)."""
    return await _import(engine, partial(read_roster_file, path), path.name, actor)


async def import_roster_text(
    engine: AsyncEngine, text: str, fmt: str, *, source: str, actor: str
) -> ImportSummary:
    """``import_roster`` for a roster received as text (``fmt`` is csv or json)."""
    return await _import(engine, partial(parse_roster, text, fmt=fmt, source=source), source, actor)


async def _import(
    engine: AsyncEngine, read: Callable[..., Roster], source: str, actor: str
) -> ImportSummary:
    async with engine.begin() as conn:
        known_units = set((await conn.execute(select(units.c.id))).scalars())
        known_sups = set((await conn.execute(select(supervisors.c.id))).scalars())
        roster = read(known_units=known_units, known_supervisors=known_sups)
        await _upsert(conn, roster)
        await forget_inactive(conn, actor=actor)  # a face is not kept past employment
        revoked = await links.revoke_inactive(conn, actor=actor)
        counts = (len(roster.units), len(roster.supervisors), len(roster.staff))
        summary = ImportSummary(*counts, revoked=tuple(revoked))
        await audit(conn, actor, "roster.imported", source, summary.counts())
    return summary


async def _upsert(conn: AsyncConnection, roster: Roster) -> None:
    # Portable upsert: update by primary key, insert when nothing was updated.
    batches = (
        (units, [{"id": u.id, "name": u.name} for u in roster.units]),
        (
            supervisors,
            [
                {"id": s.id, "name": s.name, "unit_id": s.unit_id, "email": s.email}
                for s in roster.supervisors
            ],
        ),
        (
            staff,
            [
                {
                    "id": m.id,
                    "name": m.name,
                    "unit_id": m.unit_id,
                    "supervisor_id": m.supervisor_id,
                    "wfh_days": ",".join(str(d) for d in m.wfh_days),
                    "home_lat": m.home_lat,
                    "home_lon": m.home_lon,
                    "home_radius_m": m.home_radius_m,
                    "active": m.active,
                }
                for m in roster.staff
            ],
        ),
    )
    for table, rows in batches:
        for row in rows:
            updated = await conn.execute(
                table.update().where(table.c.id == row["id"]).values(**row)
            )
            if updated.rowcount == 0:
                await conn.execute(table.insert().values(**row))


@dataclass(frozen=True)
class Person:
    role: str  # "supervisor" | "staff"
    id: str
    name: str
    unit_id: str
    unit_name: str
    supervisor_id: str | None = None


async def find_person(conn: AsyncConnection, role: str, person_id: str) -> Person | None:
    table = supervisors if role == "supervisor" else staff
    cols = [table.c.id, table.c.name, table.c.unit_id, units.c.name.label("unit_name")]
    if role == "staff":
        cols.append(staff.c.supervisor_id)
    row = (
        await conn.execute(
            select(*cols).join(units, units.c.id == table.c.unit_id).where(table.c.id == person_id)
        )
    ).first()
    if row is None:
        return None
    return Person(
        role,
        row.id,
        row.name,
        row.unit_id,
        row.unit_name,
        row.supervisor_id if role == "staff" else None,
    )


async def counts(conn: AsyncConnection) -> dict[str, int]:
    out = {}
    for name, table in (("units", units), ("supervisors", supervisors), ("staff", staff)):
        out[name] = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    return out
