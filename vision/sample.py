"""What the analysis of one frame produces: ``SampleResult``.

A sample is self-contained (face, camera, torso) except for the frozen-feed test,
which needs the previous sample and is done by ``vision.check.CheckWindow``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vision.camera import CameraObservation
from vision.face import FaceObservation
from vision.torso import TorsoObservation


@dataclass(frozen=True)
class SampleResult:
    """One analysed frame at time ``t`` (seconds from the start of the check)."""

    t: float
    face: FaceObservation | None
    """None when the camera showed no usable picture, so faces were not looked for."""
    camera: CameraObservation
    person: float | None
    """Share of the frame selfie segmentation calls person; None where it decides nothing
    and was not run: without a picture, or with a face found and no garment judged."""
    torso: TorsoObservation | None
    """None unless exactly one adequate face was found."""
    cpu_ms: dict[str, float] = field(default_factory=dict, compare=False)
    """CPU milliseconds per stage (face, camera, torso, total)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "camera": self.camera.to_dict(),
            "face": self.face.to_dict() if self.face else None,
            "person": None if self.person is None else round(self.person, 3),
            "torso": self.torso.to_dict() if self.torso else None,
        }
