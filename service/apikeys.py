"""API keys: random bearer keys with scopes, stored only as their SHA-256.

A key has 256 random bits, so a plain SHA-256 (no salt, no slow hash) cannot be
reversed or guessed, and lookup by hash stays a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit import audit
from service.clock import utcnow
from service.schema import api_keys

SCOPES = (
    "records:read",
    "links:read",
    "webhooks:write",
    "roster:write",
    "metrics:read",
    "admin",
)
KEY_PREFIX = "hadir_"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """``admin`` holds every scope."""
        return scope in self.scopes or "admin" in self.scopes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def validate_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes: give one or more of {', '.join(SCOPES)} (got {list(scopes)})")
    return tuple(dict.fromkeys(scopes))


async def create_key(
    conn: AsyncConnection, name: str, scopes: Sequence[str], *, actor: str
) -> tuple[str, ApiKey]:
    """Store a new key and return it in clear: the only time it is ever shown."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(f"key_{secrets.token_hex(8)}", name, validate_scopes(scopes), utcnow())
    await conn.execute(
        api_keys.insert().values(
            id=record.id,
            name=record.name,
            key_hash=hash_key(key),
            scopes=list(record.scopes),
            created_at=record.created_at,
        )
    )
    await audit(conn, actor, "apikey.created", record.id, {"scopes": list(record.scopes)})
    return key, record


async def authenticate(conn: AsyncConnection, key: str) -> ApiKey | None:
    """The live key with this value, or None."""
    row = (
        await conn.execute(
            select(api_keys).where(
                api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    return _key(row) if row else None


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    rows = await conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
    return [_key(r) for r in rows]


async def revoke_key(conn: AsyncConnection, key_id: str, *, actor: str) -> bool:
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if result.rowcount:
        await audit(conn, actor, "apikey.revoked", key_id)
    return bool(result.rowcount)


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(row.id, row.name, tuple(row.scopes), row.created_at, row.revoked_at)
