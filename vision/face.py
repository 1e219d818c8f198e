"""Face detection with mediapipe BlazeFace: short-range first, full-range as fallback.

Measured on the real development set (docs/vision.md): the short-range model costs
~2 ms at 640x480, the full-range one ~5-7 ms and finds smaller faces. Running
full-range only when short-range finds nothing keeps the usual close-up cheap.

**One face measure.** The two models draw boxes of different sizes around the same
face, so a box height cannot carry a threshold. Both models place the same six
keypoints on the eyes, nose, mouth and ears; ``Face.size`` is an estimate of the face
height (chin to hairline) from the larger of the eye-to-eye and eyes-to-mouth
distances, which agree across models and hold up when the head turns (eye to eye
shrinks) or tilts (eyes to mouth shrinks).

``FaceDetector`` owns two mediapipe graphs and is not thread-safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.config import VisionConfig
from vision.graphs import on_calling_thread

FACE_HEIGHT_PER_SPAN = 2.3
"""Face height (chin to hairline) over the larger of eye-eye and eyes-mouth distance,
measured on the development set's hand-labelled face heights (docs/vision.md)."""


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
    def cy(self) -> float:
        return self.y + self.h / 2

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
    size: float
    """Estimated face height in pixels, the same whichever model found the face."""


def face_size(keypoints: list[tuple[float, float]]) -> float:
    """Face height in pixels from BlazeFace's keypoints (right eye, left eye, nose tip,
    mouth, right ear, left ear)."""
    (rx, ry), (lx, ly), _, (mx, my) = keypoints[:4]
    eyes = math.hypot(lx - rx, ly - ry)
    mouth = math.hypot(mx - (rx + lx) / 2, my - (ry + ly) / 2)
    return FACE_HEIGHT_PER_SPAN * max(eyes, mouth)


@dataclass(frozen=True)
class FaceObservation:
    """Faces in one sample: how many, the largest, and which model found them."""

    status: FaceStatus
    count: int
    """Verified faces at or above the minimum size."""
    detections: int
    """Verified detections above the confidence threshold, whatever their size."""
    largest: Face | None
    model: str | None
    """``short`` or ``full``: the BlazeFace model that produced the detections."""
    rejected: int = 0
    """Detections the skin-colour or landmark check found not to be a person's face (a
    statue, a drawing, an animal)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "count": self.count,
            "detections": self.detections,
            "rejected": self.rejected,
            "box": self.largest.box.to_dict() if self.largest else None,
            "size": round(self.largest.size, 1) if self.largest else None,
            "confidence": round(self.largest.confidence, 3) if self.largest else None,
            "model": self.model,
        }


def classify(
    faces: list[Face], frame_height: int, config: VisionConfig, model: str | None, rejected: int
) -> FaceObservation:
    """The sample's face status from its verified faces (any order)."""
    if not faces:
        return FaceObservation(FaceStatus.NONE, 0, 0, None, None, rejected)
    faces = sorted(faces, key=lambda f: f.size, reverse=True)
    min_size = config.face_min_height * frame_height
    adequate = [f for f in faces if f.size >= min_size]
    if not adequate:
        status = FaceStatus.TOO_SMALL
    elif len(adequate) > 1:
        status = FaceStatus.MULTIPLE
    else:
        status = FaceStatus.OK
    return FaceObservation(status, len(adequate), len(faces), faces[0], model, rejected)


class FaceDetector:
    """BlazeFace short-range, with full-range when short-range finds nothing."""

    def __init__(self, config: VisionConfig) -> None:
        import mediapipe as mp  # slow import: only when a detector is built

        self._config = config
        fd = mp.solutions.face_detection
        confidence = config.face_min_confidence
        self._short = on_calling_thread(
            fd.FaceDetection, model_selection=0, min_detection_confidence=confidence
        )
        self._full = (
            on_calling_thread(
                fd.FaceDetection, model_selection=1, min_detection_confidence=confidence
            )
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
            data = det.location_data
            rb = data.relative_bounding_box
            x0, y0 = max(rb.xmin, 0.0) * w, max(rb.ymin, 0.0) * h
            x1 = min(rb.xmin + rb.width, 1.0) * w
            y1 = min(rb.ymin + rb.height, 1.0) * h
            points = [(p.x * w, p.y * h) for p in data.relative_keypoints]
            if x1 > x0 and y1 > y0 and len(points) >= 4:
                box = Box(x0, y0, x1 - x0, y1 - y0)
                faces.append(Face(box, float(det.score[0]), face_size(points)))
        return faces

    def detect(self, rgb: npt.NDArray[np.uint8]) -> tuple[list[Face], str | None]:
        """Candidate faces in an RGB uint8 frame, and the model that found them."""
        faces = self._run(self._short, rgb)
        if faces:
            return faces, "short"
        if self._full is not None:
            faces = self._run(self._full, rgb)
            if faces:
                return faces, "full"
        return [], None
