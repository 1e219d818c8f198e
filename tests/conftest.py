"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, a service config, the
whole app under a test client with the test organisation's links, and the generated
vision media with one analyzer.

Store tests take the ``store`` fixture and run once per dialect. PostgreSQL gets a
fresh database per test (dropped afterwards), created through the server named by
``HADIR_TEST_POSTGRES_URL`` (default: the local ``test`` database). If PostgreSQL is
unreachable the tests fail rather than skip, unless ``HADIR_TEST_SKIP_POSTGRES=1``
says so explicitly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.generate import DEFAULT_OUT, build
from service.app import create_app
from service.config import Config, load_config
from service.state import ENGINE, LINK_SECRET
from service.store import create_engine, migrate
from tests.call_helpers import Links, seed_org
from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG

POSTGRES_URL = os.environ.get(
    "HADIR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
DIALECTS = ["sqlite", "postgresql"]
if os.environ.get("HADIR_TEST_SKIP_POSTGRES") == "1":
    DIALECTS = ["sqlite"]


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's database lives."""

    dialect: str
    url: str

    def engine(self) -> AsyncEngine:
        return create_engine(self.url)


@pytest.fixture(params=DIALECTS)
async def store_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreTarget]:
    if request.param == "sqlite":
        yield StoreTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
        return
    name = f"hadir_t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield StoreTarget(
            "postgresql",
            str(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)),
        )
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on each dialect."""
    engine = store_target.engine()
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(
        env={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "data")},
            "server": {"http": True, "host": "127.0.0.1"},
            "jobs": {"enabled": False},  # tests that want the jobs run them themselves
        },
    )


@pytest.fixture
async def client(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    """The whole app (pages, API, signaling) on the test config."""
    async with TestClient(TestServer(create_app(config))) as client:
        yield client


@pytest.fixture
async def links(client: TestClient[Any, Any], tmp_path: Path) -> Links:
    """The test organisation (tests.call_helpers.ROSTER) and everyone's link."""
    return await seed_org(client.app[ENGINE], tmp_path, client.app[LINK_SECRET])


@pytest.fixture(scope="session")
def media() -> dict[str, Path]:
    """The fixture media, built once into ``fixtures/media`` (git-ignored; override with
    ``HADIR_FIXTURE_MEDIA``). The generator is deterministic and keeps a manifest, so a
    later run reuses them."""
    return build(Path(os.environ.get("HADIR_FIXTURE_MEDIA", DEFAULT_OUT)))


@pytest.fixture(scope="session")
def analyzer() -> Iterator[FrameAnalyzer]:
    with FrameAnalyzer(DEFAULT_CONFIG) as a:
        yield a
