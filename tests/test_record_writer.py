"""Group commit of call completions: many callers at once, each its own record or reason,
one gapless chain, nothing half-written when a group fails; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import service.records
from service.clock import utcnow
from service.record_writer import CallEnd, RecordWriter
from service.records import (
    CallResult,
    Record,
    RecordConflict,
    RecordError,
    RecordNotFound,
    verification_draft,
    verify_chain,
)
from service.schema import calls, checks, outbox, records
from signaling.verdict import CallVerdict, Criterion
from tests.records_helpers import seed_checks
from vision.verdict import Verdict

KEY = Ed25519PrivateKey.generate()


def _result(verdict: Verdict = Verdict.PASS, still: bytes | None = None) -> CallResult:
    face = Criterion(verdict, () if verdict is Verdict.PASS else ("low_light",))
    ok = Criterion(Verdict.PASS)
    return CallResult(
        started_at=utcnow() - timedelta(minutes=3),
        ended_at=utcnow(),
        verdict=CallVerdict(face, ok, ok, ok, camera_on=1.0),
        still=still,
    )


async def _complete_all(writer: RecordWriter, ids: list[str]) -> list[Any]:
    """Complete ``ids`` concurrently; each caller's outcome, or the exception it got."""
    try:
        return await asyncio.gather(
            *(writer.complete(c, _result()) for c in ids), return_exceptions=True
        )
    finally:
        await writer.close()


async def _stored(engine: AsyncEngine) -> tuple[dict[str, str], list[str], list[str]]:
    """Each check's status, the records' check ids in chain order, and the chain hashes
    of the records the outbox's events carry."""
    async with engine.connect() as conn:
        status = dict((await conn.execute(select(checks.c.id, checks.c.status))).all())
        recorded = list(
            (await conn.execute(select(records.c.check_id).order_by(records.c.seq))).scalars()
        )
        payloads = (await conn.execute(select(outbox.c.payload))).scalars()
        announced = [json.loads(p)["data"]["record"]["hash"] for p in payloads]
    return status, recorded, announced


async def _open_call(engine: AsyncEngine, check_id: str) -> str:
    call_id = "call_" + secrets.token_hex(6)
    async with engine.begin() as conn:
        row = (await conn.execute(select(checks).where(checks.c.id == check_id))).one()
        await conn.execute(
            calls.insert().values(
                id=call_id,
                check_id=check_id,
                staff_id=row.staff_id,
                supervisor_id=row.supervisor_id,
                started_at=utcnow(),
                status="active",
            )
        )
    return call_id


async def test_calls_ending_together_each_get_their_record(store: AsyncEngine) -> None:
    ids = await seed_checks(store, days=10)
    call_ids = [await _open_call(store, c) for c in ids]
    writer = RecordWriter(store, KEY)
    try:
        written = await asyncio.gather(
            *(
                writer.complete(
                    c, _result(), CallEnd(call, utcnow(), "hangup", 0.97, 12.0, "inside")
                )
                for c, call in zip(ids, call_ids, strict=True)
            )
        )
    finally:
        await writer.close()
    assert all(isinstance(r, Record) for r in written)
    assert writer.groups < len(ids)  # they shared transactions
    assert [r.check_id for r in written if isinstance(r, Record)] == ids
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == len(ids)
    assert [r.seq for r in written if isinstance(r, Record)] == list(range(1, len(ids) + 1))
    status, _, announced = await _stored(store)
    assert set(status.values()) == {"completed"}
    assert sorted(announced) == sorted(r.hash for r in written if isinstance(r, Record))
    async with store.connect() as conn:
        closed = list((await conn.execute(select(calls.c.status, calls.c.ended_at))).all())
    assert all(status == "hangup" and ended is not None for status, ended in closed)


