"""Hostile input gets a 4xx, never a 500, on both dialects: each reproduction of issue 10
§6 as a regression test (deep nesting, lone surrogates, NULs, dates at the ends of the
calendar, long static paths, wrong-typed roster fields, body limits)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.api import ROUTES
from service.api.routes import MAX_BODY_BYTES, Route
from service.config import Config
from service.roster import MAX_FILE_BYTES
from tests.api_helpers import ROSTER, api_client, api_config, bearer, new_key, seed_records
from tests.conftest import StoreTarget
from tests.test_api_review import _link, _setup

NESTED = "[" * 100_000 + "]" * 100_000
JSON_ROUTES = [r for r in ROUTES if r.body is not None and "application/json" in r.body]


async def _clients(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> tuple[Config, dict[str, Any]]:
    config = api_config(tmp_path, store_target.url)
    records = await _setup(store, config.data_dir)
    headers = {
        "admin": bearer(await new_key(store_target.url, "admin")),
        "supervisor": await _link(store, config.data_dir, "supervisor", "sup1"),
        "staff": await _link(store, config.data_dir, "staff", "s1"),
    }
    return config, {"records": records, "headers": headers}


def _auth(route: Route, headers: dict[str, dict[str, str]]) -> dict[str, str]:
    if route.auth != "link":
        return headers["admin"]
    return headers["staff"] if route.path.endswith("objection") else headers["supervisor"]


def _path(route: Route, record_id: str) -> str:
    return "/api/v1" + re.sub(r"\{\w+\}", record_id, route.path)


async def _post(
    client: TestClient[Any, Any], method: str, path: str, data: str, headers: dict[str, str]
) -> tuple[int, Any]:
    r = await client.request(
        method,
        path,
        data=data.encode("utf-8", "surrogatepass"),
        headers={**headers, "Content-Type": "application/json"},
    )
    return r.status, await r.json()


async def test_deep_nesting_and_lone_surrogates_on_every_json_post(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config, seeded = await _clients(store, store_target, tmp_path)
    record_id = seeded["records"]["s1"]
    assert {r.path for r in JSON_ROUTES} >= {
        "/records/{record_id}/review",
        "/me/records/{record_id}/objection",
        "/webhooks",
        "/roster",
    }
    async with api_client(config) as client:
        for route in JSON_ROUTES:
            path, auth = _path(route, record_id), _auth(route, seeded["headers"])
            for body in (NESTED, '{"reason": ' + NESTED + "}"):
                status, answer = await _post(client, route.method, path, body, auth)
                assert status == 400, (route.path, answer)
            # The JSON escape, as a client sends it, and the raw code point.
            for text in ('{"reason": "\\ud800"}', '{"reason": "a\ud800"}'):
                status, answer = await _post(client, route.method, path, text, auth)
                assert status == 400 and answer["error"]["code"] == "bad_request", route.path
        review = _path(JSON_ROUTES[0], record_id)
        for reason in ("sinyal \ud800", "sinyal \udfff buruk"):
            body = json.dumps({"decision": "confirm", "reason": reason})
            status, answer = await _post(
                client,
                "POST",
                f"/api/v1/records/{record_id}/review",
                body,
                seeded["headers"]["admin"],
            )
            assert status == 400 and "surrogate" in answer["error"]["message"], review
        # A NUL is text like any other in a reason: kept in the signed entry, not a 500.
        body = json.dumps({"decision": "confirm", "reason": "a\u0000b"})
        status, answer = await _post(
            client, "POST", f"/api/v1/records/{record_id}/review", body, seeded["headers"]["admin"]
        )
        assert status == 201 and answer["entries"][-1]["body"]["reason"] == "a\u0000b"


@pytest.mark.parametrize(
    "query", ["to=9999-12-31", "from=0001-01-01", "from=0001-01-01&to=9999-12-31"]
)
async def test_dates_at_the_ends_of_the_calendar_leave_the_span_open(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path, query: str
) -> None:
    config = api_config(tmp_path, store_target.url)
    total = await seed_records(store_target.url)
    key = bearer(await new_key(store_target.url, "records:read"))
    staff = await _link(store, config.data_dir, "staff", "s1")
    async with api_client(config) as client:
        for path, headers, count in (
            ("/api/v1/records", key, total),
            ("/api/v1/checks", key, total),
            ("/api/v1/me/records", staff, total // 3),
        ):
            r = await client.get(f"{path}?{query}&limit=500", headers=headers)
            assert r.status == 200, (path, await r.text())
            assert len((await r.json())["data"]) == count, path
        r = await client.get(f"/api/v1/records.csv?{query}", headers=key)
        text = await r.text()
        assert r.status == 200 and len(text.strip().splitlines()) == total + 1


async def test_a_failing_csv_export_answers_an_error_status_not_a_reset(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    await seed_records(store_target.url)
    key = bearer(await new_key(store_target.url, "records:read"))
    async with api_client(config) as client:
        await store.dispose()
        async with store.begin() as conn:  # the records table gone: every read fails
            await conn.execute(text("ALTER TABLE records RENAME TO records_gone"))
        r = await client.get("/api/v1/records.csv", headers=key)
        assert r.status == 500 and (await r.json())["error"]["code"] == "internal"
        async with store.begin() as conn:
            await conn.execute(text("ALTER TABLE records_gone RENAME TO records"))


async def test_a_long_static_path_is_not_found(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    async with api_client(config) as client:
        for name in ("a" * 5_000, "%2e%2e%2fhadir.db", "hadir.css" + "x" * 300):
            r = await client.get(f"/static/{name}")
            assert r.status == 404, name
        assert (await client.get("/static/hadir.css")).status == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Siti\u0000"}, "name"),
        ({"name": "Siti\ud800"}, "body"),
        ({"name": ["a"]}, "staff[0].name"),
        ({"wfh_days": {"mon": True}}, "staff[0].wfh_days"),
        ({"home_lat": "-6.2", "home_lon": 106.8}, "staff[0].home_lat"),
        ({"nickname": "Ti"}, "staff[0].nickname"),
    ],
)
async def test_a_json_roster_with_hostile_fields_is_refused(
    store: AsyncEngine,
    store_target: StoreTarget,
    tmp_path: Path,
    change: dict[str, Any],
    field: str,
) -> None:
    config = api_config(tmp_path, store_target.url)
    key = bearer(await new_key(store_target.url, "roster:write"))
    roster = json.loads(json.dumps(ROSTER))
    roster["staff"][0].update(change)
    async with api_client(config) as client:
        status, answer = await _post(client, "POST", "/api/v1/roster", json.dumps(roster), key)
        assert status == 400, answer
        assert field in answer["error"]["message"], answer
        csv = "kind,id,name,unit,supervisor\nunit,u1,Unit \x00One,,\n"
        r = await client.post(
            "/api/v1/roster", data=csv, headers={**key, "Content-Type": "text/csv"}
        )
        assert r.status == 400 and "control character" in (await r.json())["error"]["message"]
        deep = '{"units": ' + NESTED + "}"
        assert (await _post(client, "POST", "/api/v1/roster", deep, key))[0] == 400


async def test_body_limits_are_the_routes_own(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    key = bearer(await new_key(store_target.url, "admin"))
    padded = json.dumps(ROSTER) + " " * (MAX_BODY_BYTES + 1)  # larger than other bodies
    async with api_client(config) as client:
        status, answer = await _post(client, "POST", "/api/v1/roster", padded, key)
        assert status == 200, answer
        huge = " " * (MAX_FILE_BYTES + 1)
        status, answer = await _post(client, "POST", "/api/v1/roster", huge, key)
        assert status == 413 and answer["error"]["code"] == "too_large"
        body = json.dumps({"url": "http://127.0.0.1/", "events": ["check.missed"]})
        status, answer = await _post(client, "POST", "/api/v1/webhooks", body + padded, key)
        assert status == 413


async def test_a_nul_in_a_query_parameter_or_a_path_id_is_a_4xx(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    """Found by the schemathesis run on PostgreSQL: a NUL reached the query (500)."""
    config = api_config(tmp_path, store_target.url)
    await seed_records(store_target.url)
    key = bearer(await new_key(store_target.url, "admin"))
    async with api_client(config) as client:
        for path in ("/api/v1/records", "/api/v1/records.csv", "/api/v1/checks"):
            r = await client.get(f"{path}?unit=u%001", headers=key)
            assert r.status == 400 and (await r.json())["error"]["message"].startswith("unit:")
        for path in ("/api/v1/records/rec%00", "/api/v1/webhooks/wh%00"):
            r = await client.get(path, headers=key)
            assert r.status == 404, path
