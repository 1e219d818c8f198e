"""``hadir bench load`` end to end at a tiny scale: real server process, real aiortc
clients, real records and webhooks, and every figure the issue asks for."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.load import percentile, sample_rate
from service import cli
from tests.cli_helpers import hadir, hadir_env

FIELDS = (
    "streams",
    "server_cpu_ms_per_stream_s",
    "server_rss_mb_per_stream",
    "sample_lag_p50_s",
    "sample_lag_p95_s",
    "sample_lag_max_s",
    "first_verdict_p50_s",
    "first_verdict_p95_s",
    "records_written",
    "webhooks_delivered",
    "naive_cpu_ms_per_stream_s",
    "ratio_vs_naive",
)


@pytest.mark.timeout(240)
def test_two_streams_are_watched_recorded_and_compared(tmp_path: Path) -> None:
    result = hadir(
        "bench",
        "load",
        "--streams",
        "2",
        "--seconds",
        "9",
        "--naive-streams",
        "1",
        "--json",
        env=hadir_env(tmp_path / "unused"),
        timeout=200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    assert all(figures[name] is not None for name in FIELDS), figures
    assert figures["streams"] == figures["streams_admitted"] == 2
    assert figures["records_written"] == figures["webhooks_delivered"] == 2
    assert figures["streams_with_verdict"] == 2 and figures["errors"] == []
    # The fixture is a compliant staff member at home: every call passes.
    assert figures["final_verdicts"] == {"pass": 2}
    assert (
        0
        < figures["sample_lag_p50_s"]
        <= figures["sample_lag_p95_s"]
        <= figures["sample_lag_max_s"]
        < 5
    )
    # Far under capacity, every stream gets about the configured 1 sample a second.
    assert 0.7 <= figures["sample_rate_min_hz"] <= figures["sample_rate_max_hz"] <= 1.3
    assert 0 < figures["server_cpu_ms_per_stream_s"] < 1000
    assert figures["ratio_vs_naive"] > 1  # decoding 15 fps and analysing every frame costs more


def test_too_short_a_run_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = hadir("bench", "load", "--streams", "40", "--seconds", "5", env=hadir_env(tmp_path))
    assert result.returncode == 2 and "--seconds 5 is too short" in result.stderr


def test_bench_without_the_bench_package_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A production install does not carry ``bench``: an import of it fails.
    monkeypatch.setitem(sys.modules, "bench", None)
    assert cli.main(["bench", "load", "--streams", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "benchmarks are not installed" in err


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def test_a_streams_sample_rate_is_read_past_its_first_samples() -> None:
    points = [(1.0, 3), (2.0, 5), (4.0, 6), (5.0, 7), (8.0, 9)]
    assert sample_rate(points) == 0.75  # (9 - 6) samples over 8 - 4 s
    assert sample_rate(points[:3]) is None  # one report is not a rate
    assert sample_rate([]) is None
