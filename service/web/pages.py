"""The pages a personal link opens: the supervisor's dashboard and call page, the staff page.

Pages are rendered on the server, with no front-end build step; the call itself runs
in the scripts under ``static/`` (plain ES modules). A page gets its data, including
every string of its language, as one JSON block, so the scripts carry no text.
Controls and indicators carry stable ``data-*`` hooks (``data-action``,
``data-indicator``/``data-state``, ``data-verdict``) for tests and automation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from service.clock import utcnow
from service.links import check_token
from service.org import Person, find_person, load_policy
from service.policy import Policy
from service.records import RecordState
from service.schema import checks
from service.state import ENGINE, LINK_SECRET
from service.store import read_only
from service.tokens import TokenError
from service.web.dashboard import (
    RECENT_DAYS,
    CheckView,
    awaiting_review,
    checks_of_day,
    newest_records,
    staff_of,
)
from service.web.i18n import (
    LANGS,
    MESSAGES,
    long_date,
    pending_text,
    pick_lang,
    reason_text,
    t,
    uniform_label,
)

STATIC = Path(__file__).with_name("static")
STATIC_FILES = frozenset(p.name for p in STATIC.iterdir() if p.is_file())
# Scripts and styles only from this origin; the camera, microphone and location for it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
PERMISSIONS = "camera=(self), microphone=(self), geolocation=(self)"
# Drawn icons: phones and servers do not all have an emoji font.
MIC_ICON = (
    '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><rect x="9" y="3" '
    'width="6" height="11" rx="3" fill="currentColor"/><path d="M6 11a6 6 0 0 0 12 0M12 17v4" '
    'stroke="currentColor" stroke-width="2" fill="none"/></svg>'
)
CAMERA_ICON = (
    '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><rect x="3" y="7" '
    'width="12" height="10" rx="2" fill="currentColor"/><path d="M15 11l6-3v8l-6-3z" '
    'fill="currentColor"/></svg>'
)
STATUS_CLASS = {"passed": "pass", "failed": "fail", "inconclusive": "inconclusive"}


@dataclass(frozen=True)
class Visitor:
    """Who opened the page: their language, token and roster entry."""

    lang: str
    token: str
    person: Person


def render(
    lang: str,
    body: str,
    *,
    status: int = 200,
    who: str = "",
    script: str | None = None,
    data: dict[str, Any] | None = None,
) -> web.Response:
    other = LANGS[1 - LANGS.index(lang)]
    head_extra = ""
    if script is not None:
        # "<" escaped so no string in the data can close the script element.
        payload = json.dumps({"lang": lang, "t": MESSAGES[lang], **(data or {})})
        payload = payload.replace("<", "\\u003c")
        head_extra = (
            f'<script id="page-data" type="application/json">{payload}</script>'
            f'<script type="module" src="/static/{script}"></script>'
        )
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{escape(t(lang, 'title'))}</title>"
        f'<link rel="stylesheet" href="/static/hadir.css">{head_extra}</head><body>'
        '<header class="bar"><div class="brand"><span class="logo" aria-hidden="true">H</span>'
        f'<b>Hadir</b></div><div class="who">{escape(who)}</div>'
        f'<a class="lang" href="?lang={other}">{escape(t(lang, "other_lang"))}</a></header>'
        f"<main>{body}</main></body></html>"
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Permissions-Policy"] = PERMISSIONS
    return response


def _notice(lang: str, title_key: str, hint_key: str | None, status: int) -> web.Response:
    """A card with a title and a hint: the home page, or why a page does not open
    (then ``data-error`` carries the status for scripts and tests)."""
    hint = f'<p class="muted">{escape(t(lang, hint_key))}</p>' if hint_key else ""
    error = f' data-error="{status}"' if status >= 400 else ""
    return render(
        lang,
        f'<section class="card narrow"{error}><h1>{escape(t(lang, title_key))}</h1>'
        f"{hint}</section>",
        status=status,
    )


async def _visitor(request: web.Request, role: str) -> Visitor | web.Response:
    """The link's holder, or the page that says why the link does not open."""
    lang = pick_lang(request)
    token = request.match_info["token"]
    async with read_only(request.app[ENGINE]).connect() as conn:
        try:
            claims = await check_token(conn, request.app[LINK_SECRET], token)
        except TokenError:
            claims = None
        if claims is None or claims.role != role:
            return _notice(lang, "link_invalid", "link_invalid_hint", 403)
        person = await find_person(conn, role, claims.subject)
    if person is None:
        return _notice(lang, "person_gone", None, 404)
    return Visitor(lang, token, person)


def _who(v: Visitor) -> str:
    return f"{v.person.name} · {t(v.lang, 'role.' + v.person.role)}"


def _clock(at: datetime, zone: Any) -> str:
    return at.astimezone(zone).strftime("%H:%M")


