"""Group commit for the records calls write: calls that end together share a transaction.

At 10:00, 14:00 and 16:00 many calls end at once. One transaction per record costs
about 2 ms on SQLite whatever it holds, because every statement is a hand-off to the
driver's thread, and appends to the chain are serialized anyway. So one writer task
per engine takes every completion waiting when the previous commit finished (a lone
one commits at once: nothing waits for company), closes all their checks with
``complete_checks_many`` (a few statements however many), closes their calls' rows
with one executemany, and commits once. Each caller gets its own record, or its own
reason why none was written, only after the commit. Should the group's transaction
fail, nothing of it was written and each completion is tried again alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncEngine

from service.records import (
    CallResult,
    Record,
    RecordError,
    complete_checks_many,
    lock_chain,
)
from service.schema import calls

MAX_GROUP = 500
_CLOSE_CALL = (
    calls.update()
    .where(calls.c.id == bindparam("call_id"))
    .values(
        ended_at=bindparam("ended_at"),
        status=bindparam("end_status"),
        camera_on_fraction=bindparam("camera_on"),
        location_distance_m=bindparam("distance_m"),
        location_result=bindparam("location"),
    )
)


@dataclass(frozen=True)
class CallEnd:
    """What the ``calls`` row of an ended call gets (never coordinates)."""

    call_id: str
    ended_at: datetime | None
    status: str
    camera_on: float | None = None
    distance_m: float | None = None
    location: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "ended_at": self.ended_at,
            "end_status": self.status,
            "camera_on": self.camera_on,
            "distance_m": self.distance_m,
            "location": self.location,
        }


@dataclass
class _Completion:
    check_id: str
    result: CallResult | None  # None: the call was never answered, no record
    call: CallEnd | None
    done: asyncio.Future[Record | RecordError | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RecordWriter:
    def __init__(self, engine: AsyncEngine, key: Ed25519PrivateKey) -> None:
        self.engine = engine
        self.key = key
        self._queue: asyncio.Queue[_Completion] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed: fewer than completions under load

    async def complete(
        self, check_id: str, result: CallResult | None, call: CallEnd | None = None
    ) -> Record | RecordError | None:
        """The check's record (None without a result), or why none was written; the
        call's row is closed in the same transaction."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        item = _Completion(check_id, result, call)
        self._queue.put_nowait(item)
        return await item.done

    async def close(self) -> None:
        """Write what was submitted, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self._settle(group)
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _settle(self, group: list[_Completion]) -> None:
        """Write ``group`` and give each caller its own outcome.

        A failed transaction wrote nothing of the group; each of its completions is
        then tried alone, so a failure that belongs to one caller (a fault in its
        evidence, its row, a bug its data meets) reaches that caller only.
        """
        try:
            outcomes = await self._write(group)
        except Exception as exc:
            if len(group) > 1:
                for item in group:
                    await self._settle([item])
            elif not group[0].done.done():
                group[0].done.set_exception(exc)
            return
        for item, outcome in zip(group, outcomes, strict=True):
            if not item.done.done():
                item.done.set_result(outcome)

    async def _write(self, group: list[_Completion]) -> list[Record | RecordError | None]:
        answered = [(i.check_id, i.result) for i in group if i.result is not None]
        async with self.engine.begin() as conn:
            await lock_chain(conn)  # first: the chain's lock order
            written = iter(await complete_checks_many(conn, answered, key=self.key))
            ends = [i.call.params() for i in group if i.call is not None]
            if ends:
                await conn.execute(_CLOSE_CALL, ends)
        self.groups += 1
        return [next(written) if i.result is not None else None for i in group]
