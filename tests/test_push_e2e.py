"""Hadir's Web Push end to end, offline: a staff member whose page is closed is rung by
push and answers in one tap.

The staff member's browser is Firefox ESR (its push service is a preference: the local
one from ``tests/push_service.py``); the supervisor's is Chromium. The staff member turns
notifications on with the staff page's own button, then leaves the page. The supervisor
starts a call on the dashboard: Hadir signs and encrypts a ring and POSTs it to the
subscription's endpoint; the push service hands it to Firefox over its WebSocket;
Firefox decrypts it and the staff page's service worker shows the notification; a click
on it (on the notification itself, in Firefox's alert window) opens the staff page at
the call, and that tap was the answer: the call goes active on both pages. The reminder
before a check goes the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Page, Playwright, async_playwright
from sqlalchemy import Row, select

from service.clock import utcnow
from service.org import load_policy
from service.schema import calls, checks, push_subscriptions
from service.web.i18n import MESSAGES
from tests.browser_helpers import (
    ARTIFACTS,
    Service,
    launch,
    running_service,
    shot,
    supervisor_page,
)
from tests.call_helpers import HOME, ROSTER, add_check
from tests.firefox_helpers import Firefox, call_prefs
from tests.firefox_helpers import launch as launch_firefox
from tests.push_service import Channel, PushRequest, PushService, b64url_encode
from tests.webhook_helpers import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(180),
]

SUBJECT = "mailto:admin@hadir.test"


def push_config(reminder_interval_s: float) -> dict[str, Any]:
    return {
        "push": {
            "allow_insecure_loopback": True,  # the push service is on 127.0.0.1, plain HTTP
            "subject": SUBJECT,
            "reminder_interval_s": reminder_interval_s,
        }
    }


# The reminder job runs at start (nobody is subscribed yet), then after this: the day's
# regular checks, made by the jobs, cannot be reminded during the ring tests.
RINGS = push_config(reminder_interval_s=3600)
REMINDERS = push_config(reminder_interval_s=0.5)
WORDS = MESSAGES["id"]  # the roster's staff read Indonesian
SUPERVISOR = next(p["name"] for p in ROSTER["supervisors"] if p["id"] == "sup1")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def push() -> AsyncIterator[PushService]:
    async with PushService() as service:
        yield service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def firefox(push: PushService) -> AsyncIterator[Firefox]:
    """The staff member's phone: a narrow Firefox (500 px is the narrowest window it
    makes) with a fake camera, at home."""
    browser = await asyncio.to_thread(
        launch_firefox, push.ws_url, call_prefs(*HOME), window=(500, 844)
    )
    try:
        yield browser
    finally:
        await asyncio.to_thread(browser.close)


async def vapid_public_key(service: Service) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{service.base_url}/push/key",
            headers={"Authorization": f"Link {service.links.tokens['staff1']}"},
        ) as response,
    ):
        assert response.status == 200
        key: str = (await response.json())["public_key"]
        return key


async def turn_on_notifications(firefox: Firefox, service: Service, push: PushService) -> Channel:
    """The staff member opens their page and turns notifications on with its button;
    the subscription Firefox made with the push service, as Hadir saved it."""
    await firefox.navigate(service.links.urls["staff1"])
    await firefox.wait_for(
        'return document.querySelector("[data-push]")?.dataset.pushState === "offer";'
    )
    # Headless Firefox shows no prompt: this is what the person's "Allow" records.
    await firefox.grant_notifications(service.base_url)
    await firefox.click('[data-action="enable-push"]')
    await firefox.wait_for(
        'return document.querySelector("[data-push]").dataset.pushState === "on";'
    )
    key = await vapid_public_key(service)
    channel: Channel = await push.wait_for(
        lambda: next(
            (
                c
                for c in push.channels.values()
                if c.active and c.server_key and b64url_encode(c.server_key) == key
            ),
            None,
        ),
        10,
        "a subscription with Hadir's VAPID key",
    )
    saved = await subscription_of_staff1(service)
    assert saved is not None and saved.endpoint == channel.endpoint
    assert "Firefox" in saved.user_agent
    return channel


async def subscription_of_staff1(service: Service) -> Row[Any] | None:
    """The one push subscription Hadir keeps for staff1, if any."""
    async with service.engine.connect() as conn:
        rows = await conn.execute(
            select(push_subscriptions).where(push_subscriptions.c.staff_id == "staff1")
        )
        return rows.one_or_none()


def request_with(push: PushService, since: int, **headers: str) -> PushRequest | None:
    """The first request after ``since`` whose headers include ``headers``."""
    for request in push.requests[since:]:
        if all(request.headers.get(k) == v for k, v in headers.items()):
            return request
    return None


async def delivered(push: PushService, request: PushRequest) -> float:
    """Firefox's acknowledgement of what ``request`` carried (100: decrypted and given
    to the service worker); when it came."""
    version = next(v for v, n in push.notifications.items() if n.data == request.body)
    notification = await push.acked(version)
    assert notification.ack_code == 100, notification
    assert notification.acked_at is not None
    return notification.acked_at


async def shown(firefox: Firefox, title: str, within_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for notification in await firefox.notifications():
            if notification["title"] == title:
                return notification
        await asyncio.sleep(0.1)
    raise AssertionError(f"no notification {title!r}: {await firefox.notifications()}")


async def call_state(firefox: Firefox) -> Any:
    """The staff page's call state, once the page (maybe just opened) shows one."""
    return await firefox.script(
        """
        return new Promise((resolve) => {
          const look = () => {
            const box = document.querySelector("[data-call-state]");
            if (box) resolve(box.dataset.callState);
            else setTimeout(look, 50);
          };
          look();
        });
        """
    )


