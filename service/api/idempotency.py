"""``Idempotency-Key`` on the API's appending writes (reviews, objections).

Without the header a write runs as usual. With it, the first request's answer is
stored with the write, in its transaction; a retry with the same key and the same
request gets that answer again (``Idempotent-Replayed: true``) and writes nothing; the
same key with a different request is 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.routes import ApiError, bad_parameter, json_response
from service.clock import utcnow
from service.idempotency import MAX_KEY_LEN, claim, find_answer, remember, request_hash, valid_key
from service.state import ENGINE
from service.store import read_only

HEADER = "Idempotency-Key"
Work = Callable[[AsyncConnection], Awaitable[tuple[int, dict[str, Any]]]]


async def once(request: web.Request, actor: str, body: dict[str, Any], work: Work) -> web.Response:
    """Run ``work`` in one transaction, at most once per ``actor`` and key."""
    engine = request.config_dict[ENGINE]
    key = request.headers.get(HEADER)
    if key is None:
        async with engine.begin() as conn:
            status, answer = await work(conn)
        return json_response(answer, status)
    if not valid_key(key):
        raise bad_parameter(HEADER, f"1 to {MAX_KEY_LEN} printable ASCII characters")
    digest = request_hash(request.method, request.path, body)
    try:
        async with engine.begin() as conn:
            found = await find_answer(conn, actor, key)
            if found is None:
                await claim(conn, actor, key, digest, utcnow())
                status, answer = await work(conn)
                await remember(conn, actor, key, status, answer)
                return json_response(answer, status)
    except IntegrityError:  # a twin sent at the same moment committed first
        async with read_only(engine).connect() as conn:
            found = await find_answer(conn, actor, key)
        if found is None:
            raise ApiError(409, "conflict", f"a request with this {HEADER} is under way") from None
    if found.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused", f"{HEADER} was used for a different request")
    response = json_response(found.body, found.status)
    response.headers["Idempotent-Replayed"] = "true"
    return response