def _badge(lang: str, state: RecordState | None, check_status: str) -> str:
    if state is None:
        return (
            f'<span class="badge {check_status}">{escape(t(lang, "check." + check_status))}</span>'
        )
    css = STATUS_CLASS.get(state.status, state.status)
    review = escape(t(lang, "review." + state.review_state))
    return (
        f'<span class="badge {css}" data-status="{escape(state.status)}">'
        f"{escape(t(lang, 'status.' + state.status))}</span>"
        f' <span class="review {state.review_state}">{review}</span>'
    )


def _reasons(lang: str, state: RecordState) -> str:
    reasons = state.record.body.get("reasons") or []
    return ", ".join(escape(reason_text(lang, str(r))) for r in reasons)


def _review_form(lang: str, record_id: str = "", current: str = "") -> str:
    """Confirm or override with a reason; the script posts it to the API. Without a
    record it is the call page's template, filled in once the call's record exists."""
    options = "".join(
        f'<option value="{s}">{escape(t(lang, "status." + s))}</option>'
        for s in ("passed", "failed", "inconclusive")
        if s != current
    )
    return (
        f'<form class="review" data-review="{escape(record_id)}">'
        f'<label>{escape(t(lang, "reason"))}<textarea name="reason" required maxlength="2000" '
        f'rows="2" placeholder="{escape(t(lang, "reason_placeholder"))}"></textarea></label>'
        '<div class="row">'
        f'<button type="button" class="btn primary" data-action="confirm">'
        f"{escape(t(lang, 'confirm'))}</button>"
        f'<label class="inline">{escape(t(lang, "override_to"))} <select name="status">'
        f"{options}</select></label>"
        f'<button type="button" class="btn" data-action="override">'
        f"{escape(t(lang, 'override'))}</button></div>"
        '<p class="form-msg" role="status"></p></form>'
    )


def _check_row(v: Visitor, c: CheckView, now: datetime, policy: Policy) -> str:
    lang, zone = v.lang, policy.zone
    if c.open_at(now):
        action = (
            f'<a class="btn primary" data-action="start-call" data-check="{escape(c.id)}" '
            f'href="/supervisor/{escape(v.token)}/call/{escape(c.id)}">'
            f"{escape(t(lang, 'start_call'))}</a>"
        )
    elif c.status == "scheduled":
        key = "not_yet" if now < c.window_start else "window_over"
        action = f'<span class="muted">{escape(t(lang, key))}</span>'
    else:
        action = f'<span class="muted">{_reasons(lang, c.result) if c.result else ""}</span>'
    window = f"{_clock(c.window_start, zone)}–{_clock(c.window_end, zone)}"
    return (
        f'<tr data-check="{escape(c.id)}" data-status="{c.status}" '
        f'data-staff="{escape(c.staff_id)}">'
        f'<td><b>{_clock(c.due_at, zone)}</b><br><small class="muted">{window}</small></td>'
        f"<td>{escape(c.staff_name)}</td>"
        f"<td>{escape(uniform_label(lang, policy, c.due_at, c.uniform_policy))}</td>"
        f"<td>{_badge(lang, c.result, c.status)}</td><td>{action}</td></tr>"
    )


def _record_item(lang: str, names: dict[str, str], s: RecordState, zone: Any, form: str) -> str:
    due = datetime.fromisoformat(s.record.body["scheduled"]["due_at"])
    when = f"{long_date(lang, due.astimezone(zone))} {_clock(due, zone)}"
    return (
        f'<li class="record" data-record="{escape(s.record.id)}">'
        f'<div class="row"><b>{escape(names.get(s.record.staff_id, s.record.staff_id))}</b>'
        f'<span class="muted">{escape(when)}</span>{_badge(lang, s, "completed")}</div>'
        f'<p class="muted">{_reasons(lang, s)}</p>{form}</li>'
    )


def _waiting_after(raw: str) -> int | None:
    """The backlog cursor (a record's seq, as the 'more' link gives it); any other value
    shows the first page: ``str.isdigit`` takes ``²`` and a database no 40-digit seq."""
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else None


