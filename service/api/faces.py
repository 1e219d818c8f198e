"""Enrolled faces over the API: a staff member enrols (with consent) and deletes their
own from their page (``/me/face``, link auth); an admin imports or deletes one
(``/staff/{staff_id}/face``, ``roster:write``). Nothing is enrolled while the policy
does not check identity (no purpose, so nothing collected); deleting always works.
The stills are JPEGs in a JSON body, analysed like a self-check and described on a free
analysis thread; only the descriptors are kept (``service.enrolment``), encrypted.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from service import metrics
from service.api.auth import API_KEY, LINK
from service.api.bodies import BODY, JSON
from service.api.routes import ApiError, Route, json_response, not_found
from service.clock import utcnow
from service.enrolment import (
    MAX_STILLS,
    EnrolmentError,
    check_agreement,
    enrol,
    find_enrolment,
    forget,
)
from service.org import load_policy
from service.schema import staff
from service.self_check import ImageError, decode_jpeg
from service.state import ENGINE, FACE_KEY
from service.store import read_only
from signaling.server import HUB
from vision.identity import Descriptor, unusable
from vision.verdict import Reason

STILL_BYTES = 512 * 1024  # as a self-check's picture
BODY_SCHEMA = {JSON: {"schema": {"$ref": "#/components/schemas/FaceEnrolment"}}}
ENROL_RESPONSES = {
    201: ("the enrolment (no descriptor, no picture), with the stills left out", "Enrolment"),
    400: ("a still that is not a JPEG picture of 64 to 4096 pixels a side", "Error"),
    409: ("the organisation's policy does not check identity", "Error"),
    422: ("no still with one usable face, or stills of different faces", "Error"),
    503: ("every analysis thread is busy with calls", "Error"),
}


def _own(request: web.Request) -> str:
    claims = request[LINK]
    if claims.role != "staff":
        raise ApiError(403, "forbidden", "only a staff member enrols their own face")
    return claims.subject


@dataclass(frozen=True)
class Described:
    """The stills of one enrolment: the descriptors of those with one usable face, and
    why each other one was left out (by its index in the body)."""

    descriptors: list[Descriptor]
    skipped: dict[int, Reason]


async def _descriptors(request: web.Request) -> Described:
    """Each still of the body decoded, analysed and described. A still without one usable
    face (a blink, a step back) is left out, as a person taking three pictures would
    drop the bad one; 422 only when none is usable, or the usable ones are of different
    faces; 400 when a still is not a picture at all."""
    pool = request.config_dict[HUB].pool
    out = Described([], {})
    for i, encoded in enumerate(request[BODY].value["images"]):
        try:
            data = base64.b64decode(encoded, validate=True)
            if len(data) > STILL_BYTES:
                raise ImageError(f"a picture of at most {STILL_BYTES // 1024} KiB is needed")
            rgb = decode_jpeg(data)
        except (binascii.Error, ImageError) as exc:
            raise ApiError(400, "bad_image", f"images[{i}]: {exc}") from None
        done = await pool.describe_still(rgb)
        if done is None:
            raise ApiError(503, "busy", "every analysis thread is busy with calls: try again")
        sample, descriptor = done
        problem = unusable(sample)
        if problem is not None or descriptor is None:  # (no descriptor: no usable face)
            out.skipped[i] = problem or Reason.NO_FACE
        else:
            out.descriptors.append(descriptor)
    if not out.descriptors:
        code = next(iter(out.skipped.values())).value
        found = ", ".join(f"images[{i}]: {r.value}" for i, r in out.skipped.items())
        raise ApiError(422, code, f"no still has one usable face ({found})")
    try:
        check_agreement(out.descriptors)
    except EnrolmentError as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    return out


async def _enrol(request: web.Request, staff_id: str, source: str, actor: str) -> web.Response:
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        if not (await load_policy(conn)).identity_check:  # no purpose: nothing collected
            raise ApiError(409, "identity_check_off", "the policy does not check identity")
    described = await _descriptors(request)
    async with request.config_dict[ENGINE].begin() as conn:
        enrolment = await enrol(
            conn,
            request.config_dict[FACE_KEY],
            staff_id,
            described.descriptors,
            source=source,
            actor=actor,
            now=utcnow(),
        )
    metrics.FACE_ENROLMENTS.labels(source).inc()
    skipped = [{"image": i, "reason": r.value} for i, r in described.skipped.items()]
    return json_response({**enrolment.to_dict(), "skipped": skipped}, status=201)


async def my_face(request: web.Request) -> web.Response:
    staff_id = _own(request)
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        found = await find_enrolment(conn, staff_id)
    return json_response(found.to_dict() if found else {"staff_id": staff_id, "enrolled": False})


async def enrol_mine(request: web.Request) -> web.Response:
    staff_id = _own(request)
    return await _enrol(request, staff_id, "self", f"staff:{staff_id}")


async def forget_mine(request: web.Request) -> web.Response:
    staff_id = _own(request)
    async with request.config_dict[ENGINE].begin() as conn:
        await forget(conn, staff_id, actor=f"staff:{staff_id}")
    return web.Response(status=204)


async def _known_staff(request: web.Request) -> str:
    staff_id = request.match_info["staff_id"]
    async with read_only(request.config_dict[ENGINE]).connect() as conn:
        found = (await conn.execute(select(staff.c.id).where(staff.c.id == staff_id))).first()
    if found is None:
        raise not_found("staff member")
    return staff_id


async def import_face(request: web.Request) -> web.Response:
    staff_id = await _known_staff(request)
    return await _enrol(request, staff_id, "admin", f"apikey:{request[API_KEY].id}")


async def delete_face(request: web.Request) -> web.Response:
    staff_id = await _known_staff(request)
    async with request.config_dict[ENGINE].begin() as conn:
        await forget(conn, staff_id, actor=f"apikey:{request[API_KEY].id}")
    return web.Response(status=204)


MAX_BODY = MAX_STILLS * STILL_BYTES * 4 // 3 + 4096  # base64 and the JSON around it
ROUTES = (
    Route(
        "GET",
        "/me/face",
        my_face,
        "link",
        "Staff: whether their face is enrolled for the identity match, when and how",
        {200: ("the enrolment, or enrolled: false", "Enrolment"), 403: ("not staff", "Error")},
        tags=("me",),
    ),
    Route(
        "PUT",
        "/me/face",
        enrol_mine,
        "link",
        "Staff: enrol (or enrol again) their face from 1 to 3 camera stills, with consent; "
        "only face descriptors are kept, encrypted, never the pictures",
        {**ENROL_RESPONSES, 403: ("not a staff member's link", "Error")},
        body=BODY_SCHEMA,
        max_body=MAX_BODY,
        tags=("me",),
    ),
    Route(
        "DELETE",
        "/me/face",
        forget_mine,
        "link",
        "Staff: delete their enrolled face (calls then say not_enrolled)",
        {204: ("deleted (or there was none)", None), 403: ("not staff", "Error")},
        tags=("me",),
    ),
    Route(
        "PUT",
        "/staff/{staff_id}/face",
        import_face,
        "roster:write",
        "Admin: import a staff member's face from 1 to 3 stills, with their recorded "
        "consent; replaces any enrolment",
        {**ENROL_RESPONSES, 404: ("no such staff member", "Error")},
        body=BODY_SCHEMA,
        max_body=MAX_BODY,
        tags=("roster",),
    ),
    Route(
        "DELETE",
        "/staff/{staff_id}/face",
        delete_face,
        "roster:write",
        "Admin: delete a staff member's enrolled face",
        {204: ("deleted (or there was none)", None), 404: ("no such staff member", "Error")},
        tags=("roster",),
    ),
)
