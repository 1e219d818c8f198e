from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.schema import audit_log, metadata
from service.store import (
    SQLITE_BUSY_TIMEOUT_MS,
    _alembic_config,
    create_engine,
    migrate,
    read_only,
    readiness,
)
from tests.conftest import StoreTarget


async def test_migrations_create_exactly_the_declared_schema(store: AsyncEngine) -> None:
    async with store.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert diff == []


async def test_migrate_is_idempotent_and_ready(store: AsyncEngine) -> None:
    await migrate(store)
    state = await readiness(store)
    assert state.ok and state.current == state.head


async def test_not_ready_before_migrations(store_target: StoreTarget) -> None:
    engine = store_target.engine()
    state = await readiness(engine)
    await engine.dispose()
    assert not state.ok and state.error == "migrations pending"


async def test_unreachable_database_is_not_ready() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    state = await readiness(engine)
    await engine.dispose()
    assert not state.ok and "Error" in (state.error or "")


async def test_instants_round_trip_as_utc(store: AsyncEngine) -> None:
    wib = timezone(timedelta(hours=7))
    at = datetime(2023, 8, 23, 10, 0, tzinfo=wib)
    async with store.begin() as conn:
        await conn.execute(audit_log.insert().values(at=at, actor="t", action="x", detail={}))
    async with store.connect() as conn:
        got = (await conn.execute(select(audit_log.c.at))).scalar_one()
    assert got == at and got.tzinfo == UTC and got.hour == 3


async def test_naive_datetimes_are_refused(store: AsyncEngine) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with store.begin() as conn:
            await conn.execute(
                audit_log.insert().values(at=datetime(2023, 1, 1), actor="t", action="x", detail={})
            )


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    await engine.dispose()
    assert (mode, fks) == ("wal", 1)


async def test_sqlite_reads_do_not_wait_for_a_writer(store: AsyncEngine) -> None:
    """A writer holding the lock delays other writers, never a read-only transaction.

    A reader that took the write lock would wait out the whole busy timeout (the writer
    cannot commit until it returns) and then fail; the bound is a third of that timeout,
    far from any machine's time to open a connection, so a busy CI machine cannot fail it.
    """
    async with store.begin() as writer:
        await writer.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, subject, detail) "
                "VALUES ('2026-01-01 00:00:00', 'a', 'b', '', '{}')"
            )
        )
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000 / 3):
            async with read_only(store).connect() as reader:
                seen = (await reader.execute(select(audit_log.c.id))).all()
    assert seen == []  # the reader saw the last committed state, without the writer's row


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_engine("mysql+aiomysql://x@y/z")


async def test_endpoints_made_before_owners_take_their_owner_from_the_audit_log(
    store_target: StoreTarget,
) -> None:
    engine = create_engine(store_target.url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0003"))
            for endpoint, actor in (("ep_a", "apikey:key_a"), ("ep_b", "cli")):
                await conn.execute(
                    text(
                        "INSERT INTO webhook_endpoints (id, url, events, secret, created_at) "
                        "VALUES (:id, 'http://x/', '[]', 's', '2026-01-01 00:00:00')"
                    ),
                    {"id": endpoint},
                )
                await conn.execute(
                    text(
                        "INSERT INTO audit_log (at, actor, action, subject, detail) "
                        "VALUES ('2026-01-01 00:00:00', :actor, 'webhook.created', :id, '{}')"
                    ),
                    {"actor": actor, "id": endpoint},
                )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, owner_key_id FROM webhook_endpoints"))
            owners = {r.id: r.owner_key_id for r in rows}
    finally:
        await engine.dispose()
    assert owners == {"ep_a": "key_a", "ep_b": None}
