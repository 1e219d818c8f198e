"""Face detection with mediapipe BlazeFace: short-range first, full-range as fallback.

Measured on this project's fixtures (docs/vision.md): the short-range model costs
~2 ms at 640x480 and finds faces from ~100 px up; the full-range model costs ~5-7 ms
and also finds faces of ~60 px. Running full-range only when short-range finds
nothing keeps the usual (face near the camera) path cheap and still reports a
distant face as ``face_too_small`` rather than ``no_face``.

``FaceDetector`` owns two mediapipe graphs and is not thread-safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.config import VisionConfig


class FaceStatus(StrEnum):
    """What one sample shows about faces."""

    OK = "ok"
    NONE = "none"
    MULTIPLE = "multiple"
    TOO_SMALL = "too_small"


@dataclass(frozen=True)
class Box:
    """A box in pixels of the analysed frame."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def to_dict(self) -> dict[str, float]:
        return {
            k: round(v, 1) for k, v in (("x", self.x), ("y", self.y), ("w", self.w), ("h", self.h))
        }


@dataclass(frozen=True)
class Face:
    box: Box
    confidence: float


@dataclass(frozen=True)
class FaceObservation:
    """Faces in one sample: how many, the largest, and which model found them."""

    status: FaceStatus
    count: int
    """Faces at or above the minimum size."""
    detections: int
    """All detections above the confidence threshold, whatever their size."""
    largest: Face | None
    model: str | None
    """``short`` or ``full``: the BlazeFace model that produced the detections."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "count": self.count,
            "detections": self.detections,
            "box": self.largest.box.to_dict() if self.largest else None,
            "confidence": round(self.largest.confidence, 3) if self.largest else None,
            "model": self.model,
        }


class FaceDetector:
    """BlazeFace short-range, with full-range when short-range finds nothing."""

    def __init__(self, config: VisionConfig) -> None:
        import mediapipe as mp  # slow import: only when a detector is built

        self._config = config
        fd = mp.solutions.face_detection
        self._short = fd.FaceDetection(
            model_selection=0, min_detection_confidence=config.face_min_confidence
        )
        self._full = (
            fd.FaceDetection(model_selection=1, min_detection_confidence=config.face_min_confidence)
            if config.face_full_range_fallback
            else None
        )

    def close(self) -> None:
        self._short.close()
        if self._full is not None:
            self._full.close()

    @staticmethod
    def _run(model: Any, rgb: npt.NDArray[np.uint8]) -> list[Face]:
        h, w = rgb.shape[:2]
        result = model.process(rgb)
        faces: list[Face] = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            x0, y0 = max(rb.xmin, 0.0) * w, max(rb.ymin, 0.0) * h
            x1 = min(rb.xmin + rb.width, 1.0) * w
            y1 = min(rb.ymin + rb.height, 1.0) * h
            if x1 > x0 and y1 > y0:
                faces.append(Face(Box(x0, y0, x1 - x0, y1 - y0), float(det.score[0])))
        return faces

    def detect(self, rgb: npt.NDArray[np.uint8]) -> FaceObservation:
        """Detect faces in an RGB uint8 frame and classify the sample."""
        model = "short"
        faces = self._run(self._short, rgb)
        if not faces and self._full is not None:
            model = "full"
            faces = self._run(self._full, rgb)
        if not faces:
            return FaceObservation(FaceStatus.NONE, 0, 0, None, None)
        faces.sort(key=lambda f: f.box.w * f.box.h, reverse=True)
        min_h = self._config.face_min_height * rgb.shape[0]
        adequate = [f for f in faces if f.box.h >= min_h]
        if not adequate:
            status = FaceStatus.TOO_SMALL
        elif len(adequate) > 1:
            status = FaceStatus.MULTIPLE
        else:
            status = FaceStatus.OK
        return FaceObservation(status, len(adequate), len(faces), faces[0], model)
