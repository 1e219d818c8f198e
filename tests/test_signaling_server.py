"""The WebSocket hub over a real socket: joining, refusing, ringing, relaying, ending."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from service.checks import sweep
from service.clock import utcnow
from service.config import Config
from service.links import revoke
from service.records import get_record
from service.schema import calls, checks, outbox, records
from service.state import CONFIG, ENGINE, LINK_SECRET, SIGNING_KEY
from service.store import create_engine, migrate
from signaling import routes
from signaling.server import HUB
from tests.call_helpers import HOME, Links, add_check, seed_org, working_today

SECRET = secrets.token_bytes(32)
KEY = Ed25519PrivateKey.generate()


async def _store(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[CONFIG].database_url)
    await migrate(engine)
    app[ENGINE] = engine
    yield
    await engine.dispose()


@contextlib.asynccontextmanager
async def _serve(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    app[CONFIG] = config
    app[LINK_SECRET] = SECRET
    app[SIGNING_KEY] = KEY
    app.cleanup_ctx.append(_store)
    routes.setup(app)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def client(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    async with _serve(config) as client:
        yield client


@pytest.fixture
async def quick(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    """A hub that closes unjoined pages after 1 s and looks at links every 0.2 s."""
    calls = replace(config.calls, join_timeout_s=1.0, link_check_s=0.2)
    async with _serve(replace(config, calls=calls)) as client:
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
    replies: list[dict[str, Any]] = []
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
    # No still at all: no evidence the camera was on, none that it was off.
    assert ended["reason"] == "hangup" and ended["verdict"] == "inconclusive"
    assert ended["indicators"]["camera"] == {"state": "inconclusive", "reason": "no_frames"}
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
    assert record is not None and record.check_id == check and record.status == "inconclusive"
    assert ended["status"] == "inconclusive"
    assert record.body["criteria"]["camera"]["verdict"] == "inconclusive"
    assert record.body["location"]["result"] == "inside"
    assert record.body["call"]["id"] == call
    assert check_status == "completed" and event_types == ["check.completed"]


async def test_a_call_still_ringing_ends_with_the_window(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    # The sweep writes MISSED only on a working day: make today one, whatever the date.
    await working_today(engine)
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


async def test_an_analysis_offer_is_refused_and_the_call_goes_on(
    client: TestClient[Any, Any], links: Links
) -> None:
    """The analysis leg is the page's stills (tests/test_stills.py): the server takes no
    WebRTC offer, and refusing one changes nothing."""
    sup1, staff1, call = await answered(client, links)
    await recv(sup1, "state")
    offer = {"type": "sdp", "call": call, "leg": "server", "kind": "offer", "sdp": "v=0\r\n"}
    await staff1.send_json(offer)
    error = await recv(staff1, "error")
    assert (error["code"], error["ref"]) == ("invalid", "sdp") and "leg" in error["message"]
    status = await recv(sup1, "status", wait_s=3)
    assert status["call"] == call
    await staff1.send_json({"type": "hangup", "call": call})
    assert (await recv(sup1, "ended"))["reason"] == "hangup"


async def closed_with(ws: ClientWebSocketResponse, code: str, close_code: int) -> list[str]:
    """Read until the server closes: it sent an error ``code`` first; the types seen."""
    seen: list[str] = []
    async with asyncio.timeout(3):
        while (msg := await ws.receive()).type == WSMsgType.TEXT:
            seen.append(json.loads(msg.data)["type"])
            if seen[-1] == "error":
                assert json.loads(msg.data)["code"] == code
    assert "error" in seen and ws.close_code == close_code
    return seen


async def test_a_page_that_never_joins_is_closed(quick: TestClient[Any, Any]) -> None:
    ws = await quick.ws_connect("/ws")
    await closed_with(ws, "not_joined", 1008)


async def test_revoking_a_link_closes_its_open_page_and_ends_its_call(
    quick: TestClient[Any, Any], tmp_path: Path
) -> None:
    engine = quick.app[ENGINE]
    links = await seed_org(engine, tmp_path, SECRET)
    check = await add_check(engine, "staff1")
    sup1 = await joined(quick, links.tokens["sup1"])
    staff1 = await joined(quick, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(sup1, "state"))["call"]
    await recv(staff1, "ring")
    async with engine.begin() as conn:
        await revoke(conn, actor="test", jti=links.jtis["staff1"])
    await closed_with(staff1, "unauthorized", 4401)
    ended = await recv(sup1, "state", wait_s=3)
    assert (ended["call"], ended["state"]) == (call, "ended")
    # Ended whole although the closing page's handler, which ended it, was cancelled.
    assert not quick.app[HUB].rooms.by_id
    again = await quick.ws_connect("/ws")
    await again.send_json({"type": "join", "v": 1, "token": links.tokens["staff1"]})
    await closed_with(again, "unauthorized", 4401)


async def test_a_revoked_link_is_not_rung(client: TestClient[Any, Any], links: Links) -> None:
    engine = client.app[ENGINE]
    check = await add_check(engine, "staff1")
    sup1 = await joined(client, links.tokens["sup1"])
    staff1 = await joined(client, links.tokens["staff1"])
    async with engine.begin() as conn:
        await revoke(conn, actor="test", jti=links.jtis["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    assert "ring" not in await closed_with(staff1, "unauthorized", 4401)


async def test_a_revoked_link_cannot_answer(client: TestClient[Any, Any], links: Links) -> None:
    engine = client.app[ENGINE]
    check = await add_check(engine, "staff1")
    sup1 = await joined(client, links.tokens["sup1"])
    staff1 = await joined(client, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(staff1, "ring"))["call"]
    async with engine.begin() as conn:
        await revoke(conn, actor="test", role="staff", subject="staff1")
    await staff1.send_json({"type": "accept", "call": call})
    await closed_with(staff1, "unauthorized", 4401)
    states = [(await recv(sup1, "state"))["state"] for _ in range(2)]
    assert states == ["ringing", "ended"]  # never active


async def test_a_shutdown_stops_calls_without_records_and_the_sweep_never_misses_them(
    config: Config, tmp_path: Path
) -> None:
    """The server, not the staff member, cut the call short: no record from it, the
    check stays callable, and once its window ends it is INCONCLUSIVE 'interrupted'."""
    async with _serve(config) as client:
        engine = client.app[ENGINE]
        links = await seed_org(engine, tmp_path, SECRET)
        await working_today(engine)  # else, on a weekend or holiday, the sweep cancels it
        sup1, staff1, call = await answered(client, links)
        near = {"lat": HOME[0] + 0.0003, "lon": HOME[1], "accuracy": 10}
        await staff1.send_json({"type": "location", "call": call, **near})
        while (await recv(sup1, "status", wait_s=3))["indicators"]["location"]["state"] != "pass":
            pass
        await client.app.shutdown()  # as on SIGTERM: before the sockets close
        assert (await recv(staff1, "ended"))["reason"] == "server_shutdown"
    engine = create_engine(config.database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(calls))).one()
            check = (await conn.execute(select(checks))).one()
        assert (row.status, check.status) == ("server_shutdown", "scheduled")
        assert row.answered_at is not None and row.evidence is not None
        assert await sweep(engine, utcnow(), key=KEY) == 0  # its window is still open
        assert await sweep(engine, check.window_end + timedelta(seconds=1), key=KEY) == 1
        async with engine.connect() as conn:
            [body] = [json.loads(b) for b in (await conn.execute(select(records.c.body))).scalars()]
    finally:
        await engine.dispose()
    assert (body["status"], body["reasons"][0]) == ("inconclusive", "interrupted")
    assert body["call"]["id"] == call and body["call"]["end"] == "server_stopped"
    assert body["location"]["result"] == "inside"


@pytest.fixture
async def brief(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    """A hub that waits 1 s for a staff page to come back."""
    async with _serve(replace(config, calls=replace(config.calls, rejoin_grace_s=1.0))) as client:
        yield client


async def test_a_staff_page_that_rejoins_gets_the_same_call_back(
    client: TestClient[Any, Any], links: Links
) -> None:
    sup1, staff1, call = await answered(client, links)
    await staff1.close()  # a reload, or Wi-Fi to mobile data
    while (away := await recv(sup1, "state"))["state"] != "reconnecting":
        pass
    assert (away["call"], away["reason"]) == (call, "staff_dropped")
    staff1 = await client.ws_connect("/ws")
    await staff1.send_json({"type": "join", "v": 1, "token": links.tokens["staff1"]})
    welcome = await recv(staff1, "welcome")
    assert welcome["call"]["call"] == call and welcome["call"]["state"] == "active"
    for ws in (sup1, staff1):
        back = await recv(ws, "state")
        assert (back["call"], back["state"], back["reason"]) == (call, "active", "reconnected")
    assert (await recv(staff1, "status", wait_s=3))["call"] == call  # the evidence goes on
    await staff1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    async with client.app[ENGINE].connect() as conn:
        record = await get_record(conn, ended["record"])
    assert record is not None and record.body["call"]["id"] == call
    assert record.body["call"]["end"] == "hung_up_by_staff"


async def test_a_staff_page_that_does_not_come_back_leaves_the_check_to_call_again(
    brief: TestClient[Any, Any], tmp_path: Path
) -> None:
    engine = brief.app[ENGINE]
    links = await seed_org(engine, tmp_path, SECRET)
    sup1, staff1, first = await answered(brief, links)
    await staff1.close()
    while (await recv(sup1, "state"))["state"] != "reconnecting":
        pass
    ended = await recv(sup1, "ended", wait_s=4)
    assert (ended["reason"], ended["record"]) == ("disconnected", None)
    async with engine.connect() as conn:
        check = (await conn.execute(select(checks))).one()
        row = (await conn.execute(select(calls))).one()
    assert check.status == "scheduled"  # no final record: it can be called again
    assert row.status == "staff_dropped" and row.evidence is not None

    staff1 = await joined(brief, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check.id})
    second = (await recv(staff1, "ring"))["call"]
    await staff1.send_json({"type": "accept", "call": second})
    while (await recv(sup1, "state"))["state"] != "active":
        pass
    await sup1.send_json({"type": "hangup", "call": second})
    ended = await recv(sup1, "ended")
    assert ended["record"] is not None and second != first
    # Its window ending later closes nothing twice.
    assert await sweep(engine, check.window_end + timedelta(seconds=1), key=KEY) == 0
    async with engine.connect() as conn:
        bodies = [json.loads(b) for b in (await conn.execute(select(records.c.body))).scalars()]
    assert [b["call"]["id"] for b in bodies] == [second]
    assert bodies[0]["call"]["end"] == "hung_up_by_supervisor"


async def test_a_supervisor_page_that_goes_away_leaves_the_check_to_call_again(
    client: TestClient[Any, Any], links: Links
) -> None:
    await working_today(client.app[ENGINE])  # else, on a weekend or holiday, it is cancelled
    sup1, staff1, call = await answered(client, links)
    await recv(sup1, "status", wait_s=3)
    await sup1.close()
    ended = await recv(staff1, "ended")
    assert (ended["reason"], ended["record"]) == ("disconnected", None)
    async with client.app[ENGINE].connect() as conn:
        row = (await conn.execute(select(calls))).one()
        check = (await conn.execute(select(checks))).one()
    assert (row.status, check.status) == ("supervisor_dropped", "scheduled")
    assert await sweep(client.app[ENGINE], check.window_end + timedelta(seconds=1), key=KEY) == 1
    async with client.app[ENGINE].connect() as conn:
        [body] = [json.loads(b) for b in (await conn.execute(select(records.c.body))).scalars()]
    assert (body["status"], body["call"]["end"]) == ("inconclusive", "supervisor_dropped")
