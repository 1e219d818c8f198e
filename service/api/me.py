"""Endpoints for the bearer of a personal link (``Authorization: Link <token>``):
staff read their own records and object to them, supervisors read the records of
their staff and confirm or override them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from service import metrics
from service.api.auth import LINK
from service.api.bodies import BODY
from service.api.encoded_records import records_page
from service.api.idempotency import once
from service.api.queries import Filters, state_json, supervises
from service.api.records import (
    CONFLICT,
    JSON,
    record_api_error,
    review,
    seq_cursor,
)
from service.api.routes import (
    CURSOR,
    LIMIT,
    QUERY,
    ApiError,
    QueryParam,
    Route,
    json_response,
)
from service.clock import utcnow
from service.org import load_policy
from service.records import RecordError, RecordState, find_state, object_to_record
from service.self_check import ImageError, decode_jpeg, judge_still
from service.state import ENGINE, SIGNING_KEY
from service.store import read_only
from service.web.dashboard import next_check
from signaling.server import HUB
from vision.uniform import parse_uniform_policy

FORBIDDEN = ("not the bearer's own record, nor one of their staff's", "Error")


async def my_records(request: web.Request) -> web.Response:
    claims = request[LINK]
    query = request[QUERY]
    own = claims.role == "staff"
    filters = Filters(query["from"], query["to"], staff=claims.subject if own else None)
    return await records_page(
        request,
        filters,
        seq_cursor(query),
        query["limit"],
        supervisor=None if own else claims.subject,
    )


async def _visible_state(request: web.Request, role: str | None = None) -> RecordState:
    """The record's state if the bearer may see it (and has ``role``, if given)."""
    claims = request[LINK]
    if role is not None and claims.role != role:
        raise ApiError(403, "forbidden", f"only a {role} may do this")
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        try:
            state = await find_state(conn, request.match_info["record_id"])
        except RecordError as exc:
            raise record_api_error(exc) from None
        staff_id = state.record.staff_id
        if claims.role == "staff":
            mine = staff_id == claims.subject
        else:
            mine = await supervises(conn, claims.subject, staff_id)
    if not mine:
        raise ApiError(403, "forbidden", "this record is not yours or your staff's")
    return state


async def my_record(request: web.Request) -> web.Response:
    return json_response(state_json(await _visible_state(request)))


async def review_my_staff(request: web.Request) -> web.Response:
    await _visible_state(request, "supervisor")
    return await review(request, f"supervisor:{request[LINK].subject}")


async def self_check(request: web.Request) -> web.Response:
    """A picture from the staff member's camera judged as a call would judge it, under
    the uniform of their next check (else today's): advice on what to fix, never kept."""
    claims = request[LINK]
    if claims.role != "staff":
        raise ApiError(403, "forbidden", "only a staff member checks their own camera")
    try:
        rgb = decode_jpeg(request[BODY].value)
    except ImageError as exc:
        metrics.SELF_CHECKS.labels("bad_image").inc()
        raise ApiError(400, "bad_image", str(exc)) from None
    now = utcnow()
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        upcoming = await next_check(conn, claims.subject, now)
    rule = policy.uniform_for(now.astimezone(policy.zone).date())
    uniform = upcoming.uniform_policy if upcoming else rule.policy if rule else "any"
    pool = request.config_dict[HUB].pool
    sample = await pool.analyze_still(rgb)
    if sample is None:
        metrics.SELF_CHECKS.labels("busy").inc()
        raise ApiError(503, "busy", "every analysis thread is busy with calls: try again")
    metrics.SELF_CHECKS.labels("judged").inc()
    return json_response(judge_still(sample, parse_uniform_policy(uniform), pool.config).to_dict())


async def object_to_mine(request: web.Request) -> web.Response:
    body = request[BODY].value  # a valid Objection
    state = await _visible_state(request, "staff")
    staff_id = request[LINK].subject

    async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any]]:
        await object_to_record(
            conn,
            request.match_info["record_id"],
            staff_id=staff_id,
            reason=body["reason"],
            key=request.config_dict[SIGNING_KEY],
        )
        return 201, state_json(await find_state(conn, state.record.id))

    try:
        return await once(request, f"staff:{staff_id}", body, work)
    except RecordError as exc:
        raise record_api_error(exc) from None


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
        bulk=True,
    ),
    Route(
        "GET",
        "/me/records/{record_id}",
        my_record,
        "link",
        "One verification as it stands, with its reviews and objections",
        {200: ("the record as it stands", "RecordState"), 403: FORBIDDEN},
        tags=("me",),
    ),
    Route(
        "POST",
        "/me/records/{record_id}/review",
        review_my_staff,
        "link",
        "Supervisors: confirm or override a staff member's verification, with a reason",
        {201: ("the record as it now stands", "RecordState"), 403: FORBIDDEN, 409: CONFLICT},
        body={JSON: {"schema": {"$ref": "#/components/schemas/Review"}}},
        tags=("me",),
        idempotent=True,
    ),
    Route(
        "POST",
        "/me/self-check",
        self_check,
        "link",
        "Staff: one camera picture judged for light, face and uniform before a call "
        "(advice only: not recorded, not kept)",
        {
            200: ("what the picture shows", "SelfCheck"),
            400: ("not a JPEG picture of 64 to 4096 pixels a side", "Error"),
            403: ("not a staff member's link", "Error"),
            503: ("every analysis thread is busy with calls", "Error"),
        },
        body={"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        max_body=512 * 1024,
        tags=("me",),
    ),
    Route(
        "POST",
        "/me/records/{record_id}/objection",
        object_to_mine,
        "link",
        "Staff: object to a decision about them (UU 27/2022), with a reason",
        {201: ("the record as it now stands", "RecordState"), 403: FORBIDDEN, 409: CONFLICT},
        body={JSON: {"schema": {"$ref": "#/components/schemas/Objection"}}},
        tags=("me",),
        idempotent=True,
    ),
)
