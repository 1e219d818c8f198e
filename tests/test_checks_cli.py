"""``hadir checks`` and ``hadir calendar`` as an admin runs them."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service.calendar import day_status
from service.checks import JoinLinks, generate_checks
from service.policy import Policy
from service.schema import checks
from service.store import migrate
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
    today = datetime.now(Policy().zone).date()
    monday = today + timedelta(days=14 - today.weekday())  # 8 to 14 days ahead
    day = monday.isoformat()
    # A holiday may fall on it: the override makes it a working day whatever the year.
    assert hadir("calendar", "add", day, "--workday", "--note", "test", env=env).returncode == 0
    made = hadir("checks", "generate", "--date", day, env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == (
        f"{day} (override, working day: test): 6 check(s) made, 0 already there, "
        "0 skipped (window already over)"
    )
    again = hadir("checks", "generate", "--date", day, env=env)
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
    far = hadir("checks", "generate", "--date", "9999-12-31", env=env)
    assert far.returncode == 2 and "more than 31 days ahead" in far.stderr


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


def test_generate_defaults_to_today_in_jakarta_and_names_the_day(env: dict[str, str]) -> None:
    # The command's today is the test's, before or after it (it may run across midnight).
    before = datetime.now(Policy().zone).date()
    made = hadir("checks", "generate", env=env)
    after = datetime.now(Policy().zone).date()
    assert made.returncode == 0, made.stderr
    [today] = [day for day in {before, after} if made.stdout.startswith(f"{day}")]
    assert day_status(today, Policy()).reason in made.stdout
    holiday = hadir("checks", "generate", "--date", "2026-08-17", env=env)
    assert holiday.stdout.strip() == "2026-08-17: no checks (holiday: Independence Day)"
    weekend = hadir("checks", "generate", "--date", "2026-11-28", env=env)
    assert weekend.stdout.strip() == "2026-11-28: no checks (not a work day (sat))"


def test_sweep_catches_up_after_downtime(env: dict[str, str], store_target: StoreTarget) -> None:
    """Checks made before the node went down are closed as MISSED by a later sweep, up
    to the instant given, and the records it writes keep the chain valid."""

    async def make_checks() -> list[str]:
        engine = store_target.engine()
        try:
            await migrate(engine)
            links = JoinLinks(secrets.token_bytes(32), "https://hadir.example.go.id")
            early = datetime(2026, 8, 9, tzinfo=UTC)
            await generate_checks(engine, date(2026, 8, 10), links=links, now=early)
            async with engine.connect() as conn:
                return list((await conn.execute(select(checks.c.status))).scalars())
        finally:
            await engine.dispose()

    assert asyncio.run(make_checks()) == ["scheduled"] * 6  # Monday: 2 staff x 3 slots
    # 14:20 WIB: the 10:00 and 14:00 windows have ended, the 16:00 one has not.
    part = hadir("checks", "sweep", "--at", "2026-08-10T14:20:00+07:00", env=env)
    assert part.returncode == 0, part.stderr
    assert part.stdout.startswith("4 check(s) closed as missed")
    rest = hadir("checks", "sweep", env=env)
    assert rest.stdout.startswith("2 check(s) closed as missed")
    assert hadir("checks", "sweep", env=env).stdout.startswith("0 check(s) closed")
    verified = hadir("records", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_calendar_refuses_a_bad_year_or_an_overlong_note(env: dict[str, str]) -> None:
    year = hadir("calendar", "list", "--year", "0", env=env)
    assert year.returncode == 2 and "not a year between 1 and 9999: 0" in year.stderr
    long = hadir("calendar", "add", "2026-11-25", "--off", "--note", "x" * 201, env=env)
    assert long.returncode == 2 and "at most 200 characters (201 given)" in long.stderr
    assert hadir("calendar", "list", env=env).stdout == ""  # nothing was stored
    widest = hadir("calendar", "add", "2026-11-25", "--off", "--note", "x" * 200, env=env)
    assert widest.returncode == 0, widest.stderr  # the column holds it, on PostgreSQL too


def test_a_day_off_cancels_the_days_checks_and_removing_it_restores_them(
    env: dict[str, str], tmp_path: Path
) -> None:
    today = datetime.now(Policy().zone).date()
    day = (today + timedelta(days=14 - today.weekday())).isoformat()  # a Monday ahead
    assert hadir("calendar", "add", day, "--workday", env=env).returncode == 0
    assert "6 check(s) made" in hadir("checks", "generate", "--date", day, env=env).stdout
    off = hadir("calendar", "add", day, "--off", env=env)
    assert (
        off.returncode == 0 and off.stdout.strip() == f"{day}: day off; checks: 6 cancelled, 0 made"
    )
    shown = hadir("calendar", "show", day, env=env).stdout
    assert "no checks" in shown
    back = hadir("calendar", "add", day, "--workday", env=env)
    assert back.stdout.strip() == f"{day}: working day; checks: 0 cancelled, 6 made"
    policy = Policy().to_dict() | {"check_times": ["10:00", "15:00"]}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    changed = hadir("policy", "set", str(path), env=env)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip().endswith("checks: 4 cancelled, 2 made")
