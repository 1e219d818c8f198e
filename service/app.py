"""The aiohttp application: shared state, the store's lifetime, and the routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from service import api, metrics
from service.api.auth import api_key_with
from service.api.routes import ApiError
from service.checks import JoinLinks
from service.config import Config
from service.enrolment import load_face_key
from service.jobs import Scheduler, scheduler_jobs
from service.keys import LINK_SECRET_FILE, load_or_create_secret, load_or_create_signing_key
from service.push import routes as push
from service.state import CONFIG, DISPATCHER, ENGINE, FACE_KEY, LINK_SECRET, SIGNING_KEY
from service.store import create_engine, migrate
from service.web import app_shell, health, pages
from service.webhooks.dispatcher import Dispatcher, DispatcherSettings
from signaling import routes as signaling

log = logging.getLogger("hadir.app")


async def _store(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    engine = create_engine(config.database_url)
    await migrate(engine)
    app[ENGINE] = engine
    log.info("store ready", extra={"fields": {"dialect": engine.dialect.name}})
    yield
    await engine.dispose()


async def _webhook_dispatcher(app: web.Application) -> AsyncIterator[None]:
    """Deliver the outbox in the background; on shutdown finish or release what is held."""
    config = app[CONFIG]
    dispatcher = Dispatcher(
        app[ENGINE], app[SIGNING_KEY], DispatcherSettings.from_config(config.webhooks)
    )
    app[DISPATCHER] = dispatcher
    task = asyncio.create_task(dispatcher.run()) if config.webhooks.dispatcher else None
    yield
    if task is not None:
        dispatcher.stop(grace_s=config.server.shutdown_timeout_s)
        await task


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    """Make checks, close missed ones and purge evidence in the background."""
    config = app[CONFIG]
    scheduler = None
    if config.jobs.enabled:
        links = JoinLinks(app[LINK_SECRET], config.public_url)
        jobs = scheduler_jobs(
            app[ENGINE],
            app[SIGNING_KEY],
            links,
            config.jobs,
            call_lease=timedelta(seconds=config.calls.lease_s),
            pusher=app.get(push.PUSHER),
            push=config.push,
        )
        scheduler = Scheduler(jobs, grace_s=config.server.shutdown_timeout_s)
    yield
    if scheduler is not None:
        await scheduler.stop()


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    # Links carry tokens in their path: never leak them through Referer.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


async def _metrics(request: web.Request) -> web.Response:
    """Prometheus' scrape (docs/metrics.md), for an API key with ``metrics:read``."""
    try:
        await api_key_with(request, metrics.SCOPE)
    except ApiError as exc:  # the API's error shape, though /metrics is outside it
        error = {"code": exc.code, "message": exc.message}
        return web.json_response({"error": error}, status=exc.status)
    body = await metrics.render(request.app[ENGINE])
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


def create_app(config: Config) -> web.Application:
    app = web.Application(middlewares=[_security_headers], client_max_size=api.MAX_BODY_BYTES)
    app[CONFIG] = config
    app[LINK_SECRET] = load_or_create_secret(config.data_dir, LINK_SECRET_FILE)
    app[SIGNING_KEY] = load_or_create_signing_key(config.data_dir)
    app[FACE_KEY] = load_face_key(config.data_dir)
    app.cleanup_ctx.append(_store)
    push.setup(app)  # its sender is used by the jobs and the hub
    app.cleanup_ctx.append(_webhook_dispatcher)
    app.cleanup_ctx.append(_jobs)
    health.setup(app)
    pages.setup(app)
    app_shell.setup(app)
    signaling.setup(app)
    api.setup(app)
    app.router.add_get("/metrics", _metrics)
    return app
