"""Several ``hadir serve`` processes on one PostgreSQL database and one Redis, as nodes of
one deployment: a fresh database and a Redis key prefix of their own per test, the test
organisation seeded with the data dir's link secret, and WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType
from redis import asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.store import create_engine, migrate
from tests.call_helpers import Links, seed_org
from tests.cli_helpers import ServiceProcess, free_port, hadir_env, loopback_http
from tests.conftest import POSTGRES_URL

REDIS_URL = os.environ.get("HADIR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Cluster:
    """One deployment's shared parts: the database, Redis, the data dir (its keys)."""

    tmp: Path
    database_url: str
    engine: AsyncEngine
    prefix: str
    links: Links
    nodes: list[ServiceProcess] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        settings = {
            "HADIR_REDIS_URL": REDIS_URL,
            "HADIR_REDIS_PREFIX": self.prefix,
            "HADIR_JOBS_ENABLED": "false",
            "HADIR_CALLS_HEARTBEAT_S": "1",
            "HADIR_CALLS_LEASE_S": "5",
            "HADIR_CALLS_ANALYSIS_THREADS": "1",
            "HADIR_SERVER_SHUTDOWN_TIMEOUT_S": "2",
        }
        return hadir_env(self.tmp / "data", self.database_url, **(settings | extra))

    async def start(self, n: int, *args: str, **extra: str) -> list[int]:
        """``n`` nodes, each on its own port, once all of them are serving; their ports."""
        ports = [free_port() for _ in range(n)]
        args = args or ("--workers", "1")  # one process per node unless told otherwise
        nodes = [ServiceProcess(*loopback_http(p), *args, env=self.env(**extra)) for p in ports]
        self.nodes += nodes
        await asyncio.gather(
            *(asyncio.to_thread(node.wait_for, "Hadir is running at") for node in nodes)
        )
        return ports


@contextlib.asynccontextmanager
async def open_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A fresh database and Redis prefix, dropped and deleted afterwards with every node
    still running stopped."""
    name = f"hadir_t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = str(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    engine = create_engine(url)
    prefix = name
    cluster = None
    try:
        await migrate(engine)
        secret = load_or_create_secret(tmp_path / "data", LINK_SECRET_FILE)
        links = await seed_org(engine, tmp_path, secret)
        cluster = Cluster(tmp_path, url, engine, prefix, links)
        yield cluster
    finally:
        for node in cluster.nodes if cluster else ():
            node.stop()
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
        redis = aioredis.from_url(REDIS_URL)
        keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


class Page:
    """A page's WebSocket, joined with a link token."""

    def __init__(self, session: ClientSession, ws: ClientWebSocketResponse) -> None:
        self.session, self.ws = session, ws
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def join(cls, base: str, token: str) -> Page:
        session = ClientSession()
        page = cls(session, await session.ws_connect(f"{base}/ws"))
        await page.send({"type": "join", "v": 1, "token": token})
        page.welcome = await page.recv("welcome")
        return page

    async def send(self, body: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(body))

    async def recv(self, kind: str, wait_s: float = 10, **match: Any) -> dict[str, Any]:
        """The next message of this type (with these fields); others are skipped."""
        async with asyncio.timeout(wait_s):
            while True:
                msg = await self.ws.receive()
                assert msg.type == WSMsgType.TEXT, msg
                data: dict[str, Any] = json.loads(msg.data)
                if data["type"] == kind and all(data.get(k) == v for k, v in match.items()):
                    return data

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
