"""Who may do what in a call: the link token says who you are, the roster what you may call.

- a page joins with its signed link token; forged, expired, revoked or unknown tokens
  and people no longer on the roster are refused (``unauthorized``);
- only a staff member's current supervisor may call them, on one of their checks,
  inside its window (``forbidden``, ``not_found``, ``outside_window``);
- a member of a room is its staff member or its supervisor, nobody else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.links import check_token
from service.org import find_person, load_policy
from service.schema import checks, staff
from service.tokens import TokenError
from signaling.rooms import Room

CALLABLE_STATUSES = ("scheduled",)


class AuthError(Exception):
    """Refused; ``code`` is the protocol error code, the message is safe to send."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Identity:
    role: str  # "supervisor" | "staff"
    id: str
    name: str
    link_id: str  # the token's id: revoking it closes the page
    expires_at: datetime
    supervisor_id: str | None = None


@dataclass(frozen=True)
class CallTarget:
    """A check a supervisor may call now, with what the call needs to judge it."""

    check_id: str
    staff_id: str
    staff_name: str
    supervisor_id: str
    window_start: datetime
    window_end: datetime
    uniform_policy: str
    home: tuple[float, float] | None
    home_radius_m: float
    """The staff member's own radius, else the organisation policy's."""


async def identify(conn: AsyncConnection, secret: bytes, token: str) -> Identity:
    try:
        claims = await check_token(conn, secret, token)
    except TokenError as exc:
        raise AuthError("unauthorized", f"link refused: {exc}") from None
    person = await find_person(conn, claims.role, claims.subject)
    if person is None:
        raise AuthError("unauthorized", "link refused: no longer on the roster")
    return Identity(
        person.role, person.id, person.name, claims.jti, claims.expires_at, person.supervisor_id
    )


async def call_target(
    conn: AsyncConnection, who: Identity, check_id: str, now: datetime
) -> CallTarget:
    """The check ``who`` wants to call, if they are the staff member's supervisor."""
    if who.role != "supervisor":
        raise AuthError("forbidden", "only a supervisor can start a call")
    row = (
        await conn.execute(
            select(
                checks.c.id,
                checks.c.staff_id,
                checks.c.window_start,
                checks.c.window_end,
                checks.c.uniform_policy,
                checks.c.status,
                staff.c.name,
                staff.c.supervisor_id,
                staff.c.home_lat,
                staff.c.home_lon,
                staff.c.home_radius_m,
            )
            .join(staff, staff.c.id == checks.c.staff_id)
            .where(checks.c.id == check_id)
        )
    ).first()
    # A check of someone else's staff is reported like a missing one: no probing.
    if row is None or row.supervisor_id != who.id:
        raise AuthError("not_found", "no such check among your staff")
    if row.status not in CALLABLE_STATUSES:
        raise AuthError("bad_state", f"the check is {row.status}")
    if not row.window_start <= now < row.window_end:
        raise AuthError("outside_window", "the check's window is not open")
    home = None
    if row.home_lat is not None and row.home_lon is not None:
        home = (float(row.home_lat), float(row.home_lon))
    return CallTarget(
        row.id,
        row.staff_id,
        row.name,
        row.supervisor_id,
        row.window_start,
        row.window_end,
        row.uniform_policy,
        home,
        row.home_radius_m or (await load_policy(conn)).location_radius_m,
    )


def require_member(who: Identity, room: Room) -> None:
    """Refuse anyone but the room's staff member and its supervisor."""
    mine = room.staff_id if who.role == "staff" else room.supervisor_id
    if who.id != mine:
        raise AuthError("forbidden", "not your call")
