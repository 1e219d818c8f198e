"""The installable staff app in Debian's Chromium: the manifest of the person's link is
served and valid (no installability errors), the service worker is registered for
``/staff/``, a push the server builds shows its notification, and a page opened from
a tapped ring answers that call by itself.

Chromium's push service is its vendor's: it cannot subscribe offline, so the
subscription itself is proven up to the encrypted POST in ``test_push.py`` (and in
Firefox against a local push service). Here a push is handed to the worker through
the DevTools protocol (``ServiceWorker.deliverPushMessage``), as DevTools' own "Push"
button does.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright
from sqlalchemy import select

from service.push.payloads import PushMessage, reminder_message, ring_message
from service.schema import calls
from service.web.i18n import MESSAGES
from tests.browser_helpers import (
    CHROMIUM,
    FLAGS,
    launch,
    running_service,
    shot,
    staff_page,
    supervisor_page,
    wait_for_state,
)
from tests.call_helpers import add_check
from tests.webhook_helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


async def installed_profile(
    pw: Playwright, profile: Path, permissions: list[str] | None = None
) -> BrowserContext:
    """A persistent profile: Chromium never finds an app installable in incognito, which
    is what Playwright's ordinary contexts are. (An empty ``permissions`` list denies
    notifications; none given leaves them to ask.)"""
    launch = pw.chromium.launch_persistent_context
    if permissions:
        launch = functools.partial(launch, permissions=permissions)
    return await launch(
        str(profile),
        executable_path=CHROMIUM,
        args=FLAGS,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )


async def notifications(page: Page) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = await page.evaluate(
        """navigator.serviceWorker.getRegistration("/staff/")
        .then((r) => r.getNotifications())
        .then((ns) => ns.map(
          (n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })
        ))"""
    )
    return shown


async def test_the_staff_page_is_installable_and_its_worker_shows_pushes(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        context = await installed_profile(pw, tmp_path / "profile")
        page = context.pages[0]
        url, base = service.links.urls["staff1"], service.base_url
        token = service.links.tokens["staff1"]
        await page.goto(url)

        # The offer, in the page's language, before anything is asked.
        await wait_for_state(page, "[data-push]", "data-push-state", {"offer"}, 10)
        words = MESSAGES["id"]
        assert await page.text_content("[data-push-text]") == words["push.explain"]
        assert await page.text_content('[data-action="enable-push"]') == words["push.offer"]
        scope, script = await page.evaluate(
            "navigator.serviceWorker.ready.then((r) => [r.scope, r.active.scriptURL])"
        )
        assert (scope, script) == (f"{base}/staff/", f"{base}/sw.js")

        cdp = await context.new_cdp_session(page)
        manifest = await cdp.send("Page.getAppManifest")
        assert manifest["url"] == f"{url}/manifest.webmanifest"
        assert manifest["errors"] == []
        body = json.loads(manifest["data"])
        assert (body["name"], body["start_url"], body["scope"], body["display"]) == (
            "Hadir",
            f"/staff/{token}",
            f"/staff/{token}",
            "standalone",
        )
        assert (await cdp.send("Page.getInstallabilityErrors"))["installabilityErrors"] == []
        for icon in body["icons"]:
            got = await page.request.get(f"{base}{icon['src']}")
            assert got.headers["content-type"] == "image/png"
            size = Image.open(io.BytesIO(await got.body())).size
            assert f"{size[0]}x{size[1]}" == icon["sizes"]
        for other in (service.links.tokens["sup1"], token[:-3] + "xyz"):
            assert (
                await page.request.get(f"{base}/staff/{other}/manifest.webmanifest")
            ).status == 404
        await shot(page, "push-offer")

        # Notifications allowed (from the start of the browser: a grant while it runs
        # reaches the worker late), the page tries to subscribe on its own: Chromium's
        # push service is its vendor's, so offline that stays pending.
        await context.close()
        context = await installed_profile(pw, tmp_path / "profile", ["notifications"])
        page = context.pages[0]
        await page.goto(url)
        await wait_for_state(page, "[data-push]", "data-push-state", {"pending"}, 10)

        # Pushes as the server builds them, handed to the worker through DevTools from
        # another page of the site (the staff page will be closed and opened again).
        await page.evaluate(
            "window.told = [];"
            "navigator.serviceWorker.addEventListener('message', (e) => told.push(e.data))"
        )
        home = await context.new_page()
        await home.goto(f"{base}/")
        cdp = await context.new_cdp_session(home)
        registrations: list[dict[str, Any]] = []
        activated: list[bool] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        cdp.on(
            "ServiceWorker.workerVersionUpdated",
            lambda event: activated.extend(v["status"] == "activated" for v in event["versions"]),
        )
        await cdp.send("ServiceWorker.enable")

        async def ready() -> bool:
            return bool(registrations) and any(activated)

        await wait_until(ready, within=10)

        async def push(message: PushMessage) -> None:
            await cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": f"{base}/",
                    "registrationId": registrations[0]["registrationId"],
                    "data": message.encode().decode(),
                },
            )

        async def shown(count: int) -> list[dict[str, Any]]:
            async def enough() -> bool:
                return len(await notifications(home)) == count

            await wait_until(enough, within=15)
            return await notifications(home)

        # A reminder is shown with the server's words.
        reminder_push = reminder_message("id", url, "chk_1", "09:30", 5, 300)
        await push(reminder_push)
        (reminder,) = await shown(1)
        assert reminder["title"] == "Pemeriksaan pukul 09:30 dalam 5 menit"
        assert reminder["body"] == words["push.reminder_body"]
        assert (reminder["tag"], reminder["data"]["url"]) == ("hadir-check-chk_1", url)

        # A ring while the staff page is in front: the page is told, and rings by itself.
        ring = ring_message("id", url, "call_1", "chk_1", "Budi Santoso", 60)
        await push(ring)

        async def told() -> bool:
            return bool(await page.evaluate("told.length === 2"))

        await wait_until(told, within=15)
        assert await page.evaluate("told") == [
            {"type": "push", "payload": json.loads(m.encode())} for m in (reminder_push, ring)
        ]
        assert [n["tag"] for n in await shown(1)] == ["hadir-check-chk_1"]

        # With the page closed the ring is a notification; the page, opened with no call
        # ringing, closes it (the reminder stays).
        await page.close()
        await push(ring)
        by_tag = {n["tag"]: n for n in await shown(2)}
        assert by_tag["hadir-call-call_1"]["title"] == "Panggilan dari Budi Santoso"
        assert by_tag["hadir-call-call_1"]["data"]["url"] == f"{url}#answer=call_1"
        page = await context.new_page()
        await page.goto(url)
        assert [n["tag"] for n in await shown(1)] == ["hadir-check-chk_1"]
        await context.close()


async def test_a_page_opened_from_a_ring_answers_it(tmp_path: Path, media: dict[str, Path]) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup = await supervisor_page(await launch(pw))
        await sup.goto(service.links.urls["sup1"])
        await sup.locator(f'[data-action="start-call"][data-check="{check}"]').click()
        await sup.wait_for_selector('[data-call-state="ringing"]')
        async with service.engine.connect() as conn:
            call = (
                await conn.execute(select(calls.c.id).where(calls.c.check_id == check))
            ).scalar_one()

        # What the ring notification opens when tapped (service.push.payloads).
        staff = await staff_page(await launch(pw, media["live"]))
        await staff.goto(f"{service.links.urls['staff1']}#answer={call}")
        await wait_for_state(staff, "[data-call-state]", "data-call-state", {"active"}, 15)
        await wait_for_state(sup, "[data-call-state]", "data-call-state", {"active"}, 15)
        assert await staff.evaluate("location.hash") == ""  # a reload does not answer again
        await shot(staff, "push-ring-answered")
