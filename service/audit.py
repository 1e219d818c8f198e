"""The audit log: who did what to which subject, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.schema import audit_log


async def audit(
    conn: AsyncConnection,
    actor: str,
    action: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            at=utcnow(), actor=actor, action=action, subject=subject, detail=detail or {}
        )
    )
