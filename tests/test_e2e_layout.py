"""The pages on phones, in real Chromium with a phone's viewport, pixel ratio and touch:
the supervisor's dashboard in portrait has no horizontal scroll and its start button on
screen; during a real call on a landscape phone the video fits the height and the call's
controls are on screen, on both pages. The same call is then looked at in portrait and on
a desktop (a phone turned, a window resized). One browser and one call for the module.

Screenshots of every case go to the test's tmp dir (and ``test-artifacts/``) to be
looked at: a bounding box inside the viewport says nothing of overlaps or cut text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from tests.browser_helpers import ARTIFACTS, Service, launch, playing, running_service
from tests.call_helpers import HOME, add_checks
from tests.webhook_helpers import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.asyncio(loop_scope="module"),
]


@dataclass(frozen=True)
class Screen:
    """A viewport in CSS pixels; a phone has touch, a mobile viewport and 3 device pixels
    per CSS pixel."""

    name: str
    width: int
    height: int
    phone: bool = True


PORTRAIT = Screen("portrait", 390, 844)
SMALL = Screen("small", 360, 740)
LANDSCAPE = Screen("landscape", 844, 390)
DESKTOP = Screen("desktop", 1280, 800, phone=False)


@dataclass
class Lab:
    service: Service
    browser: Browser
    shots: Path
    open_check: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab(
    tmp_path_factory: pytest.TempPathFactory, media: dict[str, Path]
) -> AsyncIterator[Lab]:
    """The service with a supervisor's day of checks (one over, one open, one later), and
    one Chromium whose fake camera plays the compliant fixture video."""
    tmp = tmp_path_factory.mktemp("layout")
    async with running_service(tmp) as service, async_playwright() as pw:
        windows = [
            ("staff1", timedelta(minutes=-90), timedelta(minutes=-60)),
            ("staff1", timedelta(minutes=-5), timedelta(minutes=10)),
            ("staff1", timedelta(minutes=120), timedelta(minutes=150)),
        ]
        _, open_check, _ = await add_checks(service.engine, windows)
        browser = await launch(pw, media["live"])
        try:
            yield Lab(service, browser, tmp / "screenshots", open_check)
        finally:
            await browser.close()


async def open_page(lab: Lab, screen: Screen) -> Page:
    context = await lab.browser.new_context(
        viewport={"width": screen.width, "height": screen.height},
        device_scale_factor=3 if screen.phone else 1,
        is_mobile=screen.phone,
        has_touch=screen.phone,
        geolocation={"latitude": HOME[0], "longitude": HOME[1], "accuracy": 15},
        permissions=["camera", "microphone", "geolocation"],
    )
    return await context.new_page()


async def shot(lab: Lab, page: Page, name: str) -> None:
    """What the viewport shows, in CSS pixels, into the tmp dir and ``test-artifacts/``."""
    for folder in (lab.shots, ARTIFACTS / "layout"):
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(folder / f"{name}.png"), scale="css")


async def inside_viewport(page: Page, selector: str) -> dict[str, Any]:
    """The element's box, asserted visible and wholly inside the viewport."""
    box = await page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5, (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5, (selector, box)
    return dict(box)


def _width(page: Page) -> int:
    """The screen's width. Not ``innerWidth``: a phone's browser zooms out to show a page
    wider than the screen, and ``innerWidth`` grows with it."""
    size = page.viewport_size
    assert size is not None
    return size["width"]


async def off_screen_sideways(page: Page) -> list[str]:
    """Buttons, links and form fields that stick out of the screen's width."""
    found: list[str] = await page.evaluate(
        """width => [...document.querySelectorAll("a, button, select, textarea, input")]
            .filter(e => e.getClientRects().length)
            .filter(e => { const r = e.getBoundingClientRect();
                           return r.left < 0 || r.right > width + 0.5; })
            .map(e => e.outerHTML.slice(0, 80))""",
        _width(page),
    )
    return found


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the screen (0 or less when it is not)."""
    widths: list[int] = await page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    return max(widths) - _width(page)


@pytest.mark.parametrize("screen", [PORTRAIT, SMALL], ids=lambda s: f"{s.width}x{s.height}")
async def test_the_dashboard_fits_a_phone_in_portrait(lab: Lab, screen: Screen) -> None:
    page = await open_page(lab, screen)
    await page.goto(lab.service.links.urls["sup1"])
    await shot(lab, page, f"dashboard-{screen.name}")
    await page.screenshot(
        path=str(lab.shots / f"dashboard-{screen.name}-full.png"), full_page=True, scale="css"
    )
    assert await horizontal_overflow(page) <= 0
    assert await off_screen_sideways(page) == []
    await inside_viewport(page, f'[data-action="start-call"][data-check="{lab.open_check}"]')
    await page.context.close()


CALL_CONTROLS = ('[data-action="hangup"]', '[data-action="mic"]', '[data-action="camera"]')


async def _controls_fit(lab: Lab, sup: Page, staff: Page, screen: Screen) -> None:
    """Both pages' call controls on screen and their videos no taller than the screen."""
    for page in (sup, staff):
        await page.set_viewport_size({"width": screen.width, "height": screen.height})
    await shot(lab, sup, f"call-{screen.name}")
    await shot(lab, staff, f"staff-call-{screen.name}")
    for page in (sup, staff):
        assert await horizontal_overflow(page) <= 0
        for selector in ('[data-video="remote"]', ".stage .controls"):
            box = await inside_viewport(page, selector)
            assert box["height"] <= screen.height
    for selector in CALL_CONTROLS:
        await inside_viewport(sup, selector)
    await inside_viewport(staff, '[data-action="hangup"]')


async def test_a_call_on_a_landscape_phone_keeps_video_and_controls_on_screen(lab: Lab) -> None:
    staff = await open_page(lab, LANDSCAPE)
    sup = await open_page(lab, LANDSCAPE)
    await staff.goto(lab.service.links.urls["staff1"])
    await sup.goto(lab.service.links.urls["sup1"])
    await sup.click(f'[data-action="start-call"][data-check="{lab.open_check}"]')
    answer = staff.locator('[data-action="answer"]')
    await answer.wait_for(state="visible", timeout=10_000)
    for screen in (PORTRAIT, LANDSCAPE):
        for page in (sup, staff):
            await page.set_viewport_size({"width": screen.width, "height": screen.height})
        # Read down to the records, the call still shows: it is not scrolled away.
        await staff.evaluate("scrollTo(0, document.scrollingElement.scrollHeight)")
        await shot(lab, staff, f"staff-ringing-{screen.name}")
        await shot(lab, sup, f"call-ringing-{screen.name}")
        await inside_viewport(staff, '[data-action="answer"]')
        await inside_viewport(staff, '[data-action="decline"]')
        await inside_viewport(sup, '[data-action="hangup"]')

    await answer.tap()
    for page, video in ((sup, "remote"), (staff, "remote"), (staff, "local")):
        await wait_until(partial(playing, page, video), within=20)
    for screen in (LANDSCAPE, PORTRAIT, DESKTOP, LANDSCAPE):
        await _controls_fit(lab, sup, staff, screen)

    # After the call the review form is in the side panel: it scrolls into view and fits.
    await sup.tap('[data-action="hangup"]')
    confirm = sup.locator('form[data-review] [data-action="confirm"]')
    await confirm.wait_for(state="visible", timeout=15_000)
    await confirm.scroll_into_view_if_needed()
    await inside_viewport(sup, 'form[data-review] [data-action="confirm"]')
    await inside_viewport(sup, 'form[data-review] [data-action="override"]')
    await shot(lab, sup, "call-review-landscape")
    await shot(lab, staff, "staff-after-landscape")
