"""The analysis leg's pictures: a JPEG still of the staff camera, sent by the page over
its WebSocket as one binary frame (docs/protocol.md, "Stills").

Pure but for OpenCV's decoder. Everything a still declares is checked before a pixel
is decoded: the frame's size, its header, and the picture's dimensions as the JPEG's
own frame header states them (a small file can declare a picture of gigabytes). The
JPEG is decoded later, in an analysis thread, when the call is sampled: a 640×480 still
costs about 1.5 ms, once a second, where a VP8 track cost the server every frame it
sent (docs/performance.md, "The analysis leg: stills against VP8").

The wire format, version 1 (all integers big-endian)::

    version u8 = 1 | n u8 | call id, n ASCII bytes | sequence u32 | captured f64 | JPEG

``captured`` is the page's clock (milliseconds since the epoch) when it grabbed the
picture; it is informative only: the server stamps a still with its own arrival time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from service.self_check import ImageError, jpeg_size
from signaling.messages import ID_RE, ProtocolError
from vision.analyzer import picture_problem

VERSION = 1
MAX_STILL_BYTES = 160 * 1024
"""A 640×480 still at the page's quality (0.7) is about 33 KB (28-60 KB on the development
set's photos); a frame over this is refused."""
MAX_LONG_SIDE, MAX_SHORT_SIDE, MIN_SIDE = 640, 480, 64
RATE_PER_S, BURST = 2.0, 5.0
"""Per call: the page sends one still a second (its first few every half second)."""
_NUMBERS = struct.Struct(">Id")
_REF = "still"


@dataclass(frozen=True)
class Still:
    """One still as the page sent it; ``jpeg`` is not decoded until ``rgb``."""

    call: str
    sequence: int
    captured_ms: float
    width: int
    height: int
    jpeg: bytes

    def rgb(self) -> npt.NDArray[np.uint8]:
        """The picture as RGB (``decode_rgb``)."""
        return decode_rgb(self.jpeg)

    def bgr(self) -> npt.NDArray[np.uint8]:
        """The picture as BGR (``decode_bgr``)."""
        return decode_bgr(self.jpeg)


def decode_bgr(jpeg: bytes) -> npt.NDArray[np.uint8]:
    """A still's JPEG as BGR; ValueError (which the analysis skips) when its data is
    broken past a whole header."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the still cannot be decoded")
    return bgr.astype(np.uint8, copy=False)


def decode_rgb(jpeg: bytes) -> npt.NDArray[np.uint8]:
    """A still's JPEG as RGB, as the analysis sees it (in an analysis thread: about
    1.5 ms at 640×480; ``hadir analyze`` decodes a Motion-JPEG file's frames with it
    too). Full size: decoding at half size saves 0.4 ms but loses agreement on faces
    and tops."""
    return np.ascontiguousarray(decode_bgr(jpeg)[:, :, ::-1])


def parse_still(data: bytes) -> Still:
    """Validate one binary WebSocket frame; raise ``ProtocolError`` saying what is wrong."""
    if len(data) > MAX_STILL_BYTES:
        raise ProtocolError("too_large", f"a still is at most {MAX_STILL_BYTES} bytes", _REF)
    if len(data) < 2 or data[0] != VERSION:
        raise ProtocolError("invalid", f"still: this server reads version {VERSION}", _REF)
    n = data[1]
    end = 2 + n + _NUMBERS.size
    if len(data) < end:
        raise ProtocolError("invalid", "still: the header is cut short", _REF)
    call = data[2 : 2 + n].decode("ascii", "replace")
    if not ID_RE.match(call):
        raise ProtocolError("invalid", "still: expected a call id", _REF)
    sequence, captured = _NUMBERS.unpack_from(data, 2 + n)
    if not np.isfinite(captured):
        raise ProtocolError("invalid", "still: the capture time is not a number", _REF)
    jpeg = bytes(data[end:])
    try:
        width, height = jpeg_size(jpeg)
    except (ImageError, IndexError) as exc:
        raise ProtocolError("invalid", f"still: {exc}", _REF) from None
    long, short = max(width, height), min(width, height)
    if long > MAX_LONG_SIDE or short > MAX_SHORT_SIDE or short < MIN_SIDE:
        raise ProtocolError(
            "invalid",
            f"still: {width}×{height} is not {MIN_SIDE} to {MAX_LONG_SIDE}×{MAX_SHORT_SIDE}",
            _REF,
        )
    problem = picture_problem(height, width)
    if problem is not None:
        raise ProtocolError("invalid", f"still: {problem}", _REF)
    return Still(call, sequence, captured, width, height, jpeg)


def encode_header(call: str, sequence: int, captured_ms: float) -> bytes:
    """The header a page puts before its JPEG (tests and the load generator)."""
    ident = call.encode("ascii")
    return bytes((VERSION, len(ident))) + ident + _NUMBERS.pack(sequence, captured_ms)
