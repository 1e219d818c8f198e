"""The transactional outbox: an event is stored in the same transaction as the change
that caused it, with one delivery row per endpoint subscribed to its type.

A relay (``service.webhooks``) later claims due deliveries and sends them, so a
committed record always gets its webhooks and a rolled-back one never does.

Enqueueing is two statements however many events and endpoints there are: the events
at once, then their deliveries in one ``INSERT … SELECT`` that joins the events to
the subscribed endpoints inside the database.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Insert, bindparam, cast, exists, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.schema import deliveries, outbox, webhook_endpoints

EVENT_TYPES = (
    "check.scheduled",
    "check.cancelled",
    "check.completed",
    "check.missed",
    "record.reviewed",
    "record.objected",
)


def new_event_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def _subscribed(dialect: str) -> ColumnElement[bool]:
    """The endpoint's ``events`` list holds the outbox row's type."""
    if dialect == "postgresql":
        return cast(webhook_endpoints.c.events, JSONB).contains(
            func.jsonb_build_array(outbox.c.event_type)
        )
    listed = func.json_each(webhook_endpoints.c.events).table_valued("value")
    return exists().where(listed.c.value == outbox.c.event_type)


@cache
def _insert_deliveries(dialect: str) -> Insert:
    """One pending delivery per event in ``ids`` and enabled endpoint subscribed to it
    (built once per dialect: building Core statements costs more than running them)."""
    pending = (
        select(
            outbox.c.id,
            webhook_endpoints.c.id,
            literal("pending"),
            literal(0),
            bindparam("now", type_=deliveries.c.next_attempt_at.type),
        )
        .select_from(outbox.join(webhook_endpoints, _subscribed(dialect)))
        .where(
            outbox.c.id.in_(bindparam("ids", expanding=True)),
            webhook_endpoints.c.disabled_at.is_(None),
        )
    )
    return deliveries.insert().from_select(
        ["event_id", "endpoint_id", "status", "attempts", "next_attempt_at"], pending
    )


async def enqueue(conn: AsyncConnection, event_type: str, data: dict[str, Any]) -> str:
    """Store the event and its pending deliveries in the caller's transaction; return its id."""
    (event_id,) = await enqueue_many(conn, [(event_type, data)])
    return event_id


async def enqueue_many(
    conn: AsyncConnection, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[str]:
    """``enqueue`` for several events (type, data) in two statements; their ids in order."""
    for event_type, _ in events:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
    if not events:
        return []
    now = utcnow()
    ids = [new_event_id() for _ in events]
    rows = [
        {
            "id": event_id,
            "event_type": event_type,
            "created_at": now,
            "payload": json.dumps(
                {"type": event_type, "timestamp": now.isoformat(), "data": data},
                separators=(",", ":"),
                ensure_ascii=False,
            ),
        }
        for event_id, (event_type, data) in zip(ids, events, strict=True)
    ]
    await conn.execute(outbox.insert(), rows)
    await conn.execute(_insert_deliveries(conn.dialect.name), {"ids": ids, "now": now})
    return ids
