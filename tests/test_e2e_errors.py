"""Server errors on the pages, in real Chromium: each shown by its code in the page's
language, never as the server's own (English) message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from service.clock import utcnow
from service.records import CallResult, complete_check
from service.web.i18n import MESSAGES
from signaling.verdict import CallVerdict, Criterion
from tests.browser_helpers import launch, running_service, shot, staff_page, supervisor_page
from tests.call_helpers import add_check
from vision.verdict import Verdict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


async def test_an_objection_already_filed_is_refused_in_the_pages_language(
    tmp_path: Path,
) -> None:
    """Three staff pages opened on the same record: the first objection is sent; the other
    two pages' objections meet it (409) and say so in Indonesian and in English."""
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        ok = Criterion(Verdict.PASS)
        record = await complete_check(
            service.engine,
            check,
            CallResult(utcnow() - timedelta(minutes=2), utcnow(), CallVerdict(ok, ok, ok, ok, 1.0)),
            key=service.key,
        )
        browser = await launch(pw)
        pages = []
        for lang in ("id", "id", "en"):
            page = await staff_page(browser)
            await page.goto(f"{service.links.urls['staff1']}?lang={lang}")
            pages.append(page)
        form = f'form[data-objection="{record.id}"]'
        for page in pages:
            await page.fill(f"{form} textarea", "Saya hadir, sinyal buruk")
        first, again_id, again_en = pages
        await first.click(f'{form} [data-action="object"]')
        # Taken: the page shows its records anew, the form gives way to the objection's state.
        state = await first.wait_for_selector('[data-objection-state="waiting"]', timeout=10_000)
        assert state is not None
        assert await state.text_content() == MESSAGES["id"]["objection.waiting"]
        assert await first.locator(form).count() == 0
        for page, lang in ((again_id, "id"), (again_en, "en")):
            await page.click(f'{form} [data-action="object"]')
            note = await page.wait_for_selector(f'{form} .form-msg[data-error="conflict"]')
            assert note is not None
            words = MESSAGES[lang]
            assert await note.text_content() == (
                f"{words['object_failed']}: {words['api.objection.conflict']}"
            )
        assert await again_id.text_content(f"{form} .form-msg") == (
            "Keberatan gagal dikirim: Anda sudah mengajukan keberatan atas catatan ini. "
            "Satu catatan hanya dapat diajukan keberatan satu kali."
        )
        await shot(again_id, "staff-objection-refused-id")


async def test_a_call_refused_by_the_server_says_why_in_the_pages_language(
    tmp_path: Path,
) -> None:
    """The call page starts its call at once; for a check whose window is not open yet the
    call server answers ``outside_window``, which the page shows in its language."""
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(
            service.engine, "staff1", opens=timedelta(minutes=30), closes=timedelta(minutes=45)
        )
        browser = await launch(pw)
        for lang in ("id", "en"):
            page = await supervisor_page(browser)
            token = service.links.tokens["sup1"]
            await page.goto(f"{service.base_url}/supervisor/{token}/call/{check}?lang={lang}")
            box = await page.wait_for_selector("[data-error]:not([hidden])", timeout=10_000)
            assert box is not None
            assert await box.text_content() == MESSAGES[lang]["e.outside_window"]
            if lang == "id":
                await shot(page, "supervisor-call-outside-window-id")
