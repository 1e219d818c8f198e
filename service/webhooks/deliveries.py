"""The delivery log and manual redelivery.

Redelivering puts a delivery back in the queue with a fresh retry schedule; its
earlier attempts stay in the log. A replay also creates deliveries for events the
endpoint never had (it was disabled, or registered later), so nothing is unrecoverable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import utcnow
from service.schema import deliveries, delivery_attempts, outbox
from service.webhooks.endpoints import Endpoint
from service.webhooks.scopes import may_receive


def _delivery_json(row: Row[Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "endpoint_id": row.endpoint_id,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "history": history,
    }


_COLUMNS = (*deliveries.c, outbox.c.event_type)


async def page_deliveries(
    conn: AsyncConnection,
    endpoint_id: str,
    *,
    status: str | None,
    before_id: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, each with its attempts; the second value is the next cursor."""
    query = (
        select(*_COLUMNS)
        .join(outbox, outbox.c.id == deliveries.c.event_id)
        .where(deliveries.c.endpoint_id == endpoint_id)
    )
    if status is not None:
        query = query.where(deliveries.c.status == status)
    if before_id is not None:
        query = query.where(deliveries.c.id < before_id)
    rows = list((await conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    history = await _history(conn, [r.id for r in rows])
    return [_delivery_json(r, history.get(r.id, [])) for r in rows], rows[-1].id if more else None


async def get_delivery(
    conn: AsyncConnection, endpoint_id: str, delivery_id: int
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(*_COLUMNS)
            .join(outbox, outbox.c.id == deliveries.c.event_id)
            .where(deliveries.c.id == delivery_id, deliveries.c.endpoint_id == endpoint_id)
        )
    ).first()
    if row is None:
        return None
    return _delivery_json(row, (await _history(conn, [row.id])).get(row.id, []))


async def _history(conn: AsyncConnection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    rows = await conn.execute(
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id.in_(ids))
        .order_by(delivery_attempts.c.id)
    )
    for r in rows:
        out.setdefault(r.delivery_id, []).append(
            {
                "attempted_at": r.attempted_at.isoformat(),
                "status_code": r.status_code,
                "error": r.error,
                "duration_ms": r.duration_ms,
            }
        )
    return out


async def redeliver(conn: AsyncConnection, endpoint: Endpoint, delivery_id: int) -> bool:
    """Queue the delivery again now, with a fresh schedule (attempts counted from 0)."""
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.endpoint_id == endpoint.id)
        .values(
            status="pending" if endpoint.disabled_at is None else "disabled",
            attempts=0,
            next_attempt_at=utcnow(),
            lease_owner=None,
            lease_until=None,
        )
    )
    return bool(result.rowcount)


async def replay(
    conn: AsyncConnection,
    endpoint: Endpoint,
    scopes: Sequence[str],
    *,
    since: datetime | None = None,
    event_id: str | None = None,
) -> int:
    """Queue the subscribed events since an instant that did not arrive (failed, set aside
    while disabled, or never queued), or one event whatever its state; return how many.
    Only events a key with ``scopes`` may receive are queued."""
    events = select(outbox.c.id, outbox.c.event_type).order_by(outbox.c.created_at)
    events = (
        events.where(outbox.c.id == event_id)
        if event_id is not None
        else events.where(outbox.c.created_at >= since)
    )
    wanted = [
        e.id
        for e in await conn.execute(events)
        if e.event_type in endpoint.events and may_receive(scopes, e.event_type)
    ]
    if not wanted:
        return 0
    existing = {
        r.event_id: r
        for r in await conn.execute(
            select(deliveries.c.id, deliveries.c.event_id, deliveries.c.status).where(
                deliveries.c.endpoint_id == endpoint.id, deliveries.c.event_id.in_(wanted)
            )
        )
    }
    now = utcnow()
    status = "pending" if endpoint.disabled_at is None else "disabled"
    fresh = [
        {
            "event_id": e,
            "endpoint_id": endpoint.id,
            "status": status,
            "attempts": 0,
            "next_attempt_at": now,
        }
        for e in wanted
        if e not in existing
    ]
    if fresh:
        await conn.execute(deliveries.insert(), fresh)
    redo = ("failed", "disabled") if event_id is None else ("failed", "disabled", "delivered")
    again = [r.id for r in existing.values() if r.status in redo]
    for delivery_id in again:
        await redeliver(conn, endpoint, delivery_id)
    return len(fresh) + len(again)
