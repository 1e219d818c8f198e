"""A finished call becomes evidence: its row in ``calls`` and the check's verification record.

Only the distance to home and the location result are stored, never coordinates.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from service.schema import calls
from signaling.session import CallOutcome


async def store_call(engine: AsyncEngine, outcome: CallOutcome) -> str | None:
    """Write the call row; returns the id of the verification record, if one was written."""
    room, location = outcome.room, outcome.location
    async with engine.begin() as conn:
        await conn.execute(
            calls.insert().values(
                id=room.id,
                check_id=room.check_id,
                staff_id=room.staff_id,
                supervisor_id=room.supervisor_id,
                started_at=room.created_at,
                ended_at=room.ended_at,
                status=room.end_reason or "ended",
                camera_on_fraction=outcome.camera_on_fraction,
                location_distance_m=None if location is None else location.distance_m,
                location_result=None if location is None else location.state,
            )
        )
    return None
