"""The staff member's journey in real browsers: the page says when the next check is and
what to wear, keeps the camera closed until asked, checks the camera on request, shows
the call's record as soon as it exists, takes one objection, and the supervisor reads it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from service.policy import Policy
from service.web.i18n import uniform_label
from tests.browser_helpers import Service, participants, playing, running_service, shot
from tests.call_helpers import add_check
from tests.webhook_helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


async def _camera_open(page: Page) -> bool:
    return bool(
        await page.evaluate('() => Boolean(document.querySelector("[data-video=local]").srcObject)')
    )


async def _camera_closed(page: Page) -> bool:
    return not await _camera_open(page)


async def _self_check(staff: Page) -> dict[str, str]:
    await staff.click('[data-action="self-check"]')
    await staff.wait_for_selector("[data-self-check]:not([hidden])", timeout=20_000)
    states: dict[str, str] = await staff.eval_on_selector_all(
        "[data-self-item]",
        "items => Object.fromEntries(items.map(i => [i.dataset.selfItem, i.dataset.state]))",
    )
    return states


async def _call(service: Service, sup: Page, staff: Page, check: str) -> None:
    await sup.goto(f"{service.base_url}/supervisor/{service.links.tokens['sup1']}/call/{check}")
    await staff.locator('[data-action="answer"]').click(timeout=10_000)
    await wait_until(lambda: playing(sup, "remote"), within=20)
    await sup.wait_for_selector('[data-verdict="pass"]', timeout=40_000)
    await sup.click('[data-action="hangup"]')


async def test_a_staff_members_day_next_check_self_check_record_and_one_objection(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        # Opened long ago: first among the day's checks (the service makes the regular ones).
        check = await add_check(service.engine, "staff1", opens=timedelta(hours=-12))
        sup, staff = await participants(pw, media["live"])
        await staff.goto(service.links.urls["staff1"])

        # The next check, its window and what to wear, in words; no camera yet.
        next_check = staff.locator("[data-next-check]")
        due = await next_check.get_attribute("data-due")
        assert due is not None
        # "any" in words, "Bebas (badan terlihat)"; on a Friday in Jakarta, the
        # organisation's name for that day's uniform (test_pages tests both on fixed dates).
        words = uniform_label("id", Policy(), datetime.fromisoformat(due), "any")
        assert await next_check.locator("[data-uniform]").text_content() == words
        assert not await _camera_open(staff)

        # The self-check opens the camera (video only), judges one picture, and closes.
        states = await _self_check(staff)
        assert states == {"light": "pass", "face": "pass", "uniform": "pass"}, states
        assert await _camera_open(staff)
        await shot(staff, "staff-self-check")
        await staff.click('[data-action="close-camera"]')
        assert not await _camera_open(staff)

        # A call; once it ends the camera closes, the record shows with its reasons, and
        # the check is no longer the next one (the policy's next regular one may be).
        await _call(service, sup, staff, check)
        await staff.locator(f'[data-next-check]:not([data-due="{due}"])').wait_for(timeout=15_000)
        item = staff.locator("[data-records-list] li.record").first
        await item.locator('[data-status="passed"]').wait_for(timeout=15_000)
        assert "Wajah terlihat" in (await item.locator("[data-reasons]").text_content() or "")
        assert "Kamera menyala" in (
            await item.locator("[data-camera-on-share]").text_content() or ""
        )
        await wait_until(lambda: _camera_closed(staff), within=5)

        # One objection: the form gives way to where the objection stands.
        await item.locator("textarea").fill("Saya hadir, kamera saya menyala terus.")
        await item.locator('[data-action="object"]').click()
        state = staff.locator('[data-records-list] [data-objection-state="waiting"]')
        await state.wait_for(timeout=10_000)
        assert await staff.locator("[data-records-list] form[data-objection]").count() == 0
        history = staff.locator('[data-records-list] [data-entry="objection"] q')
        assert await history.text_content() == "Saya hadir, kamera saya menyala terus."
        await shot(staff, "staff-objected")

        # The supervisor's review form shows the objection's words and the check's time,
        # and an override needs a status chosen (none is chosen for them).
        await sup.goto(service.links.urls["sup1"])
        waiting = sup.locator('[data-section="review"] li.record').first
        objection = waiting.locator('[data-entry="objection"] q')
        assert await objection.text_content() == "Saya hadir, kamera saya menyala terus."
        assert "rec_" not in (await waiting.locator("[data-when]").text_content() or "")
        assert await waiting.locator("select[name=status]").input_value() == ""
        await waiting.locator("textarea").fill("Dicek ulang.")
        await waiting.locator('[data-action="override"]').click()
        message = waiting.locator(".form-msg")
        assert await message.text_content() == "Pilih status baru untuk mengubah hasil."
        await shot(sup, "supervisor-sees-objection")
