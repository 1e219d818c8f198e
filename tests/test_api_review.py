"""Reviews and objections over the API, on both dialects: supervisors and staff with
their personal links, admins with a key; each a new chained entry, never an edit."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.keys import LINK_SECRET_FILE, load_or_create_secret, load_or_create_signing_key
from service.links import issue_link
from service.records import lock_chain, record_missed_many, verify_chain
from service.schema import deliveries, outbox, records
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.endpoints import create_endpoint
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.conftest import StoreTarget
from tests.records_helpers import seed_checks
from tests.webhook_helpers import (
    Receiver,
    Running,
    endpoint_for,
    fast_settings,
    statuses,
    verify_both,
    wait_until,
)


async def _setup(store: AsyncEngine, data_dir: Path) -> dict[str, str]:
    """Day-0 records for s1, s2 (team sup1) and s3 (team sup2); returns staff → record id."""
    ids = await seed_checks(store, days=1)
    key = load_or_create_signing_key(data_dir)
    async with store.begin() as conn:
        await lock_chain(conn)
        written = await record_missed_many(conn, ids, key=key)
    return {r.staff_id: r.id for r in written}


async def _link(store: AsyncEngine, data_dir: Path, role: str, subject: str) -> dict[str, str]:
    secret = load_or_create_secret(data_dir, LINK_SECRET_FILE)
    async with store.begin() as conn:
        url, _ = await issue_link(
            conn, secret, "http://x", role, subject, timedelta(hours=1), actor="t"
        )
    return {"Authorization": f"Link {url.rsplit('/', 1)[1]}"}


async def test_supervisor_reviews_and_staff_objects_with_their_links(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    rec = await _setup(store, config.data_dir)
    async with store.begin() as conn:
        hook = await create_endpoint(
            conn, "http://127.0.0.1:9/h", ["record.reviewed"], owner_key_id="key_t", actor="t"
        )
    sup = await _link(store, config.data_dir, "supervisor", "sup1")
    siti = await _link(store, config.data_dir, "staff", "s1")
    base = "/api/v1/me/records"
    async with api_client(config) as client:

        async def post(
            path: str, headers: dict[str, str], body: object
        ) -> tuple[int, dict[str, Any]]:
            r = await client.post(f"{base}/{path}", json=body, headers=headers)
            return r.status, await r.json()

        r = await client.get(f"{base}/{rec['s1']}", headers=sup)
        state = await r.json()
        assert r.status == 200
        assert (state["record_id"], state["status"], state["review_state"]) == (
            rec["s1"],
            "missed",
            "unreviewed",
        )
        assert [e["kind"] for e in state["entries"]] == ["verification"]
        assert (await client.get(f"{base}/{rec['s1']}", headers=siti)).status == 200
        for headers, other in ((sup, "s3"), (siti, "s2")):
            r = await client.get(f"{base}/{rec[other]}", headers=headers)
            assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
        r = await client.get(f"{base}/rec_absent", headers=sup)
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"

        review = f"{rec['s1']}/review"
        for body, field in (
            ({"decision": "confirm"}, "reason"),
            ({"decision": "confirm", "reason": "  "}, "reason"),
            ({"decision": "confirm", "reason": 7}, "reason"),
            ({"decision": "override", "reason": "x"}, "status"),
            ({"decision": "override", "reason": "x", "status": "great"}, "status"),
            ({"decision": "maybe", "reason": "x"}, "decision"),
            ({"decision": "confirm", "reason": "x", "by": "me"}, "by"),
        ):
            status, answer = await post(review, sup, body)
            assert status == 400, body
            assert answer["error"]["code"] == "bad_parameter"
            assert answer["error"]["message"].startswith(f"{field}:"), answer
        r = await client.post(f"{base}/{review}", data="reason=x", headers=sup)
        assert r.status == 415
        ok = {"decision": "confirm", "reason": "seen on the call"}
        assert (await post(f"{rec['s3']}/review", sup, ok))[0] == 403
        assert (await post(review, siti, ok))[0] == 403  # staff do not review

        override = {"decision": "override", "status": "passed", "reason": "called by phone"}
        status, state = await post(review, sup, override)
        assert status == 201
        assert (state["status"], state["review_state"]) == ("passed", "overridden")
        entry = state["entries"][-1]
        assert entry["kind"] == "review" and entry["status"] == "passed"
        assert entry["body"]["reviewer"] == "supervisor:sup1"
        assert entry["body"]["reason"] == "called by phone"
        status, answer = await post(review, sup, override)
        assert status == 409 and answer["error"]["code"] == "conflict"

        objection = {"reason": "Saya hadir, sinyal buruk"}
        assert (await post(f"{rec['s2']}/objection", siti, objection))[0] == 403
        assert (await post(f"{rec['s1']}/objection", sup, objection))[0] == 403
        status, answer = await post(f"{rec['s1']}/objection", siti, {"reason": ""})
        assert status == 400 and answer["error"]["message"].startswith("reason:")
        status, state = await post(f"{rec['s1']}/objection", siti, objection)
        assert status == 201 and state["review_state"] == "objected"
        assert state["entries"][-1]["body"]["reason"] == objection["reason"]
        assert (await post(f"{rec['s1']}/objection", siti, objection))[0] == 409
        status, state = await post(review, sup, ok)
        assert status == 201 and (state["status"], state["review_state"]) == (
            "passed",
            "confirmed",
        )
        assert [e["kind"] for e in state["entries"]] == [
            "verification",
            "review",
            "objection",
            "review",
        ]

    async with store.connect() as conn:
        events = (
            await conn.execute(
                select(outbox.c.id, outbox.c.payload).where(
                    outbox.c.event_type == "record.reviewed"
                )
            )
        ).all()
        sent_to = (
            await conn.execute(select(deliveries.c.event_id, deliveries.c.endpoint_id))
        ).all()
    decisions = [json.loads(p)["data"]["record"]["body"]["decision"] for _, p in events]
    assert sorted(decisions) == ["confirm", "override"]
    assert sorted(sent_to) == sorted((event_id, hook.id) for event_id, _ in events)
    report = await verify_chain(store, load_or_create_signing_key(config.data_dir).public_key())
    assert report.ok and report.checked == 3 + 3


async def test_admin_reviews_with_a_key(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    rec = await _setup(store, config.data_dir)
    admin = await new_key(store_target.url, "admin")
    reader = await new_key(store_target.url, "records:read")
    body = {"decision": "confirm", "reason": "matches the roster"}
    async with api_client(config) as client:
        path = f"/api/v1/records/{rec['s3']}/review"
        assert (await client.post(path, json=body)).status == 401
        assert (await client.post(path, json=body, headers=bearer(reader))).status == 403
        r = await client.post(path, json=body, headers=bearer(admin))
        state = await r.json()
        assert r.status == 201 and state["review_state"] == "confirmed"
        review_id = state["entries"][-1]["id"]
        assert state["entries"][-1]["body"]["reviewer"].startswith("apikey:key_")
        r = await client.post(
            f"/api/v1/records/{review_id}/review", json=body, headers=bearer(admin)
        )
        assert r.status == 409 and "not a verification" in (await r.json())["error"]["message"]
        r = await client.post("/api/v1/records/rec_absent/review", json=body, headers=bearer(admin))
        assert r.status == 404


async def test_a_retried_review_or_objection_with_its_key_writes_once(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    rec = await _setup(store, config.data_dir)
    sup = await _link(store, config.data_dir, "supervisor", "sup1")
    siti = await _link(store, config.data_dir, "staff", "s1")
    admin = bearer(await new_key(store_target.url, "admin"))
    base = "/api/v1/me/records"
    ok = {"decision": "confirm", "reason": "seen on the call"}
    async with api_client(config) as client:

        async def post(
            path: str, headers: dict[str, str], body: object, key: str
        ) -> tuple[int, Any, str | None]:
            r = await client.post(path, json=body, headers={**headers, "Idempotency-Key": key})
            return r.status, await r.json(), r.headers.get("Idempotent-Replayed")

        first = await post(f"{base}/{rec['s1']}/review", sup, ok, "k-1")
        again = await post(f"{base}/{rec['s1']}/review", sup, ok, "k-1")
        assert first[:2] == again[:2] and first[0] == 201
        assert (first[2], again[2]) == (None, "true")
        status, answer, _ = await post(
            f"{base}/{rec['s1']}/review", sup, {**ok, "reason": "other"}, "k-1"
        )
        assert status == 422 and answer["error"]["code"] == "idempotency_key_reused"
        status, answer, _ = await post(f"{base}/{rec['s1']}/review", sup, ok, "x" * 201)
        assert status == 400 and answer["error"]["message"].startswith("Idempotency-Key")

        objection = {"reason": "Saya hadir"}
        first = await post(f"{base}/{rec['s1']}/objection", siti, objection, "k-1")
        again = await post(f"{base}/{rec['s1']}/objection", siti, objection, "k-1")
        assert first[0] == again[0] == 201 and first[1] == again[1]  # not 409: a replay

        # Twins sent at once (the client gave up on the first): one review is written.
        twins = await asyncio.gather(
            *(post(f"/api/v1/records/{rec['s2']}/review", admin, ok, "twin") for _ in range(5))
        )
        assert {t[0] for t in twins} == {201}
        assert len({json.dumps(t[1], sort_keys=True) for t in twins}) == 1

    async with store.connect() as conn:
        kinds = (await conn.execute(select(records.c.kind))).scalars().all()
        events = (await conn.execute(select(outbox.c.event_type))).scalars().all()
    assert sorted(kinds).count("review") == 2 and kinds.count("objection") == 1
    assert events.count("record.reviewed") == 2
    assert (await verify_chain(store, load_or_create_signing_key(config.data_dir).public_key())).ok


async def test_an_objection_is_announced_once_to_keys_that_may_read_records(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    """``record.objected`` goes through the outbox with the objection: one delivery per
    subscribed endpoint, none more for a retried request, none sent to a key without
    ``records:read``."""
    config = api_config(tmp_path, store_target.url)
    rec = await _setup(store, config.data_dir)
    siti = await _link(store, config.data_dir, "staff", "s1")
    reader = bearer(await new_key(store_target.url, "webhooks:write", "records:read"))
    hooks_only = bearer(await new_key(store_target.url, "webhooks:write"))
    receiver = await Receiver().start()
    # An endpoint whose key lacks records:read (made before the rule, or narrowed since).
    narrow = await endpoint_for(store, receiver.url, ["record.objected"], ("webhooks:write",))
    objection = {"reason": "Saya hadir, sinyal buruk"}
    signing_key = load_or_create_signing_key(config.data_dir)
    try:
        async with api_client(config) as client:
            subscribe = {"url": receiver.url, "events": ["record.objected"]}
            r = await client.post("/api/v1/webhooks", json=subscribe, headers=hooks_only)
            assert r.status == 403 and "records:read" in (await r.json())["error"]["message"]
            r = await client.post("/api/v1/webhooks", json=subscribe, headers=reader)
            assert r.status == 201
            endpoint = await r.json()
            for replayed in (None, "true"):
                r = await client.post(
                    f"/api/v1/me/records/{rec['s1']}/objection",
                    json=objection,
                    headers={**siti, "Idempotency-Key": "k-1"},
                )
                assert r.status == 201 and r.headers.get("Idempotent-Replayed") == replayed
        async with store.connect() as conn:
            queued = (
                await conn.execute(
                    select(outbox.c.event_type, deliveries.c.endpoint_id).join(
                        deliveries, deliveries.c.event_id == outbox.c.id
                    )
                )
            ).all()
        assert sorted(queued) == sorted(
            [("record.objected", endpoint["id"]), ("record.objected", narrow.id)]
        )
        async with Running(Dispatcher(store, signing_key, fast_settings())):
            await wait_until(lambda: _settled(store))
        assert await statuses(store) == {"delivered": 1, "failed": 1}
        (received,) = receiver.received
        event = verify_both(received, [endpoint["secret"]], signing_key)
        assert event["type"] == "record.objected" and set(event) == {"type", "timestamp", "data"}
        body = event["data"]["record"]["body"]
        assert (body["kind"], body["record_id"], body["reason"]) == (
            "objection",
            rec["s1"],
            objection["reason"],
        )
        assert event["data"]["check_id"] == body["check_id"]
    finally:
        await receiver.stop()


async def _settled(engine: AsyncEngine) -> bool:
    return "pending" not in await statuses(engine)
