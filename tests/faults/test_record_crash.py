"""``kill -9`` while records are written fast, then a restart: none lost, none twice.

A real ``hadir serve`` on each dialect closes a stream of checks as their windows end
(the sweep writes MISSED records, up to 100 a transaction) while a client reviews the
records as they appear, over the REST API, eight at a time, each review with its own
``Idempotency-Key``. The process is killed with SIGKILL mid-stream. After the restart
the client sends again, with the same key, every review it got no answer to, and the
sweep closes the rest. Then: every entry committed before the kill is there unchanged,
every acknowledged review exists, every review sent exists once, every check has one
verification, every entry has one outbox event, and ``hadir records verify`` passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.org import import_roster
from service.schema import checks, outbox, records
from tests.api_helpers import bearer, new_key
from tests.call_helpers import add_checks, staff_roster, working_today
from tests.cli_helpers import ServiceProcess, free_port, hadir, hadir_env, loopback_http
from tests.conftest import StoreTarget
from tests.webhook_helpers import wait_until

CHECKS = 3000  # their windows end one after another over STREAM_S
STREAM_S = 4.0
STAFF = 20
REVIEWERS = 8  # reviews in flight at once
RESENT = 5  # acknowledged reviews sent again after the restart, as if their answer was lost
WINDOW = timedelta(minutes=15)
RECORD_EVENTS = ("check.completed", "check.missed", "record.reviewed")


@dataclass
class Reviewer:
    """A client that reviews each new verification once, with a key of its own, and
    notes which reviews were answered and which were left without an answer."""

    http: aiohttp.ClientSession
    base: str
    key: str
    answered: dict[str, str] = field(default_factory=dict)  # idempotency key → review id
    unanswered: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # any answer but 201
    replayed: int = 0

    @staticmethod
    def idempotency_key(record_id: str) -> str:
        return f"review-{record_id}"

    async def review(self, record_id: str) -> None:
        key = self.idempotency_key(record_id)
        try:
            async with self.http.post(
                f"{self.base}/api/v1/records/{record_id}/review",
                json={"decision": "confirm", "reason": key},
                headers={**bearer(self.key), "Idempotency-Key": key},
            ) as response:
                body = await response.json(content_type=None)
                replayed = response.headers.get("Idempotent-Replayed") == "true"
        except (aiohttp.ClientConnectionError, TimeoutError):
            self.unanswered.add(key)  # it may or may not have been written
            return
        if response.status != 201:
            self.errors.append(f"{response.status} {body}")
            return
        self.unanswered.discard(key)
        self.replayed += replayed
        (entry,) = [e for e in body["entries"] if e["kind"] == "review"]
        self.answered[key] = entry["id"]

    async def follow(self, stop: asyncio.Event) -> None:
        """Review every verification as it appears, until ``stop``."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        workers = [asyncio.create_task(self._work(queue, stop)) for _ in range(REVIEWERS)]
        after = 0
        with contextlib.suppress(aiohttp.ClientConnectionError):
            while not stop.is_set():
                async with self.http.get(
                    f"{self.base}/api/v1/records",
                    params={"status": "missed", "limit": "500", "cursor": str(after)},
                    headers=bearer(self.key),
                ) as response:
                    page = await response.json()
                for item in page["data"]:
                    after = item["seq"]
                    if item["kind"] == "verification":
                        queue.put_nowait(item["id"])
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*workers)

    async def _work(self, queue: asyncio.Queue[str], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                record_id = await asyncio.wait_for(queue.get(), 0.1)
            except TimeoutError:
                continue
            await self.review(record_id)


async def _entries(engine: AsyncEngine) -> dict[str, Any]:
    """Every chain entry by id: (kind, check id, hash, body)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(records.c.id, records.c.kind, records.c.check_id, records.c.hash, records.c.body)
        )
        return {r.id: (r.kind, r.check_id, r.hash, json.loads(r.body)) for r in rows}


async def _record_events(engine: AsyncEngine) -> Counter[str]:
    """How many outbox events carry each entry (by its id)."""
    async with engine.connect() as conn:
        payloads = await conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type.in_(RECORD_EVENTS))
        )
        return Counter(json.loads(p)["data"]["record"]["body"]["id"] for p in payloads.scalars())


async def _all_closed(engine: AsyncEngine, ids: list[str]) -> bool:
    async with engine.connect() as conn:
        statuses = await conn.execute(select(checks.c.status).where(checks.c.id.in_(ids)))
        return "scheduled" not in set(statuses.scalars())


async def test_kill_9_while_records_are_written_loses_none_and_writes_none_twice(
    store: AsyncEngine,
    store_target: StoreTarget,
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps(staff_roster(STAFF)))
    await import_roster(store, roster, actor="test")
    await working_today(store)
    admin = await new_key(store_target.url, "admin")
    env = hadir_env(
        tmp_path / "data",
        store_target.url,
        HADIR_JOBS_SWEEP_INTERVAL_S="0.1",
        HADIR_JOBS_DAYS_AHEAD="0",
        HADIR_WEBHOOKS_DISPATCHER="0",
    )
    port = free_port()
    args = loopback_http(port)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()

    servers = [ServiceProcess(*args, env=env)]
    try:
        await asyncio.to_thread(servers[0].wait_for, "Hadir is running")
        ends = [timedelta(seconds=0.2 + i * STREAM_S / CHECKS) for i in range(CHECKS)]
        ids = await add_checks(
            store,
            [(f"s{i % STAFF}", end - WINDOW, end) for i, end in enumerate(ends)],
            supervisor="sup1",
        )
        stream_start = time.monotonic()
        async with aiohttp.ClientSession() as http:
            reviewer = Reviewer(http, base, admin)
            stop = asyncio.Event()
            following = asyncio.create_task(reviewer.follow(stop))
            await asyncio.sleep(STREAM_S / 2)
            stop.set()  # no new reviews: those in flight are cut short by the kill
            servers[0].proc.kill()  # SIGKILL mid-stream: the sweep and the reviews are writing
            await asyncio.to_thread(servers[0].proc.wait, 10)
            killed_after = time.monotonic() - stream_start
            await following
            before = await _entries(store)  # what was committed when the process died
            acknowledged = dict(reviewer.answered)
            in_flight = set(reviewer.unanswered)

            servers.append(ServiceProcess(*args, env=env))
            await asyncio.to_thread(servers[1].wait_for, "Hadir is running")
            replayed_before = reviewer.replayed
            for key in sorted(in_flight):
                await reviewer.review(key.removeprefix("review-"))
            committed_unanswered = reviewer.replayed - replayed_before
            # A client that lost answers it was in fact given: the key outlived the kill.
            for key in sorted(acknowledged)[:RESENT]:
                await reviewer.review(key.removeprefix("review-"))
            resent_replayed = reviewer.replayed - replayed_before - committed_unanswered
        await wait_until(lambda: _all_closed(store, ids), within=30)
        code, err = await asyncio.to_thread(servers[1].stop)
        assert code == 0, err
    finally:
        for server in servers:
            if server.proc.poll() is None:
                server.proc.kill()

    after = await _entries(store)
    events = await _record_events(store)
    verify = await asyncio.to_thread(hadir, "records", "verify", env=env)
    closed_before = sum(kind == "verification" for kind, *_ in before.values())
    verifications = Counter(c for kind, c, *_ in after.values() if kind == "verification")
    reviews = Counter(body["reason"] for kind, _, _, body in after.values() if kind == "review")
    reviewed = Counter(body["record_id"] for kind, _, _, body in after.values() if kind == "review")
    # Lost: an acknowledged review not committed, or a committed entry gone or changed.
    lost = [i for i in acknowledged.values() if i not in before]
    lost += [i for i, entry in before.items() if after.get(i, (None,) * 4)[2] != entry[2]]
    duplicates = sum(n - 1 for n in verifications.values()) + sum(n - 1 for n in reviewed.values())
    figure = (
        f"[{store_target.dialect}] SIGKILL {killed_after:.1f} s into a stream of {CHECKS} "
        f"checks closing over {STREAM_S:.0f} s, reviewed {REVIEWERS} at a time: "
        f"{len(before)} entries committed before the kill ({closed_before} verifications, "
        f"{len(before) - closed_before} reviews); {len(in_flight)} reviews cut short, sent "
        f"again ({committed_unanswered} had been committed: answered from their key); "
        f"{resent_replayed} of {RESENT} acknowledged reviews sent again answered from their "
        f"key; after the restart {len(after)} entries, {len(reviews)} reviews; "
        f"lost {len(lost)}, duplicates {duplicates}, errors {len(reviewer.errors)}, "
        f"verify exit {verify.returncode}; {time.monotonic() - started:.0f} s in all"
    )
    figures(figure)
    assert not reviewer.errors and not reviewer.unanswered, (reviewer.errors[:5], figure)
    assert 0 < closed_before < CHECKS and in_flight, f"the kill was not mid-stream: {figure}"
    assert not lost and duplicates == 0, (lost[:5], figure)
    assert resent_replayed == RESENT, figure
    assert all(reviewer.answered[key] == entry for key, entry in acknowledged.items()), figure
    # Every check closed once (MISSED: no call was made); every review sent written once.
    assert set(verifications) == set(ids) and set(verifications.values()) == {1}, figure
    assert {body["status"] for kind, *_, body in after.values() if kind == "verification"} == {
        "missed"
    }
    assert set(reviews) == set(reviewer.answered) and set(reviews.values()) == {1}, figure
    # Each entry has exactly one event: none lost, none twice, none for a rolled-back entry.
    assert events == Counter(dict.fromkeys(after, 1)), figure
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"chain intact: {len(after)} entries" in verify.stdout, verify.stdout
