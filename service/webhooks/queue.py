"""The delivery queue: claim due deliveries under a lease, then record how they went.

A claim is committed before anything is sent, so no database lock is held during HTTP.
PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED`` (concurrent dispatchers skip each
other's rows instead of waiting); SQLite has one writer, and ``BEGIN IMMEDIATE`` plus
``UPDATE … RETURNING`` makes the claim atomic. A lease that runs out (its dispatcher
died) makes the delivery claimable again, so a crash delays a webhook but never loses it.

A claimed delivery whose endpoint's key may no longer receive its event (the key was
revoked, or lacks the scope: ``service.webhooks.scopes``) is not sent: it fails at once
with the reason, and a replay sends it once the key may.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.clock import utcnow
from service.schema import api_keys, deliveries, delivery_attempts, outbox, webhook_endpoints
from service.webhooks.endpoints import disable_endpoint, live_secrets
from service.webhooks.retry import RetrySchedule
from service.webhooks.scopes import may_receive, required_scope


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed delivery with all it needs to be sent."""

    delivery_id: int
    event_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes
    attempts: int  # attempts made before this one


@dataclass(frozen=True)
class Outcome:
    """What one attempt did: a status code, or an error before any status arrived."""

    attempted_at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Decision:
    status: str  # delivered | pending | failed | disabled
    next_attempt_at: datetime
    disable_endpoint: bool = False


def decide(job: DeliveryJob, outcome: Outcome, schedule: RetrySchedule, draw: float) -> Decision:
    """Only a 2xx delivers; 410 disables the endpoint; anything else retries or fails."""
    now = outcome.attempted_at
    if outcome.ok:
        return Decision("delivered", now)
    if outcome.status_code == 410:
        return Decision("disabled", now, disable_endpoint=True)
    delay = schedule.next_delay(job.attempts + 1, outcome.retry_after, draw)
    if delay is None:
        return Decision("failed", now)
    return Decision("pending", now + timedelta(seconds=delay))


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return (
        (deliveries.c.status == "pending")
        & (deliveries.c.next_attempt_at <= now)
        & or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now)
    )


async def claim_due(
    engine: AsyncEngine, owner: str, limit: int, lease: timedelta
) -> list[DeliveryJob]:
    """Lease up to ``limit`` due deliveries to ``owner`` and return them, oldest due first."""
    now = utcnow()
    lease_values = {"lease_owner": owner, "lease_until": now + lease}
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            picked = (
                select(deliveries.c.id)
                .where(_due(now))
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list((await conn.execute(picked)).scalars())
            if ids:
                await conn.execute(
                    update(deliveries).where(deliveries.c.id.in_(ids)).values(**lease_values)
                )
        else:
            due_ids = (
                select(deliveries.c.id)
                .where(_due(now))
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit)
                .scalar_subquery()
            )
            claimed = await conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(due_ids))
                .values(**lease_values)
                .returning(deliveries.c.id)
            )
            ids = list(claimed.scalars())
        if not ids:
            return []
        return await _jobs(conn, ids, now)


async def _jobs(conn: AsyncConnection, ids: list[int], now: datetime) -> list[DeliveryJob]:
    """The claimed deliveries to send; those their endpoint's key may not receive fail."""
    rows = await conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.event_id,
            deliveries.c.endpoint_id,
            deliveries.c.attempts,
            deliveries.c.next_attempt_at,
            outbox.c.payload,
            outbox.c.event_type,
            webhook_endpoints.c.url,
            webhook_endpoints.c.secret,
            webhook_endpoints.c.previous_secret,
            webhook_endpoints.c.previous_secret_expires_at,
            api_keys.c.scopes,
            api_keys.c.revoked_at,
        )
        .join(outbox, outbox.c.id == deliveries.c.event_id)
        .join(webhook_endpoints, webhook_endpoints.c.id == deliveries.c.endpoint_id)
        .outerjoin(api_keys, api_keys.c.id == webhook_endpoints.c.owner_key_id)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    )
    jobs: list[DeliveryJob] = []
    refused: list[dict[str, object]] = []
    for r in rows:
        live_key = r.scopes is not None and r.revoked_at is None
        if not (live_key and may_receive(r.scopes, r.event_type)):
            refused.append({"b_id": r.id, "b_error": _refusal(r.event_type, live_key)})
            continue
        jobs.append(
            DeliveryJob(
                delivery_id=r.id,
                event_id=r.event_id,
                endpoint_id=r.endpoint_id,
                url=r.url,
                secrets=live_secrets(
                    r.secret, r.previous_secret, r.previous_secret_expires_at, now
                ),
                body=r.payload.encode("utf-8"),
                attempts=r.attempts,
            )
        )
    if refused:
        await conn.execute(_REFUSE, refused)
    return jobs


def _refusal(event_type: str, live_key: bool) -> str:
    if not live_key:
        return "refused: the endpoint's API key is revoked or unknown"
    return f"refused: the endpoint's API key lacks {required_scope(event_type)}"


_REFUSE = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(status="failed", last_error=bindparam("b_error"), lease_owner=None, lease_until=None)
)


_RECORD = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.lease_owner == bindparam("b_owner"),
    )
    .values(
        status=bindparam("b_status"),
        attempts=deliveries.c.attempts + 1,
        next_attempt_at=bindparam("b_next"),
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        delivered_at=bindparam("b_delivered"),
        lease_owner=None,
        lease_until=None,
    )
)


async def record_outcomes(
    engine: AsyncEngine, owner: str, results: Sequence[tuple[DeliveryJob, Outcome, Decision]]
) -> None:
    """Write every attempt and each delivery's new state, in one transaction.

    A delivery whose lease this owner no longer holds (it was disabled or redelivered
    meanwhile) keeps its new state; its attempt is still logged.
    """
    if not results:
        return
    async with engine.begin() as conn:
        await conn.execute(
            delivery_attempts.insert(),
            [
                {
                    "delivery_id": job.delivery_id,
                    "attempted_at": outcome.attempted_at,
                    "status_code": outcome.status_code,
                    "error": outcome.error[:500] if outcome.error else None,
                    "duration_ms": outcome.duration_ms,
                }
                for job, outcome, _ in results
            ],
        )
        await conn.execute(
            _RECORD,
            [
                {
                    "b_id": job.delivery_id,
                    "b_owner": owner,
                    "b_status": decision.status,
                    "b_next": decision.next_attempt_at,
                    "b_code": outcome.status_code,
                    "b_error": outcome.error[:500] if outcome.error else None,
                    "b_delivered": outcome.attempted_at if decision.status == "delivered" else None,
                }
                for job, outcome, decision in results
            ],
        )
        for endpoint_id in {job.endpoint_id for job, _, d in results if d.disable_endpoint}:
            await disable_endpoint(conn, endpoint_id, "the receiver answered 410 Gone")


async def release(engine: AsyncEngine, owner: str, ids: Sequence[int]) -> None:
    """Give back leases without an attempt (shutting down), so others may send at once."""
    if not ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
