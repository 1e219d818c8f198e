"""The background jobs ``hadir serve`` runs: make checks ahead of time, close the ones
whose window ended (MISSED if unanswered, INCONCLUSIVE ``interrupted`` if a crash or a
restart cut their call short), delete evidence past its retention, push reminders
before checks open (each claimed once: ``service.push.reminders``).

Every job is idempotent and safe on several nodes at once (``service.checks`` inserts
with ON CONFLICT DO NOTHING and closes checks with a conditional UPDATE), so each node
may run them all. A round that fails is logged and tried again at the next interval;
a node that was down catches up on its first round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from service.checks import CALL_LEASE, JoinLinks, generate_checks, sweep
from service.clock import utcnow
from service.config import JobsConfig, PushConfig
from service.evidence import purge_evidence
from service.org import load_policy
from service.push.reminders import claim_reminders
from service.push.sender import Pusher
from service.store import read_only

log = logging.getLogger("hadir.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[], Awaitable[object]]


def scheduler_jobs(
    engine: AsyncEngine,
    key: Ed25519PrivateKey,
    links: JoinLinks,
    config: JobsConfig,
    clock: Callable[[], datetime] = utcnow,
    call_lease: timedelta = CALL_LEASE,
    pusher: Pusher | None = None,
    push: PushConfig | None = None,
) -> list[Job]:
    async def generate() -> int:
        async with engine.connect() as conn:
            policy = await load_policy(conn)
        today = clock().astimezone(policy.zone).date()
        created = 0
        for ahead in range(config.days_ahead + 1):
            summary = await generate_checks(
                engine, today + timedelta(days=ahead), links=links, now=clock()
            )
            created += summary.created
        return created

    async def close_missed() -> int:
        return await sweep(engine, clock(), key=key, lease=call_lease)

    async def purge() -> int:
        return await purge_evidence(engine, clock())

    jobs = [
        Job("generate_checks", config.generate_interval_s, generate),
        Job("sweep_missed", config.sweep_interval_s, close_missed),
        Job("purge_evidence", config.purge_interval_s, purge),
    ]
    if pusher is not None:
        push = push or PushConfig()
        jobs.append(
            Job("push_reminders", push.reminder_interval_s, _reminders(engine, pusher, push, clock))
        )
    return jobs


def _reminders(
    engine: AsyncEngine, pusher: Pusher, push: PushConfig, clock: Callable[[], datetime]
) -> Callable[[], Awaitable[int]]:
    async def remind() -> int:
        now = clock()
        due = await claim_reminders(engine, now, timedelta(minutes=push.reminder_minutes))
        if not due:
            return 0
        async with read_only(engine).connect() as conn:
            zone = (await load_policy(conn)).zone
        return await pusher.remind(due, zone, now)

    return remind


async def _every(job: Job, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            done = await job.run()
            if done:
                log.info("job ran", extra={"fields": {"job": job.name, "count": done}})
        except Exception:
            log.exception("job failed", extra={"fields": {"job": job.name}})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), job.interval_s)


class Scheduler:
    """Runs each job now and then every ``interval_s`` until ``stop``.

    On ``stop`` a waiting job ends at once and a round in progress gets ``grace_s`` to
    finish (a round is one or a few short transactions); one stuck on an unreachable
    database is cancelled, which rolls its transaction back, so shutdown stays bounded.
    """

    def __init__(self, jobs: list[Job], grace_s: float = 10.0) -> None:
        self._stop = asyncio.Event()
        self._grace_s = grace_s
        self._tasks = [asyncio.create_task(_every(job, self._stop), name=job.name) for job in jobs]

    async def stop(self) -> None:
        self._stop.set()
        _, stuck = await asyncio.wait(self._tasks, timeout=self._grace_s)
        for task in stuck:
            log.warning("job cancelled on shutdown", extra={"fields": {"job": task.get_name()}})
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
