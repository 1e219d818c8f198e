"""In real browsers: the supervisor's dashboard shows whether each staff member's page is
open, or when it was last seen; a ring nobody answers stops as "Tidak dijawab" and
"Panggil lagi" rings again; a staff page opened mid-ring shows who calls, with Answer
and Decline, and a decline reads "Ditolak" on the supervisor's page."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from service.web.i18n import MESSAGES
from tests.browser_helpers import Service, participants, playing, running_service
from tests.call_helpers import add_check
from tests.webhook_helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
ID = MESSAGES["id"]
RING_S = 4.0


async def _presence(page: Page, where: str) -> tuple[str | None, str | None]:
    """The presence badge under ``where``: its state and its text."""
    badge = page.locator(f"{where} [data-presence]")
    await badge.wait_for(state="attached", timeout=10_000)
    return await badge.get_attribute("data-presence"), await badge.text_content()


async def _until_presence(page: Page, where: str, state: str) -> str | None:
    """The badge's text once it shows ``state`` (``where``: a dashboard row, or the
    call page's panel)."""

    async def shown() -> bool:
        return (await _presence(page, where))[0] == state

    await wait_until(shown, within=10)
    return (await _presence(page, where))[1]


def _row(check: str) -> str:
    return f'tr[data-check="{check}"]'


async def _answered(sup: Page, staff: Page) -> None:
    answer = staff.locator('[data-action="answer"]')
    await answer.wait_for(state="visible", timeout=10_000)
    await answer.click()
    for page, video in ((sup, "remote"), (staff, "remote")):
        await wait_until(partial(playing, page, video), within=20)


async def _ended_with(sup: Page, text: str, within_ms: float) -> None:
    """The call page says how the call ended and offers to call again."""
    await sup.wait_for_selector('[data-call-state="ended"]', timeout=within_ms)
    assert await sup.text_content("[data-call-state]") == text
    again = sup.locator('[data-action="start-call"]')
    assert await again.is_visible() and await again.text_content() == ID["call_again"]


async def test_the_dashboard_shows_whether_a_staff_page_is_open_and_when_it_was_last_seen(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["live"])
        await sup.goto(service.links.urls["sup1"])
        assert await _until_presence(sup, _row(check), "offline") == ID["presence.never"]

        await staff.goto(service.links.urls["staff1"])
        assert await _until_presence(sup, _row(check), "online") == ID["presence.online"]
        await sup.screenshot(path=str(tmp_path / "dashboard-online.png"), full_page=True)

        await staff.context.close()  # the staff member closes the page
        seen = ID["presence.seen"].replace("{ago}", ID["ago.now"])
        assert await _until_presence(sup, _row(check), "offline") == seen
        stamp = await sup.get_attribute(
            f'tr[data-check="{check}"] [data-presence]', "data-last-seen"
        )
        assert stamp and stamp.endswith("Z")
        await sup.screenshot(path=str(tmp_path / "dashboard-last-seen.png"), full_page=True)

        # After a reload the dashboard still knows, from the server.
        await sup.reload()
        assert await _until_presence(sup, _row(check), "offline") == seen


async def _call_from_dashboard(service: Service, sup: Page, check: str) -> None:
    await sup.goto(service.links.urls["sup1"])
    await sup.click(f'[data-action="start-call"][data-check="{check}"]')
    await sup.wait_for_selector('[data-call-state="ringing"]', timeout=10_000)


async def test_an_unanswered_ring_stops_and_call_again_rings_and_connects(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with (
        running_service(tmp_path, calls={"ring_timeout_s": RING_S}) as service,
        async_playwright() as pw,
    ):
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["live"])
        await staff.goto(service.links.urls["staff1"])
        await _call_from_dashboard(service, sup, check)
        await staff.locator("[data-incoming]").wait_for(state="visible", timeout=10_000)
        assert await _until_presence(sup, ".panel", "online") == ID["presence.online"]

        await _ended_with(sup, ID["ended.not_answered"], RING_S * 1000 + 5000)
        assert await staff.locator("[data-incoming]").is_hidden()
        assert await staff.text_content("[data-call-state]") == ID["staff_ended.not_answered"]
        await sup.screenshot(path=str(tmp_path / "call-not-answered.png"), full_page=True)

        await sup.click('[data-action="start-call"]')  # Panggil lagi
        await sup.wait_for_selector('[data-call-state="ringing"]', timeout=10_000)
        await _answered(sup, staff)
        assert await sup.get_attribute("[data-call-state]", "data-call-state") == "active"
        await sup.click('[data-action="hangup"]')
        await sup.wait_for_selector("form[data-review]:not([data-review=''])", timeout=15_000)


async def test_a_staff_page_opened_mid_ring_shows_the_caller_and_can_decline(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["live"])
        await _call_from_dashboard(service, sup, check)  # the staff page is not open
        # The call page says why nobody answers yet.
        assert await _until_presence(sup, ".panel", "offline") == ID["presence.never"]

        await sup.screenshot(path=str(tmp_path / "call-ringing-nobody.png"), full_page=True)
        await staff.goto(service.links.urls["staff1"])
        assert await _until_presence(sup, ".panel", "online") == ID["presence.online"]
        incoming = staff.locator("[data-incoming]")
        await incoming.wait_for(state="visible", timeout=10_000)
        assert await staff.text_content("[data-caller]") == "Budi Santoso"
        assert await staff.get_attribute("[data-call-state]", "data-call-state") == "ringing"
        assert (
            await staff.text_content("[data-call-state]") == f"{ID['incoming_call']} Budi Santoso"
        )
        for action in ("answer", "decline"):
            assert await staff.locator(f'[data-action="{action}"]').is_visible()
        await staff.screenshot(path=str(tmp_path / "staff-mid-ring.png"), full_page=True)

        await staff.click('[data-action="decline"]')
        await _ended_with(sup, ID["ended.declined"], 10_000)
        assert await incoming.is_hidden()
        assert await staff.text_content("[data-call-state]") == ID["staff_ended.declined"]
        await sup.screenshot(path=str(tmp_path / "call-declined.png"), full_page=True)

        await sup.click('[data-action="start-call"]')  # Panggil lagi
        await _answered(sup, staff)
        await staff.click('[data-action="hangup"]')
        await sup.wait_for_selector("form[data-review]:not([data-review=''])", timeout=15_000)
