"""``hadir bench reads [--json]``: how long a review takes while many readers page the
records.

A real server (``hadir serve``, its own process) runs on a fresh SQLite database in a
temporary directory, or on an empty database given with ``--database-url`` (emptied
again afterwards). ``--readers`` clients in another process fetch
``GET /api/v1/records?limit=500`` back to back, while this process writes reviews one
after another (``POST /api/v1/records/{id}/review``) and times each. Readers must not
make a writer wait: on SQLite they read a WAL snapshot without the write lock
(``store.read_only``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp

from bench.backend import Backend, empty, require_empty
from bench.load import _free_port, _start, _stop
from bench.loadgen.readings import percentile
from bench.store import _seed
from service.apikeys import create_key
from service.checks import SWEEP_BATCH
from service.commands.bench import report
from service.errors import UsageError
from service.keys import load_or_create_signing_key
from service.records import lock_chain, record_missed_many
from service.store import create_engine, migrate

PAGE = "/api/v1/records?limit=500"
WARM_UP_S = 1.0  # readers running before the first timed review


def register_bench(group: Any) -> None:
    parser = group.add_parser(
        "reads", help="review latency while concurrent readers page /api/v1/records"
    )
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument("--readers", type=int, default=50, help="concurrent readers (50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed window (10)")
    parser.add_argument("--records", type=int, default=1000, help="records to seed (1000)")
    parser.add_argument(
        "--database-url",
        default="",
        help="an empty database to run on instead of a fresh SQLite file (emptied afterwards)",
    )
    parser.set_defaults(handler=run_reads)


async def _prepare(url: str, data_dir: Path, n: int) -> tuple[str, list[str]]:
    """Migrate and seed ``n`` records; an admin key and the records' ids."""
    await require_empty(url)
    engine = create_engine(url)
    try:
        await migrate(engine)
        await _seed(engine, n)
        key = load_or_create_signing_key(data_dir)
        ids: list[str] = []
        for first in range(0, n, SWEEP_BATCH):
            async with engine.begin() as conn:
                await lock_chain(conn)
                batch = [f"chk_{i}" for i in range(first, min(first + SWEEP_BATCH, n))]
                ids += [r.id for r in await record_missed_many(conn, batch, key=key)]
        async with engine.begin() as conn:
            api_key, _ = await create_key(conn, "bench", ["admin"], actor="bench")
    finally:
        await engine.dispose()
    return api_key, ids


def _readers(base: str, key: str, readers: int, go: Event, stop: Event, out: Any) -> None:
    """The reading clients, in their own process: (latencies in s, errors)."""

    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        headers = {"Authorization": f"Bearer {key}"}

        async def read(session: aiohttp.ClientSession) -> None:
            nonlocal errors
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    async with session.get(base + PAGE, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        connector = aiohttp.TCPConnector(limit=readers)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.to_thread(go.wait)
            await asyncio.gather(*(read(session) for _ in range(readers)))
        return latencies, errors

    out.put(asyncio.run(main()))


async def _review(base: str, key: str, ids: list[str], seconds: float) -> tuple[list[float], int]:
    """Reviews one after another for ``seconds``: their latencies and errors."""
    latencies: list[float] = []
    errors = 0
    body = {"decision": "confirm", "reason": "bench"}
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession() as session:
        for record_id in ids:
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            try:
                url = f"{base}/api/v1/records/{record_id}/review"
                async with session.post(url, json=body, headers=headers) as r:
                    await r.read()
                    ok = r.status == 201
            except aiohttp.ClientError:
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok
    return latencies, errors


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


async def _run(args: argparse.Namespace, data_dir: Path, url: str) -> dict[str, Any]:
    key, ids = await _prepare(url, data_dir, args.records)
    try:
        return await _measure(args, data_dir, url, key, ids)
    finally:
        if args.database_url:
            await empty(Backend(url))


async def _measure(
    args: argparse.Namespace, data_dir: Path, url: str, key: str, ids: list[str]
) -> dict[str, Any]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADIR_")}
    env.update(
        DATABASE_URL=url,
        HADIR_STORAGE_DATA_DIR=str(data_dir),
        HADIR_JOBS_ENABLED="0",
        HADIR_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "service", "serve", "--http", "--host", "127.0.0.1"]
    server = await asyncio.to_thread(
        _start, [*command, "--port", str(port)], env, "Hadir is running"
    )
    base = f"http://127.0.0.1:{port}"
    go, stop = multiprocessing.Event(), multiprocessing.Event()
    out: multiprocessing.Queue[tuple[list[float], int]] = multiprocessing.Queue()
    readers = multiprocessing.Process(
        target=_readers, args=(base, key, args.readers, go, stop, out), daemon=True
    )
    try:
        readers.start()
        go.set()
        await asyncio.sleep(WARM_UP_S)
        reviews, review_errors = await _review(base, key, ids, args.seconds)
        stop.set()
        reads, read_errors = await asyncio.to_thread(out.get, True, 60)
        readers.join(10)
    finally:
        stop.set()
        if readers.is_alive():
            readers.kill()
        await asyncio.to_thread(_stop, server)
    return {
        "database": url.split("+", 1)[0],
        "records": args.records,
        "readers": args.readers,
        "reads": len(reads),
        "reads_per_s": round(len(reads) / (args.seconds + WARM_UP_S), 1),
        "read_p50_ms": _ms(percentile(reads, 0.5)),
        "read_p99_ms": _ms(percentile(reads, 0.99)),
        "read_errors": read_errors,
        "reviews": len(reviews),
        "review_p50_ms": _ms(percentile(reviews, 0.5)),
        "review_p99_ms": _ms(percentile(reviews, 0.99)),
        "review_max_ms": _ms(max(reviews, default=None)),
        "review_errors": review_errors,
    }


def run_reads(args: argparse.Namespace) -> int:
    if args.readers < 1 or args.records < 10 or args.seconds <= 0:
        raise UsageError("give --readers ≥ 1, --records ≥ 10 and --seconds > 0")
    with tempfile.TemporaryDirectory(prefix="hadir-reads-") as tmp:
        data_dir = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
        figures = asyncio.run(_run(args, data_dir, url))
    report("reads", figures, args.json, f"{args.readers} readers of {PAGE} while reviewing")
    return 0
