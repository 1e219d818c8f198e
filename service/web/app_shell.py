"""What makes the staff page an installable app: its web app manifest and the service
worker that shows pushes (docs/push.md).

The manifest is served per link (``/staff/<token>/manifest.webmanifest``) because the
app must open the person's own page, and that page's URL carries their token: a
generic manifest could only start at ``/``, which opens nobody's page. Its ``id`` and
``scope`` are that link too, so a new link installs as a new app. The worker is served
from ``/sw.js`` (scope ``/`` allowed, registered for ``/staff/``) and holds no text:
every notification's words come in its push, in the person's language.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from service.links import PAGE_PATHS, check_token
from service.state import ENGINE, LINK_SECRET
from service.store import read_only
from service.tokens import TokenError
from service.web.i18n import pick_lang, t

STATIC = Path(__file__).with_name("static")
THEME, BACKGROUND = "#0b3d62", "#f2f5f8"  # hadir.css: --brand, --bg
ICONS = [
    {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
    {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
    {
        "src": "/static/icon-maskable-192.png",
        "sizes": "192x192",
        "type": "image/png",
        "purpose": "maskable",
    },
    {
        "src": "/static/icon-maskable-512.png",
        "sizes": "512x512",
        "type": "image/png",
        "purpose": "maskable",
    },
]


def manifest(lang: str, page_path: str) -> dict[str, object]:
    return {
        "id": page_path,
        "name": "Hadir",
        "short_name": "Hadir",
        "description": t(lang, "push.app_description"),
        "lang": lang,
        "start_url": page_path,
        "scope": page_path,
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME,
        "background_color": BACKGROUND,
        "icons": ICONS,
    }


async def staff_manifest(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    async with read_only(request.app[ENGINE]).connect() as conn:
        try:
            claims = await check_token(conn, request.app[LINK_SECRET], token)
        except TokenError:
            raise web.HTTPNotFound() from None
    if claims.role != "staff":
        raise web.HTTPNotFound()
    body = manifest(pick_lang(request), f"{PAGE_PATHS['staff']}/{token}")
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/manifest+json",
        headers={"Cache-Control": "no-store"},
    )


async def service_worker(request: web.Request) -> web.FileResponse:
    response = web.FileResponse(
        STATIC / "sw.js",
        headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache"},
    )
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/staff/{token}/manifest.webmanifest", staff_manifest)
    app.router.add_get("/sw.js", service_worker)