async def test_one_callers_problem_is_its_own(store: AsyncEngine) -> None:
    ids = await seed_checks(store, days=1)
    writer = RecordWriter(store, KEY)
    try:
        first, twice, missing, unanswered, other = await asyncio.gather(
            writer.complete(ids[0], _result()),
            writer.complete(ids[0], _result(Verdict.FAIL)),  # the same check again
            writer.complete("chk_nothere", _result()),
            writer.complete(ids[1], None),  # never answered: no record, the sweep's job
            writer.complete(ids[2], _result(Verdict.INCONCLUSIVE)),
        )
    finally:
        await writer.close()
    assert isinstance(first, Record) and first.status == "passed"
    assert isinstance(twice, RecordConflict) and "already completed" in str(twice)
    assert isinstance(missing, RecordNotFound)
    assert unanswered is None
    assert isinstance(other, Record) and other.status == "inconclusive"
    async with store.connect() as conn:
        status = dict((await conn.execute(select(checks.c.id, checks.c.status))).all())
    assert status[ids[1]] == "scheduled" and status[ids[0]] == status[ids[2]] == "completed"
    assert (await verify_chain(store, KEY.public_key())).checked == 2


async def test_a_call_that_cannot_be_recorded_fails_alone(store: AsyncEngine) -> None:
    ids = await seed_checks(store, days=2)
    writer = RecordWriter(store, KEY)
    try:
        good, bad_still, other = await asyncio.gather(
            writer.complete(ids[0], _result()),
            writer.complete(ids[2], _result(still=b"not an image")),
            writer.complete(ids[3], _result(Verdict.FAIL)),
        )
    finally:
        await writer.close()
    assert writer.groups == 1  # one transaction: the bad ones did not roll it back
    assert isinstance(good, Record) and isinstance(other, Record) and other.status == "failed"
    assert isinstance(bad_still, RecordError) and bad_still.field == "still"
    status, recorded, announced = await _stored(store)
    assert status[ids[1]] == status[ids[2]] == "scheduled"
    assert sorted(recorded) == sorted([ids[0], ids[3]])
    assert sorted(announced) == sorted([good.hash, other.hash])
    assert (await verify_chain(store, KEY.public_key())).checked == 2


async def test_a_fault_mid_group_reaches_only_its_caller(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = (await seed_checks(store, days=2))[:6]
    faulty = ids[2]

    def draft(check: Mapping[str, Any], *args: Any) -> Any:
        if check["id"] == faulty:  # after the group's UPDATE closed every check
            raise RuntimeError("fault in one caller's work")
        return verification_draft(check, *args)

    monkeypatch.setattr(service.records, "verification_draft", draft)
    writer = RecordWriter(store, KEY)
    outcomes = await _complete_all(writer, ids)
    assert isinstance(outcomes[2], RuntimeError)
    assert all(isinstance(o, Record) for i, o in enumerate(outcomes) if i != 2)
    assert writer.groups == len(ids) - 1  # the group rolled back, each then alone
    status, recorded, announced = await _stored(store)
    assert status[faulty] == "scheduled" and faulty not in recorded
    assert sorted(recorded) == sorted(c for c in ids if c != faulty)
    assert sorted(announced) == sorted(o.hash for o in outcomes if isinstance(o, Record))
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == len(ids) - 1


async def test_a_failed_group_loses_no_committed_record_and_leaves_no_half(
    store: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await seed_checks(store, days=4)
    first, second = ids[:4], ids[4:10]
    committed = await _complete_all(RecordWriter(store, KEY), first)
    assert all(isinstance(r, Record) for r in committed)

    async def crash(*args: Any) -> None:  # the entries are inserted, the outbox is not
        raise ConnectionError("the database went away")

    monkeypatch.setattr(service.records, "enqueue_many", crash)
    failed = await _complete_all(RecordWriter(store, KEY), second)
    assert all(isinstance(o, ConnectionError) for o in failed)
    status, recorded, announced = await _stored(store)
    assert recorded == first and sorted(announced) == sorted(r.hash for r in committed)
    assert all(status[c] == "scheduled" for c in second)
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == len(first)
    assert report.head_hash == committed[-1].hash

    monkeypatch.undo()  # the database is back: the same checks now commit, chained on
    again = await _complete_all(RecordWriter(store, KEY), second)
    assert [r.seq for r in again] == list(range(len(first) + 1, len(first) + len(second) + 1))
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == len(first) + len(second)