async def start_call(
    pw: Playwright, service: Service, push: PushService, check: str
) -> tuple[Page, PushRequest, float]:
    """The supervisor starts a call for ``check`` on the dashboard (Chromium); their page,
    the ring Hadir sent to the push service, and when the start was clicked."""
    sup = await supervisor_page(await launch(pw))
    await sup.goto(service.links.urls["sup1"])
    since = len(push.requests)
    clicked_at = time.monotonic()
    await sup.click(f'[data-action="start-call"][data-check="{check}"]')
    ring: PushRequest = await push.wait_for(
        lambda: request_with(push, since, urgency="high"), 20, "Hadir's ring"
    )
    return sup, ring, clicked_at


async def test_a_ring_reaches_a_closed_staff_page_and_one_tap_answers(
    tmp_path: Path, push: PushService, firefox: Firefox
) -> None:
    async with running_service(tmp_path, overrides=RINGS) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        channel = await turn_on_notifications(firefox, service, push)
        saved = await subscription_of_staff1(service)
        await firefox.navigate("about:blank")  # the page is closed; the phone's browser runs

        sup, ring, clicked_at = await start_call(pw, service, push, check)
        assert ring.status == 201 and ring.channel_id == channel.channel_id
        assert ring.headers["content-encoding"] == "aes128gcm" and ring.headers["ttl"] == "60"
        assert ring.vapid is not None
        assert ring.vapid.claims["aud"] == push.base_url and ring.vapid.claims["sub"] == SUBJECT
        acked_at = await delivered(push, ring)
        title = WORDS["push.ring_title"].format(supervisor=SUPERVISOR)
        notification = await shown(firefox, title)
        seen_at = time.monotonic()
        assert notification["body"] == WORDS["push.ring_body"]
        print(
            f"\nring: click → POST {1000 * (ring.received_at - clicked_at):.0f} ms, "
            f"POST → Firefox ack {1000 * (acked_at - ring.received_at):.0f} ms, "
            f"click → notification on screen ≤ {1000 * (seen_at - clicked_at):.0f} ms"
        )

        await firefox.click_notification(title)
        await firefox.switch_to_tab(service.links.urls["staff1"])
        await firefox.wait_for(  # the page read the #answer=<call> the ring opened it at
            "return location.href === arguments[0];", service.links.urls["staff1"]
        )
        # The tap was the answer: the page took the camera and accepted the call.
        await firefox.wait_for(
            'return document.querySelector("[data-call-state]").dataset.callState === "active";',
            within_s=20,
        )
        await sup.wait_for_selector('[data-call-state="active"]', timeout=20_000)
        async with service.engine.connect() as conn:
            answered = (
                await conn.execute(select(calls.c.answered_at).where(calls.c.check_id == check))
            ).scalar_one()
        assert answered is not None
        # Hadir noted the push went through, and the reopened page refreshed its subscription.
        assert saved is not None

        async def refreshed() -> bool:
            now = await subscription_of_staff1(service)
            assert now is not None and now.last_success_at is not None
            return bool(now.refreshed_at > saved.refreshed_at)

        await wait_until(refreshed, within=10)
        assert title not in [n["title"] for n in await firefox.notifications()]
        await shot(sup, "push-ring-supervisor")
        await firefox.screenshot(ARTIFACTS / "push-ring-staff-firefox.png")
        await sup.click('[data-action="hangup"]')
        await sup.wait_for_selector('[data-call-state="ended"]')
        # Pages left connected would hold up the service's shutdown.
        await firefox.navigate("about:blank")
        await sup.context.close()


