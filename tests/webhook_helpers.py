"""A real HTTP receiver for webhook tests, and the signature checks it applies."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from service.apikeys import create_key
from service.outbox import enqueue
from service.schema import deliveries
from service.webhooks.dispatcher import Dispatcher, DispatcherSettings
from service.webhooks.endpoints import Endpoint, create_endpoint
from service.webhooks.retry import RetrySchedule
from tests.cli_helpers import free_port

FAST = RetrySchedule((0.0, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1), jitter=0.0)


def fast_settings(**overrides: Any) -> DispatcherSettings:
    values: dict[str, Any] = {
        "schedule": FAST,
        "timeout_s": 2.0,
        "concurrency": 16,
        "lease_s": 30.0,
        "poll_interval_s": 0.02,
        "allow_private": True,
    }
    return DispatcherSettings(**(values | overrides))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    status: int | None = None  # the status answered; None while the answer is being made

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


Behaviour = Callable[["Receiver", web.Request], Awaitable[web.StreamResponse]]


async def accept(receiver: Receiver, request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 that records every request before answering."""

    behaviour: Behaviour = accept
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(dict(request.headers), body=await request.read(), path=request.path)
        self.received.append(received)
        try:
            response = await self.behaviour(self, request)
        except web.HTTPException as exc:  # raised as the answer (e.g. a redirect)
            received.status = exc.status
            raise
        received.status = response.status
        return response

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def ids(self) -> set[str]:
        return {r.id for r in self.received if r.path == "/hook"}

    def accepted(self, checks: Collection[str] | None = None) -> Counter[str]:
        """How many times each event id was answered 2xx (of the events about ``checks``
        only, when given)."""
        received = self.received if checks is None else self.about(checks)
        return Counter(r.id for r in received if r.status and 200 <= r.status < 300)

    def about(self, checks: Collection[str]) -> list[Received]:
        """The events received about ``checks`` (the jobs make checks of their own)."""
        return [
            r
            for r in self.received
            if r.path == "/hook" and json.loads(r.body)["data"].get("check_id") in checks
        ]

    def in_progress(self) -> int:
        """Requests being answered now."""
        return sum(r.status is None for r in self.received)


def verify_both(received: Received, secrets: list[str], key: Ed25519PrivateKey) -> dict[str, Any]:
    """v1 with the standardwebhooks package (each secret), v1a with cryptography."""
    for secret in secrets:
        Webhook(secret).verify(received.body, received.headers)
    stamp = received.headers["webhook-timestamp"]
    content = f"{received.id}.{stamp}.".encode() + received.body
    entries = [e.split(",", 1) for e in received.headers["webhook-signature"].split(" ")]
    (v1a,) = [sig for version, sig in entries if version == "v1a"]
    key.public_key().verify(base64.b64decode(v1a), content)  # raises InvalidSignature
    event: dict[str, Any] = json.loads(received.body)
    return event


async def endpoint_for(
    engine: AsyncEngine,
    url: str,
    events: list[str] | None = None,
    scopes: tuple[str, ...] = ("records:read",),
) -> Endpoint:
    """An endpoint owned by a new API key holding ``scopes``."""
    async with engine.begin() as conn:
        _, owner = await create_key(conn, "test", scopes, actor="test")
        return await create_endpoint(
            conn, url, events or ["check.completed"], owner_key_id=owner.id, actor="test"
        )


async def enqueue_many(
    engine: AsyncEngine, n: int, event_type: str = "check.completed"
) -> list[str]:
    async with engine.begin() as conn:
        return [await enqueue(conn, event_type, {"n": i}) for i in range(n)]


async def statuses(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.status))).scalars()
        out: dict[str, int] = {}
        for s in rows:
            out[s] = out.get(s, 0) + 1
        return out


async def wait_until(predicate: Callable[[], Awaitable[bool]], within: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Running:
    """A dispatcher running in the background for the length of a ``with`` block."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Dispatcher:
        self.task = asyncio.create_task(self.dispatcher.run())
        return self.dispatcher

    async def __aexit__(self, *exc: object) -> None:
        self.dispatcher.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 20)
