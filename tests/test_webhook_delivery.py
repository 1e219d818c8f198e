"""Delivery end to end against a real receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from service.schema import deliveries, delivery_attempts
from service.webhooks import dispatcher
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.endpoints import get_endpoint, rotate_secret
from service.webhooks.queue import DeliveryJob, claim_due
from tests.conftest import StoreTarget
from tests.webhook_helpers import (
    Receiver,
    Running,
    endpoint_for,
    enqueue_many,
    fast_settings,
    statuses,
    verify_both,
    wait_until,
)

KEY = Ed25519PrivateKey.generate()


async def test_signed_with_v1_and_v1a_and_payload_shape(store: AsyncEngine) -> None:
    receiver = await Receiver().start()
    endpoint = await endpoint_for(store, receiver.url)
    (event_id,) = await enqueue_many(store, 1)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings())):
            await wait_until(lambda: _delivered(store, 1))
    finally:
        await receiver.stop()
    (got,) = receiver.received
    event = verify_both(got, [endpoint.secret], KEY)
    assert got.id == event_id
    assert set(event) == {"type", "timestamp", "data"} and event["type"] == "check.completed"
    assert event["data"] == {"n": 0}
    assert got.headers["Content-Type"] == "application/json"
    # The same signature, made by the reference library with a UTC timestamp.
    stamp = datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC)
    v1 = Webhook(endpoint.secret).sign(event_id, stamp, got.body.decode())
    assert v1 in got.headers["webhook-signature"].split(" ")


async def test_rotation_signs_with_both_secrets(store: AsyncEngine) -> None:
    receiver = await Receiver().start()
    old = await endpoint_for(store, receiver.url)
    async with store.begin() as conn:
        new = await rotate_secret(conn, old.id, timedelta(hours=1), actor="test")
    assert new is not None and new.secret != old.secret
    await enqueue_many(store, 1)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings())):
            await wait_until(lambda: _delivered(store, 1))
    finally:
        await receiver.stop()
    (got,) = receiver.received
    verify_both(got, [old.secret, new.secret], KEY)
    assert [e[:3] for e in got.headers["webhook-signature"].split(" ")] == ["v1,", "v1,", "v1a"]


async def test_410_disables_the_endpoint_and_sets_its_deliveries_aside(store: AsyncEngine) -> None:
    async def gone(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        return web.Response(status=410)

    receiver = await Receiver(gone).start()
    endpoint = await endpoint_for(store, receiver.url)
    await enqueue_many(store, 3)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings(concurrency=1))):
            await wait_until(lambda: _count(store, "disabled", 3))
            await enqueue_many(store, 2)  # after disabling: no delivery rows at all
            await asyncio.sleep(0.2)
    finally:
        await receiver.stop()
    assert len(receiver.received) == 1
    async with store.connect() as conn:
        after = await get_endpoint(conn, endpoint.id)
    assert after is not None and after.disabled_at is not None
    assert after.disabled_reason is not None and "410" in after.disabled_reason
    assert await statuses(store) == {"disabled": 3}


async def test_a_delivery_claimed_before_a_410_is_recorded_is_not_sent(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interleaving a busy database gives now and then, made certain: the next
    # delivery is claimed after the receiver said 410 but handed to a sender only once
    # that 410 is recorded (the endpoint disabled, its deliveries set aside).
    async def gone(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        return web.Response(status=410)

    receiver = await Receiver(gone).start()
    endpoint = await endpoint_for(store, receiver.url)

    async def disabled() -> bool:
        async with store.connect() as conn:
            now = await get_endpoint(conn, endpoint.id)
        return now is not None and now.disabled_at is not None

    async def claim_then_wait(*args: Any) -> list[DeliveryJob]:
        jobs = await claim_due(*args)
        if jobs and receiver.received:
            await wait_until(disabled)
            await asyncio.sleep(0.2)  # the recorder has moved on
        return jobs

    monkeypatch.setattr(dispatcher, "claim_due", claim_then_wait)
    await enqueue_many(store, 3)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings(concurrency=1))):
            await wait_until(lambda: _count(store, "disabled", 3))
            await asyncio.sleep(0.5)
    finally:
        await receiver.stop()
    assert len(receiver.received) == 1
    assert await statuses(store) == {"disabled": 3}


async def test_retry_after_is_honoured(store: AsyncEngine) -> None:
    async def busy_once(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        if len(receiver.received) == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(status=202)

    receiver = await Receiver(busy_once).start()
    await endpoint_for(store, receiver.url)
    await enqueue_many(store, 1)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings())):
            await wait_until(lambda: _delivered(store, 1))
    finally:
        await receiver.stop()
    async with store.connect() as conn:
        times = (
            (
                await conn.execute(
                    select(delivery_attempts.c.attempted_at).order_by(delivery_attempts.c.id)
                )
            )
            .scalars()
            .all()
        )
    assert len(times) == 2 and times[1] - times[0] >= timedelta(seconds=0.99)


async def test_redirects_are_not_followed(store: AsyncEngine) -> None:
    async def redirect(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        if request.path == "/hook":
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=200)

    receiver = await Receiver(redirect).start()
    await endpoint_for(store, receiver.url)
    await enqueue_many(store, 1)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings())):
            await wait_until(lambda: _attempts(store, 3))
    finally:
        await receiver.stop()
    assert {r.path for r in receiver.received} == {"/hook"}
    async with store.connect() as conn:
        row = (await conn.execute(select(deliveries))).one()
    assert row.status == "pending" and row.last_status_code == 302
    assert "redirect" in row.last_error


async def test_failed_after_the_last_scheduled_attempt(store: AsyncEngine) -> None:
    async def broken(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        return web.Response(status=503)

    receiver = await Receiver(broken).start()
    await endpoint_for(store, receiver.url)
    await enqueue_many(store, 1)
    try:
        async with Running(Dispatcher(store, KEY, fast_settings())):
            await wait_until(lambda: _count(store, "failed", 1))
    finally:
        await receiver.stop()
    assert len(receiver.received) == 10  # the ten attempts of the schedule


async def test_a_stop_at_any_moment_leaves_every_attempt_recorded_and_no_lease(
    store: AsyncEngine,
) -> None:
    """Wherever ``stop()`` falls (during a claim, a send, a recording), the dispatcher
    returns having recorded every attempt it made and given back every lease, so a
    graceful stop sends nothing twice. Stopping during a claim once left that claim's
    attempts sent but unrecorded and leased: sent again when the lease ran out."""

    async def quick(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.01)
        return web.Response(status=200)

    receiver = await Receiver(quick).start()
    await endpoint_for(store, receiver.url)
    try:
        for n in range(25):
            await enqueue_many(store, 6)
            dispatcher = Dispatcher(store, KEY, fast_settings(concurrency=3))
            task = asyncio.create_task(dispatcher.run())
            await asyncio.sleep(n * 0.004)
            dispatcher.stop()
            await asyncio.wait_for(task, 20)
            async with store.connect() as conn:
                rows = (await conn.execute(select(deliveries))).all()
            assert not [r.id for r in rows if r.lease_owner is not None], n
            delivered = {r.event_id for r in rows if r.status == "delivered"}
            assert set(receiver.accepted()) == delivered, n  # each answer recorded
    finally:
        await receiver.stop()
    assert set(receiver.accepted().values()) == {1}  # none sent twice


async def test_two_dispatchers_never_double_send(store_target: StoreTarget) -> None:
    from service.store import migrate

    engines = [store_target.engine(), store_target.engine()]
    await migrate(engines[0])

    async def slowish(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.005)
        return web.Response(status=200)

    receiver = await Receiver(slowish).start()
    await endpoint_for(engines[0], receiver.url)
    ids = await enqueue_many(engines[0], 300)
    try:
        runners = [Running(Dispatcher(e, KEY, fast_settings(concurrency=8))) for e in engines]
        async with runners[0], runners[1]:
            await wait_until(lambda: _delivered(engines[0], 300), within=60)
    finally:
        await receiver.stop()
        for e in engines:
            await e.dispose()
    sent = [r.id for r in receiver.received]
    assert len(sent) == 300 and set(sent) == set(ids)
    by_owner = {r.headers.get("webhook-id") for r in receiver.received}
    assert len(by_owner) == 300


async def _count(engine: AsyncEngine, status: str, n: int) -> bool:
    return (await statuses(engine)).get(status, 0) == n


async def _delivered(engine: AsyncEngine, n: int) -> bool:
    return await _count(engine, "delivered", n)


async def _attempts(engine: AsyncEngine, n: int) -> bool:
    async with engine.connect() as conn:
        return len((await conn.execute(select(delivery_attempts.c.id))).all()) >= n
