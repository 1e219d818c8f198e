"""Judging a file the way a live call is judged: ``hadir analyze`` and the evaluation.

``analyze_file`` samples the file at the vision config's interval and analyses every
sample with one ``FrameAnalyzer`` and one ``FaceTrack`` (the check's face, verified
once); ``judge`` folds the samples into the verdict under a uniform policy. The
samples do not depend on the policy, so one analysis can be judged under several.
``judge_challenge`` judges a liveness challenge issued at a moment of the file from
every frame of its window (not only the samples), as a call reads a challenge's frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.media import Media, open_media
from vision.analyzer import FrameAnalyzer, prepare
from vision.check import CheckWindow
from vision.config import VisionConfig
from vision.face_track import FaceTrack
from vision.liveness import Challenge, LivenessConfig, LivenessResult
from vision.liveness import judge as judge_liveness
from vision.sample import SampleResult
from vision.uniform import UniformPolicy
from vision.verdict import CheckVerdict


@dataclass(frozen=True)
class Analysis:
    """The samples of one file, and whether it was a single image."""

    samples: tuple[SampleResult, ...]
    still: bool


def analyze_file(path: str | Path, analyzer: FrameAnalyzer, config: VisionConfig) -> Analysis:
    """Sample and analyse ``path``; raises ``service.media.MediaError`` if it is unreadable."""
    return analyze_media(open_media(path, config.sample_interval_s), analyzer)


def analyze_media(media: Media, analyzer: FrameAnalyzer) -> Analysis:
    """Analyse every sample of an opened file (sampled at the interval it was opened with)."""
    track = FaceTrack()
    samples = tuple(analyzer.analyze(frame.rgb, frame.t, track) for frame in media.samples())
    return Analysis(samples, media.still)


def judge(analysis: Analysis, policy: UniformPolicy, config: VisionConfig) -> CheckVerdict:
    """The check's verdict on ``analysis`` under ``policy``."""
    window = CheckWindow(config, policy, still_image=analysis.still)
    for sample in analysis.samples:
        window.add(sample)
    return window.verdict()


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
