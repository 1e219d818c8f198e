"""The pages as served: who sees what, the hooks the scripts and tests rely on, and text."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.policy import Policy
from service.records import (
    CallResult,
    complete_check,
    lock_chain,
    object_to_record,
    record_missed_many,
    review_record,
)
from service.schema import checks, staff
from service.state import ENGINE, SIGNING_KEY
from service.web.dashboard import REVIEW_PAGE, awaiting_review, newest_records
from service.web.i18n import MESSAGES, uniform_text
from service.web.pages import render
from signaling.verdict import NAMES, CallVerdict, Criterion
from tests.call_helpers import Links, add_check, seed_org
from vision.colour import PALETTE
from vision.verdict import Reason, Verdict

ROOT = Path(__file__).resolve().parents[1]
# The API modules a page's review or objection form goes through.
FRIDAY = "Pakaian adat Betawi (sadariah/kebaya)"
FORM_API = ("auth.py", "bodies.py", "idempotency.py", "me.py", "records.py", "routes.py")


def page_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_both_languages_say_everything() -> None:
    assert MESSAGES["id"].keys() == MESSAGES["en"].keys()
    for reason in Reason:
        assert f"r.{reason.value}" in MESSAGES["id"], reason
    for name in NAMES:
        assert f"ind.{name}" in MESSAGES["id"]
    for colour in PALETTE:
        assert f"colour.{colour.name}" in MESSAGES["id"], colour


def test_every_server_error_a_page_can_meet_has_its_words() -> None:
    """The pages show error codes in their own language, never the server's English: each
    code of the call protocol (docs/protocol.md) and of the API behind the forms."""
    protocol = (ROOT / "docs" / "protocol.md").read_text().split("## Error codes")[1]
    listed = re.sub(r"\([^)]*\)", "", protocol.split("\n## ")[0])  # not the examples
    codes = re.findall(r"`([a-z_]+)`", listed)
    assert {"busy", "outside_window", "bad_state", "internal"} <= set(codes)
    for code in codes:
        assert f"e.{code}" in MESSAGES["id"], code
    api = "".join((ROOT / "service" / "api" / name).read_text() for name in FORM_API)
    api_codes = set(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', api))
    assert {"bad_parameter", "conflict", "forbidden", "not_found", "unauthorized"} <= api_codes
    for code in api_codes:
        assert f"api.{code}" in MESSAGES["id"], code


def test_a_uniform_policy_in_words_in_each_language() -> None:
    assert uniform_text("id", "solid:khaki,white") == "Seragam polos: khaki, putih"
    assert uniform_text("en", "solid:khaki,white") == "Plain uniform: khaki, white"
    assert uniform_text("id", "solid:#c3b091") == "Seragam polos: #c3b091"
    assert uniform_text("id", "patterned") == "Batik / bermotif"


@pytest.mark.parametrize(
    ("day", "uniform", "id_label", "en_label"),
    [
        # Jakarta's weekday table (Pergub 183/2017): the organisation's own names.
        (23, "solid:khaki", "PDH khaki", "PDH khaki"),
        (25, "solid:white", "Kemeja putih", "Kemeja putih"),
        (26, "patterned", "Batik", "Batik"),
        (27, "any", FRIDAY, FRIDAY),
        # A check made under another rule than its day's: that rule, in words.
        (26, "solid:white", "Seragam polos: putih", "Plain uniform: white"),
        (28, "any", "Bebas (badan terlihat)", "Any (torso visible)"),  # a Saturday
    ],
)
async def test_the_call_page_names_the_uniform_of_the_checks_day(
    client: TestClient[Any, Any],
    links: Links,
    day: int,
    uniform: str,
    id_label: str,
    en_label: str,
) -> None:
    due = datetime.fromisoformat(f"2026-11-{day}T10:00:00+07:00")
    check = await add_check(
        client.app[ENGINE], "staff1", opens=timedelta(0), uniform=uniform, now=due
    )
    for lang, label in (("id", id_label), ("en", en_label)):
        page = f"/supervisor/{links.tokens['sup1']}/call/{check}?lang={lang}"
        html = await (await client.get(page)).text()
        shown = html.split('<p class="muted">10:00 · ')[1].split("</p>")[0]
        assert shown == label


async def test_dashboard_shows_own_staff_and_opens_calls_only_inside_the_window(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    # The dashboard shows the checks due today in the organisation's zone: keep both
    # windows' starts on today's side of midnight, whatever the hour the test runs.
    now = utcnow()
    today = now.astimezone(Policy().zone).date()
    midnight = datetime.combine(today + timedelta(days=1), time(0), Policy().zone)
    since = now - datetime.combine(today, time(0), Policy().zone)
    ahead = min(timedelta(minutes=30), (midnight - now) / 2)
    open_now = await add_check(engine, "staff1", opens=-min(timedelta(minutes=5), since / 2))
    later = await add_check(engine, "staff1", opens=ahead, closes=ahead * 1.5)
    others = await add_check(engine, "staff2")
    response = await client.get(f"/supervisor/{links.tokens['sup1']}")
    html = await response.text()
    assert response.status == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert f'data-action="start-call" data-check="{open_now}"' in html
    assert f'tr data-check="{later}" data-status="scheduled"' in html
    assert f'data-check="{later}" href' not in html  # not yet open: no button
    assert others not in html  # staff2 belongs to the other supervisor
    assert "Siti Rahmawati" in html and "Andi Pratama" not in html
    data = page_data(html)
    assert data["token"] == links.tokens["sup1"] and data["t"]["start_call"] == "Mulai panggilan"


async def test_records_waiting_for_review_carry_a_review_form(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    check = await add_check(engine, "staff1")
    dark, ok = Criterion(Verdict.INCONCLUSIVE, ("low_light",)), Criterion(Verdict.PASS)
    record = await complete_check(
        engine,
        check,
        CallResult(
            started_at=utcnow() - timedelta(minutes=2),
            ended_at=utcnow(),
            verdict=CallVerdict(dark, ok, ok, ok, camera_on=1.0),
        ),
        key=client.app[SIGNING_KEY],
    )
    html = await (await client.get(f"/supervisor/{links.tokens['sup1']}?lang=en")).text()
    review = html.split('data-section="review"')[1].split("</section>")[0]
    assert f'data-review="{record.id}"' in review
    assert 'data-action="confirm"' in review and 'data-action="override"' in review
    assert "Too dark" in review  # the reason, in the chosen language
    staff_html = await (await client.get(f"/staff/{links.tokens['staff1']}")).text()
    assert f'data-objection="{record.id}"' in staff_html
    other_staff = await (await client.get(f"/staff/{links.tokens['staff2']}")).text()
    assert record.id not in other_staff
    # The share of the call the camera was on, and no status chosen for an override.
    assert "Camera on: 100%" in review
    assert '<option value="" selected>— choose a status —</option>' in review

    # The call page's review of this record, for its own supervisor only.
    sup1, sup2 = links.tokens["sup1"], links.tokens["sup2"]
    item = await client.get(f"/supervisor/{sup1}/records/{record.id}")
    assert item.status == 200 and f'data-review="{record.id}"' in await item.text()
    for token, record_id, status in (
        (sup2, record.id, 404),
        (sup1, "rec_absent", 404),
        (sup1, "rec%00x", 404),
        (sup1, "x" * 300, 404),
        (links.tokens["staff1"], record.id, 403),
    ):
        response = await client.get(f"/supervisor/{token}/records/{record_id}")
        assert response.status == status, (token, record_id)


async def test_one_objection_then_the_staff_page_shows_where_it_stands(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    check = await add_check(engine, "staff1")
    ok = Criterion(Verdict.PASS)
    record = await complete_check(
        engine,
        check,
        CallResult(utcnow() - timedelta(minutes=2), utcnow(), CallVerdict(ok, ok, ok, ok, 1.0)),
        key=client.app[SIGNING_KEY],
    )
    key = client.app[SIGNING_KEY]
    await object_to_record(
        engine, record.id, staff_id="staff1", reason="Saya hadir <b>penuh</b>", key=key
    )
    html = await (await client.get(f"/staff/{links.tokens['staff1']}")).text()
    assert f'data-objection="{record.id}"' not in html
    assert 'data-objection-state="waiting"' in html
    assert "<q>Saya hadir &lt;b&gt;penuh&lt;/b&gt;</q>" in html
    await review_record(
        engine, record.id, reviewer="supervisor:sup1", decision="confirm", reason="Ok", key=key
    )
    html = await (await client.get(f"/staff/{links.tokens['staff1']}?lang=en")).text()
    assert 'data-objection-state="reviewed"' in html and "Confirmed by the supervisor" in html
    assert f'data-objection="{record.id}"' not in html


async def test_the_staff_page_says_when_the_next_check_is_and_what_to_wear(
    client: TestClient[Any, Any], links: Links
) -> None:
    url = f"/staff/{links.tokens['staff1']}"
    assert "No more checks scheduled." in await (await client.get(url + "?lang=en")).text()
    # Navy is no weekday's rule, so the words are the policy's whatever day it is due
    # (a day's own rule shows its name: test_the_call_page_names_the_uniform_of_the_checks_day).
    await add_check(client.app[ENGINE], "staff1", uniform="solid:navy")
    html = await (await client.get(url + "?lang=id")).text()
    section = html.split("data-next-check")[1].split("</div>")[0]
    assert "Seragam polos: biru dongker" in section and "Sedang berlangsung" in section


async def test_call_page_only_for_the_supervisors_own_checks(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    own = await add_check(engine, "staff1")
    other = await add_check(engine, "staff2")
    response = await client.get(f"/supervisor/{links.tokens['sup1']}/call/{own}")
    html = await response.text()
    assert response.status == 200
    for name in NAMES:
        assert f'data-indicator="{name}" data-state="pending"' in html
    assert 'data-verdict="pending"' in html and 'data-action="hangup"' in html
    for words in ("Akhiri panggilan", "Mengumpulkan gambar…", "Sedang dinilai…"):
        assert words in html
    assert "Tutup panggilan" not in html and "Menunggu cukup" not in html
    assert page_data(html)["check"] == own
    refused = await client.get(f"/supervisor/{links.tokens['sup1']}/call/{other}")
    assert refused.status == 404
    staff_token = await client.get(f"/supervisor/{links.tokens['staff1']}/call/{own}")
    assert staff_token.status == 403


async def test_static_files_and_no_way_out_of_them(client: TestClient[Any, Any]) -> None:
    script = await client.get("/static/hadir.js")
    assert script.status == 200 and "javascript" in script.headers["Content-Type"]
    assert script.headers["Cache-Control"] == "no-cache" and "ETag" in script.headers
    for name in ("..%2Fpages.py", "nothere.js", "%2E%2E%2Fi18n.py", "..%2Ftemplates%2Fbase.html"):
        assert (await client.get(f"/static/{name}")).status == 404
    icon = await client.get("/favicon.ico")
    assert icon.status == 200 and (await icon.read())[:4] == b"\0\0\1\0"


async def test_pages_ask_for_static_files_by_content_hash_which_may_be_kept(
    client: TestClient[Any, Any], links: Links
) -> None:
    html = await (await client.get(f"/staff/{links.tokens['staff1']}")).text()
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
    assert {u.split("?")[0] for u in urls} >= {"/static/hadir.css", "/static/staff.js"}
    for url in urls:
        response = await client.get(url)
        assert response.status == 200, url
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = await client.get("/static/hadir.css?v=0000")
    assert stale.headers["Cache-Control"] == "no-cache"


async def test_names_from_the_roster_are_escaped_everywhere(
    client: TestClient[Any, Any], links: Links
) -> None:
    hostile = '<img src=x onerror="alert(1)">&'
    async with client.app[ENGINE].begin() as conn:
        await conn.execute(update(staff).where(staff.c.id == "staff1").values(name=hostile))
    await add_check(client.app[ENGINE], "staff1")
    for url in (f"/staff/{links.tokens['staff1']}", f"/supervisor/{links.tokens['sup1']}"):
        html = await (await client.get(url)).text()
        assert "<img" not in html, url
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;" in html, url


def test_page_data_cannot_close_its_script_element() -> None:
    response = render(
        "id",
        "notice.html",
        script="staff.js",
        data={"token": "</script><b>x</b>"},
        title_key="home_title",
        hint_key=None,
    )
    assert response.text is not None
    block = response.text.split('type="application/json">')[1].split("</script>")[0]
    assert "<" not in block and json.loads(block)["token"] == "</script><b>x</b>"


async def test_a_cancelled_check_shows_as_cancelled_without_a_call_button(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine = client.app[ENGINE]
    check_id = await add_check(engine, "staff1")
    async with engine.begin() as conn:
        await conn.execute(checks.update().values(status="cancelled"))
    response = await client.get(f"/supervisor/{links.tokens['sup1']}")
    html = await response.text()
    assert response.status == 200
    assert f'tr data-check="{check_id}" data-status="cancelled"' in html
    assert "Dibatalkan" in html and 'data-action="start-call"' not in html


async def _backlog(engine: AsyncEngine, key: Ed25519PrivateKey) -> list[str]:
    """Records waiting for review, oldest first: missed checks, two of them confirmed,
    one of those objected to again (which reopens it)."""
    ids = [
        await add_check(engine, "staff1", opens=timedelta(hours=-2), closes=timedelta(hours=-1))
        for _ in range(REVIEW_PAGE + 5)
    ]
    async with engine.begin() as conn:
        await lock_chain(conn)
        written = await record_missed_many(conn, ids, key=key)
    for record in written[:2]:
        await review_record(
            engine, record.id, reviewer="supervisor:sup1", decision="confirm", reason="ok", key=key
        )
    await object_to_record(engine, written[1].id, staff_id="staff1", reason="hadir", key=key)
    return [r.id for r in written if r is not written[0]]


async def test_the_review_backlog_is_paged_oldest_first(
    client: TestClient[Any, Any], links: Links
) -> None:
    waiting = await _backlog(client.app[ENGINE], client.app[SIGNING_KEY])

    def section(html: str) -> str:
        return html.split('data-section="review"')[1].split("</section>")[0]

    base = f"/supervisor/{links.tokens['sup1']}"
    first = section(await (await client.get(base)).text())
    shown = re.findall(r'data-review="([^"]+)"', first)
    assert f'<span class="count">{len(waiting)}</span>' in first
    assert shown == waiting[:REVIEW_PAGE]
    more = re.search(r'data-more href="([^"]+)"', first)
    assert more is not None
    rest = section(await (await client.get(base + more.group(1))).text())
    assert shown + re.findall(r'data-review="([^"]+)"', rest) == waiting
    assert "data-more" not in rest
    for hostile in ("%C2%B2", "9" * 40, "-1", "1e3"):  # ², past any seq, not a seq
        response = await client.get(f"{base}?waiting_after={hostile}")
        assert response.status == 200, hostile
        assert re.findall(r'data-review="([^"]+)"', section(await response.text())) == shown


async def test_the_review_backlog_query_on_both_databases(
    store: AsyncEngine, tmp_path: Path
) -> None:
    await seed_org(store, tmp_path, b"x" * 32)
    waiting = await _backlog(store, Ed25519PrivateKey.generate())
    since = utcnow() - timedelta(days=1)
    async with store.connect() as conn:
        first = await awaiting_review(conn, ["staff1", "staff2"], since, limit=10)
        rest = await awaiting_review(conn, ["staff1"], since, after=first.next_after, limit=100)
        newest = await newest_records(conn, ["staff1"], since, limit=3)
    assert first.total == rest.total == len(waiting)
    assert [s.record.id for s in first.states + rest.states] == waiting
    assert rest.next_after is None
    assert [s.review_state for s in first.states[:2]] == ["objected", "unreviewed"]
    assert [s.record.id for s in newest] == waiting[::-1][:3]
