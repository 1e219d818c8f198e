"""Presence and ring outcomes over a real socket: a supervisor learns which of their staff
have their page open (and only theirs), last seen survives a restart, an unanswered
ring ends ``not_answered``, a staff page may decline, and neither writes a record."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.checks import sweep
from service.clock import utcnow
from service.config import Config
from service.schema import calls, checks, records, staff
from service.state import ENGINE
from service.store import create_engine
from signaling.presence import LastSeen, stored_last_seen
from tests.call_helpers import Links, add_check, seed_org, working_today
from tests.test_signaling_server import KEY, SECRET, _serve, recv
from tests.webhook_helpers import wait_until

RING_S = 1.0


@pytest.fixture
async def hub(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    """A hub whose calls ring for one second."""
    async with _serve(replace(config, calls=replace(config.calls, ring_timeout_s=RING_S))) as c:
        yield c


@pytest.fixture
async def links(hub: TestClient[Any, Any], tmp_path: Path) -> Links:
    return await seed_org(hub.app[ENGINE], tmp_path, SECRET)


async def join(client: TestClient[Any, Any], token: str) -> tuple[ClientWebSocketResponse, Any]:
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "join", "v": 1, "token": token})
    return ws, await recv(ws, "welcome")


async def drain(ws: ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Every message the page has been sent so far (a ping's pong marks the end)."""
    await ws.send_json({"type": "ping"})
    got = []
    while (msg := json.loads((await ws.receive()).data))["type"] != "pong":
        got.append(msg)
    return got


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_a_supervisor_sees_their_own_staff_come_and_go_and_nobody_else(
    hub: TestClient[Any, Any], links: Links
) -> None:
    sup1, welcome1 = await join(hub, links.tokens["sup1"])
    sup2, welcome2 = await join(hub, links.tokens["sup2"])
    assert welcome1["presence"] == [{"id": "staff1", "state": "offline", "last_seen": None}]
    assert welcome2["presence"] == [{"id": "staff2", "state": "offline", "last_seen": None}]

    staff2, welcome = await join(hub, links.tokens["staff2"])
    assert welcome["presence"] is None  # a staff page learns nobody's presence
    assert (await recv(sup2, "presence"))["staff"][0]["state"] == "online"
    before = utcnow()
    tab1, _ = await join(hub, links.tokens["staff1"])
    [online] = (await recv(sup1, "presence"))["staff"]
    assert online["id"] == "staff1" and online["state"] == "online"
    tab2, _ = await join(hub, links.tokens["staff1"])  # a second tab: still the same
    await tab1.close()
    assert await drain(sup1) == []  # one page of staff1's is still open
    await tab2.close()
    [offline] = (await recv(sup1, "presence"))["staff"]
    assert offline["id"] == "staff1" and offline["state"] == "offline"
    assert before <= when(offline["last_seen"]) <= utcnow()

    # A supervisor joining now learns where each of their staff stands.
    again, welcome = await join(hub, links.tokens["sup1"])
    assert welcome["presence"] == [offline]
    # sup2 heard only of staff2, sup1 never of staff2.
    assert await drain(sup1) == [] and await drain(again) == []
    heard = [p["id"] for msg in await drain(sup2) for p in msg.get("staff", [])]
    assert "staff1" not in heard
    await staff2.close()
    assert [p["id"] for p in (await recv(sup2, "presence"))["staff"]] == ["staff2"]
    assert await drain(sup1) == []


