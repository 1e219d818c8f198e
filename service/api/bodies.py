"""Request bodies: read within the route's size limit, parsed, and checked against the
schema the route declares for the OpenAPI document, before the handler runs.

The declaration (``Route.body``, ``Route.max_body``) is the only statement of what a
route accepts: hostile input (deep nesting, lone surrogates, wrong types, unknown
fields, too many bytes) is refused here with a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from service.api.routes import ApiError, Route, bad_parameter
from service.api.schemas import SCHEMAS
from service.validation import Schema

JSON = "application/json"


@dataclass(frozen=True)
class Body:
    """What the handler gets: the raw text (for parsers that name lines) and, for JSON,
    the parsed value, already valid against its schema; for an image, its bytes."""

    media_type: str
    text: str
    value: Any = None


BODY = web.RequestKey("body", Body)


def compile_schemas(routes: Sequence[Route]) -> dict[tuple[str, str], Schema]:
    """A compiled JSON schema per route (method, path) that takes a JSON body."""
    out = {}
    for route in routes:
        declared = (route.body or {}).get(JSON)
        if declared is not None:
            out[route.method, route.path] = Schema(declared["schema"], SCHEMAS)
    return out


async def _read(request: web.Request, limit: int) -> bytes:
    too_large = ApiError(413, "too_large", f"the body is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


def _parse_json(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiError(400, "bad_request", "the body is not valid JSON") from None
    except RecursionError:
        raise ApiError(400, "bad_request", "the body is nested too deeply") from None
    try:
        # RFC 7493 (I-JSON): no lone surrogates; no database could store one either.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "bad_request", "the body holds a lone surrogate (\\ud800…)") from None
    return value


async def read_body(route: Route, request: web.Request, schema: Schema | None) -> Body:
    """The body of a route that declares one, or a 4xx saying what is wrong with it."""
    content: Mapping[str, Any] = route.body or {}
    if request.content_type not in content:
        raise ApiError(415, "unsupported_media_type", f"send the body as {' or '.join(content)}")
    raw = await _read(request, route.max_body)
    if request.content_type.startswith("image/"):
        return Body(request.content_type, "", raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "the body is not UTF-8 text") from None
    if request.content_type != JSON or schema is None:
        return Body(request.content_type, text)
    value = _parse_json(text)
    try:
        problem = next(schema.problems(value), None)
    except RecursionError:
        raise ApiError(400, "bad_request", "the body is nested too deeply") from None
    if problem is not None:
        raise bad_parameter(problem.field, problem.message)
    return Body(JSON, text, value)
