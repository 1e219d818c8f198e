"""``hadir bench load`` end to end at a tiny scale (real server process, real aiortc
clients, the naive pipeline beside them, real records and webhooks; and two workers on
PostgreSQL and Redis), and the pure parts that turn a run into figures: the plan of
joins and windows, a window's judgement, the sample rate, the CPU of a process tree,
the side-by-side table."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load import (
    CAPACITY_HZ,
    RATE_AFTER_S,
    Window,
    _figures,
    _judge,
    _plan,
    register_bench,
    side_by_side,
)
from bench.loadgen.clients import StreamResult
from bench.loadgen.readings import Reading, Watch, descendants, percentile, sample_rate, span
from service import cli
from service.errors import UsageError
from tests.cli_helpers import free_port, hadir, hadir_env
from tests.conftest import StoreTarget
from tests.scaleout_helpers import REDIS_URL

STEP_FIELDS = (
    "server_cpu_ms_per_stream_s",
    "server_cpu_ms_per_sample",
    "server_rss_mb",
    "sample_rate_min_hz",
    "sample_lag_p95_s",
)


@pytest.mark.timeout(240)
def test_a_capacity_ramp_of_two_streams_beside_the_naive_pipeline(tmp_path: Path) -> None:
    """The server pinned to the first CPU (one analysis thread), the generator and the
    naive pipeline to the others, as the per-core capacity is measured."""
    cpus = sorted(os.sched_getaffinity(0))
    pinned = ["--server-cpus", str(cpus[0])] if len(cpus) > 1 else []
    result = hadir(
        "bench",
        "load",
        *pinned,
        "--capacity",
        "--streams",
        "2",
        "--step",
        "1",
        "--step-seconds",
        "12",
        "--json",
        env=hadir_env(tmp_path / "unused"),
        timeout=200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert figures["server_cpus"] == ([cpus[0]] if pinned else None)
    steps = figures["steps"]
    assert [s["streams"] for s in steps] == [1, 2]
    assert all(s[name] is not None for s in steps for name in STEP_FIELDS), steps
    # The capacity is the steps held before the first that is not.
    held = next((i for i, s in enumerate(steps) if not s["held"]), len(steps))
    assert figures["capacity_streams"] == (steps[held - 1]["streams"] if held else 0)
    assert figures["streams_admitted"] == 2 and figures["streams_refused"] == 0
    assert figures["records_written"] == figures["webhooks_delivered"] == 2
    assert figures["errors"] == {} and figures["server_exit_code"] is None
    # The fixture is a compliant staff member at home: every call passes.
    assert figures["final_verdicts"] == {"pass": 2}
    # The naive pipeline ran in the same run and says what it really analysed.
    assert figures["naive_error"] is None
    analysed = figures["naive_frames_analysed_per_stream_s"]
    received = figures["naive_frames_received_per_stream_s"]
    # A frame received just before the window's first reading may be analysed inside
    # it: the counts may differ by a frame or so per stream over the ~10 s window.
    assert 0 < analysed <= received + 0.25 and received <= 16
    if figures["capacity_streams"]:
        assert figures["ratio_vs_naive"] > 1  # 15 fps decoded and analysed costs more


@pytest.mark.timeout(150)
@pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_and_redis(tmp_path: Path, store_target: StoreTarget) -> None:
    result = hadir(
        "bench",
        "load",
        "--streams",
        "2",
        "--seconds",
        "10",
        "--naive-streams",
        "0",
        "--workers",
        "2",
        "--database-url",
        store_target.url,
        "--redis-url",
        REDIS_URL,
        "--json",
        env=hadir_env(tmp_path / "unused"),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert figures["workers"] == 2 and figures["database"] == "postgresql"
    # The parent and both workers were read (and the parent's helper process).
    by_process = figures["server_cpu_pct_by_process"]
    assert len(by_process) >= 3 and sum(by_process) > 0
    assert figures["server_cpu_ms_per_stream_s"] > 0 and figures["server_cpu_cores"] > 0
    assert figures["streams_admitted"] == 2 and figures["streams_refused"] == 0
    assert figures["final_verdicts"] == {"pass": 2} and figures["errors"] == {}
    assert figures["records_written"] == figures["webhooks_delivered"] == 2
    assert figures["sample_lag_p95_s"] is not None and figures["first_verdict_p95_s"] is not None
    # Read from /metrics, summed over the workers: the calls' messages crossed Redis,
    # and the stills relayed are some of those sent (as the kernel placed the sockets).
    assert figures["bus_messages"]["deliver"] > 0
    assert 0 <= figures["stills_relayed"] <= figures["stills_sent"]
    assert figures["server_samples"] >= sum(1 for _ in range(2))  # each call analysed

    # Emptied for the next run: no table is left.
    async def tables() -> list[str]:
        from sqlalchemy import inspect

        engine = store_target.engine()
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        await engine.dispose()
        return list(names)

    assert asyncio.run(tables()) == []


def _two_workers(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """A short two-worker run with ``extra`` options: refused before it starts."""
    argv = ("--streams", "2", "--seconds", "10", "--workers", "2", *extra)
    return hadir("bench", "load", *argv, env=hadir_env(tmp_path))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "--workers 2 needs --database-url (an empty PostgreSQL database) and --redis-url"),
        (
            (
                "--database-url",
                "postgresql+asyncpg://postgres@127.0.0.1:1/none",
                "--redis-url",
                "redis://127.0.0.1:6379/0",
            ),
            "--database-url: cannot reach postgresql+asyncpg://postgres@127.0.0.1:1/none",
        ),
    ],
)
def test_workers_without_what_they_share_is_one_clear_line(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    result = _two_workers(tmp_path, *extra)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


@pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
def test_an_unreachable_redis_is_one_clear_line(tmp_path: Path, store_target: StoreTarget) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = _two_workers(tmp_path, "--database-url", store_target.url, "--redis-url", dead)
    assert result.returncode == 2 and f"--redis-url: cannot reach {dead}" in result.stderr


def test_the_worker_counts_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    runs = [
        {
            "workers": 1,
            "server_cpu_ms_per_stream_s": 21.5,
            "final_verdicts": {"pass": 4},
            "steps": [{"streams": 2}],
        },
        {
            "workers": 2,
            "server_cpu_ms_per_stream_s": 24.25,
            "final_verdicts": {"pass": 3, "None": 1},
            "steps": [{"streams": 2}],
        },
    ]
    side_by_side(runs, False, "4 streams, 30 s")
    rows = {
        line.split()[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()[1:]
    }
    assert rows["workers"].split() == ["1", "2"]
    assert rows["server_cpu_ms_per_stream_s"].split() == ["21.50", "24.25"]
    assert "pass 3, None 1" in rows["final_verdicts"] and "steps" not in rows
    side_by_side(runs, True, "4 streams, 30 s")
    printed = json.loads(capsys.readouterr().out)
    assert printed["compare_workers"] == [1, 2] and printed["runs"] == runs


CHILD = """
import time
print("burning", flush=True)
t = time.process_time()
while time.process_time() - t < 1.0:
    pass