async def _last_seen(config: Config) -> datetime | None:
    engine = create_engine(config.database_url)
    try:
        async with engine.connect() as conn:
            seen: datetime | None = (
                await conn.execute(select(staff.c.last_seen_at).where(staff.c.id == "staff1"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return seen


async def test_last_seen_is_written_in_batches_and_survives_a_restart(
    config: Config, tmp_path: Path
) -> None:
    async with _serve(config) as client:
        links = await seed_org(client.app[ENGINE], tmp_path, SECRET)
        for _ in range(10):  # a page that flaps
            page, _ = await join(client, links.tokens["staff1"])
            await page.close()
        left = utcnow()
        page, _ = await join(client, links.tokens["staff1"])  # open until the shutdown
        # Not one write per join or leave: they wait for the next batch.
        assert await _last_seen(config) is None
        await client.app.shutdown()
    stopped = utcnow()
    seen = await _last_seen(config)
    assert seen is not None and left <= seen <= stopped

    async with _serve(config) as client:
        sup1, welcome = await join(client, links.tokens["sup1"])
    assert welcome["presence"] == [
        {"id": "staff1", "state": "offline", "last_seen": seen.isoformat().replace("+00:00", "Z")}
    ]


async def test_last_seen_keeps_the_newest_instant_and_renews_pages_left_open(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await seed_org(store, tmp_path, SECRET)
    book = LastSeen(refresh_s=60)
    t0 = utcnow()

    async def stored() -> dict[str, datetime]:
        async with store.connect() as conn:
            return await stored_last_seen(conn, ["staff1", "staff2"])

    book.saw("staff1", t0 + timedelta(seconds=5))
    book.saw("staff1", t0)  # an older instant that arrives late changes nothing
    await book.flush(store)
    assert await stored() == {"staff1": t0 + timedelta(seconds=5)}
    book.still_open({"staff1"}, t0 + timedelta(seconds=30))  # written 25 s ago: fresh
    await book.flush(store)
    assert await stored() == {"staff1": t0 + timedelta(seconds=5)}
    book.still_open({"staff1"}, t0 + timedelta(seconds=70))  # 65 s: renewed
    await book.flush(store)
    assert await stored() == {"staff1": t0 + timedelta(seconds=70)}
    # Another node wrote a newer instant; this node's own is newer for staff2.
    book.saw("staff2", t0)
    merged = book.merged({"staff1": t0 + timedelta(seconds=99)})
    assert merged == {"staff1": t0 + timedelta(seconds=99), "staff2": t0}


async def _rows(client: TestClient[Any, Any]) -> tuple[list[str], int, str]:
    """The calls' row statuses, how many records, the check's status."""
    async with client.app[ENGINE].connect() as conn:
        statuses = list(
            (await conn.execute(select(calls.c.status).order_by("started_at"))).scalars()
        )
        count = (await conn.execute(select(func.count()).select_from(records))).scalar_one()
        status = (await conn.execute(select(checks.c.status))).scalar_one()
    return statuses, count, status


async def _settled(hub: TestClient[Any, Any], expected: tuple[list[str], int, str]) -> None:
    """The rows once the hub has stored how the call ended: it tells the pages first."""

    async def stored() -> bool:
        return await _rows(hub) == expected

    with contextlib.suppress(AssertionError):
        await wait_until(stored, within=5)
    assert await _rows(hub) == expected


async def test_an_unanswered_ring_stops_writes_nothing_and_the_check_can_be_called_again(
    hub: TestClient[Any, Any], links: Links
) -> None:
    check = await add_check(hub.app[ENGINE], "staff1")
    sup1, _ = await join(hub, links.tokens["sup1"])
    staff1, _ = await join(hub, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    first = (await recv(staff1, "ring"))["call"]
    started = utcnow()
    # Bounded far above the 1 s ring (a busy machine) and far below the 60 s default one
    # that ignored its setting would take.
    late = RING_S + 10
    for ws in (sup1, staff1):
        while (state := await recv(ws, "state", wait_s=late))["state"] != "ended":
            pass
        assert (state["call"], state["reason"]) == (first, "not_answered")
    assert timedelta(seconds=RING_S * 0.8) < utcnow() - started < timedelta(seconds=late)
    await _settled(hub, (["not_answered"], 0, "scheduled"))
    assert await sweep(hub.app[ENGINE], utcnow(), key=KEY) == 0  # its window is still open

    # Call again: the same check rings, and this time it is answered.
    await sup1.send_json({"type": "call", "check": check})
    second = (await recv(staff1, "ring"))["call"]
    await staff1.send_json({"type": "accept", "call": second})
    while (await recv(sup1, "state"))["state"] != "active":
        pass
    await recv(sup1, "status", wait_s=3)
    await asyncio.sleep(RING_S + 0.5)  # the ring timeout no longer applies
    await sup1.send_json({"type": "hangup", "call": second})
    ended = await recv(sup1, "ended")
    assert ended["reason"] == "hangup" and ended["record"] is not None
    await _settled(hub, (["not_answered", "hangup"], 1, "completed"))


async def test_a_declined_call_is_kept_on_its_row_and_the_window_alone_makes_it_missed(
    hub: TestClient[Any, Any], links: Links
) -> None:
    engine = hub.app[ENGINE]
    await working_today(engine)  # the sweep writes MISSED only on a working day
    check = await add_check(engine, "staff1", closes=timedelta(seconds=6))
    sup1, _ = await join(hub, links.tokens["sup1"])
    staff1, _ = await join(hub, links.tokens["staff1"])
    for _ in range(2):  # declined, called again, declined again
        await sup1.send_json({"type": "call", "check": check})
        call = (await recv(staff1, "ring"))["call"]
        await sup1.send_json({"type": "decline", "call": call})
        assert (await recv(sup1, "error"))["code"] == "forbidden"  # only the staff member
        await staff1.send_json({"type": "decline", "call": call})
        while (state := await recv(sup1, "state"))["state"] != "ended":
            pass
        assert (state["call"], state["reason"]) == (call, "declined")
        await staff1.send_json({"type": "decline", "call": call})
        assert (await recv(staff1, "error"))["code"] == "not_found"  # it has ended
    await _settled(hub, (["declined", "declined"], 0, "scheduled"))

    # An answered call cannot be declined any more.
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(staff1, "ring"))["call"]
    await staff1.send_json({"type": "accept", "call": call})
    await staff1.send_json({"type": "decline", "call": call})
    assert (await recv(staff1, "error"))["code"] == "bad_state"
    await staff1.send_json({"type": "hangup", "call": call})
    assert (await recv(sup1, "ended"))["record"] is not None


async def test_declines_and_unanswered_rings_leave_the_check_to_its_window(
    hub: TestClient[Any, Any], links: Links
) -> None:
    engine = hub.app[ENGINE]
    await working_today(engine)  # the sweep writes MISSED only on a working day
    check = await add_check(engine, "staff1", closes=timedelta(seconds=8))
    sup1, _ = await join(hub, links.tokens["sup1"])
    staff1, _ = await join(hub, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    await staff1.send_json({"type": "decline", "call": (await recv(staff1, "ring"))["call"]})
    while (await recv(sup1, "state"))["state"] != "ended":
        pass
    await sup1.send_json({"type": "call", "check": check})
    while (state := await recv(sup1, "state", wait_s=RING_S + 3))["state"] != "ended":
        pass
    assert state["reason"] == "not_answered"
    async with engine.connect() as conn:
        window_end = (await conn.execute(select(checks.c.window_end))).scalar_one()
    assert await sweep(engine, window_end + timedelta(seconds=1), key=KEY) == 1
    async with engine.connect() as conn:
        [body] = [json.loads(b) for b in (await conn.execute(select(records.c.body))).scalars()]
    assert body["status"] == "missed"  # never failed, never interrupted by a ring
    await _settled(hub, (["declined", "not_answered"], 1, "missed"))


async def test_a_staff_page_opened_mid_ring_is_told_who_calls(
    hub: TestClient[Any, Any], links: Links
) -> None:
    check = await add_check(hub.app[ENGINE], "staff1")
    sup1, _ = await join(hub, links.tokens["sup1"])
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(sup1, "state"))["call"]
    staff1, welcome = await join(hub, links.tokens["staff1"])
    assert welcome["call"] == {
        "call": call,
        "check": check,
        "state": "ringing",
        "staff": "Siti Rahmawati",
        "supervisor": "Budi Santoso",
    }
    await staff1.send_json({"type": "accept", "call": call})
    assert (await recv(sup1, "state"))["state"] == "active"


async def test_a_call_ends_with_the_page_that_started_it_not_the_dashboard(
    hub: TestClient[Any, Any], links: Links
) -> None:
    check = await add_check(hub.app[ENGINE], "staff1")
    dashboard, _ = await join(hub, links.tokens["sup1"])
    call_page, _ = await join(hub, links.tokens["sup1"])
    staff1, _ = await join(hub, links.tokens["staff1"])
    await call_page.send_json({"type": "call", "check": check})
    call = (await recv(staff1, "ring"))["call"]
    await staff1.send_json({"type": "accept", "call": call})
    await recv(staff1, "status", wait_s=3)
    await call_page.close()
    ended = await recv(staff1, "ended")
    assert (ended["call"], ended["reason"], ended["record"]) == (call, "disconnected", None)
    assert (await _rows(hub))[0] == ["supervisor_dropped"]
