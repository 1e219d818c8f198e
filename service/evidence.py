"""The one evidence still a check may keep: downscaled, re-encoded, deleted on schedule.

Privacy by construction: the still is decoded and re-encoded as a small JPEG, which
drops any EXIF block (a phone photo's GPS position included) and leaves too few
pixels for a usable biometric template. It is kept only where the policy enables
stills, and ``purge_evidence`` deletes it after the retention period. The record keeps
the still's SHA-256, so a stored still can be matched to its signed record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.schema import evidence

MAX_WIDTH = 320
JPEG_QUALITY = 80
MAX_INPUT_BYTES = 8 * 1024 * 1024
MEDIA_TYPE = "image/jpeg"


@dataclass(frozen=True)
class EvidenceRef:
    """What a verification record says about its still."""

    id: str
    media_type: str
    sha256: str
    delete_after: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "delete_after": self.delete_after.isoformat(),
        }


def downscale_still(data: bytes, max_width: int = MAX_WIDTH) -> bytes:
    """Decode an encoded image (JPEG, PNG, …) and return a JPEG at most ``max_width`` wide."""
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"still too large ({len(data)} bytes)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("still is not a decodable image")
    height, width = image.shape[:2]
    if width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("could not encode the still")
    return encoded.tobytes()


async def store_still(
    conn: AsyncConnection, check_id: str, jpeg: bytes, *, now: datetime, retention_days: int
) -> EvidenceRef:
    """Keep an already downscaled still for a check (UNIQUE: at most one per check)."""
    ref = EvidenceRef(
        id=f"evd_{secrets.token_hex(12)}",
        media_type=MEDIA_TYPE,
        sha256=hashlib.sha256(jpeg).hexdigest(),
        delete_after=now + timedelta(days=retention_days),
    )
    await conn.execute(
        evidence.insert().values(
            id=ref.id,
            check_id=check_id,
            media_type=ref.media_type,
            content=jpeg,
            created_at=now,
            delete_after=ref.delete_after,
        )
    )
    return ref


async def load_still(conn: AsyncConnection, evidence_id: str) -> tuple[str, bytes] | None:
    """The media type and bytes of a still, or None once it has been purged."""
    row = (
        await conn.execute(
            select(evidence.c.media_type, evidence.c.content).where(evidence.c.id == evidence_id)
        )
    ).first()
    return (row.media_type, bytes(row.content)) if row else None


async def purge_evidence(engine: AsyncEngine, now: datetime) -> int:
    """Delete every still whose retention has run out; returns how many."""
    async with engine.begin() as conn:
        result = await conn.execute(evidence.delete().where(evidence.c.delete_after <= now))
    return int(result.rowcount)
