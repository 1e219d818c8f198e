"""Records (one page, one record, CSV) and checks, for API keys with ``records:read``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from service.api.queries import (
    Filters,
    check_json,
    get_record,
    page_checks,
    page_records,
    record_json,
)
from service.api.routes import (
    CURSOR,
    LIMIT,
    QUERY,
    QueryParam,
    Route,
    json_response,
    not_found,
    page,
)
from service.state import ENGINE

SCOPE = "records:read"
FILTERS = (
    QueryParam("from", "date", "First Jakarta calendar day (inclusive)."),
    QueryParam("to", "date", "Last Jakarta calendar day (inclusive)."),
    QueryParam("unit", "string", "Unit id."),
    QueryParam("staff", "string", "Staff id."),
    QueryParam("status", "string", "Status."),
)
CHECK_CURSOR = QueryParam(
    "cursor",
    "string",
    "The `next_cursor` of the previous page.",
    pattern=r"^[0-9]{1,16}_[A-Za-z0-9._-]{1,40}$",
)
CSV_COLUMNS = (
    "seq",
    "id",
    "kind",
    "check_id",
    "staff_id",
    "unit_id",
    "status",
    "created_at",
    "hash",
)
CSV_PAGE = 1000


def filters_from(query: dict[str, Any]) -> Filters:
    return Filters(query["from"], query["to"], query["unit"], query["staff"], query["status"])


def seq_cursor(query: dict[str, Any]) -> int | None:
    return None if query["cursor"] is None else int(query["cursor"])


async def list_records(request: web.Request) -> web.Response:
    query = request[QUERY]
    async with request.config_dict[ENGINE].connect() as conn:
        rows, last = await page_records(
            conn, filters_from(query), seq_cursor(query), query["limit"]
        )
    return page([record_json(r) for r in rows], last)


async def export_records(request: web.Request) -> web.StreamResponse:
    """Every matching record as CSV, streamed page by page."""
    filters = filters_from(request[QUERY])
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="records.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    after: int | None = None
    while True:
        async with request.config_dict[ENGINE].connect() as conn:
            rows, last = await page_records(conn, filters, after, CSV_PAGE)
        for row in rows:
            item = record_json(row)
            writer.writerow(["" if item[c] is None else item[c] for c in CSV_COLUMNS])
        await response.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
        if last is None:
            break
        after = last
    await response.write_eof()
    return response


async def show_record(request: web.Request) -> web.Response:
    async with request.config_dict[ENGINE].connect() as conn:
        row = await get_record(conn, request.match_info["record_id"])
    if row is None:
        raise not_found("record")
    return json_response(record_json(row))


async def list_checks(request: web.Request) -> web.Response:
    query = request[QUERY]
    after = None
    if query["cursor"] is not None:
        micros, check_id = query["cursor"].split("_", 1)
        after = (datetime.fromtimestamp(int(micros) / 1e6, UTC), check_id)
    async with request.config_dict[ENGINE].connect() as conn:
        rows, last = await page_checks(conn, filters_from(query), after, query["limit"])
    cursor = f"{round(last[0].timestamp() * 1e6)}_{last[1]}" if last else None
    return page([check_json(r) for r in rows], cursor)


ROUTES = (
    Route(
        "GET",
        "/records",
        list_records,
        SCOPE,
        "Verification records in chain order, filtered, one page at a time",
        {200: ("a page of records", "RecordPage")},
        query=(*FILTERS, CURSOR, LIMIT),
        tags=("records",),
    ),
    Route(
        "GET",
        "/records.csv",
        export_records,
        SCOPE,
        "Every matching record as CSV",
        {200: ("CSV with a header row", "csv")},
        query=FILTERS,
        content_type="text/csv",
        tags=("records",),
    ),
    Route(
        "GET",
        "/records/{record_id}",
        show_record,
        SCOPE,
        "One record",
        {200: ("the record", "Record")},
        tags=("records",),
    ),
    Route(
        "GET",
        "/checks",
        list_checks,
        SCOPE,
        "Scheduled checks by due time, filtered, one page at a time",
        {200: ("a page of checks", "CheckPage")},
        query=(*FILTERS, CHECK_CURSOR, LIMIT),
        tags=("checks",),
    ),
)
