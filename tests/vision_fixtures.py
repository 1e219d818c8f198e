"""Judging a fixture file the way a live call is judged (the fixtures are in conftest)."""

from __future__ import annotations

from pathlib import Path

from service.media import open_media
from vision.analyzer import FrameAnalyzer
from vision.check import CheckWindow
from vision.config import DEFAULT_CONFIG
from vision.uniform import parse_uniform_policy
from vision.verdict import CheckVerdict


def judge(analyzer: FrameAnalyzer, path: Path, policy: str = "any") -> CheckVerdict:
    """Sample a file like a live call and return the check verdict."""
    m = open_media(path, DEFAULT_CONFIG.sample_interval_s)
    window = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy(policy), still_image=m.still)
    for frame in m.samples():
        window.add(analyzer.analyze(frame.rgb, frame.t))
    return window.verdict()
