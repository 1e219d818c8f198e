"""The OpenAPI 3.1 document, assembled from the route declarations and served as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from aiohttp import web

from service.api.routes import Route
from service.api.schemas import SCHEMAS
from service.apikeys import SCOPES

DOCUMENT = web.AppKey("openapi", dict)
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def document(routes: Sequence[Route], prefix: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hadir API",
            "version": version("hadir"),
            "description": "Verification records, checks, webhooks and the roster. "
            'Errors are JSON: {"error": {"code", "message"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": f"An API key with a scope: {', '.join(SCOPES)} "
                    "(admin holds all); `hadir apikey create --scope …`.",
                },
                "link": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Link <token>`: the token of a personal staff or "
                    "supervisor link.",
                },
            },
        },
    }


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retrying with the same key and request answers as the first time and "
    "writes nothing (kept 24 h).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": list(route.tags),
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in route.path_params
        ]
        + [
            {"name": p.name, "in": "query", "description": p.description, "schema": p.schema()}
            for p in route.query
        ]
        + ([IDEMPOTENCY_KEY] if route.idempotent else []),
        "responses": {
            str(status): _response(route, status, description, schema)
            for status, (description, schema) in route.responses.items()
        },
    }
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "description": f"At most {route.max_body} bytes.",
            "content": dict(route.body),
        }
    if route.auth is None:
        op["security"] = []
    elif route.auth == "link":
        op["security"] = [{"link": []}]
    else:
        op["security"] = [{"apiKey": [route.auth]}]
        op["responses"]["403"] = {"description": "the key lacks the scope", "content": ERROR}
    if route.auth is not None:
        op["responses"]["401"] = {"description": "no or bad credential", "content": ERROR}
    if route.query or route.body is not None:
        op["responses"]["400"] = {"description": "a bad parameter, named", "content": ERROR}
    if route.idempotent:
        op["responses"]["422"] = {
            "description": "the Idempotency-Key was used for a different request",
            "content": ERROR,
        }
    if route.path_params:
        op["responses"]["404"] = {"description": "not found", "content": ERROR}
    if route.body is not None:
        op["responses"]["413"] = {"description": "a larger body", "content": ERROR}
        op["responses"]["415"] = {
            "description": "not sent as the documented media type",
            "content": ERROR,
        }
    return op


def _response(route: Route, status: int, description: str, schema: str | None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    if route.content_type != "application/json":
        return {
            "description": description,
            "content": {route.content_type: {"schema": {"type": "string"}}},
        }
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


ROUTES = (
    Route(
        "GET",
        "/openapi.json",
        serve,
        None,
        "This document",
        {200: ("the OpenAPI document", None)},
        tags=("meta",),
    ),
)
