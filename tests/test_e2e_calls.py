"""End to end in real browsers: a supervisor calls a staff member whose camera is a fixture
video; the call connects peer to peer, the server judges the staff camera from the
page's stills, and the check's record is stored and delivered as a signed webhook."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright
from sqlalchemy import select

from service.links import issue_link
from service.records import record_state
from service.schema import calls, checks
from tests.browser_helpers import (
    Service,
    hang_up,
    indicator_states,
    launch,
    participants,
    playing,
    running_service,
    shot,
    staff_page,
    wait_for_state,
    webhooks,
)
from tests.call_helpers import add_check, working_today
from tests.webhook_helpers import verify_both, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
FINAL = {"pass", "fail", "inconclusive"}
# The staff page's binary frames as it sends them: header fields and the JPEG's digest.
SENT_STILLS = """
window.sentStills = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (data instanceof Blob) {
    data.arrayBuffer().then(async (buffer) => {
      const view = new DataView(buffer);
      const n = view.getUint8(1);
      const digest = await crypto.subtle.digest("SHA-256", buffer.slice(14 + n));
      window.sentStills.push({
        version: view.getUint8(0), sequence: view.getUint32(2 + n),
        jpeg: Array.from(new Uint8Array(digest)).join(","),
      });
    });
  }
  return send.call(this, data);
};
"""


async def _connect(service: Service, sup: Page, staff: Page, check: str) -> None:
    """Staff page open; the supervisor starts the call from the dashboard; staff answers;
    both videos play."""
    links = service.links
    await staff.goto(links.urls["staff1"])
    await sup.goto(links.urls["sup1"])
    start = sup.locator(f'[data-action="start-call"][data-check="{check}"]')
    await start.click()
    await sup.wait_for_selector('[data-call-state="ringing"]')
    answer = staff.locator('[data-action="answer"]')
    await answer.wait_for(state="visible", timeout=10_000)
    await answer.click()
    for page, video in ((sup, "remote"), (staff, "remote"), (staff, "local")):
        await wait_until(partial(playing, page, video), within=20)


async def _check_status(service: Service, check: str) -> str:
    async with service.engine.connect() as conn:
        return str(
            (await conn.execute(select(checks.c.status).where(checks.c.id == check))).scalar_one()
        )


async def test_a_compliant_call_passes_is_recorded_reviewed_and_delivered(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["live"])
        await _connect(service, sup, staff, check)
        assert set((await indicator_states(sup)).values()) <= {"pending", *FINAL}

        verdict = await wait_for_state(sup, "[data-verdict]", "data-verdict", FINAL, 40)
        assert verdict == "pass", await indicator_states(sup)
        assert await indicator_states(sup) == dict.fromkeys(
            ("face", "camera", "uniform", "location"), "pass"
        )
        # The staff member sees the same verdict the supervisor sees.
        assert await wait_for_state(staff, "[data-verdict]", "data-verdict", FINAL, 5) == "pass"
        await shot(sup, "supervisor-call-pass")
        await shot(staff, "staff-call-pass")

        record = await hang_up(service, sup, sup)
        assert record.check_id == check and record.status == "passed"
        assert record.body["camera_on_fraction"] >= 0.9
        assert record.body["location"]["result"] == "inside"
        assert await _check_status(service, check) == "completed"

        # The supervisor confirms the automated verdict, with a reason.
        await sup.fill("form[data-review] textarea", "Wajah dan badan terlihat jelas.")
        await sup.click('form[data-review] [data-action="confirm"]')
        await sup.wait_for_selector('form[data-review][data-done="confirm"]', timeout=10_000)
        await shot(sup, "supervisor-call-reviewed")
        async with service.engine.connect() as conn:
            state = await record_state(conn, record)
        assert state.review_state == "confirmed"

        by_type = {p["type"]: p for p in await webhooks(service, check, 2)}
        completed = by_type["check.completed"]["data"]["record"]
        assert completed["body"]["status"] == "passed" and completed["hash"] == record.hash
        assert by_type["record.reviewed"]["data"]["check_id"] == check
        for received in service.receiver.received:
            verify_both(received, [service.endpoint_secret], service.key)


async def test_a_covered_camera_fails_with_a_camera_reason(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["covered"])
        await _connect(service, sup, staff, check)
        state = await wait_for_state(
            sup, '[data-indicator="camera"]', "data-state", {"fail", "pass"}, 30
        )
        assert state == "fail"
        reason = await sup.text_content('[data-indicator="camera"] [data-reason]')
        assert reason == "Kamera tertutup"
        assert await sup.get_attribute("[data-verdict]", "data-verdict") == "fail"
        await shot(sup, "supervisor-call-covered")
        await shot(staff, "staff-call-covered")

        record = await hang_up(service, staff, sup)
        assert record.status == "failed"
        camera = record.body["criteria"]["camera"]
        assert camera["verdict"] == "fail" and "camera_covered" in camera["reasons"]


async def test_a_frozen_camera_sends_identical_stills_and_fails_on_the_camera(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    """The analysis leg is the staff page's stills over its socket: a camera that shows
    one picture sends the same JPEG again and again, and the server says frozen."""
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["frozen"])
        await staff.add_init_script(SENT_STILLS)
        await _connect(service, sup, staff, check)
        state = await wait_for_state(
            sup, '[data-indicator="camera"]', "data-state", {"fail", "pass"}, 30
        )
        assert state == "fail"
        record = await hang_up(service, staff, sup)
        camera = record.body["criteria"]["camera"]
        assert camera["verdict"] == "fail" and "camera_frozen" in camera["reasons"]
        # Version 1, the sequence counting up; the same picture each time.
        stills = await staff.evaluate("window.sentStills")
        assert len(stills) >= 5 and {s["version"] for s in stills} == {1}
        assert [s["sequence"] for s in stills] == list(range(len(stills)))
        assert len({s["jpeg"] for s in stills[2:]}) == 1


async def test_a_camera_that_stalls_sends_no_stills_and_is_never_called_frozen(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    """A video that presents no new frame (a busy phone, a camera driver's hiccup; here
    the element paused) gets no still taken: no evidence either way, where the same
    picture sent again would have read as a frozen camera."""
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["live"])
        await staff.add_init_script(SENT_STILLS)
        await _connect(service, sup, staff, check)
        await wait_until(lambda: _sent(staff, 4), within=20)
        await staff.evaluate("document.querySelector('[data-video=\"local\"]').pause()")
        await asyncio.sleep(1.5)  # a still being taken as it paused still goes
        stalled = len(await staff.evaluate("window.sentStills"))
        await asyncio.sleep(4)
        assert len(await staff.evaluate("window.sentStills")) == stalled
        record = await hang_up(service, staff, sup)
        camera = record.body["criteria"]["camera"]
        assert "camera_frozen" not in camera["reasons"], camera
        assert camera["verdict"] != "fail", camera


async def _sent(page: Page, n: int) -> bool:
    return len(await page.evaluate("window.sentStills")) >= n


async def test_a_call_never_answered_becomes_missed_when_the_window_ends(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        # The sweep writes MISSED only on a working day: make today one, whatever the date.
        await working_today(service.engine)
        check = await add_check(service.engine, "staff1", closes=timedelta(seconds=12))
        sup, staff = await participants(pw, media["live"])
        await staff.goto(service.links.urls["staff1"])
        await sup.goto(service.links.urls["sup1"])
        await sup.click(f'[data-action="start-call"][data-check="{check}"]')
        await staff.locator('[data-action="answer"]').wait_for(state="visible", timeout=10_000)
        await shot(staff, "staff-ringing")
        # Nobody answers: the window ends the call, and the service's sweep job records
        # the check as MISSED.
        await sup.wait_for_selector('[data-call-state="ended"]', timeout=30_000)
        assert await staff.locator("[data-incoming]").is_hidden()
        (missed,) = await webhooks(service, check, 1)
        assert await _check_status(service, check) == "missed"
        assert missed["type"] == "check.missed"
        assert missed["data"]["record"]["body"]["status"] == "missed"
        await sup.goto(service.links.urls["sup1"])
        assert await sup.get_attribute(f'tr[data-check="{check}"]', "data-status") == "missed"
        await shot(sup, "supervisor-dashboard")


async def test_forged_and_expired_links_are_refused(tmp_path: Path, media: dict[str, Path]) -> None:
    async with running_service(tmp_path) as service, async_playwright() as pw:
        async with service.engine.begin() as conn:
            expired, _ = await issue_link(
                conn,
                service.secret,
                service.base_url,
                "staff",
                "staff1",
                timedelta(seconds=1),
                actor="test",
            )
        token = service.links.tokens["staff1"]
        forged = f"{service.base_url}/staff/{token[:-4]}AAAA"
        page = await staff_page(await launch(pw, media["live"]))
        await asyncio.sleep(1.2)
        for url in (forged, expired, f"{service.base_url}/supervisor/{token}"):
            response = await page.goto(url)
            assert response is not None and response.status == 403
            assert await page.text_content("h1") == "Tautan tidak dapat dibuka"
        await shot(page, "staff-link-refused")
        # The signaling socket refuses the forged token too, and closes.
        refused = await page.evaluate(
            """token => new Promise(resolve => {
                const ws = new WebSocket(`ws://${location.host}/ws`);
                let error = null;
                ws.onopen = () => ws.send(JSON.stringify({type: "join", v: 1, token}));
                ws.onmessage = e => { error = JSON.parse(e.data); };
                ws.onclose = e => resolve({code: e.code, error});
            })""",
            token[:-4] + "AAAA",
        )
        assert refused["code"] == 4401 and refused["error"]["code"] == "unauthorized"


async def test_a_staff_page_reloaded_mid_call_comes_back_to_the_same_call(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    """A reload (or a network switch) is not the end of the call: both pages show
    'Menyambung kembali…', the reloaded page rejoins the same call, the evidence goes
    on, and the time away does not count against the camera."""
    async with running_service(tmp_path) as service, async_playwright() as pw:
        check = await add_check(service.engine, "staff1")
        sup, staff = await participants(pw, media["live"])
        await _connect(service, sup, staff, check)
        await asyncio.sleep(3)
        await sup.evaluate(
            """() => {
                const box = document.querySelector("[data-call-state]");
                window.seen = [];
                new MutationObserver(() => window.seen.push(box.textContent))
                    .observe(box, {childList: true, characterData: true, subtree: true});
            }"""
        )
        await staff.reload()
        for page, video in ((sup, "remote"), (staff, "remote"), (staff, "local")):
            await wait_until(partial(playing, page, video), within=30)
        assert await sup.get_attribute("[data-call-state]", "data-call-state") == "active"
        assert "Menyambung kembali…" in await sup.evaluate("window.seen")
        verdict = await wait_for_state(sup, "[data-verdict]", "data-verdict", FINAL, 40)
        assert verdict == "pass", await indicator_states(sup)

        record = await hang_up(service, sup, sup)
        async with service.engine.connect() as conn:
            rows = (await conn.execute(select(calls.c.id))).scalars().all()
        assert record.status == "passed" and [record.body["call"]["id"]] == list(rows)
        assert record.body["call"]["end"] == "hung_up_by_supervisor"
        assert record.body["camera_on_fraction"] >= 0.9  # the reload is not counted
