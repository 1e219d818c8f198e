"""Where a benchmarked server keeps its state: a fresh SQLite file, or an empty database
given with ``--database-url`` (PostgreSQL for several workers) and, with
``--redis-url``, a Redis key prefix of its own.

A bench seeds the database, runs, and empties it again (``empty``), so the same
database serves run after run (``hadir bench load --compare-workers 1,2``). Every
problem with what was given is a ``UsageError`` of one line, found before anything
starts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from service.errors import UsageError
from service.schema import metadata
from service.store import create_engine

CONNECT_S = 5.0


@dataclass(frozen=True)
class Backend:
    database_url: str
    redis_url: str = ""  # none: the embedded bus, one process
    redis_prefix: str = ""

    def env(self) -> dict[str, str]:
        """The server's settings for it (``HADIR_*``)."""
        env = {"HADIR_STORAGE_DATABASE_URL": self.database_url}
        if self.redis_url:
            env |= {"HADIR_REDIS_URL": self.redis_url, "HADIR_REDIS_PREFIX": self.redis_prefix}
        return env


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def require_empty(database_url: str) -> None:
    """Refuse a database that cannot be reached or already holds tables."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    except Exception as exc:  # the driver's own errors: one line, whatever they are
        raise UsageError(
            f"--database-url: cannot reach {_shown(database_url)}: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        await engine.dispose()
    if tables:
        raise UsageError(f"--database-url must name an empty database ({_shown(database_url)})")


async def require_redis(redis_url: str) -> None:
    """Refuse a Redis that does not answer a PING."""
    from redis import asyncio as aioredis

    redis = aioredis.from_url(redis_url, socket_connect_timeout=CONNECT_S)
    try:
        await redis.ping()
    except Exception as exc:  # a bad URL, refused, timed out: one line
        raise UsageError(f"--redis-url: cannot reach {redis_url}: {exc}") from None
    finally:
        await redis.aclose()


async def for_run(database_url: str, redis_url: str) -> Backend:
    """A run's backend on the given database and Redis, checked: the database empty,
    Redis answering, a key prefix no one else uses."""
    await require_empty(database_url)
    if not redis_url:
        return Backend(database_url)
    await require_redis(redis_url)
    return Backend(database_url, redis_url, f"hadir_bench_{secrets.token_hex(6)}")


async def empty(backend: Backend) -> None:
    """Drop every table (the schema too, for the next run's migration) and the run's
    Redis keys."""
    engine = create_engine(backend.database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engine.dispose()
    if backend.redis_url:
        from redis import asyncio as aioredis

        redis = aioredis.from_url(backend.redis_url)
        try:
            keys = [k async for k in redis.scan_iter(f"{backend.redis_prefix}:*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()
