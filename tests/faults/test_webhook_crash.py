"""The service is killed (SIGKILL) or stopped (SIGTERM) mid-delivery, then restarted:
nothing is lost.

A real ``hadir serve`` on each dialect sends to a slow receiver, three at a time. The
signal comes while requests are in flight. SIGKILL: the leases run out and the restart
sends again what was not recorded, with the same ``webhook-id`` (at least once).
SIGTERM: the process lets the attempts in flight finish, records them, gives back its
other leases and exits 0 within ``server.shutdown_timeout_s``; the restart sends the
rest at once, and no event is accepted twice.
"""

from __future__ import annotations

import asyncio
import signal as signals
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.schema import deliveries
from tests.cli_helpers import ServiceProcess, free_port, hadir_env
from tests.conftest import StoreTarget
from tests.webhook_helpers import Receiver, endpoint_for, enqueue_many, statuses, wait_until

EVENTS = 12
SHUTDOWN_TIMEOUT_S = 5.0


async def _slow(receiver: Receiver, request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(0.5)
    return web.Response(status=200)


@pytest.mark.parametrize("signal", ["SIGKILL", "SIGTERM"])
async def test_a_signal_mid_delivery_then_restart_delivers_everything(
    store: AsyncEngine,
    store_target: StoreTarget,
    tmp_path: Path,
    figures: Callable[[str], None],
    signal: str,
) -> None:
    receiver = await Receiver(_slow).start()
    await endpoint_for(store, receiver.url)
    ids = await enqueue_many(store, EVENTS)
    env = hadir_env(
        tmp_path / "data",
        store_target.url,
        HADIR_SERVER_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
        HADIR_WEBHOOKS_LEASE_S="5",
        HADIR_WEBHOOKS_TIMEOUT_S="2",
        HADIR_WEBHOOKS_CONCURRENCY="3",
        HADIR_WEBHOOKS_POLL_INTERVAL_S="0.1",
        HADIR_WEBHOOKS_RETRY_SCHEDULE="0s,200ms,200ms,200ms,200ms",
    )
    args = ("--http", "--host", "127.0.0.1", "--port", str(free_port()))
    try:
        first = ServiceProcess(*args, env=env)
        await asyncio.to_thread(first.wait_for, "Hadir is running")
        await wait_until(lambda: _in_progress(receiver), within=30)
        in_flight = receiver.in_progress()
        signalled = time.monotonic()
        first.proc.send_signal(getattr(signals, signal))
        code = await asyncio.to_thread(first.proc.wait, 30)
        exit_s = time.monotonic() - signalled
        delivered_before = (await statuses(store)).get("delivered", 0)
        held = await _leased(store)

        second = ServiceProcess(*args, env=env)
        await asyncio.to_thread(second.wait_for, "Hadir is running")
        restarted = time.monotonic()
        await wait_until(lambda: _all_delivered(store, EVENTS), within=60)
        rest_s = time.monotonic() - restarted
        code_after, err = await asyncio.to_thread(second.stop)
    finally:
        await receiver.stop()
    accepted = receiver.accepted()
    duplicates = sum(accepted.values()) - len(accepted)
    figure = (
        f"[{store_target.dialect}] {signal} with {in_flight} requests in flight: exit "
        f"{code} after {exit_s:.1f} s, {delivered_before} of {EVENTS} recorded delivered, "
        f"{held} leases left held; after the restart all {EVENTS} delivered in "
        f"{rest_s:.1f} s, lost {len(set(ids) - set(accepted))}, accepted twice {duplicates}"
    )
    figures(figure)
    assert code_after == 0, err
    assert in_flight > 0 and delivered_before < EVENTS, figure  # the signal was mid-delivery
    assert set(accepted) == set(ids), figure  # every event arrived (a repeat has its id)
    if signal == "SIGTERM":
        assert code == 0 and exit_s < SHUTDOWN_TIMEOUT_S, figure
        # The attempts in flight finished and were recorded; nothing stays leased.
        assert held == 0 and duplicates == 0, figure


async def _in_progress(receiver: Receiver) -> bool:
    return receiver.in_progress() > 0


async def _leased(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.id).where(
                deliveries.c.status == "pending", deliveries.c.lease_owner.is_not(None)
            )
        )
        return len(rows.all())


async def _all_delivered(engine: AsyncEngine, n: int) -> bool:
    return (await statuses(engine)).get("delivered", 0) == n
