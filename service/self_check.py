"""A staff member's self-check before a call: one picture from their camera, judged the
way a call's samples are, to say what to fix (light, framing, uniform).

Nothing of it is recorded or kept: the picture lives in memory for one analysis. A
verdict on one picture is advice, never evidence: it cannot pass or fail a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.analyzer import picture_problem
from vision.camera import CameraState
from vision.check import CheckWindow
from vision.config import VisionConfig
from vision.sample import SampleResult
from vision.uniform import UniformPolicy
from vision.verdict import CriterionVerdict, Reason

# A phone's preview is 640×480 or so; more than this is not a camera frame.
MAX_SIDE = 4096
MIN_SIDE = 64
# What a picture's light says, in the reason codes the pages already put in words.
_LIGHT = {
    CameraState.BLACK: Reason.CAMERA_BLACK,
    CameraState.COVERED: Reason.CAMERA_COVERED,
    CameraState.LOW_LIGHT: Reason.LOW_LIGHT,
}
_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


class ImageError(ValueError):
    """The body is not a JPEG picture of a usable size."""


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's frame header, read before decoding: a small file
    can declare a picture of gigabytes."""
    if data[:2] != b"\xff\xd8":
        raise ImageError("not a JPEG file")
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            raise ImageError("a broken JPEG file")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF:
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        if length < 2:
            raise ImageError("a broken JPEG file")
        i += 2 + length
    raise ImageError("a JPEG file without a frame header")


def decode_jpeg(data: bytes) -> npt.NDArray[np.uint8]:
    """The picture as RGB, or ImageError saying why not."""
    width, height = jpeg_size(data)
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ImageError(f"a picture of {MIN_SIDE} to {MAX_SIDE} pixels a side is needed")
    problem = picture_problem(height, width)
    if problem is not None:
        raise ImageError(problem)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("the JPEG file cannot be decoded")
    return np.ascontiguousarray(bgr[:, :, ::-1])


@dataclass(frozen=True)
class SelfCheck:
    """What one picture shows: the light, the face and the uniform, each with why."""

    light: CameraState
    face: CriterionVerdict
    uniform: CriterionVerdict
    uniform_policy: str
    vision_version: str

    def to_dict(self) -> dict[str, Any]:
        def criterion(c: CriterionVerdict) -> dict[str, Any]:
            return {"verdict": c.verdict.value, "reasons": [r.value for r in c.reasons]}

        return {
            "light": {
                "verdict": "fail" if self.light in _LIGHT else "pass",
                "reasons": [_LIGHT[self.light].value] if self.light in _LIGHT else [],
            },
            "face": criterion(self.face),
            "uniform": criterion(self.uniform) | {"colour": self.uniform.colour},
            "uniform_policy": self.uniform_policy,
            "vision_version": self.vision_version,
        }


def judge_still(sample: SampleResult, policy: UniformPolicy, config: VisionConfig) -> SelfCheck:
    """The picture judged as a check of one still image."""
    window = CheckWindow(config, policy, still_image=True)
    window.add(sample)
    verdict = window.verdict()
    return SelfCheck(
        sample.camera.state, verdict.face, verdict.uniform, verdict.policy, verdict.version
    )
