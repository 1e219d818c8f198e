"""Judging a file the way a live call is judged: ``hadir analyze`` and the evaluation.

``analyze_file`` samples the file at the vision config's interval and analyses every
sample with one ``FrameAnalyzer`` and one ``FaceTrack`` (the check's face, verified
once); ``judge`` folds the samples into the verdict under a uniform policy. The
samples do not depend on the policy, so one analysis can be judged under several.
``judge_challenge`` judges a liveness challenge issued at a moment of the file from
every frame of its window (not only the samples), as a call reads a challenge's frames.

Identity (``hadir analyze --reference`` / ``--enrolled``): given an ``IdentityMatch``,
``analyze_media`` matches the samples a call would match (``CallIdentity``: the first
usable one, then one every 15 s, at most 5), and ``FileVerdict`` adds the criterion
the call's rule gives (``signaling.verdict.identity_criterion``), folded into the
verdict as a call folds its criteria (``vision.verdict.combine``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service.media import Media, open_media
from signaling.challenge import MODEL, ChallengeRecord
from signaling.verdict import (
    Criterion,
    IdentityEvidence,
    LivenessEvidence,
    identity_criterion,
    liveness_criterion,
)
from vision.analyzer import FrameAnalyzer, prepare
from vision.check import CheckWindow
from vision.config import VisionConfig
from vision.face_track import FaceTrack
from vision.identity import CallIdentity, Descriptor, FaceAligner, FaceNet, describe_face
from vision.liveness import Challenge, LivenessConfig, LivenessResult
from vision.liveness import judge as judge_liveness
from vision.sample import SampleResult
from vision.uniform import UniformPolicy
from vision.verdict import CheckVerdict, Verdict, combine


@dataclass(frozen=True)
class Analysis:
    """The samples of one file, and whether it was a single image."""

    samples: tuple[SampleResult, ...]
    still: bool


def analyze_file(path: str | Path, analyzer: FrameAnalyzer, config: VisionConfig) -> Analysis:
    """Sample and analyse ``path``; raises ``service.media.MediaError`` if it is unreadable."""
    return analyze_media(open_media(path, config.sample_interval_s), analyzer)


class LocalDescriber:
    """The 5-point alignment and the face ResNet in this process (about 1 s to load,
    130-160 ms a face). A command describes one face at a time and has no event loop
    to keep free, so it needs no ``DescriptorProcess``; the faces are found, aligned
    and described by the same ``describe_face`` as a call's."""

    def __init__(self, max_side: int) -> None:
        self._aligner = FaceAligner()
        self._net = FaceNet()
        self._max_side = max_side

    def __call__(self, rgb: npt.NDArray[np.uint8], sample: SampleResult) -> Descriptor | None:
        return describe_face(rgb, sample, self._aligner, self._net.describe, self._max_side)


@dataclass(frozen=True)
class IdentityMatch:
    """A file's samples matched as a call's are: ``identity`` holds the enrolled (or
    reference) descriptors, its due rule and, once analysed, the distances."""

    identity: CallIdentity
    describe: LocalDescriber


def analyze_media(
    media: Media, analyzer: FrameAnalyzer, match: IdentityMatch | None = None
) -> Analysis:
    """Analyse every sample of an opened file (sampled at the interval it was opened
    with), matching the face of those a call would match when ``match`` is given."""
    track = FaceTrack()
    samples = []
    for frame in media.samples():
        sample = analyzer.analyze(frame.rgb, frame.t, track)
        if match is not None:
            match.identity.match(sample, partial(match.describe, frame.rgb))
        samples.append(sample)
    return Analysis(tuple(samples), media.still)


def judge(analysis: Analysis, policy: UniformPolicy, config: VisionConfig) -> CheckVerdict:
    """The check's verdict on ``analysis`` under ``policy``."""
    window = CheckWindow(config, policy, still_image=analysis.still)
    for sample in analysis.samples:
        window.add(sample)
    return window.verdict()


@dataclass(frozen=True)
class FileVerdict:
    """A file's verdict: vision's check and, when asked for, the ``identity`` and
    ``liveness`` criteria by the call's rules, folded as a call folds its criteria: any
    FAIL fails, else any INCONCLUSIVE."""

    check: CheckVerdict
    identity: Criterion | None = None
    liveness: Criterion | None = None
    challenges: tuple[ChallengeRecord, ...] = ()

    @classmethod
    def of(
        cls,
        check: CheckVerdict,
        identity: CallIdentity | None,
        challenge: LivenessResult | None = None,
    ) -> FileVerdict:
        """``check`` with the identity criterion of ``identity``'s matches and the
        liveness criterion of ``challenge`` (a file is analysed whole: final, and never
        starved)."""
        matched = None
        if identity is not None:
            evidence = IdentityEvidence.of(identity)
            matched = identity_criterion(evidence, analysed=True, starved=False, final=True)
        if challenge is None:
            return cls(check, matched)
        records = (ChallengeRecord.of(challenge, MODEL),)
        asked = LivenessEvidence(required=True, results=records, open=False, model=MODEL)
        return cls(check, matched, liveness_criterion(asked, final=True), records)

    @property
    def _optional(self) -> dict[str, Criterion]:
        both = {"identity": self.identity, "liveness": self.liveness}
        return {name: c for name, c in both.items() if c is not None}

    @property
    def verdict(self) -> Verdict:
        return combine((self.check.verdict, *(c.verdict for c in self._optional.values())))

    @property
    def reasons(self) -> tuple[str, ...]:
        """The check's reasons, then the optional criteria's (none when they passed)."""
        extra = [r for c in self._optional.values() for r in c.reasons]
        return tuple(dict.fromkeys((*(str(r) for r in self.check.reasons), *extra)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``hadir analyze --json``: the check's, with ``identity`` and
        ``liveness`` among the criteria (verdict, reasons, the code shown on a pass,
        scores) when judged, and the challenge as a call's record keeps it."""
        out = self.check.to_dict()
        optional = self._optional
        for name, criterion in optional.items():
            out["criteria"][name] = {k: v for k, v in criterion.to_dict().items() if k != "pending"}
        if optional:
            out["verdict"], out["reasons"] = self.verdict.value, list(self.reasons)
        if self.challenges:
            out["challenges"] = [c.to_dict() for c in self.challenges]
        return out


def judge_challenge(
    media: Media, challenge: Challenge, config: VisionConfig, liveness: LivenessConfig
) -> LivenessResult:
    """The outcome of ``challenge`` (times in seconds into the file) from every frame of
    ``media`` between its issue and its deadline, at the analysis frame size. Raises
    ``service.media.MediaError`` if the file is damaged."""
    from vision.challenge_frames import ChallengeFrames
    from vision.pose_reader import PoseReader

    reader = PoseReader()
    try:
        frames = ChallengeFrames(reader)
        observations = [
            frames.observe(frame.t, prepare(frame.rgb, config.max_side))
            for frame in media.frames_between(challenge.issued_at, challenge.deadline)
        ]
    finally:
        reader.close()
    return judge_liveness(challenge, observations, liveness)
