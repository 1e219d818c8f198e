"""``FaceTrack``: the face of one check, verified once and followed between samples,
and when the garment below it was judged.

The landmark check (``vision.landmarks``) costs more than the detector, and its answer
does not change while the same face stays in view. A track remembers the last checked
box and its answer; a new detection that overlaps it (same place, similar size)
inherits the answer, anything else is checked afresh.

The garment (segmentation and the torso analysis, most of a sample's cost) is judged
on every sample until the check has ``garment_first_samples`` of them, then once per
``garment_interval_s``: ``garment_due`` says whether a sample at time ``t`` is one.
That depends only on the check's earlier samples and their times, so the same file
gives the same samples every time.

One track per check, owned by whoever owns the check's ``CheckWindow`` (the live call,
``hadir analyze``); the analyzer reads and updates it. Not thread-safe, like the window.
"""

from __future__ import annotations

from dataclasses import dataclass

from vision.config import VisionConfig
from vision.face import Box

MIN_OVERLAP = 0.3
"""Intersection over union above which a detection is the tracked face."""


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.bottom, b.bottom) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Known:
    box: Box
    is_face: bool


class FaceTrack:
    """Boxes already checked in this check, with the landmark model's answers."""

    def __init__(self) -> None:
        self._known: list[_Known] = []
        self.checks = 0
        """How many times the landmark model ran for this check."""
        self.garments = 0
        """How many samples of this check the garment was judged on."""
        self._garment_t: float | None = None

    def recall(self, box: Box) -> bool | None:
        """The answer for a box overlapping one already checked, else None."""
        best = max(self._known, key=lambda k: overlap(k.box, box), default=None)
        if best is None or overlap(best.box, box) < MIN_OVERLAP:
            return None
        best.box = box  # follow the face as it moves
        return best.is_face

    def remember(self, box: Box, is_face: bool) -> None:
        self.checks += 1
        self._known = [k for k in self._known if overlap(k.box, box) < MIN_OVERLAP]
        self._known.append(_Known(box, is_face))

    def garment_due(self, t: float, config: VisionConfig) -> bool:
        """Whether the garment is judged on the sample at ``t`` (seconds into the check)."""
        if self.garments < config.garment_first_samples or self._garment_t is None:
            return True
        slack = config.sample_interval_s / 2  # a live sample a little early still counts
        return t - self._garment_t >= config.garment_interval_s - slack

    def garment_judged(self, t: float) -> None:
        self.garments += 1
        self._garment_t = t
