"""Roster import over the API (``roster:write``): the same all-or-nothing import as the CLI,
then the same reconciliation of checks with the new roster; the pages of staff it made
inactive close at once (their links are revoked)."""

from __future__ import annotations

from aiohttp import web

from service.api.auth import API_KEY
from service.api.bodies import BODY
from service.api.routes import ApiError, Route, json_response
from service.checks import JoinLinks, reconcile_checks
from service.org import import_roster_text
from service.roster import MAX_FILE_BYTES, RosterError
from service.state import CONFIG, ENGINE, LINK_SECRET
from signaling.server import HUB

FORMATS = {"text/csv": "csv", "application/json": "json"}


async def import_roster(request: web.Request) -> web.Response:
    body = request[BODY]
    fmt = FORMATS[body.media_type]
    engine, config = request.config_dict[ENGINE], request.config_dict[CONFIG]
    try:
        summary = await import_roster_text(
            engine,
            body.text,  # parsed again with line numbers, for errors the schema cannot see
            fmt,
            source=f"api.{fmt}",
            actor=f"apikey:{request[API_KEY].id}",
        )
    except RosterError as exc:
        raise ApiError(400, "invalid_roster", str(exc)) from None
    await request.config_dict[HUB].bus.revoked(summary.revoked)  # staff made inactive
    await reconcile_checks(
        engine, links=JoinLinks(request.config_dict[LINK_SECRET], config.public_url)
    )
    return json_response(summary.counts())


ROUTES = (
    Route(
        "POST",
        "/roster",
        import_roster,
        "roster:write",
        "Import units, supervisors and staff, all or nothing (as `hadir roster import`)",
        {200: ("how many rows of each kind", "RosterImported")},
        body={
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/Roster"}},
        },
        max_body=MAX_FILE_BYTES,
        tags=("roster",),
    ),
)
