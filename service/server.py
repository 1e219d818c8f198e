"""Running the application: listen, wait for SIGINT/SIGTERM, shut down gracefully.

On a signal a node that shares a bus with others (Redis) drains first: the listener
closes (the balancer, or the other workers sharing the port, take new connections), the
hub takes no new call and closes the pages that have none (they reconnect elsewhere),
and the calls held here get ``shutdown_timeout_s`` to end. Alone, it does not wait for
its calls: nobody else could take them. Then requests in flight get
``shutdown_timeout_s`` to finish, the application's cleanup contexts stop background
work (each worker finishes or releases the item it holds; calls still live end
``server_shutdown``) and the store is disposed.

``reuse_port`` lets several processes listen on one port (SO_REUSEPORT, ``hadir serve
--workers N``): the kernel spreads new connections among them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from service.access_log import AccessLogger
from service.app import create_app
from service.config import Config
from service.errors import UsageError
from service.tls import fingerprint, server_ssl_context
from signaling.server import HUB

log = logging.getLogger("hadir.server")

ReadyHook = Callable[[web.Application], Awaitable[None]]


async def run_server(
    config: Config, on_ready: ReadyHook | None = None, reuse_port: bool = False
) -> None:
    app = create_app(config)
    runner = web.AppRunner(
        app,
        shutdown_timeout=config.server.shutdown_timeout_s,
        access_log=logging.getLogger("hadir.access"),
        access_log_class=AccessLogger,
    )
    await runner.setup()
    ssl_context = None
    if not config.server.http:
        ssl_context, cert = server_ssl_context(config)
        log.info("tls", extra={"fields": {"cert": str(cert), "sha256": fingerprint(cert)}})
    site = web.TCPSite(
        runner,
        config.server.host,
        config.server.port,
        ssl_context=ssl_context,
        reuse_port=reuse_port or None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await site.start()
        except OSError as exc:  # the port is taken, or not ours to bind
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise UsageError(
                f"cannot listen on {config.server.host}:{config.server.port}: {why} "
                "(another Hadir running? set server.port or --port)"
            ) from exc
        log.info("listening", extra={"fields": {"url": config.public_url, "pid": os.getpid()}})
        if on_ready is not None:
            await on_ready(app)
        await stop.wait()
        if HUB in app and app[HUB].bus.shared:  # others can take what this one drops
            log.info("draining")
            await site.stop()
            await app[HUB].drain(config.server.shutdown_timeout_s)
        log.info("shutting down")
    finally:
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("stopped")
