"""Call rooms: one live call per staff member, and its state machine.

    ringing --accept--> active --end--> ended
    ringing --end-----------------> ended   (cancelled, declined, not answered in time,
                                             or the window ended: no record from it)

Pure: no sockets, no media. ``signaling.session`` attaches those to a room.

How a call ended, as its record says (``Room.how_ended``): ``hung_up_by_staff``,
``hung_up_by_supervisor``, ``staff_dropped``, ``supervisor_dropped``, ``window_ended``,
``server_stopped``; ``server_restarted`` is written by the sweep for a call whose
process died (``service.checks``). A call never answered has no record; its row keeps
the reason (``not_answered``, ``declined``, ``cancelled``...).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

RINGING, ACTIVE, ENDED = "ringing", "active", "ended"


class RoomError(ValueError):
    """A transition or an admission was refused; ``code`` is the protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Room:
    id: str
    check_id: str
    staff_id: str
    supervisor_id: str
    window_end: datetime
    created_at: datetime
    state: str = RINGING
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    ended_by: str | None = None  # the role that hung up or dropped, if one did

    @property
    def live(self) -> bool:
        return self.state != ENDED

    def accept(self, now: datetime) -> None:
        if self.state != RINGING:
            raise RoomError("bad_state", f"the call is {self.state}, not ringing")
        self.state, self.answered_at = ACTIVE, now

    def end(self, reason: str, now: datetime, by: str | None = None) -> bool:
        """End the call (``by`` the role that hung up or went away); False if it had
        already ended (ending twice is harmless)."""
        if self.state == ENDED:
            return False
        self.state, self.ended_at, self.end_reason, self.ended_by = ENDED, now, reason, by
        return True

    @property
    def how_ended(self) -> str | None:
        """How the call ended, in the record's words (see the module doc)."""
        by = self.ended_by or "someone"
        if self.end_reason in ("hangup", "cancelled"):
            return f"hung_up_by_{by}"
        if self.end_reason == "disconnected":
            return f"{by}_dropped"
        return {"server_shutdown": "server_stopped"}.get(self.end_reason or "", self.end_reason)


@dataclass
class Rooms:
    """The live rooms of this process, by call id and by staff member."""

    by_id: dict[str, Room] = field(default_factory=dict)

    def open(
        self, check_id: str, staff_id: str, supervisor_id: str, window_end: datetime, now: datetime
    ) -> Room:
        """A new ringing room, unless the staff member is already in a live one."""
        if self.for_staff(staff_id) is not None:
            raise RoomError("busy", "the staff member is already in a call")
        room = Room(
            "call_" + secrets.token_hex(10), check_id, staff_id, supervisor_id, window_end, now
        )
        self.by_id[room.id] = room
        return room

    def get(self, call_id: str) -> Room | None:
        return self.by_id.get(call_id)

    def for_staff(self, staff_id: str) -> Room | None:
        return next((r for r in self.by_id.values() if r.staff_id == staff_id and r.live), None)

    def for_check(self, check_id: str) -> Room | None:
        return next((r for r in self.by_id.values() if r.check_id == check_id and r.live), None)

    def discard(self, call_id: str) -> None:
        self.by_id.pop(call_id, None)
