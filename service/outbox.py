"""The transactional outbox: an event is stored in the same transaction as the change
that caused it, with one delivery row per endpoint subscribed to its type.

A relay (``service.webhooks``) later claims due deliveries and sends them, so a
committed record always gets its webhooks and a rolled-back one never does.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.schema import deliveries, outbox, webhook_endpoints

EVENT_TYPES = ("check.scheduled", "check.completed", "check.missed", "record.reviewed")


def new_event_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


async def enqueue(conn: AsyncConnection, event_type: str, data: dict[str, Any]) -> str:
    """Store the event and its pending deliveries in the caller's transaction; return its id."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = utcnow()
    event_id = new_event_id()
    payload = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    await conn.execute(
        outbox.insert().values(
            id=event_id,
            event_type=event_type,
            created_at=now,
            payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        )
    )
    endpoints = (
        await conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
                webhook_endpoints.c.disabled_at.is_(None)
            )
        )
    ).all()
    rows = [
        {
            "event_id": event_id,
            "endpoint_id": e.id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
        }
        for e in endpoints
        if event_type in e.events
    ]
    if rows:
        await conn.execute(deliveries.insert(), rows)
    return event_id
