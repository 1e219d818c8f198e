"""Endpoints for the bearer of a personal link (``Authorization: Link <token>``):
staff read their own records, supervisors the records of their staff."""

from __future__ import annotations

from aiohttp import web

from service.api.auth import LINK
from service.api.queries import Filters, page_records, record_json
from service.api.records import seq_cursor
from service.api.routes import CURSOR, LIMIT, QUERY, QueryParam, Route, page
from service.state import ENGINE


async def my_records(request: web.Request) -> web.Response:
    claims = request[LINK]
    query = request[QUERY]
    own = claims.role == "staff"
    filters = Filters(query["from"], query["to"], staff=claims.subject if own else None)
    async with request.config_dict[ENGINE].connect() as conn:
        rows, last = await page_records(
            conn,
            filters,
            seq_cursor(query),
            query["limit"],
            supervisor=None if own else claims.subject,
        )
    return page([record_json(r) for r in rows], last)


ROUTES = (
    Route(
        "GET",
        "/me/records",
        my_records,
        "link",
        "Staff: their own records; supervisors: their staff's records",
        {200: ("a page of records", "RecordPage")},
        query=(
            QueryParam("from", "date", "First Jakarta calendar day (inclusive)."),
            QueryParam("to", "date", "Last Jakarta calendar day (inclusive)."),
            CURSOR,
            LIMIT,
        ),
        tags=("me",),
    ),
)
