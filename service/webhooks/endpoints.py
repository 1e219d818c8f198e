"""Webhook endpoints in the database: registered, changed, rotated, disabled, deleted.

URLs reach these functions already checked by ``service.webhooks.ssrf.check_url``:
resolving a name inside a transaction would hold SQLite's write lock during DNS.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit import audit
from service.clock import utcnow
from service.outbox import EVENT_TYPES
from service.schema import deliveries, delivery_attempts, webhook_endpoints
from service.webhooks.signing import new_secret


class EndpointError(ValueError):
    """A bad field of an endpoint; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    owner_key_id: str | None

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "enabled": self.disabled_at is None,
            "disabled_at": _iso(self.disabled_at),
            "disabled_reason": self.disabled_reason,
            "rotation_ends_at": _iso(self.previous_secret_expires_at),
            "created_at": self.created_at.isoformat(),
            "owner_key_id": self.owner_key_id,
        }
        if with_secret:
            out["secret"] = self.secret
        return out


def live_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The current secret, and the previous one while its rotation window lasts."""
    if previous and previous_expires_at and now < previous_expires_at:
        return (secret, previous)
    return (secret,)


def validate_events(events: Any) -> tuple[str, ...]:
    if not isinstance(events, list) or not events:
        raise EndpointError("events", f"give a non-empty list drawn from {', '.join(EVENT_TYPES)}")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise EndpointError(
            "events", f"unknown event type(s) {unknown!r}; known: {', '.join(EVENT_TYPES)}"
        )
    return tuple(dict.fromkeys(events))


async def create_endpoint(
    conn: AsyncConnection, url: str, events: Sequence[str], *, owner_key_id: str, actor: str
) -> Endpoint:
    """Register an endpoint belonging to the API key ``owner_key_id``."""
    endpoint_id = f"ep_{secrets.token_hex(12)}"
    await conn.execute(
        webhook_endpoints.insert().values(
            id=endpoint_id,
            url=url,
            events=list(events),
            secret=new_secret(),
            created_at=utcnow(),
            owner_key_id=owner_key_id,
        )
    )
    await audit(conn, actor, "webhook.created", endpoint_id, {"url": url, "events": list(events)})
    created = await get_endpoint(conn, endpoint_id)
    assert created is not None
    return created


async def get_endpoint(conn: AsyncConnection, endpoint_id: str) -> Endpoint | None:
    row = (
        await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    ).first()
    return _endpoint(row) if row else None


async def list_endpoints(conn: AsyncConnection, owner_key_id: str | None = None) -> list[Endpoint]:
    """Every endpoint, or only those of one key."""
    query = select(webhook_endpoints).order_by(
        webhook_endpoints.c.created_at, webhook_endpoints.c.id
    )
    if owner_key_id is not None:
        query = query.where(webhook_endpoints.c.owner_key_id == owner_key_id)
    return [_endpoint(r) for r in await conn.execute(query)]


async def update_endpoint(
    conn: AsyncConnection,
    endpoint_id: str,
    *,
    actor: str,
    url: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> Endpoint | None:
    values: dict[str, Any] = {}
    if url is not None:
        values["url"] = url
    if events is not None:
        values["events"] = list(events)
    if values:
        await conn.execute(
            update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**values)
        )
    if enabled is True:
        await enable_endpoint(conn, endpoint_id)
    elif enabled is False:
        await disable_endpoint(conn, endpoint_id, "disabled over the API")
    endpoint = await get_endpoint(conn, endpoint_id)
    if endpoint is not None:
        detail = {**values, **({} if enabled is None else {"enabled": enabled})}
        await audit(conn, actor, "webhook.updated", endpoint_id, detail)
    return endpoint


async def rotate_secret(
    conn: AsyncConnection, endpoint_id: str, window: timedelta, *, actor: str
) -> Endpoint | None:
    """Make a new secret; the old one keeps signing (beside it) until the window ends."""
    current = await get_endpoint(conn, endpoint_id)
    if current is None:
        return None
    await conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(
            secret=new_secret(),
            previous_secret=current.secret,
            previous_secret_expires_at=utcnow() + window,
        )
    )
    await audit(conn, actor, "webhook.rotated", endpoint_id, {"window_s": window.total_seconds()})
    return await get_endpoint(conn, endpoint_id)


async def disable_endpoint(conn: AsyncConnection, endpoint_id: str, reason: str) -> None:
    """Stop sending: the endpoint and its pending deliveries are set aside, not lost."""
    await conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.disabled_at.is_(None))
        .values(disabled_at=utcnow(), disabled_reason=reason[:200])
    )
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending")
        .values(status="disabled", lease_owner=None, lease_until=None)
    )


async def enable_endpoint(conn: AsyncConnection, endpoint_id: str) -> None:
    """Resume: what was set aside while disabled is sent now."""
    await conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(disabled_at=None, disabled_reason=None)
    )
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "disabled")
        .values(status="pending", next_attempt_at=utcnow())
    )


async def delete_endpoint(conn: AsyncConnection, endpoint_id: str, *, actor: str) -> bool:
    """Remove the endpoint with its delivery log (the events stay in the outbox)."""
    owned = select(deliveries.c.id).where(deliveries.c.endpoint_id == endpoint_id)
    await conn.execute(delete(delivery_attempts).where(delivery_attempts.c.delivery_id.in_(owned)))
    await conn.execute(delete(deliveries).where(deliveries.c.endpoint_id == endpoint_id))
    result = await conn.execute(
        delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    )
    if result.rowcount:
        await audit(conn, actor, "webhook.deleted", endpoint_id)
    return bool(result.rowcount)


def _endpoint(row: Row[Any]) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        secret=row.secret,
        previous_secret=row.previous_secret,
        previous_secret_expires_at=row.previous_secret_expires_at,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
        created_at=row.created_at,
        owner_key_id=row.owner_key_id,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
