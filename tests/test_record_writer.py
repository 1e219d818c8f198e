"""Group commit of call completions: many callers at once, each its own record or reason,
one gapless chain; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.record_writer import CallEnd, RecordWriter
from service.records import CallResult, Record, RecordConflict, RecordNotFound, verify_chain
from service.schema import calls, checks, outbox
from tests.records_helpers import seed_checks

KEY = Ed25519PrivateKey.generate()


def _result(verdict: str = "pass") -> CallResult:
    return CallResult(
        started_at=utcnow() - timedelta(minutes=3),
        ended_at=utcnow(),
        verdict={"verdict": verdict, "reasons": [], "criteria": {}},
        camera_on_fraction=1.0,
        location=None,
    )


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
    async with store.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(outbox))).scalar()
        closed = list((await conn.execute(select(calls.c.status, calls.c.ended_at))).all())
        statuses = set((await conn.execute(select(checks.c.status))).scalars())
    assert events == len(ids) and statuses == {"completed"}
    assert all(status == "hangup" and ended is not None for status, ended in closed)


async def test_one_callers_problem_is_its_own(store: AsyncEngine) -> None:
    ids = await seed_checks(store, days=1)
    writer = RecordWriter(store, KEY)
    try:
        first, twice, missing, unanswered, other = await asyncio.gather(
            writer.complete(ids[0], _result()),
            writer.complete(ids[0], _result("fail")),  # the same check again
            writer.complete("chk_nothere", _result()),
            writer.complete(ids[1], None),  # never answered: no record, the sweep's job
            writer.complete(ids[2], _result("inconclusive")),
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
