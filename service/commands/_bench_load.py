"""``hadir bench load --streams N [--seconds S] [--json]``: how many calls one machine watches.

The server runs as its own process (``hadir serve``, SQLite, the settings a user would
run) with a webhook receiver; N synthetic staff members, real aiortc clients in worker
processes, join through the real signaling with real tokens and send 640×480 JPEG
stills over the signaling socket as the staff page does; supervisors are simulated at
the signaling level and hang up after S seconds, so every call writes its record. In
the same run, a naive pipeline (15 fps, every frame decoded and analysed, as in
aiortc's server example) receives a few streams for comparison. CPU and memory are read
from ``/proc`` for the server process alone, so they hold although the generator
shares the machine.
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
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
from aiohttp import web

from fixtures.generate import frames, write_encoded
from service.apikeys import create_key
from service.clock import utcnow
from service.errors import UsageError
from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.links import issue_link
from service.loadgen.clients import HOME, StreamResult, StreamSpec, run_worker
from service.loadgen.naive import run_naive_worker
from service.org import import_roster
from service.schema import checks
from service.store import create_engine, migrate
from service.webhooks.endpoints import create_endpoint

NAIVE_FPS = 15
STILL_QUALITY = 70  # as staff.js encodes them (canvas.toBlob quality 0.7)
WARM_UP_S = 3.0  # after the server is up: its jobs run their first round, memory settles
SPAWN_S = 2.5  # a generator process starts (Python, aiortc) before its first call
SETTLE_S = SPAWN_S + 3.0  # the last call of the ramp is answered and connected
MIN_WINDOW_S = 5.0
RATE_AFTER_S = 4.0  # a stream's own sample rate is read after its first samples


@dataclass(frozen=True)
class Steady:
    """The server process over the window in which every call was up."""

    seconds: float
    cpu_s: float
    rss_mb: float


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def register_bench(group: Any) -> None:
    p = group.add_parser("load", help="concurrent calls one machine watches, against a naive one")
    p.add_argument("--streams", type=_count, required=True, help="synthetic staff members")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each call")
    p.add_argument("--ramp", type=float, default=None, help="seconds over which calls join")
    p.add_argument("--max-peers", type=_count, default=None, help="calls.max_analysis_peers")
    p.add_argument("--naive-streams", type=int, default=None, help="naive streams (default ≤4)")
    p.add_argument("--workers", type=_count, default=2, help="generator processes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=handle)


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("from 1 to 1000")
    return value


def handle(args: argparse.Namespace) -> int:
    from service.commands.bench import report

    figures = asyncio.run(run_load(args))
    report("load", figures, args.json, note=f"{args.streams} streams, {args.seconds:g} s")
    return 0


# --- the server's process, read from /proc -------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def sample_rate(points: list[tuple[float, int]], after_s: float = RATE_AFTER_S) -> float | None:
    """Samples per second a stream got, from its status reports (time, samples so far)
    past its first ``after_s`` seconds (its fast first samples)."""
    steady = [(t, n) for t, n in points if t >= after_s]
    if len(steady) < 2 or steady[-1][0] == steady[0][0]:
        return None
    return (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# --- setting up -----------------------------------------------------------------------


def _media(out: Path, seconds: float) -> tuple[Path, Path]:
    """The stills (a directory of the clip's JPEGs, one per second, as the staff page
    encodes them, sent in turn) and the naive pipeline's stream (15 fps), made once. The
    stream is long enough for a whole call: aiortc's MediaPlayer stops pacing
    pre-encoded packets once it loops a file (the timestamps restart)."""
    clip = list(frames("live"))  # 6 s at 15 fps
    length = math.ceil((seconds + 15) * NAIVE_FPS)
    video = [clip[i % len(clip)] for i in range(length)]
    naive = out / "naive-15fps.webm"
    write_encoded(naive, "libvpx", iter(video), fps=NAIVE_FPS, bit_rate=1_000_000)
    stills = out / "stills"
    stills.mkdir()
    for i, rgb in enumerate(clip[::NAIVE_FPS]):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, STILL_QUALITY])
        (stills / f"{i:03}.jpg").write_bytes(jpeg.tobytes())
    return stills, naive


async def _seed(data_dir: Path, streams: int, seconds: float, hook_url: str) -> list[StreamSpec]:
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'hadir.db'}")
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
        _, owner = await create_key(conn, "bench", ["records:read"], actor="bench")
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
    return specs


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


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- the run --------------------------------------------------------------------------


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    streams, seconds = args.streams, args.seconds
    ramp = args.ramp if args.ramp is not None else min(streams / 4, 60.0)
    shortest = max(ramp + SETTLE_S, SETTLE_S) + MIN_WINDOW_S - SPAWN_S
    if seconds < shortest:
        raise UsageError(
            f"--seconds {seconds:g} is too short: every call must be up together for "
            f"{MIN_WINDOW_S:g} s after a {ramp:g} s ramp (give at least {shortest:.0f})"
        )
    with tempfile.TemporaryDirectory(prefix="hadir-load-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir()
        analysis_media, naive_media = await asyncio.to_thread(_media, work, seconds)
        sizes = [p.stat().st_size for p in analysis_media.glob("*.jpg")]
        upload = round(8 * sum(sizes) / len(sizes) / 1000, 1)  # kbit/s: one still a second
        receiver, hook_port, port = _Receiver(), _free_port(), _free_port()
        await receiver.start(hook_port)
        specs = await _seed(data_dir, streams, seconds, f"http://127.0.0.1:{hook_port}/hook")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HADIR_")}
        env.update(
            HADIR_STORAGE_DATA_DIR=str(data_dir),
            HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
            HADIR_CALLS_MAX_ANALYSIS_PEERS=str(args.max_peers or streams),
            HADIR_LOG_LEVEL="WARNING",
            # The bench makes its own checks for now; the scheduler's jobs would cancel
            # them on a day off (a weekend run) and are not what is measured.
            HADIR_JOBS_ENABLED="false",
        )
        env.pop("DATABASE_URL", None)
        server = await asyncio.to_thread(
            _start,
            [
                sys.executable,
                "-m",
                "service",
                "serve",
                "--http",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env,
            "Hadir is running",
        )
        try:
            await asyncio.sleep(WARM_UP_S)  # then the idle baseline
            idle_rss, t0 = rss_mb(server.pid), time.monotonic()
            generating = asyncio.create_task(
                _generate(
                    args.workers,
                    f"ws://127.0.0.1:{port}/ws",
                    specs,
                    str(analysis_media),
                    seconds,
                    ramp,
                )
            )
            # Every call is up between the end of the ramp and the first hang-up.
            steady = await _steady(server.pid, t0, ramp + SETTLE_S, seconds + SPAWN_S)
            results = await generating
            wall = time.monotonic() - t0
            records = sum(1 for r in results if r.record)
            await receiver.wait_for(records, 30)
        finally:
            await asyncio.to_thread(_stop, server)
            await receiver.stop()
        naive_streams = args.naive_streams if args.naive_streams is not None else min(4, streams)
        naive_cpu = await _naive(naive_streams, str(naive_media), min(seconds, 20.0))
    figures = _figures(results, streams, steady, idle_rss, wall, ramp, len(receiver.ids), naive_cpu)
    return {"stills_upload_kbit_s": upload, **figures}


async def _steady(pid: int, t0: float, start: float, end: float) -> Steady:
    """CPU and memory of ``pid`` between ``t0 + start`` and ``t0 + end`` (monotonic)."""
    await asyncio.sleep(max(0.0, t0 + start - time.monotonic()))
    cpu0 = cpu_seconds(pid)
    await asyncio.sleep(max(0.0, t0 + end - time.monotonic()))
    return Steady(end - start, cpu_seconds(pid) - cpu0, rss_mb(pid))


async def _generate(
    workers: int, ws_url: str, specs: list[StreamSpec], media: str, seconds: float, ramp: float
) -> list[StreamResult]:
    shares = [specs[i::workers] for i in range(workers)]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        done = await asyncio.gather(
            *(
                loop.run_in_executor(pool, run_worker, ws_url, share, media, seconds, ramp)
                for share in shares
                if share
            )
        )
    return [r for share in done for r in share]


async def _naive(streams: int, media: str, seconds: float) -> float | None:
    """CPU ms per stream-second of the naive pipeline's server process."""
    if streams == 0:
        return None
    port = _free_port()
    server = await asyncio.to_thread(
        _start,
        [sys.executable, "-m", "service.loadgen.naive", "--port", str(port)],
        dict(os.environ),
        "ready",
    )
    try:
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            running = loop.run_in_executor(
                pool, run_naive_worker, f"http://127.0.0.1:{port}/offer", streams, media, seconds
            )
            steady = await _steady(server.pid, t0, SETTLE_S, seconds + SPAWN_S)
            await running
    finally:
        await asyncio.to_thread(_stop, server)
    return 1000 * steady.cpu_s / (streams * steady.seconds)


