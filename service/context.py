"""What a command needs to reach the store: the configuration and a migrated engine."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import ENV_CONFIG_FILE, Config, load_config
from service.store import create_engine, migrate


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
