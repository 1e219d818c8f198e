"""Webhook endpoints over the API (``webhooks:write``): CRUD, rotation, the delivery log,
redelivery and replay.

An endpoint belongs to the key that made it: other keys get 404, admin keys see all.
Subscribing to an event takes the scope that receiving it needs
(``service.webhooks.scopes``), as does replaying it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from service.api.auth import API_KEY
from service.api.bodies import BODY
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
from service.state import CONFIG, DISPATCHER, ENGINE
from service.store import read_only
from service.webhooks import endpoints
from service.webhooks.deliveries import get_delivery, page_deliveries, redeliver, replay
from service.webhooks.endpoints import Endpoint, EndpointError, validate_events
from service.webhooks.scopes import may_receive, required_scope
from service.webhooks.ssrf import UnsafeURL, check_url

SCOPE = "webhooks:write"
JSON = "application/json"


def _actor(request: web.Request) -> str:
    return f"apikey:{request[API_KEY].id}"


def _body_schema(name: str) -> dict[str, Any]:
    return {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}


async def _checked_url(request: web.Request, url: Any) -> str:
    allow = request.config_dict[CONFIG].webhooks.allow_private_addresses
    try:
        await check_url(url, allow_private=allow)
    except UnsafeURL as exc:
        raise ApiError(400, "bad_parameter", str(exc)) from None
    return str(url)


def _owner_filter(request: web.Request) -> str | None:
    """The key whose endpoints this request sees; None (all) for an admin key."""
    key = request[API_KEY]
    return None if "admin" in key.scopes else key.id


async def _endpoint(request: web.Request) -> Endpoint:
    """The endpoint named in the path, if the calling key may see it."""
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        found = await endpoints.get_endpoint(conn, request.match_info["endpoint_id"])
    owner = _owner_filter(request)
    if found is None or (owner is not None and found.owner_key_id != owner):
        raise not_found("webhook endpoint")
    return found


def _events(request: web.Request, body: dict[str, Any]) -> tuple[str, ...]:
    try:
        events = validate_events(body["events"])
    except EndpointError as exc:
        raise bad_parameter(exc.field, str(exc).split(": ", 1)[1]) from None
    key = request[API_KEY]
    for event in events:
        if not may_receive(key.scopes, event):
            raise ApiError(
                403,
                "forbidden",
                f"events: receiving {event} needs the scope {required_scope(event)}",
            )
    return events


async def create(request: web.Request) -> web.Response:
    body = request[BODY].value  # a valid NewEndpoint
    events = _events(request, body)
    url = await _checked_url(request, body["url"])
    async with request.config_dict[ENGINE].begin() as conn:
        created = await endpoints.create_endpoint(
            conn, url, events, owner_key_id=request[API_KEY].id, actor=_actor(request)
        )
    return json_response(created.to_json(with_secret=True), status=201)


async def index(request: web.Request) -> web.Response:
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        found = await endpoints.list_endpoints(conn, _owner_filter(request))
    return json_response({"data": [e.to_json() for e in found]})


async def show(request: web.Request) -> web.Response:
    return json_response((await _endpoint(request)).to_json())


async def change(request: web.Request) -> web.Response:
    await _endpoint(request)
    body = request[BODY].value  # a valid EndpointChange
    events = _events(request, body) if "events" in body else None
    url = await _checked_url(request, body["url"]) if "url" in body else None
    async with request.config_dict[ENGINE].begin() as conn:
        changed = await endpoints.update_endpoint(
            conn,
            request.match_info["endpoint_id"],
            actor=_actor(request),
            url=url,
            events=events,
            enabled=body.get("enabled"),
        )
    if changed is None:
        raise not_found("webhook endpoint")
    request.config_dict[DISPATCHER].wake()
    return json_response(changed.to_json())


async def remove(request: web.Request) -> web.Response:
    await _endpoint(request)
    async with request.config_dict[ENGINE].begin() as conn:
        gone = await endpoints.delete_endpoint(
            conn, request.match_info["endpoint_id"], actor=_actor(request)
        )
    if not gone:
        raise not_found("webhook endpoint")
    return web.Response(status=204)


async def rotate(request: web.Request) -> web.Response:
    await _endpoint(request)
    window = timedelta(hours=request.config_dict[CONFIG].webhooks.rotation_window_hours)
    async with request.config_dict[ENGINE].begin() as conn:
        rotated = await endpoints.rotate_secret(
            conn, request.match_info["endpoint_id"], window, actor=_actor(request)
        )
    if rotated is None:
        raise not_found("webhook endpoint")
    return json_response(rotated.to_json(with_secret=True))


async def log(request: web.Request) -> web.Response:
    endpoint = await _endpoint(request)
    query = request[QUERY]
    before = None if query["cursor"] is None else int(query["cursor"])
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        items, last = await page_deliveries(
            conn, endpoint.id, status=query["status"], before_id=before, limit=query["limit"]
        )
    return page(items, last)


def _delivery_id(request: web.Request) -> int:
    raw = request.match_info["delivery_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("delivery")
    return int(raw)


async def again(request: web.Request) -> web.Response:
    endpoint = await _endpoint(request)
    delivery_id = _delivery_id(request)
    async with request.config_dict[ENGINE].begin() as conn:
        if not await redeliver(conn, endpoint, delivery_id):
            raise not_found("delivery")
        found = await get_delivery(conn, endpoint.id, delivery_id)
    request.config_dict[DISPATCHER].wake()
    return json_response(found, status=202)


async def replay_events(request: web.Request) -> web.Response:
    endpoint = await _endpoint(request)
    body = request[BODY].value  # a valid Replay
    if ("since" in body) == ("event_id" in body):
        raise bad_parameter("since", "give exactly one of since and event_id")
    since = None
    if "since" in body:
        try:
            since = datetime.fromisoformat(body["since"])
        except (TypeError, ValueError):
            raise bad_parameter("since", "expected an ISO 8601 instant") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    async with request.config_dict[ENGINE].begin() as conn:
        queued = await replay(
            conn,
            endpoint,
            request[API_KEY].scopes,
            since=since,
            event_id=body.get("event_id"),
        )
    request.config_dict[DISPATCHER].wake()
    return json_response({"queued": queued}, status=202)


DELIVERY_STATUS = QueryParam(
    "status",
    "enum",
    "Only deliveries in this state.",
    ("pending", "delivered", "failed", "disabled"),
)
TAGS = ("webhooks",)
ROUTES = (
    Route(
        "GET",
        "/webhooks",
        index,
        SCOPE,
        "Every endpoint",
        {200: ("endpoints", "EndpointList")},
        tags=TAGS,
    ),
    Route(
        "POST",
        "/webhooks",
        create,
        SCOPE,
        "Register an endpoint; the answer carries its whsec_ secret",
        {201: ("the endpoint, with its secret", "Endpoint")},
        body=_body_schema("NewEndpoint"),
        tags=TAGS,
    ),
    Route(
        "GET",
        "/webhooks/{endpoint_id}",
        show,
        SCOPE,
        "One endpoint",
        {200: ("the endpoint", "Endpoint")},
        tags=TAGS,
    ),
    Route(
        "PATCH",
        "/webhooks/{endpoint_id}",
        change,
        SCOPE,
        "Change the URL or events, or enable/disable (enabling sends what was set aside)",
        {200: ("the endpoint", "Endpoint")},
        body=_body_schema("EndpointChange"),
        tags=TAGS,
    ),
    Route(
        "DELETE",
        "/webhooks/{endpoint_id}",
        remove,
        SCOPE,
        "Delete an endpoint and its delivery log",
        {204: ("deleted", None)},
        tags=TAGS,
    ),
    Route(
        "POST",
        "/webhooks/{endpoint_id}/rotate",
        rotate,
        SCOPE,
        "New secret; the old one also signs until rotation_ends_at",
        {200: ("the endpoint, with its new secret", "Endpoint")},
        tags=TAGS,
    ),
    Route(
        "GET",
        "/webhooks/{endpoint_id}/deliveries",
        log,
        SCOPE,
        "The delivery log, newest first, each delivery with its attempts",
        {200: ("a page of deliveries", "DeliveryPage")},
        query=(DELIVERY_STATUS, CURSOR, LIMIT),
        tags=TAGS,
    ),
    Route(
        "POST",
        "/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
        again,
        SCOPE,
        "Send one delivery again now, with a fresh retry schedule",
        {202: ("queued", "Delivery")},
        tags=TAGS,
    ),
    Route(
        "POST",
        "/webhooks/{endpoint_id}/replay",
        replay_events,
        SCOPE,
        "Queue one event again, or every event since an instant that did not arrive",
        {202: ("how many deliveries were queued", "Replayed")},
        body=_body_schema("Replay"),
        tags=TAGS,
    ),
)
