"""Face enrolment and the identity match in real browsers: the staff member reads what is
kept and consents, enrols from their own camera, the supervisor's call shows the
identity indicator passing, and the staff member deletes the enrolment."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Locator, async_playwright
from sqlalchemy import func, select

from service.org import load_policy, save_policy
from service.schema import face_enrolments
from service.web.i18n import MESSAGES
from tests.browser_helpers import indicator_states, participants, running_service, shot
from tests.call_helpers import add_check

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
ID = MESSAGES["id"]


async def test_a_staff_member_consents_enrols_is_matched_in_a_call_and_deletes(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        async with service.engine.begin() as conn:
            policy = replace(await load_policy(conn), identity_check=True)
            await save_policy(conn, policy, actor="test")
        check = await add_check(service.engine, "staff1", opens=timedelta(hours=-12))
        sup, staff = await participants(pw, media["live"])
        await staff.goto(service.links.urls["staff1"])

        # What is kept, why, how long, who sees it and the right to object, in Indonesian;
        # no enrolment without the consent box.
        section = staff.locator('[data-section="face"]')
        for part in ("what", "why", "how_long", "who", "object"):
            assert ID[f"face.{part}"] in (await section.text_content() or "")
        enrol = section.locator('[data-action="enrol-face"]')
        assert await enrol.is_disabled()
        await section.locator("[data-face-consent]").check()
        await _enrol(section)
        await shot(staff, "staff-face-enrolled")
        async with service.engine.connect() as conn:
            count = await conn.execute(select(func.count()).select_from(face_enrolments))
            assert count.scalar_one() == 1
        await staff.click('[data-action="close-camera"]')

        # The call: the supervisor's indicators include identity, and it passes.
        await sup.goto(f"{service.base_url}/supervisor/{service.links.tokens['sup1']}/call/{check}")
        await staff.locator('[data-action="answer"]').click(timeout=10_000)
        await sup.wait_for_selector(
            '[data-indicator="identity"][data-state="pass"]', timeout=40_000
        )
        assert (await indicator_states(sup))["identity"] == "pass"
        await shot(sup, "supervisor-identity-pass")
        await sup.click('[data-action="hangup"]')

        # The staff member deletes their enrolment.
        await section.locator('[data-action="delete-face"]').click()
        await section.locator('[data-face-state="none"]').wait_for(timeout=10_000)
        async with service.engine.connect() as conn:
            count = await conn.execute(select(func.count()).select_from(face_enrolments))
            assert count.scalar_one() == 0


async def _enrol(section: Locator) -> None:
    """Click "enrol" as a staff member would, again when the page says the face was too
    small: the fixture's face is under the identity match's minimum in about a quarter of
    its loop's frames, and a still caught there is left out; now and then all three are."""
    for _ in range(3):
        await section.locator('[data-action="enrol-face"]').click()
        enrolled = section.locator('[data-face-state="enrolled"]')
        failed = section.locator('[data-face-msg][data-error="face_too_small"]')
        await enrolled.or_(failed).first.wait_for(timeout=30_000)
        if await enrolled.is_visible():
            return
    raise AssertionError("the page asked to come closer three times")
