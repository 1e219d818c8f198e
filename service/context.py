"""What a command needs to reach the store and the servers: the configuration, a migrated
engine, the bus."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import ENV_CONFIG_FILE, Config, load_config
from service.store import create_engine, migrate
from signaling.bus import bus_for


def config_file(args: argparse.Namespace) -> str | None:
    return getattr(args, "config", None) or os.environ.get(ENV_CONFIG_FILE) or None


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(config_file(args))


@asynccontextmanager
async def open_store(config: Config) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to the newest schema; disposed on exit."""
    engine = create_engine(config.database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


async def tell_revoked(config: Config, link_ids: Collection[str]) -> None:
    """Tell every server node, through Redis when ``redis.url`` is set, to close these
    links' pages now. Without Redis the server is another process alone: its link check
    (every ``calls.link_check_s``) finds them."""
    bus = bus_for(config.redis.url, config.redis.prefix)
    try:
        await bus.revoked(link_ids)
    finally:
        await bus.close()
