"""The REST API under ``/api/v1``: a sub-application whose routes and OpenAPI document
are built from the same declarations (``service.api.routes.Route``).

List reads (``Route.bulk``) take turns for ``server.bulk_reads`` slots: building a page
of 500 records is CPU work on the event loop, and fifty of them at once would make
every write wait behind all of them at each of its steps. A list read takes its turn
before anything else, its API key check included, so the readers waiting for a slot
hold no database connection: when each of fifty readers checked its key first, they
kept the pool busy and a review waited for a connection at each of its transactions
(docs/performance.md, "Reads beside writes").
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from service.api import faces, keys, links, me, openapi, records, roster, webhooks
from service.api.auth import authorize
from service.api.bodies import BODY, compile_schemas, read_body
from service.api.encoded_records import ENCODED, EncodedRecords
from service.api.routes import QUERY, ApiError, Handler, Route, check_path, parse_query
from service.state import CONFIG
from service.validation import Schema

PREFIX = "/api/v1"
ROUTES: tuple[Route, ...] = (
    *records.ROUTES,
    *me.ROUTES,
    *faces.ROUTES,
    *webhooks.ROUTES,
    *roster.ROUTES,
    *links.ROUTES,
    *keys.ROUTES,
    *openapi.ROUTES,
)
# The application's own limit; each route refuses more than its ``max_body``.
MAX_BODY_BYTES = max(route.max_body for route in ROUTES)
BULK_SLOTS = web.AppKey("bulk_slots", asyncio.Semaphore)
log = logging.getLogger("hadir.api")


def _bind(route: Route, schema: Schema | None) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        await authorize(route, request)
        check_path(route, request)
        request[QUERY] = parse_query(route, request)
        if route.body is not None:
            request[BODY] = await read_body(route, request, schema)
        return await route.handler(request)

    async def handle(request: web.Request) -> web.StreamResponse:
        if not route.bulk:
            return await serve(request)
        async with request.config_dict[BULK_SLOTS]:  # the key check too: see the docstring
            return await serve(request)

    return handle


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as ``{"error": {"code", "message"}}``, 404s and 405s included."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = _error(exc.status, code, exc.text or exc.reason)
        if "Allow" in exc.headers:  # a 405 says what is allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("api handler failed", extra={"fields": {"path": request.path}})
        return _error(500, "internal", "internal error")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def setup(app: web.Application) -> None:
    api = web.Application(middlewares=[_errors], client_max_size=MAX_BODY_BYTES)
    schemas = compile_schemas(ROUTES)
    for route in ROUTES:
        api.router.add_route(
            route.method, route.path, _bind(route, schemas.get((route.method, route.path)))
        )
    api[openapi.DOCUMENT] = openapi.document(ROUTES, PREFIX)
    app[BULK_SLOTS] = asyncio.Semaphore(app[CONFIG].server.bulk_reads)
    api[ENCODED] = EncodedRecords()
    app.add_subapp(PREFIX, api)
