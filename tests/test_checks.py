"""Scheduled checks in Asia/Jakarta: working days, holidays, collective leave, overrides,
idempotent generation on several workers, spot-check offsets, and the missed sweep."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.calendar import Override
from service.checks import JoinLinks, generate_checks, sweep
from service.links import check_token
from service.org import import_roster, save_policy
from service.overrides import set_override
from service.policy import Policy
from service.records import verify_chain
from service.scheduling import Schedule, offset_bounds, offset_key, slots_for
from service.schema import calls, checks, outbox, records, schedules
from tests.call_helpers import ROSTER

SECRET = secrets.token_bytes(32)
KEY = Ed25519PrivateKey.generate()
LINKS = JoinLinks(SECRET, "https://hadir.example.go.id")
TUESDAY = date(2026, 11, 24)
EARLY = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # Tue 00:00 WIB: every slot ahead


async def _org(engine: AsyncEngine, tmp_path: Path) -> None:
    roster = copy.deepcopy(ROSTER)
    roster["staff"][0]["wfh_days"] = ["mon", "tue", "wed", "thu", "fri"]  # staff1
    roster["staff"][1]["wfh_days"] = ["mon"]  # staff2 works at the office on Tuesdays
    path = tmp_path / "roster.json"
    path.write_text(json.dumps(roster))
    await import_roster(engine, path, actor="test")


async def _rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(checks).order_by(checks.c.due_at))
        return [dict(r._mapping) for r in result]


async def _call_on(conn: AsyncConnection, check_id: str, started_at: datetime, **row: Any) -> None:
    """The row of a call by sup1 to staff1 for ``check_id``; ``row`` has what the test
    is about (status, answered_at, heartbeat_at, ...)."""
    await conn.execute(
        calls.insert().values(
            id="call_1",
            check_id=check_id,
            staff_id="staff1",
            supervisor_id="sup1",
            started_at=started_at,
            **row,
        )
    )


async def test_a_working_day_gets_three_checks_in_wib_for_wfh_staff_only(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    summary = await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    assert summary.day.working and (summary.created, summary.existing, summary.past) == (3, 0, 0)
    rows = await _rows(store)
    assert {r["staff_id"] for r in rows} == {"staff1"}
    # 10:00, 14:00 and 16:00 WIB are 03:00, 07:00 and 09:00 UTC, each with a ±15 min window.
    due = [r["due_at"] for r in rows]
    assert due == [datetime(2026, 11, 24, h, tzinfo=UTC) for h in (3, 7, 9)]
    assert all(r["window_end"] - r["window_start"] == timedelta(minutes=30) for r in rows)
    assert {r["uniform_policy"] for r in rows} == {"solid:khaki"}  # Tuesday: PDH khaki
    async with store.connect() as conn:
        events = [json.loads(p) for p in (await conn.execute(select(outbox.c.payload))).scalars()]
        assert len(events) == 3
        # check.scheduled carries a join link that opens the staff member's page.
        token = events[0]["data"]["join_url"].rsplit("/", 1)[1]
        claims = await check_token(conn, SECRET, token)
    assert claims.role == "staff" and claims.subject == "staff1"
    assert events[0]["data"]["uniform"] == {"policy": "solid:khaki", "label": "PDH khaki"}


async def test_weekend_public_holiday_and_collective_leave_have_no_checks(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    days = {
        date(2026, 11, 28): "not a work day (sat)",
        date(2026, 11, 29): "not a work day (sun)",
        date(2026, 8, 17): "holiday: Independence Day",
        date(2026, 12, 24): "holiday: Christmas Joint Holiday",  # cuti bersama (GOVERNMENT)
    }
    for day, reason in days.items():
        summary = await generate_checks(store, day, links=LINKS, now=EARLY - timedelta(days=200))
        assert not summary.day.working and summary.day.reason == reason
    assert await _rows(store) == []


async def test_the_lebaran_fortnight_has_checks_on_its_five_working_days_only(
    store: AsyncEngine, tmp_path: Path
) -> None:
    """16-29 March 2026: Nyepi (public) and Idul Fitri with its cuti bersama (government)
    either side of a weekend leave five working days."""
    await _org(store, tmp_path)
    reasons = {}
    for n in range(14):
        day = date(2026, 3, 16) + timedelta(days=n)
        summary = await generate_checks(store, day, links=LINKS, now=EARLY - timedelta(days=300))
        reasons[day.day] = summary.day.reason
    assert [d for d, reason in reasons.items() if reason == "working day"] == [16, 17, 25, 26, 27]
    assert reasons[18] == "holiday: Day of Silence Joint Holiday"
    assert reasons[19] == "holiday: Day of Silence"
    assert reasons[20] == "holiday: Eid al-Fitr Joint Holiday"
    assert reasons[21] == "not a work day (sat)"  # also Idul Fitri: the weekday rule comes first
    assert reasons[23] == reasons[24] == "holiday: Eid al-Fitr Joint Holiday"
    rows = await _rows(store)
    # staff1 on five days, staff2 only on Monday the 16th (the 23rd is cuti bersama).
    assert len(rows) == 5 * 3 + 3
    assert {r["due_at"].date().day for r in rows if r["staff_id"] == "staff2"} == {16}


async def test_admin_overrides_beat_the_calendar_both_ways(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    long_ago = EARLY - timedelta(days=200)
    async with store.begin() as conn:
        await set_override(conn, Override(date(2026, 8, 17), True, "lembur"), actor="test")
        await set_override(conn, Override(TUESDAY, False, "Pilkada"), actor="test")
    made = await generate_checks(store, date(2026, 8, 17), links=LINKS, now=long_ago)
    assert made.day.working and made.created == 6  # a Monday: staff2 works from home too
    off = await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    assert not off.day.working and off.day.reason == "override, day off: Pilkada"


async def test_generation_is_idempotent_even_on_concurrent_workers(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    results = await asyncio.gather(
        *(generate_checks(store, TUESDAY, links=LINKS, now=EARLY) for _ in range(3))
    )
    assert sum(r.created for r in results) == 3
    again = await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    assert (again.created, again.existing) == (0, 3)
    async with store.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(checks))).scalar() == 3
        # Only the inserting worker announced a check: one event each.
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar() == 3


async def test_a_slot_whose_window_is_over_is_never_made(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    after_two = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)  # 14:30 WIB
    summary = await generate_checks(store, TUESDAY, links=LINKS, now=after_two)
    assert (summary.created, summary.past) == (1, 2)
    assert [r["due_at"] for r in await _rows(store)] == [datetime(2026, 11, 24, 9, tzinfo=UTC)]


async def test_spot_check_offsets_stay_in_bounds_and_are_stable(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    async with store.begin() as conn:
        await save_policy(conn, Policy(random_offset_minutes=45), actor="test")
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    first = {r["id"]: r["due_at"] for r in await _rows(store)}
    nominal = [datetime.combine(TUESDAY, time(h), UTC) - timedelta(hours=7) for h in (10, 14, 16)]
    for due, planned in zip(sorted(first.values()), nominal, strict=True):
        assert abs(due - planned) <= timedelta(minutes=45)
        # never after the end of the working day (16:00 WIB)
        assert due <= datetime(2026, 11, 24, 9, tzinfo=UTC)
    # Another node (same secret) computes the very same instants: nothing new is made.
    again = await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    assert again.created == 0 and {r["id"]: r["due_at"] for r in await _rows(store)} == first


def test_offsets_keep_every_window_inside_its_half_of_the_day() -> None:
    policy = Policy(random_offset_minutes=120)
    schedule = Schedule.from_policy(policy)
    # 10:00 may go back to 08:00 but forward only to 11:44, so its window closes before
    # the 12:00 midpoint, where 14:00's may open; 16:00 stays inside the working day.
    bounds = [offset_bounds(schedule, policy, i) for i in range(3)]
    assert bounds == [(-120, 104), (-105, 44), (-45, 0)]
    key = offset_key(SECRET)
    seen: set[int] = set()
    for n in range(200):
        slots = slots_for(TUESDAY + timedelta(days=n), f"staff{n}", schedule, policy, key)
        for (lo, hi), slot in zip(bounds, slots, strict=True):
            assert lo <= slot.offset_minutes <= hi
        assert all(a.window_end < b.window_start for a, b in pairwise(slots))
        seen.add(slots[1].offset_minutes)
    # Spread over the range, not a handful of values: 200 uniform draws over its 150
    # minutes give 110 distinct ones on average (sd 4, the key is new each run), so
    # 100 failed now and then; a handful would be far under 60 (13 sd from the mean).
    assert len(seen) > 60


async def test_a_units_own_schedule_replaces_the_policys(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    async with store.begin() as conn:
        await conn.execute(
            schedules.insert().values(
                unit_id="u1",
                check_times=["09:00"],
                window_minutes=20,
                random_offset_minutes=0,
                updated_at=EARLY,
            )
        )
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    [row] = await _rows(store)
    assert row["due_at"] == datetime(2026, 11, 24, 2, tzinfo=UTC)  # 09:00 WIB
    assert row["window_end"] - row["window_start"] == timedelta(minutes=40)


async def test_the_sweep_records_ended_checks_as_missed_once(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    at = datetime(2026, 11, 24, 7, 20, tzinfo=UTC)  # 14:20 WIB: 10:00 and 14:00 are over
    closed = await asyncio.gather(*(sweep(store, at, key=KEY) for _ in range(3)))
    assert sum(closed) == 2
    assert [r["status"] for r in await _rows(store)] == ["missed", "missed", "scheduled"]
    async with store.connect() as conn:
        types = list((await conn.execute(select(outbox.c.event_type))).scalars())
    assert types.count("check.missed") == 2
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == 2
    assert await sweep(store, at, key=KEY) == 0


async def test_the_sweep_leaves_open_windows_and_live_calls_alone(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    ten = datetime(2026, 11, 24, 3, tzinfo=UTC)  # 10:00 WIB, window 09:45-10:15
    assert await sweep(store, ten + timedelta(minutes=10), key=KEY) == 0
    first = (await _rows(store))[0]["id"]
    beat = ten + timedelta(minutes=24, seconds=50)
    async with store.begin() as conn:
        await _call_on(
            conn, first, ten + timedelta(minutes=12), status="ringing", heartbeat_at=beat
        )
    # The call runs past the window's end with its heartbeat renewed: not missed.
    assert await sweep(store, ten + timedelta(minutes=25), key=KEY) == 0
    assert (await _rows(store))[0]["status"] == "scheduled"
    # Its heartbeat stopped (its node died while it rang): closed, never as missed.
    assert await sweep(store, ten + timedelta(minutes=26), key=KEY) == 1
    assert [r["status"] for r in await _rows(store)] == ["completed", "scheduled", "scheduled"]
    async with store.connect() as conn:
        row = (await conn.execute(select(calls))).one()
        types = list((await conn.execute(select(outbox.c.event_type))).scalars())
    assert (row.status, row.ended_at) == ("interrupted", beat)
    assert "check.missed" not in types and types.count("check.completed") == 1


async def test_a_check_whose_call_was_answered_is_never_missed(
    store: AsyncEngine, tmp_path: Path
) -> None:
    """An answered call that left no record (its write failed, or it was cut short
    before its first heartbeat) makes the check INCONCLUSIVE 'interrupted', not MISSED."""
    await _org(store, tmp_path)
    await generate_checks(store, TUESDAY, links=LINKS, now=EARLY)
    ten = datetime(2026, 11, 24, 3, tzinfo=UTC)  # 10:00 WIB, window 09:45-10:15
    first = (await _rows(store))[0]["id"]
    async with store.begin() as conn:
        await _call_on(
            conn,
            first,
            ten,
            answered_at=ten + timedelta(seconds=20),
            ended_at=ten + timedelta(minutes=1),
            status="hangup",
        )
    assert await sweep(store, ten + timedelta(minutes=16), key=KEY) == 1
    async with store.connect() as conn:
        (body,) = [json.loads(b) for b in (await conn.execute(select(records.c.body))).scalars()]
    assert (body["status"], body["reasons"][0]) == ("inconclusive", "interrupted")
    assert (body["call"]["id"], body["call"]["end"]) == ("call_1", None)  # not known
    assert body["call"]["started_at"] == "2026-11-24T03:00:20Z"
    assert all(c["verdict"] != "fail" for c in body["criteria"].values())
