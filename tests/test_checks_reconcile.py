"""Checks follow the calendar, the policy and the roster: a check whose reason to exist
goes away is cancelled (never missed) with a ``check.cancelled`` event, and one that
comes back is scheduled again; the sweep never records MISSED on a day its staff member
does not work from home."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.calendar import DayStatus, Override
from service.check_plan import (
    DAY_OFF,
    NOT_ON_ROSTER,
    NOT_WORKING_FROM_HOME,
    SCHEDULE_CHANGED,
    Rostered,
    absence,
    check_id_for,
    plan_day,
)
from service.checks import JoinLinks, generate_checks, reconcile_checks, sweep
from service.org import import_roster, save_policy
from service.overrides import remove_override, set_override
from service.policy import MAX_RANDOM_OFFSET, Policy
from service.scheduling import Schedule
from service.schema import checks, outbox
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.call_helpers import ROSTER, add_check
from tests.conftest import StoreTarget
from tests.test_checks import EARLY, KEY, LINKS, TUESDAY, _call_on, _org, _rows

AFTER = datetime(2026, 11, 24, 10, tzinfo=UTC)  # Tue 17:00 WIB: every window is over


async def _events(engine: AsyncEngine, kind: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        payloads = (
            await conn.execute(
                select(outbox.c.payload).where(outbox.c.event_type == kind).order_by(outbox.c.id)
            )
        ).scalars()
        return [json.loads(p)["data"] for p in payloads]


def _statuses(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {f"{r['due_at']:%H:%M}": str(r["status"]) for r in rows}


async def _roster(engine: AsyncEngine, tmp_path: Path, **staff1: Any) -> None:
    roster = copy.deepcopy(ROSTER)
    roster["staff"][0].update({"wfh_days": ["mon", "tue", "wed", "thu", "fri"], **staff1})
    roster["staff"][1]["wfh_days"] = ["mon"]
    path = tmp_path / "roster2.json"
    path.write_text(json.dumps(roster))
    await import_roster(engine, path, actor="test")


def test_the_plan_says_why_a_person_has_no_checks() -> None:
    working = DayStatus(TUESDAY, True, "working day")
    home = Rostered("a", "u1", "sup1", frozenset({2}))
    assert absence(working, home) is None
    assert absence(DayStatus(TUESDAY, False, "holiday"), home) == DAY_OFF
    assert absence(working, replace(home, wfh_days=frozenset({1}))) == NOT_WORKING_FROM_HOME
    assert absence(working, replace(home, active=False)) == NOT_ON_ROSTER
    assert absence(working, None) == NOT_ON_ROSTER
    policy = Policy()
    people = [home, Rostered("b", "u1", "sup1", frozenset({1}))]
    plan = plan_day(working, policy, people, {None: Schedule.from_policy(policy)}, b"k", EARLY)
    assert [c.person.id for c in plan.checks] == ["a"] * 3
    kept = plan.checks[0]
    assert plan.cancel_reason(kept.id, "a", kept.slot.due_at) is None
    assert plan.cancel_reason("chk_x", "b", kept.slot.due_at) == NOT_WORKING_FROM_HOME
    # A check another schedule made (09:00, moved by up to the largest offset) goes...
    for moved in (-MAX_RANDOM_OFFSET, 0, MAX_RANDOM_OFFSET):
        old = check_id_for("a", TUESDAY, time(9))
        due = datetime(2026, 11, 24, 2, tzinfo=UTC) + timedelta(minutes=moved)
        assert plan.cancel_reason(old, "a", due) == SCHEDULE_CHANGED, moved
    # ...but a check no plan made (a demo's spot check) answers to the calendar only.
    assert plan.cancel_reason("chk_demo_1", "a", kept.slot.due_at) is None
    off = replace(plan, status=DayStatus(TUESDAY, False, "holiday"))
    assert off.cancel_reason("chk_demo_1", "a", kept.slot.due_at) == DAY_OFF
    # Time passed in: at 14:20 WIB only the 16:00 check may still be made.
    later = replace(plan, now=datetime(2026, 11, 24, 7, 20, tzinfo=UTC))
    assert [f"{c.slot.nominal:%H:%M}" for c in later.open] == ["16:00"]


async def test_a_day_made_a_day_off_cancels_its_checks_and_back(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    async with store.begin() as conn:
        await set_override(conn, Override(TUESDAY, False, "cuti"), actor="test")
    (summary,) = await reconcile_checks(store, links=LINKS, day=TUESDAY, now=EARLY)
    assert summary.cancelled == 3 and not summary.day.working
    assert set(_statuses(await _rows(store)).values()) == {"cancelled"}
    cancelled = await _events(store, "check.cancelled")
    assert [e["reason"] for e in cancelled] == [DAY_OFF] * 3
    assert {e["staff_id"] for e in cancelled} == {"staff1"}
    assert await sweep(store, AFTER, key=KEY) == 0  # cancelled: never missed
    # Reconciling again changes nothing and announces nothing twice.
    (again,) = await reconcile_checks(store, links=LINKS, day=TUESDAY, now=EARLY)
    assert again.cancelled == 0 and len(await _events(store, "check.cancelled")) == 3
    async with store.begin() as conn:
        assert await remove_override(conn, TUESDAY, actor="test")
    (back,) = await reconcile_checks(store, links=LINKS, day=TUESDAY, now=EARLY)
    assert back.created == 3
    assert set(_statuses(await _rows(store)).values()) == {"scheduled"}
    assert len(await _events(store, "check.scheduled")) == 6  # each with a fresh join link
    assert await sweep(store, AFTER, key=KEY) == 3


async def test_new_check_times_replace_the_old_checks_and_back(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    new = replace(Policy(), check_times=(time(10), time(15)))
    async with store.begin() as conn:
        await save_policy(conn, new, actor="test")
    (summary,) = await reconcile_checks(store, links=LINKS, now=EARLY)
    assert (summary.cancelled, summary.created) == (2, 1)
    rows = await _rows(store)
    assert _statuses(rows) == {
        "03:00": "scheduled",  # 10:00 WIB kept
        "07:00": "cancelled",
        "08:00": "scheduled",  # 15:00 WIB made
        "09:00": "cancelled",
    }
    assert {e["reason"] for e in await _events(store, "check.cancelled")} == {SCHEDULE_CHANGED}
    assert await sweep(store, AFTER, key=KEY) == 2  # the day's two checks, not four
    async with store.begin() as conn:
        await save_policy(conn, Policy(), actor="test")
    # Later that day the old times are back: nothing is made or cancelled in the past.
    await reconcile_checks(store, links=LINKS, now=AFTER)
    assert _statuses(await _rows(store)) == {
        "03:00": "missed",
        "07:00": "cancelled",
        "08:00": "missed",
        "09:00": "cancelled",
    }


async def test_the_policy_back_before_the_day_schedules_its_checks_again(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    for policy in (replace(Policy(), check_times=(time(10),)), Policy()):
        async with store.begin() as conn:
            await save_policy(conn, policy, actor="test")
        await reconcile_checks(store, links=LINKS, now=EARLY)
    assert set(_statuses(await _rows(store)).values()) == {"scheduled"}
    assert len(await _events(store, "check.cancelled")) == 2
    assert len(await _events(store, "check.scheduled")) == 5


async def test_leaving_wfh_or_the_roster_cancels_and_coming_back_restores(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    steps: list[tuple[dict[str, Any], str, str | None]] = [
        ({"wfh_days": ["mon"]}, "cancelled", NOT_WORKING_FROM_HOME),
        ({}, "scheduled", None),
        ({"active": False}, "cancelled", NOT_ON_ROSTER),
        ({"active": True}, "scheduled", None),
    ]
    for change, status, reason in steps:
        await _roster(store, tmp_path, **change)
        await reconcile_checks(store, links=LINKS, now=EARLY)
        assert set(_statuses(await _rows(store)).values()) == {status}, change
        if reason:
            reasons = [e["reason"] for e in await _events(store, "check.cancelled")]
            assert reasons.count(reason) == 3
    assert len(await _events(store, "check.cancelled")) == 6


async def test_a_check_with_a_call_in_progress_is_never_cancelled(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    ten = datetime(2026, 11, 24, 3, tzinfo=UTC)
    first = (await _rows(store))[0]["id"]
    async with store.begin() as conn:
        # Its node renews the heartbeat: the call is live.
        await _call_on(
            conn, first, ten, status="active", heartbeat_at=ten + timedelta(minutes=4, seconds=50)
        )
        await set_override(conn, Override(TUESDAY, False), actor="test")
    await reconcile_checks(store, links=LINKS, day=TUESDAY, now=ten + timedelta(minutes=5))
    assert list(_statuses(await _rows(store)).values()) == ["scheduled", "cancelled", "cancelled"]


async def test_the_sweep_cancels_instead_of_missing_on_a_day_off(
    store: AsyncEngine, tmp_path: Path
) -> None:
    """Defence in depth: a change that was never reconciled (here, written directly)
    still cannot become a MISSED record."""
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    await _roster(store, tmp_path, wfh_days=["mon"])  # no reconciliation
    assert await sweep(store, AFTER, key=KEY) == 0
    assert set(_statuses(await _rows(store)).values()) == {"cancelled"}
    await _roster(store, tmp_path)
    await generate_checks(store, TUESDAY + timedelta(days=1), links=LINKS, now=EARLY)
    async with store.begin() as conn:
        await set_override(conn, Override(TUESDAY + timedelta(days=1), False), actor="test")
    assert await sweep(store, AFTER + timedelta(days=1), key=KEY) == 0
    reasons = [e["reason"] for e in await _events(store, "check.cancelled")]
    assert sorted(reasons) == sorted([NOT_WORKING_FROM_HOME] * 3 + [DAY_OFF] * 3)
    async with store.connect() as conn:
        statuses = set((await conn.execute(select(checks.c.status))).scalars())
    assert statuses == {"cancelled"}


async def test_a_roster_import_over_the_api_reconciles_too(
    store_target: StoreTarget, store: AsyncEngine, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    links = JoinLinks.from_config(config)
    await _org(store, tmp_path)
    # A Monday ahead (staff1 works from home on weekdays only), made a working day.
    today = datetime.now(UTC).astimezone(Policy().zone).date()
    monday = today + timedelta(days=7 - today.weekday())
    async with store.begin() as conn:
        await set_override(conn, Override(monday, True), actor="test")
    await generate_checks(store, monday, links=links)
    key = await new_key(store_target.url, "roster:write")
    roster = copy.deepcopy(ROSTER)
    roster["staff"][0]["active"] = False
    async with api_client(config) as client:
        answer = await client.post("/api/v1/roster", json=roster, headers=bearer(key))
        assert answer.status == 200, await answer.text()
    staff1 = {str(r["status"]) for r in await _rows(store) if r["staff_id"] == "staff1"}
    assert staff1 == {"cancelled"}
    assert {e["reason"] for e in await _events(store, "check.cancelled")} == {NOT_ON_ROSTER}


async def test_a_check_no_plan_made_stays_through_a_schedule_change(
    store: AsyncEngine, tmp_path: Path
) -> None:
    """A demo's spot check or a test's: reconciling generated checks leaves it alone,
    a day off still cancels it."""
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    due = datetime(2026, 11, 24, 4, tzinfo=UTC)  # 11:00 WIB
    spot = await add_check(
        store, "staff1", opens=timedelta(0), closes=timedelta(minutes=15), now=due
    )
    async with store.begin() as conn:
        await save_policy(conn, replace(Policy(), check_times=(time(10),)), actor="test")
    await reconcile_checks(store, links=LINKS, now=EARLY)
    statuses = {r["id"]: r["status"] for r in await _rows(store)}
    assert statuses[spot] == "scheduled" and list(statuses.values()).count("cancelled") == 2
    async with store.begin() as conn:
        await set_override(conn, Override(TUESDAY, False), actor="test")
    await reconcile_checks(store, links=LINKS, day=TUESDAY, now=EARLY)
    assert {r["status"] for r in await _rows(store)} == {"cancelled"}
