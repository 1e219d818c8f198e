"""Web Push against a real push service on 127.0.0.1: subscriptions saved through the
staff page's endpoints, rings and reminders encrypted (decrypted here with the
browser's key) and VAPID-signed (verified with the server's public key), subscriptions
the push service says are gone deleted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.app import create_app
from service.checks import JoinLinks
from service.clock import utcnow
from service.config import Config, JobsConfig, PushConfig, load_config
from service.jobs import scheduler_jobs
from service.keys import load_or_create_secret, load_or_create_vapid_key
from service.links import check_token, revoke
from service.push.keys import VapidKey
from service.push.reminders import claim_reminders
from service.push.routes import PUSHER
from service.push.sender import Pusher, PushSettings
from service.push.subscriptions import (
    MAX_PER_PERSON,
    SubscriptionError,
    parse_subscription,
    save_subscription,
)
from service.schema import checks, push_subscriptions, staff
from service.state import ENGINE, LINK_SECRET
from tests.call_helpers import Links, add_check, seed_org
from tests.push_service import PushService, Subscriber
from tests.test_signaling_server import recv

BASE = "https://hadir.test"


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    async with PushService() as service:
        yield service


def push_config(tmp_path: Path, database_url: str) -> Config:
    return load_config(
        env={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "data"), "database_url": database_url},
            "server": {"http": True, "host": "127.0.0.1", "public_url": BASE},
            "webhooks": {"dispatcher": False},
            "jobs": {"enabled": False},
            "push": {"allow_insecure_loopback": True, "subject": "mailto:admin@hadir.test"},
        },
    )


async def pusher_for(engine: AsyncEngine, tmp_path: Path) -> tuple[Pusher, bytes]:
    secret = load_or_create_secret(tmp_path, "link-secret.key")
    key = VapidKey(load_or_create_vapid_key(tmp_path))
    settings = PushSettings("mailto:admin@hadir.test", allow_insecure_loopback=True)
    return Pusher(engine, secret, key, BASE, settings), secret


async def subscribe(engine: AsyncEngine, links: Links, staff_id: str, browser: Subscriber) -> None:
    sub = await parse_subscription(browser.subscription(), allow_insecure_loopback=True)
    async with engine.begin() as conn:
        await save_subscription(conn, staff_id, links.jtis[staff_id], sub, "test", utcnow())


def link(token: str) -> dict[str, str]:
    return {"Authorization": f"Link {token}"}


async def test_the_staff_page_saves_refreshes_and_deletes_its_subscription(
    store_target: Any, tmp_path: Path, push_service: PushService
) -> None:
    config = push_config(tmp_path, store_target.url)
    async with TestClient(TestServer(create_app(config))) as client:
        engine = client.app[ENGINE]
        links = await seed_org(engine, tmp_path, client.app[LINK_SECRET], BASE)
        staff, sup = link(links.tokens["staff1"]), link(links.tokens["sup1"])
        browser = push_service.subscriber()

        assert (await client.get("/push/key")).status == 401
        assert (await client.get("/push/key", headers=sup)).status == 403
        got = await client.get("/push/key", headers=staff)
        assert got.status == 200
        public = VapidKey(load_or_create_vapid_key(config.data_dir)).public_b64
        assert (await got.json()) == {"public_key": public}

        good = browser.subscription(lang="en")
        bad: list[tuple[Any, str]] = [
            ({**good, "endpoint": "http://push.example.com/x"}, "endpoint"),
            ({**good, "endpoint": "https://10.0.0.1/x"}, "endpoint"),
            ({**good, "keys": {"p256dh": "AAAA", "auth": good["keys"]["auth"]}}, "keys.p256dh"),
            ({**good, "keys": {**good["keys"], "auth": "AAAA"}}, "keys.auth"),
            ({"endpoint": good["endpoint"]}, "keys"),
            ({**good, "lang": "fr"}, "lang"),
            ({**good, "extra": 1}, "extra"),
            ({**good, "endpoint": good["endpoint"] + "\ud800"}, "endpoint"),
            ({**good, "endpoint": good["endpoint"] + "\u0000"}, "endpoint"),
            ({**good, "keys": {**good["keys"], "auth": "a\u0000"}}, "keys.auth"),
            ([good], "body"),
        ]
        for body, field in bad:
            answer = await client.put("/push/subscription", json=body, headers=staff)
            assert answer.status == 400, body
            assert (await answer.json())["error"]["message"].startswith(field), body
        answer = await client.put(
            "/push/subscription", data="{", headers={**staff, "Content-Type": "application/json"}
        )
        assert answer.status == 400
        answer = await client.put("/push/subscription", data="x", headers=staff)
        assert answer.status == 415
        answer = await client.put("/push/subscription", json=good, headers=sup)
        assert answer.status == 403

        first = await client.put("/push/subscription", json=good, headers=staff)
        assert (first.status, await first.json()) == (201, {"saved": True, "new": True})
        again = await client.put("/push/subscription", json=good, headers=staff)
        assert (again.status, await again.json()) == (200, {"saved": True, "new": False})
        async with engine.connect() as conn:
            rows = (await conn.execute(select(push_subscriptions))).all()
        assert [(r.staff_id, r.link_id, r.lang, r.endpoint) for r in rows] == [
            ("staff1", links.jtis["staff1"], "en", good["endpoint"])
        ]
        assert rows[0].refreshed_at > rows[0].created_at

        # Another person's link cannot delete it; its own can, once.
        other = link(links.tokens["staff2"])
        gone = {"endpoint": good["endpoint"]}
        assert (await client.delete("/push/subscription", json=gone, headers=other)).status == 404
        assert (await client.delete("/push/subscription", json=gone, headers=staff)).status == 204
        assert (await client.delete("/push/subscription", json=gone, headers=staff)).status == 404


async def test_http_endpoints_are_refused_unless_loopback_is_allowed_for_tests() -> None:
    browser = Subscriber.new("http://127.0.0.1:9/push/a")
    with pytest.raises(SubscriptionError, match="^endpoint: must be an https URL"):
        await parse_subscription(browser.subscription(), allow_insecure_loopback=False)
    with pytest.raises(SubscriptionError, match="^endpoint"):
        await parse_subscription(
            Subscriber.new("https://127.0.0.1/push").subscription(),
            allow_insecure_loopback=False,
        )
    sub = await parse_subscription(browser.subscription(), allow_insecure_loopback=True)
    assert sub.endpoint == browser.endpoint and sub.lang == "id"


async def test_a_ring_is_encrypted_for_the_browser_and_signed_by_the_server(
    store: AsyncEngine, tmp_path: Path, push_service: PushService
) -> None:
    pusher, secret = await pusher_for(store, tmp_path)
    links = await seed_org(store, tmp_path, secret, BASE)
    browser = push_service.subscriber(server_key=pusher.key.public_b64)
    await subscribe(store, links, "staff1", browser)
    try:
        assert await pusher.ring("staff1", "call_1", "chk_1", "Budi Santoso") == 1
    finally:
        await pusher.close()

    (pushed,) = push_service.requests
    assert (pushed.status, pushed.reason) == (201, "")  # VAPID checked by the service
    assert pushed.headers["ttl"] == "60"
    assert pushed.headers["urgency"] == "high"
    assert pushed.vapid is not None
    assert pushed.vapid.claims["sub"] == "mailto:admin@hadir.test"
    payload = browser.decrypt(pushed)
    page = f"{BASE}/staff/{links.tokens['staff1']}"
    assert payload == {
        "v": 1,
        "kind": "ring",
        "title": "Panggilan dari Budi Santoso",
        "body": "Ketuk untuk menjawab panggilan video.",
        "url": f"{page}#answer=call_1",
        "tag": "hadir-call-call_1",
        "call": "call_1",
        "check": "chk_1",
        "supervisor": "Budi Santoso",
    }
    async with store.connect() as conn:
        token = payload["url"].split("/staff/")[1].split("#")[0]
        assert (await check_token(conn, secret, token)).subject == "staff1"
        (row,) = (await conn.execute(select(push_subscriptions))).all()
    assert row.last_success_at is not None


async def test_gone_subscriptions_are_deleted_and_other_failures_kept(
    store: AsyncEngine, tmp_path: Path, push_service: PushService
) -> None:
    pusher, secret = await pusher_for(store, tmp_path)
    links = await seed_org(store, tmp_path, secret, BASE)
    gone, broken, fine = (push_service.subscriber() for _ in range(3))
    push_service.channels[gone.channel_id].active = False  # unsubscribed: 410
    push_service.fail_with[broken.channel_id] = 500
    unknown = Subscriber.new(f"{push_service.base_url}/wpush/never-registered")  # 404
    closed = Subscriber.new("http://127.0.0.1:9/push/closed")  # cannot be reached at all
    for browser in (gone, unknown, broken, fine, closed):
        await subscribe(store, links, "staff1", browser)
    try:
        assert await pusher.ring("staff1", "call_1", "chk_1", "Budi Santoso") == 1
    finally:
        await pusher.close()
    answered = {r.channel_id: r.status for r in push_service.requests}
    assert answered == {
        gone.channel_id: 410,
        unknown.channel_id: 404,
        broken.channel_id: 500,
        fine.channel_id: 201,
    }
    async with store.connect() as conn:
        left = (await conn.execute(select(push_subscriptions.c.endpoint))).scalars().all()
    assert sorted(left) == sorted(b.endpoint for b in (broken, closed, fine))


async def test_a_revoked_link_or_a_person_off_the_roster_gets_no_push(
    store: AsyncEngine, tmp_path: Path, push_service: PushService
) -> None:
    pusher, secret = await pusher_for(store, tmp_path)
    links = await seed_org(store, tmp_path, secret, BASE)
    await subscribe(store, links, "staff1", push_service.subscriber())
    await subscribe(store, links, "staff2", push_service.subscriber())
    async with store.begin() as conn:
        await revoke(conn, jti=links.jtis["staff1"], actor="test")
        await conn.execute(staff.update().where(staff.c.id == "staff2").values(active=False))
    try:
        assert await pusher.ring("staff1", "call_1", "chk_1", "Budi Santoso") == 0
        assert await pusher.ring("staff2", "call_2", "chk_2", "Rina Wijaya") == 0
    finally:
        await pusher.close()
    assert push_service.requests == []


async def test_a_person_keeps_their_newest_subscriptions_only(
    store: AsyncEngine, tmp_path: Path, push_service: PushService
) -> None:
    _, secret = await pusher_for(store, tmp_path)
    links = await seed_org(store, tmp_path, secret, BASE)
    start = utcnow()
    for n in range(MAX_PER_PERSON + 2):
        browser = Subscriber.new(f"{push_service.base_url}/wpush/{n}")
        sub = await parse_subscription(browser.subscription(), allow_insecure_loopback=True)
        async with store.begin() as conn:
            agent = "Mozilla/5.0 \x00\x1b"
            at = start + timedelta(seconds=n)
            await save_subscription(conn, "staff1", links.jtis["staff1"], sub, agent, at)
    async with store.connect() as conn:
        rows = (await conn.execute(select(push_subscriptions))).all()
    assert sorted(int(r.endpoint.rsplit("/", 1)[1]) for r in rows) == list(
        range(2, MAX_PER_PERSON + 2)
    )
    assert {r.user_agent for r in rows} == {"Mozilla/5.0 "}


async def test_reminders_are_claimed_once_and_say_when(
    store: AsyncEngine, tmp_path: Path, push_service: PushService
) -> None:
    pusher, secret = await pusher_for(store, tmp_path)
    links = await seed_org(store, tmp_path, secret, BASE)
    now = utcnow()
    soon = await add_check(store, "staff1", opens=timedelta(minutes=3), now=now)
    later = await add_check(store, "staff1", opens=timedelta(minutes=30), now=now)
    await add_check(store, "staff1", opens=timedelta(minutes=90), now=now)  # not yet
    await add_check(store, "staff2", opens=timedelta(minutes=2), now=now)  # not subscribed
    browser = push_service.subscriber()
    await subscribe(store, links, "staff1", browser)

    # Two nodes at once: one gets it.
    lead = timedelta(minutes=5)
    claimed = await asyncio.gather(*(claim_reminders(store, now, lead) for _ in range(2)))
    assert sorted(len(c) for c in claimed) == [0, 1]
    async with store.begin() as conn:
        await conn.execute(checks.update().values(reminded_at=None))

    jobs = scheduler_jobs(
        store,
        None,  # type: ignore[arg-type]  # the reminder job signs nothing
        JoinLinks(secret, BASE),
        JobsConfig(),
        clock=lambda: now,
        pusher=pusher,
        push=PushConfig(reminder_minutes=45),
    )
    (remind,) = [j for j in jobs if j.name == "push_reminders"]
    try:
        assert await remind.run() == 2  # both of staff1's checks within 45 minutes
        assert await remind.run() == 0
    finally:
        await pusher.close()
    assert {p.headers["urgency"] for p in push_service.requests} == {"normal"}
    payloads = {p["check"]: p for p in map(browser.decrypt, push_service.requests)}
    async with store.connect() as conn:
        rows = (await conn.execute(select(checks.c.id, checks.c.window_start))).all()
    starts = {row.id: row.window_start for row in rows}
    for check, minutes in ((soon, 3), (later, 30)):
        at = starts[check].astimezone(ZoneInfo("Asia/Jakarta")).strftime("%H:%M")
        payload = payloads.pop(check)
        assert payload["title"] == f"Pemeriksaan pukul {at} dalam {minutes} menit"
        assert (payload["kind"], payload["minutes"]) == ("reminder", minutes)
        assert payload["url"] == f"{BASE}/staff/{links.tokens['staff1']}"
    assert payloads == {}


async def test_a_supervisor_starting_a_call_rings_the_phone(
    tmp_path: Path, push_service: PushService
) -> None:
    config = push_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
    async with TestClient(TestServer(create_app(config))) as client:
        engine = client.app[ENGINE]
        links = await seed_org(engine, tmp_path, client.app[LINK_SECRET], BASE)
        browser = push_service.subscriber(
            server_key=VapidKey(load_or_create_vapid_key(config.data_dir)).public_b64
        )
        answer = await client.put(
            "/push/subscription", json=browser.subscription(), headers=link(links.tokens["staff1"])
        )
        assert answer.status == 201
        check = await add_check(engine, "staff1")
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "join", "v": 1, "token": links.tokens["sup1"]})
        welcome = await recv(ws, "welcome")
        # Page closed, but a subscription: the supervisor sees them reachable by push.
        assert [(p["id"], p["state"]) for p in welcome["presence"]] == [("staff1", "push")]
        sup = ws
        await sup.send_json({"type": "call", "check": check})
        call = (await recv(sup, "state"))["call"]
        (ring,) = await push_service.wait_for(lambda: push_service.requests, 5, "a ring")
        assert ring.status == 201  # signed by the key the page subscribed with
        payload = browser.decrypt(ring)
        assert (payload["kind"], payload["call"], payload["check"]) == ("ring", call, check)
        assert client.app[PUSHER].key.public_b64 in ring.authorization


async def test_with_push_off_the_endpoints_say_so_and_nothing_rings(tmp_path: Path) -> None:
    config = push_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
    config = replace(config, push=replace(config.push, enabled=False))
    async with TestClient(TestServer(create_app(config))) as client:
        links = await seed_org(client.app[ENGINE], tmp_path, client.app[LINK_SECRET], BASE)
        staff = link(links.tokens["staff1"])
        for answer in (
            await client.get("/push/key", headers=staff),
            await client.put("/push/subscription", json={}, headers=staff),
        ):
            assert answer.status == 404
            assert (await answer.json())["error"]["code"] == "push_off"
        assert PUSHER not in client.app
        assert not (config.data_dir / "vapid-p256.pem").exists()
        # A subscription from when push was on does not make anyone reachable.
        await subscribe(client.app[ENGINE], links, "staff1", Subscriber.new("http://127.0.0.1:9/a"))
        ws = await client.ws_connect("/ws")
        await ws.send_json({"type": "join", "v": 1, "token": links.tokens["sup1"]})
        welcome = await recv(ws, "welcome")
        assert [(p["id"], p["state"]) for p in welcome["presence"]] == [("staff1", "offline")]
