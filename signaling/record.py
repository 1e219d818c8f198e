"""A call in the store: its ``calls`` row while it lives, and the check's record when it ends.

The row is written when the call starts ringing, so the missed-check sweep leaves a
check alone while a call for it is in progress. While it lives the hub renews its
heartbeat every few seconds with the evidence so far (``save_evidence``); a row whose
heartbeat stopped belongs to a process that died, and the sweep records its check as
INCONCLUSIVE ``interrupted`` from that evidence if no later call completes it. A call
the server itself stops (shutdown) is closed the same way (``interrupt_call``): no
record from it, the check stays open for another call; so does an answered call whose
staff page went away and did not rejoin within ``calls.rejoin_grace_s``. When the
call ends otherwise the row is closed and, if the staff member answered, the check's
verification record is written in the same transaction (``service.record_writer``,
which commits calls that end together as one group), so its webhook follows through
the outbox.
Only the distance to home and the location result are stored, never coordinates.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import cv2
from sqlalchemy import bindparam, case
from sqlalchemy.ext.asyncio import AsyncEngine

from service.record_writer import CallEnd, RecordWriter
from service.records import CallResult, Record, RecordError, record_location
from service.schema import calls
from signaling.rooms import ACTIVE, RINGING, Room
from signaling.session import CallOutcome
from signaling.snapshot import CallSnapshot
from signaling.stills import Still

log = logging.getLogger("hadir.call")
STILL_JPEG_QUALITY = 80
_BEAT = (
    calls.update()
    .where(calls.c.id == bindparam("call_id"), calls.c.ended_at.is_(None))
    .values(heartbeat_at=bindparam("at"), evidence=bindparam("snapshot"))
)


def encode_still(still: Still) -> bytes:
    """The last frame as a JPEG, encoded anew (nothing the page put in its file is kept);
    the records keep it only where the policy allows."""
    bgr = still.bgr()
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, STILL_JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded")
    return bytes(data)


async def open_call(engine: AsyncEngine, room: Room) -> None:
    """The call's row while it rings and runs: it keeps the sweep off its check."""
    async with engine.begin() as conn:
        await conn.execute(
            calls.insert().values(
                id=room.id,
                check_id=room.check_id,
                staff_id=room.staff_id,
                supervisor_id=room.supervisor_id,
                started_at=room.created_at,
                status=room.state,
                heartbeat_at=room.created_at,
            )
        )


async def mark_answered(engine: AsyncEngine, room: Room) -> None:
    """The row says the call was answered as soon as it is: an answered call is never
    taken for one that only rang. Its status moves from ringing to active only: a call
    that ended while this write waited for the database has its end stored already
    (``supervisor_dropped``, say), which must not turn back into a live status."""
    async with engine.begin() as conn:
        await conn.execute(
            calls.update()
            .where(calls.c.id == room.id)
            .values(
                answered_at=room.answered_at,
                status=case((calls.c.status == RINGING, ACTIVE), else_=calls.c.status),
            )
        )


async def save_evidence(
    engine: AsyncEngine, beats: list[tuple[Room, datetime, CallSnapshot | None]]
) -> None:
    """Renew the heartbeat of live calls and save their evidence so far, at once."""
    if not beats:
        return
    params = [
        {"call_id": room.id, "at": at, "snapshot": snap and snap.to_json()}
        for room, at, snap in beats
    ]
    async with engine.begin() as conn:
        await conn.execute(_BEAT, params)


async def interrupt_call(
    engine: AsyncEngine, room: Room, snapshot: CallSnapshot | None, status: str
) -> None:
    """Close the row of a call cut short (``server_shutdown``, ``staff_dropped``),
    keeping its evidence and no record: the check stays open for another call, and the
    sweep records it as interrupted if none comes (``service.checks.sweep``)."""
    async with engine.begin() as conn:
        await conn.execute(
            calls.update()
            .where(calls.c.id == room.id)
            .values(
                ended_at=room.ended_at,
                status=status,
                heartbeat_at=room.ended_at,
                evidence=snapshot and snapshot.to_json(),
            )
        )


async def close_call(
    writer: RecordWriter, room: Room, outcome: CallOutcome | None
) -> Record | None:
    """Close the call's row and, for an answered call, write the check's record (through
    the group-committing writer); returns the record, or None when there is none (never
    answered, or the check had already been closed)."""
    location = record_location(outcome.verdict) if outcome else None
    result = None
    if outcome is not None and room.answered_at is not None and room.ended_at is not None:
        still = None
        if outcome.last_frame is not None:
            try:
                still = await asyncio.to_thread(encode_still, outcome.last_frame)
            except ValueError:  # a still whose data is broken: the record goes without
                log.info("evidence still not decodable", extra={"fields": {"call": room.id}})
        result = CallResult(
            started_at=room.answered_at,
            ended_at=room.ended_at,
            verdict=outcome.verdict,
            still=still,
            call_id=room.id,
            end=room.how_ended,
        )
    end = CallEnd(
        room.id,
        room.ended_at,
        room.end_reason or "ended",
        outcome.verdict.camera_on if outcome else None,
        location["distance_m"] if location else None,
        location["result"] if location else None,
    )
    written = await writer.complete(room.check_id, result, end)
    if isinstance(written, RecordError):
        log.warning("call not recorded", extra={"fields": {"call": room.id, "error": str(written)}})
        return None
    return written
