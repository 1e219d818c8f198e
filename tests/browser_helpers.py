"""The service on a real port with a real webhook receiver, and Debian's Chromium for it.

The service runs in the test's event loop (``create_app`` on 127.0.0.1, plain HTTP:
127.0.0.1 is a secure context, so the camera opens). Each participant gets a browser
of its own because Chromium takes one fake camera file per process; the staff
browser's camera is a fixture ``.y4m``, the supervisor's Chromium's own test pattern.
Screenshots go to ``test-artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.async_api import Browser, Page, Playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from service.app import create_app
from service.config import load_config
from service.records import Record, get_record
from service.state import ENGINE, LINK_SECRET, SIGNING_KEY
from tests.call_helpers import HOME, Links, seed_org
from tests.cli_helpers import free_port
from tests.webhook_helpers import Receiver, endpoint_for, wait_until

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
EVENTS = ["check.completed", "check.missed", "record.reviewed"]


@dataclass
class Service:
    base_url: str
    engine: AsyncEngine
    key: Ed25519PrivateKey
    secret: bytes
    links: Links
    receiver: Receiver
    endpoint_secret: str


@asynccontextmanager
async def running_service(
    tmp_path: Path,
    calls: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Service]:
    """``calls``: settings of the ``[calls]`` section for this test (a short ring);
    ``overrides``: other sections added (e.g. ``push``) or replaced whole."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    config = load_config(
        env={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "data")},
            "server": {"http": True, "host": "127.0.0.1", "port": port, "public_url": base_url},
            "webhooks": {"allow_private_addresses": True, "poll_interval_s": 0.1},
            # The service's own jobs close unanswered checks, as in production.
            "jobs": {"sweep_interval_s": 0.5},
            "log": {"format": "text"},
            "calls": calls or {},
            **(overrides or {}),
        },
    )
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver = await Receiver().start()
    try:
        engine = app[ENGINE]
        links = await seed_org(engine, tmp_path, app[LINK_SECRET], base_url)
        endpoint = await endpoint_for(engine, receiver.url, EVENTS)
        yield Service(
            base_url, engine, app[SIGNING_KEY], app[LINK_SECRET], links, receiver, endpoint.secret
        )
    finally:
        await runner.cleanup()
        await receiver.stop()


async def launch(pw: Playwright, camera: Path | None = None) -> Browser:
    args = [*FLAGS]
    if camera is not None:
        args.append(f"--use-file-for-fake-video-capture={camera}")
    return await pw.chromium.launch(executable_path=CHROMIUM, args=args)


async def supervisor_page(browser: Browser) -> Page:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    return await context.new_page()


async def staff_page(browser: Browser, *, at_home: bool = True) -> Page:
    """A phone-sized page; its position is the registered home unless told otherwise."""
    lat, lon = HOME if at_home else (HOME[0] + 0.05, HOME[1])
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": lat, "longitude": lon, "accuracy": 15},
        permissions=["camera", "microphone", "geolocation"],
    )
    return await context.new_page()


async def participants(pw: Playwright, camera: Path, *, at_home: bool = True) -> tuple[Page, Page]:
    """The supervisor's desktop page and the staff member's phone page, whose camera
    plays ``camera``."""
    return (
        await supervisor_page(await launch(pw)),
        await staff_page(await launch(pw, camera), at_home=at_home),
    )


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def indicator_states(page: Page) -> dict[str, str]:
    """The indicators the page shows (``liveness`` is there hidden until a challenge)."""
    states: dict[str, str] = await page.eval_on_selector_all(
        "[data-indicator]:not([hidden])",
        "items => Object.fromEntries(items.map(i => [i.dataset.indicator, i.dataset.state]))",
    )
    return states


async def wait_for_state(
    page: Page, selector: str, attribute: str, wanted: set[str], within_s: float
) -> str:
    """Poll an element's ``data-*`` attribute until it takes one of ``wanted``."""
    deadline = asyncio.get_running_loop().time() + within_s
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await page.get_attribute(selector, attribute)
        if value in wanted:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{selector} [{attribute}] stayed {value!r}, wanted one of {wanted}")


async def playing(page: Page, video: str) -> bool:
    """True once the ``data-video`` element shows frames (the call connected)."""
    result: Any = await page.eval_on_selector(
        f'[data-video="{video}"]', "v => v.readyState >= 2 && v.videoWidth > 0"
    )
    return bool(result)


def payloads(service: Service, check: str) -> list[dict[str, Any]]:
    """The events about one check the receiver got."""
    return [json.loads(r.body) for r in service.receiver.about({check})]


async def webhooks(
    service: Service, check: str, count: int, within_s: float = 20
) -> list[dict[str, Any]]:
    """The events about ``check`` delivered to the receiver, once there are ``count``."""

    async def enough() -> bool:
        return len(payloads(service, check)) >= count

    await wait_until(enough, within=within_s)
    return payloads(service, check)


async def hang_up(service: Service, by: Page, sup: Page) -> Record:
    """Hang up from ``by``; the supervisor's page then offers the call's record for review."""
    await by.click('[data-action="hangup"]')
    await sup.wait_for_selector("form[data-review]:not([data-review=''])", timeout=15_000)
    record_id = await sup.get_attribute("form[data-review]", "data-review")
    async with service.engine.connect() as conn:
        record = await get_record(conn, str(record_id))
    assert record is not None
    return record
