"""``hadir checks`` and ``hadir calendar`` as an admin runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.call_helpers import ROSTER
from tests.cli_helpers import hadir, hadir_env
from tests.conftest import StoreTarget


@pytest.fixture
def env(store_target: StoreTarget, tmp_path: Path) -> dict[str, str]:
    env = hadir_env(tmp_path / "data", store_target.url)
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps(ROSTER))
    assert hadir("roster", "import", str(roster), env=env).returncode == 0
    return env


def test_generate_a_day_then_sweep_it(env: dict[str, str]) -> None:
    made = hadir("checks", "generate", "--date", "2099-01-05", env=env)  # a Monday, ahead
    assert made.returncode == 0, made.stderr
    assert (
        made.stdout.strip()
        == "2099-01-05: 6 check(s) made, 0 already there, 0 skipped (window already over)"
    )
    again = hadir("checks", "generate", "--date", "2099-01-05", env=env)
    assert "0 check(s) made, 6 already there" in again.stdout
    swept = hadir("checks", "sweep", "--at", "2026-01-01T00:00:00+07:00", env=env)
    assert swept.returncode == 0 and swept.stdout.startswith("0 check(s) closed")


def test_bad_dates_and_instants_are_refused_clearly(env: dict[str, str]) -> None:
    bad = hadir("checks", "generate", "--date", "2026-02-30", env=env)
    assert bad.returncode == 2 and "not a date (YYYY-MM-DD): '2026-02-30'" in bad.stderr
    naive = hadir("checks", "sweep", "--at", "2026-11-24T16:30:00", env=env)
    assert naive.returncode == 2 and "has no UTC offset" in naive.stderr
    future = hadir("checks", "sweep", "--at", "2999-01-01T00:00:00Z", env=env)
    assert future.returncode == 2 and "in the future" in future.stderr


def test_calendar_overrides_decide_whether_a_day_has_checks(env: dict[str, str]) -> None:
    holiday = hadir("calendar", "show", "2026-12-24", env=env)
    assert holiday.stdout.strip() == "2026-12-24: no checks (holiday: Christmas Joint Holiday)"
    add = hadir("calendar", "add", "2026-12-24", "--workday", "--note", "piket", env=env)
    assert add.returncode == 0
    assert (
        "checks (override, working day: piket)"
        in hadir("calendar", "show", "2026-12-24", env=env).stdout
    )
    hadir("calendar", "add", "2026-11-25", "--off", "--note", "Pilkada", env=env)
    listed = hadir("calendar", "list", "--year", "2026", env=env).stdout.splitlines()
    assert listed == ["2026-11-25  day off  Pilkada", "2026-12-24  working day  piket"]
    made = hadir("checks", "generate", "--date", "2026-11-25", env=env)
    assert made.stdout.strip() == "2026-11-25: no checks (override, day off: Pilkada)"
    assert hadir("calendar", "remove", "2026-11-25", env=env).returncode == 0
    assert hadir("calendar", "remove", "2026-11-25", env=env).returncode == 1
