"""Through a real load balancer: nginx in front of two ``hadir serve`` processes on one
PostgreSQL and one Redis, real browsers with the fake camera, the supervisor pinned to
process 1 and the staff page to process 2 (docs/scale-out.md). The call connects, is
judged by the call's process, survives the staff's process being killed (the page fails
over to process 1 and the call goes on), and its record is delivered once."""

from __future__ import annotations

import asyncio
import signal
from functools import partial
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import func, select

from service.records import get_record
from service.schema import calls, records
from tests.browser_helpers import (
    launch,
    playing,
    shot,
    staff_page,
    supervisor_page,
    wait_for_state,
)
from tests.call_helpers import add_check
from tests.nginx_helpers import COOKIE, start_nginx
from tests.scaleout_helpers import open_cluster
from tests.webhook_helpers import Receiver, endpoint_for, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
FINAL = {"pass", "fail", "inconclusive"}


async def test_a_call_through_nginx_across_processes_survives_the_staff_process(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    receiver = await Receiver().start()
    async with open_cluster(tmp_path) as cluster:
        await endpoint_for(cluster.engine, receiver.url, ["check.completed"])
        check = await add_check(cluster.engine, "staff1")
        ports = await cluster.start(
            2,
            HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
            HADIR_WEBHOOKS_POLL_INTERVAL_S="0.1",
        )
        nginx = start_nginx(tmp_path / "nginx", ports)
        try:
            async with async_playwright() as pw:
                sup = await supervisor_page(await launch(pw))
                staff = await staff_page(await launch(pw, media["live"]))
                for page, node in ((sup, "1"), (staff, "2")):
                    await page.context.add_cookies(
                        [{"name": COOKIE, "value": node, "url": nginx.url}]
                    )
                tokens = cluster.links.tokens
                await staff.goto(f"{nginx.url}/staff/{tokens['staff1']}")
                await sup.goto(f"{nginx.url}/supervisor/{tokens['sup1']}")
                await sup.click(f'[data-action="start-call"][data-check="{check}"]')
                await sup.wait_for_selector('[data-call-state="ringing"]')
                answer = staff.locator('[data-action="answer"]')
                await answer.wait_for(state="visible", timeout=10_000)
                await answer.click()
                for page, video in ((sup, "remote"), (staff, "remote"), (staff, "local")):
                    await wait_until(partial(playing, page, video), within=20)
                verdict = await wait_for_state(sup, "[data-verdict]", "data-verdict", FINAL, 40)
                assert verdict == "pass"
                await shot(sup, "scaleout-supervisor-pass")

                # The staff page's process dies: nginx sends the page's new socket to
                # process 1, which holds the call; the same call goes on.
                cluster.nodes[1].proc.send_signal(signal.SIGKILL)
                await wait_for_state(
                    staff, "[data-call-state]", "data-call-state", {"reconnecting"}, 10
                )
                await wait_for_state(staff, "[data-call-state]", "data-call-state", {"active"}, 30)
                await wait_until(lambda: playing(sup, "remote"), within=20)
                await asyncio.sleep(2)  # a few more samples through the new analysis leg
                assert await sup.get_attribute("[data-verdict]", "data-verdict") == "pass"

                await sup.click('[data-action="hangup"]')
                await sup.wait_for_selector(
                    "form[data-review]:not([data-review=''])", timeout=15_000
                )
                record_id = str(await sup.get_attribute("form[data-review]", "data-review"))
            async with cluster.engine.connect() as db:
                record = await get_record(db, record_id)
                n_calls = await db.scalar(select(func.count()).select_from(calls))
                n_records = await db.scalar(select(func.count()).select_from(records))
            assert record is not None and record.status == "passed"
            assert record.check_id == check
            assert (n_calls, n_records) == (1, 1)  # one call, resumed; one record

            await wait_until(lambda: _accepted(receiver), within=20)
            await asyncio.sleep(1.0)  # room for a second delivery, were there one
            assert list(receiver.accepted().values()) == [1]
        finally:
            nginx.stop()
            await receiver.stop()


async def _accepted(receiver: Receiver) -> bool:
    return bool(receiver.accepted())