def _figures(
    results: list[StreamResult],
    streams: int,
    steady: Steady,
    idle_rss: float,
    wall: float,
    ramp: float,
    delivered: int,
    naive_cpu: float | None,
) -> dict[str, Any]:
    admitted = [r for r in results if r.admitted]
    lags = [lag for r in admitted for lag in r.lags]
    firsts = [r.first_verdict_s for r in admitted if r.first_verdict_s is not None]
    rates = [rate for r in admitted if (rate := sample_rate(r.samples)) is not None]
    hadir_cpu = 1000 * steady.cpu_s / (len(admitted) * steady.seconds) if admitted else None
    errors = sorted({r.error for r in results if r.error})
    return {
        "streams": streams,
        "streams_admitted": len(admitted),
        "ramp_s": round(ramp, 1),
        "steady_window_s": round(steady.seconds, 1),
        "wall_s": round(wall, 1),
        "server_cpu_ms_per_stream_s": _round(hadir_cpu),
        "server_rss_mb": round(steady.rss_mb, 1),
        "server_rss_mb_per_stream": round((steady.rss_mb - idle_rss) / max(1, len(admitted)), 2),
        "sample_lag_p50_s": _round(percentile(lags, 0.5), 3),
        "sample_lag_p95_s": _round(percentile(lags, 0.95), 3),
        "sample_lag_max_s": _round(max(lags) if lags else None, 3),
        "sample_rate_min_hz": _round(min(rates) if rates else None),
        "sample_rate_p50_hz": _round(percentile(rates, 0.5)),
        "sample_rate_max_hz": _round(max(rates) if rates else None),
        "first_verdict_p50_s": _round(percentile(firsts, 0.5)),
        "first_verdict_p95_s": _round(percentile(firsts, 0.95)),
        "streams_with_verdict": len(firsts),  # of those analysed
        "final_verdicts": dict(sorted(Counter(str(r.verdict) for r in results).items())),
        "records_written": sum(1 for r in results if r.record),
        "webhooks_delivered": delivered,
        "naive_cpu_ms_per_stream_s": _round(naive_cpu),
        "ratio_vs_naive": _round(naive_cpu / hadir_cpu if naive_cpu and hadir_cpu else None),
        "errors": errors,
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