async def test_a_reminder_reaches_a_closed_staff_page_before_the_check_opens(
    tmp_path: Path, push: PushService, firefox: Firefox
) -> None:
    async with running_service(tmp_path, overrides=REMINDERS) as service:
        channel = await turn_on_notifications(firefox, service, push)
        await firefox.navigate("about:blank")

        since = len(push.requests)
        check = await add_check(
            service.engine, "staff1", opens=timedelta(minutes=3), closes=timedelta(minutes=20)
        )
        async with service.engine.connect() as conn:
            opens = (
                await conn.execute(select(checks.c.window_start).where(checks.c.id == check))
            ).scalar_one()
            zone = (await load_policy(conn)).zone  # the organisation's, as Hadir reads it
        at = opens.astimezone(zone).strftime("%H:%M")
        title = WORDS["push.reminder_title"].format(time=at, minutes=3)

        reminder = await push.wait_for(
            lambda: request_with(push, since, topic=f"check-{check}"[-32:].replace("_", "-")),
            10,
            "the reminder",
        )
        assert reminder.status == 201 and reminder.channel_id == channel.channel_id
        await delivered(push, reminder)
        notification = await shown(firefox, title)
        assert notification["body"] == WORDS["push.reminder_body"]
        assert utcnow() < opens  # it came before the window opened

        await firefox.click_notification(title)
        assert await firefox.switch_to_tab(service.links.urls["staff1"])
        assert await call_state(firefox) == "waiting"
        await firefox.navigate("about:blank")


async def test_a_subscription_the_browser_dropped_is_deleted_when_the_ring_gets_410(
    tmp_path: Path, push: PushService, firefox: Firefox
) -> None:
    async with running_service(tmp_path, overrides=RINGS) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        channel = await turn_on_notifications(firefox, service, push)
        await firefox.navigate("about:blank")
        # The person blocks notifications in the settings: Firefox unsubscribes.
        await firefox.revoke_notifications(service.base_url)
        await push.wait_for(lambda: not channel.active, 10, "Firefox's unregister")
        assert channel.unregister_code == 202  # permission revoked

        sup, ring, _ = await start_call(pw, service, push, check)
        assert ring.status == 410 and ring.channel_id == channel.channel_id

        async def forgotten() -> bool:
            return await subscription_of_staff1(service) is None

        await wait_until(forgotten, within=10)
        await sup.context.close()
