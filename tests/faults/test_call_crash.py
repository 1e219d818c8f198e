"""``kill -9`` (or SIGTERM) with calls live, then a restart: no answered call becomes MISSED.

A real ``hadir serve`` on each dialect, calls rung and answered over real WebSockets,
the process killed with SIGKILL (or stopped with SIGTERM) while they run. After the
restart every check whose
call was answered or cut short has exactly one record, INCONCLUSIVE ``interrupted``
with what the call had seen; a check whose window is still open can be called again;
none is MISSED and the chain verifies.
"""

from __future__ import annotations

import asyncio
import json
import signal as signals
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.links import issue_link
from service.org import import_roster
from service.schema import calls, checks, records
from tests.call_helpers import HOME, add_check, add_checks, staff_roster, working_today
from tests.cli_helpers import ServiceProcess, free_port, hadir, hadir_env, loopback_http
from tests.webhook_helpers import wait_until

ANSWERED = 19  # calls answered, then cut short by the kill (one more is called again)


async def _tokens(
    engine: AsyncEngine, secret: bytes, people: list[tuple[str, str]]
) -> dict[str, str]:
    tokens = {}
    async with engine.begin() as conn:
        for role, pid in people:
            url, _ = await issue_link(
                conn, secret, "http://test", role, pid, timedelta(hours=1), actor="test"
            )
            tokens[pid] = url.rsplit("/", 1)[1]
    return tokens


async def _recv(
    ws: aiohttp.ClientWebSocketResponse, kind: str, wait_s: float = 10
) -> dict[str, Any]:
    async with asyncio.timeout(wait_s):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data["type"] == kind:
                return data


async def _join(http: aiohttp.ClientSession, base: str, token: str) -> Any:
    ws = await http.ws_connect(f"{base}/ws")
    await ws.send_json({"type": "join", "v": 1, "token": token})
    await _recv(ws, "welcome")
    return ws


async def _ring(sup: Any, staff: Any, check: str, *, answer: bool) -> str:
    await sup.send_json({"type": "call", "check": check})
    call: str = (await _recv(staff, "ring"))["call"]
    if answer:
        await staff.send_json({"type": "accept", "call": call})
        await _recv(staff, "state")
        near = {"lat": HOME[0] + 0.0003, "lon": HOME[1], "accuracy": 10}
        await staff.send_json({"type": "location", "call": call, **near})
    return call


async def _verifications(engine: AsyncEngine, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(records.c.check_id, records.c.body).where(
                    records.c.check_id.in_(ids), records.c.kind == "verification"
                )
            )
        ).all()
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in rows:
        found[row.check_id].append(json.loads(row.body))
    return found


async def _closed(engine: AsyncEngine, ids: list[str]) -> bool:
    async with engine.connect() as conn:
        statuses = (
            await conn.execute(select(checks.c.status).where(checks.c.id.in_(ids)))
        ).scalars()
        return "scheduled" not in set(statuses)


