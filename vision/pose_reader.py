"""The head pose on one frame, for the liveness challenge (``vision.liveness``).

mediapipe's face landmark model (``FaceMesh`` with ``refine_landmarks=True``, the
478-point topology with irises, shipped in the mediapipe 0.10.21 wheel) on the whole
frame; the largest face's landmarks become a ``HeadPose``. Each frame is read on its
own (``static_image_mode``): one reader serves an analysis thread that may take the
frames of several calls in turn, so no tracking state may carry from one frame to the
next. The cost is the face detector plus the landmark model per frame (``hadir bench
vision``, *challenge frame*).

``PoseReader`` owns a mediapipe graph that runs on the calling thread
(``vision.graphs``) and is not thread-safe: one per analysis thread.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vision.graphs import on_calling_thread
from vision.liveness import HeadPose, head_pose

MAX_FACES = 4
"""Faces measured on a frame; the largest is the person answering (others in the room,
or a face on a poster behind them, are smaller)."""


class PoseReader:
    """FaceMesh (refine_landmarks=True) on one RGB frame → the largest face's HeadPose."""

    def __init__(self) -> None:
        import mediapipe as mp  # slow import: only when a reader is built

        self._mesh = on_calling_thread(
            mp.solutions.face_mesh.FaceMesh,
            static_image_mode=True,
            max_num_faces=MAX_FACES,
            refine_landmarks=True,
            min_detection_confidence=0.5,
        )

    def read(self, rgb: npt.NDArray[np.uint8]) -> HeadPose | None:
        """The pose of the largest face on ``rgb`` (H x W x 3), or None when no face was
        measured."""
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb, dtype=np.uint8))
        poses = []
        for face in result.multi_face_landmarks or ():
            points = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)
            pose = head_pose(points, w, h)
            if pose is not None:
                poses.append(pose)
        return max(poses, key=lambda pose: pose.width, default=None)

    def close(self) -> None:
        self._mesh.close()
