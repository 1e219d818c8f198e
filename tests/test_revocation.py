"""Revoking links in one process (``LocalBus``): through the API, and by a roster import
that makes a staff member inactive, the page closes at once, not at the next link check
(set to a minute here, so only the bus can close it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from service.app import create_app
from service.config import Config
from service.schema import link_tokens
from service.state import ENGINE, LINK_SECRET
from tests.api_helpers import bearer, new_key
from tests.call_helpers import ROSTER, Links, add_check, seed_org
from tests.test_signaling_server import joined, recv

CLOSE_S = 3.0  # well under the minute the link check waits here


@pytest.fixture
async def client(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    calls = replace(config.calls, link_check_s=60.0)
    async with TestClient(TestServer(create_app(replace(config, calls=calls)))) as client:
        yield client


@pytest.fixture
async def links(client: TestClient[Any, Any], tmp_path: Path) -> Links:
    return await seed_org(client.app[ENGINE], tmp_path, client.app[LINK_SECRET])


async def closed_unauthorized(ws: ClientWebSocketResponse) -> None:
    error = await recv(ws, "error", wait_s=CLOSE_S)
    assert error["code"] == "unauthorized"
    closing = await ws.receive(timeout=CLOSE_S)
    assert (closing.type, closing.data) == (WSMsgType.CLOSE, 4401)


async def test_a_link_revoked_through_the_api_closes_its_page_at_once(
    client: TestClient[Any, Any], links: Links, config: Config
) -> None:
    key = bearer(await new_key(config.database_url, "roster:write"))
    check = await add_check(client.app[ENGINE], "staff1")
    sup1 = await joined(client, links.tokens["sup1"])
    staff1 = await joined(client, links.tokens["staff1"])
    other = await joined(client, links.tokens["staff2"])
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(sup1, "state"))["call"]
    await recv(staff1, "ring")

    answer = await client.delete("/api/v1/staff/staff1/links", headers=key)
    assert (answer.status, await answer.json()) == (200, {"revoked": 1})
    await closed_unauthorized(staff1)
    ended = await recv(sup1, "state", wait_s=CLOSE_S)  # its call ends as the page goes
    assert (ended["call"], ended["state"]) == (call, "ended")
    await other.send_json({"type": "ping"})
    assert (await recv(other, "pong"))["type"] == "pong"  # another link's page stays

    # By token id too; an unknown or already revoked one, or nobody, is a 404.
    answer = await client.delete(f"/api/v1/links/{links.jtis['staff2']}", headers=key)
    assert (answer.status, await answer.json()) == (200, {"revoked": 1})
    await closed_unauthorized(other)
    for path in (
        f"/api/v1/links/{links.jtis['staff2']}",
        "/api/v1/staff/nobody/links",
        "/api/v1/supervisors/nobody/links",
    ):
        answer = await client.delete(path, headers=key)
        assert (answer.status, (await answer.json())["error"]["code"]) == (404, "not_found")
    reader = bearer(await new_key(config.database_url, "records:read"))
    answer = await client.delete("/api/v1/supervisors/sup1/links", headers=reader)
    assert answer.status == 403
    await sup1.send_json({"type": "ping"})
    assert (await recv(sup1, "pong"))["type"] == "pong"  # refused: nothing revoked


async def test_a_roster_import_that_makes_staff_inactive_closes_their_pages(
    client: TestClient[Any, Any], links: Links, config: Config
) -> None:
    key = bearer(await new_key(config.database_url, "roster:write"))
    staff1 = await joined(client, links.tokens["staff1"])
    staff2 = await joined(client, links.tokens["staff2"])
    roster = json.loads(json.dumps(ROSTER))
    roster["staff"][0]["active"] = False
    answer = await client.post("/api/v1/roster", json=roster, headers=key)
    assert (answer.status, await answer.json()) == (200, {"units": 1, "supervisors": 2, "staff": 2})
    await closed_unauthorized(staff1)
    await staff2.send_json({"type": "ping"})
    assert (await recv(staff2, "pong"))["type"] == "pong"
    async with client.app[ENGINE].connect() as db:
        revoked = dict(
            (await db.execute(select(link_tokens.c.subject_id, link_tokens.c.revoked_at))).all()
        )
    assert revoked["staff1"] is not None and revoked["staff2"] is None
    again = await client.ws_connect("/ws")  # nor can the link join again
    await again.send_json({"type": "join", "v": 1, "token": links.tokens["staff1"]})
    await closed_unauthorized(again)
