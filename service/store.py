"""The database connection: one async engine per process, on SQLite or PostgreSQL.

SQLite is the embedded default. It runs in WAL mode with foreign keys on. A transaction
that may write starts with ``BEGIN IMMEDIATE``: SQLite allows one writer, and taking the
write lock up front turns the read-then-write upgrade deadlock (an instant
``database is locked``) into an ordinary wait bounded by ``busy_timeout``. Read-only
work goes through ``read_only(engine)`` and starts with a plain ``BEGIN``: in WAL mode a
reader reads a snapshot and never waits for the writer, nor makes it wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY = "hadir_read_only"


def create_engine(url: str) -> AsyncEngine:
    """Make the engine for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    else:
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: "
            "use sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool) for work that only reads: on SQLite its transactions
    do not take the write lock. Never write through it: a deferred transaction that
    reads and then writes can fail at once instead of waiting its turn."""
    return engine.execution_options(**{READ_ONLY: True})


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _alembic_config(connection: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending migration (idempotent; run at start)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))


@dataclass(frozen=True)
class Readiness:
    ok: bool
    current: str | None
    head: str | None
    error: str | None = None


async def readiness(engine: AsyncEngine) -> Readiness:
    """Is the database reachable, and is its schema at the newest migration?"""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    try:
        async with read_only(engine).connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    except Exception as exc:  # any driver error means "not ready", with its reason
        return Readiness(False, None, head, f"{type(exc).__name__}: {exc}")
    if current != head:
        return Readiness(False, current, head, "migrations pending")
    return Readiness(True, current, head)
