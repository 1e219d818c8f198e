"""Verdict values, reason codes, and the verdict dataclasses of a check.

A check's verdict can lead to a sanction, so the rule throughout is: FAIL only on
positive evidence of a problem (no face in a good picture, a black, covered or
frozen camera, a visible torso of the wrong kind or colour). Low light, too few
samples, an unreadable colour, a torso out of frame or a server too busy to look
give INCONCLUSIVE, which a human reviews.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vision.sample import SampleResult


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Reason(StrEnum):
    """Reason codes; the value is what records and JSON carry."""

    NO_FACE = "no_face"
    FACE_NOT_FOUND = "face_not_found"
    FACE_UNVERIFIED = "face_unverified"
    """Something face-like was found, but its colour or the landmark model said it is not
    a person's face: a statue, an animal, or a real face the checks misread."""
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    CAMERA_BLACK = "camera_black"
    CAMERA_COVERED = "camera_covered"
    CAMERA_FROZEN = "camera_frozen"
    LOW_LIGHT = "low_light"
    SINGLE_IMAGE = "single_image"
    TORSO_NOT_VISIBLE = "torso_not_visible"
    NOT_UNIFORM_COLOUR = "not_uniform_colour"
    PATTERN_UNCERTAIN = "pattern_uncertain"
    WRONG_UNIFORM_COLOUR = "wrong_uniform_colour"
    COLOUR_UNCERTAIN = "colour_uncertain"
    UNIFORM_COVERED = "uniform_covered"
    """The top would fail, but what the head wears (a hijab) may hang over the chest:
    its colour may be the hijab's, not the uniform's."""
    TOO_FEW_SAMPLES = "too_few_samples"
    SERVER_BUSY = "server_busy"
    """The server analysed too few of the frames that arrived (its threads or its
    event loop were busy): a live call's criteria say so instead of judging."""
    IDENTITY_MISMATCH = "identity_mismatch"
    IDENTITY_UNCERTAIN = "identity_uncertain"
    NOT_ENROLLED = "not_enrolled"


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """FAIL if any fails, else INCONCLUSIVE if any is, else PASS."""
    vs = list(verdicts)
    if Verdict.FAIL in vs:
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in vs:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


@dataclass(frozen=True)
class CriterionVerdict:
    """The verdict on one criterion (face, camera or uniform) over a window."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    scores: dict[str, Any]
    sample_times: tuple[float, ...]
    """Times of the samples this criterion was judged on."""
    evidence: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per reason code, the times of the samples that showed it."""
    colour: dict[str, Any] | None = None
    """Uniform criterion only: the colour seen, ``{"name", "hex", "lab"}``."""
    reports_colour: bool = False
    """True for the uniform criterion, whose JSON always has a ``colour`` key."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict.value,
            "reasons": [r.value for r in self.reasons],
            "scores": self.scores,
            "sample_times": [round(t, 3) for t in self.sample_times],
            "evidence": {k: [round(t, 3) for t in v] for k, v in self.evidence.items()},
        }
        if self.reports_colour:
            out["colour"] = self.colour
        return out


@dataclass(frozen=True)
class JudgedSample:
    """One sample as the window saw it: the frozen test needs the samples around it."""

    sample: SampleResult
    frozen: bool
    difference: float | None
    """Mean absolute difference from the previous sample's thumbnail (None for the first)."""

    def to_dict(self) -> dict[str, Any]:
        d = self.sample.to_dict()
        d["camera"]["frozen"] = self.frozen
        d["camera"]["difference"] = None if self.difference is None else round(self.difference, 3)
        return d


@dataclass(frozen=True)
class CheckVerdict:
    """The verdict of a whole check: three criteria, the overall verdict, the version."""

    verdict: Verdict
    face: CriterionVerdict
    camera: CriterionVerdict
    uniform: CriterionVerdict
    reasons: tuple[Reason, ...]
    samples: tuple[JudgedSample, ...]
    """Kept typed: per-sample JSON is built only by ``to_dict``, not on every live update."""
    version: str
    policy: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``hadir analyze --json`` and of check records."""
        return {
            "verdict": self.verdict.value,
            "criteria": {
                "face": self.face.to_dict(),
                "camera": self.camera.to_dict(),
                "uniform": self.uniform.to_dict(),
            },
            "reasons": [r.value for r in self.reasons],
            "samples": [s.to_dict() for s in self.samples],
            "version": self.version,
            "policy": self.policy,
        }