"""
PARENT = f"""
import subprocess, sys, time
subprocess.run([sys.executable, "-c", {CHILD!r}])
print("gone", flush=True)
time.sleep(30)
"""


async def test_a_process_tree_is_watched_whole_and_a_gone_child_keeps_its_cpu() -> None:
    # A parent whose child burns a second of CPU and exits (reaped), as a worker could.
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    try:
        assert await asyncio.wait_for(parent.stdout.readline(), 20) == b"burning\n"
        assert len(descendants(parent.pid)) == 2 and parent.pid in descendants(parent.pid)
        watch = Watch(parent.pid, tree=True)
        assert await asyncio.wait_for(parent.stdout.readline(), 20) == b"gone\n"
        await asyncio.sleep(1.5)  # a reading after the child is gone
        await watch.stop()
        readings = watch.readings
        assert descendants(parent.pid) == [parent.pid]
        # Read apart while it ran; gone, its second of CPU is counted in its parent's.
        assert any(len(r.cpu_by_pid) == 2 for r in readings)
        assert list(readings[-1].cpu_by_pid) == [parent.pid] and readings[-1].cpu_s >= 1.0
        assert all(b.cpu_s >= a.cpu_s for a, b in zip(readings, readings[1:], strict=False))
        assert readings[0].rss_mb > 0
    finally:
        parent.kill()
        await parent.wait()


def test_bench_without_the_bench_package_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A production install does not carry ``bench``: an import of it fails.
    monkeypatch.setitem(sys.modules, "bench", None)
    assert cli.main(["bench", "load", "--streams", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "benchmarks are not installed" in err


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()

    register_bench(parser.add_subparsers(dest="benchmark"))
    return parser.parse_args(["load", *argv])


def test_too_short_a_run_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = hadir("bench", "load", "--streams", "40", "--seconds", "5", env=hadir_env(tmp_path))
    assert result.returncode == 2 and "--seconds 5 is too short" in result.stderr
    every = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    result = hadir(
        "bench", "load", "--streams", "4", "--server-cpus", every, env=hadir_env(tmp_path)
    )
    assert result.returncode == 2 and "leaving at least one for the generator" in result.stderr
    with pytest.raises(UsageError, match="--step-seconds 5 is too short"):
        _plan(_args("--streams", "10", "--capacity", "--step-seconds", "5"))


def test_a_long_call_is_judged_minute_by_minute_once_every_call_is_up() -> None:
    plan = _plan(_args("--streams", "8", "--seconds", "300"))
    assert plan.starts == [i * 2 / 8 for i in range(8)]  # a ramp of streams / 4 s
    assert plan.steady.start == 2 + 3 and plan.steady.end == 300
    assert [m.name for m in plan.minutes] == [f"minute {m}" for m in range(1, 6)]
    assert plan.minutes[0].start == plan.steady.start and plan.minutes[-1].end == 300
    assert all(b.start == a.end for a, b in zip(plan.minutes, plan.minutes[1:], strict=False))
    assert _plan(_args("--streams", "8", "--seconds", "60")).minutes == []


def test_a_capacity_ramp_adds_a_step_of_streams_and_keeps_every_call_to_the_end() -> None:
    plan = _plan(_args("--streams", "12", "--capacity", "--step", "5"))
    assert [w.streams for w in plan.steps] == [5, 10, 12]
    assert [round(t) for t in plan.starts[::5]] == [0, 20, 40]
    # Each step's window opens once its streams have joined and taken their first samples.
    assert all(
        w.start >= i * 20 + 2 + 3 and w.end == (i + 1) * 20 for i, w in enumerate(plan.steps)
    )
    assert all(
        start + seconds == plan.length == 60
        for start, seconds in zip(plan.starts, plan.seconds, strict=True)
    )


def _stream(rate_hz: float, lag_s: float, started: float = 0.0, seconds: int = 40) -> StreamResult:
    r = StreamResult("chk", admitted=True, started=started, verdict="pass", record="rec")
    r.statuses = [(started + t, lag_s, int(t * rate_hz)) for t in range(0, seconds)]
    return r


def test_a_window_holds_only_if_every_stream_is_sampled_often_and_on_time() -> None:

    readings = [Reading(float(t), cpu_s=0.02 * t, rss_mb=400.0 + t) for t in range(0, 41)]
    w = Window("two", RATE_AFTER_S + 1, 30.0, 2)
    held = _judge([_stream(1.0, 0.3), _stream(1.0, 0.5)], readings, 0.0, w)
    assert held["held"] and held["sample_rate_min_hz"] == pytest.approx(1.0, abs=0.05)
    # 20 ms of CPU a second for two streams over the window: 10 ms per stream-second.
    assert held["server_cpu_ms_per_stream_s"] == pytest.approx(10.0)
    assert held["server_rss_mb"] == 430.0
    slow = _judge([_stream(1.0, 0.3), _stream(CAPACITY_HZ - 0.1, 0.3)], readings, 0.0, w)
    late = _judge([_stream(1.0, 0.3), _stream(1.0, 1.5)], readings, 0.0, w)
    missing = _judge([_stream(1.0, 0.3), StreamResult("refused", refused=True)], readings, 0.0, w)
    assert not slow["held"] and not late["held"] and not missing["held"]
    assert missing["streams_up"] == 1


def test_a_long_calls_figures_show_each_minute_and_the_growth() -> None:
    args = _args("--streams", "2", "--seconds", "130", "--naive-streams", "0")
    plan = _plan(args)
    results = [_stream(1.0, 0.2, seconds=135), _stream(1.0, 0.4, seconds=135)]
    # CPU 40 ms a second for two streams (20 ms per stream-second), memory up 1 MB a minute.
    readings = [Reading(float(t), cpu_s=0.04 * t, rss_mb=400.0 + t / 60) for t in range(140)]
    figures = _figures(args, plan, 0.0, results, readings, 390.0, 135.0, 2, {}, None)
    assert [m["window"] for m in figures["minutes"]] == ["minute 1", "minute 2"]
    assert figures["server_cpu_ms_per_stream_s"] == pytest.approx(20.0)
    assert figures["server_cpu_ms_per_sample"] == pytest.approx(20.0, rel=0.05)  # 2 a second
    assert figures["cpu_per_sample_growth_pct"] == pytest.approx(0.0, abs=2)
    assert 0 < figures["rss_growth_pct"] < 0.5
    assert figures["final_verdicts"] == {"pass": 2} and figures["records_written"] == 2
    assert figures["ratio_vs_naive"] is None and figures["errors"] == {}


def test_a_streams_sample_rate_is_the_slope_of_its_reports_in_the_window() -> None:
    points = [(float(t), t // 2) for t in range(20)]  # one sample every 2 s, reported each 1 s
    assert sample_rate(points, 0, 19) == pytest.approx(0.5, abs=0.02)
    assert sample_rate(points, 5, 5.5) is None  # one report is not a rate
    assert sample_rate([], 0, 10) is None


def test_a_span_is_the_difference_between_the_readings_inside_the_window() -> None:
    readings = [
        Reading(float(t), cpu_s=t / 10, rss_mb=100.0 + t, frames=(15 * t, 14 * t))
        for t in range(10)
    ]
    got = span(readings, 2.5, 7.5)
    assert got is not None
    assert (got.seconds, got.rss_mb, got.received, got.analysed) == (4.0, 107.0, 60, 56)
    assert got.cpu_s == pytest.approx(0.4)
    assert span(readings, 2.5, 3.5) is None


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
