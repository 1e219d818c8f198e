"""The frames of a liveness challenge, as the ``Observation``s ``vision.liveness.judge``
reads: each frame's head pose (``PoseReader``) and whether it is identical to the frame
before it, by the camera test's own measure (``vision.camera``: the grey thumbnail's
mean absolute difference against ``frozen_max_mad``).

Feed it every frame of the challenge's window, in time order, from one source (one
call, one file): the frozen flag compares a frame with the one fed before it. Holds one
thumbnail between frames; not thread-safe (the reader is not).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vision.camera import frame_difference, thumbnail
from vision.config import VisionConfig
from vision.liveness import Observation
from vision.pose_reader import PoseReader


class ChallengeFrames:
    """One challenge's frames, one at a time, into observations."""

    def __init__(self, reader: PoseReader, config: VisionConfig) -> None:
        self._reader = reader
        self._config = config
        self._previous: npt.NDArray[np.float32] | None = None

    def observe(self, t: float, rgb: npt.NDArray[np.uint8]) -> Observation:
        """The observation of the frame ``rgb`` taken ``t`` seconds into the source."""
        thumb = thumbnail(rgb, self._config.thumb_width)
        frozen = (
            self._previous is not None
            and frame_difference(self._previous, thumb) <= self._config.frozen_max_mad
        )
        self._previous = thumb
        return Observation(t, self._reader.read(rgb), frozen)
