"""The server's background jobs, run for real against the store with short intervals."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.checks import JoinLinks
from service.config import JobsConfig
from service.jobs import Job, Scheduler, scheduler_jobs
from service.org import import_roster
from service.schema import checks
from tests.call_helpers import ROSTER
from tests.webhook_helpers import wait_until

KEY = Ed25519PrivateKey.generate()
LINKS = JoinLinks(secrets.token_bytes(32), "https://hadir.example.go.id")


async def test_jobs_make_tomorrows_checks_and_sweep_ended_ones(
    store: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(ROSTER))
    await import_roster(store, path, actor="test")
    clock_at = [datetime(2026, 11, 24, 0, 0, tzinfo=UTC)]  # Tue 07:00 WIB
    config = JobsConfig(generate_interval_s=0.05, days_ahead=1, sweep_interval_s=0.05)
    scheduler = Scheduler(scheduler_jobs(store, KEY, LINKS, config, clock=lambda: clock_at[0]))

    async def statuses() -> list[str]:
        async with store.connect() as conn:
            return list((await conn.execute(select(checks.c.status))).scalars())

    async def made() -> bool:
        return len(await statuses()) == 12  # 2 staff x 3 slots x (today, tomorrow)

    async def swept() -> bool:
        return (await statuses()).count("missed") == 6

    try:
        await wait_until(made, within=10)
        clock_at[0] += timedelta(hours=10)  # Tue 17:00 WIB: today's windows are over
        await wait_until(swept, within=10)
    finally:
        await scheduler.stop()
    assert (await statuses()).count("scheduled") == 6


async def test_a_failing_round_is_logged_and_retried() -> None:
    calls: list[int] = []

    async def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return 0

    async def retried() -> bool:
        return len(calls) >= 3

    scheduler = Scheduler([Job("flaky", 0.01, flaky)])
    await wait_until(retried, within=5)
    await scheduler.stop()
    stopped_at = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == stopped_at  # stop means stop
