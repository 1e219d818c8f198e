"""Revoking personal links over the API (``roster:write``), as ``hadir link revoke``: the
revocation is committed, then every node is told on the bus to close the links' pages at
once (``Bus.revoked``; the nodes' link check is the safety net)."""

from __future__ import annotations

from aiohttp import web

from service.api.auth import API_KEY
from service.api.routes import Route, json_response, not_found
from service.links import revoke
from service.org import find_person
from service.state import ENGINE
from signaling.server import HUB

RESPONSES = {200: ("how many live links were revoked", "LinksRevoked")}


async def revoke_token(request: web.Request) -> web.Response:
    token_id = request.match_info["token_id"]
    async with request.config_dict[ENGINE].begin() as conn:
        ids = await revoke(conn, actor=f"apikey:{request[API_KEY].id}", jti=token_id)
    if not ids:
        raise not_found("live link")
    await request.config_dict[HUB].bus.revoked(ids)
    return json_response({"revoked": len(ids)})


async def revoke_person(request: web.Request) -> web.Response:
    role = "staff" if "staff_id" in request.match_info else "supervisor"
    subject = request.match_info[f"{role}_id"]
    async with request.config_dict[ENGINE].begin() as conn:
        if await find_person(conn, role, subject) is None:
            raise not_found("staff member" if role == "staff" else "supervisor")
        ids = await revoke(conn, actor=f"apikey:{request[API_KEY].id}", role=role, subject=subject)
    await request.config_dict[HUB].bus.revoked(ids)
    return json_response({"revoked": len(ids)})


ROUTES = (
    Route(
        "DELETE",
        "/links/{token_id}",
        revoke_token,
        "roster:write",
        "Revoke one personal link by its token id; its open pages close at once",
        {**RESPONSES, 404: ("no live link with this token id", "Error")},
        tags=("roster",),
    ),
    Route(
        "DELETE",
        "/staff/{staff_id}/links",
        revoke_person,
        "roster:write",
        "Revoke every live link of a staff member; their open pages close at once",
        {**RESPONSES, 404: ("no such staff member", "Error")},
        tags=("roster",),
    ),
    Route(
        "DELETE",
        "/supervisors/{supervisor_id}/links",
        revoke_person,
        "roster:write",
        "Revoke every live link of a supervisor; their open pages close at once",
        {**RESPONSES, 404: ("no such supervisor", "Error")},
        tags=("roster",),
    ),
)
