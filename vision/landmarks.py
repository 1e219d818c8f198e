"""Is a detected face a human face? mediapipe's face landmark model as a second opinion.

BlazeFace fires on dogs, owls, figurines and masks (seen on the development set). The
face landmark model (``FaceMesh``, shipped in the mediapipe 0.10.21 wheel) predicts
468 points on a face crop together with a face-presence score, and mediapipe drops
the landmarks when that score is under 0.5; animals and ornaments mostly fall under
it, human faces turned up to ~60° do not. It costs ~4-5 ms a crop, so it runs once
per face track (``vision.face_track``), not per sample. It fits a face to a statue's
head and a drawing all the same: ``vision.skin`` turns those down first.

``FaceVerifier`` owns a mediapipe graph and is not thread-safe.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from vision.face import Box
from vision.graphs import on_calling_thread

CROP_SIDE = 192
CROP_SCALE = 1.8
"""The crop around a face box, in box sizes: the landmark model's own detector must see
the whole head."""


def crop_around(rgb: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8]:
    """A square crop of ``CROP_SCALE`` box sizes around ``box``, padded, resized."""
    h, w = rgb.shape[:2]
    side = max(box.w, box.h) * CROP_SCALE
    x0, y0 = int(round(box.cx - side / 2)), int(round(box.cy - side / 2))
    x1, y1 = x0 + int(round(side)), y0 + int(round(side))
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = cv2.resize(rgb[y0:y1, x0:x1], (CROP_SIDE, CROP_SIDE), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop, dtype=np.uint8)


class FaceVerifier:
    """The face landmark model, asked whether a box holds a human face."""

    def __init__(self) -> None:
        import mediapipe as mp  # slow import: only when a verifier is built

        self._mesh = on_calling_thread(
            mp.solutions.face_mesh.FaceMesh,
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=0.3,
        )

    def close(self) -> None:
        self._mesh.close()

    def is_face(self, rgb: npt.NDArray[np.uint8], box: Box) -> bool:
        """True if the landmark model finds a face in the crop around ``box``."""
        result = self._mesh.process(crop_around(rgb, box))
        return bool(result.multi_face_landmarks)
