"""Records as they appear in a page, encoded once and kept.

A signed record never changes (nothing updates or deletes a row of ``records``), so its
item in a records page is the same bytes forever. Encoding 500 of them for every
``GET /records?limit=500`` kept the event loop busy for most of each page, and every
step of a review waited behind those slices (docs/performance.md, "Reads beside
writes"). A page now reads only the seqs it covers and joins kept items; only records
not yet kept are read in full and encoded.

Invariant: the item kept for a seq is exactly ``record_item`` of that stored row, which
says what ``record_json`` says, with the body spliced in as stored (canonical JSON, the
very bytes that were hashed).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from aiohttp import web
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.queries import Filters, page_seqs, record_json_head
from service.api.routes import compact_json
from service.schema import records
from service.state import ENGINE
from service.store import read_only

CAPACITY = 10_000  # items kept (about 1-2 KB each): twenty pages of 500
ENCODE_SLICE = 50  # records encoded between two returns to the event loop


async def records_page(
    request: web.Request,
    filters: Filters,
    after_seq: int | None,
    limit: int,
    *,
    supervisor: str | None = None,
) -> web.Response:
    """A page of records (``page_records``'s arguments) from the kept items."""
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        seqs, last = await page_seqs(conn, filters, after_seq, limit, supervisor=supervisor)
        items = await request.config_dict[ENCODED].items(conn, seqs)
    return page_body(items, last)


def record_item(row: Row[Any]) -> bytes:
    """A stored record as a page item: ``record_json`` with the stored body spliced in."""
    head = compact_json({**record_json_head(row), "body": None})
    return f"{head[: -len('null}')]}{row.body}}}".encode()


def page_body(items: list[bytes], last: int | None) -> web.Response:
    """``routes.page`` for items already encoded, in the same bytes."""
    cursor = compact_json(None if last is None else str(last)).encode()
    body = b'{"data":[' + b",".join(items) + b'],"next_cursor":' + cursor + b"}"
    return web.Response(body=body, content_type="application/json", charset="utf-8")


class EncodedRecords:
    """Page items by seq, least recently used dropped first beyond ``capacity``."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._items: OrderedDict[int, bytes] = OrderedDict()

    async def items(self, conn: AsyncConnection, seqs: list[int]) -> list[bytes]:
        """The items of ``seqs``, in that order; the ones not kept are read and kept."""
        found: dict[int, bytes] = {}
        for seq in seqs:
            item = self._items.get(seq)
            if item is not None:
                self._items.move_to_end(seq)
                found[seq] = item
        missing = [seq for seq in seqs if seq not in found]
        if missing:
            rows = (await conn.execute(select(records).where(records.c.seq.in_(missing)))).all()
            for i, row in enumerate(rows):
                if i and i % ENCODE_SLICE == 0:
                    await asyncio.sleep(0)
                found[row.seq] = self._keep(row.seq, record_item(row))
        return [found[seq] for seq in seqs]

    def _keep(self, seq: int, item: bytes) -> bytes:
        self._items[seq] = item
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return item


ENCODED = web.AppKey("encoded_records", EncodedRecords)
