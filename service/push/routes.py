"""The staff page's push endpoints and the sender's lifetime.

``GET /push/key`` gives the VAPID public key; ``PUT /push/subscription`` saves or
refreshes the browser's subscription; ``DELETE /push/subscription`` forgets it. Like
``/api/v1/me``, they take the page's own link token (``Authorization: Link <token>``),
here a staff member's only. Errors are ``{"error": {"code", "message"}}`` with a 4xx.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from service.clock import utcnow
from service.keys import load_or_create_vapid_key
from service.links import check_token
from service.org import find_person
from service.push.keys import VapidKey
from service.push.sender import Pusher, PushSettings
from service.push.subscriptions import (
    SubscriptionError,
    delete_subscription,
    parse_endpoint,
    parse_subscription,
    save_subscription,
)
from service.state import CONFIG, ENGINE, LINK_SECRET
from service.store import read_only
from service.tokens import LinkClaims, TokenError

PUSHER = web.AppKey("pusher", Pusher)
log = logging.getLogger("hadir.push")
MAX_BODY = 8 * 1024


class PushApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _staff_link(request: web.Request) -> LinkClaims:
    given, _, token = request.headers.get("Authorization", "").partition(" ")
    if given.lower() != "link" or not token.strip():
        raise PushApiError(401, "unauthorized", "send Authorization: Link <token>")
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        try:
            claims = await check_token(conn, request.config_dict[LINK_SECRET], token.strip())
        except TokenError as exc:
            raise PushApiError(401, "unauthorized", f"link token: {exc}") from None
        if claims.role != "staff":
            raise PushApiError(403, "forbidden", "only a staff member's link subscribes")
        if await find_person(conn, "staff", claims.subject) is None:
            raise PushApiError(401, "unauthorized", "no longer on the roster")
    return claims


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise PushApiError(415, "unsupported_media_type", "send the body as application/json")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PushApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    data = await request.content.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise PushApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise PushApiError(400, "bad_request", "the body is not valid JSON") from None


def _pusher(request: web.Request) -> Pusher:
    pusher = request.config_dict.get(PUSHER)
    if pusher is None:
        raise PushApiError(404, "push_off", "push notifications are off on this server")
    return pusher


async def public_key(request: web.Request) -> web.Response:
    pusher = _pusher(request)
    await _staff_link(request)
    return web.json_response({"public_key": pusher.key.public_b64})


async def save(request: web.Request) -> web.Response:
    pusher = _pusher(request)
    claims = await _staff_link(request)
    try:
        sub = await parse_subscription(
            await _json_body(request),
            allow_insecure_loopback=pusher.settings.allow_insecure_loopback,
        )
    except SubscriptionError as exc:
        raise PushApiError(400, "bad_parameter", str(exc)) from None
    async with request.config_dict[ENGINE].begin() as conn:
        new = await save_subscription(
            conn,
            claims.subject,
            claims.jti,
            sub,
            request.headers.get("User-Agent", ""),
            utcnow(),
        )
    return web.json_response({"saved": True, "new": new}, status=201 if new else 200)


async def forget(request: web.Request) -> web.Response:
    _pusher(request)
    claims = await _staff_link(request)
    try:
        endpoint = parse_endpoint(await _json_body(request))
    except SubscriptionError as exc:
        raise PushApiError(400, "bad_parameter", str(exc)) from None
    async with request.config_dict[ENGINE].begin() as conn:
        if not await delete_subscription(conn, endpoint, claims.subject):
            raise PushApiError(404, "not_found", "no such subscription of yours")
    return web.Response(status=204)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except PushApiError as exc:
        response = _error(exc.status, exc.code, str(exc))
    response.headers["Cache-Control"] = "no-store"
    return response


def vapid_subject(configured: str, public_url: str) -> str:
    """Who push services may contact: ``push.subject``, else the public URL if it is
    a bare https origin without a port (what push services accept), else a placeholder."""
    if configured:
        return configured
    if re.fullmatch(r"https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}", public_url):
        return public_url
    log.warning("push.subject is not set and server.public_url cannot stand for it")
    return "mailto:admin@localhost"


async def _sender(app: web.Application) -> AsyncIterator[None]:
    """The pusher, if push is on; needs the store (after its cleanup context)."""
    config = app[CONFIG]
    if not config.push.enabled:
        yield
        return
    settings = PushSettings(
        subject=vapid_subject(config.push.subject, config.public_url),
        ring_ttl_s=config.push.ring_ttl_s,
        timeout_s=config.push.timeout_s,
        allow_insecure_loopback=config.push.allow_insecure_loopback,
    )
    key = VapidKey(load_or_create_vapid_key(config.data_dir))
    pusher = Pusher(app[ENGINE], app[LINK_SECRET], key, config.public_url, settings)
    app[PUSHER] = pusher
    yield
    await pusher.close()


def setup(app: web.Application) -> None:
    """Call after the store's cleanup context and before the jobs' and the hub's."""
    push = web.Application(middlewares=[_errors])
    push.router.add_get("/key", public_key)
    push.router.add_put("/subscription", save)
    push.router.add_delete("/subscription", forget)
    app.add_subapp("/push", push)
    app.cleanup_ctx.append(_sender)
