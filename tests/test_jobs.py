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
from service.evidence import store_still
from service.jobs import Job, Scheduler, scheduler_jobs
from service.org import import_roster
from service.schema import checks, evidence
from tests.call_helpers import ROSTER, add_check
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


async def test_the_purge_job_deletes_only_expired_evidence(
    store: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(ROSTER))
    await import_roster(store, path, actor="test")
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    for content, age in ((b"old", 31), (b"new", 1)):
        stored_at = now - timedelta(days=age)
        check_id = await add_check(store, "staff1", now=stored_at)
        async with store.begin() as conn:
            await store_still(conn, check_id, content, now=stored_at, retention_days=30)
    config = JobsConfig(purge_interval_s=0.05)
    jobs = scheduler_jobs(store, KEY, LINKS, config, clock=lambda: now)
    scheduler = Scheduler([j for j in jobs if j.name == "purge_evidence"])

    async def kept() -> list[bytes]:
        async with store.connect() as conn:
            return [bytes(c) for c in (await conn.execute(select(evidence.c.content))).scalars()]

    async def purged() -> bool:
        return await kept() == [b"new"]

    try:
        await wait_until(purged, within=10)
    finally:
        await scheduler.stop()


async def test_stop_is_prompt_even_with_a_round_stuck() -> None:
    never = asyncio.Event()
    cancelled: list[str] = []

    async def idle() -> int:
        return 0

    async def stuck() -> int:
        try:
            await never.wait()  # a database that stopped answering
        except asyncio.CancelledError:
            cancelled.append("stuck")
            raise
        return 0

    scheduler = Scheduler([Job("idle", 3600, idle), Job("stuck", 1, stuck)], grace_s=0.2)
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await scheduler.stop()
    took = asyncio.get_running_loop().time() - started
    # It waits out the grace, then cancels: a stop that waited for the round would never
    # return, so the bound is far from the grace and no busy machine reaches it.
    assert cancelled == ["stuck"] and 0.2 <= took < 5.0
