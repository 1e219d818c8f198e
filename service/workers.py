"""``hadir serve --workers N``: N processes of the service sharing one port.

Each worker is a whole ``hadir serve`` (its own event loop, analysis pool, hub,
dispatcher and jobs) listening with SO_REUSEPORT, so the kernel spreads connections
among them; what crosses processes goes through the store and the bus (Redis,
docs/scale-out.md). That is why more than one worker needs PostgreSQL and Redis: SQLite
has one writer, and without a bus a supervisor on one worker never meets a staff page
on another.

The parent does once what the workers would race to do (migrate the store, create the
keys and certificate in the data dir), points prometheus_client's multiprocess mode at
an empty directory, starts the workers (spawned: a fresh interpreter each), passes
SIGTERM/SIGINT on to them so each drains (``service.server``), and waits for them. A
worker whose parent was killed drains and stops by itself.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from types import FrameType

from service.app import create_app
from service.config import Config
from service.errors import UsageError
from service.logs import setup_logging
from service.metrics import MULTIPROC_ENV
from service.server import ReadyHook, run_server
from service.store import create_engine, migrate
from service.tls import server_ssl_context

log = logging.getLogger("hadir.workers")

ReadyFactory = Callable[[int], ReadyHook | None]


def scaled_out(config: Config) -> bool:
    """Both a PostgreSQL URL and a Redis URL are configured."""
    return config.database_url.startswith("postgresql") and bool(config.redis.url)


def default_workers(config: Config) -> int:
    """The cores this process may use when scaled out, else one."""
    return len(os.sched_getaffinity(0)) if scaled_out(config) else 1


def check_workers(config: Config, workers: int) -> None:
    if workers < 1:
        raise UsageError(f"--workers: must be at least 1, got {workers}")
    if workers > 1 and not scaled_out(config):
        raise UsageError(
            f"--workers {workers} needs PostgreSQL (storage.database_url) and Redis "
            "(redis.url): SQLite has one writer and workers meet only through Redis"
        )


async def _prepare(config: Config) -> None:
    engine = create_engine(config.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def _follow_parent(parent: int) -> None:
    """Drain this worker once its parent is gone (killed, not signalled): a worker
    never outlives ``hadir serve``. Polls once a second in a daemon thread."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _worker(config: Config, index: int, on_ready: ReadyHook | None, parent: int) -> None:
    setup_logging(config.log.level, config.log.format)
    _follow_parent(parent)
    try:
        asyncio.run(run_server(config, on_ready=on_ready, reuse_port=True))
    except UsageError as exc:
        print(f"hadir: worker {index}: {exc}", flush=True)
        raise SystemExit(2) from None


def run_workers(config: Config, workers: int, ready: ReadyFactory) -> int:
    """Run ``workers`` processes until a signal stops them; 0 if all stopped cleanly."""
    asyncio.run(_prepare(config))
    create_app(config)  # creates the data dir's keys once, before the workers read them
    if not config.server.http:
        server_ssl_context(config)  # likewise the self-signed certificate
    with tempfile.TemporaryDirectory(prefix="hadir-metrics-") as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir  # read by each worker as it starts
        spawn = multiprocessing.get_context("spawn")
        procs = [
            spawn.Process(
                target=_worker,
                args=(config, i, ready(i), os.getpid()),
                name=f"hadir-worker-{i}",
                daemon=False,
            )
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        log.info("workers started", extra={"fields": {"workers": workers}})

        def stop(signum: int, frame: FrameType | None) -> None:
            for proc in procs:
                if proc.is_alive() and proc.pid is not None:
                    os.kill(proc.pid, signal.SIGTERM)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for proc in procs:
                proc.join()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        codes = [proc.exitcode for proc in procs]
        log.info("workers stopped", extra={"fields": {"exit_codes": codes}})
    return 0 if all(code == 0 for code in codes) else 1
