"""The service is killed (SIGKILL) mid-delivery and restarted: nothing is lost."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.cli_helpers import ServiceProcess, free_port, hadir_env
from tests.webhook_helpers import Receiver, endpoint_for, enqueue_many, statuses, wait_until


async def test_sigkill_mid_delivery_then_restart_delivers_everything(
    store, store_target, tmp_path
) -> None:
    async def slow(receiver: Receiver, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.5)
        return web.Response(status=200)

    receiver = await Receiver(slow).start()
    await endpoint_for(store, receiver.url)
    ids = await enqueue_many(store, 12)
    env = hadir_env(
        tmp_path / "data",
        store_target.url,
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
        await wait_until(lambda: _received(receiver, 1), within=30)
        first.proc.kill()  # SIGKILL while requests are in flight and leases are held
        await asyncio.to_thread(first.proc.wait, 10)
        assert (await statuses(store)).get("delivered", 0) < 12

        second = ServiceProcess(*args, env=env)
        await asyncio.to_thread(second.wait_for, "Hadir is running")
        await wait_until(lambda: _all_delivered(store, 12), within=60)
        code, err = await asyncio.to_thread(second.stop)
        assert code == 0, err
    finally:
        await receiver.stop()
    assert receiver.ids() == set(ids)  # every event arrived; a repeat carries the same id


async def _received(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _all_delivered(engine, n: int) -> bool:
    return (await statuses(engine)).get("delivered", 0) == n
