"""Liveness and readiness probes for orchestrators and the Docker healthcheck."""

from __future__ import annotations

from aiohttp import web

from service.state import ENGINE
from service.store import readiness


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = await readiness(request.app[ENGINE])
    body = {
        "status": "ready" if state.ok else "not ready",
        "database": state.error or "ok",
        "migration": state.current,
        "head": state.head,
    }
    return web.json_response(body, status=200 if state.ok else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
