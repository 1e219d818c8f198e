"""``hadir bench load --streams N [--seconds S | --capacity] [--workers W |
--compare-workers 1,2] [--json]``: how many calls one machine watches, and what each
costs.

The server runs as its own process (``hadir serve --workers W``, the settings a user
would run: SQLite for one worker, or an empty PostgreSQL database and Redis given with
``--database-url`` and ``--redis-url``) with a webhook receiver; N synthetic staff
members, clients in ``--generators`` processes, join through the real signaling with
real tokens and send 640×480 JPEG stills over the signaling socket, one a second, as
the staff page does; supervisors are simulated at the signaling level and hang up at
the end, so every call writes its record. With several workers the kernel spreads the
sockets over them (SO_REUSEPORT), as a real port does: a call lives on the worker that
took its supervisor's socket, and a still whose staff socket landed on another worker
crosses Redis to it (counted from the server's ``/metrics``: ``stills_relayed``).
Beside them, in the same run, a naive pipeline (15 fps VP8 over aiortc, every frame
decoded and analysed, as in aiortc's server example) receives ``--naive-streams``
streams, and reports the frames it really analysed. CPU and memory are read from
``/proc`` for the server's processes alone (the parent and every worker, summed), so
they hold although the generator shares the machine.

``--compare-workers 1,2`` runs the same load once per worker count, one after the
other on the same database and Redis, and prints the runs side by side.

Three shapes of run:

- fixed (default): every call joins within ``--ramp`` seconds and lasts ``--seconds``;
  the figures are over the window in which every call is up.
- long call (``--seconds 120`` or more): the same, plus the server's CPU per sample and
  its memory minute by minute, and their growth from the first minute to the last.
- ``--capacity``: ``--step`` streams join every ``--step-seconds`` up to ``--streams``,
  and every call lasts to the end. Each step is judged on its own window; the capacity
  is the most streams held, before the first step that fails, with every stream
  sampled at ≥ 0.9 Hz and the sample lag's p95 ≤ 1 s, and its CPU per stream-second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
import cv2
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bench.backend import Backend, empty, for_run
from bench.loadgen.clients import HOME, Planned, StreamResult, StreamSpec, run_worker
from bench.loadgen.naive import run_naive_worker
from bench.loadgen.readings import (
    Reading,
    Span,
    Watch,
    percentile,
    sample_rate,
    samples_between,
    span,
    tree_rss_mb,
)
from fixtures.generate import frames, write_encoded
from service.apikeys import create_key
from service.clock import utcnow
from service.errors import UsageError
from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.links import issue_link
from service.metrics import SCOPE as METRICS_SCOPE
from service.org import import_roster
from service.schema import checks
from service.store import create_engine, migrate
from service.webhooks.endpoints import create_endpoint

NAIVE_FPS = 15
STILL_QUALITY = 70  # as staff.js encodes them (canvas.toBlob quality 0.7)
WARM_UP_S = 3.0  # after the server is up: its jobs run their first round, memory settles
LISTEN_S = 120.0  # every worker listening (each imports the service and its models)
SPAWN_S = 2.5  # a generator process starts (Python, aiortc) before its first call
JOIN_S = 3.0  # a call is answered, its analysis leg connected and its first samples taken
FIRST_SAMPLES_S = 2.0  # a new call's first five samples, 0.4 s apart, go before the others'
MIN_WINDOW_S = 5.0
RATE_AFTER_S = 4.0  # a stream's own rate is read past its first samples (0.4 s apart)
MINUTE_S = 60.0
# The capacity definition: every stream sampled at least this often, lag p95 at most.
CAPACITY_HZ, CAPACITY_LAG_S = 0.9, 1.0


def register_bench(group: Any) -> None:
    p = group.add_parser("load", help="concurrent calls one machine watches, against a naive one")
    p.add_argument(
        "--streams",
        type=_count,
        required=True,
        help="synthetic staff members (with --capacity: the most the ramp reaches)",
    )
    p.add_argument("--seconds", type=float, default=30.0, help="length of each call")
    p.add_argument("--ramp", type=float, default=None, help="seconds over which calls join")
    p.add_argument("--capacity", action="store_true", help="find the most streams held at ≥ 0.9 Hz")
    p.add_argument("--step", type=_count, default=5, help="--capacity: streams added per step")
    p.add_argument(
        "--step-seconds", type=float, default=20.0, help="--capacity: seconds per step (20)"
    )
    p.add_argument(
        "--max-calls", type=_count, default=None, help="calls.max_analysis_calls (per worker)"
    )
    p.add_argument(
        "--naive-streams",
        type=int,
        default=None,
        help="naive streams beside (1; 0 with --compare-workers, whose runs it would slow)",
    )
    servers = p.add_mutually_exclusive_group()
    servers.add_argument(
        "--workers",
        type=_count,
        default=1,
        help="server processes, hadir serve --workers (1; more needs --database-url and "
        "--redis-url)",
    )
    servers.add_argument(
        "--compare-workers",
        type=_counts,
        default=None,
        metavar="W,W",
        help="run the same load once per worker count (e.g. 1,2) and print them side by side",
    )
    p.add_argument(
        "--database-url",
        default="",
        help="an empty database for the server, emptied after each run (PostgreSQL; "
        "default: a fresh SQLite file, one worker only)",
    )
    p.add_argument("--redis-url", default="", help="Redis for the server's bus (workers > 1)")
    p.add_argument("--generators", type=_count, default=2, help="load generator processes (2)")
    p.add_argument(
        "--server-cpus",
        type=_cpus,
        default=None,
        metavar="C,C",
        help="pin the server to these CPUs (e.g. 0) and the generator to the others: the "
        "server's analysis threads default to the CPUs it has, so 0 measures one core",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handle)


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("from 1 to 1000")
    return value


def _counts(text: str) -> list[int]:
    try:
        return [_count(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("worker counts separated by commas, e.g. 1,2") from None


def _cpus(text: str) -> frozenset[int]:
    try:
        cpus = frozenset(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("CPU numbers separated by commas, e.g. 0") from None
    mine = os.sched_getaffinity(0)
    if not cpus <= mine or not mine - cpus:
        raise argparse.ArgumentTypeError(
            f"CPUs among {sorted(mine)}, leaving at least one for the generator"
        )
    return cpus


def handle(args: argparse.Namespace) -> int:
    from service.commands.bench import report

    counts = args.compare_workers or [args.workers]
    _check_servers(args, counts)
    if args.server_cpus is not None:  # the generator and the naive pipeline: the rest
        os.sched_setaffinity(0, os.sched_getaffinity(0) - args.server_cpus)
    if args.naive_streams is None:
        args.naive_streams = 0 if args.compare_workers else 1
    plan = _plan(args)
    runs = [asyncio.run(run_load(args, plan, workers)) for workers in counts]
    shape = "capacity" if args.capacity else f"{args.seconds:g} s"
    note = f"{args.streams} streams, {shape}"
    if args.compare_workers:
        side_by_side(runs, args.json, note)
    else:
        report("load", runs[0], args.json, note=f"{note}, {args.workers} worker(s)")
    return 0


NOT_IN_TABLE = ("steps", "minutes")  # in the JSON only
CELL = 44  # a wider cell (an error's text) is cut; the JSON has it whole


def side_by_side(runs: list[dict[str, Any]], as_json: bool, note: str) -> None:
    """The runs of ``--compare-workers``: JSON, or one row per figure and one column
    per worker count."""
    if as_json:
        workers = [run["workers"] for run in runs]
        print(json.dumps({"benchmark": "load", "compare_workers": workers, "runs": runs}, indent=2))
        return
    print(f"bench load ({note}): one column per worker count")
    keys = dict.fromkeys(k for run in runs for k in run if k not in NOT_IN_TABLE)
    for key in keys:
        cells = [_cell(run.get(key)) for run in runs]
        print(f"  {key:36}" + "".join(f"  {cell:>{CELL}}" for cell in cells))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.2f}"
    elif isinstance(value, dict):
        text = ", ".join(f"{k} {_cell(v)}" for k, v in value.items()) or "-"
    elif isinstance(value, list):
        text = " / ".join(_cell(v) for v in value) or "-"
    else:
        text = "-" if value is None else str(value)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _check_servers(args: argparse.Namespace, counts: list[int]) -> None:
    """Several workers need what lets them meet: PostgreSQL and Redis (as ``hadir serve
    --workers``, said in the bench's own flags)."""
    if max(counts) > 1 and not (args.database_url.startswith("postgresql") and args.redis_url):
        flag = (
            f"--compare-workers {','.join(map(str, counts))}"
            if args.compare_workers
            else f"--workers {args.workers}"
        )
        raise UsageError(
            f"{flag} needs --database-url (an empty PostgreSQL database) and --redis-url: "
            "workers meet through PostgreSQL and Redis (docs/scale-out.md)"
        )


# --- the plan: when each stream joins, how long it lasts, which windows are judged ------


@dataclass(frozen=True)
class Window:
    """A part of the run judged on its own: ``start``..``end`` seconds after the first
    stream's planned start, with the first ``streams`` streams up."""

    name: str
    start: float
    end: float
    streams: int


@dataclass(frozen=True)
class Plan:
    starts: list[float]  # each stream's join, seconds after the run's start
    seconds: list[float]  # each stream's call length, from its analysis leg's set-up
    steady: Window  # every call up (--capacity: the last step)
    steps: list[Window]  # --capacity: one per step
    minutes: list[Window]  # a long call: one per whole minute of the calls
    length: float  # the last hang-up, about


def _plan(args: argparse.Namespace) -> Plan:
    n = args.streams
    if args.capacity:
        k, step_s = args.step, args.step_seconds
        spread = min(0.4 * k, step_s / 4)  # a step's streams join over this many seconds
        steps = math.ceil(n / k)
        if step_s < spread + JOIN_S + FIRST_SAMPLES_S + MIN_WINDOW_S:
            raise UsageError(f"--step-seconds {step_s:g} is too short for --step {k}")
        starts = [(i // k) * step_s + spread * (i % k) / k for i in range(n)]
        length = steps * step_s
        windows = [
            Window(
                f"{min(n, (j + 1) * k)} streams",
                j * step_s + spread + JOIN_S + FIRST_SAMPLES_S,
                (j + 1) * step_s,
                min(n, (j + 1) * k),
            )
            for j in range(steps)
        ]
        return Plan(starts, [length - t for t in starts], windows[-1], windows, [], length)
    ramp = args.ramp if args.ramp is not None else min(n / 4, 60.0)
    shortest = ramp + JOIN_S + MIN_WINDOW_S
    if args.seconds < shortest:
        raise UsageError(
            f"--seconds {args.seconds:g} is too short: every call must be up together for "
            f"{MIN_WINDOW_S:g} s after a {ramp:g} s ramp (give at least {shortest:.0f})"
        )
    starts = [ramp * i / n for i in range(n)]
    steady = Window("steady", ramp + JOIN_S, args.seconds, n)
    # The calls' own minutes (the first from when every call is up), once there are two.
    whole = int(args.seconds // MINUTE_S)
    minutes = [
        Window(f"minute {m + 1}", max(steady.start, m * MINUTE_S), (m + 1) * MINUTE_S, n)
        for m in range(whole if whole >= 2 and MINUTE_S - steady.start >= MIN_WINDOW_S else 0)
    ]
    return Plan(starts, [args.seconds] * n, steady, [], minutes, ramp + args.seconds)


# --- setting up -----------------------------------------------------------------------


def _media(out: Path, seconds: float, naive: bool) -> tuple[Path, Path]:
    """The stills (a directory of the clip's JPEGs, one per second, as the staff page
    encodes them, sent in turn) and the naive pipeline's stream (15 fps), made once. The
    stream is long enough for a whole call: aiortc's MediaPlayer stops pacing
    pre-encoded packets once it loops a file (the timestamps restart). One keyframe at
    the start, as a browser's stream has."""
    clip = list(frames("live"))  # 6 s at 15 fps
    stills, naive_media = out / "stills", out / "naive-15fps.webm"
    stills.mkdir()
    for i, rgb in enumerate(clip[::NAIVE_FPS]):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, STILL_QUALITY])
        (stills / f"{i:03}.jpg").write_bytes(jpeg.tobytes())
    if naive:  # 15 fps for a whole long call takes minutes to encode on a busy machine
        video = [clip[i % len(clip)] for i in range(math.ceil((seconds + 15) * NAIVE_FPS))]
        write_encoded(
            naive_media, "libvpx", iter(video), fps=NAIVE_FPS, bit_rate=1_000_000, keyframe_s=None
        )
    return stills, naive_media


async def _seed(
    database_url: str, data_dir: Path, streams: int, seconds: float, hook_url: str
) -> tuple[list[StreamSpec], str]:
    """The organisation, each stream's links and open check, the webhook endpoint; and
    an API key that reads ``/metrics``."""
    engine = create_engine(database_url)
    await migrate(engine)
    roster = {
        "units": [{"id": "u1", "name": "Unit beban"}],
        "supervisors": [
            {"id": f"s{i}", "name": f"Atasan {i}", "unit": "u1"} for i in range(streams)
        ],
        "staff": [
            {
                "id": f"p{i}",
                "name": f"Pegawai {i}",
                "unit": "u1",
                "supervisor": f"s{i}",
                "home_lat": HOME[0],
                "home_lon": HOME[1],
                "home_radius_m": 200,
                "wfh_days": "mon,tue,wed,thu,fri,sat,sun",
            }
            for i in range(streams)
        ],
    }
    path = data_dir / "roster.json"
    path.write_text(json.dumps(roster))
    await import_roster(engine, path, actor="bench")
    secret = load_or_create_secret(data_dir, LINK_SECRET_FILE)
    now, ttl = utcnow(), timedelta(hours=2)
    specs = []
    async with engine.begin() as conn:
        key, owner = await create_key(conn, "bench", ["records:read", METRICS_SCOPE], actor="bench")
        await create_endpoint(
            conn, hook_url, ["check.completed"], owner_key_id=owner.id, actor="bench"
        )
        for i in range(streams):
            tokens = []
            for role, person in (("supervisor", f"s{i}"), ("staff", f"p{i}")):
                url, _ = await issue_link(conn, secret, "http://x", role, person, ttl, actor="b")
                tokens.append(url.rsplit("/", 1)[1])
            check_id = f"chk_load_{i}_{secrets.token_hex(4)}"
            await conn.execute(
                checks.insert().values(
                    id=check_id,
                    staff_id=f"p{i}",
                    supervisor_id=f"s{i}",
                    unit_id="u1",
                    due_at=now,
                    window_start=now - timedelta(minutes=1),
                    window_end=now + timedelta(seconds=seconds * 4 + 600),
                    uniform_policy="any",
                    status="scheduled",
                    created_at=now,
                )
            )
            specs.append(StreamSpec(tokens[0], tokens[1], check_id))
    await engine.dispose()
    return specs, key


class _Receiver:
    """Counts the webhook deliveries that reach it (by ``webhook-id``)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.runner: web.AppRunner | None = None
        self.changed = asyncio.Condition()

    async def wait_for(self, count: int, within_s: float) -> None:
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: len(self.ids) >= count), within_s
                )

    async def start(self, port: int) -> None:
        async def hook(request: web.Request) -> web.Response:
            await request.read()
            async with self.changed:
                self.ids.add(request.headers.get("webhook-id", ""))
                self.changed.notify_all()
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], env: dict[str, str], ready: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            return proc
    raise RuntimeError(f"{' '.join(cmd)} exited before it was ready")


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:``port``: one per worker (SO_REUSEPORT)."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == local and row.split()[3] == "0A")


def _await_workers(proc: subprocess.Popen[str], port: int, workers: int) -> None:
    """Until every worker listens: the first says it is running before the others are."""
    deadline = time.monotonic() + LISTEN_S
    while _listeners(port) < workers:
        if proc.poll() is not None:
            raise RuntimeError(
                f"hadir serve exited ({proc.returncode}) before its workers listened"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers were not listening within {LISTEN_S:g} s")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- the run --------------------------------------------------------------------------


async def run_load(args: argparse.Namespace, plan: Plan, workers: int) -> dict[str, Any]:
    """One run with ``workers`` server processes; its figures."""
    with tempfile.TemporaryDirectory(prefix="hadir-load-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir()
        sqlite = f"sqlite+aiosqlite:///{data_dir / 'hadir.db'}"
        backend = await for_run(args.database_url or sqlite, args.redis_url)
        try:
            return await _run_on(args, plan, workers, work, backend)
        finally:
            await empty(backend)


async def _run_on(
    args: argparse.Namespace, plan: Plan, workers: int, work: Path, backend: Backend
) -> dict[str, Any]:
    data_dir = work / "data"
    analysis_media, naive_media = await asyncio.to_thread(
        _media, work, plan.length, args.naive_streams > 0
    )
    sizes = [p.stat().st_size for p in analysis_media.glob("*.jpg")]
    upload_kbit_s = round(8 * sum(sizes) / len(sizes) / 1000, 1)  # one still a second
    receiver, hook_port, port = _Receiver(), _free_port(), _free_port()
    await receiver.start(hook_port)
    specs, api_key = await _seed(
        backend.database_url,
        data_dir,
        args.streams,
        plan.length,
        f"http://127.0.0.1:{hook_port}/hook",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADIR_")}
    env.pop("DATABASE_URL", None)
    env.update(
        backend.env(),
        HADIR_STORAGE_DATA_DIR=str(data_dir),
        HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
        HADIR_CALLS_MAX_ANALYSIS_CALLS=str(args.max_calls or args.streams),
        HADIR_LOG_LEVEL="WARNING",
        # The bench makes its own checks for now; the scheduler's jobs would cancel
        # them on a day off (a weekend run) and are not what is measured.
        HADIR_JOBS_ENABLED="false",
        HADIR_SERVER_SHUTDOWN_TIMEOUT_S="5",  # a drain at the end: every call has ended
    )
    serve = [sys.executable, "-m", "service", "serve", "--http", "--host", "127.0.0.1"]
    if args.server_cpus is not None:
        serve = ["taskset", "--cpu-list", ",".join(map(str, sorted(args.server_cpus))), *serve]
    server = await asyncio.to_thread(
        _start,
        [*serve, "--port", str(port), "--workers", str(workers)],
        env,
        "Hadir is running",
    )
    naive_port = _free_port()
    naive = None
    watches: list[Watch] = []
    try:
        await asyncio.to_thread(_await_workers, server, port, workers)
        if args.naive_streams > 0:
            naive = await asyncio.to_thread(
                _start,
                [sys.executable, "-m", "bench.loadgen.naive", "--port", str(naive_port)],
                dict(os.environ),
                "ready",
            )
        await asyncio.sleep(WARM_UP_S)  # then the idle baseline
        idle_rss = await asyncio.to_thread(tree_rss_mb, server.pid)
        async with aiohttp.ClientSession() as http:
            watch = Watch(server.pid, tree=True)
            watches.append(watch)
            naive_watch = None
            if naive is not None:
                naive_watch = Watch(naive.pid, _frames_of(http, naive_port))
                watches.append(naive_watch)
            t0 = time.monotonic() + SPAWN_S  # the first stream's planned join
            plans = [
                Planned(spec, start, seconds)
                for spec, start, seconds in zip(specs, plan.starts, plan.seconds, strict=True)
            ]
            generating = _generate(
                args.generators,
                f"ws://127.0.0.1:{port}/ws",
                plans,
                str(analysis_media),
                t0,
            )
            naive_run = _naive(args.naive_streams, naive_port, str(naive_media), plan.length, t0)
            results, naive_error = await asyncio.gather(generating, naive_run)
            wall = time.monotonic() - t0 + SPAWN_S
            records = sum(1 for r in results if r.record)
            await receiver.wait_for(records, 30)
            for w in watches:
                await w.stop()
            counted = await _scrape(http, port, api_key)
        server_exit = server.poll()
    finally:
        for w in watches:
            await w.stop()
        await asyncio.to_thread(_stop, server)
        if naive is not None:
            await asyncio.to_thread(_stop, naive)
        await receiver.stop()
    naive_span = None
    if naive_watch is not None:  # its streams are up from JOIN_S to the end of the run
        naive_span = span(naive_watch.readings, t0 + JOIN_S + FIRST_SAMPLES_S, t0 + plan.length)
    figures = _figures(
        args,
        plan,
        t0,
        results,
        watch.readings,
        idle_rss,
        wall,
        len(receiver.ids),
        _naive_figures(naive_span, args.naive_streams, naive_error),
        server_exit,
    )
    return {
        "workers": workers,
        "server_cpus": None if args.server_cpus is None else sorted(args.server_cpus),
        "database": backend.database_url.split("+", 1)[0],
        "stills_upload_kbit_s": upload_kbit_s,
        **figures,
        **_relayed(counted, sum(r.stills for r in results)),
    }


def _frames_of(http: aiohttp.ClientSession, port: int) -> Any:
    async def frames() -> tuple[int, int]:
        async with http.get(f"http://127.0.0.1:{port}/stats") as response:
            counts = await response.json()
        return counts["received"], counts["analysed"]

    return frames


async def _scrape(http: aiohttp.ClientSession, port: int, key: str) -> dict[str, float] | str:
    """The server's counters (summed over its workers by any of them), by sample name
    and label values: ``hadir_bus_messages_total{type="relay_still"}`` →
    ``"hadir_bus_messages_total:relay_still"``; or why they could not be read."""
    try:
        async with http.get(
            f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {key}"}
        ) as response:
            response.raise_for_status()
            text = await response.text()
    except aiohttp.ClientError as exc:
        return f"{type(exc).__name__}: {exc}"
    return {
        ":".join((sample.name, *sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _relayed(counted: dict[str, float] | str, stills_sent: int) -> dict[str, Any]:
    """What crossed Redis between workers: every bus message by type, and the stills
    among them (a staff socket on another worker than its call's)."""
    if isinstance(counted, str):
        return {"stills_sent": stills_sent, "metrics_error": counted}
    prefix = "hadir_bus_messages_total:"
    bus = {k.removeprefix(prefix): int(v) for k, v in counted.items() if k.startswith(prefix)}
    relayed = bus.get("relay_still", 0)
    return {
        "stills_sent": stills_sent,
        "stills_relayed": relayed,
        "stills_relayed_pct": _round(100 * relayed / stills_sent if stills_sent else None, 1),
        "bus_messages": {k: n for k, n in sorted(bus.items()) if n},
        "server_samples": int(counted.get("hadir_samples_total", 0)),
    }


async def _generate(
    generators: int, ws_url: str, plans: list[Planned], media: str, t0: float
) -> list[StreamResult]:
    """Every stream's result; a generator process that dies makes its streams' results
    errors (counted), not the end of the run."""
    shares = [share for i in range(generators) if (share := plans[i::generators])]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(len(shares), mp_context=get_context("spawn")) as pool:
        done = await asyncio.gather(
            *(loop.run_in_executor(pool, run_worker, ws_url, share, media, t0) for share in shares),
            return_exceptions=True,
        )
    by_check: dict[str, StreamResult] = {}
    for share, outcome in zip(shares, done, strict=True):
        if isinstance(outcome, BaseException):
            error = f"generator: {type(outcome).__name__}: {outcome}"
            by_check |= {p.spec.check_id: StreamResult(p.spec.check_id, error=error) for p in share}
        else:
            by_check |= {r.check_id: r for r in outcome}
    return [by_check[p.spec.check_id] for p in plans]  # in the plan's order


async def _naive(streams: int, port: int, media: str, seconds: float, t0: float) -> str | None:
    """The naive streams, beside Hadir's; what went wrong, if anything."""
    if streams <= 0:
        return None
    loop = asyncio.get_running_loop()
    url = f"http://127.0.0.1:{port}/offer"
    try:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            await loop.run_in_executor(pool, run_naive_worker, url, streams, media, seconds, t0)
    except Exception as exc:  # a figure, not the end of the run
        return f"{type(exc).__name__}: {exc}"
    return None


# --- the figures ----------------------------------------------------------------------


def _naive_figures(span: Span | None, streams: int, error: str | None) -> dict[str, Any]:
    if streams <= 0:
        return {}
    if span is None or span.seconds <= 0:
        return {"naive_streams": streams, "naive_error": error or "no readings"}
    stream_s = streams * span.seconds
    return {
        "naive_streams": streams,
        "naive_cpu_ms_per_stream_s": round(1000 * span.cpu_s / stream_s, 2),
        "naive_frames_received_per_stream_s": round(span.received / stream_s, 2),
        "naive_frames_analysed_per_stream_s": round(span.analysed / stream_s, 2),
        # What all 15 frames a second would cost, from the cost of those analysed.
        "naive_cpu_ms_per_stream_s_at_15fps": round(
            NAIVE_FPS * 1000 * span.cpu_s / span.analysed, 2
        )
        if span.analysed
        else None,
        "naive_error": error,
    }


def _judge(
    results: Sequence[StreamResult], readings: list[Reading], t0: float, w: Window
) -> dict[str, Any]:
    """One window: the first ``w.streams`` streams, each judged on its own statuses in it,
    and the server's readings over it."""
    start, end = t0 + w.start, t0 + w.end
    up = [r for r in results[: w.streams] if r.admitted]
    rates: list[float] = []
    lags: list[float] = []
    for r in up:
        assert r.started is not None
        points = [(t, n) for t, _, n in r.statuses if t >= r.started + RATE_AFTER_S]
        rate = sample_rate(points, start, end)
        rates.append(0.0 if rate is None else rate)  # a stream with no samples here: 0 Hz
        lags.extend(lag for t, lag, _ in r.statuses if start <= t <= end)
    proc = span(readings, start, end)
    samples = sum(samples_between([(t, n) for t, _, n in r.statuses], start, end) for r in up)
    rate_min, lag_p95 = (min(rates) if rates else None), percentile(lags, 0.95)
    return {
        "window": w.name,
        "streams": w.streams,
        "streams_up": len(up),
        "seconds": _round(proc.seconds if proc else None, 1),
        # The cores the server's processes used together, and each one's share of a core.
        "server_cpu_cores": _round(proc.cpu_s / proc.seconds if proc else None),
        "server_cpu_pct_by_process": sorted(
            (round(100 * cpu / proc.seconds, 1) for cpu in proc.cpu_by_pid.values()), reverse=True
        )
        if proc
        else [],
        "server_cpu_ms_per_stream_s": _round(
            1000 * proc.cpu_s / (len(up) * proc.seconds) if proc and up else None
        ),
        "server_cpu_ms_per_sample": _round(
            1000 * proc.cpu_s / samples if proc and samples else None
        ),
        "server_rss_mb": _round(proc.rss_mb if proc else None, 1),
        "sample_rate_min_hz": _round(rate_min),
        "sample_rate_p50_hz": _round(percentile(rates, 0.5)),
        "sample_rate_max_hz": _round(max(rates) if rates else None),
        "sample_lag_p50_s": _round(percentile(lags, 0.5), 3),
        "sample_lag_p95_s": _round(lag_p95, 3),
        "sample_lag_max_s": _round(max(lags) if lags else None, 3),
        "held": bool(
            len(up) == w.streams
            and rate_min is not None
            and rate_min >= CAPACITY_HZ
            and lag_p95 is not None
            and lag_p95 <= CAPACITY_LAG_S
        ),
    }


def _growth(first: float | None, last: float | None) -> float | None:
    return None if not first or last is None else round(100 * (last - first) / first, 1)


def _figures(
    args: argparse.Namespace,
    plan: Plan,
    t0: float,
    results: list[StreamResult],
    readings: list[Reading],
    idle_rss: float,
    wall: float,
    delivered: int,
    naive: dict[str, Any],
    server_exit: int | None,
) -> dict[str, Any]:
    admitted = [r for r in results if r.admitted]
    firsts = [r.first_verdict_s for r in admitted if r.first_verdict_s is not None]
    figures: dict[str, Any] = {
        "streams": args.streams,
        "streams_admitted": len(admitted),
        "streams_refused": sum(1 for r in results if r.refused),
        "leg": "stills",
        "wall_s": round(wall, 1),
    }
    if plan.steps:
        steps = [_judge(results, readings, t0, w) for w in plan.steps]
        held = next((i for i, step in enumerate(steps) if not step["held"]), len(steps))
        at = steps[held - 1] if held else None  # the knee: the last step before one fails
        joined = [
            r.first_verdict_s
            for r in results[: at["streams"] if at else 0]
            if r.admitted and r.first_verdict_s is not None
        ]
        figures |= {
            "capacity_streams": at["streams"] if at else 0,
            "capacity_server_cpu_ms_per_stream_s": at["server_cpu_ms_per_stream_s"] if at else None,
            "capacity_sample_rate_min_hz": at["sample_rate_min_hz"] if at else None,
            "capacity_sample_lag_p95_s": at["sample_lag_p95_s"] if at else None,
            "capacity_first_verdict_p95_s": _round(percentile(joined, 0.95)),
            "steps": steps,
        }
        hadir_cpu = figures["capacity_server_cpu_ms_per_stream_s"]
    else:
        steady = _judge(results, readings, t0, plan.steady)
        figures |= {
            "steady_window_s": steady["seconds"],
            "held": steady["held"],  # every stream at ≥ 0.9 Hz, lag p95 ≤ 1 s
            "server_cpu_cores": steady["server_cpu_cores"],
            "server_cpu_pct_by_process": steady["server_cpu_pct_by_process"],
            "server_cpu_ms_per_stream_s": steady["server_cpu_ms_per_stream_s"],
            "server_cpu_ms_per_sample": steady["server_cpu_ms_per_sample"],
            "server_rss_mb": steady["server_rss_mb"],
            "server_rss_mb_per_stream": _round(
                (steady["server_rss_mb"] - idle_rss) / max(1, len(admitted))
                if steady["server_rss_mb"] is not None
                else None
            ),
            **{k: v for k, v in steady.items() if k.startswith(("sample_rate", "sample_lag"))},
        }
        hadir_cpu = steady["server_cpu_ms_per_stream_s"]
    if plan.minutes:
        minutes = [_judge(results, readings, t0, w) for w in plan.minutes]
        figures |= {
            "minutes": [
                {
                    k: m[k]
                    for k in (
                        "window",
                        "server_cpu_ms_per_sample",
                        "server_cpu_ms_per_stream_s",
                        "server_rss_mb",
                        "sample_rate_min_hz",
                        "sample_lag_p95_s",
                    )
                }
                for m in minutes
            ],
            "cpu_per_sample_growth_pct": _growth(
                minutes[0]["server_cpu_ms_per_sample"], minutes[-1]["server_cpu_ms_per_sample"]
            ),
            "rss_growth_pct": _growth(minutes[0]["server_rss_mb"], minutes[-1]["server_rss_mb"]),
        }
    naive_cpu = naive.get("naive_cpu_ms_per_stream_s")
    naive_full = naive.get("naive_cpu_ms_per_stream_s_at_15fps")
    errors = Counter(r.error.split(":")[0] for r in results if r.error and not r.refused)
    figures |= {
        "first_verdict_p50_s": _round(percentile(firsts, 0.5)),
        "first_verdict_p95_s": _round(percentile(firsts, 0.95)),
        "streams_with_verdict": len(firsts),  # of those analysed
        "final_verdicts": dict(sorted(Counter(str(r.verdict) for r in results).items())),
        # Why the calls that did not pass did not: "criterion:state:reason", counted.
        "not_passed": dict(sorted(Counter(c for r in results for c in r.not_passed).items())),
        "records_written": sum(1 for r in results if r.record),
        "webhooks_delivered": delivered,
        **naive,
        "ratio_vs_naive": _round(naive_cpu / hadir_cpu if naive_cpu and hadir_cpu else None),
        "ratio_vs_naive_at_15fps": _round(
            naive_full / hadir_cpu if naive_full and hadir_cpu else None
        ),
        "errors": dict(sorted(errors.items())),
        "error_examples": sorted({r.error for r in results if r.error and not r.refused})[:3],
        "server_exit_code": server_exit,  # None: still running when the calls ended
    }
    return figures


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
