"""Records (one page, one record, CSV) and checks, for API keys with ``records:read``;
an admin's review of a record. The review is written here for ``me`` as well, so both
audiences get the same rules and errors."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.auth import API_KEY
from service.api.bodies import BODY
from service.api.encoded_records import records_page
from service.api.idempotency import once
from service.api.queries import (
    Filters,
    check_json,
    get_record,
    page_checks,
    page_records,
    record_json,
    state_json,
)
from service.api.routes import (
    CURSOR,
    LIMIT,
    QUERY,
    ApiError,
    QueryParam,
    Route,
    bad_parameter,
    json_response,
    not_found,
    page,
)
from service.records import (
    RecordConflict,
    RecordError,
    RecordForbidden,
    RecordNotFound,
    find_state,
    review_record,
)
from service.state import ENGINE, SIGNING_KEY
from service.store import read_only

SCOPE = "records:read"
JSON = "application/json"
CONFLICT = ("the record's state does not allow it (e.g. already confirmed)", "Error")
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
    return await records_page(request, filters_from(query), seq_cursor(query), query["limit"])


async def export_records(request: web.Request) -> web.StreamResponse:
    """Every matching record as CSV, streamed page by page. The first page is read
    before the headers go out, so a failure is still an error status, not a reset."""
    filters = filters_from(request[QUERY])
    engine = read_only(request.config_dict[ENGINE])
    async with engine.connect() as conn:
        rows, last = await page_records(conn, filters, None, CSV_PAGE)
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
    while True:
        for row in rows:
            item = record_json(row)
            writer.writerow(["" if item[c] is None else item[c] for c in CSV_COLUMNS])
        await response.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
        if last is None:
            break
        async with engine.connect() as conn:
            rows, last = await page_records(conn, filters, last, CSV_PAGE)
    await response.write_eof()
    return response


async def show_record(request: web.Request) -> web.Response:
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        row = await get_record(conn, request.match_info["record_id"])
    if row is None:
        raise not_found("record")
    return json_response(record_json(row))


def record_api_error(exc: RecordError) -> ApiError:
    if isinstance(exc, RecordNotFound):
        return not_found("record")
    if isinstance(exc, RecordForbidden):
        return ApiError(403, "forbidden", str(exc))
    if isinstance(exc, RecordConflict):
        return ApiError(409, "conflict", str(exc))
    return bad_parameter(exc.field or "body", str(exc))


async def review(request: web.Request, reviewer: str) -> web.Response:
    """Append a review of ``record_id`` by ``reviewer``; answer with the new state."""
    body = request[BODY].value  # a valid Review
    record_id = request.match_info["record_id"]

    async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any]]:
        await review_record(
            conn,
            record_id,
            reviewer=reviewer,
            decision=body["decision"],
            reason=body["reason"],
            status=body.get("status"),
            key=request.config_dict[SIGNING_KEY],
        )
        return 201, state_json(await find_state(conn, record_id))

    try:
        return await once(request, reviewer, body, work)
    except RecordError as exc:
        raise record_api_error(exc) from None


async def review_as_admin(request: web.Request) -> web.Response:
    return await review(request, f"apikey:{request[API_KEY].id}")


async def list_checks(request: web.Request) -> web.Response:
    query = request[QUERY]
    after = None
    if query["cursor"] is not None:
        micros, check_id = query["cursor"].split("_", 1)
        after = (datetime.fromtimestamp(int(micros) / 1e6, UTC), check_id)
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
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
        bulk=True,
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
        "POST",
        "/records/{record_id}/review",
        review_as_admin,
        "admin",
        "Confirm or override a verification, with a reason (a new chained entry)",
        {201: ("the record as it now stands", "RecordState"), 409: CONFLICT},
        body={JSON: {"schema": {"$ref": "#/components/schemas/Review"}}},
        tags=("records",),
        idempotent=True,
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
        bulk=True,
    ),
)
