"""Who is calling: an API key (``Authorization: Bearer …``) or a personal link token
(``Authorization: Link …``, the token of the ``/staff/…`` and ``/supervisor/…`` pages).
"""

from __future__ import annotations

from aiohttp import web

from service.api.routes import ApiError, Route
from service.apikeys import ApiKey, authenticate
from service.links import check_token
from service.state import ENGINE, LINK_SECRET
from service.store import read_only
from service.tokens import LinkClaims, TokenError

API_KEY = web.RequestKey("api_key", ApiKey)
LINK = web.RequestKey("link", LinkClaims)


def _credential(request: web.Request, scheme: str) -> str:
    header = request.headers.get("Authorization", "")
    given, _, value = header.partition(" ")
    if given.lower() != scheme.lower() or not value.strip():
        raise ApiError(401, "unauthorized", f"send Authorization: {scheme} <credential>")
    return value.strip()


async def authorize(route: Route, request: web.Request) -> None:
    """Refuse with 401 (no or bad credential) or 403 (a key without the route's scope)."""
    if route.auth is None:
        return
    engine = request.config_dict[ENGINE]
    if route.auth == "link":
        token = _credential(request, "Link")
        async with read_only(engine).connect() as conn:
            try:
                request[LINK] = await check_token(conn, request.config_dict[LINK_SECRET], token)
            except TokenError as exc:
                raise ApiError(401, "unauthorized", f"link token: {exc}") from None
        return
    request[API_KEY] = await api_key_with(request, route.auth)


async def api_key_with(request: web.Request, scope: str) -> ApiKey:
    """The request's API key, if it holds ``scope``; else 401 or 403 as ``authorize``."""
    key = _credential(request, "Bearer")
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        found = await authenticate(conn, key)
    if found is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    if not found.allows(scope):
        raise ApiError(403, "forbidden", f"this key lacks the scope {scope}")
    return found
