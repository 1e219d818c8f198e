"""The pages a personal link opens: the supervisor's dashboard and call page, the staff page.

Pages are Jinja2 templates (``templates/``, autoescaped) rendered on the server, with no
front-end build step; the call itself runs in the scripts under ``static/`` (plain ES
modules, served with a content hash in their URL so browsers may keep them). A page gets
its data, including every string of its language, as one JSON block, so the scripts carry
no text. Controls and indicators carry stable ``data-*`` hooks (``data-action``,
``data-indicator``/``data-state``, ``data-verdict``) for tests and automation.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import select

from service.clock import utcnow
from service.enrolment import find_enrolment
from service.links import check_token
from service.org import Person, find_person, load_policy
from service.policy import Policy
from service.records import RecordError, find_state
from service.schema import checks
from service.state import CONFIG, ENGINE, LINK_SECRET
from service.store import read_only
from service.tokens import TokenError
from service.web.dashboard import (
    RECENT_DAYS,
    awaiting_review,
    checks_of_day,
    newest_records,
    next_check,
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
    uniform_text,
)

STATIC = Path(__file__).with_name("static")
# A file's URL carries a hash of its content: a page always asks for the version it was
# made with, so that URL may be cached for good. Scripts import each other without it
# and revalidate (``no-cache``).
STATIC_VERSIONS = {
    p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in STATIC.iterdir() if p.is_file()
}
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Scripts and styles only from this origin; the camera, microphone and location for it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
PERMISSIONS = "camera=(self), microphone=(self), geolocation=(self)"
RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
STATUS_CLASS = {"passed": "pass", "failed": "fail", "inconclusive": "inconclusive"}


@dataclass(frozen=True)
class Visitor:
    """Who opened the page: their language, token and roster entry."""

    lang: str
    token: str
    person: Person


def static_url(name: str) -> str:
    return f"/static/{name}?v={STATIC_VERSIONS[name]}"


def render(
    lang: str,
    template: str,
    *,
    status: int = 200,
    who: str = "",
    script: str | None = None,
    data: dict[str, Any] | None = None,
    policy: Policy | None = None,
    **context: Any,
) -> web.Response:
    """A page in ``lang``: the template gets the words (``t``), reason codes in words,
    and, given the organisation's policy, its clock and uniform names."""
    helpers: dict[str, Any] = {
        "lang": lang,
        "other_lang": LANGS[1 - LANGS.index(lang)],
        "t": partial(t, lang),
        "reason": partial(reason_text, lang),
        "pending": partial(pending_text, lang),
        "status_class": lambda status: STATUS_CLASS.get(status, status),
        "static": static_url,
        "status": status,
        "who": who,
        "script": script,
        "page_data": {"lang": lang, "t": MESSAGES[lang], **(data or {})},
    }
    if policy is not None:
        zone = policy.zone
        helpers["clock"] = partial(_hm, zone=zone)
        helpers["local_date"] = lambda at: at.astimezone(zone).date()
        helpers["uniform"] = partial(uniform_label, lang, policy)
        helpers["day_time"] = partial(_day_time, lang, zone)
        helpers["record_when"] = lambda s: _day_time(
            lang, zone, datetime.fromisoformat(s.record.body["scheduled"]["due_at"])
        )
        helpers["uniform_words"] = partial(uniform_text, lang)
        helpers["identity_check"] = policy.identity_check  # the identity indicator shows
        helpers["liveness_check"] = policy.liveness_check  # so does liveness's, from the start
    html = TEMPLATES.get_template(template).render(helpers | context)
    response = web.Response(text=html, content_type="text/html", status=status)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Permissions-Policy"] = PERMISSIONS
    return response


def _hm(at: datetime, zone: Any) -> str:
    return at.astimezone(zone).strftime("%H:%M")


def _day_time(lang: str, zone: Any, at: datetime) -> str:
    """``Senin, 30 November 2026 10:00``: how people name a check (not by its id)."""
    return f"{long_date(lang, at.astimezone(zone))} {_hm(at, zone)}"


def _notice(lang: str, title_key: str, hint_key: str | None, status: int) -> web.Response:
    return render(lang, "notice.html", status=status, title_key=title_key, hint_key=hint_key)


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


def _waiting_after(raw: str) -> int | None:
    """The backlog cursor (a record's seq, as the 'more' link gives it); any other value
    shows the first page: ``str.isdigit`` takes ``²`` and a database no 40-digit seq."""
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else None


