"""The dispatcher: claims due deliveries, sends them concurrently, records the outcomes.

Any number of dispatchers (processes or nodes) may run against one database; the
claim's lease keeps them from sending the same delivery twice. Outcomes are written in
batches by one recorder task, so a fast receiver is not throttled by one commit per
delivery. ``stop()`` lets attempts in flight finish within its grace (the server's
shutdown timeout; at most the attempt's own time limit), records them, and gives back
every lease it still holds, those of attempts cut at the end of the grace included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from service import metrics
from service.config import ConfigError, WebhooksConfig
from service.webhooks.queue import (
    Decision,
    DeliveryJob,
    Outcome,
    claim_due,
    decide,
    record_outcomes,
    release,
)
from service.webhooks.retry import RetrySchedule
from service.webhooks.sender import USER_AGENT, send
from service.webhooks.ssrf import GuardedResolver

log = logging.getLogger("hadir.webhooks")
RECORD_RETRY_S = 1.0


@dataclass(frozen=True)
class DispatcherSettings:
    schedule: RetrySchedule
    timeout_s: float = 15.0
    concurrency: int = 32
    lease_s: float = 120.0
    poll_interval_s: float = 1.0
    allow_private: bool = False

    @classmethod
    def from_config(cls, config: WebhooksConfig) -> DispatcherSettings:
        try:
            schedule = RetrySchedule.parse(config.retry_schedule)
        except ValueError as exc:
            raise ConfigError(f"webhooks.retry_schedule: {exc}") from None
        return cls(
            schedule=schedule,
            timeout_s=config.timeout_s,
            concurrency=config.concurrency,
            lease_s=config.lease_s,
            poll_interval_s=config.poll_interval_s,
            allow_private=config.allow_private_addresses,
        )


def new_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        key: Ed25519PrivateKey,
        settings: DispatcherSettings,
        *,
        owner: str | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.key = key
        self.settings = settings
        self.owner = owner or new_owner()
        self._draw = draw
        self._inflight: dict[asyncio.Task[None], DeliveryJob] = {}
        self._gone: set[str] = set()  # endpoints that answered 410, until that is recorded
        # Claims are numbered as they begin. Once a 410 is recorded, every delivery of
        # its endpoint that a claim begun before then holds was set aside by it: such
        # a job must not be sent, though ``_gone`` no longer names the endpoint.
        self._claims = 0
        self._set_aside: dict[str, int] = {}  # endpoint -> last claim begun before its 410
        self._results: list[tuple[DeliveryJob, Outcome, Decision]] = []
        self._wake = asyncio.Event()
        self._have_results = asyncio.Event()
        self._stopping = asyncio.Event()
        self._drained = asyncio.Event()  # no attempt is in flight or can start any more
        self._grace_s = settings.timeout_s + 1  # an attempt in flight has its time limit

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    def stop(self, grace_s: float | None = None) -> None:
        """Claim nothing more; attempts in flight get ``grace_s`` to finish (by default
        their own time limit), then are cut and their deliveries given back."""
        if grace_s is not None:
            self._grace_s = min(grace_s, self._grace_s)
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``stop()``; then finish or release what is held."""
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow_private=self.settings.allow_private),
            limit=self.settings.concurrency,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
            headers={"user-agent": USER_AGENT},
        )
        recorder = asyncio.create_task(self._record_loop())
        try:
            async with session:
                await self._claim_loop(session)
                if self._inflight:
                    await asyncio.wait(list(self._inflight), timeout=self._grace_s)
        finally:
            abandoned = [job.delivery_id for t, job in self._inflight.items() if not t.done()]
            for task in self._inflight:
                task.cancel()
            self._inflight.clear()
            self._stopping.set()
            self._drained.set()
            self._have_results.set()
            await recorder
            await release(self.engine, self.owner, abandoned)

    async def _claim_loop(self, session: aiohttp.ClientSession) -> None:
        settings = self.settings
        low_water = max(1, settings.concurrency // 4)
        while not self._stopping.is_set():
            self._wake.clear()  # before claiming: a wake-up during the claim is kept
            free = settings.concurrency - len(self._inflight)
            claimed: list[DeliveryJob] = []
            if not self._inflight:
                self._set_aside.clear()  # no job of an earlier claim is left to stop
            if free >= low_water or not self._inflight:
                self._claims += 1
                try:
                    claimed = await claim_due(
                        self.engine, self.owner, free, timedelta(seconds=settings.lease_s)
                    )
                except Exception:  # the database may be briefly away; keep going
                    log.exception("claiming deliveries failed")
            for job in claimed:
                task = asyncio.create_task(self._deliver(session, job, self._claims))
                self._inflight[task] = job
                task.add_done_callback(self._done)
            if claimed and len(claimed) == free:
                continue  # there may be more due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.poll_interval_s)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()

    async def _deliver(self, session: aiohttp.ClientSession, job: DeliveryJob, claim: int) -> None:
        if job.endpoint_id in self._gone or claim <= self._set_aside.get(job.endpoint_id, 0):
            return  # recording the 410 sets (or has set) this delivery aside with the others
        outcome = await send(session, job, self.key, allow_private=self.settings.allow_private)
        decision = decide(job, outcome, self.settings.schedule, self._draw())
        if decision.disable_endpoint:
            self._gone.add(job.endpoint_id)
        if decision.status != "delivered":
            log.info(
                "delivery attempt failed",
                extra={
                    "fields": {
                        "delivery": job.delivery_id,
                        "event": job.event_id,
                        "endpoint": job.endpoint_id,
                        "attempt": job.attempts + 1,
                        "status": outcome.status_code,
                        "error": outcome.error,
                        "next": decision.status,
                    }
                },
            )
        self._results.append((job, outcome, decision))
        self._have_results.set()

    async def _record_loop(self) -> None:
        while True:
            await self._have_results.wait()
            self._have_results.clear()
            batch, self._results = self._results, []
            if batch:
                try:
                    await record_outcomes(self.engine, self.owner, batch)
                    for _, _, decision in batch:
                        metrics.delivery_recorded(decision.status)
                    gone = {job.endpoint_id for job, _, d in batch if d.disable_endpoint}
                    self._set_aside |= dict.fromkeys(gone, self._claims)
                    self._gone -= gone
                except Exception:
                    log.exception("recording delivery outcomes failed; retrying")
                    self._results[:0] = batch
                    if self._drained.is_set():
                        return  # the leases run out and others will resend
                    await asyncio.sleep(RECORD_RETRY_S)
                    self._have_results.set()
                    continue
            # Not on ``_stopping``: a claim under way when stop() came still starts
            # attempts, whose outcomes must be recorded (or their leases outlive us).
            if self._drained.is_set() and not self._results:
                return
