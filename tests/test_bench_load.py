"""``hadir bench load`` end to end at a tiny scale (real server process, real aiortc
clients, the naive pipeline beside them, real records and webhooks), and the pure parts
that turn a run into figures: the plan of joins and windows, a window's judgement, the
sample rate."""

from __future__ import annotations

import argparse
import json
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
)
from bench.loadgen.clients import StreamResult
from bench.loadgen.readings import Reading, percentile, sample_rate, span
from service import cli
from service.errors import UsageError
from tests.cli_helpers import hadir, hadir_env

STEP_FIELDS = (
    "server_cpu_ms_per_stream_s",
    "server_cpu_ms_per_sample",
    "server_rss_mb",
    "sample_rate_min_hz",
    "sample_lag_p95_s",
)


@pytest.mark.timeout(240)
def test_a_capacity_ramp_of_two_streams_beside_the_naive_pipeline(tmp_path: Path) -> None:
    result = hadir(
        "bench",
        "load",
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
    assert figures["naive_frames_analysed_per_stream_s"] > 0
    assert (
        figures["naive_frames_analysed_per_stream_s"]
        <= figures["naive_frames_received_per_stream_s"]
        <= 16
    )
    if figures["capacity_streams"]:
        assert figures["ratio_vs_naive"] > 1  # 15 fps decoded and analysed costs more


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
