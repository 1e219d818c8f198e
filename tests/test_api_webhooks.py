"""Webhook endpoints over the API: CRUD, rotation, the delivery log, redelivery, replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.apikeys import revoke_key
from service.schema import deliveries
from service.store import create_engine
from service.webhooks.deliveries import replay
from service.webhooks.dispatcher import Dispatcher
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.conftest import StoreTarget
from tests.webhook_helpers import (
    Receiver,
    Running,
    endpoint_for,
    enqueue_many,
    fast_settings,
    statuses,
    wait_until,
)

KEY = Ed25519PrivateKey.generate()
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


async def test_endpoint_crud_and_rotation(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    key = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    async with api_client(config) as client:
        r = await client.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["check.completed", "check.missed"]},
            headers=key,
        )
        created = await r.json()
        assert r.status == 201 and created["secret"].startswith("whsec_")
        path = f"/api/v1/webhooks/{created['id']}"
        shown = await (await client.get(path, headers=key)).json()
        assert "secret" not in shown and shown["enabled"] is True
        listed = await (await client.get("/api/v1/webhooks", headers=key)).json()
        assert [e["id"] for e in listed["data"]] == [created["id"]]

        r = await client.patch(
            path, json={"events": ["record.reviewed"], "enabled": False}, headers=key
        )
        changed = await r.json()
        assert r.status == 200 and changed["events"] == ["record.reviewed"]
        assert changed["enabled"] is False
        rotated = await (await client.post(path + "/rotate", headers=key)).json()
        assert rotated["secret"] != created["secret"] and rotated["rotation_ends_at"]

        for body, field in (
            ({"url": "ftp://x/y", "events": ["check.completed"]}, "url"),
            ({"url": "http://127.0.0.1/", "events": ["nope"]}, "events"),
            ({"url": "http://127.0.0.1/", "events": []}, "events"),
            ({"events": ["check.missed"]}, "url"),
            ({"url": "http://u:p@127.0.0.1/", "events": ["check.missed"]}, "url"),
        ):
            r = await client.post("/api/v1/webhooks", json=body, headers=key)
            assert r.status == 400 and (await r.json())["error"]["message"].startswith(field)
        r = await client.post(
            "/api/v1/webhooks", data="{", headers={**key, "Content-Type": "application/json"}
        )
        assert r.status == 400
        assert (await client.delete(path, headers=key)).status == 204
        assert (await client.get(path, headers=key)).status == 404


async def test_private_addresses_refused_at_registration_unless_allowed(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url, allow_private_addresses=False)
    key = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    async with api_client(config) as client:
        for url in (
            "http://127.0.0.1/hook",
            "http://localhost/hook",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
        ):
            r = await client.post(
                "/api/v1/webhooks", json={"url": url, "events": ["check.missed"]}, headers=key
            )
            assert r.status == 400, url
            assert "not public" in (await r.json())["error"]["message"]


async def test_delivery_log_redelivery_and_replay(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    key = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    answer = [500]

    async def scripted(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        return web.Response(status=answer[0])

    receiver = await Receiver(scripted).start()
    engine = create_engine(store_target.url)
    try:
        async with api_client(config) as client:
            r = await client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "events": ["check.missed"]},
                headers=key,
            )
            endpoint = await r.json()
            base = f"/api/v1/webhooks/{endpoint['id']}"
            ids = await enqueue_many(engine, 3, "check.missed")
            await enqueue_many(engine, 1, "check.completed")  # not subscribed
            settings = fast_settings(schedule=fast_settings().schedule.__class__((0.0, 0.01)))
            async with Running(Dispatcher(engine, KEY, settings)):
                await wait_until(lambda: _has(engine, "failed", 3))
            log = await (await client.get(base + "/deliveries", headers=key)).json()
            assert {d["event_id"] for d in log["data"]} == set(ids)
            first = log["data"][0]
            assert first["status"] == "failed" and len(first["history"]) == 2
            assert first["history"][0]["status_code"] == 500
            page = await (await client.get(base + "/deliveries?limit=2", headers=key)).json()
            rest = await (
                await client.get(base + f"/deliveries?cursor={page['next_cursor']}", headers=key)
            ).json()
            assert len(page["data"]) == 2 and len(rest["data"]) == 1 and not rest["next_cursor"]

            answer[0] = 200
            r = await client.post(base + f"/deliveries/{first['id']}/redeliver", headers=key)
            assert r.status == 202 and (await r.json())["status"] == "pending"
            async with Running(Dispatcher(engine, KEY, settings)):
                await wait_until(lambda: _has(engine, "delivered", 1))
            r = await client.post(
                base + "/replay", json={"since": "2000-01-01T00:00:00Z"}, headers=key
            )
            assert r.status == 202 and (await r.json()) == {"queued": 2}
            r = await client.post(
                base + "/replay", json={"event_id": first["event_id"]}, headers=key
            )
            assert (await r.json()) == {"queued": 1}
            async with Running(Dispatcher(engine, KEY, settings)):
                await wait_until(lambda: _has(engine, "delivered", 3))
            assert (await client.get(base + "/deliveries?status=failed", headers=key)).status == 200
            r = await client.get(base + "/deliveries?status=weird", headers=key)
            assert r.status == 400
            r = await client.post(base + "/deliveries/999999/redeliver", headers=key)
            assert r.status == 404
            r = await client.post(base + "/replay", json={}, headers=key)
            assert r.status == 400
    finally:
        await receiver.stop()
        await engine.dispose()
    assert sum(1 for r in receiver.received if r.id == first["event_id"]) == 4  # 2 + 1 + 1


async def _has(engine: AsyncEngine, status: str, n: int) -> bool:
    return (await statuses(engine)).get(status, 0) == n


async def test_subscribing_needs_the_scope_that_receiving_needs(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    hooks_only = bearer(await new_key(store_target.url, "webhooks:write"))
    records = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    links = bearer(await new_key(store_target.url, "webhooks:write", "links:read"))
    url = "http://127.0.0.1:9/hook"
    async with api_client(config) as client:
        for key, events, status in (
            (hooks_only, ["check.completed"], 403),
            (hooks_only, ["record.reviewed"], 403),
            (hooks_only, ["record.objected"], 403),
            (hooks_only, ["check.scheduled"], 403),
            (records, ["check.completed", "check.missed", "record.reviewed"], 201),
            (records, ["record.objected"], 201),
            (records, ["check.cancelled"], 201),  # a check, as GET /checks shows it
            (records, ["check.scheduled"], 403),
            (links, ["check.scheduled"], 201),
            (links, ["check.missed"], 403),
            (links, ["check.cancelled"], 403),
            (links, ["record.objected"], 403),
        ):
            r = await client.post(
                "/api/v1/webhooks", json={"url": url, "events": events}, headers=key
            )
            assert r.status == status, (events, await r.text())
            if status == 403:
                assert "needs the scope" in (await r.json())["error"]["message"]
            else:
                made = await r.json()
                r = await client.patch(
                    f"/api/v1/webhooks/{made['id']}",
                    json={"events": ["check.completed", "check.scheduled"]},
                    headers=key,
                )
                assert r.status == 403  # neither key holds both scopes


async def test_an_endpoint_belongs_to_the_key_that_made_it(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    mine = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    other = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    admin = bearer(await new_key(store_target.url, "admin"))
    async with api_client(config) as client:
        r = await client.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["check.missed"]},
            headers=mine,
        )
        made = await r.json()
        path = f"/api/v1/webhooks/{made['id']}"
        for method, suffix, body in (
            ("GET", "", None),
            ("PATCH", "", {"url": "http://127.0.0.1:9/stolen"}),
            ("DELETE", "", None),
            ("POST", "/rotate", None),
            ("GET", "/deliveries", None),
            ("POST", "/replay", {"since": "2000-01-01T00:00:00Z"}),
            ("POST", "/deliveries/1/redeliver", None),
        ):
            r = await client.request(method, path + suffix, json=body, headers=other)
            assert r.status == 404, (method, suffix)
        assert (await (await client.get("/api/v1/webhooks", headers=other)).json())["data"] == []
        seen = await (await client.get("/api/v1/webhooks", headers=admin)).json()
        assert [e["id"] for e in seen["data"]] == [made["id"]]
        shown = await (await client.get(path, headers=mine)).json()
        assert shown["url"] == "http://127.0.0.1:9/hook"  # unchanged by the other key
        assert (await client.get(path, headers=admin)).status == 200


async def test_deliveries_and_replays_follow_the_owner_key_at_send_time(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    """An endpoint whose key may not (or no longer) receive an event gets none of it."""
    receiver = await Receiver().start()
    engine = create_engine(store_target.url)
    try:
        narrow = await endpoint_for(engine, receiver.url, ["check.missed"], ("webhooks:write",))
        await enqueue_many(engine, 2, "check.missed")
        async with Running(Dispatcher(engine, KEY, fast_settings())):
            await wait_until(lambda: _has(engine, "failed", 2))
        assert receiver.received == []
        async with engine.connect() as conn:
            errors = (await conn.execute(select(deliveries.c.last_error))).scalars().all()
        assert errors == ["refused: the endpoint's API key lacks records:read"] * 2
        async with engine.begin() as conn:
            queued = await replay(
                conn, narrow, ("webhooks:write",), since=datetime(2000, 1, 1, tzinfo=UTC)
            )
        assert queued == 0

        wide = await endpoint_for(engine, receiver.url, ["check.missed"])
        async with engine.begin() as conn:
            await revoke_key(conn, str(wide.owner_key_id), actor="test")
            queued = await replay(
                conn, wide, ("records:read",), since=datetime(2000, 1, 1, tzinfo=UTC)
            )
        assert queued == 2  # queued, but the revoked key's endpoint is refused when sent
        async with Running(Dispatcher(engine, KEY, fast_settings())):
            await wait_until(lambda: _has(engine, "failed", 4))
        assert receiver.received == []
    finally:
        await receiver.stop()
        await engine.dispose()
