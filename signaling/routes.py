"""Wiring into the aiohttp application: the ``/ws`` route and the analysis pool's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from aiohttp import web

from service.config import IceConfig
from service.push.routes import PUSHER
from service.record_writer import RecordWriter
from service.state import CONFIG, ENGINE, FACE_KEY, LINK_SECRET, SIGNING_KEY
from signaling.analysis import AnalyzerPool
from signaling.bus import bus_for
from signaling.server import HUB, Hub, websocket
from signaling.session import CallSettings
from vision.config import DEFAULT_CONFIG


def browser_ice_servers(ice: IceConfig) -> list[dict[str, Any]]:
    """``RTCConfiguration.iceServers`` for the pages."""
    servers: list[dict[str, Any]] = []
    if ice.stun_urls:
        servers.append({"urls": list(ice.stun_urls)})
    if ice.turn_url:
        servers.append(
            {
                "urls": [ice.turn_url],
                "username": ice.turn_username,
                "credential": ice.turn_credential,
            }
        )
    return servers


async def _hub(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    vision = replace(DEFAULT_CONFIG, sample_interval_s=config.calls.sample_interval_s)
    pool = AnalyzerPool(config.calls.analysis_threads, config.calls.max_analysis_calls, vision)
    # Load the models before serving: building them holds the GIL, so doing it in the
    # background would stall the event loop of a server already taking calls.
    await pool.warm()
    settings = CallSettings(
        sample_interval_s=config.calls.sample_interval_s,
        min_camera_on=config.calls.min_camera_on_fraction,
        max_gap_s=config.calls.camera_gap_s,
    )
    hub = Hub(
        engine=app[ENGINE],
        secret=app[LINK_SECRET],
        writer=RecordWriter(app[ENGINE], app[SIGNING_KEY]),
        settings=settings,
        pool=pool,
        ice_servers_json=browser_ice_servers(config.ice),
        join_timeout_s=config.calls.join_timeout_s,
        link_check_s=config.calls.link_check_s,
        heartbeat_s=config.calls.heartbeat_s,
        rejoin_grace_s=config.calls.rejoin_grace_s,
        ring_timeout_s=config.calls.ring_timeout_s,
        pusher=app.get(PUSHER),
        face_key=app.get(FACE_KEY),  # none in apps without enrolled faces (tests)
        bus=bus_for(config.redis.url, config.redis.prefix),
    )
    await hub.bus.start(hub.from_bus)
    hub.start()
    app[HUB] = hub
    yield
    await hub.close()
    await hub.writer.close()
    pool.close()


async def _stop_calls(app: web.Application) -> None:
    """On shutdown, stop the calls before their sockets are closed: the server cut
    them short, so they must not end as pages that went away."""
    await app[HUB].close()


def setup(app: web.Application) -> None:
    """Call after the store's cleanup context: the hub needs the engine."""
    app.router.add_get("/ws", websocket)
    app.cleanup_ctx.append(_hub)
    app.on_shutdown.append(_stop_calls)
