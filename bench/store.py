"""``hadir bench store [--json]``: records written per second, and webhook deliveries
per second to a local receiver, on a fresh SQLite database in a temporary directory
(or on an empty database given with ``--database-url``, e.g. PostgreSQL, which the
bench empties again afterwards).

Records go through the real write path. The live figure is one record per
transaction, as a call's end writes it: close the check, append the signed hash-chain
entry, enqueue its ``check.missed`` event with one delivery row. The batched figure is
the sweep's way: ``SWEEP_BATCH`` checks closed in one transaction. The concurrent
figure is calls ending together: ``--callers`` tasks, each completing one check after
another and waiting for each record, through the group-committing ``RecordWriter``.
The receiver runs in another process (the machine's other core), and the dispatcher
sends every delivery with its real signing and outcome recording.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.apikeys import create_key
from service.checks import SWEEP_BATCH
from service.clock import utcnow
from service.commands.bench import report
from service.errors import UsageError
from service.org import import_roster_text
from service.record_writer import RecordWriter
from service.records import CallResult, Record, lock_chain, record_missed, record_missed_many
from service.schema import checks, deliveries, metadata
from service.store import create_engine, migrate
from service.webhooks.dispatcher import Dispatcher, DispatcherSettings
from service.webhooks.endpoints import create_endpoint
from service.webhooks.retry import RetrySchedule
from signaling.verdict import CallVerdict, Criterion
from vision.verdict import Verdict


def register_bench(group: Any) -> None:
    parser = group.add_parser("store", help="records written/s and webhook deliveries/s")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument(
        "--records", type=int, default=3000, help="records to write each way (3000)"
    )
    parser.add_argument(
        "--callers", type=int, default=64, help="concurrent callers completing checks (64)"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="an empty database to run on instead of a fresh SQLite file (emptied afterwards)",
    )
    parser.set_defaults(handler=run_store)


def _receiver(port: int, ready: Any) -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def _seed(engine: Any, n: int) -> None:
    roster = {
        "units": [{"id": "u", "name": "Unit"}],
        "supervisors": [{"id": "p", "name": "Sup", "unit": "u"}],
        "staff": [
            {"id": f"s{i}", "name": f"S{i}", "unit": "u", "supervisor": "p"} for i in range(n)
        ],
    }
    await import_roster_text(engine, json.dumps(roster), "json", source="bench", actor="bench")
    due = utcnow() - timedelta(hours=1)
    async with engine.begin() as conn:
        await conn.execute(
            checks.insert(),
            [
                {
                    "id": f"chk_{i}",
                    "staff_id": f"s{i}",
                    "supervisor_id": "p",
                    "unit_id": "u",
                    "due_at": due,
                    "window_start": due,
                    "window_end": due,
                    "uniform_policy": "bench",
                    "status": "scheduled",
                    "created_at": due,
                }
                for i in range(n)
            ],
        )


async def _bench(n: int, callers: int, port: int, url: str) -> dict[str, Any]:
    if url:
        return await _bench_on(create_engine(url), n, callers, port, drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        return await _bench_on(engine, n, callers, port, drop=False)


async def _complete_in_turn(writer: RecordWriter, check_ids: range, result: CallResult) -> None:
    """One caller: each check's record written before the next is completed."""
    for i in check_ids:
        if not isinstance(await writer.complete(f"chk_{i}", result), Record):
            raise RuntimeError(f"check chk_{i} was not recorded")


async def _bench_on(
    engine: AsyncEngine, n: int, callers: int, port: int, *, drop: bool
) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    try:
        async with engine.connect() as conn:
            if await conn.run_sync(lambda sync: inspect(sync).get_table_names()):
                raise UsageError("--database-url must name an empty database")
        await migrate(engine)
        await _seed(engine, 3 * n)
        async with engine.begin() as conn:
            _, owner = await create_key(conn, "bench", ["records:read"], actor="bench")
            await create_endpoint(
                conn,
                f"http://127.0.0.1:{port}/hook",
                ["check.missed"],
                owner_key_id=owner.id,
                actor="bench",
            )
        start = time.perf_counter()
        for i in range(n):
            async with engine.begin() as conn:
                await lock_chain(conn)
                await record_missed(conn, f"chk_{i}", key=key)
        single_s = time.perf_counter() - start

        start = time.perf_counter()
        for first in range(n, 2 * n, SWEEP_BATCH):
            batch = [f"chk_{i}" for i in range(first, min(first + SWEEP_BATCH, 2 * n))]
            async with engine.begin() as conn:
                await lock_chain(conn)
                await record_missed_many(conn, batch, key=key)
        batched_s = time.perf_counter() - start

        # Calls that end together, each caller waiting for its record: group-committed.
        writer = RecordWriter(engine, key)
        ok = Criterion(Verdict.PASS)
        result = CallResult(
            started_at=utcnow() - timedelta(minutes=2),
            ended_at=utcnow(),
            verdict=CallVerdict(ok, ok, ok, ok, camera_on=1.0),
        )
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _complete_in_turn(writer, range(2 * n + c, 3 * n, callers), result)
                for c in range(callers)
            )
        )
        concurrent_s = time.perf_counter() - start
        await writer.close()

        settings = DispatcherSettings(
            schedule=RetrySchedule((0.0, 1.0)),
            concurrency=64,
            poll_interval_s=0.05,
            allow_private=True,
        )
        dispatcher = Dispatcher(engine, key, settings)
        start = time.perf_counter()
        task = asyncio.create_task(dispatcher.run())
        while await _delivered(engine) < 2 * n:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        deliveries_s = time.perf_counter() - start
        dispatcher.stop()
        await task
        if drop:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)
                await conn.execute(text("DROP TABLE alembic_version"))
    finally:
        await engine.dispose()
    return {
        "database": engine.dialect.name,
        "records": n,
        "records_per_s": n / single_s,
        "records_batched": n,
        "records_batched_per_s": n / batched_s,
        "records_concurrent": n,
        "records_concurrent_per_s": n / concurrent_s,
        "concurrent_callers": min(callers, n),
        "concurrent_transactions": writer.groups,
        "batch": SWEEP_BATCH,
        "deliveries": 2 * n,
        "deliveries_per_s": 2 * n / deliveries_s,
        "dispatcher_concurrency": settings.concurrency,
    }


async def _delivered(engine: Any) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(select(func.count()).where(deliveries.c.status == "delivered"))
            ).scalar_one()
        )


def run_store(args: argparse.Namespace) -> int:
    if args.records < 10:
        raise UsageError("--records must be at least 10")
    if args.callers < 1:
        raise UsageError("--callers must be at least 1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=_receiver, args=(port, ready), daemon=True)
    receiver.start()
    try:
        if not ready.wait(30):
            raise UsageError("the local receiver did not start")
        figures = asyncio.run(_bench(args.records, args.callers, port, args.database_url))
    finally:
        receiver.terminate()
        receiver.join(10)
    where = "given database" if args.database_url else "SQLite, fresh database"
    report("store", figures, args.json, note=f"{where}, local receiver")
    return 0
