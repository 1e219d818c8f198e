"""The receiver is down, then answers 503, then comes back: every event arrives, once.

A real ``hadir serve`` on each dialect, with a retry schedule in seconds, sends
events to a port where nothing listens (connection refused), then to a receiver that
answers 503, then accepts. Every event is accepted exactly once, with the same id and
the same bytes on every attempt; no delivery fails; and no attempt comes sooner than
the schedule allows (±10 % jitter) or much later.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.schema import delivery_attempts
from service.webhooks.retry import RetrySchedule
from tests.cli_helpers import ServiceProcess, free_port, hadir_env, loopback_http
from tests.conftest import StoreTarget
from tests.webhook_helpers import Receiver, endpoint_for, enqueue_many, statuses, wait_until

EVENTS = 40
SCHEDULE = ("0s", "500ms", "1s", "1s", "1s", "1s", "1s", "1s", "1s", "1s")  # about 8.5 s
DOWN_S = 1.5  # nothing listens on the port
FAILING_S = 1.5  # then it answers 503
LATE_S = 3.0  # an attempt may come this much after its time on a busy machine


async def test_receiver_down_then_503_then_back_gets_every_event_once(
    store: AsyncEngine,
    store_target: StoreTarget,
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    recovers_at = [float("inf")]

    async def recovering(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204 if time.monotonic() >= recovers_at[0] else 503)

    receiver = Receiver(recovering)
    await endpoint_for(store, receiver.url)
    ids = await enqueue_many(store, EVENTS)
    env = hadir_env(
        tmp_path / "data",
        store_target.url,
        HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
        HADIR_WEBHOOKS_TIMEOUT_S="2",
        HADIR_WEBHOOKS_POLL_INTERVAL_S="0.1",
        HADIR_WEBHOOKS_RETRY_SCHEDULE=",".join(SCHEDULE),
    )
    server = ServiceProcess(*loopback_http(free_port()), env=env)
    try:
        await asyncio.to_thread(server.wait_for, "Hadir is running")
        started = time.monotonic()
        await asyncio.sleep(DOWN_S)
        await receiver.start()
        recovers_at[0] = time.monotonic() + FAILING_S
        await wait_until(lambda: _all_done(store, EVENTS), within=30)
        took = time.monotonic() - started
        code, err = await asyncio.to_thread(server.stop)
    finally:
        await receiver.stop()
        if server.proc.poll() is None:
            server.proc.kill()
    assert code == 0, err

    accepted = receiver.accepted()
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for r in receiver.received:
        bodies[r.id].add(r.body)
    attempts = await _attempts(store)
    delays = RetrySchedule.parse(SCHEDULE)
    early, late = [], []
    for tried in attempts.values():
        for n, (before, after) in enumerate(zip(tried, tried[1:], strict=False), start=1):
            gap = (after[0] - before[0]).total_seconds()
            wait = delays.delays[n]
            early += [gap] if gap < wait * (1 - delays.jitter) - 0.001 else []
            late += [gap] if gap > wait * (1 + delays.jitter) + LATE_S else []
    codes = Counter(code for tried in attempts.values() for _, code in tried)
    figure = (
        f"[{store_target.dialect}] {EVENTS} events, receiver refusing for {DOWN_S} s then "
        f"503 for {FAILING_S} s: {codes.total()} attempts ({codes[None]} refused, "
        f"{codes[503]} answered 503, at most {max(map(len, attempts.values()))} per event), "
        f"{len(accepted)} delivered, lost {len(set(ids) - set(accepted))}, accepted twice "
        f"{sum(accepted.values()) - len(accepted)}, attempts too early {len(early)}, "
        f"too late {len(late)}; all delivered {took:.1f} s after the outage began"
    )
    figures(figure)
    assert await statuses(store) == {"delivered": EVENTS}, figure  # none failed
    assert accepted == dict.fromkeys(ids, 1), figure  # each once, under its own id
    assert all(len(b) == 1 for b in bodies.values())  # a retry is the same event
    assert not early and not late, (early, late, figure)
    # Each event met the closed port before it was accepted, and some met the 503s.
    assert all(tried[0][1] is None for tried in attempts.values()) and codes[503], figure


async def _all_done(engine: AsyncEngine, n: int) -> bool:
    """Every delivery settled (delivered, or failed: the assertions say which)."""
    done = await statuses(engine)
    return done.get("delivered", 0) + done.get("failed", 0) == n


async def _attempts(engine: AsyncEngine) -> dict[int, list[tuple[datetime, int | None]]]:
    """Each delivery's attempts in order: when, and the status answered (None: no answer)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                delivery_attempts.c.delivery_id,
                delivery_attempts.c.attempted_at,
                delivery_attempts.c.status_code,
            ).order_by(delivery_attempts.c.attempted_at)
        )
        out: dict[int, list[tuple[datetime, int | None]]] = defaultdict(list)
        for delivery_id, at, code in rows:
            out[delivery_id].append((at, code))
        return out
