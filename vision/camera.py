"""Camera integrity per sample: black, covered, too dark, or a usable picture.

All statistics come from a small grey thumbnail (~1 ms). The key measure is edge
density after blurring out sensor noise and dividing by the mean brightness: a
covered lens or a black feed has no scene edges at any brightness, while a dim
room still has them. So "dark with edges" is ``low_light`` (INCONCLUSIVE) and
"no edges" is black or covered (a FAIL when it lasts). Black and covered differ by
the sensor noise a real covered sensor still shows.

Light is judged on the person when there is one (``on_person``): the analyzer passes
the face's mean luma, so a lit face before a dark wall is usable and a face too dark
to judge is ``low_light`` however bright the wall behind it.

Frozen feeds need the previous sample, so that comparison lives in
``vision.check.CheckWindow``; this module only provides ``frame_difference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.config import VisionConfig


class CameraState(StrEnum):
    OK = "ok"
    BLACK = "black"
    COVERED = "covered"
    LOW_LIGHT = "low_light"


@dataclass(frozen=True)
class CameraObservation:
    """Brightness, contrast, noise and edge density of one sample."""

    state: CameraState
    luma: float
    """Mean luma, 0-255."""
    contrast: float
    """Standard deviation of the blurred luma (scene contrast without noise)."""
    noise: float
    """Standard deviation of luma minus its blur (mostly sensor noise)."""
    edges: float
    """Share of thumbnail pixels on a scene edge."""
    thumbnail: npt.NDArray[np.float32] = field(repr=False, compare=False)
    """Grey thumbnail, kept for the frozen-feed comparison with the next sample."""
    person_luma: float | None = None
    """Mean luma of the face the light was judged on, if one was found."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "luma": round(self.luma, 2),
            "person_luma": None if self.person_luma is None else round(self.person_luma, 2),
            "contrast": round(self.contrast, 2),
            "noise": round(self.noise, 3),
            "edges": round(self.edges, 4),
        }


def thumbnail(rgb: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.float32]:
    """Grey (Rec.601 luma) thumbnail of ``width`` pixels, area-averaged."""
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return np.asarray(grey, dtype=np.float32)


def observe(rgb: npt.NDArray[np.uint8], config: VisionConfig) -> CameraObservation:
    """Classify one frame's picture quality."""
    thumb = thumbnail(rgb, config.thumb_width)
    blurred = cv2.GaussianBlur(thumb, (5, 5), 1.2)
    luma = float(thumb.mean())
    noise = float((thumb - blurred).std())
    contrast = float(blurred.std())
    rel = blurred / max(luma, 8.0)
    gx = cv2.Sobel(rel, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(rel, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    edges = float((np.abs(gx) + np.abs(gy) > config.edge_min_gradient).mean())
    if edges < config.covered_max_edges:
        black = luma <= config.black_max_luma and noise <= config.black_max_noise
        state = CameraState.BLACK if black else CameraState.COVERED
    elif luma < config.low_light_max_luma:
        state = CameraState.LOW_LIGHT
    else:
        state = CameraState.OK
    return CameraObservation(state, luma, contrast, noise, edges, thumb)


def on_person(
    observation: CameraObservation, person_luma: float, config: VisionConfig
) -> CameraObservation:
    """The observation with its light judged on the person (mean luma ``person_luma``).

    Black and covered frames stay as they are: they have no person to judge.
    """
    if observation.state not in (CameraState.OK, CameraState.LOW_LIGHT):
        return observation
    dark = person_luma < config.person_min_luma
    state = CameraState.LOW_LIGHT if dark else CameraState.OK
    return replace(observation, state=state, person_luma=person_luma)


def frame_difference(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Mean absolute luma difference of two thumbnails (inf if their sizes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).mean())
