"""The records' chain on both dialects: batched appends, the outbox rows they enqueue,
tampering caught and named, appends by two writers, and the review rules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.records import (
    RecordConflict,
    RecordError,
    RecordForbidden,
    RecordNotFound,
    canonical,
    get_record,
    lock_chain,
    object_to_record,
    record_missed,
    record_missed_many,
    record_state,
    review_record,
    verify_chain,
)
from service.schema import deliveries, outbox, records
from service.webhooks.endpoints import create_endpoint, update_endpoint
from tests.conftest import StoreTarget
from tests.records_helpers import seed_checks

KEY = Ed25519PrivateKey.generate()


async def _missed(engine: AsyncEngine, check_ids: list[str]) -> list[str]:
    async with engine.begin() as conn:
        await lock_chain(conn)
        return [r.id for r in await record_missed_many(conn, check_ids, key=KEY)]


async def _count(engine: AsyncEngine, table: object, *where: object) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int((await conn.execute(query)).scalar_one())


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def test_a_batch_of_missed_checks_is_chained_and_enqueued_for_subscribers_only(
    store: AsyncEngine,
) -> None:
    ids = await seed_checks(store, days=2)
    async with store.begin() as conn:
        wanted = await create_endpoint(
            conn, "http://127.0.0.1:9/a", ["check.missed"], owner_key_id="key_t", actor="t"
        )
        await create_endpoint(
            conn, "http://127.0.0.1:9/b", ["check.completed"], owner_key_id="key_t", actor="t"
        )
        off = await create_endpoint(
            conn, "http://127.0.0.1:9/c", ["check.missed"], owner_key_id="key_t", actor="t"
        )
        await update_endpoint(conn, off.id, actor="t", enabled=False)

    written = await _missed(store, ids)
    assert len(written) == len(ids) == 6
    async with store.connect() as conn:
        entries = [await get_record(conn, i) for i in written]
    assert [e.seq for e in entries if e] == [1, 2, 3, 4, 5, 6]
    assert [e.check_id for e in entries if e] == ids  # in the order given
    assert await _count(store, outbox, outbox.c.event_type == "check.missed") == 6
    assert await _count(store, deliveries) == 6
    assert await _count(store, deliveries, deliveries.c.endpoint_id == wanted.id) == 6

    assert await _missed(store, ids) == []  # closed already: nothing new
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == 6 and report.head_seq == 6
    assert entries[-1] is not None and report.head_hash == entries[-1].hash


async def test_statements_per_batch_do_not_grow_with_the_batch(store: AsyncEngine) -> None:
    ids = await seed_checks(store, days=4)
    async with store.begin() as conn:
        await create_endpoint(
            conn, "http://127.0.0.1:9/a", ["check.missed"], owner_key_id="key_t", actor="t"
        )
    await _missed(store, ids[:1])  # the engine now knows the head
    with _statements(store) as one:
        await _missed(store, ids[1:2])
    with _statements(store) as three:
        await _missed(store, ids[2:5])
    with _statements(store) as seven:
        await _missed(store, ids[5:])
    # BEGIN (sqlite) or the chain lock (postgresql), close, append, outbox, deliveries;
    # a batch adds one INSERT for the entries after the first, however many.
    assert len(one) == 5, one
    assert len(three) == len(seven) == 6, seven
    assert (await verify_chain(store, KEY.public_key())).checked == 12


async def test_verify_names_an_edited_body_an_edited_column_and_a_deleted_row(
    store: AsyncEngine,
) -> None:
    written = await _missed(store, await seed_checks(store, days=2))
    public = KEY.public_key()
    async with store.connect() as conn:
        third = await get_record(conn, written[2])
    assert third is not None

    async def tamper(sql: str) -> None:
        async with store.begin() as conn:
            await conn.execute(text(sql))

    await tamper(
        "UPDATE records SET body = replace(body, '\"missed\"', '\"passed\"') WHERE seq = 3"
    )
    report = await verify_chain(store, public)
    assert not report.ok and (report.broken_seq, report.broken_id) == (3, written[2])
    assert report.problem is not None and report.problem.startswith("body hash mismatch")
    assert report.checked == 2 and report.head_seq == 2
    await tamper("UPDATE records SET body = '{not json' WHERE seq = 3")
    assert (await verify_chain(store, public)).problem == (
        "body is not valid JSON: the row was edited"
    )
    async with store.begin() as conn:  # put the signed body back: intact again
        signed = canonical(third.body).decode("utf-8")
        await conn.execute(records.update().where(records.c.seq == 3).values(body=signed))
    assert (await verify_chain(store, public)).ok

    await tamper("UPDATE records SET status = 'passed' WHERE seq = 2")
    report = await verify_chain(store, public)
    assert (report.broken_seq, report.broken_id) == (2, written[1])
    assert report.problem is not None and report.problem.startswith("column status mismatch")
    await tamper("UPDATE records SET status = 'missed' WHERE seq = 2")

    await tamper("DELETE FROM records WHERE seq = 4")
    report = await verify_chain(store, public)
    assert (report.broken_seq, report.broken_id) == (5, written[4])
    assert report.problem is not None and report.problem.startswith("gap: seq 4 is missing")
    assert report.checked == 3

    report = await verify_chain(store, Ed25519PrivateKey.generate().public_key())
    assert (report.broken_seq, report.problem) == (1, "bad signature")


async def test_two_writers_and_a_rollback_keep_one_gapless_chain(
    store: AsyncEngine, store_target: StoreTarget
) -> None:
    ids = await seed_checks(store, days=3)
    other = store_target.engine()  # a second node on the same database
    try:
        await _missed(store, ids[0:2])
        await _missed(other, ids[2:4])
        await _missed(store, ids[4:5])  # its remembered head is stale now
        with pytest.raises(ZeroDivisionError):
            async with store.begin() as conn:
                await lock_chain(conn)
                await record_missed(conn, ids[5], key=KEY)
                1 / 0  # noqa: B018 - the transaction rolls back after the append
        await _missed(store, ids[5:7])
        await _missed(other, ids[7:9])
    finally:
        await other.dispose()
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == 9
    assert await _count(store, outbox) == 9  # the rolled-back event is gone too


async def test_review_and_objection_rules(store: AsyncEngine) -> None:
    ids = await seed_checks(store, days=1)
    first, second = await _missed(store, ids[:2])

    async def review(decision: str, status: str | None = None, record_id: str = first) -> str:
        entry = await review_record(
            store, record_id, reviewer="supervisor:sup1", decision=decision,
            reason="checked with the staff member", status=status, key=KEY,
        )  # fmt: skip
        return entry.id

    async def state() -> tuple[str, str]:
        async with store.connect() as conn:
            found = await get_record(conn, first)
            assert found is not None
            current = await record_state(conn, found)
        return current.status, current.review_state

    for decision, status, error, field in (
        ("approve", None, RecordError, "decision"),
        ("override", None, RecordError, "status"),
        ("override", "absent", RecordError, "status"),
        ("override", "missed", RecordConflict, "status"),
        ("confirm", "passed", RecordConflict, "status"),
    ):
        with pytest.raises(error) as caught:
            await review(decision, status)
        assert caught.value.field == field, (decision, status)
    with pytest.raises(RecordError, match="reason is required") as caught:
        await review_record(store, first, reviewer="x", decision="confirm", reason=" ", key=KEY)
    assert caught.value.field == "reason"
    with pytest.raises(RecordNotFound):
        await review("confirm", record_id="rec_absent")

    review_id = await review("confirm")
    assert await state() == ("missed", "confirmed")
    with pytest.raises(RecordConflict, match="already confirmed"):
        await review("confirm")
    with pytest.raises(RecordConflict, match="not a verification"):
        await review("confirm", record_id=review_id)
    await review("override", "passed")
    assert await state() == ("passed", "overridden")

    with pytest.raises(RecordForbidden):
        await object_to_record(store, first, staff_id="s2", reason="not me", key=KEY)
    await object_to_record(store, first, staff_id="s1", reason="I was there", key=KEY)
    assert await state() == ("passed", "objected")
    with pytest.raises(RecordConflict, match="one objection per record"):
        await object_to_record(store, first, staff_id="s1", reason="again", key=KEY)
    await review("confirm")
    assert await state() == ("passed", "confirmed")
    with pytest.raises(RecordConflict, match="one objection per record"):
        await object_to_record(store, first, staff_id="s1", reason="after review", key=KEY)

    # The review entry and its event commit together, or neither does.
    with pytest.raises(ZeroDivisionError):
        async with store.begin() as conn:
            await review_record(
                conn, second, reviewer="r", decision="confirm", reason="ok", key=KEY
            )
            1 / 0  # noqa: B018
    assert await _count(store, outbox, outbox.c.event_type == "record.reviewed") == 3
    assert await _count(store, outbox, outbox.c.event_type == "record.objected") == 1
    report = await verify_chain(store, KEY.public_key())
    assert report.ok and report.checked == 2 + 3 + 1
