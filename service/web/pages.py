"""The pages a personal link opens. For now they say who you are; the call UI builds on them."""

from __future__ import annotations

from html import escape

from aiohttp import web

from service.links import check_token
from service.org import find_person
from service.state import ENGINE, LINK_SECRET
from service.tokens import TokenError
from service.web.i18n import LANGS, pick_lang, t

STYLE = """
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f8;
color:#1c2430}
header{background:#8b0000;color:#fff;padding:14px 20px;display:flex;justify-content:space-between;
align-items:center}
header b{font-size:20px;letter-spacing:.5px}header a{color:#fff;font-size:14px}
main{max-width:560px;margin:32px auto;padding:0 16px}
.card{background:#fff;border-radius:12px;padding:24px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.muted{color:#5b6675}h1{font-size:22px;margin:0 0 8px}
"""


def render(lang: str, body: str, *, status: int = 200) -> web.Response:
    other = LANGS[1 - LANGS.index(lang)]
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(t(lang, 'title'))}</title><style>{STYLE}</style></head><body>"
        f'<header><b>Hadir</b><a href="?lang={other}">{escape(t(lang, "other_lang"))}</a>'
        f"</header><main>{body}</main></body></html>"
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    response.headers["Cache-Control"] = "no-store"
    return response


async def person_page(request: web.Request) -> web.Response:
    role = request.match_info["role"]
    lang = pick_lang(request)
    async with request.app[ENGINE].connect() as conn:
        try:
            claims = await check_token(conn, request.app[LINK_SECRET], request.match_info["token"])
        except TokenError:
            claims = None
        person = (
            await find_person(conn, role, claims.subject)
            if claims and claims.role == role
            else None
        )
    if claims is None or claims.role != role:
        return render(
            lang,
            f'<div class="card" data-error="link"><h1>'
            f'{escape(t(lang, "link_invalid"))}</h1><p class="muted">'
            f"{escape(t(lang, 'link_invalid_hint'))}</p></div>",
            status=403,
        )
    if person is None:
        return render(
            lang, f'<div class="card"><p>{escape(t(lang, "person_gone"))}</p></div>', status=404
        )
    return render(
        lang,
        f'<div class="card" data-person="{escape(person.id)}"'
        f' data-role="{role}"><p class="muted">{escape(t(lang, "you_are"))}</p>'
        f"<h1>{escape(person.name)}</h1><p>{escape(t(lang, 'role.' + role))}"
        f" · {escape(t(lang, 'unit'))}: {escape(person.unit_name)}</p></div>",
    )


def setup(app: web.Application) -> None:
    app.router.add_get(r"/{role:supervisor|staff}/{token}", person_page)