@pytest.mark.parametrize(
    ("signal", "end"), [("SIGKILL", "server_restarted"), ("SIGTERM", "server_stopped")]
)
async def test_a_server_going_down_with_calls_live_records_no_answered_call_as_missed(
    store: AsyncEngine,
    store_target: Any,
    tmp_path: Path,
    figures: Callable[[str], None],
    signal: str,
    end: str,
) -> None:
    data = tmp_path / "data"
    secret = load_or_create_secret(data, LINK_SECRET_FILE)
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps(staff_roster(ANSWERED + 2)))
    await import_roster(store, roster, actor="test")
    await working_today(store)
    people = [("supervisor", "sup1")] + [("staff", f"s{i}") for i in range(ANSWERED + 2)]
    tokens = await _tokens(store, secret, people)
    # Windows that end soon after the restart, and one that stays open to call again.
    soon = await add_checks(
        store,
        [(f"s{i}", timedelta(minutes=-5), timedelta(seconds=40)) for i in range(ANSWERED + 1)],
        supervisor="sup1",
    )
    later = await add_check(
        store, f"s{ANSWERED + 1}", closes=timedelta(minutes=10), supervisor="sup1"
    )
    env = hadir_env(
        data,
        store_target.url,
        HADIR_CALLS_HEARTBEAT_S="0.5",
        HADIR_CALLS_LEASE_S="2",
        HADIR_CALLS_ANALYSIS_THREADS="1",
        HADIR_JOBS_SWEEP_INTERVAL_S="0.5",
        HADIR_JOBS_DAYS_AHEAD="0",
    )
    port = free_port()
    args = loopback_http(port)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()

    first = ServiceProcess(*args, env=env)
    await asyncio.to_thread(first.wait_for, "Hadir is running")
    async with aiohttp.ClientSession() as http:
        sup = await _join(http, base, tokens["sup1"])
        staff = [await _join(http, base, tokens[f"s{i}"]) for i in range(ANSWERED + 2)]
        answered = [await _ring(sup, staff[i], soon[i], answer=True) for i in range(ANSWERED)] + [
            await _ring(sup, staff[ANSWERED + 1], later, answer=True)
        ]
        await _ring(sup, staff[ANSWERED], soon[ANSWERED], answer=False)  # still ringing
        await asyncio.sleep(1.5)  # a few heartbeats: the location is in the evidence
        first.proc.send_signal(getattr(signals, signal))  # with every call live
        await asyncio.to_thread(first.proc.wait, 30)
    killed_at = time.monotonic()

    second = ServiceProcess(*args, env=env)
    try:
        await asyncio.to_thread(second.wait_for, "Hadir is running")
        async with aiohttp.ClientSession() as http:
            # The check whose window is still open is called again, and completed by it.
            sup = await _join(http, base, tokens["sup1"])
            again = await _join(http, base, tokens[f"s{ANSWERED + 1}"])
            call = await _ring(sup, again, later, answer=True)
            await sup.send_json({"type": "hangup", "call": call})
            ended = await _recv(sup, "ended")
            assert ended["record"] is not None
        await wait_until(lambda: _closed(store, soon), within=90)
        recovered_at = time.monotonic()
        # A later sweep closes nothing twice.
        await asyncio.sleep(1.5)
        code, err = await asyncio.to_thread(second.stop)
        assert code == 0, err
    finally:
        if second.proc.poll() is None:
            second.proc.kill()

    found = await _verifications(store, [*soon, later])
    assert all(len(bodies) == 1 for bodies in found.values()), found  # none closed twice
    bodies = {check: found[check][0] for check in found}
    statuses = Counter(b["status"] for b in bodies.values())
    assert statuses["missed"] == 0
    for check in soon[:ANSWERED]:
        body = bodies[check]
        assert (body["status"], body["reasons"][0]) == ("inconclusive", "interrupted")
        assert body["call"]["end"] == end and body["call"]["id"] in answered
        assert body["location"]["result"] == "inside"  # the evidence saved before the kill
    rang = bodies[soon[ANSWERED]]
    assert (rang["status"], rang["reasons"][0]) == ("inconclusive", "interrupted")
    assert bodies[later]["call"]["id"] == call  # the second call's own record
    assert bodies[later]["call"]["end"] == "hung_up_by_supervisor"
    assert bodies[later]["status"] == "inconclusive"  # no still came: no evidence either way

    async with store.connect() as conn:
        saved = (await conn.execute(select(func.max(func.length(calls.c.evidence))))).scalar()
    verify = await asyncio.to_thread(hadir, "records", "verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    figures(
        f"[{store_target.dialect}] {signal} with {ANSWERED + 2} calls live "
        f"({ANSWERED + 1} answered, 1 ringing): {len(found)} checks, "
        f"{sum(len(b) for b in found.values())} records, 0 missed, 0 duplicates, "
        f"statuses {dict(statuses)} (the check called again: {bodies[later]['status']}, "
        f"no camera in this test); checks closed {recovered_at - killed_at:.1f} s after "
        f"the signal; chain verified; evidence saved per call ≤ {saved} bytes; "
        f"{time.monotonic() - started:.0f} s in all"
    )