async def supervisor_page(request: web.Request) -> web.Response:
    v = await _visitor(request, "supervisor")
    if isinstance(v, web.Response):
        return v
    lang, now = v.lang, utcnow()
    after = _waiting_after(request.query.get("waiting_after", ""))
    since = now - timedelta(days=RECENT_DAYS)
    async with read_only(request.app[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        zone = policy.zone
        names = await staff_of(conn, v.person.id)
        today = await checks_of_day(conn, names, now.astimezone(zone).date(), zone)
        waiting = await awaiting_review(conn, list(names), since, after=after)
        latest = await newest_records(conn, list(names), since)
    local = now.astimezone(zone)
    rows = "".join(_check_row(v, c, now, policy) for c in today)
    table = (
        f'<table class="checks"><thead><tr><th>{escape(t(lang, "col.time"))}</th>'
        f"<th>{escape(t(lang, 'col.staff'))}</th><th>{escape(t(lang, 'col.uniform'))}</th>"
        f"<th>{escape(t(lang, 'col.status'))}</th><th>{escape(t(lang, 'col.action'))}</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
        if today
        else f'<p class="muted">{escape(t(lang, "no_checks"))}</p>'
    )
    more = (
        f'<a class="btn" data-more href="?waiting_after={waiting.next_after}">'
        f"{escape(t(lang, 'more'))}</a>"
        if waiting.next_after is not None
        else ""
    )
    waiting_html = (
        "<ul class='records'>"
        + "".join(
            _record_item(lang, names, s, zone, _review_form(lang, s.record.id, s.status))
            for s in waiting.states
        )
        + f"</ul>{more}"
        if waiting.states
        else f'<p class="muted">{escape(t(lang, "none_awaiting"))}</p>'
    )
    latest_html = (
        "<ul class='records'>"
        + "".join(_record_item(lang, names, s, zone, "") for s in latest)
        + "</ul>"
        if latest
        else f'<p class="muted">{escape(t(lang, "no_records"))}</p>'
    )
    body = (
        f'<section class="card" data-section="today"><div class="row spread"><div><h1>'
        f'{escape(t(lang, "today_checks"))}</h1><p class="muted">'
        f"{escape(long_date(lang, local))} ({escape(local.tzname() or '')})"
        f" · {escape(v.person.unit_name)}</p>"
        f'</div><a class="btn" href="">{escape(t(lang, "refresh"))}</a></div>{table}</section>'
        f'<section class="card" data-section="review"><h2>{escape(t(lang, "awaiting_review"))}'
        f' <span class="count">{waiting.total}</span></h2>'
        f'<p class="muted">{escape(t(lang, "review_hint"))}</p>{waiting_html}</section>'
        f'<section class="card" data-section="recent"><h2>{escape(t(lang, "recent_records"))}'
        f"</h2>{latest_html}</section>"
    )
    return render(
        lang,
        body,
        who=_who(v),
        script="dashboard.js",
        data={"token": v.token, "role": "supervisor"},
    )


def _indicators(lang: str) -> str:
    items = "".join(
        f'<li data-indicator="{name}" data-state="pending"><span class="dot"></span>'
        f"<b>{escape(t(lang, 'ind.' + name))}</b><small data-reason>"
        f"{escape(pending_text(lang, 'too_few_samples' if name != 'location' else 'waiting'))}"
        "</small></li>"
        for name in ("face", "camera", "uniform", "location")
    )
    return f'<ul class="indicators">{items}</ul>'


def _verdict_box(lang: str) -> str:
    return (
        f'<div class="verdict" data-verdict="pending"><small>{escape(t(lang, "verdict"))}</small>'
        f"<b data-verdict-text>{escape(t(lang, 'verdict.pending'))}</b>"
        f'<span class="camera-on">{escape(t(lang, "camera_on"))}: <b data-camera-on>—</b></span>'
        "</div>"
    )


async def call_page(request: web.Request) -> web.Response:
    v = await _visitor(request, "supervisor")
    if isinstance(v, web.Response):
        return v
    lang = v.lang
    check_id = request.match_info["check"]
    async with read_only(request.app[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        names = await staff_of(conn, v.person.id)
        row = (await conn.execute(select(checks).where(checks.c.id == check_id))).first()
    if row is None or row.staff_id not in names:
        return _notice(lang, "check_gone", None, 404)
    staff_name = names[row.staff_id]
    body = (
        f'<section class="call" data-call-page data-check="{escape(check_id)}">'
        '<div class="stage">'
        '<video class="remote" data-video="remote" autoplay playsinline></video>'
        '<video class="local" data-video="local" autoplay playsinline muted></video>'
        f'<div class="callstate" data-call-state="idle">{escape(t(lang, "call.idle"))}</div>'
        '<div class="controls">'
        f'<button type="button" class="round" data-action="mic" aria-pressed="true" '
        f'title="{escape(t(lang, "mic"))}">{MIC_ICON}</button>'
        f'<button type="button" class="round" data-action="camera" aria-pressed="true" '
        f'title="{escape(t(lang, "camera"))}">{CAMERA_ICON}</button>'
        f'<button type="button" class="btn primary" data-action="start-call">'
        f"{escape(t(lang, 'start_call'))}</button>"
        f'<button type="button" class="btn danger" data-action="hangup" hidden>'
        f"{escape(t(lang, 'hangup'))}</button></div></div>"
        f'<aside class="panel card"><p class="muted">{escape(t(lang, "call_with"))}</p>'
        f'<h1>{escape(staff_name)}</h1><p class="muted">'
        f"{_clock(row.due_at, policy.zone)} · "
        f"{escape(uniform_label(lang, policy, row.due_at, row.uniform_policy))}</p>"
        f"{_indicators(lang)}{_verdict_box(lang)}"
        f'<div class="after" hidden><p class="saved" data-record></p>'
        f'<h2>{escape(t(lang, "review_title"))}</h2><p class="muted">'
        f"{escape(t(lang, 'review_hint'))}</p><div data-review-slot></div>"
        f"<template data-review-template>{_review_form(lang)}</template></div>"
        f'<p class="error" role="alert" data-error hidden></p>'
        f'<a href="/supervisor/{escape(v.token)}">{escape(t(lang, "back"))}</a></aside></section>'
    )
    return render(
        lang,
        body,
        who=_who(v),
        script="supervisor.js",
        data={"token": v.token, "role": "supervisor", "check": check_id, "staff": row.staff_id},
    )


async def staff_page(request: web.Request) -> web.Response:
    v = await _visitor(request, "staff")
    if isinstance(v, web.Response):
        return v
    lang, now = v.lang, utcnow()
    async with read_only(request.app[ENGINE]).connect() as conn:
        zone = (await load_policy(conn)).zone
        latest = await newest_records(conn, [v.person.id], now - timedelta(days=RECENT_DAYS))
    names = {v.person.id: v.person.name}
    objection = (
        f'<form class="review" data-objection="{{id}}"><label>{escape(t(lang, "reason"))}'
        '<textarea name="reason" required maxlength="2000" rows="2"></textarea></label>'
        f'<button type="button" class="btn" data-action="object">{escape(t(lang, "object"))}'
        '</button><p class="form-msg" role="status"></p></form>'
    )
    items = "".join(
        _record_item(lang, names, s, zone, objection.replace("{id}", escape(s.record.id)))
        for s in latest
    )
    records_html = (
        f'<ul class="records">{items}</ul>'
        if items
        else f'<p class="muted">{escape(t(lang, "no_records"))}</p>'
    )
    body = (
        '<section class="staff" data-staff-page>'
        '<div class="card incoming" data-incoming hidden><p>'
        f"{escape(t(lang, 'incoming_call'))}</p><h2 data-caller></h2>"
        f'<button type="button" class="btn primary big" data-action="answer">'
        f"{escape(t(lang, 'answer'))}</button>"
        f'<button type="button" class="btn danger big" data-action="decline">'
        f"{escape(t(lang, 'decline'))}</button></div>"
        '<div class="stage">'
        '<video class="remote" data-video="remote" autoplay playsinline hidden></video>'
        '<video class="local" data-video="local" autoplay playsinline muted></video>'
        f'<div class="callstate" data-call-state="waiting">{escape(t(lang, "waiting_call"))}'
        '</div><p class="guide" data-guide></p>'
        f'<div class="controls"><button type="button" class="btn primary" '
        f'data-action="enable-camera">{escape(t(lang, "enable_camera"))}</button>'
        f'<button type="button" class="btn danger" data-action="hangup" hidden>'
        f"{escape(t(lang, 'hangup'))}</button></div></div>"
        f'<div class="card panel"><h1>{escape(v.person.name)}</h1><p class="muted">'
        f"{escape(v.person.unit_name)}</p><p>{escape(t(lang, 'staff_intro'))}</p>"
        f'<div class="live" data-live hidden>{_indicators(lang)}{_verdict_box(lang)}</div>'
        '<p class="error" role="alert" data-error hidden></p>'
        f'<details class="why" open><summary>{escape(t(lang, "why_title"))}</summary>'
        f"<p>{escape(t(lang, 'why_camera'))}</p><p>{escape(t(lang, 'why_location'))}</p>"
        "</details></div>"
        f'<div class="card" data-section="records"><h2>{escape(t(lang, "your_records"))}</h2>'
        f'<p class="muted">{escape(t(lang, "object_hint"))}</p>{records_html}</div></section>'
    )
    return render(
        lang, body, who=_who(v), script="staff.js", data={"token": v.token, "role": "staff"}
    )


async def home_page(request: web.Request) -> web.Response:
    """``/``: what this server is and how to get in (a personal link, or the API)."""
    lang = pick_lang(request)
    return _notice(lang, "home_title", "home_hint", 200)


async def static_file(request: web.Request) -> web.FileResponse:
    # Only names shipped in static/: a path from the request never reaches the file system.
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    response = web.FileResponse(STATIC / name)
    response.headers["Cache-Control"] = "no-cache"
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/", home_page)
    app.router.add_get("/supervisor/{token}", supervisor_page)
    app.router.add_get("/supervisor/{token}/call/{check}", call_page)
    app.router.add_get("/staff/{token}", staff_page)
    app.router.add_get("/static/{name}", static_file)
