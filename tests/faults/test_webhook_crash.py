"""The service is killed (SIGKILL) or stopped (SIGTERM) mid-delivery, then restarted:
nothing is lost.

A real ``hadir serve`` on each dialect sends to a slow receiver, three at a time. The
signal comes while requests are in flight. SIGKILL: the leases run out and the restart
sends again what was not recorded, with the same ``webhook-id`` (at least once).
SIGTERM: the process gives the attempts in flight ``server.shutdown_timeout_s`` to
finish and records them, gives back its other leases, and exits 0 in that time; the
restart sends the rest at once. If the receiver answers within that time no event is
accepted twice; if it is slower (the attempt's own limit, ``webhooks.timeout_s``, is
longer, as by default), the attempts are cut, given back and sent again.
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
from tests.cli_helpers import ServiceProcess, free_port, hadir_env, loopback_http
from tests.conftest import StoreTarget
from tests.webhook_helpers import Receiver, endpoint_for, enqueue_many, statuses, wait_until

EVENTS = 30  # ten rounds of three: the signal always finds some not yet sent
SHUTDOWN_TIMEOUT_S = 2.0
ATTEMPT_TIMEOUT_S = 8.0  # longer than the shutdown's grace, as by default (15 s, 10 s)
# The grace, then the process's own end: an idle ``hadir serve`` takes about 0.9 s
# from SIGTERM to exit, nearly all of it after its "stopped" line (interpreter teardown).
EXIT_S = SHUTDOWN_TIMEOUT_S + 2.0


@pytest.mark.parametrize(
    ("signal", "answer_s"), [("SIGKILL", 0.5), ("SIGTERM", 0.5), ("SIGTERM", 6.0)]
)
async def test_a_signal_mid_delivery_then_restart_delivers_everything(
    store: AsyncEngine,
    store_target: StoreTarget,
    tmp_path: Path,
    figures: Callable[[str], None],
    signal: str,
    answer_s: float,
) -> None:
    delay = [answer_s]  # how long the receiver takes to answer, until the restart

    async def slow(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay[0])
        return web.Response(status=200)

    receiver = await Receiver(slow).start()
    await endpoint_for(store, receiver.url)
    ids = await enqueue_many(store, EVENTS)
    env = hadir_env(
        tmp_path / "data",
        store_target.url,
        HADIR_SERVER_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
        HADIR_WEBHOOKS_LEASE_S=str(ATTEMPT_TIMEOUT_S + 1),
        HADIR_WEBHOOKS_TIMEOUT_S=str(ATTEMPT_TIMEOUT_S),
        HADIR_WEBHOOKS_CONCURRENCY="3",
        HADIR_WEBHOOKS_POLL_INTERVAL_S="0.1",
        HADIR_WEBHOOKS_RETRY_SCHEDULE="0s,200ms,200ms,200ms,200ms",
    )
    args = loopback_http(free_port())
    try:
        first = ServiceProcess(*args, env=env)
        await asyncio.to_thread(first.wait_for, "Hadir is running")
        await wait_until(lambda: _in_progress(receiver), within=30)
        in_flight = receiver.in_progress()
        signalled = time.monotonic()
        first.proc.send_signal(getattr(signals, signal))
        code = await asyncio.to_thread(first.proc.wait, 30)
        exit_s = time.monotonic() - signalled
        recorded = await _delivered(store)  # recorded as delivered before the restart
        held = await _leased(store)
        delay[0] = 0.0
        sent_before = len(receiver.received)

        second = ServiceProcess(*args, env=env)
        await asyncio.to_thread(second.wait_for, "Hadir is running")
        restarted = time.monotonic()
        await wait_until(lambda: _all_delivered(store, EVENTS), within=60)
        rest_s = time.monotonic() - restarted
        code_after, err = await asyncio.to_thread(second.stop)
    finally:
        await receiver.stop()
    accepted = receiver.accepted()
    resent_recorded = {r.id for r in receiver.received[sent_before:]} & recorded
    duplicates = sum(accepted.values()) - len(accepted)
    figure = (
        f"[{store_target.dialect}] {signal} with {in_flight} requests in flight, the "
        f"receiver answering in {answer_s} s: exit "
        f"{code} after {exit_s:.1f} s, {len(recorded)} of {EVENTS} recorded delivered, "
        f"{held} leases left held; after the restart all {EVENTS} delivered in "
        f"{rest_s:.1f} s, lost {len(set(ids) - set(accepted))}, accepted twice {duplicates}"
    )
    figures(figure)
    assert code_after == 0, err
    assert in_flight > 0 and len(recorded) < EVENTS, figure  # the signal was mid-delivery
    assert set(accepted) == set(ids), figure  # every event arrived (a repeat has its id)
    assert not resent_recorded, figure  # only an attempt not recorded is sent again
    if signal == "SIGTERM":
        assert code == 0 and exit_s < EXIT_S, figure
        assert held == 0, figure  # nothing stays leased: the restart sends it at once
    if signal == "SIGTERM" and answer_s < SHUTDOWN_TIMEOUT_S:
        assert duplicates == 0, figure  # the attempts in flight finished and were recorded


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


async def _delivered(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.event_id).where(deliveries.c.status == "delivered")
        )
        return set(rows.scalars())


async def _all_delivered(engine: AsyncEngine, n: int) -> bool:
    return (await statuses(engine)).get("delivered", 0) == n
