"""The stills leg: a binary frame's header and limits, read before any pixel is decoded
(pure), and the hub's handling of stills over a real socket: refused input, the rate
per call, and a frozen picture seen as ``camera_frozen``."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import cv2
import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from fixtures.devset import load
from signaling.messages import ProtocolError
from signaling.server import HUB
from signaling.stills import MAX_STILL_BYTES, encode_header, parse_still
from tests.call_helpers import Links
from tests.test_signaling_server import answered, client, joined, links, recv  # noqa: F401


def _jpeg(width: int = 640, height: int = 480, quality: int = 70) -> bytes:
    """A real photograph of the development set (a person), as the page sends it."""
    person = next(i for i in load(verify=False) if i.single_person)
    bgr = cv2.resize(cv2.imread(str(person.path)), (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return _jpeg()


def _refused(data: bytes) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as caught:
        parse_still(data)
    return caught.value.code, str(caught.value)


# --- the header, pure -----------------------------------------------------------------------


def test_a_still_is_read_from_its_header_and_frame_header(photo: bytes) -> None:
    still = parse_still(encode_header("call_1", 7, 1.7e12) + photo)
    assert (still.call, still.sequence, still.captured_ms) == ("call_1", 7, 1.7e12)
    assert (still.width, still.height, still.jpeg) == (640, 480, photo)
    assert still.rgb().shape == (480, 640, 3)
    portrait = _jpeg(480, 640)
    assert parse_still(encode_header("c", 0, 0.0) + portrait).height == 640


def test_hostile_stills_are_refused_before_decoding(photo: bytes) -> None:
    head = encode_header("call_1", 1, 0.0)
    assert _refused(head + photo + b"\0" * MAX_STILL_BYTES)[0] == "too_large"
    assert _refused(b"")[0] == "invalid"
    assert "version" in _refused(b"\x02" + head[1:] + photo)[1]
    assert "cut short" in _refused(head[:6])[1]  # truncated header
    assert "call id" in _refused(bytes((1, 3)) + b"a/b" + head[-12:] + photo)[1]
    nan = bytes((1, 1)) + b"c" + struct.pack(">Id", 1, float("nan"))
    assert "capture time" in _refused(nan + photo)[1]
    assert "not a JPEG" in _refused(head + b"\x89PNG\r\n\x1a\n" + photo)[1]
    assert "frame header" in _refused(head + photo[:20])[1]  # truncated JPEG
    # A small file that declares a huge picture: refused from its frame header.
    sof = photo.index(b"\xff\xc0")
    huge = photo[: sof + 5] + struct.pack(">HH", 60000, 60000) + photo[sof + 9 :]
    code, message = _refused(head + huge)
    assert code == "invalid" and "60000×60000" in message
    assert "1280×720" in _refused(head + _jpeg(1280, 720))[1]
    assert "32×32" in _refused(head + _jpeg(32, 32))[1]
    assert "at most 4:1" in _refused(head + _jpeg(640, 64))[1]  # a strip shows nobody


# --- over the socket ----------------------------------------------------------------------


async def _errors(ws: ClientWebSocketResponse, wait_s: float = 0.5) -> list[dict[str, Any]]:
    out = []
    try:
        async with asyncio.timeout(wait_s):
            while True:
                out.append(await recv(ws, "error", wait_s))
    except TimeoutError:
        return out


async def test_bad_stills_get_errors_and_the_call_goes_on(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,
) -> None:
    stranger = await client.ws_connect("/ws")
    await stranger.send_bytes(encode_header("x", 0, 0.0) + photo)
    assert (await recv(stranger, "error"))["code"] == "not_joined"
    sup1, staff1, call = await answered(client, links)
    await staff1.send_bytes(encode_header(call, 0, 0.0) + photo[:100])
    assert (await recv(staff1, "error"))["code"] == "invalid"  # no frame header
    await staff1.send_bytes(encode_header("nocall", 0, 0.0) + photo)
    assert (await recv(staff1, "error"))["code"] == "not_found"
    await sup1.send_bytes(encode_header(call, 0, 0.0) + photo)
    assert (await recv(sup1, "error"))["code"] == "forbidden"
    staff2 = await joined(client, links.tokens["staff2"])
    await staff2.send_bytes(encode_header(call, 0, 0.0) + photo)
    assert (await recv(staff2, "error"))["code"] == "forbidden"
    # A whole frame header before broken data: taken (decoding is the analysis's).
    await staff1.send_bytes(encode_header(call, 1, 0.0) + photo[:2000])
    await staff1.send_bytes(encode_header(call, 1, 0.0) + photo)
    error = await recv(staff1, "error")
    assert (error["code"], error["ref"]) == ("invalid", "still")  # the sequence must grow
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["reason"] == "hangup" and ended["record"] is not None


async def test_stills_are_rate_limited_per_call(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,
) -> None:
    sup1, staff1, call = await answered(client, links)
    for sequence in range(10):
        await staff1.send_bytes(encode_header(call, sequence, 0.0) + photo)
    limited = [e for e in await _errors(staff1) if e["code"] == "rate_limited"]
    assert len(limited) >= 4 and all(e["ref"] == "still" for e in limited)
    await sup1.send_json({"type": "hangup", "call": call})
    await recv(sup1, "ended")


async def test_a_refused_stills_leg_never_fails_the_staff_member(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,
) -> None:
    client.app[HUB].pool.max_calls = 0
    sup1, staff1, call = await answered(client, links)
    await staff1.send_bytes(encode_header(call, 0, 0.0) + photo)
    assert (await recv(staff1, "error"))["code"] == "busy"
    await staff1.send_bytes(encode_header(call, 1, 0.0) + photo)  # dropped quietly
    assert await _errors(staff1) == []
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["indicators"]["camera"] == {
        "state": "inconclusive",
        "reason": "analysis_unavailable",
    }


async def test_the_same_still_again_and_again_is_a_frozen_camera(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,
) -> None:
    """A still picture held before the camera: consecutive stills are identical (JPEG
    keeps them so, where VP8 adds its own noise), and the camera is frozen."""
    await client.app[HUB].pool.warm()
    sup1, staff1, call = await answered(client, links)
    for sequence in range(9):  # as the page: the first five every half second
        await staff1.send_bytes(encode_header(call, sequence, 0.0) + photo)
        await asyncio.sleep(0.5 if sequence < 5 else 1.0)
    status = await recv(sup1, "status")
    while status["samples"] < 7:  # the statuses queued meanwhile, to the newest
        status = await recv(sup1, "status")
    assert status["indicators"]["camera"]["reason"] == "camera_frozen", status
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["indicators"]["camera"] == {"state": "fail", "reason": "camera_frozen"}


async def test_stills_that_stop_arriving_are_a_camera_off(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,
) -> None:
    """The camera-on evidence of the stills leg: no still for ``calls.camera_gap_s``
    (2 s) is ``no_frames``, as a silent track was."""
    sup1, staff1, call = await answered(client, links)
    for sequence in range(3):
        await staff1.send_bytes(encode_header(call, sequence, 0.0) + photo)
        await asyncio.sleep(0.5)
    await asyncio.sleep(3.0)
    status = await recv(sup1, "status")
    while status["elapsed"] < 4.5:  # the statuses queued meanwhile, to the newest
        status = await recv(sup1, "status")
    assert status["indicators"]["camera"]["reason"] == "no_frames", status
    assert status["camera_on"] < 1
