"""The WebSocket hub over a real socket: joining, refusing, ringing, relaying, ending."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from service.calendar import Override
from service.checks import sweep
from service.clock import utcnow
from service.config import Config
from service.overrides import set_override
from service.policy import Policy
from service.records import get_record
from service.schema import calls, checks, outbox
from service.state import CONFIG, ENGINE, LINK_SECRET, SIGNING_KEY
from service.store import create_engine, migrate
from signaling import routes
from signaling.server import HUB
from tests.call_helpers import HOME, Links, add_check, seed_org

SECRET = secrets.token_bytes(32)
KEY = Ed25519PrivateKey.generate()


async def _store(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[CONFIG].database_url)
    await migrate(engine)
    app[ENGINE] = engine
    yield
    await engine.dispose()


@pytest.fixture
async def client(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    app[CONFIG] = config
    app[LINK_SECRET] = SECRET
    app[SIGNING_KEY] = KEY
    app.cleanup_ctx.append(_store)
    routes.setup(app)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def links(client: TestClient[Any, Any], tmp_path: Path) -> Links:
    return await seed_org(client.app[ENGINE], tmp_path, SECRET)


async def recv(ws: ClientWebSocketResponse, kind: str, wait_s: float = 5) -> dict[str, Any]:
    """The next message of this type (others are skipped)."""
    async with asyncio.timeout(wait_s):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data["type"] == kind:
                return data


async def joined(client: TestClient[Any, Any], token: str) -> ClientWebSocketResponse:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "join", "v": 1, "token": token})
    welcome = await recv(ws, "welcome")
    assert welcome["v"] == 1 and welcome["ice_servers"] == []
    return ws


async def test_a_bad_token_is_refused_and_closed(
    client: TestClient[Any, Any], links: Links
) -> None:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "join", "v": 1, "token": links.tokens["sup1"][:-2] + "xx"})
    error = await recv(ws, "error")
    assert (error["code"], error["ref"]) == ("unauthorized", "join")
    assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 4401


async def test_hostile_messages_get_errors_and_change_nothing(
    client: TestClient[Any, Any], links: Links
) -> None:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "call", "check": "x"})
    assert (await recv(ws, "error"))["code"] == "not_joined"
    await ws.send_json({"type": "join", "v": 1, "token": links.tokens["staff1"]})
    await recv(ws, "welcome")
    rng = random.Random(5)
    alphabet = '{}[]":,0123456789.eE-+ntrufalsxyzcal\\\x00\u00e9'
    hostile = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(40)]
    hostile += [
        json.dumps({"type": "accept", "call": "call_nothere"}),
        json.dumps({"type": "call", "check": "chk"}),  # staff cannot call
        json.dumps({"type": "sdp", "call": "c", "leg": "p2p", "kind": "offer", "sdp": "x" * 40000}),
        json.dumps({"type": "join", "v": 1, "token": links.tokens["staff1"]}),
    ]
    for text in hostile:
        await ws.send_str(text)
        assert (await recv(ws, "error"))["code"] in (
            "invalid",
            "too_large",
            "not_found",
            "forbidden",
        )
    await ws.send_bytes(b"\x00\x01")
    assert (await recv(ws, "error"))["code"] == "invalid"
    await ws.send_json({"type": "ping"})
    await recv(ws, "pong")


async def test_a_flood_is_rate_limited(client: TestClient[Any, Any], links: Links) -> None:
    ws = await joined(client, links.tokens["sup1"])
    for _ in range(100):
        await ws.send_json({"type": "ping"})
    # Every ping gets exactly one reply: a pong while the bucket has tokens, then errors.
    replies = []
    async with asyncio.timeout(5):
        while len(replies) < 100:
            msg = await ws.receive()
            replies.append(json.loads(msg.data))
    pongs = [r for r in replies if r["type"] == "pong"]
    errors = [r for r in replies if r["type"] == "error"]
    # The burst is 60 and join spent one; refill during the flood may add a few.
    assert 59 <= len(pongs) < 70
    assert len(pongs) + len(errors) == 100
    assert {e["code"] for e in errors} == {"rate_limited"}


async def test_a_call_rings_connects_reports_and_ends(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    check = await add_check(engine, "staff1")
    sup1 = await joined(client, links.tokens["sup1"])
    sup2 = await joined(client, links.tokens["sup2"])
    staff1 = await joined(client, links.tokens["staff1"])
    staff2 = await joined(client, links.tokens["staff2"])

    await sup2.send_json({"type": "call", "check": check})
    assert (await recv(sup2, "error"))["code"] == "not_found"

    await sup1.send_json({"type": "call", "check": check})
    ringing = await recv(sup1, "state")
    call = ringing["call"]
    ring = await recv(staff1, "ring")
    assert (ring["call"], ring["supervisor"], ring["staff"]) == (
        call,
        "Budi Santoso",
        "Siti Rahmawati",
    )

    await staff2.send_json({"type": "accept", "call": call})
    assert (await recv(staff2, "error"))["code"] == "forbidden"
    await sup1.send_json({"type": "accept", "call": call})
    assert (await recv(sup1, "error"))["code"] == "forbidden"
    await sup1.send_json({"type": "call", "check": check})
    assert (await recv(sup1, "error"))["code"] == "busy"

    await staff1.send_json({"type": "accept", "call": call})
    assert (await recv(sup1, "state"))["state"] == "active"
    status = await recv(sup1, "status", wait_s=2)
    assert status["indicators"]["face"]["state"] == "pending"
    assert status["verdict"] == "pending"

    offer = {"type": "sdp", "call": call, "leg": "p2p", "kind": "offer", "sdp": "v=0\r\n"}
    await sup1.send_json(offer)
    assert (await recv(staff1, "sdp"))["sdp"] == "v=0\r\n"
    await staff1.send_json(
        {
            "type": "ice",
            "call": call,
            "leg": "p2p",
            "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
    )
    relayed = await recv(sup1, "ice")
    assert relayed["sdpMid"] == "0" and relayed["candidate"].startswith("candidate:")

    near = {"lat": HOME[0] + 0.0003, "lon": HOME[1], "accuracy": 10}
    await staff1.send_json({"type": "location", "call": call, **near})
    await staff1.send_json({"type": "location", "call": call, **near})
    assert (await recv(staff1, "error"))["code"] == "bad_state"  # once per call
    for _ in range(3):
        status = await recv(sup1, "status", wait_s=2)
        if status["indicators"]["location"]["state"] != "pending":
            break
    assert status["indicators"]["location"] == {"state": "pass", "reason": "at_home"}

    await staff1.send_json({"type": "visibility", "call": call, "hidden": True})
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(staff1, "ended")
    assert ended["reason"] == "hangup" and ended["verdict"] == "fail"  # no camera at all
    assert ended["indicators"]["camera"]["state"] == "fail"
    async with engine.connect() as conn:
        row = (await conn.execute(select(calls))).one()
        record = await get_record(conn, ended["record"])
        check_status = (
            await conn.execute(select(checks.c.status).where(checks.c.id == check))
        ).scalar_one()
        event_types = list((await conn.execute(select(outbox.c.event_type))).scalars())
    assert row.check_id == check and row.location_result == "inside"
    assert 30 < row.location_distance_m < 40
    assert "lat" not in row._mapping and row.status == "hangup" and row.ended_at is not None
    # The answered call became the check's record, with its webhook event, at once.
    assert record is not None and record.check_id == check and record.status == "failed"
    assert ended["status"] == "failed"
    assert record.body["criteria"]["camera"]["verdict"] == "fail"
    assert record.body["location"]["result"] == "inside"
    assert record.body["call"]["id"] == call
    assert check_status == "completed" and event_types == ["check.completed"]


async def test_a_call_still_ringing_ends_with_the_window(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    # The sweep writes MISSED only on a working day: make today one, whatever the date.
    async with engine.begin() as conn:
        today = utcnow().astimezone(Policy().zone).date()
        await set_override(conn, Override(today, True), actor="test")
    check = await add_check(engine, "staff1", closes=timedelta(seconds=1.5))
    sup1 = await joined(client, links.tokens["sup1"])
    await sup1.send_json({"type": "call", "check": check})
    await recv(sup1, "state")
    # While it rings, the call's row keeps the sweep off its check.
    assert await sweep(engine, utcnow() + timedelta(seconds=5), key=KEY) == 0
    ended = await recv(sup1, "state", wait_s=4)
    assert (ended["state"], ended["reason"]) == ("ended", "window_ended")
    async with engine.connect() as conn:
        row = (await conn.execute(select(calls))).one()
    assert row.status == "window_ended" and row.ended_at is not None
    # Never answered: no record from the call; the sweep makes it MISSED.
    assert await sweep(engine, utcnow(), key=KEY) == 1
    async with engine.connect() as conn:
        status = (await conn.execute(select(checks.c.status).where(checks.c.id == check))).one()
    assert status[0] == "missed"


async def answered(
    client: TestClient[Any, Any], links: Links
) -> tuple[ClientWebSocketResponse, ClientWebSocketResponse, str]:
    """sup1 calls staff1 about a check in its window and staff1 answers."""
    check = await add_check(client.app[ENGINE], "staff1")
    sup1 = await joined(client, links.tokens["sup1"])
    staff1 = await joined(client, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(staff1, "ring"))["call"]
    await staff1.send_json({"type": "accept", "call": call})
    return sup1, staff1, call


async def test_a_malformed_analysis_offer_is_refused_and_the_call_goes_on(
    client: TestClient[Any, Any], links: Links
) -> None:
    sup1, staff1, call = await answered(client, links)
    await recv(sup1, "state")
    for sdp in ("v=0\r\n", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 x 0\r\n"):
        offer = {"type": "sdp", "call": call, "leg": "server", "kind": "offer", "sdp": sdp}
        await staff1.send_json(offer)
        error = await recv(staff1, "error")
        assert (error["code"], error["ref"]) == ("invalid", "sdp")
    # The supervisor cannot send the analysis leg, and the call is still live.
    await sup1.send_json(
        {"type": "sdp", "call": call, "leg": "server", "kind": "offer", "sdp": "x"}
    )
    assert (await recv(sup1, "error"))["code"] == "forbidden"
    status = await recv(sup1, "status", wait_s=3)
    assert status["call"] == call
    await staff1.send_json({"type": "hangup", "call": call})
    assert (await recv(sup1, "ended"))["reason"] == "hangup"


async def test_a_refused_analysis_leg_never_fails_the_staff_member(
    client: TestClient[Any, Any], links: Links
) -> None:
    """Capacity full: the call goes on peer to peer, and the record says nothing was
    watched (inconclusive) instead of blaming the camera."""
    client.app[HUB].pool.max_peers = 0
    sup1, staff1, call = await answered(client, links)
    offer = {"type": "sdp", "call": call, "leg": "server", "kind": "offer", "sdp": "v=0\r\n"}
    await staff1.send_json(offer)
    assert (await recv(staff1, "error"))["code"] == "busy"
    status = await recv(sup1, "status", wait_s=3)
    assert status["indicators"]["camera"] == {
        "state": "inconclusive",
        "reason": "analysis_unavailable",
    }
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["verdict"] == "inconclusive" and ended["status"] == "inconclusive"
    assert all(
        ended["indicators"][n]["state"] == "inconclusive" for n in ("face", "camera", "uniform")
    )
