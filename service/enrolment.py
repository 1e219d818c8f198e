"""Enrolled faces: a staff member's face descriptors for the identity match, encrypted.

Only 128-d descriptors are kept, never a photograph: the stills an enrolment is made
from live in memory for one analysis. The descriptors are sealed with AES-256-GCM
under a key in the data dir (``service.keys.FACE_KEY_FILE``), the staff id as
associated data, so the database alone (a backup, a dump) holds no usable biometric
data, and a row copied to another person does not open. Re-enrolment replaces the
row; the staff member or an admin deletes it, and a roster import that deactivates a
staff member deletes theirs. Every change goes to the audit log (no descriptor in it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit import audit
from service.keys import FACE_KEY_FILE, load_or_create_secret
from service.schema import face_enrolments, staff
from vision.identity import (
    DEFAULT_IDENTITY,
    DESCRIPTOR_SIZE,
    CallIdentity,
    Descriptor,
    IdentityConfig,
    model_version,
)

MAX_STILLS = 3
log = logging.getLogger("hadir.enrolment")
_NONCE = 12


class EnrolmentError(ValueError):
    """Stills an enrolment cannot use; ``code`` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_face_key(data_dir: Path) -> AESGCM:
    """The data dir's key for enrolled faces (256 bits), made on first use."""
    return AESGCM(load_or_create_secret(data_dir, FACE_KEY_FILE, nbytes=32))


def seal(key: AESGCM, staff_id: str, descriptors: Sequence[Descriptor]) -> bytes:
    """Descriptors as stored: a random nonce, then the encrypted float32 vectors."""
    plain = np.stack([np.asarray(d, dtype="<f4") for d in descriptors]).tobytes()
    nonce = os.urandom(_NONCE)
    return nonce + key.encrypt(nonce, plain, staff_id.encode())


def unseal(key: AESGCM, staff_id: str, sealed: bytes) -> tuple[Descriptor, ...]:
    """The descriptors back; ``ValueError`` if the bytes were not sealed for this person
    with this key (another data dir's key, a row moved to someone else)."""
    try:
        plain = key.decrypt(sealed[:_NONCE], sealed[_NONCE:], staff_id.encode())
    except InvalidTag:
        raise ValueError(f"the enrolled face of {staff_id} does not open with this key") from None
    vectors = np.frombuffer(plain, dtype="<f4").reshape(-1, DESCRIPTOR_SIZE)
    return tuple(np.array(v, dtype=np.float32) for v in vectors)


@dataclass(frozen=True)
class Enrolment:
    """What is known of an enrolment without opening it."""

    staff_id: str
    count: int
    model: str
    source: str  # "self" (the staff member's page) | "admin" (imported with an API key)
    consent_at: datetime
    enrolled_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "enrolled": True,
            "stills": self.count,
            "model": self.model,
            "source": self.source,
            "consent_at": self.consent_at.isoformat(),
            "enrolled_at": self.enrolled_at.isoformat(),
        }


def check_agreement(
    descriptors: Sequence[Descriptor], config: IdentityConfig = DEFAULT_IDENTITY
) -> None:
    """Stills of one enrolment must show one person: no two may be as far apart as two
    people (``reject_min``)."""
    for i, a in enumerate(descriptors):
        for b in descriptors[i + 1 :]:
            if float(np.linalg.norm(a - b)) >= config.reject_min:
                raise EnrolmentError("faces_differ", "the pictures show different faces")


async def enrol(
    conn: AsyncConnection,
    key: AESGCM,
    staff_id: str,
    descriptors: Sequence[Descriptor],
    *,
    source: str,
    actor: str,
    now: datetime,
) -> Enrolment:
    """Store (or replace) a staff member's enrolled face, consented to at ``now``."""
    enrolment = Enrolment(staff_id, len(descriptors), model_version(), source, now, now)
    values = {
        "descriptors": seal(key, staff_id, descriptors),
        "count": enrolment.count,
        "model": enrolment.model,
        "source": source,
        "consent_at": now,
        "enrolled_at": now,
    }
    replaced = await conn.execute(
        face_enrolments.update().where(face_enrolments.c.staff_id == staff_id).values(**values)
    )
    if replaced.rowcount == 0:
        await conn.execute(face_enrolments.insert().values(staff_id=staff_id, **values))
    detail = {"stills": enrolment.count, "source": source, "replaced": replaced.rowcount > 0}
    await audit(conn, actor, "face.enrolled", staff_id, detail)
    return enrolment


async def forget(conn: AsyncConnection, staff_id: str, *, actor: str) -> bool:
    """Delete a staff member's enrolled face; False if there was none."""
    gone = await conn.execute(delete(face_enrolments).where(face_enrolments.c.staff_id == staff_id))
    if gone.rowcount:
        await audit(conn, actor, "face.deleted", staff_id)
    return bool(gone.rowcount)


async def forget_inactive(conn: AsyncConnection, *, actor: str) -> None:
    """Delete the enrolled faces of staff members the roster made inactive."""
    inactive = select(staff.c.id).where(staff.c.active.is_(False))
    ids = (
        await conn.execute(
            select(face_enrolments.c.staff_id).where(face_enrolments.c.staff_id.in_(inactive))
        )
    ).scalars()
    for staff_id in list(ids):
        await forget(conn, staff_id, actor=actor)


async def find_enrolment(conn: AsyncConnection, staff_id: str) -> Enrolment | None:
    row = (
        await conn.execute(
            select(
                face_enrolments.c.staff_id,
                face_enrolments.c.count,
                face_enrolments.c.model,
                face_enrolments.c.source,
                face_enrolments.c.consent_at,
                face_enrolments.c.enrolled_at,
            ).where(face_enrolments.c.staff_id == staff_id)
        )
    ).first()
    return None if row is None else Enrolment(*row)


async def call_identity(conn: AsyncConnection, key: AESGCM, staff_id: str) -> CallIdentity:
    """What a call needs to match the staff member's face (no descriptors when they are
    not enrolled: the criterion is then ``not_enrolled``). An enrolment this data dir's
    key cannot open (the key was lost or replaced) counts as none: the call goes on,
    and the person enrols again."""
    sealed = (
        await conn.execute(
            select(face_enrolments.c.descriptors).where(face_enrolments.c.staff_id == staff_id)
        )
    ).scalar_one_or_none()
    try:
        enrolled = () if sealed is None else unseal(key, staff_id, sealed)
    except ValueError as exc:
        log.warning("enrolled face unreadable", extra={"fields": {"error": str(exc)}})
        enrolled = ()
    return CallIdentity(enrolled, version=model_version())
