"""What keeps a sample cheap (docs/vision.md, *Cost*): the garment judged on every
sample at first and then every few seconds, segmentation only where it decides
something, and an analyzer that runs on its calling thread alone, so the analysis pool
has one thread per core available."""

from __future__ import annotations

import os
from dataclasses import replace

from fixtures.generate import frames
from service.config import CallsConfig
from signaling.analysis import AnalyzerPool
from vision.analyzer import FrameAnalyzer
from vision.check import CheckWindow
from vision.config import DEFAULT_CONFIG
from vision.face import FaceStatus
from vision.face_track import FaceTrack
from vision.uniform import parse_uniform_policy
from vision.verdict import Verdict


def test_garment_cadence_follows_the_sample_times() -> None:
    cfg = replace(DEFAULT_CONFIG, garment_first_samples=3, garment_interval_s=3.0)
    track = FaceTrack()
    judged = []
    # A live call's times jitter: a sample a little early still counts as due.
    for t in (0.0, 0.4, 0.8, 1.8, 2.8, 3.7, 4.8, 5.8, 6.7, 7.8, 8.8, 9.8):
        if track.garment_due(t, cfg):
            track.garment_judged(t)
            judged.append(t)
    assert judged == [0.0, 0.4, 0.8, 3.7, 6.7, 9.8]
    assert track.garments == 6


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_garment_and_segmentation_only_where_they_decide(analyzer: FrameAnalyzer) -> None:
    live = frames("live")
    track = FaceTrack()
    samples = [analyzer.analyze(next(live), float(t), track) for t in range(16)]
    assert all(s.face is not None and s.face.status is FaceStatus.OK for s in samples)
    cfg = DEFAULT_CONFIG
    first = list(range(cfg.garment_first_samples))
    assert [s.t for s in samples if s.torso is not None] == [*first, 12.0, 15.0]
    # One face and no garment to judge: segmentation would decide nothing.
    assert all((s.person is None) is (s.torso is None) for s in samples)
    window = CheckWindow(cfg, parse_uniform_policy("solid"))
    for s in samples:
        window.add(s)
    assert window.verdict().uniform.verdict is Verdict.PASS

    # No face: segmentation says whether somebody is there all the same.
    nobody = analyzer.analyze(next(frames("no_person")), 0.0, FaceTrack())
    assert nobody.face is not None and nobody.face.status is FaceStatus.NONE
    assert nobody.person is not None and nobody.torso is None
    # A picture on its own (a fresh track) has its garment judged.
    assert analyzer.analyze(next(frames("live")), 0.0).torso is not None


def test_an_analyzer_starts_no_threads() -> None:
    """mediapipe's graphs and OpenCV run on the calling thread: one analysis thread
    keeps one core busy, whatever the machine's size."""
    rgb = next(frames("live"))
    before = _threads()
    with FrameAnalyzer(DEFAULT_CONFIG) as analyzer:
        for t in range(3):
            analyzer.analyze(rgb, float(t))
        assert _threads() <= before


def test_analysis_threads_default_to_the_cores_available() -> None:
    """``calls.analysis_threads`` 0 (the default): one analysis thread per core the
    process may run on, each of them one core."""
    assert CallsConfig().analysis_threads == 0
    pool = AnalyzerPool(0, 1)
    try:
        assert pool.threads == len(os.sched_getaffinity(0)) >= 1
    finally:
        pool.close()
    pool = AnalyzerPool(3, 1)
    try:
        assert pool.threads == 3
    finally:
        pool.close()