async def supervisor_page(request: web.Request) -> web.Response:
    v = await _visitor(request, "supervisor")
    if isinstance(v, web.Response):
        return v
    now = utcnow()
    after = _waiting_after(request.query.get("waiting_after", ""))
    since = now - timedelta(days=RECENT_DAYS)
    async with read_only(request.app[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        names = await staff_of(conn, v.person.id)
        today = await checks_of_day(conn, names, now.astimezone(policy.zone).date(), policy.zone)
        waiting = await awaiting_review(conn, list(names), since, after=after)
        latest = await newest_records(conn, list(names), since)
    local = now.astimezone(policy.zone)
    return render(
        v.lang,
        "supervisor.html",
        who=_who(v),
        script="dashboard.js",
        data={"token": v.token, "role": "supervisor"},
        policy=policy,
        token=v.token,
        now=now,
        today_label=f"{long_date(v.lang, local)} ({local.tzname() or ''})",
        unit=v.person.unit_name,
        today=today,
        names=names,
        waiting=waiting,
        latest=latest,
    )


async def call_page(request: web.Request) -> web.Response:
    v = await _visitor(request, "supervisor")
    if isinstance(v, web.Response):
        return v
    check_id = request.match_info["check"]
    async with read_only(request.app[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        names = await staff_of(conn, v.person.id)
        row = (await conn.execute(select(checks).where(checks.c.id == check_id))).first()
    if row is None or row.staff_id not in names:
        return _notice(v.lang, "check_gone", None, 404)
    return render(
        v.lang,
        "call.html",
        who=_who(v),
        script="supervisor.js",
        data={"token": v.token, "role": "supervisor", "check": check_id, "staff": row.staff_id},
        policy=policy,
        token=v.token,
        check_id=check_id,
        staff_name=names[row.staff_id],
        due_at=row.due_at,
        uniform_policy=row.uniform_policy,
    )


async def staff_page(request: web.Request) -> web.Response:
    v = await _visitor(request, "staff")
    if isinstance(v, web.Response):
        return v
    now = utcnow()
    async with read_only(request.app[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        latest = await newest_records(conn, [v.person.id], now - timedelta(days=RECENT_DAYS))
        upcoming = await next_check(conn, v.person.id, now)
        enrolment = await find_enrolment(conn, v.person.id) if policy.identity_check else None
    return render(
        v.lang,
        "staff.html",
        who=_who(v),
        script="staff.js",
        data={"token": v.token, "role": "staff"},
        policy=policy,
        person=v.person,
        latest=latest,
        upcoming=upcoming,
        enrolment=enrolment,
        now=now,
        token=v.token,
        push_enabled=request.app[CONFIG].push.enabled,
    )


async def review_item(request: web.Request) -> web.Response:
    """One record of the supervisor's staff with its review form, for the call page."""
    v = await _visitor(request, "supervisor")
    if isinstance(v, web.Response):
        return v
    record_id = request.match_info["record"]
    state = None
    async with read_only(request.app[ENGINE]).connect() as conn:
        policy = await load_policy(conn)
        names = await staff_of(conn, v.person.id)
        if RECORD_ID.fullmatch(record_id):  # nothing else names a record
            with contextlib.suppress(RecordError):
                state = await find_state(conn, record_id)
    if state is None or state.record.staff_id not in names:
        return _notice(v.lang, "record_gone", None, 404)
    name = names[state.record.staff_id]
    return render(v.lang, "review_item.html", policy=policy, state=state, staff_name=name)


async def home_page(request: web.Request) -> web.Response:
    """``/``: what this server is and how to get in (a personal link, or the API)."""
    return _notice(pick_lang(request), "home_title", "home_hint", 200)


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.ico", headers={"Cache-Control": "max-age=86400"})


async def _static_cache_headers(request: web.Request, response: web.StreamResponse) -> None:
    """A versioned static URL never changes (kept a year); an unversioned one revalidates."""
    if request.path.startswith("/static/") and response.status == 200:
        hashed = request.query.get("v") == STATIC_VERSIONS.get(request.path[8:])
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if hashed else "no-cache"
        )


@web.middleware
async def _only_shipped_static(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only the files shipped in static/ reach aiohttp's static route: a path that names
    anything else (a traversal, a name longer than the file system takes) is not found."""
    if request.path.startswith("/static/") and request.path[8:] not in STATIC_VERSIONS:
        raise web.HTTPNotFound()
    return await handler(request)


def setup(app: web.Application) -> None:
    app.router.add_get("/", home_page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/supervisor/{token}", supervisor_page)
    app.router.add_get("/supervisor/{token}/call/{check}", call_page)
    app.router.add_get("/staff/{token}", staff_page)
    app.router.add_get("/supervisor/{token}/records/{record}", review_item)
    # aiohttp's static route: only files under static/, with ETag and Last-Modified.
    app.router.add_static("/static", STATIC, name="static")
    app.middlewares.append(_only_shipped_static)
    app.on_response_prepare.append(_static_cache_headers)
