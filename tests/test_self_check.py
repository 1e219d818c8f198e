"""The staff self-check (``POST /api/v1/me/self-check``): a real photograph judged under
the uniform of the person's next check, bad pictures refused with a 4xx, nothing kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from service.schema import evidence, records
from service.self_check import ImageError, jpeg_size
from service.state import ENGINE
from tests.call_helpers import Links, add_check

ROOT = Path(__file__).resolve().parents[1]
# A person in a plain white shirt, face and chest in frame (fixtures/real, CC0).
WHITE_SHIRT = ROOT / "fixtures" / "real" / "images" / "cc0_iface_074.jpg"
URL = "/api/v1/me/self-check"


async def _check(
    client: TestClient[Any, Any], token: str, body: bytes, content_type: str = "image/jpeg"
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        URL, data=body, headers={"Authorization": f"Link {token}", "Content-Type": content_type}
    )
    return response.status, await response.json()


def _jpeg(rgb: npt.NDArray[np.uint8]) -> bytes:
    return bytes(cv2.imencode(".jpg", rgb[:, :, ::-1])[1])


async def test_a_photo_is_judged_under_the_uniform_of_the_next_check(
    client: TestClient[Any, Any], links: Links
) -> None:
    token, photo = links.tokens["staff1"], WHITE_SHIRT.read_bytes()
    await add_check(client.app[ENGINE], "staff1", uniform="solid:white")
    status, body = await _check(client, token, photo)
    assert status == 200, body
    verdicts = {name: body[name]["verdict"] for name in ("light", "face", "uniform")}
    assert verdicts == {"light": "pass", "face": "pass", "uniform": "pass"}, body
    assert body["uniform_policy"] == "solid:white" and body["uniform"]["colour"]["name"] == "white"


async def test_the_wrong_colour_and_a_dark_room_say_what_to_fix(
    client: TestClient[Any, Any], links: Links
) -> None:
    token = links.tokens["staff1"]
    await add_check(client.app[ENGINE], "staff1", uniform="solid:khaki")
    status, body = await _check(client, token, WHITE_SHIRT.read_bytes())
    assert status == 200 and body["uniform"] == {
        "verdict": "fail",
        "reasons": ["wrong_uniform_colour"],
        "colour": body["uniform"]["colour"],
    }
    rgb = cv2.imread(str(WHITE_SHIRT))[:, :, ::-1]
    dark = (rgb.astype(np.float32) * 0.08).astype(np.uint8)
    status, body = await _check(client, token, _jpeg(dark))
    assert status == 200 and body["light"]["verdict"] == "fail", body
    assert body["light"]["reasons"][0] in {"low_light", "camera_black"}
    # Advice only: no record, no evidence, however it went.
    async with client.app[ENGINE].connect() as conn:
        for table in (records, evidence):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 0


async def test_bad_pictures_and_wrong_links_get_a_clear_4xx(
    client: TestClient[Any, Any], links: Links
) -> None:
    staff, sup = links.tokens["staff1"], links.tokens["sup1"]
    photo = WHITE_SHIRT.read_bytes()
    # A JPEG header declaring 60000×60000 pixels: refused before any decoding.
    bomb = b"\xff\xd8\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03" + b"\x00" * 64
    cases = [
        (staff, b"not a picture", "image/jpeg", 400, "bad_image"),
        (staff, bomb, "image/jpeg", 400, "bad_image"),
        (staff, photo[:2000], "image/jpeg", 400, "bad_image"),
        (staff, _jpeg(np.zeros((20, 20, 3), np.uint8)), "image/jpeg", 400, "bad_image"),
        (staff, _jpeg(np.zeros((64, 2000, 3), np.uint8)), "image/jpeg", 400, "bad_image"),
        (staff, photo, "image/png", 415, "unsupported_media_type"),
        (staff, b"\xff\xd8" + b"\x00" * (600 * 1024), "image/jpeg", 413, "too_large"),
        (sup, photo, "image/jpeg", 403, "forbidden"),
        (staff + "x", photo, "image/jpeg", 401, "unauthorized"),
    ]
    for token, body, content_type, status, code in cases:
        got = await _check(client, token, body, content_type)
        assert got[0] == status and got[1]["error"]["code"] == code, (code, got)


def test_the_size_is_read_from_the_frame_header() -> None:
    assert jpeg_size(WHITE_SHIRT.read_bytes()) == (800, 800)
    for broken in (b"", b"\xff\xd8", b"\xff\xd8\x00\x00", b"\xff\xd8\xff\xe0\x00\x01"):
        with pytest.raises(ImageError):
            jpeg_size(broken)
