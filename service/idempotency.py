"""Idempotency keys: a write retried with the same key answers as the first time and
writes nothing.

A client that loses the answer to a review or an objection (a dropped connection)
sends it again with the same ``Idempotency-Key``. The key's row is inserted first in
the write's own transaction, so the entry and the stored answer commit together or
not at all, and a twin sent at the same moment waits on the key's unique index
instead of appending a second entry. Keys belong to the sender and are kept for
``RETENTION``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.schema import idempotency_keys

RETENTION = timedelta(hours=24)
MAX_KEY_LEN = 200


@dataclass(frozen=True)
class Answer:
    """The first answer given under a key, and what it answered."""

    request_hash: str
    status: int
    body: dict[str, Any]


def request_hash(method: str, path: str, body: dict[str, Any]) -> str:
    """What a retry must repeat: the method, the path and the body's content."""
    content = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LEN and key.isascii() and key.isprintable()


async def find_answer(conn: AsyncConnection, actor: str, key: str) -> Answer | None:
    row = (
        await conn.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.actor == actor, idempotency_keys.c.key == key
            )
        )
    ).first()
    if row is None or not row.response:
        return None
    return Answer(row.request_hash, row.status, json.loads(row.response))


async def claim(conn: AsyncConnection, actor: str, key: str, digest: str, now: datetime) -> None:
    """Take the key for this transaction (a concurrent twin waits, then fails on the
    unique key); forget keys past their retention on the way."""
    await conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < now - RETENTION)
    )
    await conn.execute(
        idempotency_keys.insert().values(
            actor=actor, key=key, request_hash=digest, status=0, response="", created_at=now
        )
    )


async def remember(
    conn: AsyncConnection, actor: str, key: str, status: int, body: dict[str, Any]
) -> None:
    await conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.actor == actor, idempotency_keys.c.key == key)
        .values(status=status, response=json.dumps(body, separators=(",", ":")))
    )
