"""Webhook endpoints over the API: CRUD, rotation, the delivery log, redelivery, replay."""

from __future__ import annotations

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.store import create_engine
from service.webhooks.dispatcher import Dispatcher
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.webhook_helpers import (
    Receiver,
    Running,
    enqueue_many,
    fast_settings,
    statuses,
    wait_until,
)

KEY = Ed25519PrivateKey.generate()


async def test_endpoint_crud_and_rotation(store, store_target, tmp_path) -> None:
    config = api_config(tmp_path, store_target.url)
    key = bearer(await new_key(store_target.url, "webhooks:write"))
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
    store, store_target, tmp_path
) -> None:
    config = api_config(tmp_path, store_target.url, allow_private_addresses=False)
    key = bearer(await new_key(store_target.url, "webhooks:write"))
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


async def test_delivery_log_redelivery_and_replay(store, store_target, tmp_path) -> None:
    config = api_config(tmp_path, store_target.url)
    key = bearer(await new_key(store_target.url, "webhooks:write"))
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


async def _has(engine, status: str, n: int) -> bool:
    return (await statuses(engine)).get(status, 0) == n
