"""The liveness challenge in real browsers: the supervisor asks for one from the call page,
both pages show what is asked with a countdown, the staff page sends its stills faster
until the deadline, both show the outcome, and the signed record and its webhook carry
the challenge.

The staff camera is the ``frozen`` fixture (one photograph of a person, repeated): its
stills are identical, so the evidence dictates FAILED ``frozen``, a still picture."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from service.web.i18n import MESSAGES
from tests.browser_helpers import (
    hang_up,
    indicator_states,
    participants,
    playing,
    running_service,
    shot,
    wait_for_state,
    webhooks,
)
from tests.call_helpers import add_check
from tests.webhook_helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
ID = MESSAGES["id"]
# When the staff page sends each binary frame (a still), in its own clock.
STILL_TIMES = """
window.stillTimes = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (data instanceof Blob) window.stillTimes.push(performance.now());
  return send.call(this, data);
};
"""


async def test_the_supervisor_asks_for_a_challenge_and_both_pages_show_it_and_its_outcome(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1", opens=timedelta(hours=-12))
        sup, staff = await participants(pw, media["frozen"])
        await staff.add_init_script(STILL_TIMES)
        await staff.goto(service.links.urls["staff1"])
        await sup.goto(f"{service.base_url}/supervisor/{service.links.tokens['sup1']}/call/{check}")
        # The policy asks for none: the indicator is not there until a challenge is.
        assert await sup.locator('[data-indicator="liveness"]').is_hidden()
        await staff.locator('[data-action="answer"]').click(timeout=10_000)
        for page, video in ((sup, "remote"), (staff, "local")):
            await wait_until(partial(playing, page, video), within=20)
        ask = sup.locator('[data-action="challenge"]')
        await ask.wait_for(state="visible", timeout=10_000)
        assert (await ask.text_content() or "").strip() == ID["challenge.ask"]
        await wait_until(lambda: _sent(staff, 3), within=15)  # the first stills went

        await ask.click()
        for page in (sup, staff):
            await page.wait_for_selector('[data-challenge][data-challenge-state="open"]')
        instruction = await staff.locator("[data-challenge-action]").text_content()
        assert instruction in {
            ID["challenge.turn_left"],
            ID["challenge.turn_right"],
            ID["challenge.move_closer"],
        }
        assert await sup.locator("[data-challenge-action]").text_content() == instruction
        assert "detik" in (await staff.locator("[data-challenge-note]").text_content() or "")
        assert await ask.is_disabled()  # one at a time
        assert await staff.locator("[data-challenge]").is_visible()
        await shot(staff, "staff-liveness-challenge")
        asked_at = await staff.evaluate("performance.now()")

        # The outcome on both pages: the same picture every time is a still picture.
        for page in (sup, staff):
            state = await wait_for_state(
                page,
                "[data-challenge]",
                "data-challenge-state",
                {"passed", "failed", "inconclusive"},
                20,
            )
            assert state == "failed"
            assert await page.get_attribute("[data-challenge]", "data-finding") == "frozen"
        assert ID["challenge.outcome.failed"] in (
            await staff.locator("[data-challenge-note]").text_content() or ""
        )
        await wait_for_state(sup, '[data-indicator="liveness"]', "data-state", {"fail"}, 3)
        await shot(staff, "staff-liveness-outcome")
        await shot(sup, "supervisor-liveness-outcome")
        assert (await indicator_states(staff))["liveness"] == "fail"
        assert await sup.locator('[data-indicator="liveness"]').is_visible()
        assert await ask.is_enabled()  # another may be asked for (2 left)

        # Four stills a second while it was open, one a second otherwise.
        times = await staff.evaluate("window.stillTimes")
        during = [t for t in times if asked_at <= t <= asked_at + 7000]
        assert len(during) >= 20, len(during)

        record = await hang_up(service, sup, sup)
        assert record.body["criteria"]["liveness"]["verdict"] == "fail"
        [kept] = record.body["challenges"]
        assert (kept["outcome"], kept["finding"]) == ("failed", "frozen")
        [event] = await webhooks(service, check, 1)
        assert event["data"]["record"]["body"]["challenges"] == [kept]


async def _sent(page: Page, n: int) -> bool:
    return len(await page.evaluate("window.stillTimes")) >= n
