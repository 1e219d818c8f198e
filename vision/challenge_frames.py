"""The frames of a liveness challenge, as the ``Observation``s ``vision.liveness.judge``
reads: each frame's head pose (``PoseReader``) and whether it repeats the frame before
it exactly.

Frozen means an exact repeat, as in a call (where a still whose JPEG is byte for byte
the one before is frozen): a picture fed in as the camera repeats exactly, while a
live sensor's noise changes every frame, even of a motionless person. A looser test
(the camera test's thumbnail difference under ``frozen_max_mad``) would take a person
who holds still before a clean camera for a picture, and FAILED must never rest on that.

Feed it every frame of the challenge's window, in time order, from one source (one
call, one file). Holds the previous frame; not thread-safe (the reader is not).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vision.liveness import Observation
from vision.pose_reader import PoseReader


class ChallengeFrames:
    """One challenge's frames, one at a time, into observations."""

    def __init__(self, reader: PoseReader) -> None:
        self._reader = reader
        self._previous: npt.NDArray[np.uint8] | None = None

    def observe(self, t: float, rgb: npt.NDArray[np.uint8]) -> Observation:
        """The observation of the frame ``rgb`` taken ``t`` seconds into the source."""
        frozen = self._previous is not None and np.array_equal(self._previous, rgb)
        self._previous = rgb
        return Observation(t, self._reader.read(rgb), frozen)
