"""Whether a supervisor can reach each of their staff now: page open, push, or neither.

A staff member is ``online`` while a page of theirs has a joined socket on this node;
otherwise ``push`` if a push notification can reach them (``push_reachable``), else
``offline`` with when a page of theirs was last open. That instant is kept on the staff
row (``last_seen_at``) so it survives a restart; it is written when a page joins or
leaves, but through ``LastSeen``, which holds the newest instant per person and writes
them all at most once every ``flush_s`` (and again every ``refresh_s`` while a page
stays open, so a crash loses little): a page that flaps costs one write, never one per
message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.clock import utcnow
from service.push.subscriptions import targets_of
from service.records import iso
from service.schema import staff

State = Literal["online", "push", "offline"]
_SEEN = (
    staff.update()
    .where(staff.c.id == bindparam("staff_id"))
    .values(last_seen_at=bindparam("seen_at"))
)


@dataclass(frozen=True)
class Presence:
    """One staff member as their supervisor's dashboard shows them."""

    staff_id: str
    state: State
    last_seen: datetime | None  # None: no page of theirs was ever open

    def to_json(self) -> dict[str, Any]:
        seen = None if self.last_seen is None else iso(self.last_seen)
        return {"id": self.staff_id, "state": self.state, "last_seen": seen}


def presence_of(
    staff_id: str, online: bool, pushable: bool, last_seen: datetime | None
) -> Presence:
    """Online beats push beats offline; last seen is kept whatever the state."""
    state: State = "online" if online else "push" if pushable else "offline"
    return Presence(staff_id, state, last_seen)


async def push_reachable(conn: AsyncConnection, staff_ids: list[str]) -> set[str]:
    """Of ``staff_ids``, those a push notification can reach now: a subscription saved
    through a link still good (``service.push``; a push service may still have dropped
    it, which the next push finds out)."""
    return {target.staff_id for target in await targets_of(conn, staff_ids, utcnow())}


async def stored_last_seen(conn: AsyncConnection, staff_ids: list[str]) -> dict[str, datetime]:
    """The last-seen instants on the staff rows (people never seen are left out)."""
    if not staff_ids:
        return {}
    rows = await conn.execute(
        select(staff.c.id, staff.c.last_seen_at).where(
            staff.c.id.in_(staff_ids), staff.c.last_seen_at.is_not(None)
        )
    )
    return {r.id: r.last_seen_at for r in rows}


@dataclass
class LastSeen:
    """Last-seen instants of this node's staff pages, written to the store in batches."""

    flush_s: float = 10.0
    refresh_s: float = 300.0
    latest: dict[str, datetime] = field(default_factory=dict)  # newest known, this node
    _dirty: set[str] = field(default_factory=set)
    _written: dict[str, datetime] = field(default_factory=dict)

    def saw(self, staff_id: str, at: datetime) -> None:
        """A page of ``staff_id`` joined or left at ``at``; written with the next flush."""
        if at >= self.latest.get(staff_id, at):
            self.latest[staff_id] = at
            self._dirty.add(staff_id)

    def still_open(self, staff_ids: set[str], now: datetime) -> None:
        """Pages still open: renew their instant once ``refresh_s`` old in the store."""
        stale = timedelta(seconds=self.refresh_s)
        for staff_id in staff_ids:
            if now - self._written.get(staff_id, now - stale) >= stale:
                self.saw(staff_id, now)

    def merged(self, stored: dict[str, datetime]) -> dict[str, datetime]:
        """The stored instants with this node's newer ones over them."""
        out = dict(stored)
        for staff_id, at in self.latest.items():
            if staff_id not in out or at > out[staff_id]:
                out[staff_id] = at
        return out

    async def flush(self, engine: AsyncEngine) -> None:
        """Write every instant noted since the last flush, in one statement."""
        if not self._dirty:
            return
        batch = {s: self.latest[s] for s in self._dirty}
        self._dirty.clear()
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    _SEEN, [{"staff_id": s, "seen_at": at} for s, at in batch.items()]
                )
        except Exception:
            self._dirty.update(batch)  # tried again with the next flush
            raise
        self._written.update(batch)
