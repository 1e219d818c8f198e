"""Declaring an API route once: its handler, who may call it, and its OpenAPI operation.

The router and the OpenAPI document are both built from these declarations, so a
route cannot exist undocumented, its query parameters are parsed by the same
``QueryParam`` values that describe them, and its body is checked against the same
schema the document shows (``service.api.bodies``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web

from service.validation import CONTROL_OR_SURROGATE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The largest body a route takes unless it declares its own (``Route.max_body``).
MAX_BODY_BYTES = 1024 * 1024
QUERY = web.RequestKey("query", dict)
# A string parameter: no control characters (a NUL would reach PostgreSQL's query).
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"
PATH_PARAM = re.compile(r"\{(\w+)\}")


class ApiError(Exception):
    """Becomes the JSON body ``{"error": {"code", "message"}}`` with this status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, "bad_parameter", f"{name}: {message}")


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


@dataclass(frozen=True)
class QueryParam:
    """One query parameter: its OpenAPI schema and its parser are the same value."""

    name: str
    kind: str  # string | date | integer | enum
    description: str
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # of a string
    minimum: int = 1
    maximum: int = 1000
    default: int | None = None

    def schema(self) -> dict[str, Any]:
        if self.kind == "date":
            return {"type": "string", "format": "date"}
        if self.kind == "integer":
            out: dict[str, Any] = {
                "type": "integer",
                "minimum": self.minimum,
                "maximum": self.maximum,
            }
            return out | ({"default": self.default} if self.default is not None else {})
        if self.kind == "enum":
            return {"type": "string", "enum": list(self.choices)}
        if self.pattern is not None:
            return {"type": "string", "pattern": self.pattern}
        return {"type": "string", "minLength": 1, "maxLength": 200, "pattern": PLAIN_TEXT}

    def parse(self, raw: str) -> Any:
        if self.kind == "date":
            try:
                return date.fromisoformat(raw)
            except ValueError:
                raise bad_parameter(self.name, f"expected a date YYYY-MM-DD, got {raw!r}") from None
        if self.kind == "integer":
            if not re.fullmatch(r"-?\d{1,9}", raw) or not (
                self.minimum <= int(raw) <= self.maximum
            ):
                raise bad_parameter(
                    self.name, f"expected an integer {self.minimum}..{self.maximum}, got {raw!r}"
                )
            return int(raw)
        if self.kind == "enum" and raw not in self.choices:
            raise bad_parameter(self.name, f"expected one of {', '.join(self.choices)}")
        if self.pattern is not None:
            if not re.search(self.pattern, raw):
                raise bad_parameter(self.name, "not a cursor this API returned")
            return raw
        if not 1 <= len(raw) <= 200:
            raise bad_parameter(self.name, "expected 1 to 200 characters")
        if not re.search(PLAIN_TEXT, raw):
            raise bad_parameter(self.name, "holds a control character")
        return raw


LIMIT = QueryParam("limit", "integer", "Page size.", minimum=1, maximum=500, default=100)
# Cursors are positions, not secrets: a seq, or a due time (µs) and an id.
CURSOR = QueryParam(
    "cursor", "string", "The `next_cursor` of the previous page.", pattern=r"^[0-9]{1,18}$"
)


@dataclass(frozen=True)
class Route:
    """``auth`` is a scope (API key with it), ``"link"`` (a personal link token) or None."""

    method: str
    path: str  # below /api/v1, OpenAPI style: /records/{record_id}
    handler: Handler
    auth: str | None
    summary: str
    responses: Mapping[int, tuple[str, str | None]]  # status → (description, schema name)
    query: tuple[QueryParam, ...] = ()
    body: Mapping[str, Any] | None = None  # requestBody content, by media type
    max_body: int = MAX_BODY_BYTES  # bytes; more is refused with 413
    content_type: str = "application/json"  # of the success response
    tags: tuple[str, ...] = field(default_factory=tuple)
    idempotent: bool = False  # takes an Idempotency-Key header (service.api.idempotency)
    bulk: bool = False  # a list read: waits for one of ``server.bulk_reads`` slots

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)


def check_path(route: Route, request: web.Request) -> None:
    """An id in the path with a control character names nothing (and PostgreSQL would
    refuse a NUL in the query that looks it up)."""
    for name in route.path_params:
        if CONTROL_OR_SURROGATE.search(request.match_info[name]):
            raise not_found(name.removesuffix("_id").replace("_", " "))


def parse_query(route: Route, request: web.Request) -> dict[str, Any]:
    """Every declared parameter (parsed or its default); unknown ones are refused."""
    known = {p.name: p for p in route.query}
    for name in request.query:
        if name not in known:
            raise bad_parameter(name, "unknown parameter")
    values: dict[str, Any] = {}
    for param in route.query:
        given = request.query.getall(param.name, [])
        if len(given) > 1:
            raise bad_parameter(param.name, "given more than once")
        values[param.name] = param.parse(given[0]) if given else param.default
    return values


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=compact_json)


def page(items: list[dict[str, Any]], last: object) -> web.Response:
    """A page of ``items`` and the cursor of the next one (null at the end)."""
    return json_response({"data": items, "next_cursor": None if last is None else str(last)})


def compact_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
