"""API keys, scopes, link tokens and the error format."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.links import issue_link
from service.store import create_engine
from tests.api_helpers import api_client, api_config, bearer, new_key, seed_records
from tests.cli_helpers import hadir, hadir_env
from tests.conftest import StoreTarget


async def test_missing_bad_and_revoked_keys_are_401_and_wrong_scope_403(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    reader = await new_key(store_target.url, "records:read")
    admin = await new_key(store_target.url, "admin")
    async with api_client(config) as client:
        for headers in ({}, {"Authorization": "Basic abc"}, bearer("hadir_nope")):
            r = await client.get("/api/v1/records", headers=headers)
            body = await r.json()
            assert r.status == 401 and body["error"]["code"] == "unauthorized"
        r = await client.get("/api/v1/webhooks", headers=bearer(reader))
        assert r.status == 403 and "webhooks:write" in (await r.json())["error"]["message"]
        assert (await client.get("/api/v1/records", headers=bearer(reader))).status == 200
        assert (await client.get("/api/v1/webhooks", headers=bearer(admin))).status == 200
        assert (await client.get("/api/v1/keys")).status == 200  # public


async def test_bad_parameters_are_400_naming_them(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    key = await new_key(store_target.url, "records:read")
    async with api_client(config) as client:
        for query, name in (
            ("from=2026-13-01", "from"),
            ("limit=0", "limit"),
            ("limit=abc", "limit"),
            ("cursor=%%%", "cursor"),
            ("bogus=1", "bogus"),
        ):
            r = await client.get(f"/api/v1/records?{query}", headers=bearer(key))
            body = await r.json()
            assert r.status == 400, query
            assert body["error"]["code"] == "bad_parameter"
            assert body["error"]["message"].startswith(f"{name}:")
        r = await client.get("/api/v1/nothing-here", headers=bearer(key))
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
        r = await client.delete("/api/v1/records", headers=bearer(key))
        assert r.status == 405 and "error" in await r.json()


def test_apikey_cli_create_list_revoke(tmp_path: Path) -> None:
    env = hadir_env(tmp_path / "data")
    created = hadir(
        "apikey", "create", "--scope", "records:read", "--scope", "admin", "--name", "sync", env=env
    )
    assert created.returncode == 0, created.stderr
    key, comment = created.stdout.splitlines()
    assert key.startswith("hadir_") and len(key) > 40
    key_id = comment.split("key id ")[1].split(",")[0]
    listed = hadir("apikey", "list", env=env)
    assert key_id in listed.stdout and "active" in listed.stdout and key not in listed.stdout
    assert hadir("apikey", "revoke", key_id, env=env).returncode == 0
    assert "revoked" in hadir("apikey", "list", env=env).stdout
    assert hadir("apikey", "revoke", key_id, env=env).returncode == 2
    assert hadir("apikey", "create", "--scope", "everything", env=env).returncode == 2
    db = (tmp_path / "data" / "hadir.db").read_bytes()
    assert key.encode() not in db  # stored hashed


@pytest.mark.parametrize("role", ["staff", "supervisor"])
async def test_link_token_reads_own_or_team_records(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path, role: str
) -> None:
    config = api_config(tmp_path, store_target.url)
    await seed_records(store_target.url)
    secret = load_or_create_secret(config.data_dir, LINK_SECRET_FILE)
    engine = create_engine(store_target.url)
    subject = "s1" if role == "staff" else "sup1"
    async with engine.begin() as conn:
        url, _ = await issue_link(
            conn, secret, "http://x", role, subject, timedelta(hours=1), actor="t"
        )
    await engine.dispose()
    token = url.rsplit("/", 1)[1]
    async with api_client(config) as client:
        r = await client.get("/api/v1/me/records", headers={"Authorization": f"Link {token}"})
        assert r.status == 200
        staff = {rec["staff_id"] for rec in (await r.json())["data"]}
        assert staff == ({"s1"} if role == "staff" else {"s1", "s2"})
        r = await client.get("/api/v1/me/records", headers={"Authorization": f"Link {token}x"})
        assert r.status == 401
        r = await client.get("/api/v1/me/records", headers={"Authorization": f"Bearer {token}"})
        assert r.status == 401
