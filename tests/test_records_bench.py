"""``hadir bench store``'s concurrent figure: callers that complete checks together
share transactions, and every one of their records is written and delivered."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import hadir, hadir_env


def test_bench_store_groups_concurrent_callers(tmp_path: Path) -> None:
    result = hadir(
        "bench", "store", "--json", "--records", "40", "--callers", "8", env=hadir_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["records_concurrent"] == 40 and figures["concurrent_callers"] == 8
    assert figures["records_concurrent_per_s"] > 0
    # 8 callers, 5 records each: grouped, far fewer transactions than records.
    assert figures["concurrent_transactions"] <= 40 // 2


def test_bench_store_refuses_no_callers(tmp_path: Path) -> None:
    result = hadir("bench", "store", "--callers", "0", env=hadir_env(tmp_path))
    assert result.returncode != 0 and "--callers must be at least 1" in result.stderr


def test_bench_reads_times_reviews_beside_readers_without_errors(tmp_path: Path) -> None:
    result = hadir(
        "bench",
        "reads",
        "--json",
        "--readers",
        "3",
        "--seconds",
        "1",
        "--records",
        "30",
        env=hadir_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["reviews"] > 0 and figures["reads"] > 0
    assert figures["review_errors"] == figures["read_errors"] == 0
    assert figures["review_p99_ms"] >= figures["review_p50_ms"] > 0
